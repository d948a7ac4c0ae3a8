#!/bin/sh
# Runs every unit test of a build under valgrind: fails on a memory error,
# a leak, or a descriptor left open that the test did not inherit.
# USOCK_UNDER_VALGRIND=1 tells a test to shrink its loads and skip what
# valgrind distorts (RSS, timing). The tests run JOBS at a time (default:
# the number of cores; many of them mostly wait on their peers); each one's
# verdict, and a failure's valgrind log, is printed in the tests' order.
# usage: scripts/valgrind-unit.sh BUILD_DIR [JOBS]
#        scripts/valgrind-unit.sh --one TEST OUTDIR   (one test; used by the above)
set -u

if [ "${1:-}" = --one ]; then
    t=$2
    out=$3/$(basename "$t")
    log=$out.log
    USOCK_UNDER_VALGRIND=1 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --track-fds=yes --log-file="$log" "$t" >/dev/null 2>&1
    rc=$?
    # An open descriptor is followed by the place it was opened, or by
    # "<inherited from parent>"; std streams are not listed.
    leaked=$(grep -A1 '^==[0-9]*== Open .*descriptor' "$log" | grep -c '==    at ')
    if [ "$rc" -ne 0 ] || [ "$leaked" -ne 0 ]; then
        { echo "FAILED under valgrind: $(basename "$t") (exit $rc, $leaked descriptors left open)"
          cat "$log"; } >"$out.result"
    else
        echo "ok under valgrind: $(basename "$t")" >"$out.result"
    fi
    exit 0
fi

build=${1:?usage: $0 BUILD_DIR [JOBS]}
jobs=${2:-$(nproc 2>/dev/null || echo 2)}
outdir=$(mktemp -d)
trap 'rm -rf "$outdir"' EXIT
for t in "$build"/tests/test_*; do
    [ -x "$t" ] && printf '%s\n' "$t"
done | xargs -P "$jobs" -I{} "$0" --one {} "$outdir"

status=0
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    r=$outdir/$(basename "$t").result
    if [ -f "$r" ]; then
        cat "$r"
        grep -q '^FAILED' "$r" && status=1
    else
        echo "FAILED under valgrind: $(basename "$t") (no verdict)"
        status=1
    fi
done
exit $status
