#!/bin/bash
# Forged crc32c collisions on btrfs: blocks that differ but have the same
# data checksum are never shared. A one-block file's match is read back and
# refuted before any dedupe; an 8-block run of colliding blocks goes to the
# kernel, whose compare says "differs". A real duplicate beside them is
# deduped. Every file keeps its sha256.
. "$(dirname "$0")/lib.sh"
setup
forge() { python3 "$IT_DIR/crc32c-forge.py" "$@" || _fail "crc32c-forge failed"; }
rand_bytes "$TESTDIR/x1" 4096
rand_bytes "$TESTDIR/x8" $((8 * 4096))
forge "$TESTDIR/x1" "$TESTDIR/y1"
forge "$TESTDIR/x8" "$TESTDIR/y8"
rand_file "$TESTDIR/g" 64	# KiB

MKFS_BTRFS_OPTS="--csum crc32c" setup_fs btrfs
for f in x1 y1 x8 y8 g; do copy_plain "$TESTDIR/$f" "$MNT/$f"; done
copy_plain "$TESTDIR/g" "$MNT/g-copy"
sync
manifest >"$TESTDIR/before"
scan "$MNT"
check_manifest "$TESTDIR/before"
check_report_keys
check_ge "$(json_get bytes_csums_read)" 1 "bytes_csums_read"
check_ge "$(json_get hints_refuted)" 1 "hints_refuted (the one-block pair)"
check_ge "$(json_get differs)" 1 "differs (the 8-block run, by the kernel)"
check_eq "$(json_get bytes_deduped)" $((64 * KiB)) "bytes_deduped (g only)"
for f in x1 y1 x8 y8; do
	check_eq "$(shared_bytes "$MNT/$f")" 0 "$f not shared"
done
check_eq "$(shared_bytes "$MNT/g-copy")" $((64 * KiB)) "g-copy shared"
cmp -s "$MNT/y8" "$TESTDIR/y8" || _fail "y8 changed"
teardown_fs
