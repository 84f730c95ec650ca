#!/usr/bin/env bash
# Install the Debian packages kinerja needs, when they are missing.
#   scripts/deps.sh build   what `make` needs
#   scripts/deps.sh run     also what `make run` needs (npm for the dashboard)
#   scripts/deps.sh test    also what `make check` needs
#   scripts/deps.sh deb     what `make deb` and `make check-docs` need (packaging, man, promtool)
#   scripts/deps.sh         everything (build, test, browser)
# As root it runs apt-get; with sudo it uses sudo; otherwise it prints the command.
set -euo pipefail

build_pkgs=(gcc make pkg-config libwebsockets-dev libwebsockets-evlib-ev libev-dev liblmdb-dev libmsgpack-dev libcyaml-dev
            libjansson-dev libsystemd-dev check libnats-dev)
test_pkgs=(python3 python3-msgpack python3-websocket python3-pytest openssl lmdb-utils
           valgrind clang libclang-rt-14-dev systemd nats-server
           python3-yaml python3-jsonschema bash-completion curl groff man-db)
browser_pkgs=(chromium nodejs npm poppler-utils)  # poppler-utils: pdftotext reads the printed rapor
# make deb (dpkg-buildpackage, lintian) and make check-docs (groff -ww for the
# man pages, promtool from prometheus for the alert rules)
deb_pkgs=(dpkg-dev debhelper fakeroot lintian groff man-db prometheus nodejs npm)

case "${1:-all}" in
  build) want=("${build_pkgs[@]}") ;;
  run) want=("${build_pkgs[@]}" nodejs npm) ;;
  test) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${deb_pkgs[@]}") ;;
  deb) want=("${build_pkgs[@]}" "${deb_pkgs[@]}") ;;
  *) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${deb_pkgs[@]}" "${browser_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  # node and npm may come from elsewhere than Debian; a working command is enough.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -eq 0 ]; then sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo)
else
  echo "kinerja needs these Debian packages: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get update && sudo ${cmd[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" "${cmd[@]}" -qq >/dev/null
