#!/usr/bin/env bash
# test_cli_audit.sh - `tenantguard audit verify|export|query`: exit codes,
# verdicts as JSON, export files that verify offline (and tampered ones
# that do not), queries, the master key's sources, bad usage.
# Usage: test_cli_audit.sh path/to/tenantguard
# It builds tests/cli/audit_fixture.c against the static library next to
# the binary ($(dirname tenantguard)/../libtenantguard.a) to make stores.
set -u
tg=$1
[ -x "$tg" ] || { echo "cli-audit: no executable at $tg"; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lib=$(cd "$(dirname "$tg")/.." && pwd)/libtenantguard.a
[ -f "$lib" ] || { echo "cli-audit: no static library at $lib"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset TENANTGUARD_MASTER_KEY

# The library may be instrumented (SANITIZE=...): the first set of flags
# that links wins.
built=no
for san in "" "-fsanitize=address,undefined" "-fsanitize=thread"; do
    if ${CC:-cc} -std=c11 $san -I"$root/include" "$here/audit_fixture.c" "$lib" \
        $(pkg-config --libs libsodium sqlite3 libpcre2-8 libcjson) -lpthread -lm \
        -o "$tmp/fixture" 2>"$tmp/cc.err"; then built=yes; break; fi
done
[ "$built" = yes ] || { echo "cli-audit: cannot build the fixture:"; cat "$tmp/cc.err"; exit 1; }
fixture=$tmp/fixture

. "$(dirname "$0")/lib.sh"
# json_is FILE PYTHON-EXPRESSION DESCRIPTION: the expression over `j` (the
# file's one JSON document) must be true.
json_is() {
    if ! /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null; then
        echo "FAIL: $3: not $2 in:"; sed 's/^/  | /' "$1"; failures=$((failures + 1))
    fi
}
# tamper STORE WORKSPACE SEQ PYTHON: rewrites a stored record's bytes
# (`v`, a bytearray) with a Python statement, straight in the SQLite file.
tamper() {
    /usr/bin/python3 - "$@" <<'EOF'
import sqlite3, sys
path, ws, seq, stmt = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4]
key = b"A\x01" + len(ws).to_bytes(2, "big") + ws + seq.to_bytes(8, "big")
db = sqlite3.connect(path)
row = db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
v = bytearray(row[0])
exec(stmt)
if v is None:
    db.execute("DELETE FROM kv WHERE k = ?", (key,))
else:
    db.execute("UPDATE kv SET v = ? WHERE k = ?", (bytes(v), key))
db.commit()
EOF
}

store=$tmp/s.db
"$fixture" store "$store" 25 acme || { echo "cli-audit: fixture failed"; exit 1; }
"$fixture" store "$store" 7 || exit 1

# ---- help and usage ----
expect 0 "audit help" -- "$tg" audit --help
contains "$tmp/out" "exit codes: 0" "help lists exit codes"
contains "$tmp/out" "2 bad usage, 3 error" "help lists every code"
expect 0 "top-level help names audit" -- "$tg" --help
contains "$tmp/out" "audit verify|export|query" "top-level help"
expect 2 "no audit command" -- "$tg" audit
expect 2 "unknown audit command" -- "$tg" audit frobnicate
expect 2 "verify without a store" -- "$tg" audit verify
expect 2 "unknown option" -- "$tg" audit verify --store "$store" --bogus
expect 2 "stray argument" -- "$tg" audit verify --store "$store" extra
expect 2 "bad --from" -- "$tg" audit verify --store "$store" --from x
expect 2 "negative --to" -- "$tg" audit verify --store "$store" --to -1
expect 2 "--from after --to" -- "$tg" audit verify --store "$store" --from 9 --to 3
expect 2 "--output on verify" -- "$tg" audit verify --store "$store" --output "$tmp/x"
expect 2 "filters on export" -- "$tg" audit export --store "$store" --action message.sent
expect 2 "--store with --file" -- "$tg" audit verify --file "$tmp/x" --store "$store"
expect 2 "--public-key without --file" -- "$tg" audit verify --store "$store" --public-key 00
expect 2 "bad workspace id" -- "$tg" audit verify --store "$store" --workspace ""
expect 2 "unknown action" -- "$tg" audit query --store "$store" --action message.teleported
expect 2 "unknown outcome" -- "$tg" audit query --store "$store" --outcome meh
expect 2 "limit too large" -- "$tg" audit query --store "$store" --limit 10001
expect 2 "limit past 2^32" -- "$tg" audit query --store "$store" --limit 99999999999

# ---- errors ----
expect 3 "missing store" -- "$tg" audit verify --store "$tmp/none.db"
contains "$tmp/err" "No such file" "missing store says why"
[ -e "$tmp/none.db" ] && { echo "FAIL: verify created a store"; failures=$((failures + 1)); }
expect 3 "a directory as store" -- "$tg" audit verify --store "$tmp"
cp "$store" "$tmp/nokey.db"
expect 3 "store without its key file" -- "$tg" audit verify --store "$tmp/nokey.db"
[ -e "$tmp/nokey.db.key" ] && { echo "FAIL: verify created a key file"; failures=$((failures + 1)); }
head -c 32 /dev/urandom >"$tmp/wrong.key"; chmod 600 "$tmp/wrong.key"
expect 3 "wrong master key" -- "$tg" audit verify --store "$store" --key-file "$tmp/wrong.key"
expect 3 "wrong key in the environment" -- env TENANTGUARD_MASTER_KEY=$(printf '%064d' 7) "$tg" audit verify --store "$store"
echo "not sqlite" >"$tmp/junk.db"
expect 3 "not a store" -- "$tg" audit verify --store "$tmp/junk.db"

# ---- verify a store ----
expect 0 "a valid workspace chain" -- "$tg" audit verify --store "$store" --workspace acme
json_is "$tmp/out" 'j["problem"]=="valid" and j["records"]==25 and j["checkpoints"]==2 and j["bad_seq"]==0' "valid verdict"
json_is "$tmp/out" 'j["workspace"]=="acme"' "verdict names the chain"
expect 0 "the system chain" -- "$tg" audit verify --store "$store"
json_is "$tmp/out" 'j["records"]==7' "system chain records"
expect 0 "a range" -- "$tg" audit verify --store "$store" --workspace acme --from 12 --to 18
json_is "$tmp/out" 'j["first_seq"]==11 and j["last_seq"]>=18' "range from the checkpoint before it"
# the key from the environment, and from --key-file
keyhex=$(od -An -tx1 -v "$store.key" | tr -d ' \n')
expect 0 "key from the environment" -- env TENANTGUARD_MASTER_KEY=$keyhex "$tg" audit verify --store "$store" --workspace acme
cp "$store.key" "$tmp/other.key"; chmod 600 "$tmp/other.key"
expect 0 "key from --key-file" -- "$tg" audit verify --store "$tmp/nokey.db" --key-file "$tmp/other.key" --workspace acme
# no progress line when stderr is not a terminal
[ -s "$tmp/err" ] && { echo "FAIL: verify wrote to stderr:"; cat "$tmp/err"; failures=$((failures + 1)); }

# ---- export, then verify the file ----
expect 0 "export to stdout" -- "$tg" audit export --store "$store" --workspace acme
cp "$tmp/out" "$tmp/acme.jsonl"
if ! /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/acme.jsonl"; then
    echo "FAIL: export is not JSON Lines"; failures=$((failures + 1))
fi
[ "$(wc -l <"$tmp/acme.jsonl")" = 28 ] || { echo "FAIL: export has $(wc -l <"$tmp/acme.jsonl") lines, wanted 28"; failures=$((failures + 1)); }
grep -q 'user-1' "$tmp/acme.jsonl" && { echo "FAIL: a raw user id in the export"; failures=$((failures + 1)); }
pk=$(head -1 "$tmp/acme.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')
expect 0 "export to a file" -- "$tg" audit export --store "$store" --workspace acme --output "$tmp/acme2.jsonl"
cmp -s <(tail -n +2 "$tmp/acme.jsonl") <(tail -n +2 "$tmp/acme2.jsonl") || { echo "FAIL: --output differs from stdout"; failures=$((failures + 1)); }
expect 0 "export over an existing file" -- "$tg" audit export --store "$store" --workspace acme --output "$tmp/acme2.jsonl"
expect 3 "export into a missing directory" -- "$tg" audit export --store "$store" --output "$tmp/no/dir/x.jsonl"
ls "$tmp"/acme2.jsonl.* >/dev/null 2>&1 && { echo "FAIL: a temporary export file was left"; failures=$((failures + 1)); }
expect 3 "export to a full device" -- "$tg" audit export --store "$store" --workspace acme --output /dev/full
[ -c /dev/full ] || { echo "FAIL: /dev/full was replaced"; failures=$((failures + 1)); }
ln -s "$tmp/acme2.jsonl" "$tmp/link.jsonl"
expect 0 "export through a symbolic link" -- "$tg" audit export --store "$store" --output "$tmp/link.jsonl"
[ -L "$tmp/link.jsonl" ] || { echo "FAIL: the symbolic link was replaced"; failures=$((failures + 1)); }
expect 0 "the link's target was written" -- "$tg" audit verify --file "$tmp/acme2.jsonl"
json_is "$tmp/out" 'j["records"]==7' "the system chain through the link"
expect 3 "export to a closed stdout" -- sh -c "\"$tg\" audit export --store \"$store\" >/dev/full"

expect 0 "verify an export, key not pinned" -- "$tg" audit verify --file "$tmp/acme.jsonl"
json_is "$tmp/out" 'j["problem"]=="valid" and j["records"]==25 and "not pinned" in j["reason"]' "self-consistent"
expect 0 "verify an export with its key" -- "$tg" audit verify --file "$tmp/acme.jsonl" --public-key "$pk"
json_is "$tmp/out" 'j["problem"]=="valid" and "not pinned" not in j["reason"]' "pinned"
expect 0 "verify an export from stdin" -- sh -c "\"$tg\" audit verify --file - --public-key $pk < \"$tmp/acme.jsonl\""
json_is "$tmp/out" 'j["file"]=="<stdin>"' "stdin named"
expect 1 "verify an export with another key" -- "$tg" audit verify --file "$tmp/acme.jsonl" --public-key "$(printf '%064d' 0)"
json_is "$tmp/out" 'j["problem"]=="bad_signature" and j["bad_seq"]==0' "wrong key"
expect 2 "a short public key" -- "$tg" audit verify --file "$tmp/acme.jsonl" --public-key abc
expect 2 "a public key that is not hex" -- "$tg" audit verify --file "$tmp/acme.jsonl" --public-key "$(printf 'zz%062d' 0)"
expect 3 "a missing export" -- "$tg" audit verify --file "$tmp/none.jsonl"
expect 1 "an empty export" -- "$tg" audit verify --file /dev/null
json_is "$tmp/out" 'j["problem"]=="malformed" and "no header" in j["reason"]' "empty export"
head -c 3000 /dev/urandom >"$tmp/garbage"
expect 1 "garbage" -- "$tg" audit verify --file "$tmp/garbage"
json_is "$tmp/out" 'j["problem"]=="malformed"' "garbage is malformed"
# tampered files
sed 's/"seq":5,\(.*\)\\"bytes\\":280/"seq":5,\1\\"bytes\\":281/' "$tmp/acme.jsonl" >"$tmp/t1.jsonl"
expect 1 "a changed record in the file" -- "$tg" audit verify --file "$tmp/t1.jsonl" --public-key "$pk"
json_is "$tmp/out" 'j["problem"]=="bad_hash" and j["bad_seq"]==5' "changed record"
grep -v '"seq":7,"time_ms"' "$tmp/acme.jsonl" | grep -v '^{"type":"record".*"seq":7,' >"$tmp/t2.jsonl"
expect 1 "a deleted record line" -- "$tg" audit verify --file "$tmp/t2.jsonl" --public-key "$pk"
json_is "$tmp/out" 'j["problem"]=="gap" and j["bad_seq"]==7' "deleted record"

# ---- tampering with the store ----
cp "$store" "$tmp/t.db"; cp "$store.key" "$tmp/t.db.key"
tamper "$tmp/t.db" acme 6 'v[-2] ^= 1'
expect 1 "a changed byte in the store" -- "$tg" audit verify --store "$tmp/t.db" --workspace acme
json_is "$tmp/out" 'j["problem"]=="bad_hash" and j["bad_seq"]==7' "store tamper found at the next record"
expect 0 "export of a tampered store still runs" -- "$tg" audit export --store "$tmp/t.db" --workspace acme --output "$tmp/t.jsonl"
expect 1 "and its export does not verify" -- "$tg" audit verify --file "$tmp/t.jsonl" --public-key "$pk"
json_is "$tmp/out" 'j["problem"]=="bad_hash" and j["bad_seq"]==7' "same verdict offline"
cp "$store" "$tmp/t.db"
tamper "$tmp/t.db" acme 25 'v = None'
tamper "$tmp/t.db" acme 24 'v = None'
tamper "$tmp/t.db" acme 23 'v = None'
tamper "$tmp/t.db" acme 22 'v = None'
tamper "$tmp/t.db" acme 21 'v = None'
tamper "$tmp/t.db" acme 20 'v = None'
expect 1 "a store cut before its checkpoint" -- "$tg" audit verify --store "$tmp/t.db" --workspace acme
json_is "$tmp/out" 'j["problem"]=="truncated" and j["bad_seq"]==20' "truncated"
cp "$store" "$tmp/t.db"
tamper "$tmp/t.db" acme 9 'v[:] = b"\x01"'
expect 1 "an undecodable record" -- "$tg" audit verify --store "$tmp/t.db" --workspace acme
json_is "$tmp/out" 'j["problem"]=="malformed" and j["bad_seq"]==9' "malformed"
expect 3 "exporting an undecodable record" -- "$tg" audit export --store "$tmp/t.db" --workspace acme

# ---- query ----
expect 0 "query everything" -- "$tg" audit query --store "$store" --workspace acme
json_is "$tmp/out" 'len(j["records"])==25 and j["next_after_seq"] is None' "all records"
expect 0 "query blocked" -- "$tg" audit query --store "$store" --workspace acme --action message.blocked --outcome denied
json_is "$tmp/out" '[r["seq"] for r in j["records"]]==[5,10,15,20,25]' "blocked ones"
expect 0 "query an actor" -- "$tg" audit query --store "$store" --workspace acme --actor user-1
json_is "$tmp/out" 'len(j["records"])==5' "user-1's records"
expect 0 "query an unknown actor" -- "$tg" audit query --store "$store" --workspace acme --actor nobody
json_is "$tmp/out" 'j["records"]==[]' "no records"
expect 0 "query a page" -- "$tg" audit query --store "$store" --workspace acme --after 3 --limit 4
json_is "$tmp/out" '[r["seq"] for r in j["records"]]==[4,5,6,7] and j["next_after_seq"]==7' "a page"
expect 0 "query a time range" -- "$tg" audit query --store "$store" --workspace acme --since 1700000003000 --until 1700000006000
json_is "$tmp/out" '[r["seq"] for r in j["records"]]==[3,4,5]' "time range"
expect 0 "query the system chain" -- "$tg" audit query --store "$store"
json_is "$tmp/out" 'len(j["records"])==7' "system chain"

if [ "$failures" != 0 ]; then
    echo "cli-audit: $failures failure(s)"; exit 1
fi
echo "cli-audit: all checks passed"
