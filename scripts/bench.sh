#!/bin/sh
# make bench / make bench-quick: every benchmark in one run, against this
# machine's own limits measured in the same run.
#   build/bench/merkle.json     Merkle library micro-benchmark
#   build/bench/broker.json     nar-hash against SHA-256, policy decisions/s
#   build/bench/results.json    closurelogd on a new log: limits, appends,
#                               latency against offered load, offline verify
#   build/bench/latency.dat     latency against offered load
#   build/bench/scale.json      appends (single and batch), committer CPU and
#                               bytes per entry, storage, bulk load and proofs
#                               at each log size (10^3 .. 10^7; quick: 10^3, 10^4)
#   build/bench/scale.dat       the same, one line per size
#   build/bench/latency.png, scale.png   their plots (when gnuplot is installed)
#   build/bench/witness.dat     latency with and without witnesses (bench/witness_bench.sh)
# Extra arguments go to closurelog-bench (e.g. --sizes 1e3,1e5 --max-size 1e6).
# Run it on an otherwise idle machine: the load generator and the server
# share its cores.
set -eu
build=${1:-build}
shift || true
out="$build/bench"
mkdir -p "$out"
quick=
for a in "$@"; do [ "$a" = --quick ] && quick=--quick; done
"$build/bin/merkle_bench" $quick --json "$out/merkle.json"
"$build/bin/broker_bench" $quick --json "$out/broker.json"
"$build/bin/closurelog-bench" "$@" --out "$out"
# Witnesses: latency with and without (a short pass at a low rate when quick).
if [ -n "$quick" ]; then
	WB_RATES=${WB_RATES:-500} WB_SECONDS=${WB_SECONDS:-2} \
	    "$(dirname "$0")/../bench/witness_bench.sh" "$build" "$out"
else
	"$(dirname "$0")/../bench/witness_bench.sh" "$build" "$out"
fi
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "gnuplot not installed (scripts/deps.sh bench): no plots"
	exit 0
fi
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
gnuplot <<GP
set terminal pngcairo size 900,560
set output "$out/scale.png"
set title "closurelogd: appends against log size (durable, verified)"
set xlabel "log size before the run (entries)"
set ylabel "appends/s"
set key bottom right
set grid
set logscale x
set format x "10^{%T}"
set xrange [300:3e7]
set yrange [0:*]
plot "$out/scale.dat" using 1:2 with linespoints title "single (one envelope per request)", \
     "$out/scale.dat" using 1:3 with linespoints title "batch", \
     "$out/scale.dat" using 1:(0.8*\$11) with lines dashtype 2 title "0.8 x Ed25519 bound (batch target)", \
     20000 with lines dashtype 3 title "single target (20 000/s)"
GP
echo "plot: $out/scale.png"
