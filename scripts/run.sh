#!/bin/sh
# Start closurelog on its embedded defaults (called by `make run`).
set -eu
build=${1:-build}
if [ ! -x "$build/bin/closurelogd" ]; then
	echo "closurelog: the Merkle library, its tests and benchmark are built in $build/."
	echo "closurelogd (the log server) is not part of this build yet; 'make test' runs every test."
	exit 0
fi
exec "$build/bin/closurelogd"
