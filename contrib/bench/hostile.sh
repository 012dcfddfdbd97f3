#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reliability figures for hostile trees (issue 11 item 7), on a fresh
# loop-mounted btrfs image, each command under /usr/bin/time -v (wall
# time, peak RSS):
#
#   million   FILES (1,000,000) files of 4 KiB in one directory, 1,000
#             distinct contents: `dedupd scan` with a cold cache, again with
#             nothing changed (every file unchanged), and `dedupd defrag -n`
#   deep      a chain of DEPTH (10,000) nested directories with a file at
#             every 100th level: `dedupd scan` (cut at 512 levels, counted)
#
# and checks that each exits 0 with the counts expected. Tests/integration
# 029 runs the same shapes at a smaller size in the default run.
# Appends a dated "Reliability" section to contrib/bench/RESULTS.md.
# Root only; the image is sparse, 12 GiB at most.
#
# env: DEDUPD  FILES  DEPTH  WORK  RESULTS
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEDUPD=${DEDUPD:-$top/dedupd}
FILES=${FILES:-1000000}
DEPTH=${DEPTH:-10000}
RESULTS=${RESULTS:-$here/RESULTS.md}

BENCH_NAME=hostile
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root"
command -v mkfs.btrfs >/dev/null || die "needs btrfs-progs"
[ -x /usr/bin/time ] || die "needs /usr/bin/time (package time)"

# The binary measured is the one there now: a copy, and its commit.
bench_commit
COMMIT=$COMMIT$DIRTY

WORK=${WORK:-$(mktemp -d /tmp/dedupd-bench-hostile.XXXXXX)}
mkdir -p "$WORK"
MNT=$WORK/mnt
mkdir -p "$MNT"
cp "$DEDUPD" "$WORK/dedupd"
DEDUPD=$WORK/dedupd
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

cleanup() {
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	rm -f "$WORK/fs.img" "$WORK/dedupd" "$WORK"/index*
}
trap cleanup EXIT

fresh_fs btrfs 12G

rows=()
raw=()

# measure NAME CMD...: runs CMD under /usr/bin/time -v with its stdout in
# $WORK/NAME.out; sets WALL (s), RSS (MiB), RC.
measure() {
	local name=$1
	shift
	drop_caches
	RC=0
	/usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" \
		2>"$WORK/$name.err" || RC=$?
	WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":");
		s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.1f", s }' \
		"$WORK/$name.time")
	RSS=$(awk -F': ' '/Maximum resident/ { printf "%.0f", $2 / 1024 }' \
		"$WORK/$name.time")
	say "$name: rc $RC, $WALL s, $RSS MiB"
	raw+=("$name rc=$RC wall_s=$WALL peak_rss_kb=$(awk -F': ' '/Maximum resident/ { print $2 }' "$WORK/$name.time") $(head -c 2000 "$WORK/$name.out" | tr '\n' ' ')")
}

jget() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
		"$WORK/$1.out" "$2"
}

# ---- a million files in one directory --------------------------------------
say "making $FILES files of 4 KiB in one directory"
t0=$SECONDS
python3 "$top/tests/integration/many-files.py" "$MNT/many" "$FILES" 1000
make_s=$((SECONDS - t0))
say "made in $make_s s"

measure scan1 "$DEDUPD" scan --json --no-progress --db "$WORK/index" "$MNT/many"
[ "$RC" = 0 ] || die "scan exit $RC: $(tail -n 3 "$WORK/scan1.err")"
[ "$(jget scan1 files_seen)" = "$FILES" ] || die "scan saw $(jget scan1 files_seen) files"
rows+=("| $FILES files in one directory | scan, cold cache | $WALL | $RSS | $(jget scan1 files_scanned) scanned, $(($(jget scan1 bytes_deduped) >> 20)) MiB deduped | $RC |")
measure scan2 "$DEDUPD" scan --json --no-progress --db "$WORK/index" "$MNT/many"
[ "$(jget scan2 files_unchanged)" = "$FILES" ] || die "second scan: $(jget scan2 files_unchanged) unchanged"
rows+=("| $FILES files in one directory | scan again, nothing changed | $WALL | $RSS | $(jget scan2 files_unchanged) unchanged | $RC |")
measure defrag "$DEDUPD" defrag --json -n --no-progress "$MNT/many"
rows+=("| $FILES files in one directory | defrag -n | $WALL | $RSS | $(jget defrag files) files, $(jget defrag files_fragmented) fragmented | $RC |")
rm -rf "$MNT/many"

# ---- a deep chain -------------------------------------------------------------
say "making a chain of $DEPTH directories"
python3 - "$MNT/deep" "$DEPTH" <<'EOF'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
data = os.urandom(65536)
os.mkdir(top)
fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
for depth in range(1, n + 1):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
    if depth % 100 == 0:
        f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(f, data)
        os.close(f)
os.close(fd)
EOF
measure deep "$DEDUPD" scan --json --no-progress --db "$WORK/index.deep" "$MNT/deep"
[ "$RC" = 0 ] || die "deep scan exit $RC"
[ "$(jget deep too_deep)" = 1 ] || die "deep scan: too_deep $(jget deep too_deep)"
rows+=("| a chain of $DEPTH directories, a 64 KiB file every 100 levels | scan | $WALL | $RSS | $(jget deep files_seen) files (to level 512), too_deep $(jget deep too_deep), $(($(jget deep bytes_deduped) >> 10)) KiB deduped | $RC |")

{
	section_head "Reliability: hostile trees, binary $COMMIT"
	echo "kernel $(uname -r), $(nproc) CPUs, $(free -g | awk '/Mem:/ { print $2 }') GiB; btrfs on a loop image in $(stat -f -c %T "$WORK"); caches dropped before each run; load average $LOAD0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; making the $FILES files took $make_s s (python, not measured below)"
	echo
	echo "| tree | command | wall s | peak RSS MiB | outcome | rc |"
	echo "|---|---|---:|---:|---|---|"
	printf '%s\n' "${rows[@]}"
	echo
	printf '%s\n' "${raw[@]}" | raw_details gap
} | tee -a "$RESULTS"
