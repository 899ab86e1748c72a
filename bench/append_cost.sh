#!/bin/sh
# append_cost.sh BIN_DIR WORK_DIR SIZE N [CONNS]
#
# Load-independent cost of single-entry appends at one log size: bulk-load a
# log to SIZE entries (closurelog-bench bulkload), start closurelogd on it,
# submit N new envelopes (closurelog-bench load), and print one line:
#   size N ok entries_per_commit bytes_written_per_entry bytes_written_per_commit
#   committer_cpu_us_per_entry store_bytes_per_entry
# Entries per commit depend on the load (group commit), so bytes and CPU are
# given per entry and per commit.
# bytes written come from /proc/PID/io (write_bytes), committer CPU from the
# cl-commit thread's /proc/PID/task/TID/stat (utime + stime).
set -eu
bin=$1 work=$2 size=$3 n=$4 conns=${5:-64}
data=$work/log-$size
rm -rf "$data" "$data".port "$data".submitters
mkdir -p "$work"
"$bin/closurelog-bench" submitters "$data.submitters"
start() {
	rm -f "$data.port"
	"$bin/closurelogd" --data "$data" --listen 127.0.0.1:0 --port-file "$data.port" \
	    --submitters "$data.submitters" --rate 0 --max-conns 4096 --queue-max 1000000 \
	    >/dev/null 2>"$work/closurelogd-$size.err" &
	pid=$!
	i=0
	while ! [ -s "$data.port" ]; do
		i=$((i + 1))
		[ $i -lt 6000 ] || { echo "closurelogd did not start" >&2; exit 1; }
		sleep 0.1
	done
}
stop() { kill "$pid"; wait "$pid" || true; }
start
stop
"$bin/closurelog-bench" bulkload "$data" "$size" >/dev/null
start
tid=
for t in /proc/$pid/task/*; do
	[ "$(cat "$t/comm")" = cl-commit ] && tid=${t##*/}
done
[ -n "$tid" ] || { echo "no cl-commit thread" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$pid/task/$tid/stat"; }
wb() { awk '$1 == "write_bytes:" {print $2}' "/proc/$pid/io"; }
port=$(cat "$data.port")
batches() {
	curl -fsS "http://127.0.0.1:$port/metrics" |
	    awk '$1 == "closurelog_batches_total" {print $2}'
}
c0=$(cpu) w0=$(wb) b0=$(batches)
out=$("$bin/closurelog-bench" load "$port" "$n" "$conns" 0 "$size")
c1=$(cpu) w1=$(wb) b1=$(batches)
ok=${out%%/*}
hz=$(getconf CLK_TCK)
stop
blocks=$(stat -c %b "$data/data.mdb")
total=$((size + ok))
awk -v s="$size" -v n="$n" -v ok="$ok" -v w="$((w1 - w0))" -v c="$((c1 - c0))" -v hz="$hz" \
    -v b="$blocks" -v t="$total" -v nb="$((b1 - b0))" -v out="$out" 'BEGIN {
	printf "%d %d %d %.1f %.0f %.0f %.1f %.0f # %s\n", s, n, ok, ok / nb, w / ok, w / nb,
	    c * 1e6 / hz / ok, b * 512 / t, out }'
rm -rf "$data" "$data".port "$data".submitters
