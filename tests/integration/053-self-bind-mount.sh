#!/bin/bash
# A directory bind-mounted onto itself, as containers/storage does with its
# overlay directory while a podman command runs (test 051 met it): the
# daemon's start-up catch-up (on XFS a walk of the mount) and `dedupd ctl
# dedupe` without a daemon still take up the files beneath it, opened where
# the walk finds them rather than by a path that crosses the bind mount, and
# leave the bind mount in place. With the mount there from start to end,
# this does not depend on when it comes and goes. Every file keeps its
# contents.
. "$(dirname "$0")/lib.sh"
setup
require_cmd mount umount
KIB=512
for n in 1 2 3 4; do
	rand_file "$TESTDIR/f$n" $KIB
done

# same_blocks N DIR_A DIR_B WHAT: fN in both directories share every block.
same_blocks() {
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$2/f$1" 0 "$3/f$1" 0 \
		$((KIB * KiB)))" $((KIB / 4)) "$4"
}

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	st=$MNT/store/overlay
	mkdir -p "$st/l1" "$st/l2" "$st/l3" "$st/l4"
	for n in 1 2; do
		copy_plain "$TESTDIR/f$n" "$st/l1/f$n"
		copy_plain "$TESTDIR/f$n" "$st/l2/f$n"
	done
	mount --bind "$st" "$st" || _fail "mount --bind $st $st failed"
	_mounts+=("$st")
	log "bind-mounted $st onto itself"

	# The files were there before the daemon: its catch-up finds them.
	watch_start "$MNT"
	watch_wait_idle 60
	for n in 1 2; do
		same_blocks $n "$st/l1" "$st/l2" "$fs: daemon catch-up: blocks of f$n shared beneath the bind mount"
	done
	watch_stop

	# No daemon: ctl dedupe does it here, on the daemon's index.
	for n in 3 4; do
		copy_plain "$TESTDIR/f$n" "$st/l3/f$n"
		copy_plain "$TESTDIR/f$n" "$st/l4/f$n"
	done
	run_report 0 "dedupd ctl dedupe" "$DEDUPD" ctl dedupe --json \
		--no-daemon --no-config --state-dir "$WATCH_STATE" "$MNT/store"
	check_eq "$(json_get bytes_deduped)" $((2 * KIB * KiB)) "$fs: ctl dedupe: bytes_deduped beneath the bind mount"
	for n in 3 4; do
		same_blocks $n "$st/l3" "$st/l4" "$fs: ctl dedupe: blocks of f$n shared"
	done

	mountpoint -q "$st" || _fail "$fs: the bind mount on $st is gone"
	umount "$st" || _fail "umount $st failed"
	unset '_mounts[-1]'
	for n in 1 2 3 4; do
		for l in l1 l2 l3 l4; do
			[ -e "$st/$l/f$n" ] || continue
			check_same "$TESTDIR/f$n" "$st/$l/f$n"
		done
	done
	log "$fs: every file keeps its contents"
	rm -rf "$WATCH_STATE"
	teardown_fs
done
