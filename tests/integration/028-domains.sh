#!/bin/bash
# Dedupe domains (--domain): sharing blocks across users lets one user
# confirm another's data, so a multi-tenant machine can share blocks only
# between files of the same owner, or of the same subvolume. On btrfs, with
# two subvolumes and files of two owners holding the same data (and a
# reflink of one owner's file made by the other): with --domain=owner no
# block becomes shared between files of two owners, with
# --domain=subvolume none between two subvolumes, and the files of one
# domain are deduped as usual; the default (none) shares them all. The
# daemon keeps the domain too. Every file keeps its sha256.
. "$(dirname "$0")/lib.sh"
setup
require_cmd btrfs

# common_blocks X Y: 4 KiB disk blocks that X and Y both use
common_blocks() {
	python3 - "$1" "$2" "$IT_DIR" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
import fiemap
def blocks(p):
    s = set()
    for _, phys, length, _ in fiemap.extents(p):
        s.update(range(phys // 4096, (phys + length) // 4096))
    return s
print(len(blocks(sys.argv[1]) & blocks(sys.argv[2])))
PY
}

# layout MODE: a fresh filesystem, subvolumes A and B; owners 1001, 1002
layout() {
	setup_fs btrfs 1G
	run_check btrfs -q subvolume create "$MNT/A"
	run_check btrfs -q subvolume create "$MNT/B"
	cp "$TESTDIR/data" "$MNT/A/u1a"
	cp --reflink=never "$TESTDIR/data" "$MNT/A/u1b"
	cp --reflink=never "$TESTDIR/data" "$MNT/A/u2"
	cp --reflink=never "$TESTDIR/data" "$MNT/B/u1c"
	cp --reflink=never "$TESTDIR/data" "$MNT/B/u2b"
	cp --reflink=always "$MNT/A/u1a" "$MNT/A/r2"	# 1002's reflink
	chown 1001 "$MNT/A/u1a" "$MNT/A/u1b" "$MNT/B/u1c"
	chown 1002 "$MNT/A/u2" "$MNT/B/u2b" "$MNT/A/r2"
	run_check sync
	manifest >"$TESTDIR/before"
}

files=(A/u1a A/u1b A/u2 B/u1c B/u2b A/r2)
owner() { case $1 in */u1*) echo 1001 ;; *) echo 1002 ;; esac; }
subvol() { echo "${1%%/*}"; }

# pairs_before: blocks every pair shares before the pass
pairs_before() {
	local i j
	for ((i = 0; i < ${#files[@]}; i++)); do
		for ((j = i + 1; j < ${#files[@]}; j++)); do
			echo "${files[i]} ${files[j]} $(common_blocks "$MNT/${files[i]}" "$MNT/${files[j]}")"
		done
	done >"$TESTDIR/pairs"
}

# check_domains MODE KEYFN [PINNED...]: no pair of two domains shares more
# than before; every pair of one domain shares all of its blocks, but for
# the PINNED files (a file whose extent another domain's reflink shares
# can neither move nor serve as a source: it stays as it was)
check_domains() {
	local mode=$1 key=$2 a b n0 n same=0 across=0
	shift 2
	while read -r a b n0; do
		n=$(common_blocks "$MNT/$a" "$MNT/$b")
		if [[ " $* " == *" $a "* || " $* " == *" $b "* ]]; then
			check_ge "$n" "$n0" "$mode: blocks $a and $b (pinned) share, as before"
		elif [ "$($key "$a")" = "$($key "$b")" ]; then
			check_eq "$n" "$NBLK" "$mode: blocks $a and $b (one domain) share"
			same=$((same + 1))
		else
			check_le "$n" "$n0" "$mode: blocks $a and $b (two domains) share, at most as before"
			across=$((across + 1))
		fi
	done <"$TESTDIR/pairs"
	log "$mode: $same pairs in one domain, $across across domains"
}

rand_file "$TESTDIR/data" 2048
NBLK=512

# --- owner ---------------------------------------------------------------
layout
pairs_before
scan --domain=owner "$MNT"
check_ge "$(json_get bytes_deduped)" $((2 * 2048 * 1024)) "owner: bytes deduped"
check_domains owner owner A/u1a A/r2
check_manifest "$TESTDIR/before"
teardown_fs

# --- subvolume -------------------------------------------------------------
layout
pairs_before
scan --domain=subvolume "$MNT"
check_ge "$(json_get bytes_deduped)" $((2 * 2048 * 1024)) "subvolume: bytes deduped"
check_domains subvolume subvol
check_manifest "$TESTDIR/before"
teardown_fs

# --- none (the default): everything shares ---------------------------------
layout
scan "$MNT"
for f in "${files[@]}"; do
	check_eq "$(common_blocks "$MNT/A/u1a" "$MNT/$f")" "$NBLK" "none: blocks A/u1a and $f share"
done
check_manifest "$TESTDIR/before"
teardown_fs

# --- bad values ------------------------------------------------------------
run_expect_rc 2 "$DEDUPD" scan --domain=group --db "$TESTDIR/x.db" "$TESTDIR"

# --- the daemon, --domain=owner --------------------------------------------
layout
pairs_before
watch_start --domain=owner "$MNT"
watch_wait_idle 120
check_domains "watch owner" owner A/u1a A/r2
watch_stop
check_manifest "$TESTDIR/before"
