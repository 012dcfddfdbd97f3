#!/bin/bash
# btrfs snapshots, read-write and read-only: the scan covers them without
# hashing shared extents again (cost follows new physical data), dedupes the
# duplicate in every subvolume so that its extent is freed, and leaves every
# snapshot's files and read-only flag as they were.
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/a" 8192
rand_file "$TESTDIR/u" 8192
rand_file "$TESTDIR/new" 1024

setup_fs btrfs
run_check btrfs -q subvolume create "$MNT/sv"
copy_plain "$TESTDIR/a" "$MNT/sv/a"
copy_plain "$TESTDIR/a" "$MNT/sv/a2"
copy_plain "$TESTDIR/u" "$MNT/sv/u"
sync
run_check btrfs -q subvolume snapshot "$MNT/sv" "$MNT/snap"
run_check btrfs -q subvolume snapshot -r "$MNT/sv" "$MNT/snap-ro"
# New data after the snapshots: 1 MiB overwritten in sv/u.
dd if="$TESTDIR/new" of="$MNT/sv/u" bs=1M seek=2 conv=notrunc status=none
manifest >"$TESTDIR/before"
u0=$(used_bytes)

scan "$MNT"
check_manifest "$TESTDIR/before"
check_str "$(btrfs property get -ts "$MNT/snap-ro" ro)" "ro=true" "snap-ro is still read-only"
check_str "$(btrfs property get -ts "$MNT/snap" ro)" "ro=false" "snap is still writable"
check_eq "$(json_get files_seen)" 9 "files_seen (3 files x 3 subvolumes)"
check_eq "$(json_get bytes_hashed)" $((25 * MiB)) \
	"bytes_hashed (a, a2, u once each + the 1 MiB rewritten)"
check_ge "$(json_get bytes_deduped)" $((8 * MiB)) "bytes_deduped"
u1=$(used_bytes)
check_ge $((u0 - u1)) $((8 * MiB * 8 / 10)) "used bytes freed (a2 relinked in all subvolumes)"

# A second pass costs nothing, snapshots included.
scan "$MNT"
check_eq "$(json_get bytes_hashed)" 0 "bytes_hashed of a second scan"
check_manifest "$TESTDIR/before"
