# lib.sh - helpers the command-line tests share. Source it after setting
# $tmp (a scratch directory); failures are counted in $failures.
failures=0

# expect CODE DESCRIPTION -- COMMAND...: runs it, compares the exit code;
# its output is left in $tmp/out and $tmp/err.
expect() {
    local want=$1 what=$2; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: exit $got, wanted $want"; sed 's/^/  | /' "$tmp/out" "$tmp/err"
        failures=$((failures + 1))
    fi
}

# contains FILE TEXT DESCRIPTION
contains() {
    if ! grep -qF -- "$2" "$1"; then
        echo "FAIL: $3: no \"$2\" in:"; sed 's/^/  | /' "$1"; failures=$((failures + 1))
    fi
}
