#!/bin/bash
# Every reference moves in the daemon too (btrfs): dedupd watch, on a mount
# of subvolume home, dedupes copies of home/orig's files while read-only
# snapshots of home are taken into .snapshots/N (outside the watched mount,
# as snapper keeps them), and every snapshot's references follow, in rounds
# and in the catch-up:
#  a. a snapshot between a write and its take-up (the daemon stopped);
#  b. a snapshot between hashing and dedupe: the daemon stopped while it
#     hashes a batch whose extents FIEMAP called unshared;
#  c. snapshots every 1.5 s or so while copies are written in pieces;
#  catch-up: the daemon stopped (SIGTERM), copies written, a snapshot of
#     half of them, the daemon restarted and stopped again while its
#     catch-up hashes, for a snapshot of them all.
# Every file of home and of every snapshot keeps its content (each
# snapshot's manifest is taken right after it is made, and its copies are
# prefixes of the originals); used space ends at least 90% of the
# duplicates lower than without dedupe, every block of every copy in home
# and in every snapshot sits at its original's disk address (so the old
# extents are freed), and used space never grows beyond what it was before
# the daemon worked on them plus one chunk (16 MiB, the executor's
# CHUNK_LEN). Then --snapshots=skip (as "snapshots = skip" in the
# configuration): a snapshot taken between a write and its dedupe keeps
# its own extents, so deduping the subvolume's copy would free nothing:
# neither copy moves, and used space does not grow.
. "$(dirname "$0")/lib.sh"
setup
case " $DEDUPE_FS " in
*" btrfs "*) ;;
*) skip "btrfs only (DEDUPE_FS=$DEDUPE_FS)" ;;
esac
require_cmd btrfs flock
NF=8 SZ=8192	# originals: NF files of SZ KiB
NC=6		# copies written in pieces: copy/f1 .. f$((NC - 1))
F=$((SZ * KiB))
PIECE=2048	# KiB written at a time into a copy
CHUNK=$((16 * MiB))
SLACK=$((4 * MiB))	# metadata: snapshots' roots and the leaves they unshare
for ((i = 0; i < NF; i++)); do
	rand_file "$TESTDIR/o$i" "$SZ"
done

setup_fs btrfs 2G
run_check btrfs -q subvolume create "$MNT/home"
mkdir -p "$MNT/.snapshots" "$MNT/home/orig" "$MNT/home/copy"
for ((i = 0; i < NF; i++)); do
	copy_plain "$TESTDIR/o$i" "$MNT/home/orig/f$i"
done
sync
W=$TESTDIR/homemnt	# what the daemon watches
mount_subvol home "$W"

nsnap=0
# snapshot: a read-only snapshot of home as .snapshots/N and its manifest.
snapshot() {
	nsnap=$((nsnap + 1))
	flock "$TESTDIR/lock" btrfs -q subvolume snapshot -r "$MNT/home" \
		"$MNT/.snapshots/$nsnap" >/dev/null 3>&-
	manifest "$MNT/.snapshots/$nsnap" >"$TESTDIR/snap.$nsnap"
	[ -s "$TESTDIR/snap.$nsnap" ] || _fail "empty manifest of snapshot $nsnap"
}

# write_pieces SRC DST: DST gets SRC's bytes PIECE KiB at a time, 0.3 s
# apart (a physical copy). A snapshot never lands inside a piece's writes:
# one taken in the middle of a write() can catch a block half written,
# which the writer then completes (a new extent for that block), so that
# the snapshot maps a block of the old extent that home no longer maps.
# Such a holder has diverged: left alone and counted pinned, by design
# (relink.h), while this test wants every snapshot to follow.
write_pieces() {
	local src=$1 dst=$2 off=0 size
	size=$(stat -c %s "$src")
	: >"$dst"
	while [ $((off * KiB)) -lt "$size" ]; do
		flock "$TESTDIR/lock" dd if="$src" of="$dst" bs=1K skip="$off" \
			seek="$off" count="$PIECE" conv=notrunc status=none \
			iflag=fullblock
		off=$((off + PIECE))
		sleep 0.3
	done
}

# sampler_start TAG: used space sampled (after a commit) every 0.2 s until
# sampler_stop TAG, which sets UMAX to the most seen.
sampler_start() {
	local tag=$1
	rm -f "$TESTDIR/stop-$tag"
	: >"$TESTDIR/used-$tag"
	(
		trap - ERR
		set +e
		while [ ! -e "$TESTDIR/stop-$tag" ]; do
			used_bytes >>"$TESTDIR/used-$tag" 2>/dev/null
			sleep 0.2
		done
	) 3>&- &
	SAMPLER=$!
}
sampler_stop() {
	touch "$TESTDIR/stop-$1"
	wait "$SAMPLER"
	used_bytes >>"$TESTDIR/used-$1"
	UMAX=$(sort -n "$TESTDIR/used-$1" | tail -n 1)
	log "used space sampled $(wc -l <"$TESTDIR/used-$1") times, at most $UMAX"
}

