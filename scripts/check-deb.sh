#!/bin/sh
# check-deb.sh -- make check-deb: build the Debian packages (scripts/deb.sh),
# lint them, and test their contents (tests/deb/test_deb.py).
#
# lintian runs on the build's .changes (the .deb files and the .buildinfo);
# any E: line fails the step, the W: and I: lines are shown. The test
# extracts the three packages into a throwaway root (dpkg -x) and checks
# their files, fields and versions, and builds and runs a program against
# them (pkg-config and CMake). make check calls this only where
# dpkg-buildpackage is present.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
me=check-deb.sh

die() {
    echo "$me: $*" >&2
    exit 1
}

command -v lintian >/dev/null 2>&1 || die "lintian not found: install lintian (make deps)"
command -v python3 >/dev/null 2>&1 || die "python3 not found (make deps)"

debs=$("$top/scripts/deb.sh") || exit 1
[ -n "$debs" ] || die "scripts/deb.sh printed no .deb file"
echo "$me: built:" >&2
printf '  %s\n' $debs >&2

changes=$(ls "$top"/build/deb/*.changes 2>/dev/null | head -n 1)
[ -n "$changes" ] || die "no .changes file in build/deb"

# lintian's own exit status depends on its version's --fail-on default:
# the E: lines decide here. It warns when run as root; that line is noise.
log=$top/build/deb/lintian.log
echo "$me: lintian $(basename "$changes")" >&2
lintian --display-info "$changes" >"$log" 2>&1 || true
grep -v '^running with root privileges is not recommended!$' "$log" >&2 || true
if grep -q '^E: ' "$log"; then
    die "lintian reports $(grep -c '^E: ' "$log") error(s) (above; all in $log)"
fi
echo "$me: lintian: no errors ($(grep -c '^W: ' "$log" || true) warnings)" >&2

# shellcheck disable=SC2086 # one path per word
USOCK_DEBS=$(echo $debs) USOCK_SOURCE_DIR=$top python3 -u "$top/tests/deb/test_deb.py" ||
    die "tests/deb/test_deb.py failed"
echo "$me: ok" >&2
