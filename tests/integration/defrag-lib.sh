# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the `dedupd defrag` tests (040-044), sourced after lib.sh.

FRAG_PY=$IT_DIR/defrag.py

# extents FILE: its extent count as filefrag counts it (physically
# contiguous pieces are one), after syncing it.
extents() {
	local out
	out=$(filefrag -s "$1" 3>&-) || _fail "filefrag $1 failed"
	[[ $out =~ :\ ([0-9]+)\ extents?\ found ]] ||
		_fail "filefrag $1: unexpected output: $out"
	echo "${BASH_REMATCH[1]}"
}

# phys_map FILE: "logical physical length" of every extent (FIEMAP).
phys_map() { python3 "$IT_DIR/fiemap.py" extents "$1" | cut -d' ' -f1-3; }

# make_fragmented FILE MIB [OVERWRITES [SEED]]: a new FILE of MIB MiB of
# random data, fragmented as $FSTYPE allows:
#  btrfs  written, then OVERWRITES (default 32 a MiB) random 4 KiB
#         overwrites: each goes to a new extent (copy on write);
#  xfs    the same, while a reflink copy shares the extents (so that the
#         overwrites are copied on write too), then the copy is removed
#         and the filesystem mounted again: the copy-on-write fork keeps
#         its preallocations (and later writes go there, out of place)
#         until the inode leaves the cache;
#  ext4   (overwrites in place) written into a checkerboard of 4 KiB free
#         blocks (defrag.py checker; its holey file stays in $MNT/.frag).
make_fragmented() {
	local f=$1 mib=$2 n=${3:-$(($2 * 32))} seed=${4:-1}
	case $FSTYPE in
	btrfs | xfs)
		rand_file "$f" $((mib * 1024))
		sync
		refragment "$f" "$n" "$seed"
		;;
	ext4)
		mkdir -p "$MNT/.frag"
		python3 "$FRAG_PY" checker "$MNT/.frag" "$f" "$mib"
		;;
	*) _fail "make_fragmented: cannot fragment on $FSTYPE" ;;
	esac
	sync
}

# refragment FILE N [SEED]: N random 4 KiB overwrites of FILE, copied on
# write (btrfs, XFS: as make_fragmented does).
refragment() {
	local f=$1 n=$2 seed=${3:-1}
	case $FSTYPE in
	btrfs)
		python3 "$FRAG_PY" overwrite "$f" "$n" "$seed"
		;;
	xfs)
		cp --reflink=always "$f" "$f.frag-ref"
		python3 "$FRAG_PY" overwrite "$f" "$n" "$seed"
		rm -f "$f.frag-ref"
		remount
		;;
	*) _fail "refragment: not on $FSTYPE" ;;
	esac
	sync
}

# remount: unmount $MNT and mount its image there again.
remount() {
	local dev img
	dev=$(findmnt -n -o SOURCE --target "$MNT") || _fail "no device for $MNT"
	img=$(losetup -n -O BACK-FILE "$dev") || _fail "no image behind $dev"
	sync
	_umount_retry "$MNT"
	mountpoint -q "$MNT" && _fail "cannot unmount $MNT"
	mount -o "loop${MOUNT_OPTS:+,$MOUNT_OPTS}" "$img" "$MNT" ||
		_fail "mount $img again failed"
}

# defrag [ARGS...]: `dedupd defrag --json --no-progress ARGS`, which must
# exit ${DEFRAG_RC:-0}; the report is in $REPORT (checked: one JSON object
# with the documented keys, if the exit status is 0 or 130), stderr in
# $REPORT.err.
defrag() {
	run_report "${DEFRAG_RC:-0}" "dedupd defrag" \
		"$DEDUPD" defrag --json --no-progress "$@"
	case $RUN_RC in 0 | 130) check_defrag_report ;; esac
}

