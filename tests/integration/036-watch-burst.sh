#!/bin/bash
# A burst of 20,000 small files (10,000 distinct 8 KiB contents, each twice)
# written as fast as a program can while dedupd watch runs with its default
# unbounded event queue: no overflow, no file missed (a fresh dry-run scan
# finds no duplicate left), every file intact.
. "$(dirname "$0")/lib.sh"
setup
DISTINCT=${BURST_DISTINCT:-10000}
SZ=8192

for fs in $DEDUPE_FS; do
	setup_fs "$fs" 2G
	watch_start "$MNT"
	watch_wait_idle
	t0=$(date +%s.%N)
	# One process writes them all, in 4 directories, copies interleaved
	# with originals (seeded, so that XFS gets the same data).
	python3 - "$MNT" "$DISTINCT" "$SZ" <<'EOF'
import os, random, sys
mnt, n, sz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20000)
for d in ("a", "b", "c", "d"):
    os.mkdir(f"{mnt}/{d}")
for i in range(n):
    data = rng.randbytes(sz)
    first = "ab"[i % 2]
    second = "cd"[i % 2]
    for d in (first, second):
        with open(f"{mnt}/{d}/f{i:05d}", "wb") as f:
            f.write(data)
EOF
	t1=$(date +%s.%N)
	log "$fs: wrote $((2 * DISTINCT)) files in $(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s"
	manifest >"$TESTDIR/before"
	watch_wait_idle 120
	t2=$(date +%s.%N)
	log "$fs: idle $(awk -v a="$t2" -v b="$t1" 'BEGIN { printf "%.1f", a - b }') s after the last write"
	watch_status_json >"$TESTDIR/st"
	check_eq "$(watch_status_get overflows "$TESTDIR/st")" 0 "$fs: overflows"
	check_eq "$(watch_status_get catchups "$TESTDIR/st")" 1 "$fs: catch-ups (the start only)"
	check_ge "$(watch_status_get files_taken "$TESTDIR/st")" $((2 * DISTINCT)) "$fs: files taken"
	check_between "$(watch_status_get bytes_deduped "$TESTDIR/st")" \
		$((DISTINCT * SZ)) $((DISTINCT * SZ)) "$fs: bytes deduped"
	check_manifest "$TESTDIR/before"
	check_eq "$(dup_left "$MNT")" 0 "$fs: duplicate bytes a fresh dry-run scan finds"
	check_eq "$(shared_bytes "$MNT"/c/* "$MNT"/d/*)" $((DISTINCT * SZ)) \
		"$fs: shared bytes of the copies"
	watch_stop
	rm -rf "$WATCH_STATE"
	teardown_fs
done
