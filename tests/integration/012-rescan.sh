#!/bin/bash
# A second scan of an unchanged tree hashes nothing (per-file cookies survive
# our own dedupes); after changes only the new data is hashed.
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/extra" 1024

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	big_tree "$MNT" 10 1024		# 20 files, 10 of them duplicates
	manifest >"$TESTDIR/before"
	scan "$MNT"
	check_eq "$(json_get files_scanned)" 20 "$fs: files_scanned"
	check_ge "$(json_get bytes_deduped)" $((10 * MiB)) "$fs: bytes_deduped"

	scan "$MNT"
	check_eq "$(json_get bytes_hashed)" 0 "$fs: bytes_hashed of an unchanged tree"
	check_eq "$(json_get files_unchanged)" 20 "$fs: files_unchanged"
	check_eq "$(json_get bytes_deduped)" 0 "$fs: bytes_deduped of an unchanged tree"
	check_eq "$(json_get dedupe_calls)" 0 "$fs: dedupe_calls of an unchanged tree"
	check_manifest "$TESTDIR/before"

	# Append 1 MiB to one file, overwrite 4 KiB of another, add a duplicate.
	dd if="$TESTDIR/extra" of="$MNT/d1/f03" bs=1M seek=1 conv=notrunc status=none
	dd if="$TESTDIR/extra" of="$MNT/d2/f05" bs=4K count=1 seek=7 conv=notrunc status=none
	copy_plain "$MNT/d1/f07" "$MNT/d1/f07.again"
	manifest >"$TESTDIR/before"
	scan "$MNT"
	check_between "$(json_get bytes_hashed)" $((2 * MiB + 4 * KiB)) $((4 * MiB)) \
		"$fs: bytes_hashed after changing 3 files"
	check_eq "$(json_get files_unchanged)" 18 "$fs: files_unchanged after changing 2 files"
	check_ge "$(json_get bytes_deduped)" "$MiB" "$fs: bytes_deduped of the new duplicate"
	check_manifest "$TESTDIR/before"
	scan "$MNT"
	check_eq "$(json_get bytes_hashed)" 0 "$fs: bytes_hashed of an unchanged tree, again"
	teardown_fs
done
