#!/bin/sh
# Install the Debian 12 packages closurelog needs, but only those missing.
# Usage: scripts/deps.sh [build|test|ci|bench]...   (default: build)
# Runs non-interactively; needs root (or sudo) only when something is missing.
set -eu

build="gcc make cmake pkg-config liblmdb-dev libsodium-dev libevent-dev
	libprotobuf-c-dev protobuf-c-compiler libjansson-dev libcurl4-openssl-dev
	libinih-dev libhttp-parser-dev zlib1g-dev libzstd-dev help2man"
test="libcmocka-dev curl lmdb-utils nix-bin systemd strace nginx"
ci="clang libclang-rt-14-dev"
bench="gnuplot-nox"

want=""
[ $# -eq 0 ] && set -- build
for set in "$@"; do
	case "$set" in
	build) want="$want $build" ;;
	test) want="$want $build $test" ;;
	ci) want="$want $build $test $ci" ;;
	bench) want="$want $build $test $bench" ;;
	*) echo "deps.sh: unknown package set '$set' (build, test, ci or bench)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "deps.sh: missing packages:$missing; run as root: apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
