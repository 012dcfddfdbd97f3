#!/bin/bash
# Every reference moves (btrfs): a scan of one subvolume frees its duplicate
# data although read-only snapshots kept elsewhere (as snapper keeps them in
# /.snapshots), a reflinked copy outside the PATH and a writable snapshot
# that diverged all refer to it; --snapshots=skip leaves the read-only
# snapshots exactly where they were and never uses more space. Every file of
# every subvolume keeps its sha256, read-only flags stay, used space never
# grows, and `btrfs send -p` / `receive` still gives identical trees.
. "$(dirname "$0")/lib.sh"
setup
require_cmd btrfs
nfiles=8 kib=1024
for ((i = 0; i < nfiles; i++)); do
	rand_file "$TESTDIR/f$i" "$kib"
done
rand_file "$TESTDIR/p-rest" 1024

# layout: home/d1 and home/d2 (a physical copy of d1), home/p2 (f0, f1,
# f2 and 1 MiB of its own, one extent: relocation of the rest),
# read-only snapshots .snapshots/1..3 of home, a reflink of home/d2/f1
# outside home, and (WRITABLE=1) a writable snapshot whose copy of d2 was
# partly rewritten.
make_layout() {
	local i
	run_check btrfs -q subvolume create "$MNT/home"
	mkdir -p "$MNT/home/d1" "$MNT/home/d2" "$MNT/.snapshots" "$MNT/outside"
	for ((i = 0; i < nfiles; i++)); do
		copy_plain "$TESTDIR/f$i" "$MNT/home/d1/f$i"
		copy_plain "$TESTDIR/f$i" "$MNT/home/d2/f$i"
	done
	splice_file "$MNT/home/p2" "$TESTDIR/f0:0:1024" "$TESTDIR/f1:0:1024" \
		"$TESTDIR/f2:0:1024" "$TESTDIR/p-rest:0:1024"
	sync
	for i in 1 2 3; do
		run_check btrfs -q subvolume snapshot -r "$MNT/home" \
			"$MNT/.snapshots/$i"
	done
	run_check cp --reflink=always "$MNT/home/d2/f1" "$MNT/outside/f1"
	if [ "${WRITABLE:-0}" = 1 ]; then
		run_check btrfs -q subvolume snapshot "$MNT/home" "$MNT/ws"
		# 10% of each block run rewritten: 100 KiB of every 1 MiB file
		for ((i = 0; i < nfiles; i++)); do
			dd if=/dev/urandom of="$MNT/ws/d2/f$i" bs=4K count=25 \
				seek=$((i * 7 % 200)) conv=notrunc status=none
		done
	fi
	sync
}

ro_flags() {
	local i
	for i in 1 2 3; do
		btrfs property get -ts "$MNT/.snapshots/$i" ro
	done
}

# --- follow (the default): the duplicates are freed ----------------------
for WRITABLE in 0 1; do
	setup_fs btrfs
	make_layout
	manifest >"$TESTDIR/before"
	u0=$(used_bytes)
	scan "$MNT/home"
	check_manifest "$TESTDIR/before"
	check_str "$(ro_flags | sort -u)" "ro=true" "snapshots are still read-only"
	u1=$(used_bytes)
	dup=$(((nfiles * kib + 3072) * 1024))
	log "writable=$WRITABLE: used $u0 -> $u1, freed $((u0 - u1)) of $dup duplicate"
	check_ge "$(json_get refs_relinked)" $((3 * nfiles)) \
		"refs_relinked (every snapshot's copy of d2)"
	check_ge $((u0 - u1)) $((dup * 9 / 10)) \
		"used bytes freed with snapshots elsewhere (writable=$WRITABLE)"
	# the snapshots' copies of d2 share d1's blocks now
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/.snapshots/2/d2/f3" 0 \
		"$MNT/home/d1/f3" 0 $((kib * 1024)))" $((kib / 4)) \
		"blocks of a snapshot's d2/f3 at home/d1/f3's disk address"
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/outside/f1" 0 \
		"$MNT/home/d1/f1" 0 $((kib * 1024)))" $((kib / 4)) \
		"blocks of the reflink outside home at home/d1/f1's disk address"
	if [ "$WRITABLE" = 1 ]; then
		# the rewritten blocks stay the writable snapshot's own
		check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/ws/d2/f1" \
			$((7 * 4096)) "$MNT/home/d1/f1" $((7 * 4096)) $((25 * 4096)))" 0 \
			"rewritten blocks of the writable snapshot shared"
	fi

	# A backup chain still works on the deduped snapshots.
	mkdir -p "$MNT/recv"
	run_check btrfs -q send -f "$TESTDIR/s1" "$MNT/.snapshots/1"
	run_check btrfs -q send -f "$TESTDIR/s2" -p "$MNT/.snapshots/1" \
		"$MNT/.snapshots/2"
	run_check btrfs -q receive -f "$TESTDIR/s1" "$MNT/recv"
	run_check btrfs -q receive -f "$TESTDIR/s2" "$MNT/recv"
	manifest "$MNT/.snapshots/2" >"$TESTDIR/snap2"
	check_manifest "$TESTDIR/snap2" "$MNT/recv/2"
	rm -f "$TESTDIR/s1" "$TESTDIR/s2"
	teardown_fs
done