# The content checks: home as it was last manifested, every snapshot as it
# was when taken, and every copy in a snapshot a prefix of its original.
check_all() {
	local n f
	check_manifest "$TESTDIR/home" "$W"
	for ((n = 1; n <= nsnap; n++)); do
		check_manifest "$TESTDIR/snap.$n" "$MNT/.snapshots/$n"
		for f in "$MNT/.snapshots/$n"/*/f*; do
			case $f in */orig/f*) continue ;; esac
			cmp -s -n "$(stat -c %s "$f")" "$f" "$TESTDIR/o${f##*/f}" ||
				_fail "snapshot $n: ${f#"$MNT/.snapshots/$n/"} is not a prefix of its original"
		done
		check_str "$(btrfs property get -ts "$MNT/.snapshots/$n" ro)" ro=true \
			"snapshot $n read-only"
	done
}

# freeze_mid_hash H0 TOTAL: poll the daemon's status as fast as it answers
# until its bytes_hashed is past H0 but short of H0 + TOTAL (hashing a batch
# whose files it has mapped, and so not yet executing it) and stop it there
# (SIGSTOP). Returns 1 if it got past H0 + TOTAL first.
freeze_mid_hash() {
	local h0=$1 total=$2 js h end=$((SECONDS + 30))
	while [ "$SECONDS" -lt "$end" ]; do
		js=$(watch_status_json) || _watch_fail "dedupd status failed"
		[[ $js =~ \"bytes_hashed\":([0-9]+), ]] || _watch_fail "bad status: $js"
		h=${BASH_REMATCH[1]}
		if [ "$h" -gt "$h0" ] && [ "$h" -lt $((h0 + total)) ]; then
			kill -STOP "$WATCH_PID"
			log "daemon stopped (SIGSTOP) while hashing: $js"
			return 0
		fi
		[ "$h" -lt $((h0 + total)) ] || return 1
	done
	_watch_fail "the daemon did not hash $total bytes within 30 s"
}

# evict FILE...: written back, and out of the page cache (the daemon reads
# them from disk: its hashing lasts).
evict() {
	sync -f "$W/."
	python3 - "$@" <<'EOF'
import os, sys
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY)
    os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
EOF
}

# blocks_elsewhere SUBVOL [DIR]: data blocks of the copies in SUBVOL (its
# DIR/fI, default every */fI but orig/) that do not sit at home/orig/fI's
# disk address, i.e. still pin data of their own.
blocks_elsewhere() {
	python3 - "$IT_DIR" "$W/orig" "$1" "${2:-*}" <<'EOF'
import glob, sys
sys.path.insert(0, sys.argv[1])
import fiemap
orig, sub, pat = sys.argv[2], sys.argv[3], sys.argv[4]
n = 0
for f in glob.glob(f"{sub}/{pat}/f*"):
    if f.startswith(sub + "/orig/"):
        continue
    o = fiemap.block_map(orig + "/f" + f.rsplit("/f", 1)[1], 0, 2**62)
    n += sum(1 for k, v in fiemap.block_map(f, 0, 2**62).items()
             if o.get(k) != v)
print(n)
EOF
}

# --- rounds: snapshots taken while the copies are written and deduped ------
# --read-all: b and the catch-up freeze the daemon while it hashes, which
# must last (keyed by csums, it reads nothing and is done at once)
watch_start --defrag-threshold 0 --read-all "$W"
watch_wait_idle
manifest "$W" >"$TESTDIR/home"
u0=$(used_bytes)
log "used before the copies: $u0"
dup1=0

# a. Between a write and its take-up: the daemon is stopped.
sampler_start a
kill -STOP "$WATCH_PID"
copy_plain "$TESTDIR/o0" "$W/copy/f0"
dup1=$((dup1 + F))
snapshot
kill -CONT "$WATCH_PID"
watch_wait_idle
sampler_stop a
check_le "$UMAX" $((u0 + dup1 + CHUNK + SLACK)) "used bytes (a: stopped daemon)"
check_eq "$(blocks_elsewhere "$MNT/.snapshots/$nsnap" copy)" 0 \
	"blocks of snapshot $nsnap's copy/f0 not at orig/f0's address"

# b. Between hashing and dedupe: the daemon maps the files (FIEMAP, whose
# shared flags say no other reference yet) and hashes them, then is stopped
# for the snapshot, and dedupes them after. Written while it is stopped and
# read from disk, so that the files are one batch and its hashing lasts; a
# try where it got past hashing before it could be stopped is done again
# with another copy.
hit=0
for try in 1 2 3 4 5; do
	h0=$(watch_status_get bytes_hashed)
	kill -STOP "$WATCH_PID"
	mkdir "$W/mid$try"
	for ((i = 0; i < NF; i++)); do
		copy_plain "$TESTDIR/o$i" "$W/mid$try/f$i"
	done
	dup1=$((dup1 + NF * F))
	evict "$W/mid$try"/f*
	ub=$(used_bytes)
	sampler_start b$try
	kill -CONT "$WATCH_PID"
	if freeze_mid_hash "$h0" $((NF * F)); then
		snapshot
		left=$(blocks_elsewhere "$MNT/.snapshots/$nsnap" "mid$try")
		log "try $try: snapshot $nsnap taken mid-hash, $left blocks of mid$try not deduped yet"
		[ "$left" = 0 ] || hit=1
		kill -CONT "$WATCH_PID"
	else
		log "try $try: hashed before it could be stopped"
	fi
	watch_wait_idle 90
	sampler_stop b$try
	check_le "$UMAX" $((ub + CHUNK + SLACK)) "used bytes (b, try $try)"
	[ "$hit" = 0 ] || break
done
[ "$hit" = 1 ] || _fail "no snapshot taken between hashing and dedupe in $try tries"
check_eq "$(blocks_elsewhere "$MNT/.snapshots/$nsnap" "mid$try")" 0 \
	"blocks of snapshot $nsnap's mid$try not at orig's address (taken mid-hash)"

# c. The rest in pieces, with a snapshot every 1.5 s or so meanwhile (1 s
# apart, and each takes its manifest).
uc=$(used_bytes)
sampler_start c
rm -f "$TESTDIR/stop-snap"
(
	trap - ERR
	set +e
	while [ ! -e "$TESTDIR/stop-snap" ]; do
		snapshot
		echo "$nsnap" >"$TESTDIR/nsnap"
		sleep 1
	done
) &
snapper=$!
on_exit "touch $TESTDIR/stop-snap; kill $snapper 2>/dev/null; wait $snapper 2>/dev/null"
for ((i = 1; i < NC; i++)); do
	write_pieces "$TESTDIR/o$i" "$W/copy/f$i"
	[ $((i % 2)) = 1 ] || sleep 1.2	# quiet long enough to be taken up
done
sleep 1.6	# one more snapshot of the complete copy
touch "$TESTDIR/stop-snap"
wait "$snapper" || _fail "the snapshot loop failed"
n0=$nsnap
nsnap=$(cat "$TESTDIR/nsnap")
log "$((nsnap - n0)) snapshots taken while the copy was written"
check_ge $((nsnap - n0)) 2 "snapshots taken while the copy was written (5 or so when unloaded)"
dup1=$((dup1 + (NC - 1) * F))
manifest "$W" >"$TESTDIR/home"
watch_wait_idle 90
sampler_stop c
check_le "$UMAX" $((uc + (NC - 1) * F + CHUNK + SLACK)) "used bytes (c: written in pieces)"

u1=$(used_bytes)
log "rounds: used $u0 -> $u1, $dup1 duplicate bytes written"
check_manifest "$TESTDIR/home" "$W"	# the snapshots at the end
check_ge $((u0 + dup1 - u1)) $((dup1 * 9 / 10)) \
	"bytes freed of the duplicates, snapshots included (rounds)"
check_ge "$(watch_status_get bytes_relinked)" $((F + NF * F)) \
	"bytes relinked (at least snapshot 1's copy/f0 and the mid-hash snapshot's mid)"
check_eq "$(blocks_elsewhere "$MNT/.snapshots/1" copy)" 0 \
	"blocks of snapshot 1's copy/f0 not at orig/f0's address"

# --- catch-up: written and snapshotted while the daemon is down ----------
# A snapshot of half of the new copies, then the other half; the daemon
# restarted with a cold cache and, as in b, stopped while its catch-up
# hashes them for another snapshot, which then holds copies it mapped
# before that snapshot existed (tried again if it hashed too fast).
dup2=0 hit=0
for try in 1 2 3 4 5; do
	watch_stop
	# The catch-up takes files in inode order: the first ones are
	# those the snapshot taken now does not hold.
	mkdir "$W/late$try"
	for ((i = 0; i < NF / 2; i++)); do
		: >"$W/late$try/f$i"
	done
	for ((i = NF / 2; i < NF; i++)); do
		copy_plain "$TESTDIR/o$i" "$W/late$try/f$i"
	done
	sync
	snapshot
	ns=$nsnap
	for ((i = 0; i < NF / 2; i++)); do
		copy_plain "$TESTDIR/o$i" "$W/late$try/f$i"
	done
	dup2=$((dup2 + NF * F))
	manifest "$W" >"$TESTDIR/home"
	evict "$W/late$try"/f*
	u2=$(used_bytes)
	log "catch-up, try $try: used $u2 with $((NF * F)) duplicate bytes new"
	sampler_start catchup$try
	watch_start --defrag-threshold 0 --read-all "$W"
	if freeze_mid_hash 0 $((NF * F)); then
		snapshot
		left=$(blocks_elsewhere "$MNT/.snapshots/$nsnap" "late$try")
		log "try $try: snapshot $nsnap taken mid-hash, $left blocks of late$try not deduped yet"
		[ "$left" = 0 ] || hit=1
		kill -CONT "$WATCH_PID"
	else
		log "try $try: hashed before it could be stopped"
	fi
	watch_wait_idle 90
	check_ge "$(watch_status_get catchups)" 1 "catch-ups after the restart"
	sampler_stop catchup$try
	u3=$(used_bytes)
	log "catch-up, try $try: used $u2 -> $u3"
	check_le "$UMAX" $((u2 + CHUNK + SLACK)) "used bytes (catch-up, try $try)"
	check_ge $((u2 - u3)) $((NF * F * 9 / 10)) \
		"bytes freed of late$try, snapshots included (catch-up, try $try)"
	check_eq "$(blocks_elsewhere "$MNT/.snapshots/$ns" "late$try")" 0 \
		"blocks of snapshot $ns's late$try (taken while the daemon was down) not at orig's address"
	[ "$hit" = 0 ] || break
done
[ "$hit" = 1 ] || _fail "no snapshot taken during the catch-up's hashing in $try tries"
check_eq "$(blocks_elsewhere "$MNT/.snapshots/$nsnap" "late$try")" 0 \
	"blocks of snapshot $nsnap's late$try not at orig's address (taken mid-hash)"
check_ge $((u0 + dup1 + dup2 - u3)) $(((dup1 + dup2) * 9 / 10)) \
	"bytes freed of all the duplicates"
check_eq "$(dup_left "$W")" 0 "duplicate bytes a fresh dry-run scan of home finds"

for ((n = 1; n <= nsnap; n++)); do
	check_eq "$(blocks_elsewhere "$MNT/.snapshots/$n")" 0 \
		"blocks of snapshot $n's copies not at orig's address"
done
check_eq "$(blocks_elsewhere "$W")" 0 "blocks of home's copies not at orig's address"
watch_stop

# --- --snapshots=skip, from the configuration file: snapshots stay --------
run_expect_rc 2 "$DEDUPD" watch --no-config --snapshots=sometimes \
	--socket "$TESTDIR/sock2" --state-dir "$TESTDIR/state2" "$W"
printf 'snapshots = maybe\n' >"$TESTDIR/bad.conf"
run_expect_rc 2 "$DEDUPD" watch --config "$TESTDIR/bad.conf" \
	--socket "$TESTDIR/sock2" --state-dir "$TESTDIR/state2" "$W"
printf 'settle = 1\ndefrag-threshold = 0\nsnapshots = skip\nread-all\n' >"$TESTDIR/skip.conf"
WATCH_CONF_SETTLE=1 watch_start --config "$TESTDIR/skip.conf" "$W"
watch_wait_idle
kill -STOP "$WATCH_PID"
mkdir "$W/skip"
copy_plain "$TESTDIR/o0" "$W/skip/f0"
copy_plain "$TESTDIR/o1" "$W/skip/f1"
snapshot
manifest "$W" >"$TESTDIR/home"
us=$(used_bytes)
sampler_start skip
kill -CONT "$WATCH_PID"
watch_wait_idle
sampler_stop skip
u4=$(used_bytes)
log "skip: used $us -> $u4"
check_eq "$(blocks_elsewhere "$W" skip)" $((2 * F / 4096)) \
	"blocks of home's skip/ not at orig's address (pinned by the snapshot: not worth moving)"
check_eq "$(blocks_elsewhere "$MNT/.snapshots/$nsnap" skip)" $((2 * F / 4096)) \
	"blocks of snapshot $nsnap's skip/ not at orig's address (--snapshots=skip)"
check_le "$UMAX" $((us + CHUNK + SLACK)) "used bytes with --snapshots=skip"
check_le "$u4" $((us + SLACK)) "used bytes after --snapshots=skip (never more)"
# not reloadable: SIGHUP says so
printf 'settle = 1\ndefrag-threshold = 0\nsnapshots = follow\n' >"$TESTDIR/skip.conf"
kill -HUP "$WATCH_PID"
for ((i = 0; i < 50; i++)); do
	! grep -q "changing --snapshots needs a restart; still 'skip'" "$WATCH_LOG" || break
	sleep 0.1
done
grep -q "changing --snapshots needs a restart; still 'skip'" "$WATCH_LOG" ||
	_watch_fail "no warning that --snapshots needs a restart after SIGHUP"
watch_stop
check_all
