#!/bin/sh
# install_test.sh BUILD_DIR SOURCE_DIR PREFIX LIBDIR INCLUDEDIR BINDIR SBINDIR MANDIR DOCDIR UNITDIR SYSCONFDIR WITNESS
#
# `cmake --install` into a DESTDIR, then check what landed there:
#  - exactly the expected files outside the documentation directory, and
#    every doc of the tree inside it;
#  - only closurelog_* (the functions the installed headers declare) defined
#    and global in the installed static and shared libraries;
#  - a broker built out of tree from the installed header and .pc file,
#    linked shared and linked static (the static one also defining its own
#    cl_strerror, which must not clash), issues a credential for a bundle
#    that the installed closurelogd and closurelog produced, and denies
#    another root.
set -eu
[ $# -eq 12 ] || { echo "usage: $0 BUILD SRC PREFIX LIBDIR INCLUDEDIR BINDIR SBINDIR MANDIR DOCDIR UNITDIR SYSCONFDIR WITNESS" >&2; exit 2; }
build=$1 src=$2 prefix=$3 libdir=$4 incdir=$5 bindir=$6 sbindir=$7 mandir=$8 docdir=$9
shift 9
unitdir=$1 etc=$2/closurelog witness=$3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/install_test.XXXXXX")
server=
cleanup() {
	if [ -n "$server" ]; then
		kill -TERM "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "install_test: FAIL: $*" >&2
	exit 1
}
root=$tmp/root

DESTDIR=$root cmake --install "$build" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
# A second install keeps the operator's settings.
echo "# edited" >>"$root$etc/closurelogd.conf"
DESTDIR=$root cmake --install "$build" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; fail "the second cmake --install failed"; }
grep -q '^# edited$' "$root$etc/closurelogd.conf" || fail "a reinstall overwrote closurelogd.conf"

# --- The files ---
(cd "$root" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) >"$tmp/all"
grep -v "^$docdir/" "$tmp/all" >"$tmp/got" || true
sort >"$tmp/want" <<LIST
$bindir/closurelog
$sbindir/closurelogd
$incdir/closurelog/verify.h
$libdir/libclosurelog-verify.a
$libdir/libclosurelog-verify.so
$libdir/libclosurelog-verify.so.0
$libdir/libclosurelog-verify.so.0.1.0
$libdir/pkgconfig/closurelog-verify.pc
$mandir/man1/closurelog.1
$mandir/man8/closurelogd.8
$prefix/share/closurelog/nginx/closurelog.conf
$unitdir/closurelogd.service
$unitdir/closurelog-audit@.service
$unitdir/closurelog-audit@.timer
$etc/closurelogd.conf
LIST
if [ "$witness" = yes ]; then
	printf '%s\n' "$sbindir/closurelog-witness" "$mandir/man8/closurelog-witness.8" \
		"$unitdir/closurelog-witness.service" "$etc/witness.env" >>"$tmp/want"
	sort -o "$tmp/want" "$tmp/want"
fi
if ! diff -u "$tmp/want" "$tmp/got"; then
	fail "installed files differ from the expected list (- expected, + installed)"
fi
for f in README.md BENCHMARKS.md $(cd "$src" && find docs -type f); do
	[ -f "$root$docdir/$f" ] || fail "missing documentation file $docdir/$f"
done
for m in "$mandir/man1/closurelog.1" "$mandir/man8/closurelogd.8"; do
	grep -q '^\.SH' "$root$m" || fail "$m is not a man page"
done

