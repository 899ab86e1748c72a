#!/bin/sh
# append_cost.sh BIN_DIR WORK_DIR SIZE N [CONNS [TEMPLATE_DIR]]
#
# Load-independent cost of single-entry appends at one log size: bulk-load a
# log to SIZE entries (closurelog-bench bulkload; or copy TEMPLATE_DIR, a
# data directory already holding SIZE entries), start closurelogd on it,
# submit N new envelopes (closurelog-bench load) under strace, and print:
#   size N ok entries_per_commit pwrite_bytes_per_entry pwrite_bytes_per_commit
#   committer_cpu_us_per_entry store_bytes_per_entry
# Bytes are what closurelogd hands the kernel with pwrite64 (LMDB's page
# writes); /proc/PID/io write_bytes counts ext4's writeback too and is several
# times larger.  Entries per commit depend on the load (group commit), so
# bytes are given per entry and per commit.
# bytes written come from /proc/PID/io (write_bytes), committer CPU from the
# cl-commit thread's /proc/PID/task/TID/stat (utime + stime).
set -eu
bin=$1 work=$2 size=$3 n=$4 conns=${5:-64} template=${6:-}
data=$work/log-$size
rm -rf "$data" "$data".port "$data".submitters
mkdir -p "$work"
"$bin/closurelog-bench" submitters "$data.submitters"
# start [strace]: closurelogd, under strace (seccomp-filtered: only pwrite64
# stops the process) when asked; $pid is closurelogd's.
start() {
	rm -f "$data.port"
	${1:+strace --seccomp-bpf -f -e trace=pwrite64 -o "$work/strace-$size"} \
	"$bin/closurelogd" --data "$data" --listen 127.0.0.1:0 --port-file "$data.port" \
	    --submitters "$data.submitters" --rate 0 --max-conns 4096 --queue-max 1000000 \
	    >/dev/null 2>"$work/closurelogd-$size.err" &
	top=$!
	i=0
	while ! [ -s "$data.port" ]; do
		i=$((i + 1))
		[ $i -lt 6000 ] || { echo "closurelogd did not start" >&2; exit 1; }
		sleep 0.1
	done
	pid=$top
	[ -z "${1:-}" ] || pid=$(pgrep -P "$top" -x closurelogd)
}
stop() { kill "$pid"; wait "$top" || true; }
if [ -n "$template" ]; then
	cp -a "$template" "$data"
else
	start
	stop
	"$bin/closurelog-bench" bulkload "$data" "$size" >/dev/null
fi
start strace
tid=
for t in /proc/$pid/task/*; do
	[ "$(cat "$t/comm")" = cl-commit ] && tid=${t##*/}
done
[ -n "$tid" ] || { echo "no cl-commit thread" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$pid/task/$tid/stat"; }
port=$(cat "$data.port")
batches() {
	curl -fsS "http://127.0.0.1:$port/metrics" |
	    awk '$1 == "closurelog_batches_total" {print $2}'
}
pw() { awk '/pwrite64/ && $NF ~ /^[0-9]+$/ {s += $NF} END {print s + 0}' "$work/strace-$size"; }
c0=$(cpu) b0=$(batches) w0=$(pw)
out=$("$bin/closurelog-bench" load "$port" "$n" "$conns" 0 "$size")
c1=$(cpu) b1=$(batches) w1=$(pw)
w=$((w1 - w0))
ok=${out%%/*}
hz=$(getconf CLK_TCK)
stop
blocks=$(stat -c %b "$data/data.mdb")
total=$((size + ok))
awk -v s="$size" -v n="$n" -v ok="$ok" -v w="$w" -v c="$((c1 - c0))" -v hz="$hz" \
    -v b="$blocks" -v t="$total" -v nb="$((b1 - b0))" -v out="$out" 'BEGIN {
	printf "%d %d %d %.1f %.0f %.0f %.1f %.0f # %s\n", s, n, ok, ok / nb, w / ok, w / nb,
	    c * 1e6 / hz / ok, b * 512 / t, out }'
rm -rf "$data" "$data".port "$data".submitters
