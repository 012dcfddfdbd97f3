#!/bin/bash
# The daemon sends files it finds fragmented to its background defrag
# worker, which waits for --defrag-idle seconds without writes; the queue
# survives a restart. Contents never change; the file ends up in few
# extents.
. "$(dirname "$0")/lib.sh"
setup

# Two files written 4 KiB at a time, in turns, each block synced: their
# extents interleave on btrfs, XFS and ext4 alike.
fragment() {	# FILE OTHER MIB
	python3 - "$1" "$2" "$3" <<'PY'
import os, sys
a = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
b = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(int(sys.argv[3]) * 256):
    os.write(a, os.urandom(4096)); os.fdatasync(a)
    os.write(b, os.urandom(4096)); os.fdatasync(b)
os.close(a); os.close(b)
PY
}

extents() { filefrag "$1" | awk '{print $2}'; }

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	watch_start --defrag-idle 6 --defrag-threshold 2 "$MNT"
	fragment "$MNT/frag" "$MNT/other" 8
	manifest >"$TESTDIR/before"
	n0=$(extents "$MNT/frag")
	# (XFS's speculative preallocation keeps it to a few dozen)
	check_ge "$n0" 20 "$fs: extents of the fragmented file"
	# Queued once hashed (settle 1 s), defragged only after 6 quiet s.
	for ((i = 0; i < 50; i++)); do
		[ "$(watch_status_get defrag_queue)" -ge 1 ] && break
		sleep 0.1
	done
	check_ge "$(watch_status_get defrag_queue)" 1 "$fs: files queued for defrag"
	check_eq "$(watch_status_get files_defragged)" 0 \
		"$fs: files defragged before the filesystem was quiet"
	uuid=$(watch_status_get uuid)
	watch_stop
	qf=$WATCH_STATE/$uuid/index.defrag
	[ -s "$qf" ] || _fail "$fs: no saved defrag queue ($qf)"
	check_manifest "$TESTDIR/before"

	# The queue resumes after the restart.
	watch_start --defrag-idle 0 --defrag-threshold 2 "$MNT"
	for ((i = 0; i < 300; i++)); do
		[ "$(watch_status_get files_defragged)" -ge 2 ] && break
		sleep 0.1
	done
	check_ge "$(watch_status_get files_defragged)" 2 \
		"$fs: files defragged after the restart (both were queued)"
	watch_wait_idle
	check_le "$(extents "$MNT/frag")" 4 "$fs: extents after the defrag"
	check_eq "$(watch_status_get defrag_queue)" 0 "$fs: defrag queue at the end"
	check_manifest "$TESTDIR/before"
	watch_stop
	teardown_fs
done
