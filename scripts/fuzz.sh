#!/bin/sh
# Run every libFuzzer target in $1/bin/fuzz, starting from the seed corpus in
# tests/fuzz/corpus/<target> (kept in the tree) plus what earlier runs found
# ($1/corpus/<target>).  Fails if any target crashes.
#   fuzz.sh BUILD SECONDS         each target for SECONDS
#   fuzz.sh BUILD --runs N        each target for N executions
# Prints one line per target with the executions done and the time taken.
set -eu
build=${1:-build-fuzz}
limit="-max_total_time=${2:-20}"
if [ "${2:-}" = "--runs" ]; then
	limit="-runs=${3:?fuzz.sh: --runs needs a count}"
fi
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
	if "$f" "$limit" -close_fd_mask=1 -artifact_prefix="$build/" \
	    "$work" $seeds >"$log" 2>&1; then
		echo "== $name: $(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
	else
		echo "== $name: FAILED (log: $log)"
		tail -40 "$log"
		status=1
	fi
done
exit $status
