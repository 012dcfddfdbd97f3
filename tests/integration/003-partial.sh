#!/bin/bash
# Partly identical files: only the shared 4 MiB ranges are deduped, at the
# same or at different file offsets, and the space is really freed (on btrfs
# the unique remainder of a partly shared extent must be relocated for that).
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/a" 8192
for r in r1 r2 r3; do rand_file "$TESTDIR/$r" 4096; done
# b: a's first 4 MiB + 4 MiB unique (same offsets)
splice_file "$TESTDIR/b" "$TESTDIR/a:0:4096" "$TESTDIR/r1:0:4096"
# d: 1 MiB unique + a's second 4 MiB + 1 MiB unique (shifted by 3 MiB)
splice_file "$TESTDIR/d" "$TESTDIR/r2:0:1024" "$TESTDIR/a:4096:4096" "$TESTDIR/r3:0:1024"
dup=$((8 * MiB))

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	for f in a b d; do copy_plain "$TESTDIR/$f" "$MNT/$f"; done
	manifest >"$TESTDIR/before"
	u0=$(used_bytes)

	scan "$MNT"
	check_manifest "$TESTDIR/before"
	check_between "$(json_get bytes_duplicate)" $((dup - 256 * KiB)) "$dup" "$fs: bytes_duplicate"
	check_between "$(json_get bytes_deduped)" $((dup - 256 * KiB)) "$dup" "$fs: bytes_deduped"
	u1=$(used_bytes)
	log "$fs: freed $((u0 - u1)), relocated $(json_get bytes_relocated)"
	check_ge $((u0 - u1)) $((dup * 8 / 10)) "$fs: used bytes freed (df)"
	if [ "$fs" = btrfs ]; then
		# b's and d's unique parts at most (0 if a's extent is the one
		# that goes)
		check_le "$(json_get bytes_relocated)" $((6 * MiB)) "btrfs: bytes_relocated"
	else
		check_eq "$(json_get bytes_relocated)" 0 "xfs: bytes_relocated (XFS frees per block)"
	fi
	# a's 8 MiB and the 4 MiB each of b and d share (FIEMAP flags whole
	# extents, so a kept extent of b or d may show more)
	check_between "$(shared_bytes "$MNT/a" "$MNT/b" "$MNT/d")" $((16 * MiB - 256 * KiB)) \
		$((22 * MiB)) "$fs: shared bytes of a, b and d"
	teardown_fs
done
