#!/bin/bash
# A VM image with a reflink backup taken before each of three rounds of
# random 4 KiB writes. `dedupd defrag IMAGE` leaves the image in a few
# extents and every backup sharing each block it holds in common with the
# image (on the new copy), while used space does not grow by more than one
# chunk. btrfs frees whole extents, so there `--rewrite-backups` also
# rewrites once the old data that only the backups still hold; XFS frees
# blocks one by one, and finds the backups by a walk of the filesystem, or
# of --scope (the same with and without rmapbt): a copy outside the scope
# keeps the old blocks, and the report counts the ones it knows no other
# holder of as pinned. Every file
# keeps its sha256.
. "$(dirname "$0")/lib.sh"
setup
size_mib=64

# blocks a backup holds in common with the image (by content)
common() {
	python3 "$IT_DIR/fiemap.py" equal "$1" "$2"
}

for fs in btrfs xfs xfs-rmap; do
	setup_fs "$fs"
	dir=$MNT/vm
	mkdir "$dir"
	head -c $((size_mib * MiB)) /dev/urandom >"$dir/image"
	sync
	for n in 1 2 3; do
		run_check cp --reflink=always "$dir/image" "$dir/backup-$n"
		python3 - "$dir/image" "$n" "$size_mib" <<'PY'
import os, random, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
r = random.Random(int(sys.argv[2]))
for _ in range(1000):
    os.pwrite(fd, os.urandom(4096), r.randrange(int(sys.argv[3]) * 256) * 4096)
os.fsync(fd)
PY
	done
	opts=() pinned=0 grow=0
	case $fs in
	btrfs) opts=(--rewrite-backups) ;;
	xfs-rmap)
		# a copy outside the scope: it keeps the old blocks
		mkdir "$MNT/other"
		run_check cp --reflink=always "$dir/image" "$MNT/other/copy"
		opts=(--scope "$dir")
		pinned=1 grow=$((size_mib * MiB))
		;;
	esac
	sync
	manifest >"$TESTDIR/before"
	u0=$(used_bytes)
	run_report 0 "dedupd defrag" "$DEDUPD" defrag --json --no-progress \
		"${opts[@]}" "$dir/image"
	check_manifest "$TESTDIR/before"
	u1=$(used_bytes)
	log "$fs: used $u0 -> $u1 ($(((u1 - u0) / 1024)) KiB), filled $(json_get bytes_filled), pinned $(json_get bytes_pinned)"
	check_le "$u1" $((u0 + grow + 16 * MiB)) \
		"$fs: used bytes after defrag (one chunk at most, and what stays pinned)"
	check_le "$(json_get extents_after)" 4 "$fs: extents of the image after"
	if [ "$fs" = btrfs ]; then
		check_ge "$(json_get bytes_filled)" 1 \
			"bytes_filled (old data only backups held)"
	elif [ "$pinned" = 0 ]; then
		check_eq "$(json_get bytes_pinned)" 0 "$fs: bytes_pinned"
	else	# at least the blocks no backup shares (FIEMAP sees no count)
		check_ge "$(json_get bytes_pinned)" "$pinned" \
			"$fs: bytes_pinned (shared outside the scope)"
	fi
	for n in 1 2 3; do
		want=$(common "$dir/image" "$dir/backup-$n")
		check_ge "$want" 1000 "$fs: backup-$n blocks in common with the image"
		check_eq "$(python3 "$IT_DIR/fiemap.py" same "$dir/backup-$n" 0 \
			"$dir/image" 0 $((size_mib * MiB)))" "$want" \
			"$fs: backup-$n blocks sharing the image's new extents"
	done
	teardown_fs
done
