#!/bin/sh
# systemd_test.sh UNIT_DIR BIN_DIR WITNESS
#
# For every service unit in UNIT_DIR (as configured by the build):
#  - `systemd-analyze security --offline=true` must rate its overall
#    exposure at most 1.5;
#  - every --flag its ExecStart= passes must be one the program's --help
#    documents (for the programs this tree builds);
#  - every system call the program makes while it serves (closurelogd: start,
#    256 submissions, a full tile written to --tiles-dir, reads, SIGHUP,
#    SIGTERM drain; closurelog audit: a first and a full audit), recorded
#    with strace -f, must be allowed by the
#    unit's SystemCallFilter= lines.  A denied call would fail with EPERM
#    under systemd, so this is what keeps the filter honest.
# WITNESS is yes when this tree builds closurelog-witness: then its unit's
# flags are checked too, and its calls from start to SIGTERM.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 UNIT_DIR BIN_DIR WITNESS" >&2; exit 2; }
units=$1 bin=$2 witness=$3
MAX_EXPOSURE=1.5

tmp=$(mktemp -d "${TMPDIR:-/tmp}/systemd_test.XXXXXX")
server=
cleanup() {
	if [ -n "$server" ]; then
		kill -KILL "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "systemd_test: FAIL: $*" >&2
	exit 1
}
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (scripts/deps.sh test)"
command -v strace >/dev/null || fail "strace is missing (scripts/deps.sh test)"
# In sanitizer builds: LeakSanitizer cannot run under ptrace.
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0"
export ASAN_OPTIONS

# expand ITEM...: the system calls named, with @groups expanded recursively.
expand() {
	for item; do
		case $item in
		@*)
			systemd-analyze syscall-filter "$item" 2>/dev/null |
				awk 'NR > 1 && $1 !~ /^#/ && NF > 0 { print $1 }' >"$tmp/g.$$.$item"
			# shellcheck disable=SC2046
			expand $(cat "$tmp/g.$$.$item")
			;;
		*) echo "$item" ;;
		esac
	done
}

# allowed UNIT: the system calls its SystemCallFilter= lines allow, in order
# (the first line an allow list, each "~" line taking calls out).
allowed() {
	: >"$tmp/allow"
	first=1
	grep '^SystemCallFilter=' "$1" | sed 's/^SystemCallFilter=//' >"$tmp/filters"
	while read -r line; do
		case $line in
		"~"*)
			# shellcheck disable=SC2086
			expand ${line#\~} | sort -u >"$tmp/deny"
			sort -u "$tmp/allow" | comm -23 - "$tmp/deny" >"$tmp/allow.new"
			mv "$tmp/allow.new" "$tmp/allow"
			;;
		*)
			[ $first -eq 1 ] || fail "$1: only the first SystemCallFilter= may be an allow list"
			# shellcheck disable=SC2086
			expand $line >>"$tmp/allow"
			;;
		esac
		first=0
	done <"$tmp/filters"
	sort -u "$tmp/allow"
}

# used TRACE: the system calls an strace -f log shows.
used() {
	sed -E 's/^[0-9]+ +//' "$1" | grep -E '^[a-z0-9_]+\(' | sed 's/(.*//' | sort -u
}

# check_calls UNIT TRACE WHAT
check_calls() {
	allowed "$1" >"$tmp/allowed"
	used "$2" >"$tmp/used"
	[ -s "$tmp/used" ] || fail "$3: strace recorded no system calls"
	denied=$(comm -23 "$tmp/used" "$tmp/allowed" | tr '\n' ' ')
	[ -z "$denied" ] || fail "$(basename "$1"): $3 makes system calls the unit denies: $denied"
	echo "systemd_test: $(basename "$1"): all $(wc -l <"$tmp/used") system calls $3 made are allowed"
}

# check_flags UNIT HELP_TEXT_FILE
check_flags() {
	grep '^ExecStart=' "$1" | grep -oE -- '--[a-z][a-z-]*' | sort -u | while read -r f; do
		grep -qE -- "(^|[ ,])$f([ =]|$)" "$2" || fail "$(basename "$1"): $f is not in the --help text"
	done
}

