#!/bin/bash
# dedupd watch dedupes what is written while it runs, and what was there
# before it started (the start-up catch-up): on btrfs run on a subvol= mount
# (it marks the top level through a private mount of its own, which the
# test's namespace never sees), with duplicates in that subvolume, in a
# nested subvolume and in new files of a snapshot; on XFS on the plain mount.
# A unique file is left alone; every file keeps its contents.
. "$(dirname "$0")/lib.sh"
setup
SZ=4096		# KiB per file
rand_file "$TESTDIR/A" $SZ
rand_file "$TESTDIR/B" $SZ
rand_file "$TESTDIR/old" $SZ
rand_file "$TESTDIR/u1" $SZ
rand_file "$TESTDIR/u2" $SZ
F=$((SZ * KiB))

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	if [ "$fs" = btrfs ]; then
		run_check btrfs -q subvolume create "$MNT/sv"
		W=$TESTDIR/svmnt	# what the daemon watches
		mount_subvol sv "$W"
	else
		W=$MNT
	fi
	# There before the daemon: found by its start-up catch-up.
	copy_plain "$TESTDIR/old" "$W/old1"
	copy_plain "$TESTDIR/old" "$W/old2"
	sync
	if [ "$fs" = btrfs ]; then	# another filesystem, mounted before
		truncate -s 32M "$TESTDIR/other.img"
		mkfs.ext4 -q -F "$TESTDIR/other.img" >/dev/null ||
			_fail "mkfs.ext4 failed"
		mkdir -p "$TESTDIR/other"
		run_check mount -o loop "$TESTDIR/other.img" "$TESTDIR/other"
		on_exit "umount $TESTDIR/other 2>/dev/null"
	fi

	watch_start "$W"
	if [ "$fs" = btrfs ]; then
		# The top level is mounted detached: in no namespace, and the
		# daemon's is ours. A filesystem mounted before it started and
		# unmounted while it runs is gone (its loop device detached):
		# the daemon holds no copy of it (a namespace of its own did,
		# where / is private, with the filesystem's log left dirty).
		grep -q "$TESTDIR/top-" /proc/self/mountinfo &&
			_fail "the daemon's top-level mount shows in our namespace"
		[ "$(readlink "/proc/$WATCH_PID/ns/mnt")" = "$(readlink /proc/self/ns/mnt)" ] ||
			_fail "the daemon has a mount namespace of its own"
		run_check umount "$TESTDIR/other"
		for ((i = 0; i < 50; i++)); do
			[ -n "$(losetup -j "$TESTDIR/other.img")" ] || break
			sleep 0.1
		done
		[ -z "$(losetup -j "$TESTDIR/other.img")" ] ||
			_fail "a filesystem unmounted while the daemon runs is still alive"
	fi
	watch_wait_idle
	check_ge "$(watch_status_get catchups)" 1 "$fs: catch-ups at start"
	check_between "$(watch_status_get bytes_deduped)" "$F" $((F + 256 * KiB)) \
		"$fs: bytes deduped by the start-up catch-up (old2)"
	check_eq "$(shared_bytes "$W/old1")" "$F" "$fs: shared bytes of old1"
	check_eq "$(shared_bytes "$W/old2")" "$F" "$fs: shared bytes of old2"
	d0=$(watch_status_get bytes_deduped)
	ev0=$(watch_status_get events)

	if [ "$fs" = btrfs ]; then
		run_check btrfs -q subvolume create "$W/nested"
		# a snapshot of sv: shares old1/old2 already; its new files count
		run_check btrfs -q subvolume snapshot "$W" "$W/snap"
		dirs=("$W" "$W/nested" "$W/snap")
	else
		mkdir -p "$W/d/sub" "$W/e"
		dirs=("$W/d" "$W/d/sub" "$W/e")
	fi
	copy_plain "$TESTDIR/A" "${dirs[0]}/a1"
	copy_plain "$TESTDIR/A" "${dirs[1]}/a2"
	copy_plain "$TESTDIR/A" "${dirs[2]}/a3"
	copy_plain "$TESTDIR/B" "${dirs[2]}/b1"
	copy_plain "$TESTDIR/B" "${dirs[0]}/b2"
	copy_plain "$TESTDIR/u1" "${dirs[0]}/unique1"
	copy_plain "$TESTDIR/u2" "${dirs[2]}/unique2"
	manifest "$MNT" >"$TESTDIR/before"	# (the top level: every subvolume)

	watch_wait_idle
	check_manifest "$TESTDIR/before" "$MNT"
	check_same "$TESTDIR/A" "${dirs[0]}/a1" "${dirs[1]}/a2" "${dirs[2]}/a3"
	check_same "$TESTDIR/B" "${dirs[2]}/b1" "${dirs[0]}/b2"
	check_same "$TESTDIR/u1" "${dirs[0]}/unique1"
	check_same "$TESTDIR/u2" "${dirs[2]}/unique2"
	check_ge $(($(watch_status_get events) - ev0)) 7 "$fs: events of the new files"
	d1=$(watch_status_get bytes_deduped)
	check_between $((d1 - d0)) $((3 * F)) $((3 * F + 256 * KiB)) \
		"$fs: bytes deduped since (a2, a3, one of b1/b2)"
	# (bytes_freed is measured around rounds only, not catch-ups)
	check_ge "$(watch_status_get bytes_freed)" $((3 * F * 8 / 10)) \
		"$fs: bytes_freed (a2, a3, b)"
	check_ge "$(watch_status_get files_taken)" 9 "$fs: files_taken"
	for f in "${dirs[0]}/a1" "${dirs[1]}/a2" "${dirs[2]}/a3" \
		"${dirs[2]}/b1" "${dirs[0]}/b2"; do
		check_eq "$(shared_bytes "$f")" "$F" "$fs: shared bytes of ${f#"$W"/}"
	done
	check_eq "$(shared_bytes "${dirs[0]}/unique1")" 0 "$fs: shared bytes of unique1"
	check_eq "$(shared_bytes "${dirs[2]}/unique2")" 0 "$fs: shared bytes of unique2"
	check_eq "$(dup_left "$W")" 0 "$fs: duplicate bytes a fresh dry-run scan finds"
	if [ "$fs" = btrfs ]; then
		check_str "$(btrfs property get -ts "$W/snap" ro)" "ro=false" \
			"the snapshot is still writable"
	fi

	watch_stop
	check_manifest "$TESTDIR/before" "$MNT"
	if [ "$fs" = btrfs ]; then
		st=$(find "$WATCH_STATE" -name index.state)
		[ -n "$st" ] || _fail "no btrfs state file under $WATCH_STATE"
		grep -qx 'dedupd-state 1' "$st" || _fail "state file: $(cat "$st")"
		grep -qx 'gen [0-9]*' "$st" || _fail "state file: $(cat "$st")"
		log "state: $(tr '\n' ' ' <"$st")"
	fi
	rm -rf "$WATCH_STATE"
	teardown_fs
	[ "$fs" != btrfs ] || teardown_fs	# the subvolume mount, then the top
done
