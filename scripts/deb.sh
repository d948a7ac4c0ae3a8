#!/bin/sh
# deb.sh -- make deb: build the Debian packages libusock0, libusock-dev and
# usock from the working tree.
#
# Copies the tree as git sees it (tracked files and new ones that
# .gitignore does not exclude; no build directories) into a fresh
# build/deb/usock-VERSION/ and runs `dpkg-buildpackage -us -uc -b` there,
# so that its ../*.deb, .buildinfo and .changes land in build/deb/ and the
# repository stays clean. The build's log goes to stderr; stdout gets only
# the paths of the .deb files, one per line (scripts/check-deb.sh reads
# them). Jobs: DEB_BUILD_OPTIONS as given, else parallel=$(nproc).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/deb
me=deb.sh

die() {
    echo "$me: $*" >&2
    exit 1
}

for tool in dpkg-buildpackage dpkg-checkbuilddeps dpkg-parsechangelog; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool not found: install dpkg-dev and debhelper (make deps)"
done

# One version: project(usock VERSION x.y.z) in CMakeLists.txt, which
# debian/changelog's top entry must match.
version=$(sed -n 's/^project(usock VERSION \([0-9][0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
[ -n "$version" ] || die "no project(usock VERSION ...) line in CMakeLists.txt"
deb_version=$(dpkg-parsechangelog -l "$top/debian/changelog" -SVersion)
[ "$deb_version" = "$version" ] ||
    die "debian/changelog is at $deb_version but CMakeLists.txt at $version: add a changelog entry (dch -v $version)"

# Missing build dependencies: one line, before any copying.
if ! unmet=$(cd "$top" && dpkg-checkbuilddeps 2>&1); then
    unmet=$(printf '%s\n' "$unmet" | sed -n 's/.*Unmet build dependencies: *//p' | tr '\n' ' ' | sed 's/ *$//')
    die "missing build dependencies: ${unmet:-see dpkg-checkbuilddeps} (make deps installs them)"
fi

rm -rf "$out"
src=$out/usock-$version
mkdir -p "$src"
# The files to copy, NUL-separated: git's view of the tree (files deleted
# in the working tree but still in the index skipped); outside a git
# checkout, everything but the build directories.
list_files() {
    if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$top" && git ls-files -z --cached --others --exclude-standard) |
            (cd "$top" && xargs -0 sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done; true' sh)
    else
        (cd "$top" && find . \( -path './build*' -o -path ./.git \) -prune -o ! -type d -print0)
    fi
}
list_files |
    (cd "$top" && tar --null --files-from=- --create --file=- --no-recursion) |
    (cd "$src" && tar --extract --file=-)
[ -f "$src/debian/control" ] || die "copy of the tree under $src has no debian/control"

: "${DEB_BUILD_OPTIONS:=parallel=$(nproc 2>/dev/null || echo 2)}"
export DEB_BUILD_OPTIONS
echo "$me: building in $src (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)" >&2
(cd "$src" && dpkg-buildpackage -us -uc -b) >&2 ||
    die "dpkg-buildpackage failed in $src (its log is above)"

found=0
for deb in "$out"/*.deb; do
    [ -f "$deb" ] || continue
    echo "$deb"
    found=1
done
[ "$found" = 1 ] || die "dpkg-buildpackage made no .deb file in $out"
