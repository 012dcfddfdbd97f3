#!/bin/bash
# Reflinked copies are not hashed twice: the scan hashes each physical block
# once, so two full reflinks and one half reflink of a 16 MiB file cost the
# 16 MiB plus the half copy's own 4 MiB, and nothing is deduped again.
. "$(dirname "$0")/lib.sh"
setup
require_cmd xfs_io
rand_file "$TESTDIR/a" 16384
rand_file "$TESTDIR/tail" 4096

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	copy_plain "$TESTDIR/a" "$MNT/a"
	cp --reflink=always "$MNT/a" "$MNT/b"
	mkdir "$MNT/sub"
	cp --reflink=always "$MNT/a" "$MNT/sub/c"
	xfs_io -f -c "reflink $MNT/a 0 0 8m" "$MNT/d" >/dev/null
	dd if="$TESTDIR/tail" of="$MNT/d" bs=1M seek=8 conv=notrunc status=none
	check_eq "$(shared_bytes "$MNT/d")" $((8 * MiB)) "$fs: d shares its first half"
	manifest >"$TESTDIR/before"
	u0=$(used_bytes)

	scan "$MNT"
	check_manifest "$TESTDIR/before"
	check_eq "$(json_get files_scanned)" 4 "$fs: files_scanned"
	check_eq "$(json_get bytes_hashed)" $((20 * MiB)) "$fs: bytes_hashed (each physical block once)"
	check_eq "$(json_get bytes_deduped)" 0 "$fs: bytes_deduped (already shared)"
	u1=$(used_bytes)
	check_between $((u1 - u0)) $((-256 * KiB)) $((256 * KiB)) "$fs: used bytes change"
	teardown_fs
done
