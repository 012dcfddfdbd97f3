#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark `dedupd defrag` against the targets of its issue, on fresh
# loop-mounted images under $WORK, and against the filesystems' own tools
# (each run on an identical copy of the file in a fresh filesystem):
#
#   a  extents    a FILE_MIB (256) MiB file after OVERWRITES random 4 KiB
#                 overwrites (btrfs; XFS: while a reflink copy shares it; ext4:
#                 written into a checkerboard of free blocks): extents before
#                 and after, time (command + sync), peak RSS; for reference
#                 `btrfs filesystem defragment -t 128M`, `xfs_fsr -v`,
#                 `e4defrag`
#   b  snapshots  (btrfs) the same file shared by SNAPSHOTS (100) read-only
#                 snapshots: used space before and after, every snapshot's
#                 sha256, how many snapshots' files have <= 4 extents after;
#                 for reference used space after `btrfs filesystem defragment`
#   c  writer     4 KiB random writes (python, fdatasync every 16, each pwrite
#                 timed) during the defrag (default chunk): longest and median
#                 write, longest fdatasync, writes lost (the writer's log
#                 replayed onto the starting content); the same writer during
#                 each filesystem's own tool for reference
#   d  free space a 1 GiB fragmented file on a filesystem with ~200 MiB free:
#                 exit status, extents after; the filesystem's tool likewise
#   e  memory     (btrfs) peak RSS (/usr/bin/time) of the defrag of the file
#                 shared by MANY_SNAPSHOTS (1000) read-only snapshots
#   f  crash      kill -9 at CRASH_ROUNDS (20) random points of a defrag
#                 (btrfs, XFS): contents intact, no inode left behind (the
#                 O_TMPFILE), no new name, btrfs check --readonly / xfs_repair
#                 -n clean
#
# A defrag that runs longer than DEFRAG_TIMEOUT seconds is killed; the
# table then says so, and gives what was measured until then.
# Appends a dated section to contrib/bench/RESULTS.md. Root only.
#
# env: DEDUPD  FSTYPES ("btrfs xfs ext4")  WORK  RESULTS  SNAPSHOTS (100)
#      MANY_SNAPSHOTS (1000)  CRASH_ROUNDS (20)  FILE_MIB (256)
#      OVERWRITES (32 a MiB)  DEFRAG_TIMEOUT (900)  FIGURES ("a b c d e f")
#      E_SHA_EVERY (10: e checks the sha256 of every 10th snapshot's file)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEDUPD=${DEDUPD:-$top/dedupd}
FSTYPES=${FSTYPES:-btrfs xfs ext4}
RESULTS=${RESULTS:-$here/RESULTS.md}
SNAPSHOTS=${SNAPSHOTS:-100}
MANY_SNAPSHOTS=${MANY_SNAPSHOTS:-1000}
CRASH_ROUNDS=${CRASH_ROUNDS:-20}
FILE_MIB=${FILE_MIB:-256}
OVERWRITES=${OVERWRITES:-$((FILE_MIB * 32))}
DEFRAG_TIMEOUT=${DEFRAG_TIMEOUT:-900}
E_SHA_EVERY=${E_SHA_EVERY:-10}
FIGURES=${FIGURES:-a b c d e f}
FRAG_PY=$top/tests/integration/defrag.py
MiB=$((1024 * 1024))

BENCH_NAME=defrag BENCH_CLOCK=1
. "$here/lib.sh"
need_root_dedupd
[ -f "$FRAG_PY" ] || die "no $FRAG_PY"
need python3 filefrag sha256sum /usr/bin/time timeout losetup
for fs in $FSTYPES; do
	case $fs in
	btrfs) need="mkfs.btrfs btrfs" ;;
	xfs) need="mkfs.xfs xfs_fsr xfs_repair" ;;
	ext4) need="mkfs.ext4 e4defrag" ;;
	*) die "unknown filesystem $fs" ;;
	esac
	for c in $need; do
		command -v "$c" >/dev/null ||
			die "needs $c (xfs_fsr: package xfsprogs; e4defrag: e2fsprogs)"
	done
