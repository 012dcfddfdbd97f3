#!/bin/bash
# btrfs with compression: compressed extents (128 KiB) are deduped whole or
# not at all, never split (a split would keep the whole extent pinned for
# part of its data); whole compressed files are shared and freed.
. "$(dirname "$0")/lib.sh"
setup
require_cmd base64
# compressible data: base64 text packs to about 3/4
rand_file "$TESTDIR/raw-a" 6144		# 6 MiB encode to exactly 8 MiB
rand_file "$TESTDIR/raw-o" 3072
base64 -w 0 "$TESTDIR/raw-a" >"$TESTDIR/a"
base64 -w 0 "$TESTDIR/raw-o" >"$TESTDIR/other"
# c: a's first 4 MiB + 64 KiB, then other data: its 33rd compressed extent
# holds 64 KiB that match a and 64 KiB that do not
splice_file "$TESTDIR/c" "$TESTDIR/a:0:4160" "$TESTDIR/other:0:4032"

MOUNT_OPTS=compress-force=zstd
setup_fs btrfs
copy_plain "$TESTDIR/a" "$MNT/a"
copy_plain "$TESTDIR/a" "$MNT/b"
copy_plain "$TESTDIR/c" "$MNT/c"
sync
encoded=$(python3 "$IT_DIR/fiemap.py" extents "$MNT/a" |
	python3 -c 'import sys; print(sum(int(l.split()[3], 16) & 8 != 0 for l in sys.stdin))')
[ "$encoded" -ge 32 ] ||
	_fail "a's extents are not compressed: the test would prove nothing"
manifest >"$TESTDIR/before"
u0=$(used_bytes)

scan "$MNT"
check_manifest "$TESTDIR/before"
# b whole (8 MiB) and c's first 32 extents (4 MiB); not the 64 KiB that
# would split c's 33rd extent
check_eq "$(json_get bytes_duplicate)" $((12 * MiB)) "bytes_duplicate (no split extent)"
check_eq "$(json_get bytes_deduped)" $((12 * MiB)) "bytes_deduped"
check_eq "$(json_get bytes_relocated)" 0 "bytes_relocated (compressed extents are not split)"
u1=$(used_bytes)
# compressed, 12 MiB of duplicates take about 9 MiB on disk
check_ge $((u0 - u1)) $((6 * MiB)) "used bytes freed (df)"
