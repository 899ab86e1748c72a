#!/bin/sh
# make bench / make bench-quick: every benchmark in one run, against this
# machine's own limits measured in the same run.
#   build/bench/merkle.json     Merkle library micro-benchmark
#   build/bench/broker.json     nar-hash against SHA-256, policy decisions/s
#   build/bench/results.json    closurelogd: limits, appends, reads, offline verify
#   build/bench/latency.dat     latency against offered load
#   build/bench/latency.png     its plot (when gnuplot is installed)
# Run it on an otherwise idle machine: the load generator and the server
# share its cores.
set -eu
build=${1:-build}
shift || true
out="$build/bench"
mkdir -p "$out"
"$build/bin/merkle_bench" "$@" --json "$out/merkle.json"
"$build/bin/broker_bench" "$@" --json "$out/broker.json"
"$build/bin/closurelog-bench" "$@" --out "$out"
"$(dirname "$0")/../bench/witness_bench.sh" "$build" "$out" # witnesses: latency with and without
if command -v gnuplot >/dev/null 2>&1; then
	gnuplot <<GP
set terminal pngcairo size 900,560
set output "$out/latency.png"
set title "closurelogd: latency to a signed checkpoint against offered load"
set xlabel "offered load (appends/s, open loop)"
set ylabel "latency (ms)"
set key top left
set grid
set logscale y
plot "$out/latency.dat" using 1:3 with linespoints title "p50", \
     "$out/latency.dat" using 1:4 with linespoints title "p99", \
     50 with lines dashtype 2 title "p99 target (50 ms)"
GP
	echo "plot: $out/latency.png"
else
	echo "gnuplot not installed (scripts/deps.sh bench): no plot"
fi
