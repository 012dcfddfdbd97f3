#!/bin/bash
# Forged crc32c collisions on btrfs: blocks that differ but have the same
# data checksum are never shared. A one-block file's match is read back and
# refuted before any dedupe; an 8-block run of colliding blocks goes to the
# kernel, whose compare says "differs". A real duplicate beside them is
# deduped, and so is one whose 4th block's key a decoy took first (a block
# with its crc32c, indexed before it): the gap between its runs reads the
# same and is bridged. Every file keeps its sha256.
. "$(dirname "$0")/lib.sh"
setup
forge() { python3 "$IT_DIR/crc32c-forge.py" "$@" || _fail "crc32c-forge failed"; }
rand_bytes "$TESTDIR/x1" 4096
rand_bytes "$TESTDIR/x8" $((8 * 4096))
forge "$TESTDIR/x1" "$TESTDIR/y1"
forge "$TESTDIR/x8" "$TESTDIR/y8"
rand_file "$TESTDIR/g" 64	# KiB
rand_bytes "$TESTDIR/h" $((8 * 4096))
dd if="$TESTDIR/h" of="$TESTDIR/h3" bs=4096 skip=3 count=1 status=none
forge "$TESTDIR/h3" "$TESTDIR/decoy"

MKFS_BTRFS_OPTS="--csum crc32c" setup_fs btrfs
mkdir "$MNT/1" "$MNT/2"	# walked in that order: the decoy indexed first
copy_plain "$TESTDIR/decoy" "$MNT/1/decoy"
for f in x1 y1 x8 y8 g h; do copy_plain "$TESTDIR/$f" "$MNT/2/$f"; done
copy_plain "$TESTDIR/g" "$MNT/2/g-copy"
copy_plain "$TESTDIR/h" "$MNT/2/h-copy"
sync
manifest >"$TESTDIR/before"
scan "$MNT"
check_manifest "$TESTDIR/before"
check_report_keys
check_ge "$(json_get bytes_csums_read)" 1 "bytes_csums_read"
check_ge "$(json_get hints_refuted)" 1 "hints_refuted (the one-block pair)"
check_ge "$(json_get differs)" 1 "differs (the 8-block run, by the kernel)"
check_eq "$(json_get bytes_deduped)" $((96 * KiB)) "bytes_deduped (g and h)"
for f in 2/x1 2/y1 2/x8 2/y8 1/decoy; do
	check_eq "$(shared_bytes "$MNT/$f")" 0 "$f not shared"
done
check_eq "$(shared_bytes "$MNT/2/g-copy")" $((64 * KiB)) "g-copy shared"
check_eq "$(shared_bytes "$MNT/2/h-copy")" $((32 * KiB)) "h-copy shared, its 4th block too"
cmp -s "$MNT/2/y8" "$TESTDIR/y8" || _fail "y8 changed"
teardown_fs
