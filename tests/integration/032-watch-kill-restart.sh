#!/bin/bash
# dedupd watch killed with SIGKILL, mid-work or with files still queued,
# harms nothing, and a restart with the same state directory (stale socket
# and all) catches up on everything it had not done: a fresh dry-run scan
# finds no duplicate left. After a clean stop (SIGTERM, which checkpoints),
# a restart with nothing written meanwhile hashes nothing again.
. "$(dirname "$0")/lib.sh"
setup
SZ=4096		# KiB per file
F=$((SZ * KiB))
N=40		# files in d1/, each copied into d2/

for fs in $DEDUPE_FS; do
	setup_fs "$fs" 2G

	# 1. Killed while it works on a batch.
	watch_start "$MNT"
	watch_wait_idle
	# Written while it is stopped, so that the files are due together
	# (one long round), and read from disk; stopped again and killed once
	# it has files in flight and something hashed.
	kill -STOP "$WATCH_PID"
	big_tree "$MNT" $N $SZ
	drop_caches
	kill -CONT "$WATCH_PID"
	watch_freeze_busy 2
	watch_kill
	echo "$WATCH_FROZEN_STATUS" >"$TESTDIR/st"
	check_le "$(watch_status_get bytes_deduped "$TESTDIR/st")" $((N * F - 1)) \
		"$fs: bytes deduped before the kill (not all)"
	manifest >"$TESTDIR/before"
	[ -S "$WATCH_SOCK" ] || _fail "$fs: no socket left behind by the killed daemon"
	run_expect_rc 1 "$DEDUPD" status --socket "$WATCH_SOCK"

	watch_start "$MNT"
	watch_wait_idle 90
	check_manifest "$TESTDIR/before"
	check_ge "$(watch_status_get catchups)" 1 "$fs: catch-ups after the restart"
	check_eq "$(dup_left "$MNT")" 0 "$fs: duplicate bytes a fresh dry-run scan finds"
	for ((i = 0; i < N; i++)); do
		n=$(printf 'f%02d' "$i")
		check_eq "$(shared_bytes "$MNT/d2/$n")" "$F" "$fs: shared bytes of d2/$n"
	done

	# 2. Killed right after the writes, with everything still queued.
	taken=$(watch_status_get files_taken)
	big_tree "$MNT/more" 8 $SZ
	watch_status_json >"$TESTDIR/st"
	watch_kill
	log "$fs: killed with files queued: $(cat "$TESTDIR/st")"
	check_eq "$(watch_status_get files_taken "$TESTDIR/st")" "$taken" \
		"$fs: files taken before the kill"
	check_ge "$(watch_status_get queue "$TESTDIR/st")" 1 "$fs: files queued at the kill"
	manifest >"$TESTDIR/before"
	watch_start "$MNT"
	watch_wait_idle 90
	check_manifest "$TESTDIR/before"
	check_eq "$(dup_left "$MNT")" 0 "$fs: duplicate bytes a fresh dry-run scan finds"
	for ((i = 0; i < 8; i++)); do
		n=$(printf 'f%02d' "$i")
		check_eq "$(shared_bytes "$MNT/more/d2/$n")" "$F" "$fs: shared bytes of more/d2/$n"
	done

	# 3. A clean stop and a restart with nothing written: nothing hashed.
	watch_stop
	[ ! -e "$WATCH_SOCK" ] || _fail "$fs: the socket outlives a clean stop"
	watch_start "$MNT"
	watch_wait_idle
	watch_status_json >"$TESTDIR/st"
	log "$fs: after a clean restart: $(cat "$TESTDIR/st")"
	check_eq "$(watch_status_get bytes_hashed "$TESTDIR/st")" 0 \
		"$fs: bytes hashed after a clean restart"
	check_eq "$(watch_status_get bytes_deduped "$TESTDIR/st")" 0 \
		"$fs: bytes deduped after a clean restart"
	check_eq "$(watch_status_get files_scanned "$TESTDIR/st")" 0 \
		"$fs: files scanned after a clean restart"
	watch_stop
	check_manifest "$TESTDIR/before"
	rm -rf "$WATCH_STATE"
	teardown_fs
done
