#!/bin/sh
# Installs kinerja: scripts/install.sh DESTDIR PREFIX BUILD VERSION
# (the Makefile's `install` target calls it; DESTDIR may be empty).
#
#   PREFIX/bin/kinerjad, PREFIX/bin/kinerja
#   LIBDIR/libkinerja.a, libkinerja.so.VERSION with its links, LIBDIR/pkgconfig/kinerja.pc
#     (LIBDIR from the environment, default PREFIX/lib; Debian: the multiarch path)
#   PREFIX/share/man/man{1,5,8}       kinerja(1), kinerjad.yaml(5), kinerjad(8)
#   PREFIX/share/bash-completion/completions/kinerja
#   PREFIX/include/kinerja/kinerja.h and the headers it includes
#   PREFIX/share/kinerja/web          the dashboard and the npm packages it imports
#                                     (not the demo player nor its recorded data)
#   PREFIX/lib/systemd/system/kinerjad.service (UNITDIR from the environment
#     overrides: Debian bookworm's is /lib/systemd/system), PREFIX/lib/sysusers.d/kinerja.conf
#   /etc/kinerja/kinerjad.yaml        the example, only when there is none
#
# Running it again installs the same files again; an existing configuration is
# never touched.
set -eu

die() { echo "install.sh: $*" >&2; exit 1; }

[ $# -eq 4 ] || die "usage: scripts/install.sh DESTDIR PREFIX BUILD VERSION"
DESTDIR=$1 PREFIX=$2 BUILD=$3 VERSION=$4
case $PREFIX in /*) ;; *) die "PREFIX must be an absolute path, not '$PREFIX'" ;; esac
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || die "PREFIX must not be /"
[ -n "$VERSION" ] || die "VERSION is empty"

# DESTDIR is taken relative to where we were called from, BUILD to the tree.
D=${DESTDIR%/}
case $D in "" | /*) ;; *) D=$PWD/$D ;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

bindir=$PREFIX/bin
libdir=${LIBDIR:-$PREFIX/lib}
libdir=${libdir%/}
mandir=$PREFIX/share/man
completiondir=$PREFIX/share/bash-completion/completions
includedir=$PREFIX/include/kinerja
sharedir=$PREFIX/share/kinerja
webdir=$sharedir/web
unitdir=${UNITDIR:-$PREFIX/lib/systemd/system}
sysusersdir=$PREFIX/lib/sysusers.d
tmpfilesdir=$PREFIX/lib/tmpfiles.d
confdir=/etc/kinerja

for f in kinerjad kinerja libkinerja.a; do
    [ -f "$BUILD/$f" ] || die "$BUILD/$f is missing: run 'make BUILD=${BUILD#"$ROOT"/}' first"
done
[ -d web/node_modules ] ||
    die "web/node_modules is missing: run 'make web' (npm ci) first, as the user who owns the tree"

# sed replacement text: escape \, | and &
sedesc() { printf '%s' "$1" | sed 's/[\\|&]/\\&/g'; }

say() { printf '  %-9s %s\n' "$1" "$2"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# subst MODE DEST SRC SED-ARGS...: SRC through sed, installed as DEST
subst() {
    mode=$1 dest=$2 src=$3
    shift 3
    sed "$@" "$src" >"$tmp/subst"
    install -D -m "$mode" "$tmp/subst" "$dest"
}

echo "kinerja $VERSION -> ${DESTDIR:+$D }$PREFIX"

# --- programs and library ---
install -D -m 0755 "$BUILD/kinerjad" "$D$bindir/kinerjad"
install -D -m 0755 "$BUILD/kinerja" "$D$bindir/kinerja"
say bin "$bindir/kinerjad $bindir/kinerja"
install -D -m 0644 "$BUILD/libkinerja.a" "$D$libdir/libkinerja.a"
libs="$libdir/libkinerja.a"
shared=no
if [ -f "$BUILD/libkinerja.so.$VERSION" ]; then
    # the file, its soname link (ldconfig's) and the link a -lkinerja finds
    soname=$(cd "$BUILD" && readlink libkinerja.so)
    install -D -m 0644 "$BUILD/libkinerja.so.$VERSION" "$D$libdir/libkinerja.so.$VERSION"
    ln -sf "libkinerja.so.$VERSION" "$D$libdir/$soname"
    ln -sf "$soname" "$D$libdir/libkinerja.so"
    libs="$libs $libdir/libkinerja.so.$VERSION $soname libkinerja.so"
    shared=yes
fi
say lib "$libs"

# --- header: kinerja.h and the quoted includes it pulls in (client/, proto/),
# in their own directory: a bare event.h in /usr/include would clash (libevent).
[ -f client/kinerja.h ] || die "client/kinerja.h is missing"
headers="" todo="kinerja.h"
while :; do
    # shellcheck disable=SC2086 # split on purpose: a list of file names
    set -- $todo
    [ $# -gt 0 ] || break
    h=$1
    shift
    todo="$*"
    case " $headers " in *" $h "*) continue ;; esac
    if [ -f "client/$h" ]; then src=client/$h
    elif [ -f "proto/$h" ]; then src=proto/$h
    else die "client/kinerja.h includes \"$h\", found in neither client/ nor proto/"
    fi
    install -D -m 0644 "$src" "$D$includedir/$h"
    headers="$headers $h"
    todo="$todo $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"/]*\)".*/\1/p' "$src")"
done
say include "$includedir/:$headers"

# --- pkg-config: with only the static library, its dependencies go in the
# public fields, or `pkg-config --libs kinerja` would not link.
deps="libwebsockets msgpack jansson" deplibs="-lpthread -lm"
if [ $shared = yes ]; then req="" reqp=$deps libs_="" libsp=$deplibs
else req=$deps reqp="" libs_=$deplibs libsp=""
fi
subst 0644 "$D$libdir/pkgconfig/kinerja.pc" client/kinerja.pc.in \
    -e "s|@prefix@|$(sedesc "$PREFIX")|g" -e "s|@version@|$(sedesc "$VERSION")|g" \
    -e "s|@libdir@|$(sedesc "$libdir")|g" \
    -e "s|@requires@|$req|" -e "s|@requires_private@|$reqp|" \
    -e "s|@libs@|$libs_|" -e "s|@libs_private@|$libsp|"
say pkgconfig "$libdir/pkgconfig/kinerja.pc"

# --- manual pages and the shell completion ---
for m in docs/man/*.[1-8]; do
    [ -f "$m" ] || continue
    sec=${m##*.}
    install -D -m 0644 "$m" "$D$mandir/man$sec/${m##*/}"
