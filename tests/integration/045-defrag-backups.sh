#!/bin/bash
# btrfs: a VM image with a reflink backup taken before each of three rounds
# of random 4 KiB writes. `dedupd defrag --rewrite-backups IMAGE` leaves the
# image in a few extents and every backup sharing each block it holds in
# common with the image (on the new copy), while used space does not grow
# by more than one chunk: the old data that only the backups still hold is
# rewritten once, so the old extents are freed. Every file keeps its sha256.
. "$(dirname "$0")/lib.sh"
setup
setup_fs btrfs
size_mib=64
head -c $((size_mib * MiB)) /dev/urandom >"$MNT/image"
sync
for n in 1 2 3; do
	run_check cp --reflink=always "$MNT/image" "$MNT/backup-$n"
	python3 - "$MNT/image" "$n" "$size_mib" <<'PY'
import os, random, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
r = random.Random(int(sys.argv[2]))
for _ in range(1000):
    os.pwrite(fd, os.urandom(4096), r.randrange(int(sys.argv[3]) * 256) * 4096)
os.fsync(fd)
PY
done
sync
manifest >"$TESTDIR/before"
u0=$(used_bytes)
# blocks each backup holds in common with the image (by content)
common() {
	python3 - "$MNT/image" "$1" <<'PY'
import sys
a, b, eq = open(sys.argv[1], 'rb'), open(sys.argv[2], 'rb'), 0
while True:
    x, y = a.read(1 << 20), b.read(1 << 20)
    if not x:
        break
    eq += sum(x[i:i + 4096] == y[i:i + 4096] for i in range(0, len(x), 4096))
print(eq)
PY
}
run_report 0 "dedupd defrag" "$DEDUPD" defrag --json --no-progress \
	--rewrite-backups "$MNT/image"
check_manifest "$TESTDIR/before"
u1=$(used_bytes)
log "used $u0 -> $u1 ($(((u1 - u0) / 1024)) KiB), filled $(json_get bytes_filled)"
check_le "$u1" $((u0 + 16 * MiB)) "used bytes after defrag (one chunk at most)"
check_le "$(json_get extents_after)" 4 "extents of the image after"
check_ge "$(json_get bytes_filled)" 1 "bytes_filled (old data only backups held)"
for n in 1 2 3; do
	want=$(common "$MNT/backup-$n")
	check_ge "$want" 1000 "backup-$n blocks in common with the image"
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/backup-$n" 0 \
		"$MNT/image" 0 $((size_mib * MiB)))" "$want" \
		"backup-$n blocks sharing the image's new extents"
done