# --- skip: read-only snapshots untouched, nothing grows ------------------
setup_fs btrfs
make_layout
manifest >"$TESTDIR/before"
for i in 1 2 3; do
	python3 "$IT_DIR/fiemap.py" extents "$MNT/.snapshots/$i/d2/f2"
done >"$TESTDIR/snap-extents.before"
u0=$(used_bytes)
scan --snapshots=skip "$MNT/home"
check_manifest "$TESTDIR/before"
for i in 1 2 3; do
	python3 "$IT_DIR/fiemap.py" extents "$MNT/.snapshots/$i/d2/f2"
done >"$TESTDIR/snap-extents.after"
cmp -s "$TESTDIR/snap-extents.before" "$TESTDIR/snap-extents.after" ||
	_fail "--snapshots=skip moved a read-only snapshot's extents"
check_ge "$(json_get refs_pinned)" 1 "refs_pinned with --snapshots=skip"
u1=$(used_bytes)
log "skip: used $u0 -> $u1"
check_le "$u1" $((u0 + MiB)) "used bytes after --snapshots=skip (never more)"
run_expect_rc 2 "$DEDUPD" scan --snapshots=sometimes "$MNT/home"
teardown_fs

# --- a root being sent while the pass runs: nothing lost, nothing grows ----
setup_fs btrfs
make_layout
manifest >"$TESTDIR/before"
u0=$(used_bytes)
(
	end=$((SECONDS + 60))
	while [ $SECONDS -lt $end ] && [ ! -e "$TESTDIR/stop-send" ]; do
		btrfs -q send "$MNT/.snapshots/2" >/dev/null 2>&1 || true
	done
) &
sender=$!
on_exit "kill $sender 2>/dev/null; wait $sender 2>/dev/null"
sleep 0.5
scan "$MNT/home"
touch "$TESTDIR/stop-send"
wait "$sender"
check_manifest "$TESTDIR/before"
u1=$(used_bytes)
log "send loop: used $u0 -> $u1, refs_pinned $(json_get refs_pinned)"
check_le "$u1" $((u0 + MiB)) "used bytes with a root being sent"
teardown_fs

# --- a referrer that cannot follow: the shared rest is not relocated -------
# home/p3 is one extent (f0, f1, f2, then 4 MiB of its own); a read-only
# snapshot is taken, then 4 KiB of home/p3's own part is overwritten, so
# the snapshot maps the old extent where home/p3 no longer does. Its
# duplicate part is deduped, but relocating the rest would free nothing
# (the snapshot keeps the old extent) and would cost 4 MiB: it stays.
setup_fs btrfs
rand_file "$TESTDIR/p3-rest" 4096
run_check btrfs -q subvolume create "$MNT/home"
mkdir -p "$MNT/home/d1" "$MNT/.snapshots"
for i in 0 1 2; do copy_plain "$TESTDIR/f$i" "$MNT/home/d1/f$i"; done
sync
splice_file "$MNT/home/p3" "$TESTDIR/f0:0:1024" "$TESTDIR/f1:0:1024" \
	"$TESTDIR/f2:0:1024" "$TESTDIR/p3-rest:0:4096"
sync
run_check btrfs -q subvolume snapshot -r "$MNT/home" "$MNT/.snapshots/old"
dd if=/dev/urandom of="$MNT/home/p3" bs=4K count=1 seek=$((3 * 256 + 512)) \
	conv=notrunc status=none
sync
manifest >"$TESTDIR/before"
u0=$(used_bytes)
scan -t 1 "$MNT/home"
check_manifest "$TESTDIR/before"
u1=$(used_bytes)
log "pinned rest: used $u0 -> $u1, relocated $(json_get bytes_relocated)"
check_eq "$(json_get bytes_relocated)" 0 "bytes_relocated with a referrer that cannot follow"
check_le "$u1" $((u0 + 512 * 1024)) "used bytes (the rest not copied for nothing)"
teardown_fs

# --- small files in many snapshots: moving them costs more than it frees ---
# Deduping into a snapshot copies the tree leaves it touches, in each
# snapshot: for a 4 KiB file held by 3 read-only snapshots that is more
# metadata than data freed, so the snapshots' references stay (pinned)
# and the pass does not grow the filesystem.
setup_fs btrfs
run_check btrfs -q subvolume create "$MNT/home"
mkdir -p "$MNT/home/s1" "$MNT/home/s2" "$MNT/.snapshots"
for ((i = 0; i < 40; i++)); do
	head -c 4096 /dev/urandom >"$MNT/home/s1/f$i"
	copy_plain "$MNT/home/s1/f$i" "$MNT/home/s2/f$i"
done
sync
for i in 1 2 3; do
	run_check btrfs -q subvolume snapshot -r "$MNT/home" "$MNT/.snapshots/$i"
done
manifest >"$TESTDIR/before"
u0=$(used_bytes)
scan "$MNT/home"
check_manifest "$TESTDIR/before"
u1=$(used_bytes)
log "small files: used $u0 -> $u1, relinked $(json_get refs_relinked), pinned $(json_get refs_pinned)"
check_eq "$(json_get refs_relinked)" 0 "refs_relinked of 4 KiB files in 3 snapshots"
check_ge "$(json_get refs_pinned)" 40 "refs_pinned of 4 KiB files in 3 snapshots"
check_le "$u1" "$u0" "used bytes with small files in snapshots"
teardown_fs
