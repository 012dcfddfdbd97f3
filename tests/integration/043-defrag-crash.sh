#!/bin/bash
# kill -9 at random points of a defrag (128 MiB fragmented file, 1 MiB
# chunks, 10 ms between chunks so that it lasts 1-3 s), ROUNDS times on btrfs
# and on XFS: after each kill the contents are intact (and again read from
# disk after a remount), no name appeared in the directory, no inode was
# left behind (the O_TMPFILE went with the process), the filesystem's
# checker finds it clean; on XFS used space is within a chunk of what it was
# before; a defrag run to the end then leaves used space within a chunk of
# what it was before the round (nothing leaked), and the next round
# fragments the file again.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/defrag-lib.sh"
setup
require_cmd filefrag
ROUNDS=${ROUNDS:-5}
CHUNK=$MiB

for fs in ${DEFRAG_FS:-btrfs xfs}; do
	case $fs in
	btrfs) require_cmd btrfs ;;
	xfs) require_cmd xfs_repair ;;
	esac
	setup_fs "$fs"
	mkdir "$MNT/d"
	make_fragmented "$MNT/d/f" 128
	rand_file "$MNT/d/g" 2048
	killed=0 moved_any=0
	for ((round = 1; killed < ROUNDS; round++)); do
		[ "$round" -le $((ROUNDS * 3)) ] ||
			_fail "$fs: only $killed of $round defrags were still running when killed"
		if [ "$round" -gt 1 ]; then	# fragment it again
			refragment "$MNT/d/f" 4096 "$round"
		fi
		# No inode of an earlier run's temporary file pending (btrfs
		# drops them in the background) when they are counted.
		remount
		e0=$(extents "$MNT/d/f")
		check_ge "$e0" 2000 "$fs round $round: extents before (precondition)"
		manifest >"$TESTDIR/before"
		ls -A "$MNT" "$MNT/d" >"$TESTDIR/names"
		u0=$(used_bytes)
		i0=$(inodes_used)

		pause=$(python3 -c 'import random; print(round(random.uniform(0.05, 1.0), 3))')
		"$DEDUPD" defrag --json --no-progress --chunk-size 1M --delay 10 \
			"$MNT/d" >"$TESTDIR/out" 2>"$TESTDIR/err" 3>&- &
		pid=$!
		sleep "$pause"
		kill -KILL "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" || rc=$?
		if [ "$rc" != 137 ]; then
			log "$fs round $round: the defrag ended (exit $rc) before the kill at $pause s; again"
			[ "$rc" = 0 ] || _fail "$fs: defrag exit $rc: $(cat "$TESTDIR/err")"
			continue
		fi
		killed=$((killed + 1))
		e1=$(extents "$MNT/d/f")
		[ "$e1" -lt "$e0" ] && moved_any=$((moved_any + 1))
		log "$fs round $round: killed after $pause s: extents $e0 -> $e1"
		check_manifest "$TESTDIR/before"
		ls -A "$MNT" "$MNT/d" | diff -u "$TESTDIR/names" - >&3 ||
			_fail "$fs round $round: names appeared or went"
		check_inodes "$i0" "$fs round $round: inodes in use"
		u1=$(used_bytes)
		log "$fs round $round: used $u0 before, $u1 after the kill"
		# XFS frees each block a chunk no longer uses at once; btrfs
		# keeps an old extent until its last piece moved (below).
		[ "$fs" = btrfs ] ||
			check_le "$u1" $((u0 + CHUNK + MiB)) "$fs round $round: used bytes after the kill"
		check_fsck
		check_manifest "$TESTDIR/before"	# read from disk
		check_inodes "$i0" "$fs round $round: inodes in use after the remount"

		# Finish the job: everything the killed run left is usable.
		defrag --chunk-size 1M "$MNT/d"
		check_manifest "$TESTDIR/before"
		check_le "$(extents "$MNT/d/f")" 32 "$fs round $round: extents after a full run (from thousands)"
		u2=$(used_bytes)
		check_le "$u2" $((u0 + CHUNK + MiB)) "$fs round $round: used bytes after a full run"
	done
	check_ge "$moved_any" 1 "$fs: kills that came after some chunks had moved"
	teardown_fs
done
