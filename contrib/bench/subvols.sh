#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark the subvolume registry (daemon/engine/subvols.c) against the target of
# its issue: nothing per start or per lookup grows with the number of
# subvolumes not involved. For each count, on a fresh loop-mounted btrfs
# image: that many snapshots of one subvolume, made with
# `btrfs subvolume snapshot` in a loop (timed), then tests/unit/bench-subvols:
#
#   first fill   subvols_open() without a registry file, caches dropped
#                (and warm, median of 5; libbtrfsutil's iterator over the
#                same subvolumes for comparison)
#   reopen       subvols_open() of the saved file, nothing changed: caches
#                dropped, and warm (median of 5)
#   refresh      subvols_refresh() after one new snapshot
#   lookup       subvols_by_uuid() / subvols_by_id() at random, ns each
#   memory       heap bytes per subvolume; file bytes
#   check        every record against libbtrfsutil's (must be 0 differing)
#
# and, with the dedupd binary, what the issue asks to stay flat:
#   daemon       `dedupd watch` started before the snapshots exist, stopped,
#                then restarted after they were made (its catch-up sees N new
#                subvolumes), and restarted again with nothing changed: seconds
#                until its socket answers and until it is idle
#   scan         `dedupd scan` of 200 files of 64 KiB in a subvolume of their
#                own, no snapshot of it: microseconds per file (warm cache)
#   relink       `dedupd defrag` of a 4 MiB file in 1,024 extents shared with 2
#                read-only snapshots: microseconds per old extent (its whole
#                time over its extents before), and the bytes relinked
#
# Appends a dated section to contrib/bench/RESULTS.md. Root only.
#
# env: COUNTS ("10 1000 10000")  LOOKUPS (1000000)  BENCH  RESULTS  WORK
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BENCH=${BENCH:-$top/build/tests/bench-subvols}
DEDUPD=${DEDUPD:-$top/dedupd}
COUNTS=${COUNTS:-10 1000 10000}
LOOKUPS=${LOOKUPS:-1000000}
RESULTS=${RESULTS:-$here/RESULTS.md}

BENCH_NAME=subvols
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root"
command -v btrfs >/dev/null || die "needs btrfs-progs"
if [ ! -x "$BENCH" ]; then
	make -C "$top" --no-print-directory build/tests/bench-subvols >&2 ||
		die "cannot build $BENCH"
fi

WORK=${WORK:-$(mktemp -d /tmp/dedupd-bench-subvols.XXXXXX)}
mkdir -p "$WORK"
IMG=$WORK/fs.img
MNT=$WORK/mnt
mkdir -p "$MNT"

cleanup() {
	umount "$MNT" 2>/dev/null || true
	rm -f "$IMG"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 1))"; }

declare -A R

# daemon_run N TAG: start `dedupd watch` on $MNT, time until its socket
# answers and until it is idle, stop it.
daemon_run() {
	local n=$1 tag=$2 t0 pid i js
	t0=$(now)
	"$DEDUPD" watch --no-config --socket "$WORK/sock" --state-dir "$WORK/state" \
		--defrag-threshold 0 "$MNT" 2>>"$WORK/watch.log" &
	pid=$!
	for ((i = 0; i < 6000; i++)); do
		"$DEDUPD" status --socket "$WORK/sock" >/dev/null 2>&1 && break
		sleep 0.005
	done
	R[$n,ready_$tag]=$(python3 -c "print(round($(now) - $t0, 3))")
	for ((i = 0; i < 6000; i++)); do
		js=$("$DEDUPD" status --json --socket "$WORK/sock")
		python3 -c 'import json,sys; sys.exit(not json.loads(sys.argv[1])["idle"])' "$js" && break
		sleep 0.05
	done
	R[$n,idle_$tag]=$(python3 -c "print(round($(now) - $t0, 3))")
	kill -TERM "$pid"
	wait "$pid" || die "dedupd watch exited $?"
}

