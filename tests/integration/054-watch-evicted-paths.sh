#!/bin/bash
# The daemon with --include (as for a container store) takes up files whose
# dentries the kernel dropped between the write and the take-up (memory
# pressure, a reboot; here drop_caches): a file opened by its handle then
# has no path ("/"), and its path is found again from where the event saw
# it (its directory's handle and its name), or in the start-up catch-up on
# btrfs from its inode ref (XFS walks paths). Every file keeps its contents.
. "$(dirname "$0")/lib.sh"
setup
KIB=512
for n in 1 2; do
	rand_file "$TESTDIR/f$n" $KIB
done

# same_blocks N WHAT: inc/a/fN and inc/b/fN share every block.
same_blocks() {
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/inc/a/f$1" 0 \
		"$MNT/inc/b/f$1" 0 $((KIB * KiB)))" $((KIB / 4)) "$2"
}

# evict: write back, then drop every clean dentry and inode.
evict() {
	sync
	echo 2 >/proc/sys/vm/drop_caches
	log "dentries and inodes dropped"
}

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	mkdir -p "$MNT/inc/a" "$MNT/inc/b" "$MNT/other"
	watch_start --include "$MNT/inc/*" "$MNT"
	watch_wait_idle 30

	# Written while the daemon is stopped, evicted before it reads the
	# events.
	kill -STOP "$WATCH_PID"
	copy_plain "$TESTDIR/f1" "$MNT/inc/a/f1"
	copy_plain "$TESTDIR/f1" "$MNT/inc/b/f1"
	copy_plain "$TESTDIR/f1" "$MNT/other/f1"	# not included
	evict
	kill -CONT "$WATCH_PID"
	watch_wait_idle 60
	same_blocks 1 "$fs: events: blocks of f1 shared after eviction"
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/inc/a/f1" 0 \
		"$MNT/other/f1" 0 $((KIB * KiB)))" 0 "$fs: events: blocks shared with a file not included"
	watch_stop

	# Written while no daemon runs, evicted before it starts: its
	# catch-up finds them.
	copy_plain "$TESTDIR/f2" "$MNT/inc/a/f2"
	copy_plain "$TESTDIR/f2" "$MNT/inc/b/f2"
	copy_plain "$TESTDIR/f2" "$MNT/other/f2"
	evict
	watch_start --include "$MNT/inc/*" "$MNT"
	watch_wait_idle 60
	same_blocks 2 "$fs: catch-up: blocks of f2 shared after eviction"
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/inc/a/f2" 0 \
		"$MNT/other/f2" 0 $((KIB * KiB)))" 0 "$fs: catch-up: blocks shared with a file not included"
	watch_stop

	for n in 1 2; do
		check_same "$TESTDIR/f$n" "$MNT/inc/a/f$n" "$MNT/inc/b/f$n" \
			"$MNT/other/f$n"
	done
	log "$fs: every file keeps its contents"
	rm -rf "$WATCH_STATE"
	teardown_fs
done
