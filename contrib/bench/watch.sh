#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark the daemon, `dedupd watch`, against the targets of its issue, on
# fresh loop-mounted btrfs and XFS images:
#
#   copy      `cp -a` the corpus into a watched filesystem: space freed by
#             the daemon 10 s after the copy ends, against what `dedupd scan`
#             frees on the same data (a copy without the daemon)
#   latency   a closed 100 MiB duplicate file: seconds until it is deduped
#             (median of LAT_ROUNDS, --settle 1)
#   writer    a 1 GiB sequential write with fdatasync, with and without the
#             daemon (medians of WRITER_ROUNDS each, interleaved)
#   idle      the daemon's CPU ticks and wake-ups over IDLE_SECS without writes
#   burst     20,000 small files written at once: none missed (a fresh dry-run
#             scan finds no duplicate left), overflows
#   restart   seconds from start until the socket answers, bytes rehashed
#   memory    RSS after each of 10 rounds of writes
#
# Appends a dated section to contrib/bench/RESULTS.md. Root only.
#
# env: DEDUPD  CORPUS (/srv/dedupd-bench/corpus, see run.sh)  FSTYPES ("btrfs xfs")
#      LAT_ROUNDS (20)  WRITER_ROUNDS (5)  IDLE_SECS (30)  BURST_FILES (20000)
#      RESULTS  WORK
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEDUPD=${DEDUPD:-$top/dedupd}
CORPUS=${CORPUS:-/srv/dedupd-bench/corpus}
FSTYPES=${FSTYPES:-btrfs xfs}
LAT_ROUNDS=${LAT_ROUNDS:-20}
WRITER_ROUNDS=${WRITER_ROUNDS:-5}
IDLE_SECS=${IDLE_SECS:-30}
BURST_FILES=${BURST_FILES:-20000}
RESULTS=${RESULTS:-$here/RESULTS.md}

BENCH_NAME=watch
. "$here/lib.sh"
need_root_dedupd
[ -d "$CORPUS/rootfs-min" ] || die "no corpus in $CORPUS (contrib/bench/run.sh builds it)"
command -v python3 >/dev/null || die "needs python3"

WORK=${WORK:-$(mktemp -d /tmp/dedupd-bench-watch.XXXXXX)}
mkdir -p "$WORK"
IMG=$WORK/fs.img
MNT=$WORK/mnt
SOCK=$WORK/sock
STATE=$WORK/state
WPID=
mkdir -p "$MNT"

cleanup() {
	[ -z "$WPID" ] || kill -9 "$WPID" 2>/dev/null || true
	wait 2>/dev/null || true
	umount "$MNT" 2>/dev/null || true
	rm -f "$IMG" /dev/shm/dedupd-bench-*
}
trap cleanup EXIT

fresh_fs() {	# fstype
	[ -z "$WPID" ] || stop_daemon
	mkfs_mount "$1" 12G "$IMG" "$MNT"
	rm -rf "$STATE"
}

# used: lib.sh's without btrfs's own sync, as the figures so far were taken
used() { sync -f "$MNT"; df -B1 --output=used "$MNT" | tail -n 1 | tr -d ' '; }
drop() { drop_caches; }

status() { "$DEDUPD" status --socket "$SOCK" --json; }
get() {	# key [json]: the first (top-level) occurrence
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d[sys.argv[2]])' \
		"${2:-$(status)}" "$1"
}

start_daemon() {	# extra options
	local t0 i
	t0=$(date +%s.%N)
	"$DEDUPD" watch --no-config --socket "$SOCK" --state-dir "$STATE" \
		"$@" "$MNT" 2>>"$WORK/watch.log" &
	WPID=$!
	for ((i = 0; i < 400; i++)); do
		status >/dev/null 2>&1 && break
		sleep 0.005
	done
	status >/dev/null 2>&1 || die "the daemon does not answer (see $WORK/watch.log)"
	READY=$(python3 -c "print(round($(date +%s.%N) - $t0, 3))")
}

stop_daemon() {
	kill -TERM "$WPID"
	wait "$WPID" || die "the daemon exited $?"
	WPID=
}

wait_idle() {	# timeout: waits until idle and no new event for a second
	local deadline js ev last=-1 since
	deadline=$(($(date +%s) + ${1:-120}))
	since=$(date +%s.%N)
	while [ "$(date +%s)" -lt "$deadline" ]; do
		js=$(status)
		ev=$(get events "$js")
		if [ "$ev" != "$last" ]; then
			last=$ev
			since=$(date +%s.%N)
		elif [ "$(get idle "$js")" = True ] &&
		     python3 -c "import sys; sys.exit($(date +%s.%N) - $since < 1)"; then
			return 0
		fi
		sleep 0.1
	done
	die "the daemon did not get idle (see $WORK/watch.log)"
}

