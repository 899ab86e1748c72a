#!/bin/sh
# archive-localize.sh LD OBJCOPY AR ARCHIVE PATTERN
# Rewrite the static archive ARCHIVE as a single relocatable object in which
# only the global symbols matching the wildcard PATTERN stay global; every
# other definition becomes local.  Used by client/CMakeLists.txt for
# libclosurelog-verify.a: see the comment there for why.
set -eu
[ $# -eq 5 ] || { echo "usage: $0 LD OBJCOPY AR ARCHIVE PATTERN" >&2; exit 2; }
ld=$1 objcopy=$2 ar=$3 archive=$4 pattern=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
obj=$tmp/$(basename "$archive" .a).o
"$ld" -r -o "$obj" --whole-archive "$archive"
"$objcopy" --wildcard --keep-global-symbol="$pattern" "$obj"
rm -f "$archive"
"$ar" rcs "$archive" "$obj"
