#!/bin/bash
# Only new data is hashed. On btrfs, a file overwritten in place hashes only
# the extents written since its last hashing: 1 MiB over a 32 MiB file costs
# 1 MiB, and an overwrite that copies a duplicate in is still deduped. On
# XFS (no trace of an overwrite in the extent map) the file is hashed again,
# but at most once per --reexamine: writes every 0.3 s for a few seconds do
# not hash it each time. Contents stay as written.
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/big" $((32 * 1024))
rand_file "$TESTDIR/patch" 1024
F=$((32 * MiB))

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	watch_start --reexamine 3 "$MNT"
	copy_plain "$TESTDIR/big" "$MNT/f"
	copy_plain "$TESTDIR/patch" "$MNT/p"	# a source for the overwrite
	watch_wait_idle
	h0=$(watch_status_get bytes_hashed)
	check_ge "$h0" $((F + MiB)) "$fs: bytes hashed for the new files"

	# Overwrite 1 MiB at 8 MiB with the patch's bytes: a duplicate of p.
	dd if="$TESTDIR/patch" of="$MNT/f" bs=1M seek=8 conv=notrunc \
		status=none
	manifest >"$TESTDIR/m1"
	sleep 3.5	# past --reexamine since the first take-up
	watch_wait_idle
	h1=$(watch_status_get bytes_hashed)
	if [ "$fs" = btrfs ]; then
		check_between $((h1 - h0)) $MiB $((MiB + 256 * KiB)) \
			"btrfs: bytes hashed for a 1 MiB overwrite"
	else
		check_between $((h1 - h0)) "$F" $((F + 256 * KiB)) \
			"xfs: bytes hashed for a 1 MiB overwrite (the whole file)"
	fi
	check_ge "$(shared_bytes "$MNT/p")" $MiB \
		"$fs: the overwritten range shares the patch's data"
	check_manifest "$TESTDIR/m1"

	# A writer every 0.3 s for 4 s, with settle 1 s and reexamine 3 s:
	# never quiet for 1 s, so never taken up while it writes.
	t0=$(watch_status_get files_taken)
	for i in $(seq 1 13); do
		dd if=/dev/urandom of="$MNT/f" bs=4K count=1 \
			seek=$((i * 100)) conv=notrunc status=none
		sleep 0.3
	done
	check_le $(($(watch_status_get files_taken) - t0)) 0 \
		"$fs: take-ups while the file kept changing"
	manifest >"$TESTDIR/m2"
	sleep 3.5
	watch_wait_idle
	t1=$(watch_status_get files_taken)
	check_between $((t1 - t0)) 1 1 "$fs: take-ups once it went quiet"
	check_manifest "$TESTDIR/m2"
	watch_stop
	teardown_fs
done
