#!/bin/bash
# The index on a btrfs that fills up. The index is created NOCOW, so that
# checkpoints rewrite it in place: after two passes it is still in a few
# extents. Then a read-only snapshot of its subvolume shares its blocks (as
# snapper's snapshots of /var/lib do) and the filesystem is filled: the next
# write to a shared page of the mapping has no room and raises SIGBUS. A
# scan reports it in one line, finishes its dedupes and exits 1, its index
# emptied for the next pass to rebuild; the daemon keeps running with the
# index in memory, still dedupes, and once there is room again makes the
# index afresh and catches up. The deduped files keep their sha256.
. "$(dirname "$0")/lib.sh"
setup
require_cmd lsattr btrfs

setup_fs btrfs 1G
D=$MNT
setup_fs btrfs 300M
S=$MNT
run_check btrfs -q subvolume create "$S/state"

# D: 8 files and a copy of each
mkdir "$D/a"
for i in 1 2 3 4 5 6 7 8; do
	rand_file "$D/a/f$i" 4096
	copy_plain "$D/a/f$i" "$D/a/g$i"
done

# --- NOCOW, and in place after two passes ----------------------------------
DB=$S/state/index
scan "$D"
check_ge "$(json_get bytes_deduped)" $((8 * 4 * 1024 * 1024)) "bytes deduped by the first pass"
lsattr "$DB" | grep -q '^[^ ]*C' || _fail "the index is not NOCOW: $(lsattr "$DB")"
for i in 1 2 3 4; do
	rand_file "$D/a/n$i" 1024
done
scan "$D"
# as filefrag counts them: physically contiguous pieces are one (writes
# into fallocated space split the items, not the blocks)
ext=$(python3 "$IT_DIR/fiemap.py" extents "$DB" | awk '
	{ if (NR == 1 || $1 != nl || $2 != np) n++; nl = $1 + $3; np = $2 + $3 }
	END { print n + 0 }')
check_le "$ext" 16 "extents of the index after two passes"

# a second data filesystem, for scans the daemon does not see
setup_fs btrfs 512M
D2=$MNT
mkdir "$D2/a" "$D2/c"
for i in 1 2; do
	rand_file "$D2/a/f$i" 4096
	copy_plain "$D2/a/f$i" "$D2/a/g$i"
done
DB=$S/state/index2
scan "$D2"

# --- the daemon, its index on the same filesystem ---------------------------
WATCH_STATE=$S/state/w
WATCH_OPTS="--checkpoint 1"
watch_start "$D"
watch_wait_idle
widx=$(find "$WATCH_STATE" -name index)
[ -f "$widx" ] || _fail "no index of the daemon under $WATCH_STATE"
lsattr "$widx" | grep -q '^[^ ]*C' || _fail "the daemon's index is not NOCOW"

# --- shared with a snapshot, and no room left ------------------------------
run_check btrfs -q subvolume snapshot -r "$S/state" "$S/snap"
dd if=/dev/urandom of="$S/fill" bs=1M status=none 2>/dev/null || true
sync
log "state filesystem: $(df -h --output=used,avail "$S" | tail -n 1)"

mkdir "$D/b"
for i in 1 2 3 4 5 6; do
	rand_file "$D/b/f$i" 4096
	copy_plain "$D/b/f$i" "$D/b/g$i"
done
watch_wait_idle 120
n=$(grep -c "index '$widx' lost" "$WATCH_LOG" || true)
check_eq "$n" 1 "lines saying the daemon's index was lost"
check_eq "$(dup_left "$D")" 0 "duplicate bytes the daemon left (index lost, kept in memory)"

# the scan, its index shared with the snapshot too: one line, exit 1
for i in 1 2 3 4; do
	rand_file "$D2/c/f$i" 4096
	copy_plain "$D2/c/f$i" "$D2/c/g$i"
done
manifest "$D2" >"$TESTDIR/before2"
DB=$S/state/index2
SCAN_RC=1 scan "$D2"
check_json_object "scan --json after the index was lost"
check_one_line_error "$REPORT.err"
grep -q "index '$DB' lost" "$REPORT.err" || _fail "no line saying the scan's index was lost"
check_ge "$(json_get bytes_deduped)" $((4 * 4 * 1024 * 1024)) "bytes deduped by the scan whose index was lost"
check_eq "$(stat -c %s "$DB")" 0 "size of the scan's lost index (emptied for a rebuild)"
check_manifest "$TESTDIR/before2" "$D2"

# --- room again: the daemon makes its index afresh and catches up ----------
run_check rm -f "$S/fill"
run_check btrfs -q subvolume delete "$S/snap"
run_check btrfs -q filesystem sync "$S"
for ((i = 0; i < 100; i++)); do
	grep -q "index '$widx' made afresh" "$WATCH_LOG" && break
	sleep 0.2
done
grep -q "index '$widx' made afresh" "$WATCH_LOG" ||
	_fail "the daemon did not make its index afresh once there was room"
watch_wait_idle 120
[ -s "$widx" ] || _fail "the daemon's new index is empty"
lsattr "$widx" | grep -q '^[^ ]*C' || _fail "the daemon's new index is not NOCOW"
mkdir "$D/e"
for i in 1 2 3 4; do
	rand_file "$D/e/f$i" 4096
	copy_plain "$D/e/f$i" "$D/e/g$i"
done
watch_wait_idle 120
check_eq "$(dup_left "$D")" 0 "duplicate bytes the daemon left once there was room"
manifest "$D" >"$TESTDIR/before"
watch_stop
check_manifest "$TESTDIR/before" "$D"
scan "$D2"
check_str "$(json_get index_result)" rebuilt "index_result of the scan's emptied index"
check_manifest "$TESTDIR/before2" "$D2"
