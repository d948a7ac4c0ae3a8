#!/bin/sh
# Runs every unit test of a build under valgrind: fails on a memory error,
# a leak, or a descriptor left open that the test did not inherit.
# USOCK_UNDER_VALGRIND=1 tells a test to shrink its loads and skip what
# valgrind distorts (RSS, timing).
# usage: scripts/valgrind-unit.sh BUILD_DIR
set -u
build=${1:?usage: $0 BUILD_DIR}
status=0
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    log=$(mktemp)
    USOCK_UNDER_VALGRIND=1 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --track-fds=yes --log-file="$log" "$t" >/dev/null 2>&1
    rc=$?
    # An open descriptor is followed by the place it was opened, or by
    # "<inherited from parent>"; std streams are not listed.
    leaked=$(grep -A1 '^==[0-9]*== Open .*descriptor' "$log" | grep -c '==    at ')
    if [ "$rc" -ne 0 ] || [ "$leaked" -ne 0 ]; then
        echo "FAILED under valgrind: $(basename "$t") (exit $rc, $leaked descriptors left open)"
        cat "$log"
        status=1
    else
        echo "ok under valgrind: $(basename "$t")"
    fi
    rm -f "$log"
done
exit $status
