#!/bin/bash
# btrfs: defragmenting a file whose extents 10 read-only snapshots and 2
# reflink copies share does not double its space: every other reference to
# the old extents is deduped onto the new copy, so the snapshots' files and
# the reflinks end with exactly the original's new extents (same physical
# map), the old extents are freed, and used space grows by one chunk at
# most. Every file in every snapshot keeps its contents; the snapshots stay
# read-only. Defragmenting the whole filesystem, snapshots included, then
# has nothing left to do and fails nowhere.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/defrag-lib.sh"
setup
require_cmd filefrag
SNAPS=10

setup_fs btrfs
run_check btrfs -q subvolume create "$MNT/sv"
make_fragmented "$MNT/sv/f" 64 "${OVERWRITES:-1000}"
rand_file "$MNT/sv/other" 1024
for ((i = 1; i <= SNAPS; i++)); do
	run_check btrfs -q subvolume snapshot -r "$MNT/sv" "$MNT/snap$i"
done
cp --reflink=always "$MNT/sv/f" "$MNT/sv/f.ref1"
mkdir "$MNT/sv/d"
cp --reflink=always "$MNT/sv/f" "$MNT/sv/d/f.ref2"
# A writable snapshot whose file changed in 64 places since, and a clone of
# 8 MiB of the original starting 12 KiB past 8 MiB (inside an old item, and
# across the first chunk's end), into another file at offset 0.
run_check btrfs -q subvolume snapshot "$MNT/sv" "$MNT/wsnap"
python3 "$FRAG_PY" overwrite "$MNT/wsnap/f" 64 7
POFF=$((8 * MiB + 12288))
run_check xfs_io -f -c "reflink $MNT/sv/f $POFF 0 $((8 * MiB))" "$MNT/sv/part"
sync
e0=$(extents "$MNT/sv/f")
check_ge "$e0" 500 "extents of the original (precondition)"
check_eq "$(extents "$MNT/snap$SNAPS/f")" "$e0" "extents of a snapshot's copy (precondition)"
check_eq "$(shared_bytes "$MNT/sv/f")" $((64 * MiB)) "shared bytes of the original (precondition)"
manifest >"$TESTDIR/before"
u0=$(used_bytes)
log "used before: $u0"

defrag "$MNT/sv/f"
check_manifest "$TESTDIR/before"
e1=$(extents "$MNT/sv/f")
check_le "$e1" 4 "extents of the original after defrag (from $e0)"
check_eq "$(json_get files_defragged)" 1 "files_defragged"
check_eq "$(json_get bytes_moved)" $((64 * MiB)) "bytes_moved"
check_ge "$(json_get bytes_relinked)" $(((SNAPS + 2) * 64 * MiB)) \
	"bytes_relinked (every snapshot's and reflink's 64 MiB)"
check_ge "$(json_get refs_relinked)" $((SNAPS + 4)) "refs_relinked"
check_eq "$(json_get refs_busy)" 0 "refs_busy"
check_eq "$(json_get chunks_skipped)" 0 "chunks_skipped"
check_eq "$(json_get errors)" 0 "errors"

# Everyone shares the new extents.
phys_map "$MNT/sv/f" >"$TESTDIR/new.map"
for g in "$MNT"/snap*/f "$MNT/sv/f.ref1" "$MNT/sv/d/f.ref2"; do
	phys_map "$g" | diff -q "$TESTDIR/new.map" - >/dev/null ||
		_fail "$g does not map the original's new extents ($(extents "$g") extents)"
done
log "ok: the $SNAPS snapshots' files and both reflinks map the original's $e1 new extents"
for ((i = 1; i <= SNAPS; i++)); do
	check_str "$(btrfs property get -ts "$MNT/snap$i" ro)" ro=true "snap$i read-only"
done

# The changed snapshot shares the new extents wherever it still holds the
# original's data (64 overwrites change at most 64 of its 16384 blocks), and
# so does the partial clone, all of it.
same=$(python3 "$IT_DIR/fiemap.py" same "$MNT/wsnap/f" 0 "$MNT/sv/f" 0 $((64 * MiB)))
check_ge "$same" $((16384 - 64)) "blocks of the changed snapshot's file on the new extents"
same=$(python3 "$IT_DIR/fiemap.py" same "$MNT/sv/part" 0 "$MNT/sv/f" "$POFF" $((8 * MiB)))
check_eq "$same" 2048 "blocks of the partial clone on the new extents"

# Space: the old extents were freed. Allowed growth: one chunk (16 MiB) of
# data for the chunk in flight (on btrfs a half-moved old extent stays
# allocated until its last piece moves), plus 8 MiB of metadata: every
# snapshot's file extent items are rewritten, so its tree leaves stop being
# shared with sv's (about 1000 items x 53 bytes = 13 leaves of 16 KiB per
# tree, x 12 trees, x 2 for DUP metadata: 5 MiB).
u1=$(used_bytes)
log "used after: $u1 (before $u0, difference $((u1 - u0)))"
check_le "$u1" $((u0 + 16 * MiB + 8 * MiB)) "used bytes after defrag"
# ...and a plain defragment that breaks the sharing would have used 64 MiB
# more for the original alone: the check above tells them apart.

# The whole filesystem, read-only snapshots included: only the changed
# snapshot's file is left to do (its 64 blocks of its own cut it into about
# 129 extents). Its new copy is not relinked onto the others: their items
# hold data it does not have, and cutting them up would fragment them and
# free nothing. So no ping-pong: the original and its snapshots keep their
# new extents.
defrag "$MNT"
check_manifest "$TESTDIR/before"
check_eq "$(json_get files_fragmented)" 1 "whole filesystem: files_fragmented"
check_eq "$(json_get bytes_moved)" $((64 * MiB)) "whole filesystem: bytes_moved"
check_eq "$(json_get errors)" 0 "whole filesystem: errors"
check_le "$(extents "$MNT/wsnap/f")" 4 "extents of the changed snapshot's file"
check_eq "$(extents "$MNT/sv/f")" "$e1" "extents of the original, unchanged"
for g in "$MNT"/snap*/f "$MNT/sv/f.ref1" "$MNT/sv/d/f.ref2"; do
	phys_map "$g" | diff -q "$TESTDIR/new.map" - >/dev/null ||
		_fail "$g was moved off the original's new extents"
done
defrag "$MNT"
check_eq "$(json_get files_fragmented)" 0 "whole filesystem again: files_fragmented"
# sv: f, other, f.ref1, d/f.ref2, part; wsnap the same but part; snapN: f, other
check_eq "$(json_get files)" $((5 + 4 + SNAPS * 2)) "whole filesystem: files"