done
say man "$mandir/man{1,5,8}/: $(cd docs/man 2>/dev/null && ls | paste -sd ' ' -)"
if [ -f client/kinerja.bash-completion ]; then
    install -D -m 0644 client/kinerja.bash-completion "$D$completiondir/kinerja"
    say bash "$completiondir/kinerja"
fi

# --- the dashboard: its own files, then each npm package its pages import
# (node_modules/<pkg>/..., <pkg> may be @scope/name), whole, as npm ci left it.
# The demo player (demo.js) and the snapshot it plays (web/fixtures/) stay in
# the tree: installed, ?demo=1 would show recorded data on a production
# dashboard as if it were live.
n=0
for f in web/*.html web/*.js web/*.css web/*.svg; do
    [ -f "$f" ] && [ "$f" != web/demo.js ] || continue
    install -D -m 0644 "$f" "$D$webdir/${f#web/}"
    n=$((n + 1))
done
rm -rf "$D$webdir/demo.js" "$D$webdir/fixtures" # left by an earlier install
pkgs=$(ls web/*.html web/*.js | grep -vx web/demo.js | xargs cat 2>/dev/null |
    grep -o "node_modules/[@A-Za-z0-9._/-]*" |
    sed -n 's|^node_modules/\(@[^/]*/[^/]*\)/.*|\1|p; s|^node_modules/\([^@/][^/]*\)/.*|\1|p' | sort -u)
# a package dropped from the pages must not linger from an earlier install
rm -rf "$D$webdir/node_modules"
for p in $pkgs; do
    [ -f "web/node_modules/$p/package.json" ] ||
        die "the dashboard imports $p but web/node_modules/$p is missing: run 'make web'"
    for f in $(cd web && find "node_modules/$p" -type f | sort); do
        install -D -m 0644 "web/$f" "$D$webdir/$f"
        n=$((n + 1))
    done
done
say web "$webdir/ ($n files; npm packages: $(printf '%s\n' "$pkgs" | paste -sd ' ' -))"

# --- systemd ---
subst 0644 "$D$unitdir/kinerjad.service" systemd/kinerjad.service \
    -e "s|@bindir@|$(sedesc "$bindir")|g"
say systemd "$unitdir/kinerjad.service"
if [ -f systemd/kinerja.sysusers ]; then
    install -D -m 0644 systemd/kinerja.sysusers "$D$sysusersdir/kinerja.conf"
    say sysusers "$sysusersdir/kinerja.conf"
fi
if [ -f systemd/kinerja.tmpfiles ]; then
    install -D -m 0644 systemd/kinerja.tmpfiles "$D$tmpfilesdir/kinerja.conf"
    say tmpfiles "$tmpfilesdir/kinerja.conf"
fi

# --- the configuration: an admin's file is never overwritten ---
webroot="s|^\(web_root:[[:space:]]*\)[^#[:space:]]*|\1$(sedesc "$webdir")|"
if [ -e "$D$confdir/kinerjad.yaml" ]; then
    say config "$confdir/kinerjad.yaml exists: kept"
else
    subst 0644 "$D$confdir/kinerjad.yaml" examples/kinerjad.yaml -e "$webroot"
    say config "$confdir/kinerjad.yaml (the example: replace its token digests)"
fi
# the example as shipped, to compare an old configuration with after an upgrade
subst 0644 "$D$sharedir/kinerjad.yaml.example" examples/kinerjad.yaml -e "$webroot"
say example "$sharedir/kinerjad.yaml.example"

# --- on a live system (no DESTDIR, as root): create the service's user now ---
if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers "$sysusersdir/kinerja.conf" && say user "kinerja (systemd-sysusers)"
fi
# ... and let the loader find the new libkinerja.so.0
if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ] && [ "$shared" = yes ] && command -v ldconfig >/dev/null 2>&1; then
    ldconfig
fi

case $PREFIX in
/usr | /usr/local) ;;
*) echo "note: systemd does not look in $PREFIX/lib: link the unit and the sysusers file," \
    "e.g. systemctl link $unitdir/kinerjad.service; systemd-sysusers $sysusersdir/kinerja.conf" ;;
esac
if [ -z "$DESTDIR" ]; then
    echo "next: edit $confdir/kinerjad.yaml, then: systemctl daemon-reload && systemctl enable --now kinerjad"
fi
