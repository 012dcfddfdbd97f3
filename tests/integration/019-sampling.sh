#!/bin/bash
# An index too small for the data: content-defined sampling keeps a quarter
# or fewer of the blocks, runs found from the kept ones are grown both ways
# by reading the source back, and every duplicate is still found and freed
# (on btrfs too, where a run onto data that then moves must follow it).
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/A" 98304		# 96 MiB: far over a 256 KiB index
rand_file "$TESTDIR/r1" 32768
rand_file "$TESTDIR/r2" 1024
splice_file "$TESTDIR/C" "$TESTDIR/A:0:32768" "$TESTDIR/r1:0:32768"
splice_file "$TESTDIR/D" "$TESTDIR/r2:0:1024" "$TESTDIR/A:0:61440"
dup=$(((96 + 32 + 60) * MiB))

for fs in $DEDUPE_FS; do
	setup_fs "$fs" 1G
	for f in A C D; do copy_plain "$TESTDIR/$f" "$MNT/$f"; done
	copy_plain "$TESTDIR/A" "$MNT/B"
	manifest >"$TESTDIR/before"
	u0=$(used_bytes)

	scan --db-size 256K "$MNT"
	check_manifest "$TESTDIR/before"
	check_ge "$(json_get index_sample_bits)" 1 "$fs: the index samples"
	check_le "$(json_get index_cells)" 16384 "$fs: index cells"
	check_between "$(json_get bytes_duplicate)" $((dup * 95 / 100)) "$dup" \
		"$fs: bytes_duplicate under sampling"
	u1=$(used_bytes)
	check_ge $((u0 - u1)) $((dup * 9 / 10)) "$fs: used bytes freed (df)"
	# grown runs are whole ranges, not one dedupe per kept block
	check_le "$(json_get dedupe_calls)" 100 "$fs: dedupe_calls"
	teardown_fs
done