bench_count() {
	local n=$1 i t0 out

	say "$n snapshots: fresh filesystem"
	mkfs_mount btrfs 8G "$IMG" "$MNT"
	btrfs -q subvolume create "$MNT/src" >/dev/null
	for ((i = 0; i < 16; i++)); do
		head -c 64K /dev/urandom >"$MNT/src/f$i"
	done
	mkdir "$MNT/snaps"
	btrfs -q subvolume create "$MNT/work" >/dev/null
	for ((i = 0; i < 200; i++)); do
		head -c 64K /dev/urandom >"$MNT/work/g$i"
	done
	python3 - "$MNT/work/frag" "$MNT/work/pad" <<'PY'
import os, sys
a = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
b = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(1024):
    os.write(a, os.urandom(4096)); os.fdatasync(a)
    os.write(b, os.urandom(4096)); os.fdatasync(b)
PY
	btrfs -q subvolume snapshot -r "$MNT/work" "$MNT/work-ro1" >/dev/null
	btrfs -q subvolume snapshot -r "$MNT/work" "$MNT/work-ro2" >/dev/null
	rm -rf "$WORK/state"
	sync
	daemon_run "$n" first

	say "$n snapshots: creating them"
	t0=$(now)
	for ((i = 0; i < n; i++)); do
		btrfs -q subvolume snapshot "$MNT/src" "$MNT/snaps/s$i" >/dev/null
	done
	sync
	R[$n,create]=$(secs "$t0" "$(now)")
	say "$n snapshots: ${R[$n,create]} s"

	drop_caches
	out=$("$BENCH" "$MNT" "$MNT/src" "$MNT/snaps/new" "$LOOKUPS" "$WORK")
	echo "$out" | sed "s/^/$n /" >>"$WORK/raw"
	while read -r name value _; do
		R[$n,$name]=$value
	done <<<"$out"
	[ "${R[$n,refresh_found_new]}" = 1 ] ||
		die "$n snapshots: the refresh did not find the new snapshot"

	say "$n snapshots: daemon restarts, scan, relink"
	daemon_run "$n" after
	daemon_run "$n" again
	cat "$MNT"/work/g* >/dev/null
	t0=$(now)
	"$DEDUPD" scan --json --no-daemon --db "$WORK/scan.db" "$MNT/work" \
		>"$WORK/scan.json"
	R[$n,scan_us]=$(python3 -c "print(round(($(now) - $t0) * 1e6 / 202))")
	rm -f "$WORK/scan.db"
	"$DEDUPD" defrag --json --chunk-size 4M "$MNT/work/frag" >"$WORK/defrag.json"
	R[$n,relink_bytes]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_relinked"])' "$WORK/defrag.json")
	R[$n,relink_us]=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(round(d["seconds"] * 1e6 / max(d["extents_before"], 1), 1))' "$WORK/defrag.json")
	umount "$MNT"
	rm -f "$IMG"
}

for n in $COUNTS; do
	bench_count "$n"
done

commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$top" diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
{
	section_head "subvolume registry, binary $commit"
	echo "kernel $(uname -r), $(nproc) CPUs, btrfs-progs $(btrfs --version | awk '{print $2}')."
	echo "N snapshots of one subvolume on a fresh loop-mounted btrfs image (8 GiB,"
	echo "mkfs defaults); the registry counts N + 2 subvolumes (top level, source)."
	echo "First fill and reopen (nothing changed): caches dropped before; warm:"
	echo "median of 5."
	echo "Lookups: $LOOKUPS at random."
	echo
	echo "| snapshots | first fill ms | reopen ms | refresh after one new snapshot ms | lookup ns (UUID) | lookup ns (id) | first fill warm ms | reopen warm ms | libbtrfsutil iterator warm ms | bytes per subvolume (heap) | file bytes | records differing from libbtrfsutil | creating the snapshots s |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $COUNTS; do
		echo "| $n | ${R[$n,first_fill]} | ${R[$n,reopen_cold]:-n/a} | ${R[$n,refresh_new_snapshot]} | ${R[$n,lookup_uuid]} | ${R[$n,lookup_id]} | ${R[$n,first_fill_warm]} | ${R[$n,reopen]} | ${R[$n,libbtrfsutil_enumeration]} | ${R[$n,bytes_per_subvolume]} | ${R[$n,file_bytes]} | ${R[$n,records_differing]} | ${R[$n,create]} |"
	done
	echo
	echo "With the dedupd binary (seconds from start until the daemon's socket"
	echo "answers / until it is idle; the 'first' start is on the filesystem before"
	echo "the snapshots, 'after' the first start after making them, 'again' a"
	echo "restart with nothing changed):"
	echo
	echo "| snapshots | daemon first: ready s | idle s | after snapshots: ready s | idle s | again: ready s | idle s | scan us per file | defrag+relink us per old extent | bytes relinked |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in $COUNTS; do
		echo "| $n | ${R[$n,ready_first]} | ${R[$n,idle_first]} | ${R[$n,ready_after]} | ${R[$n,idle_after]} | ${R[$n,ready_again]} | ${R[$n,idle_again]} | ${R[$n,scan_us]} | ${R[$n,relink_us]} | ${R[$n,relink_bytes]} |"
	done
	echo
	raw_details <"$WORK/raw"
} | tee -a "$RESULTS"
rm -f "$WORK/raw"
