#!/bin/bash
# An overflow of dedupd watch's event queue loses nothing: with
# --bounded-queue and fs.fanotify.max_queued_events at 64 (read when the
# daemon starts; put back at once), the daemon stopped (SIGSTOP) while 500
# small files (250 pairs of duplicates) are written overflows its queue;
# once continued it catches up from the filesystem (btrfs: new extents
# since its checkpoint; XFS: a walk) and dedupes every pair.
. "$(dirname "$0")/lib.sh"
setup
SYSCTL=/proc/sys/fs/fanotify/max_queued_events
[ -w "$SYSCTL" ] || skip "no writable $SYSCTL"
saved_max=$(cat "$SYSCTL")
on_exit "echo $saved_max >$SYSCTL"
PAIRS=250
SZ=16		# KiB: not inlined into btrfs metadata
mkdir "$TESTDIR/src"
python3 - "$TESTDIR/src" $PAIRS $SZ <<'EOF'
import os, sys
d, n, kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(f"{d}/s{i:03d}", "wb") as f:
        f.write(os.urandom(kib * 1024))
EOF

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	echo 64 >"$SYSCTL"
	watch_start --bounded-queue "$MNT"
	echo "$saved_max" >"$SYSCTL"
	watch_wait_idle
	check_eq "$(watch_status_get catchups)" 1 "$fs: catch-ups at start"
	check_eq "$(watch_status_get overflows)" 0 "$fs: overflows at start"

	kill -STOP "$WATCH_PID"
	mkdir "$MNT/a" "$MNT/b"
	for ((i = 0; i < PAIRS; i++)); do
		n=$(printf 's%03d' "$i")
		copy_plain "$TESTDIR/src/$n" "$MNT/a/$n"
		copy_plain "$TESTDIR/src/$n" "$MNT/b/$n"
	done
	manifest >"$TESTDIR/before"
	kill -CONT "$WATCH_PID"
	watch_wait_idle
	watch_status_json >"$TESTDIR/st"
	check_ge "$(watch_status_get overflows "$TESTDIR/st")" 1 "$fs: overflows"
	check_ge "$(watch_status_get catchups "$TESTDIR/st")" 2 "$fs: catch-ups (start, overflow)"
	check_str "$(watch_status_get catching_up "$TESTDIR/st")" false "$fs: catching_up"
	grep -q "overflowed" "$WATCH_LOG" || _fail "$fs: no overflow warning in the log"
	check_manifest "$TESTDIR/before"
	check_ge "$(watch_status_get bytes_deduped "$TESTDIR/st")" $((PAIRS * SZ * KiB)) \
		"$fs: bytes deduped"
	check_eq "$(shared_bytes "$MNT"/b/*)" $((PAIRS * SZ * KiB)) "$fs: shared bytes of b/*"
	check_eq "$(dup_left "$MNT")" 0 "$fs: duplicate bytes a fresh dry-run scan finds"
	watch_stop
	check_manifest "$TESTDIR/before"
	rm -rf "$WATCH_STATE" "$WATCH_LOG"
	teardown_fs
done
