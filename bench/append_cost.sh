#!/bin/sh
# append_cost.sh BIN_DIR WORK_DIR SIZE N [CONNS [TEMPLATE_DIR]]
#
# Load-independent cost of single-entry appends at one log size: bulk-load a
# log to SIZE entries (closurelog-bench bulkload; or copy TEMPLATE_DIR, a
# data directory already holding SIZE entries), start closurelogd on it,
# submit N new envelopes (closurelog-bench load), and print:
#   size N ok entries_per_commit write_bytes_per_entry write_bytes_per_commit
#   committer_cpu_us_per_entry store_bytes_per_entry index_write_bytes_per_entry
# Bytes are what closurelogd's writing threads hand the kernel (LMDB's page
# writes with pwrite/writev): the wchar counters of the cl-commit and
# cl-index threads in /proc/PID/task/TID/io.  (/proc/PID/io write_bytes
# counts ext4's writeback too and is several times larger; strace would kill
# the seccomp-strict signer.)  Committer CPU is the cl-commit thread's
# utime + stime from /proc/PID/task/TID/stat.  Entries per commit depend on
# the load (group commit), so bytes are given per entry and per commit.  The
# last column is the search indexer's share of the bytes (0 before layout 3;
# it writes once per 16 384 entries, so N should be many times that).
set -eu
bin=$1 work=$2 size=$3 n=$4 conns=${5:-64} template=${6:-}
data=$work/log-$size
rm -rf "$data" "$data".port "$data".submitters
mkdir -p "$work"
"$bin/closurelog-bench" submitters "$data.submitters"
# start: closurelogd in the background; $pid is its process id.
start() {
	rm -f "$data.port"
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
}
stop() { kill "$pid"; wait "$top" || true; }
if [ -n "$template" ]; then
	cp -a "$template" "$data"
else
	start
	stop
	"$bin/closurelog-bench" bulkload "$data" "$size" >/dev/null
fi
start
tid= writers= indexer=
for t in /proc/$pid/task/*; do
	case $(cat "$t/comm") in
	cl-commit) tid=${t##*/} writers="$writers $t" ;;
	cl-index) indexer=$t writers="$writers $t" ;;
	esac
done
[ -n "$tid" ] || { echo "no cl-commit thread" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$pid/task/$tid/stat"; }
port=$(cat "$data.port")
batches() {
	curl -fsS "http://127.0.0.1:$port/metrics" |
	    awk '$1 == "closurelog_batches_total" {print $2}'
}
pw() {
	for t in $writers; do cat "$t/io"; done | awk '$1 == "wchar:" {s += $2} END {print s + 0}'
}
iw() {
	[ -z "$indexer" ] || awk '$1 == "wchar:" {print $2}' "$indexer/io"
	[ -n "$indexer" ] || echo 0
}
c0=$(cpu) b0=$(batches) w0=$(pw) i0=$(iw)
out=$("$bin/closurelog-bench" load "$port" "$n" "$conns" 0 "$size")
c1=$(cpu) b1=$(batches) w1=$(pw)
i1=$(iw)
w=$((w1 - w0))
ok=${out%%/*}
hz=$(getconf CLK_TCK)
stop
blocks=$(stat -c %b "$data/data.mdb")
# The search index (layout 3 on) is part of the store too.
[ ! -f "$data/search/data.mdb" ] || blocks=$((blocks + $(stat -c %b "$data/search/data.mdb")))
total=$((size + ok))
awk -v s="$size" -v n="$n" -v ok="$ok" -v w="$w" -v c="$((c1 - c0))" -v hz="$hz" \
    -v b="$blocks" -v t="$total" -v nb="$((b1 - b0))" -v out="$out" -v iw="$((i1 - i0))" 'BEGIN {
	printf "%d %d %d %.1f %.0f %.0f %.1f %.0f %.0f # %s\n", s, n, ok, ok / nb, w / ok, w / nb,
	    c * 1e6 / hz / ok, b * 512 / t, iw / ok, out }'
rm -rf "$data" "$data".port "$data".submitters
