#!/bin/sh
# Run the benchmarks (called by `make bench` and `make bench-quick`).
set -eu
build=${1:-build}
shift || true
mkdir -p "$build/bench"
"$build/bin/merkle_bench" "$@" --json "$build/bench/merkle.json"