# --- Exported symbols ---
grep -ho 'closurelog_[a-z0-9_]*(' "$root$incdir"/closurelog/*.h | tr -d '(' | sort -u >"$tmp/api"
[ -s "$tmp/api" ] || fail "no closurelog_ functions found in the installed headers"
nm -g --defined-only "$root$libdir/libclosurelog-verify.a" | awk 'NF >= 3 { print $3 }' |
	sort -u >"$tmp/sym.a"
nm -D --defined-only "$root$libdir/libclosurelog-verify.so" | awk 'NF >= 3 { print $3 }' |
	sort -u >"$tmp/sym.so"
for lib in a so; do
	if ! diff -u "$tmp/api" "$tmp/sym.$lib"; then
		fail "libclosurelog-verify.$lib: defined global symbols differ from the API (- API, + exported)"
	fi
done

# --- An out-of-tree broker ---
export PKG_CONFIG_PATH="$root$libdir/pkgconfig"
pc="pkg-config --define-variable=prefix=$root$prefix"
cc=${CC:-cc}
# CL_TEST_CFLAGS: what an instrumented build's library needs (sanitizers).
xflags=${CL_TEST_CFLAGS:-}
# The static archive by name, with what --static adds for it.
static_libs=$($pc --static --libs closurelog-verify | sed 's/-lclosurelog-verify/-l:libclosurelog-verify.a/')
# shellcheck disable=SC2046,SC2086
$cc -std=c17 $xflags -o "$tmp/broker-shared" "$src/client/examples/broker.c" \
	$($pc --cflags --libs closurelog-verify) || fail "cannot build a broker against the shared library"
cat >"$tmp/clash.c" <<'C'
/* A broker's own function with the name of one of the library's internals. */
const char *cl_strerror(int rc);
const char *
cl_strerror(int rc)
{
	return rc == 0 ? "mine" : "mine too";
}
C
# shellcheck disable=SC2046,SC2086
$cc -std=c17 $xflags -o "$tmp/broker-static" "$src/client/examples/broker.c" "$tmp/clash.c" \
	$($pc --cflags closurelog-verify) $static_libs ||
	fail "cannot build a broker (with its own cl_strerror) against the static archive"
readelf -d "$tmp/broker-shared" | grep -q 'NEEDED.*libclosurelog-verify\.so\.0' ||
	fail "broker-shared does not use libclosurelog-verify.so.0"
if readelf -d "$tmp/broker-static" | grep -q 'NEEDED.*libclosurelog-verify'; then
	fail "broker-static uses the shared library"
fi

# A real bundle, from the installed programs.
cl=$root$bindir/closurelog
"$cl" keygen ci.example.com/builder "$tmp/ci" >/dev/null
cp "$tmp/ci.pub" "$tmp/submitters"
mkdir -m 0700 "$tmp/data"
"$root$sbindir/closurelogd" --data "$tmp/data" --listen 127.0.0.1:0 --port-file "$tmp/port" \
	--submitters "$tmp/submitters" --http-threads 1 --verify-threads 1 \
	>"$tmp/server.log" 2>&1 &
server=$!
i=0
until [ -s "$tmp/port" ]; do
	kill -0 "$server" 2>/dev/null || { cat "$tmp/server.log" >&2; fail "closurelogd exited"; }
	i=$((i + 1))
	[ $i -lt 300 ] || fail "closurelogd did not write its port within 30 s"
	sleep 0.1
done
url=http://127.0.0.1:$(cat "$tmp/port")
r=/nix/store/0c6mxx9spfzmm4kpqjb3c6ha3g3p9v7c-source
other=/nix/store/1c6mxx9spfzmm4kpqjb3c6ha3g3p9v7c-source
"$cl" attest --key "$tmp/ci.key" --root $r \
	--nar-hash sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= \
	--flake-lock-digest sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= \
	-o "$tmp/env" || fail "closurelog attest failed"
"$cl" submit --log "$url" --log-key "$tmp/data/log.pub" -o "$tmp/bundle" "$tmp/env" >/dev/null ||
	fail "closurelog submit failed"

for b in broker-shared broker-static; do
	out=$(LD_LIBRARY_PATH="$root$libdir" "$tmp/$b" "$tmp/data/log.pub" "$tmp/submitters" \
		"$tmp/bundle" $r) || fail "$b denied a valid bundle: $out"
	[ "$out" = issue ] || fail "$b printed '$out' for a valid bundle"
	st=0
	out=$(LD_LIBRARY_PATH="$root$libdir" "$tmp/$b" "$tmp/data/log.pub" "$tmp/submitters" \
		"$tmp/bundle" $other) || st=$?
	[ $st -eq 1 ] || fail "$b exited $st (not 1) for another root: $out"
done
echo "install_test: ok"