# Seconds from t0 until the daemon is first idle with no new event since
# the poll before.
time_to_idle() {	# t0 timeout
	local js ev last=-1
	while python3 -c "import sys; sys.exit($(date +%s.%N) - $1 > $2)"; do
		js=$(status)
		ev=$(get events "$js")
		if [ "$ev" = "$last" ] && [ "$(get idle "$js")" = True ]; then
			python3 -c "print(round($(date +%s.%N) - $1, 2))"
			return 0
		fi
		last=$ev
		sleep 0.05
	done
	die "the daemon did not get idle in $2 s"
}

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(round(statistics.median(v),3))' "$@"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$WPID/status"; }
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$WPID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$WPID/stat"; }
wakeups() {
	local n=0 f
	for f in /proc/"$WPID"/task/*/status; do
		n=$((n + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$f")))
	done
	echo "$n"
}

declare -A R

bench_fs() {
	local fs=$1 used0 used1 freed_scan js t_end t_idle i lat=() w0=() w1=()

	# ---- copy: the reference, a plain copy and a scan ----
	say "$fs: copy without the daemon, then dedupd scan"
	fresh_fs "$fs"
	cp -a "$CORPUS" "$MNT/c"
	used0=$(used)
	drop
	rm -f "$WORK/scan.db"
	js=$("$DEDUPD" scan --json --db "$WORK/scan.db" "$MNT")
	freed_scan=$(get bytes_freed "$js")
	R[$fs,scan_freed]=$freed_scan

	say "$fs: copy into a watched filesystem"
	fresh_fs "$fs"
	start_daemon
	cp -a "$CORPUS" "$MNT/c"
	t_end=$(date +%s.%N)
	t_idle=
	while python3 -c "import sys; sys.exit($(date +%s.%N) - $t_end >= 10)"; do
		if [ -z "$t_idle" ] && [ "$(get idle)" = True ]; then
			t_idle=$(date +%s.%N)
		fi
		sleep 0.1
	done
	used1=$(used)
	R[$fs,copy_freed10]=$((used0 - used1))
	if [ -z "$t_idle" ]; then
		wait_idle 300
		t_idle=$(date +%s.%N)
	fi
	wait_idle 300
	used1=$(used)
	R[$fs,copy_freed]=$((used0 - used1))
	R[$fs,copy_idle]=$(python3 -c "print(round($t_idle - $t_end, 1))")
	R[$fs,copy_pct10]=$(python3 -c "print(round(100 * ${R[$fs,copy_freed10]} / $freed_scan, 1))")
	R[$fs,copy_rss]=$(rss_kb)

	# ---- restart: no writes in between ----
	say "$fs: restart"
	stop_daemon
	drop
	start_daemon
	R[$fs,restart_ready]=$READY
	wait_idle 120
	R[$fs,restart_hashed]=$(get bytes_hashed)

	# ---- idle ----
	say "$fs: idle for ${IDLE_SECS}s"
	local c0 c1 s0 s1
	c0=$(cpu_ticks)
	s0=$(wakeups)
	sleep "$IDLE_SECS"
	c1=$(cpu_ticks)
	s1=$(wakeups)
	R[$fs,idle_ticks]=$((c1 - c0))
	R[$fs,idle_wakeups]=$((s1 - s0))
	stop_daemon

	# ---- latency: --settle 1 ----
	say "$fs: latency, $LAT_ROUNDS rounds"
	fresh_fs "$fs"
	head -c 100M /dev/urandom >/dev/shm/dedupd-bench-100m
	start_daemon --settle 1
	dd if=/dev/shm/dedupd-bench-100m of="$MNT/orig" bs=1M status=none
	wait_idle 60
	for ((i = 0; i < LAT_ROUNDS; i++)); do
		local before t0 t1
		before=$(get bytes_deduped)
		dd if=/dev/shm/dedupd-bench-100m of="$MNT/dup$i" bs=1M status=none
		t0=$(date +%s.%N)
		while [ $(($(get bytes_deduped) - before)) -lt $((100 << 20)) ]; do
			sleep 0.02
			python3 -c "import sys; sys.exit($(date +%s.%N) - $t0 > 30)" ||
				die "dup$i not deduped in 30 s"
		done
		t1=$(date +%s.%N)
		lat+=("$(python3 -c "print($t1 - $t0)")")
	done
	R[$fs,latency]=$(median "${lat[@]}")
	R[$fs,latency_max]=$(python3 -c 'import sys; print(round(max(map(float, sys.argv[1:])), 3))' "${lat[@]}")
	stop_daemon

	# ---- writer throughput ----
	say "$fs: writer, $WRITER_ROUNDS rounds each"
	fresh_fs "$fs"
	head -c 1G /dev/urandom >/dev/shm/dedupd-bench-1g
	for ((i = 0; i < WRITER_ROUNDS; i++)); do
		local t
		for d in 0 1; do
			[ "$d" = 0 ] || start_daemon
			t=$( { /usr/bin/time -f %e dd if=/dev/shm/dedupd-bench-1g \
				of="$MNT/w" bs=1M conv=fdatasync status=none; } 2>&1 )
			if [ "$d" = 1 ]; then
				wait_idle 120
				stop_daemon
				w1+=("$t")
			else
				w0+=("$t")
			fi
			rm -f "$MNT/w"
			sync
		done
	done
	rm -f /dev/shm/dedupd-bench-1g
	R[$fs,writer_off]=$(median "${w0[@]}")
	R[$fs,writer_on]=$(median "${w1[@]}")
	R[$fs,writer_pct]=$(python3 -c "print(round(100 * ${R[$fs,writer_off]} / ${R[$fs,writer_on]}, 1))")

	# ---- burst ----
	say "$fs: burst of $BURST_FILES files"
	fresh_fs "$fs"
	start_daemon --settle 1
	local t0
	t0=$(date +%s.%N)
	python3 - "$MNT/burst" "$BURST_FILES" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
for i in range(n):
    # pairs of copies: file 2k and 2k+1 hold the same 8 KiB
    data = (b"%08d" % (i // 2)) * 1024
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(data)
EOF
	R[$fs,burst_write]=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
	R[$fs,burst_idle]=$(time_to_idle "$t0" 300)
	wait_idle 300
	R[$fs,burst_overflows]=$(get overflows)
	R[$fs,burst_taken]=$(get files_taken)
	js=$("$DEDUPD" scan --dry-run --json --db "$WORK/check.db" "$MNT")
	R[$fs,burst_left]=$(get bytes_duplicate "$js")
	rm -f "$WORK/check.db"

	# ---- memory: 10 rounds of writes ----
	say "$fs: memory, 10 rounds"
	local rss=() anon=()
	head -c 64M /dev/urandom >/dev/shm/dedupd-bench-64m
	for ((i = 0; i < 10; i++)); do
		mkdir -p "$MNT/m$i"
		head -c 64M /dev/urandom >"$MNT/m$i/new"
		cp --reflink=never /dev/shm/dedupd-bench-64m "$MNT/m$i/dup"
		for ((k = 0; k < 200; k++)); do
			head -c 16K /dev/urandom >"$MNT/m$i/s$k"
		done
		wait_idle 120
		rss+=("$(rss_kb)")
		anon+=("$(anon_kb)")
	done
	rm -f /dev/shm/dedupd-bench-64m
	# The queue remembers files written in the last --reexamine seconds
	# (30): after that, without writes, it holds nothing.
	sleep 32
	R[$fs,rss]="${rss[*]}"
	R[$fs,anon]="${anon[*]}"
	R[$fs,anon_after]=$(anon_kb)
	stop_daemon
}

for fs in $FSTYPES; do
	bench_fs "$fs"
done

commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	section_head "dedupd watch, binary $commit"
	echo "Corpus $CORPUS, $(nproc) CPUs. Default settle (5 s) for the copy and"
	echo "restart; --settle 1 for latency and burst."
	echo
	echo "| figure | target | $(for fs in $FSTYPES; do printf '%s | ' "$fs"; done)"
	echo "|---|---|$(for fs in $FSTYPES; do printf -- '---|'; done)"
	row() {	# name target key fmt
		printf '| %s | %s |' "$1" "$2"
		for fs in $FSTYPES; do printf ' %s |' "${R[$fs,$3]}"; done
		echo
	}
	row "scan on the same data: bytes freed" "" scan_freed
	row "cp -a: bytes freed 10 s after the copy" "" copy_freed10
	row "cp -a: freed at 10 s, % of scan" ">= 95" copy_pct10
	row "cp -a: s from copy end to idle" "<= 10" copy_idle
	row "cp -a: bytes freed when idle" "" copy_freed
	row "cp -a: RSS when idle, KiB" "" copy_rss
	row "latency, 100 MiB duplicate, median s (settle 1)" "<= 3" latency
	row "latency, max s" "" latency_max
	row "1 GiB write + fdatasync, median s, no daemon" "" writer_off
	row "1 GiB write + fdatasync, median s, daemon" "" writer_on
	row "writer speed with the daemon, %" ">= 90" writer_pct
	row "idle ${IDLE_SECS} s: CPU ticks" "0" idle_ticks
	row "idle ${IDLE_SECS} s: voluntary wake-ups" "" idle_wakeups
	row "burst $BURST_FILES files: s to write" "" burst_write
	row "burst: s from start to idle" "" burst_idle
	row "burst: files taken up" "" burst_taken
	row "burst: duplicate bytes a fresh scan still finds" "0" burst_left
	row "burst: overflows" "0" burst_overflows
	row "restart: s until the socket answers" "< 1" restart_ready
	row "restart: bytes rehashed" "0" restart_hashed
	row "memory: RSS KiB after each of 10 rounds" "flat" rss
	row "memory: of which anonymous (the rest: index pages mapped)" "flat" anon
	row "memory: anonymous KiB 32 s after the last round" "" anon_after
} | tee -a "$RESULTS"
