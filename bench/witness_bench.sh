#!/bin/sh
# bench/witness_bench.sh [BUILD [OUT]]: what witnesses cost (issue 13).
#
# Starts three closurelog-witness processes and one closurelogd on
# 127.0.0.1 (port 0 everywhere), then offers open-loop appends with
# `closurelog-bench load` at each offered rate, first without witnesses and
# then with the three witnesses at quorum k=3 and k=2, and prints one line
# per run: offered rate, witnesses, k, achieved rate, p50, p99 (latency
# counted from when a request was due, so queueing is not hidden) and the
# 1-minute load average when the run ended; then, to see whether the
# witnesses limit anything: the log's batches (group commits), the
# checkpoints it published cosigned (one witness round each: one round
# covers every batch committed while the previous one was out), and the
# busiest witness's time judging add-checkpoint requests, as a share of the
# run and per request (mostly its LMDB commit's fsyncs).  The table also goes to OUT/witness.dat.  The goal: p99 with witnesses at most 50 ms above p99
# without, at 5 000 appends/s.
#
# Environment: WB_RATES (default "1000 5000"), WB_SECONDS per run
# (default 8), WB_CONNS (default 512), WB_RUNS per configuration (default 1).
# Run it on an otherwise idle machine: the load generator, the log and the
# witnesses share its cores.
set -eu
build=${1:-build}
out=${2:-$build/bench}
bin=$build/bin
rates=${WB_RATES:-1000 5000}
seconds=${WB_SECONDS:-8}
conns=${WB_CONNS:-512}
runs=${WB_RUNS:-1}
mkdir -p "$out"
work=$(mktemp -d "$out/witness-XXXXXX")
pids=""

cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null || true
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

die() {
	echo "witness_bench: $*" >&2
	exit 1
}

# wait_port FILE PID: the port a server wrote to FILE, once it is serving.
wait_port() {
	i=0
	while [ ! -s "$1" ]; do
		kill -0 "$2" 2>/dev/null || die "a server exited at start (see $work/*.stderr)"
		i=$((i + 1))
		[ $i -lt 6000 ] || die "a server did not start"
		sleep 0.01
	done
	cat "$1"
}

# log_start [ARGS...]: closurelogd on $work/data; sets log_pid, log_port.
log_start() {
	rm -f "$work/log.port"
	"$bin/closurelogd" --data "$work/data" --listen 127.0.0.1:0 --port-file "$work/log.port" \
		--submitters "$work/submitters" --rate 0 --max-conns 4096 --queue-max 1000000 \
		"$@" >/dev/null 2>>"$work/log.stderr" &
	log_pid=$!
	pids="$pids $log_pid"
	log_port=$(wait_port "$work/log.port" "$log_pid")
}

log_stop() {
	kill "$log_pid"
	wait "$log_pid" || die "closurelogd did not stop cleanly"
	pids=$(echo "$pids" | sed "s/ $log_pid\$//; s/ $log_pid / /")
}

# metric URL NAME: the value of the first sample NAME (0 if absent).
metric() {
	curl -fs "$1/metrics" | awk -v n="$2" '$1 == n { print $2; exit } END { }' | grep . || echo 0
}

# A served checkpoint (with witnesses: the first cosigned one) before load.
wait_checkpoint() {
	i=0
	until curl -fs "http://127.0.0.1:$log_port/checkpoint" >/dev/null; do
		i=$((i + 1))
		[ $i -lt 3000 ] || die "closurelogd published no checkpoint"
		sleep 0.01
	done
}

"$bin/closurelog-bench" submitters "$work/submitters"
# A first start makes the log key, which the witnesses are configured with.
log_start
log_stop
wargs=""
wurl=""
for i in 0 1 2; do
	"$bin/closurelog-witness" --data "$work/w$i" --listen 127.0.0.1:0 \
		--port-file "$work/w$i.port" --log "$work/data/log.pub" \
		--name "w$i.bench/witness" 2>>"$work/w$i.stderr" &
	wp=$!
	pids="$pids $wp"
	port=$(wait_port "$work/w$i.port" "$wp")
	wargs="$wargs --witness $(cat "$work/w$i/witness.pub")=http://127.0.0.1:$port"
	wurl="$wurl http://127.0.0.1:$port"
done

# Each witness's summed judging time (seconds) and request count.
wit_seconds() {
	for u in $wurl; do
		echo "$(metric "$u" closurelog_witness_add_checkpoint_seconds_sum)" \
			"$(metric "$u" closurelog_witness_add_checkpoint_seconds_count)"
	done
}

first=0
printf "%8s %9s %2s %9s %9s %9s %8s %8s %7s %8s %10s\n" offered witnesses k achieved p50_ms \
	p99_ms load1 batches rounds wit_busy wit_ms_req |
	tee "$out/witness.dat"
for rate in $rates; do
	n=$(awk -v r="$rate" -v s="$seconds" 'BEGIN { printf "%d", r * s }')
	for cfg in "0 0" "3 3" "3 2"; do
		set -- $cfg
		nw=$1
		k=$2
		run=0
		while [ $run -lt "$runs" ]; do
			run=$((run + 1))
			if [ "$nw" -eq 0 ]; then
				log_start
			else
				# shellcheck disable=SC2086
				log_start $wargs --witness-quorum "$k"
			fi
			wait_checkpoint
			lurl="http://127.0.0.1:$log_port"
			b0=$(metric "$lurl" closurelog_batches_total)
			r0=$(metric "$lurl" closurelog_cosigned_checkpoints_total)
			w0=$(wit_seconds | tr '\n' ' ')
			t0=$(date +%s.%N)
			line=$("$bin/closurelog-bench" load "$log_port" "$n" "$conns" "$rate" "$first")
			t1=$(date +%s.%N)
			first=$((first + n))
			load1=$(cut -d' ' -f1 /proc/loadavg)
			b1=$(metric "$lurl" closurelog_batches_total)
			r1=$(metric "$lurl" closurelog_cosigned_checkpoints_total)
			w1=$(wit_seconds | tr '\n' ' ')
			log_stop
			busy="- -"
			if [ "$nw" -gt 0 ]; then
				# w0 w1: "s0 n0 s1 n1 s2 n2" before and after.
				busy=$(echo "$w0 $w1" | awk -v t0="$t0" -v t1="$t1" '{
					m = 0; c = 1
					for (i = 1; i <= 5; i += 2) {
						x = $(i + 6) - $i; y = $(i + 7) - $(i + 1)
						if (x > m) { m = x; c = y > 0 ? y : 1 }
					}
					printf "%.0f%% %.2f", 100 * m / (t1 - t0), 1000 * m / c }')
			fi
			# "N/N ok, R/s, p50 X ms, p99 Y ms, max Z ms"
			echo "$line" | awk -v o="$rate" -v w="$nw" -v k="$k" -v l="$load1" \
				-v b=$((b1 - b0)) -v r=$((r1 - r0)) -v u="$busy" '{
				ok = $1; ach = $3; sub("/s,", "", ach); split(u, bu, " ")
				printf "%8d %9d %2d %9d %9.1f %9.1f %8s %8d %7s %8s %10s  (%s ok)\n", o, w, k,
				    ach, $5, $8, l, b, (w > 0 ? r : "-"), bu[1], bu[2], ok
			}' | tee -a "$out/witness.dat"
		done
	done
done
