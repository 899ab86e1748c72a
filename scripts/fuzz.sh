#!/bin/sh
# Run every libFuzzer target in $1/bin/fuzz for $2 seconds each, starting from
# the seed corpus in tests/fuzz/corpus/<target>.  Fails if any target crashes.
set -eu
build=${1:-build-fuzz}
secs=${2:-20}
dir="$build/bin/fuzz"
[ -d "$dir" ] || { echo "fuzz.sh: no fuzz targets in $dir" >&2; exit 1; }
status=0
for f in "$dir"/*; do
	name=$(basename "$f")
	seeds="tests/fuzz/corpus/$name"
	work="$build/corpus/$name"
	log="$build/fuzz-$name.log"
	mkdir -p "$work"
	[ -d "$seeds" ] || seeds=""
	if "$f" -max_total_time="$secs" -close_fd_mask=1 -artifact_prefix="$build/" \
	    "$work" $seeds >"$log" 2>&1; then
		echo "== $name: $(grep -E 'DONE' "$log" | tail -1)"
	else
		echo "== $name: FAILED (log: $log)"
		tail -40 "$log"
		status=1
	fi
done
exit $status