# check_defrag_report [FILE]: the report's keys and types.
check_defrag_report() {
	python3 - "${1:-$REPORT}" <<'EOF' || _fail "defrag report keys or types wrong"
import json, sys
text = open(sys.argv[1]).read()
d = json.loads(text)
bad = []
if text.count("\n") != 1 or not text.endswith("\n"):
    bad.append("not exactly one line")
ints = """files files_fragmented files_defragged files_skipped files_vanished
files_special files_replaced too_deep extents_before extents_after bytes bytes_moved bytes_relinked refs_relinked
refs_busy refs_pinned bytes_pinned bytes_filled files_mapped chunks
chunks_retried chunks_skipped errors""".split()
for k in ints:
    v = d.get(k)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        bad.append(f"{k}={v!r} (want a non-negative integer)")
if not isinstance(d.get("filesystem"), str):
    bad.append(f"filesystem={d.get('filesystem')!r}")
if not isinstance(d.get("dry_run"), bool):
    bad.append(f"dry_run={d.get('dry_run')!r}")
s = d.get("seconds")
if not isinstance(s, (int, float)) or isinstance(s, bool) or s < 0:
    bad.append(f"seconds={s!r}")
extra = set(d) - set(ints) - {"filesystem", "dry_run", "seconds"}
if extra:
    bad.append(f"undocumented keys {sorted(extra)}")
for b in bad:
    print("report:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# check_fsck: the filesystem at $MNT, unmounted, is clean by its checker
# (btrfs check --readonly, xfs_repair -n, e2fsck -fn); it is mounted again
# at the same place afterwards.
check_fsck() {
	local dev img out rc=0
	dev=$(findmnt -n -o SOURCE --target "$MNT") || _fail "no device for $MNT"
	img=$(losetup -n -O BACK-FILE "$dev") || _fail "no image behind $dev"
	sync
	_umount_retry "$MNT"
	mountpoint -q "$MNT" && _fail "cannot unmount $MNT"
	# The loop device wrote into the image's page cache; xfs_repair reads
	# with O_DIRECT, which would see the blocks writeback has not reached
	# yet (under load: "metadata LSN ahead of log"). Flush the image first.
	sync "$img" || _fail "cannot sync $img"
	case $FSTYPE in
	btrfs) out=$(btrfs check --readonly "$img" 2>&1) || rc=$? ;;
	xfs) out=$(xfs_repair -n -f "$img" 2>&1) || rc=$? ;;
	ext4) out=$(e2fsck -fn "$img" 2>&1) || rc=$? ;;
	esac
	if [ "$rc" != 0 ]; then
		echo "$out" | tail -n 30 >&3
		_fail "$FSTYPE checker found problems (exit $rc)"
	fi
	log "$FSTYPE checker: clean"
	mount -o "loop${MOUNT_OPTS:+,$MOUNT_OPTS}" "$img" "$MNT" ||
		_fail "mount $img again failed"
}

# inodes_used: inodes in use on $MNT (XFS, ext4: statfs; btrfs: inode
# items in the subvolumes' trees, counted by a tree search).
inodes_used() {
	if [ "$FSTYPE" = btrfs ]; then
		sync
		btrfs filesystem sync "$MNT" >/dev/null
		btrfs inspect-internal dump-tree -t fs "$(findmnt -n -o SOURCE --target "$MNT")" 2>/dev/null |
			grep -cE '^[[:space:]]*item [0-9]+ key \([0-9]+ INODE_ITEM 0\)' || true
	else
		sync
		df --output=iused "$MNT" | tail -n 1 | tr -d ' '
	fi
}

# check_inodes N WHAT: inodes in use on $MNT come back to N within 5 s (btrfs
# drops the inode of a closed O_TMPFILE in the background).
check_inodes() {
	local i n
	for ((i = 0; i < 50; i++)); do
		n=$(inodes_used)
		[ "$n" = "$1" ] && break
		sleep 0.1
	done
	check_eq "$n" "$1" "$2"
}
