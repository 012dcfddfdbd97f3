#!/bin/bash
# btrfs with each csum type (crc32c, xxhash, sha256, blake2): blocks with a
# csum are keyed by it and not read; nodatasum and compressed files are read;
# zero blocks are known by their csum and never deduped (a wrong zero csum
# would count the second zero file as duplicate); --read-all reads it all
# and finds the same duplicates; an index keyed one way starts afresh when
# used the other way. Every file keeps its sha256.
. "$(dirname "$0")/lib.sh"
setup
require_cmd chattr
rand_file "$TESTDIR/big" 2048	# KiB
rand_bytes "$TESTDIR/small" 5000
rand_file "$TESTDIR/nosum" 512
python3 -c 'import os, sys; sys.stdout.write(os.urandom(262145).hex())' \
	>"$TESTDIR/text"	# 524290 bytes, half as many when compressed
dup=$((2 * MiB + 5000 + 512 * KiB + 524290))

fill() { # the tree on $MNT
	mkdir "$MNT/nosum" "$MNT/zstd"
	chattr +C "$MNT/nosum"	# nodatacow: no csums
	btrfs property set "$MNT/zstd" compression zstd
	copy_plain "$TESTDIR/big" "$MNT/big1"
	copy_plain "$TESTDIR/big" "$MNT/big2"
	copy_plain "$TESTDIR/small" "$MNT/small1"
	copy_plain "$TESTDIR/small" "$MNT/small2"
	copy_plain "$TESTDIR/nosum" "$MNT/nosum/n1"
	copy_plain "$TESTDIR/nosum" "$MNT/nosum/n2"
	copy_plain "$TESTDIR/text" "$MNT/zstd/c1"
	copy_plain "$TESTDIR/text" "$MNT/zstd/c2"
	# zero blocks between unique data (a whole file of zeros would match
	# another by its whole-file digest)
	for z in zero1 zero2; do
		{ head -c $((64 * KiB)) /dev/urandom; head -c $((512 * KiB)) /dev/zero
		  head -c $((64 * KiB)) /dev/urandom; } >"$MNT/$z"
	done
	sync
}

for csum in crc32c xxhash sha256 blake2; do
	MKFS_BTRFS_OPTS="--csum $csum" setup_fs btrfs
	fill
	manifest >"$TESTDIR/before"
	scan "$MNT"
	check_manifest "$TESTDIR/before"
	check_report_keys
	check_between "$(json_get bytes_duplicate)" "$dup" $((dup + 8 * KiB)) \
		"$csum: bytes_duplicate (zero blocks left out)"
	# read: the nodatasum and compressed copies, and for crc32c the small
	# files' one-block run (both sides) confirmed by a read
	read=$((2 * MiB))
	check_between "$(json_get bytes_read)" "$read" $((read + 24 * KiB)) \
		"$csum: bytes_read"
	check_between "$(json_get bytes_csums_read)" 1 $((256 * KiB)) \
		"$csum: bytes_csums_read"
	check_eq "$(json_get differs)" 0 "$csum: differs"
	check_eq "$(json_get hints_refuted)" 0 "$csum: hints_refuted"
	check_eq "$(shared_bytes "$MNT/big2")" $((2 * MiB)) "$csum: big2 shared"
	check_ge "$(shared_bytes "$MNT/nosum/n2")" $((512 * KiB)) "$csum: n2 shared"
	check_ge "$(shared_bytes "$MNT/zstd/c2")" 1 "$csum: c2 shared"
	check_eq "$(shared_bytes "$MNT/zero2")" 0 "$csum: zero2 not shared"
	# a second pass after 64 KiB of big1 were rewritten: only those
	# blocks' csums are looked for, in tree blocks written since
	dd if=/dev/urandom of="$MNT/big1" bs=64K seek=3 count=1 conv=notrunc \
		status=none
	sync
	manifest >"$TESTDIR/before"
	scan "$MNT"
	check_manifest "$TESTDIR/before"
	check_eq "$(json_get files_scanned)" 1 "$csum: second pass, files_scanned"
	check_eq "$(json_get bytes_hashed)" $((64 * KiB)) "$csum: second pass, bytes_hashed"
	check_eq "$(json_get bytes_read)" 0 "$csum: second pass, bytes_read"
	check_between "$(json_get bytes_csums_read)" 1 $((16 * KiB)) \
		"$csum: second pass, bytes_csums_read"
	teardown_fs
done

# --read-all: the same duplicates, every byte read
MKFS_BTRFS_OPTS="--csum crc32c" setup_fs btrfs
fill
manifest >"$TESTDIR/before"
scan --read-all "$MNT"
check_manifest "$TESTDIR/before"
check_between "$(json_get bytes_duplicate)" "$dup" $((dup + 8 * KiB)) \
	"read-all: bytes_duplicate"
check_ge "$(json_get bytes_read)" $((2 * (2 * MiB + 5000 + 512 * KiB + 524290))) \
	"read-all: bytes_read"
check_eq "$(json_get bytes_csums_read)" 0 "read-all: bytes_csums_read"
check_eq "$(shared_bytes "$MNT/big2")" $((2 * MiB)) "read-all: big2 shared"
# the same index, keyed by reading: csum keys would never match its keys,
# so it starts afresh and every file is taken up again
scan "$MNT"
check_str "$(json_get index_result)" rekeyed "index keyed by reading, then by csums"
check_eq "$(json_get files_unchanged)" 0 "rekeyed: files_unchanged"
scan "$MNT"
check_str "$(json_get index_result)" opened "the same keys again"
check_manifest "$TESTDIR/before"
teardown_fs