n=0
for u in "$units"/*.service; do
	[ -f "$u" ] || continue
	n=$((n + 1))
	out=$(systemd-analyze security --offline=true "$u" 2>&1) || true
	score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	[ -n "$score" ] || { printf '%s\n' "$out" >&2; fail "$(basename "$u"): no exposure score"; }
	awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
		{ printf '%s\n' "$out" >&2; fail "$(basename "$u"): exposure $score > $MAX_EXPOSURE"; }
	echo "systemd_test: $(basename "$u"): exposure $score"
done
[ $n -ge 2 ] || fail "found $n service units in $units"

# --- closurelogd ---
u=$units/closurelogd.service
"$bin/closurelogd" --help >"$tmp/help"
check_flags "$u" "$tmp/help"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$u" || fail "closurelogd.service: no SIGHUP reload"
grep -q '^KillMode=mixed$' "$u" || fail "closurelogd.service: SIGTERM must go to the main process only"

"$bin/closurelog" keygen ci.example.com/builder "$tmp/ci" >/dev/null
cp "$tmp/ci.pub" "$tmp/submitters"
strace -f -qq -o "$tmp/server.trace" "$bin/closurelogd" --data "$tmp/data" \
	--listen 127.0.0.1:0 --port-file "$tmp/port" --submitters "$tmp/submitters" \
	--tiles-dir "$tmp/tiles" \
	>"$tmp/server.log" 2>&1 &
server=$!
i=0
until [ -s "$tmp/port" ]; do
	kill -0 "$server" 2>/dev/null || { cat "$tmp/server.log" >&2; fail "closurelogd exited"; }
	i=$((i + 1))
	[ $i -lt 600 ] || fail "closurelogd did not write its port within 60 s"
	sleep 0.1
done
url=http://127.0.0.1:$(cat "$tmp/port")
r=/nix/store/0c6mxx9spfzmm4kpqjb3c6ha3g3p9v7c-source
h=sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
# 256 entries: a full tile and bundle for --tiles-dir to write.
mkdir "$tmp/envs" "$tmp/bundles"
i=0
while [ $i -lt 256 ]; do
	"$bin/closurelog" attest --key "$tmp/ci.key" --root "$r-$i" --nar-hash $h \
		--flake-lock-digest $h -o "$tmp/envs/$i" || fail "closurelog attest failed"
	i=$((i + 1))
done
"$bin/closurelog" submit --log "$url" -o "$tmp/bundles" "$tmp"/envs/* >/dev/null ||
	fail "closurelog submit failed"
[ -s "$tmp/tiles/tile/entries/000" ] || fail "closurelogd --tiles-dir wrote no entry bundle"
a=$units/closurelog-audit@.service
"$bin/closurelog" audit --help >"$tmp/audit-help" 2>&1 || true
check_flags "$a" "$tmp/audit-help"
strace -f -qq -o "$tmp/audit.trace" "$bin/closurelog" audit --log "$url" \
	--log-key "$tmp/data/log.pub" --state "$tmp/audit" >/dev/null || fail "first audit failed"
strace -f -qq -o "$tmp/audit2.trace" "$bin/closurelog" audit --log "$url" \
	--log-key "$tmp/data/log.pub" --state "$tmp/audit" --full >/dev/null ||
	fail "second audit failed"
cat "$tmp/audit2.trace" >>"$tmp/audit.trace"
curl -sf "$url/checkpoint" >/dev/null || fail "GET /checkpoint failed"

# SIGHUP, then wait for the reload to show in the trace (it re-reads the
# submitters file); then SIGTERM, and the drain must end in a clean exit.
pid=$(pgrep -P "$server" | head -n 1)
[ -n "$pid" ] || fail "cannot find closurelogd under strace"
kill -HUP "$pid"
i=0
until [ "$(grep -c 'open.*/submitters"' "$tmp/server.trace")" -ge 2 ]; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "closurelogd did not re-read its submitters file after SIGHUP"
	sleep 0.1
done
kill -TERM "$pid"
st=0
wait "$server" || st=$?
server=
[ $st -eq 0 ] || { cat "$tmp/server.log" >&2; fail "closurelogd exited $st after SIGTERM"; }
check_calls "$u" "$tmp/server.trace" closurelogd
check_calls "$a" "$tmp/audit.trace" "closurelog audit"

# --- closurelog-witness ---
if [ "$witness" = yes ]; then
	w=$units/closurelog-witness.service
	"$bin/closurelog-witness" --help >"$tmp/whelp"
	check_flags "$w" "$tmp/whelp"
	strace -f -qq -o "$tmp/witness.trace" "$bin/closurelog-witness" --data "$tmp/wdata" \
		--listen 127.0.0.1:0 --port-file "$tmp/wport" --log "$(cat "$tmp/data/log.pub")" \
		>"$tmp/witness.log" 2>&1 &
	server=$!
	i=0
	until [ -s "$tmp/wport" ]; do
		kill -0 "$server" 2>/dev/null || { cat "$tmp/witness.log" >&2; fail "the witness exited"; }
		i=$((i + 1))
		[ $i -lt 600 ] || fail "the witness did not write its port within 60 s"
		sleep 0.1
	done
	kill -TERM "$(pgrep -P "$server" | head -n 1)"
	st=0
	wait "$server" || st=$?
	server=
	[ $st -eq 0 ] || { cat "$tmp/witness.log" >&2; fail "the witness exited $st after SIGTERM"; }
	check_calls "$w" "$tmp/witness.trace" closurelog-witness
fi
echo "systemd_test: ok"