done
has() { [[ " $1 " == *" $2 "* ]]; }

WORK=${WORK:-$(mktemp -d /tmp/dedupd-bench-defrag.XXXXXX)}
mkdir -p "$WORK"
WPID=

# The binary measured is the one there now, whatever is built meanwhile:
# a copy, and the commit it was built from (refused if the sources are
# newer: run make first).
bench_commit
cp "$DEDUPD" "$WORK/dedupd"
DEDUPD=$WORK/dedupd
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

cleanup() {
	local m
	[ -z "$WPID" ] || { touch "$WORK/stop"; wait "$WPID" 2>/dev/null || true; }
	for m in $(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	rm -f "$WORK"/*.img "$WORK"/base* "$WORK"/want "$WORK"/wlog* "$WORK/dedupd"
}
trap cleanup EXIT

# ---- filesystems ------------------------------------------------------------

# fresh_fs FSTYPE SIZE (lib.sh): a new filesystem on $WORK/fs.img, mounted
# on $WORK/mnt (sets MNT, FS). Whatever was there goes.
MNT=$WORK/mnt

remount() {
	sync
	umount "$MNT"
	mount -o loop "$WORK/fs.img" "$MNT"
}

# fsck_clean: unmount, check (read-only), mount again; fails (returns 1)
# if the checker found anything, its output in $WORK/fsck.out.
fsck_clean() {
	local rc=0
	sync
	umount "$MNT"
	case $FS in
	btrfs) btrfs check --readonly "$WORK/fs.img" >"$WORK/fsck.out" 2>&1 || rc=$? ;;
	xfs) xfs_repair -n -f "$WORK/fs.img" >"$WORK/fsck.out" 2>&1 || rc=$? ;;
	ext4) e2fsck -fn "$WORK/fs.img" >"$WORK/fsck.out" 2>&1 || rc=$? ;;
	esac
	mount -o loop "$WORK/fs.img" "$MNT"
	return "$rc"
}

avail() { sync; df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' '; }

# inodes: inodes in use (btrfs: inode items of the top-level subvolume).
inodes() {
	sync
	if [ "$FS" = btrfs ]; then
		btrfs filesystem sync "$MNT" >/dev/null
		btrfs inspect-internal dump-tree -t fs "$(findmnt -n -o SOURCE --target "$MNT")" 2>/dev/null |
			grep -cE '^[[:space:]]*item [0-9]+ key \([0-9]+ INODE_ITEM 0\)' || true
	else
		df --output=iused "$MNT" | tail -n 1 | tr -d ' '
	fi
}

# inodes_back N: the inode count is N within 5 s (btrfs drops the inode of
# a closed O_TMPFILE in the background).
inodes_back() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(inodes)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

extents() {
	filefrag -s "$1" | sed -n 's/.*: \([0-9]*\) extents\? found$/\1/p'
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }
mib() { python3 -c "print(round($1 / 1048576, 1))"; }

# fragment FILE MIB SRC [SEED]: FILE on $MNT, SRC's first MIB MiB,
# fragmented as $FS allows (see tests/integration/defrag-lib.sh): btrfs
# OVERWRITES random 4 KiB overwrites (scaled to MIB); XFS the same while a
# reflink copy shares the file, then the copy goes and the filesystem is
# mounted again (the copy-on-write fork's preallocations go too); ext4
# written into a checkerboard of free 4 KiB blocks.
fragment() {
	local f=$1 mb=$2 src=$3 seed=${4:-1} n
	n=$((OVERWRITES * mb / FILE_MIB))
	case $FS in
	btrfs | xfs)
		head -c $((mb * MiB)) "$src" >"$f"
		sync
		refragment "$f" "$n" "$seed"
		;;
	ext4)
		mkdir -p "$MNT/.frag"
		python3 "$FRAG_PY" checker "$MNT/.frag" "$f" "$mb" "$src"
		;;
	esac
	sync
}

# refragment FILE N SEED (btrfs, XFS)
refragment() {
	if [ "$FS" = xfs ]; then
		cp --reflink=always "$1" "$1.ref"
		python3 "$FRAG_PY" overwrite "$1" "$2" "$3"
		rm -f "$1.ref"
		remount
	else
		python3 "$FRAG_PY" overwrite "$1" "$2" "$3"
	fi
	sync
}

# timed OUT CMD...: run CMD, then sync; sets RC (its exit status), SECS
# (wall time, sync included), RSS (its peak KiB) and STOPPED (yes if it ran
# out of time: after DEFRAG_TIMEOUT s it gets SIGINT, which dedupd answers
# by finishing the chunk in flight and printing its report, exit 130; 120 s
# later SIGKILL). Its stdout goes to OUT, stderr to OUT.err.
timed() { bench_timed "$DEFRAG_TIMEOUT" "$@"; }


# ref_cmd FS FILE: sets REF to the filesystem's own defragmenter on FILE.
ref_cmd() {
	case $1 in
	btrfs) REF=(btrfs filesystem defragment -t 128M "$2") ;;
	# (xfs_fsr says nothing unless its stdout is a terminal)
	xfs) REF=(script -qec "xfs_fsr -v '$2'" /dev/null) ;;
	ext4) REF=(e4defrag "$2") ;;
	esac
}
ref_name() {
	case $1 in
	btrfs) echo "btrfs filesystem defragment -t 128M" ;;
	xfs) echo "xfs_fsr -v" ;;
	ext4) echo "e4defrag" ;;
	esac
}

defrag_cmd() { echo "$DEDUPD" defrag --json --no-progress "$@"; }

declare -A R
NOTES=()
note() { NOTES+=("$*"); }

say "base data"
head -c $((FILE_MIB * MiB)) /dev/urandom >"$WORK/base"

# ---- a: extents --------------------------------------------------------------

bench_a() {
	local fs=$1 e0 s0
	say "a/$fs: dedupd defrag"
	fresh_fs "$fs" 2G
	fragment "$MNT/f" "$FILE_MIB" "$WORK/base" 1
	e0=$(extents "$MNT/f")
	s0=$(sha "$MNT/f")
	R[$fs,a_e0]=$e0
	timed "$WORK/a.json" $(defrag_cmd "$MNT/f")
	R[$fs,a_e1]=$(extents "$MNT/f")
	R[$fs,a_t]=$SECS
	R[$fs,a_rss]=$RSS
	[ "$RC" = 0 ] || R[$fs,a_e1]="${R[$fs,a_e1]} (exit $RC)"
	[ "$STOPPED" = no ] || R[$fs,a_t]="$SECS (stopped)"
	[ "$(sha "$MNT/f")" = "$s0" ] || R[$fs,a_e1]="${R[$fs,a_e1]} CONTENTS CHANGED"
	say "a/$fs: $e0 -> ${R[$fs,a_e1]} extents in $SECS s: $(cat "$WORK/a.json")"

	say "a/$fs: $(ref_name "$fs")"
	fresh_fs "$fs" 2G
	fragment "$MNT/f" "$FILE_MIB" "$WORK/base" 1
	R[$fs,a_ref_e0]=$(extents "$MNT/f")
	s0=$(sha "$MNT/f")
	ref_cmd "$fs" "$MNT/f"
	timed "$WORK/ref.out" "${REF[@]}"
	R[$fs,a_ref_e1]=$(extents "$MNT/f")
	R[$fs,a_ref_t]=$SECS
	[ "$RC" = 0 ] || R[$fs,a_ref_e1]="${R[$fs,a_ref_e1]} (exit $RC)"
	[ "$(sha "$MNT/f")" = "$s0" ] || R[$fs,a_ref_e1]="${R[$fs,a_ref_e1]} CONTENTS CHANGED"
	say "a/$fs: reference ${R[$fs,a_ref_e0]} -> ${R[$fs,a_ref_e1]} in $SECS s"
}

# ---- b, e: snapshots (btrfs) ----------------------------------------------------

# snapshots_setup N: the fragmented file in subvolume sv, N read-only
# snapshots of sv. Sets S0 (its sha256), U0 (used bytes).
snapshots_setup() {
	local n=$1 i
	fresh_fs btrfs 4G
	btrfs -q subvolume create "$MNT/sv"
	fragment "$MNT/sv/f" "$FILE_MIB" "$WORK/base" 1
	S0=$(sha "$MNT/sv/f")
	E0=$(extents "$MNT/sv/f")
	mkdir "$MNT/snaps"
	for ((i = 1; i <= n; i++)); do
		btrfs -q subvolume snapshot -r "$MNT/sv" "$MNT/snaps/$i"
	done
	U0=$(used)
}

# snapshots_check N KEY [EVERY]: every (EVERYth) snapshot's file still has
# S0 (R[KEY,bad]: how many do not), how many have <= 4 extents
# (R[KEY,shared]).
snapshots_check() {
	local n=$1 key=$2 every=${3:-1} bad shared
	bad=$(cd "$MNT/snaps" && seq "$every" "$every" "$n" | sed 's|$|/f|' |
		xargs -r -P "$(nproc)" -n 20 sha256sum | awk -v s="$S0" '$1 != s' | wc -l)
	shared=0
	for ((i = 1; i <= n; i++)); do
		[ "$(extents "$MNT/snaps/$i/f")" -le 4 ] && shared=$((shared + 1))
	done
	R[$key,bad]=$bad
	R[$key,shared]=$shared
}

# snapshots_defrag K: dedupd defrag of the file snapshots_setup made, its
# report in $WORK/K.json; sets R[K_u0], R[K_rc], R[K_t], R[K_rss], R[K_u1].
snapshots_defrag() {
	local k=$1
	R[${k}_u0]=$U0
	timed "$WORK/$k.json" $(defrag_cmd "$MNT/sv/f")
	R[${k}_rc]=$RC
	[ "$STOPPED" = no ] || R[${k}_rc]="$RC (stopped at ${DEFRAG_TIMEOUT} s)"
	R[${k}_t]=$SECS
	R[${k}_rss]=$RSS
	R[${k}_u1]=$(used)
}

bench_b() {
	local js
	say "b: $SNAPSHOTS snapshots, dedupd defrag"
	snapshots_setup "$SNAPSHOTS"
	R[b_e0]=$E0
	snapshots_defrag b
	R[b_e1]=$(extents "$MNT/sv/f")
	[ "$(sha "$MNT/sv/f")" = "$S0" ] || R[b_e1]="${R[b_e1]} CONTENTS CHANGED"
	R[b_relinked]=$(jget bytes_relinked "$WORK/b.json")
	R[b_busy]=$(jget refs_busy "$WORK/b.json")
	R[b_errors]=$(jget errors "$WORK/b.json")
	snapshots_check "$SNAPSHOTS" b
	say "b: rc $RC in $SECS s, used ${R[b_u0]} -> ${R[b_u1]}, $(cat "$WORK/b.json") $(head -c 300 "$WORK/b.json.err")"

	say "b: $SNAPSHOTS snapshots, btrfs filesystem defragment"
	snapshots_setup "$SNAPSHOTS"
	R[b_ref_u0]=$U0
	timed "$WORK/ref.out" btrfs filesystem defragment -t 128M "$MNT/sv/f"
	R[b_ref_t]=$SECS
	R[b_ref_u1]=$(used)
	R[b_ref_e1]=$(extents "$MNT/sv/f")
	snapshots_check "$SNAPSHOTS" b_ref
}

bench_e() {
	say "e: $MANY_SNAPSHOTS snapshots"
	snapshots_setup "$MANY_SNAPSHOTS"
	snapshots_defrag e
	R[e_relinked]=$(jget bytes_relinked "$WORK/e.json")
	R[e_errors]=$(jget errors "$WORK/e.json")
	R[e_err1]=$(head -n 1 "$WORK/e.json.err" | cut -c1-160)
	snapshots_check "$MANY_SNAPSHOTS" e "$E_SHA_EVERY"
	say "e: rc $RC in $SECS s, RSS $RSS KiB, used ${R[e_u0]} -> ${R[e_u1]}, $(cat "$WORK/e.json") $(head -c 300 "$WORK/e.json.err")"
}

# ---- c: writer ----------------------------------------------------------------

# with_writer KEY CMD...: CMD on $MNT/f while the writer writes; sets
# R[$KEY,max|med|sync|writes|lost|rc|t|e1].
with_writer() {
	local key=$1 base=$WORK/base-c
	shift
	cp --reflink=never "$MNT/f" "$base"
	rm -f "$WORK/stop" "$WORK/wlog" "$WORK/wlog.ready"
	python3 "$FRAG_PY" writer "$MNT/f" "$WORK/wlog" "$WORK/stop" 16 \
		$((DEFRAG_TIMEOUT + 60)) >"$WORK/writer.json" &
	WPID=$!
	while [ ! -e "$WORK/wlog.ready" ]; do sleep 0.05; done
	sleep 0.5
	timed "$WORK/c.out" "$@"
	sleep 0.5
	touch "$WORK/stop"
	wait "$WPID"
	WPID=
	R[$key,rc]=$RC
	R[$key,t]=$SECS
	[ "$STOPPED" = no ] || R[$key,t]="$SECS (stopped)"
	R[$key,e1]=$(extents "$MNT/f")
	local w mx md sy
	read -r w mx md sy < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["writes"], d["max_ms"], d["median_ms"], d["max_sync_ms"])' "$WORK/writer.json")
	R[$key,writes]=$w R[$key,max]=$mx R[$key,med]=$md R[$key,sync]=$sy
	python3 "$FRAG_PY" replay "$base" "$WORK/wlog" "$WORK/want"
	if [ "$(sha "$WORK/want")" = "$(sha "$MNT/f")" ]; then
		R[$key,lost]=0
	else
		R[$key,lost]=$(cmp -l "$WORK/want" "$MNT/f" | awk '{ print int(($1 - 1) / 4096) }' | uniq | wc -l)
		R[$key,lost]="${R[$key,lost]} blocks differ"
	fi
	rm -f "$base" "$WORK/want" "$WORK/wlog"
}

bench_c() {
	local fs=$1
	say "c/$fs: writer during dedupd defrag"
	fresh_fs "$fs" 2G
	fragment "$MNT/f" "$FILE_MIB" "$WORK/base" 1
	R[$fs,c_e0]=$(extents "$MNT/f")
	with_writer "$fs,c" $(defrag_cmd "$MNT/f")
	R[$fs,c_json]=$(cat "$WORK/c.out")
	say "c/$fs: ${R[$fs,c,writes]} writes, max ${R[$fs,c,max]} ms, lost ${R[$fs,c,lost]}: ${R[$fs,c_json]}"
	say "c/$fs: writer during $(ref_name "$fs")"
	fresh_fs "$fs" 2G
	fragment "$MNT/f" "$FILE_MIB" "$WORK/base" 1
	R[$fs,c_ref_e0]=$(extents "$MNT/f")
	ref_cmd "$fs" "$MNT/f"
	with_writer "$fs,c_ref" "${REF[@]}"
	say "c/$fs: reference: ${R[$fs,c_ref,writes]} writes, max ${R[$fs,c_ref,max]} ms, lost ${R[$fs,c_ref,lost]}"
}

# ---- d: little free space -------------------------------------------------------

# low_space_setup: a 1 GiB fragmented file, then a filler leaving ~200 MiB.
low_space_setup() {
	local a
	fresh_fs "$1" 4G
	[ -e "$WORK/base1g" ] || head -c 1G /dev/urandom >"$WORK/base1g"
	fragment "$MNT/f" 1024 "$WORK/base1g" 1
	a=$(avail)
	[ "$a" -gt $((200 * MiB)) ] &&
		fallocate -l $((a - 200 * MiB)) "$MNT/filler"
	sync
	D_E0=$(extents "$MNT/f")
	D_FREE0=$(avail)
	D_S0=$(sha "$MNT/f")
}

bench_d() {
	local fs=$1
	say "d/$fs: 1 GiB file, 200 MiB free, dedupd defrag"
	low_space_setup "$fs"
	R[$fs,d_e0]=$D_E0
	R[$fs,d_free0]=$D_FREE0
	timed "$WORK/d.json" $(defrag_cmd "$MNT/f")
	R[$fs,d_rc]=$RC
	[ "$STOPPED" = no ] || R[$fs,d_rc]="$RC (stopped at ${DEFRAG_TIMEOUT} s)"
	R[$fs,d_t]=$SECS
	R[$fs,d_e1]=$(extents "$MNT/f")
	R[$fs,d_errors]=$(jget errors "$WORK/d.json")
	R[$fs,d_skipped]=$(jget chunks_skipped "$WORK/d.json")
	R[$fs,d_free1]=$(avail)
	[ "$(sha "$MNT/f")" = "$D_S0" ] || R[$fs,d_e1]="${R[$fs,d_e1]} CONTENTS CHANGED"
	say "d/$fs: rc $RC, ${R[$fs,d_e0]} -> ${R[$fs,d_e1]} extents: $(cat "$WORK/d.json") $(head -c 300 "$WORK/d.json.err")"
	say "d/$fs: $(ref_name "$fs")"
	low_space_setup "$fs"
	R[$fs,d_ref_e0]=$D_E0
	ref_cmd "$fs" "$MNT/f"
	timed "$WORK/ref.out" "${REF[@]}"
	R[$fs,d_ref_rc]=$RC
	R[$fs,d_ref_e1]=$(extents "$MNT/f")
	R[$fs,d_ref_msg]=$(cat "$WORK/ref.out" "$WORK/ref.out.err" | tr -d '\r' |
		sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | { grep -v '^\s*$' || true; } | tail -n 1 | cut -c1-100)
	[ "$(sha "$MNT/f")" = "$D_S0" ] || R[$fs,d_ref_e1]="${R[$fs,d_ref_e1]} CONTENTS CHANGED"
	rm -f "$WORK/base1g"
}

# ---- f: crash -------------------------------------------------------------------

bench_f() {
	local fs=$1 dur round clean=0 hit=0 fails=() s0 names i0 pause rc pid why tries
	say "f/$fs: $CRASH_ROUNDS kills"
	fresh_fs "$fs" 2G
	fragment "$MNT/f" "$FILE_MIB" "$WORK/base" 1
	head -c 16M /dev/urandom >"$MNT/g"
	# How long a whole run lasts, to kill within it.
	timed "$WORK/f.json" $(defrag_cmd "$MNT/f")
	dur=$SECS
	R[$fs,f_dur]=$dur
	for ((round = 1; round <= CRASH_ROUNDS; round++)); do
		refragment "$MNT/f" $((OVERWRITES / 4)) $((round + 1))
		[ "$FS" = xfs ] || remount	# (XFS: refragment did)
		s0="$(sha "$MNT/f") $(sha "$MNT/g")"
		names=$(ls -A "$MNT")
		i0=$(inodes)
		for ((tries = 0; tries < 5; tries++)); do
			pause=$(python3 -c "import random; print(round(random.uniform(0.02, max(0.05, $dur * 0.9)), 3))")
			$(defrag_cmd "$MNT/f") >/dev/null 2>&1 &
			pid=$!
			sleep "$pause"
			kill -KILL "$pid" 2>/dev/null || true
			rc=0
			wait "$pid" 2>/dev/null || rc=$?
			[ "$rc" = 137 ] && break
			refragment "$MNT/f" $((OVERWRITES / 4)) $((round + 100 * tries))
			[ "$FS" = xfs ] || remount
			s0="$(sha "$MNT/f") $(sha "$MNT/g")"
			i0=$(inodes)
		done
		[ "$rc" = 137 ] && hit=$((hit + 1))
		why=
		[ "$(sha "$MNT/f") $(sha "$MNT/g")" = "$s0" ] || why="$why contents;"
		[ "$(ls -A "$MNT")" = "$names" ] || why="$why names;"
		inodes_back "$i0" || why="$why inodes $i0 -> $(inodes);"
		fsck_clean || why="$why $FS checker: $(grep -i -m1 -E 'error|corrupt|wrong|would' "$WORK/fsck.out" || tail -n 1 "$WORK/fsck.out");"
		[ "$(sha "$MNT/f") $(sha "$MNT/g")" = "$s0" ] || why="$why contents after remount;"
		if [ -z "$why" ]; then
			clean=$((clean + 1))
		else
			fails+=("round $round (kill at $pause s):$why")
			say "f/$fs: round $round:$why"
		fi
	done
	R[$fs,f]="$clean/$CRASH_ROUNDS clean"
	R[$fs,f_hit]="$hit/$CRASH_ROUNDS"
	[ ${#fails[@]} = 0 ] || note "f/$fs failures: ${fails[*]}"
	say "f/$fs: ${R[$fs,f]}, $hit kills hit a running defrag"
}

for fs in $FSTYPES; do
	has "$FIGURES" a && bench_a "$fs"
	has "$FIGURES" c && bench_c "$fs"
	has "$FIGURES" d && bench_d "$fs"
	if has "$FIGURES" f && [ "$fs" != ext4 ]; then bench_f "$fs"; fi
done
if has "$FSTYPES" btrfs; then
	has "$FIGURES" b && bench_b
	has "$FIGURES" e && bench_e
fi
rm -f "$WORK/base"

# ---- the table --------------------------------------------------------------------

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
v() { echo "${R[$1]:--}"; }
{
	section_head "dedupd defrag, binary $COMMIT$DIRTY"
	echo "$(nproc) CPUs, kernel $(uname -r). A ${FILE_MIB} MiB file of random data after"
	echo "$OVERWRITES random 4 KiB overwrites (btrfs; XFS: while a reflink copy"
	echo "shared it, then the copy removed and the filesystem mounted again; ext4:"
	echo "written into a checkerboard of free 4 KiB blocks), default chunk (16 MiB)"
	echo "but in f. Times include a sync. A run still going after ${DEFRAG_TIMEOUT} s gets"
	echo "SIGINT (\"stopped\" below: the figures are where it stopped). Load average"
	echo "at the start: $LOAD0; at the end: $LOAD1."
	echo "Reference tools ran on an identical copy in a fresh filesystem."
	echo
	echo "| figure | target | $(for fs in $FSTYPES; do printf '%s | ' "$fs"; done)"
	echo "|---|---|$(for fs in $FSTYPES; do printf -- '---|'; done)"
	row() {	# name target key
		printf '| %s | %s |' "$1" "$2"
		for fs in $FSTYPES; do printf ' %s |' "$(v "$fs,$3")"; done
		echo
	}
	if has "$FIGURES" a; then
		row "a: extents before" "" a_e0
		row "a: extents after dedupd defrag" "btrfs <= 4; <= the tool's" a_e1
		row "a: dedupd defrag s" "" a_t
		row "a: dedupd defrag peak RSS KiB" "" a_rss
		row "a: extents before (reference copy)" "" a_ref_e0
		row "a: extents after the filesystem's tool (btrfs fi defrag -t 128M / xfs_fsr / e4defrag)" "" a_ref_e1
		row "a: the tool's s" "" a_ref_t
	fi
	if has "$FIGURES" c; then
		row "c: extents before" "" c_e0
		row "c: dedupd defrag with the writer: s" "" c,t
		row "c: writer's writes (pwrite 4 KiB)" "" c,writes
		row "c: longest write ms (dedupd)" "<= 100" c,max
		row "c: median write ms (dedupd)" "" c,med
		row "c: longest fdatasync ms (dedupd)" "" c,sync
		row "c: writes lost (dedupd)" "0" c,lost
		row "c: extents after (dedupd, with the writer)" "" c,e1
		row "c: longest write ms during the tool" "" c_ref,max
		row "c: longest fdatasync ms during the tool" "" c_ref,sync
		row "c: writes lost (the tool)" "" c_ref,lost
		row "c: extents after the tool (with the writer)" "" c_ref,e1
	fi
	if has "$FIGURES" d; then
		row "d: 1 GiB file, extents before" "" d_e0
		row "d: free bytes before" "~200 MiB" d_free0
		row "d: dedupd defrag exit status" "0" d_rc
		row "d: dedupd errors" "" d_errors
		row "d: dedupd chunks skipped" "" d_skipped
		row "d: extents after dedupd defrag" "" d_e1
		row "d: free bytes after" "" d_free1
		row "d: dedupd defrag s" "" d_t
		row "d: the tool's exit status" "" d_ref_rc
		row "d: extents after the tool" "" d_ref_e1
		row "d: the tool's last words" "" d_ref_msg
	fi
	if has "$FIGURES" f; then
		row "f: s for a whole run (to kill within)" "" f_dur
		row "f: kill -9 at random points" "20/20 clean" f
		row "f: kills that hit a running defrag" "" f_hit
	fi
	if has "$FSTYPES" btrfs && has "$FIGURES" b; then
		echo
		echo "btrfs, the file shared by $SNAPSHOTS read-only snapshots (b) and $MANY_SNAPSHOTS (e):"
		echo
		echo "| figure | target | value |"
		echo "|---|---|---|"
		echo "| b: extents of the file | | $(v b_e0) |"
		echo "| b: used bytes before | | $(v b_u0) |"
		echo "| b: dedupd defrag exit status | 0 | $(v b_rc) |"
		echo "| b: dedupd defrag s | | $(v b_t) |"
		echo "| b: used bytes after dedupd defrag | <= before + 16 MiB ($(( $(v b_u0) + 16 * MiB ))) | $(v b_u1) |"
		echo "| b: used after - before, MiB | <= 16 | $(mib $(( $(v b_u1) - $(v b_u0) ))) |"
		echo "| b: extents of the file after | <= 4 | $(v b_e1) |"
		echo "| b: snapshots' files changed (sha256 of all $SNAPSHOTS) | 0 | $(v b,bad) |"
		echo "| b: snapshots' files with <= 4 extents after | $SNAPSHOTS | $(v b,shared) |"
		echo "| b: bytes_relinked / refs_busy / errors | | $(v b_relinked) / $(v b_busy) / $(v b_errors) |"
		echo "| b: dedupd peak RSS KiB | | $(v b_rss) |"
		echo "| b: used bytes before (reference copy) | | $(v b_ref_u0) |"
		echo "| b: used bytes after btrfs filesystem defragment -t 128M | | $(v b_ref_u1) |"
		echo "| b: used after - before, MiB (btrfs fi defrag) | | $(mib $(( $(v b_ref_u1) - $(v b_ref_u0) ))) |"
		echo "| b: snapshots' files with <= 4 extents after btrfs fi defrag | | $(v b_ref,shared) |"
		if has "$FIGURES" e; then
			echo "| e: dedupd defrag exit status, $MANY_SNAPSHOTS snapshots | 0 | $(v e_rc) |"
			echo "| e: dedupd defrag s | | $(v e_t) |"
			echo "| e: peak RSS KiB | <= 65536 | $(v e_rss) |"
			echo "| e: used bytes before / after | | $(v e_u0) / $(v e_u1) |"
			echo "| e: snapshots' files changed (sha256 of every ${E_SHA_EVERY}th) | 0 | $(v e,bad) |"
			echo "| e: snapshots' files with <= 4 extents after | $MANY_SNAPSHOTS | $(v e,shared) |"
			echo "| e: bytes_relinked / errors | | $(v e_relinked) / $(v e_errors) |"
			echo "| e: first line on stderr | | $(v e_err1) |"
		fi
	fi
	if [ ${#NOTES[@]} -gt 0 ]; then
		echo
		for n in "${NOTES[@]}"; do echo "- $n"; done
	fi
} | tee -a "$RESULTS"
