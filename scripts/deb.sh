#!/usr/bin/env bash
# make deb: the Debian packages kinerjad, kinerja, libkinerja0 and
# libkinerja-dev, built by dpkg-buildpackage -us -uc -b from a copy of the
# tree's files (tracked and new, not ignored: no build/ left-overs get in),
# then checked by lintian. Results in OUT (default build/deb):
#   *.deb, the .changes and .buildinfo, lintian.txt (lintian's report).
# Exits non-zero when the build fails or lintian reports an error.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

scripts/deps.sh deb
# The dashboard ships its npm packages (install.sh copies the ones it imports).
make -s web

version=$(sed -n 's/^VERSION[[:space:]]*:=[[:space:]]*//p' Makefile)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/kinerja-$version
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] || [ -L "$f" ] || continue # deleted in the work tree
    mkdir -p "$src/$(dirname "$f")"
    cp -P "$f" "$src/$f"
done
cp -a web/node_modules "$src/web/node_modules"

(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
    tail -40 "$out/build.log" >&2
    echo "deb.sh: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
}
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out/"
ls -1 "$out"/*.deb

changes=$(ls "$out"/*.changes)
# --fail-on error: warnings are reported (debian/README.lintian says which remain and why)
lintian --fail-on error --tag-display-limit 0 "$changes" >"$out/lintian.txt" 2>&1 && rc=0 || rc=$?
cat "$out/lintian.txt"
if [ "$rc" -ne 0 ]; then
    echo "deb.sh: lintian reports errors (above)" >&2
    exit 1
fi
echo "lintian: no errors ($(grep -c '^W:' "$out/lintian.txt" || true) warnings)"
