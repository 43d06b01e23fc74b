#!/usr/bin/env bash
# test_cli.sh - the `tenantguard` command: exit codes, JSON Lines output,
# stdin and files, options and their errors. Usage: test_cli.sh path/to/tenantguard
set -u
tg=$1
[ -x "$tg" ] || { echo "cli: no executable at $tg"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/lib.sh"

printf 'hello team\nmy card: 4111 1111 1111 1111 ok\n' >"$tmp/card.txt"
printf 'nothing to see here, lunch at 12:30?\n' >"$tmp/clean.txt"

expect 1 "a file with a card" -- "$tg" dlp scan "$tmp/card.txt"
contains "$tmp/out" '"detector":"credit_card"' "finding names the detector"
contains "$tmp/out" '"line":2' "finding has its line"
contains "$tmp/out" '"column":10' "finding has its column"
contains "$tmp/out" '"preview":"**** **** **** 1111"' "finding has a masked preview"
if grep -q '4111 1111 1111 1111' "$tmp/out"; then
    echo "FAIL: the raw card number is in the output"; failures=$((failures + 1))
fi
# every line is a JSON object
if ! /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/out"; then
    echo "FAIL: output is not JSON Lines"; failures=$((failures + 1))
fi

expect 0 "a clean file" -- "$tg" dlp scan "$tmp/clean.txt"
[ -s "$tmp/out" ] && { echo "FAIL: clean file printed something"; failures=$((failures + 1)); }
expect 1 "stdin" -- sh -c "\"$tg\" dlp scan < \"$tmp/card.txt\""
contains "$tmp/out" '"file":"<stdin>"' "stdin is named"
expect 1 "clean and dirty files together" -- "$tg" dlp scan "$tmp/clean.txt" "$tmp/card.txt"
expect 3 "a missing file" -- "$tg" dlp scan "$tmp/none.txt"
contains "$tmp/err" "No such file" "missing file says why"
expect 0 "an empty file" -- "$tg" dlp scan /dev/null

expect 1 "redact" -- "$tg" dlp scan --redact "$tmp/card.txt"
contains "$tmp/out" "my card: [REDACTED:credit_card] ok" "redacted text"
expect 1 "an action override" -- "$tg" dlp scan --redact --action credit_card=mask "$tmp/card.txt"
contains "$tmp/out" "my card: **** **** **** 1111 ok" "masked text"
expect 0 "min confidence above everything" -- "$tg" dlp scan --min-confidence 1 "$tmp/card.txt"

expect 1 "a content filter" -- "$tg" dlp scan --no-builtin --filter '(?i)lunch' "$tmp/clean.txt"
contains "$tmp/out" '"detector":"filter:0"' "filter finding"
expect 1 "a blocked domain" -- sh -c "echo 'see https://user@EVIL.example./x' | \"$tg\" dlp scan --blocked-domain evil.example"
contains "$tmp/out" '"detector":"blocked_domain"' "blocked domain finding"

expect 2 "a bad pattern" -- "$tg" dlp scan --filter '(' "$tmp/clean.txt"
contains "$tmp/err" "filters[0]: PCRE2 error at offset 1" "pattern error names index and offset"
expect 2 "a bad confidence" -- "$tg" dlp scan --min-confidence 2 "$tmp/clean.txt"
expect 2 "a bad action" -- "$tg" dlp scan --action credit_card=explode "$tmp/clean.txt"
expect 2 "an unknown detector" -- "$tg" dlp scan --action nope=block "$tmp/clean.txt"
expect 2 "an unknown option" -- "$tg" dlp scan --bogus
expect 2 "an unknown command" -- "$tg" frobnicate
expect 2 "no command" -- "$tg"
expect 0 "help" -- "$tg" --help
contains "$tmp/out" "exit codes" "help lists exit codes"
expect 0 "dlp help" -- "$tg" dlp scan --help
expect 0 "version" -- "$tg" --version
expect 0 "detectors" -- "$tg" dlp detectors
contains "$tmp/out" '"id":"credit_card"' "detector list"

# a file name that is not UTF-8 still gives JSON Lines
cp "$tmp/card.txt" "$tmp/$(printf 'bad\377name.txt')"
expect 1 "a file name that is not UTF-8" -- "$tg" dlp scan "$tmp/$(printf 'bad\377name.txt')"
if ! /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]' "$tmp/out"; then
    echo "FAIL: output for a non-UTF-8 file name is not UTF-8 JSON"; failures=$((failures + 1))
fi

# a filter that cannot finish fails closed: exit 1 even with nothing found
{ head -c 200000 /dev/zero | tr '\0' a; echo '!'; } >"$tmp/aaa.txt"
expect 1 "a filter that hits its limit" -- "$tg" dlp scan --no-builtin --filter '(a+)+$' "$tmp/aaa.txt"
contains "$tmp/err" "could not finish" "the limit is reported"

# binary garbage is scanned, not refused
head -c 200000 /dev/urandom >"$tmp/garbage.bin"
"$tg" dlp scan "$tmp/garbage.bin" >/dev/null 2>"$tmp/err"
code=$?
if [ "$code" != 0 ] && [ "$code" != 1 ]; then
    echo "FAIL: garbage: exit $code"; cat "$tmp/err"; failures=$((failures + 1))
fi

if [ "$failures" != 0 ]; then
    echo "cli: $failures failure(s)"; exit 1
fi
echo "cli: all checks passed"
