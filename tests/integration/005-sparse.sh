#!/bin/bash
# Sparse files: two more copies of a 64 MiB file with four data islands (one
# ends at EOF). The data is deduped, the holes stay holes: the data segments
# (SEEK_DATA/SEEK_HOLE) and the allocation must not grow, and holes are
# neither hashed nor "deduped" as zeros.
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/src" 65536
islands="0:1024 10240:2048 40964:512 65000:536"
data=$(((1024 + 2048 + 512 + 536) * KiB))

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	sparse_file "$MNT/s1" 65536 "$TESTDIR/src" $islands
	sparse_file "$MNT/s2" 65536 "$TESTDIR/src" $islands
	copy_plain "$MNT/s1" "$MNT/s3"
	sync
	for f in s1 s2 s3; do
		data_segments "$MNT/$f" >"$TESTDIR/$f.seg.before"
		alloc_bytes "$MNT/$f" >"$TESTDIR/$f.alloc.before"
	done
	check_eq "$(wc -l <"$TESTDIR/s1.seg.before")" 4 "$fs: data islands of s1"
	diff "$TESTDIR/s1.seg.before" "$TESTDIR/s3.seg.before" >/dev/null ||
		_fail "$fs: the copy is not as sparse as the original"
	manifest >"$TESTDIR/before"
	u0=$(used_bytes)

	scan "$MNT"
	check_manifest "$TESTDIR/before"
	for f in s1 s2 s3; do
		data_segments "$MNT/$f" >"$TESTDIR/$f.seg.after"
		diff -u "$TESTDIR/$f.seg.before" "$TESTDIR/$f.seg.after" ||
			_fail "$fs: holes of $f changed"
		check_le "$(alloc_bytes "$MNT/$f")" "$(cat "$TESTDIR/$f.alloc.before")" \
			"$fs: allocated bytes of $f"
	done
	check_le "$(json_get bytes_hashed)" $((3 * data)) "$fs: bytes_hashed (holes are not data)"
	check_between "$(json_get bytes_deduped)" $((2 * data * 9 / 10)) $((2 * data)) \
		"$fs: bytes_deduped (data only, never holes)"
	u1=$(used_bytes)
	check_ge $((u0 - u1)) $((2 * data * 8 / 10)) "$fs: used bytes freed (df)"
	check_ge "$(shared_bytes "$MNT/s2")" $((data * 9 / 10)) "$fs: shared bytes of s2"
	teardown_fs
done
