#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark `dedupd defrag` of a VM image whose reflink backups were taken
# while it kept being written (issue "Every reference moves"): on a fresh
# loop-mounted btrfs and XFS, a FILE_MIB (256) MiB image of random data gets
# a `cp --reflink=always` backup before each of BACKUPS (3 and 30) rounds of
# WRITES (3,000) random 4 KiB writes. Then `dedupd defrag IMAGE` (btrfs:
# --rewrite-backups, so the old data only backups hold is rewritten once;
# XFS: backups found by a FIEMAP walk of the filesystem). Reported: used
# space before and after (df, after a sync), the image's extents before and
# after, time and peak RSS (/usr/bin/time), every file's sha256 unchanged,
# and for each backup the 4 KiB blocks it holds in common with the image
# (by content) against those now at the image's own disk address.
# Appends a dated section to contrib/bench/RESULTS.md. Root only.
#
# A defrag that runs longer than DEFRAG_TIMEOUT seconds is stopped with
# SIGINT (it finishes the chunk in flight and reports); the row says so.
#
# env: DEDUPD  FSTYPES ("btrfs xfs")  BACKUPS ("3 30")  FILE_MIB (256)
#      WRITES (3000)  DEFRAG_TIMEOUT (900)  WORK  RESULTS
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEDUPD=${DEDUPD:-$top/dedupd}
FSTYPES=${FSTYPES:-btrfs xfs}
BACKUPS=${BACKUPS:-3 30}
FILE_MIB=${FILE_MIB:-256}
WRITES=${WRITES:-3000}
DEFRAG_TIMEOUT=${DEFRAG_TIMEOUT:-900}
RESULTS=${RESULTS:-$here/RESULTS.md}
FIEMAP_PY=$top/tests/integration/fiemap.py
MiB=$((1024 * 1024))

BENCH_NAME=backups BENCH_CLOCK=1
. "$here/lib.sh"
need_root_dedupd
need python3 sha256sum /usr/bin/time mkfs.btrfs mkfs.xfs

bench_work backups
BIN_SHA=$(sha256sum "$DEDUPD" | cut -c1-12)
MNT=$WORK/mnt

cleanup() {
	! mountpoint -q "$MNT" 2>/dev/null || umount "$MNT" || umount -l "$MNT"
	rm -f "$WORK/fs.img" "$WORK/dedupd"
}
trap cleanup EXIT


# common IMAGE BACKUP: 4 KiB blocks equal by content
common() {
	python3 "$FIEMAP_PY" equal "$1" "$2"
}


rows=() raw=()
for FS in $FSTYPES; do
	for nb in $BACKUPS; do
		say "$FS, $nb backups"
		fresh_fs "$FS" $(((FILE_MIB * 4 + 1024) * MiB))
		head -c $((FILE_MIB * MiB)) /dev/urandom >"$MNT/image"
		sync
		for n in $(seq 1 "$nb"); do
			cp --reflink=always "$MNT/image" "$MNT/backup-$n"
			python3 - "$MNT/image" "$n" "$FILE_MIB" "$WRITES" <<'PY'
import os, random, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
r = random.Random(int(sys.argv[2]))
for _ in range(int(sys.argv[4])):
    os.pwrite(fd, os.urandom(4096), r.randrange(int(sys.argv[3]) * 256) * 4096)
os.fsync(fd)
PY
		done
		manifest "$MNT" >"$WORK/before"
		e0=$(fiemap_extents "$MNT/image")
		u0=$(used)
		drop_caches
		opts=()
		[ "$FS" != btrfs ] || opts=(--rewrite-backups)
		rc=0
		/usr/bin/time -f "%e %M" -o "$WORK/time" timeout -s INT \
			"$DEFRAG_TIMEOUT" "$DEDUPD" defrag --json --no-progress \
			"${opts[@]}" "$MNT/image" >"$WORK/report.json" \
			2>"$WORK/stderr" || rc=$?
		[ "$rc" != 124 ] || rc="stopped after ${DEFRAG_TIMEOUT} s"
		u1=$(used)
		e1=$(fiemap_extents "$MNT/image")
		manifest "$MNT" >"$WORK/after"
		intact=yes
		cmp -s "$WORK/before" "$WORK/after" || intact=NO
		read -r wall rss < <(tail -n 1 "$WORK/time")
		# backups sharing every block they hold in common with the image
		sharing=0 partial=""
		for n in $(seq 1 "$nb"); do
			want=$(common "$MNT/image" "$MNT/backup-$n")
			got=$(python3 "$FIEMAP_PY" same "$MNT/backup-$n" 0 \
				"$MNT/image" 0 $((FILE_MIB * MiB)))
			if [ "$got" = "$want" ]; then
				sharing=$((sharing + 1))
			else
				partial+=" backup-$n:$got/$want"
			fi
		done
		grow=$(((u1 - u0) / 1024))
		rows+=("| $FS | $nb | $e0 -> $e1 | $(awk -v k="$grow" 'BEGIN { printf "%+.1f", k / 1024 }') | $wall | $((rss / 1024)) | $sharing/$nb | $intact | $rc |")
		raw+=("$FS backups=$nb rc=$rc used_before=$u0 used_after=$u1 extents=$e0->$e1 wall_s=$wall peak_rss_kb=$rss sharing=$sharing/$nb$partial intact=$intact")
		raw+=("report $FS backups=$nb $(cat "$WORK/report.json")")
		# the rows so far, should a later case fail
		printf '%s\n' "${rows[@]}" >"$WORK/rows"
	done
done

{
	echo
	echo "## $(date +%F) dedupd defrag of a VM image with reflink backups, binary $COMMIT (contrib/bench/backups.sh)"
	echo
	echo "kernel $(uname -r), $(nproc) CPUs; binary sha256 $BIN_SHA; a $FILE_MIB MiB image of random data, a \`cp --reflink=always\` backup before each of N rounds of $WRITES random 4 KiB writes; btrfs with --rewrite-backups, XFS with the default scope (the filesystem); one run each, cold cache"
	echo
	echo "| fs | backups | image extents | used after - before MiB | wall s | peak RSS MiB | backups sharing every common block | intact | rc |"
	echo "|---|---:|---|---:|---:|---:|---|---|---|"
	printf '%s\n' "${rows[@]}"
	echo
	printf '%s\n' "${raw[@]}" | raw_details gap
} | tee -a "$RESULTS"
