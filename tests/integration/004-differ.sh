#!/bin/bash
# Near misses: a file differing from another in one byte of every 4 KiB block
# shares nothing; a file differing in a single byte shares all but that block,
# and the space is freed.
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/a" 8192
cp "$TESTDIR/a" "$TESTDIR/b"
flip_every_block "$TESTDIR/b"
rand_file "$TESTDIR/c" 8192
cp "$TESTDIR/c" "$TESTDIR/c1"
flip_byte "$TESTDIR/c1" $((3 * MiB + 17))

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	mkdir "$MNT/every" "$MNT/one"
	copy_plain "$TESTDIR/a" "$MNT/every/a"
	copy_plain "$TESTDIR/b" "$MNT/every/b"
	copy_plain "$TESTDIR/c" "$MNT/one/c"
	copy_plain "$TESTDIR/c1" "$MNT/one/c1"
	manifest >"$TESTDIR/before"

	u0=$(used_bytes)
	scan "$MNT/every"
	check_manifest "$TESTDIR/before"
	check_eq "$(json_get bytes_hashed)" $((16 * MiB)) "$fs: bytes_hashed"
	check_eq "$(json_get bytes_duplicate)" 0 "$fs: bytes_duplicate (one byte differs per block)"
	check_eq "$(json_get bytes_deduped)" 0 "$fs: bytes_deduped (one byte differs per block)"
	u1=$(used_bytes)
	check_between $((u1 - u0)) $((-256 * KiB)) $((256 * KiB)) "$fs: used bytes change"
	check_eq "$(shared_bytes "$MNT/every/a" "$MNT/every/b")" 0 "$fs: shared bytes"

	u0=$(used_bytes)
	scan "$MNT/one"
	check_manifest "$TESTDIR/before"
	check_between "$(json_get bytes_deduped)" $((8 * MiB - 64 * KiB)) $((8 * MiB - 4 * KiB)) \
		"$fs: bytes_deduped (one byte differs)"
	check_between "$(json_get differs)" 0 4 "$fs: differs"
	u1=$(used_bytes)
	check_ge $((u0 - u1)) $((8 * MiB * 8 / 10)) "$fs: used bytes freed (df)"
	# FIEMAP flags whole extents: the file whose extent was kept shows all
	# of it shared, the other all but the differing block (on XFS both).
	check_between "$(shared_bytes "$MNT/one/c" "$MNT/one/c1")" \
		$((16 * MiB - 128 * KiB)) $((16 * MiB - 4 * KiB)) \
		"$fs: shared bytes of the two files differing in one byte"
	teardown_fs
done
