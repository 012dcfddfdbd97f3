#!/bin/bash
# Tails at EOF: identical files of 3 blocks + 100 bytes share all 4 blocks;
# files whose last partial block differs, or whose lengths differ, share the
# 3 full blocks only. Each case is scanned alone with its own index.
#
# Which of two copies becomes the source depends on which hash thread
# indexes its blocks first. On btrfs FIEMAP flags a whole extent item
# shared when any of it is, so the source's extent counts as shared in full:
# what is checked is which blocks of the two files sit at the same address.
. "$(dirname "$0")/lib.sh"
setup
bs=4096 n=$((3 * 4096 + 100))
rand_bytes "$TESTDIR/x" $((n + 50))
head -c "$n" "$TESTDIR/x" >"$TESTDIR/x1"
head -c "$((3 * bs))" "$TESTDIR/x" >"$TESTDIR/y1"
cp "$TESTDIR/y1" "$TESTDIR/y2"
rand_bytes "$TESTDIR/t1" 100
rand_bytes "$TESTDIR/t2" 100
cat "$TESTDIR/t1" >>"$TESTDIR/y1"
cat "$TESTDIR/t2" >>"$TESTDIR/y2"
# Not a zero byte at the end: cp --sparse=always would leave it a hole.
rand_bytes "$TESTDIR/big" "$MiB"
printf 'T' >>"$TESTDIR/big"

case_scan() { # NAME FILE1 FILE2 MIN_DEDUPED MAX_DEDUPED SAME_BLOCKS
	local name=$1 len
	mkdir "$MNT/$name"
	copy_plain "$2" "$MNT/$name/1"
	copy_plain "$3" "$MNT/$name/2"
	DB=$TESTDIR/index.$fs.$name scan "$MNT/$name"
	check_between "$(json_get bytes_deduped)" "$4" "$5" "$fs: $name: bytes_deduped"
	len=$(stat -c %s "$MNT/$name/2")
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/$name/1" 0 \
		"$MNT/$name/2" 0 "$len")" "$6" "$fs: $name: blocks of the two files at one address"
}

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	case_scan same "$TESTDIR/x1" "$TESTDIR/x1" $((3 * bs)) $((4 * bs)) 4
	check_ge "$(json_get bytes_deduped)" "$n" "$fs: same: the tail is deduped too"
	case_scan tail-differs "$TESTDIR/y1" "$TESTDIR/y2" $((3 * bs)) $((3 * bs)) 3
	case_scan length-differs "$TESTDIR/x1" "$TESTDIR/x" $((3 * bs)) $((3 * bs)) 3
	case_scan big-tail "$TESTDIR/big" "$TESTDIR/big" "$((MiB + 1))" $((MiB + bs)) $((MiB / bs + 1))
	# every pair must still differ/match as it did
	cmp -s "$MNT/tail-differs/1" "$TESTDIR/y1" && cmp -s "$MNT/tail-differs/2" "$TESTDIR/y2" &&
		cmp -s "$MNT/length-differs/2" "$TESTDIR/x" && cmp -s "$MNT/same/2" "$TESTDIR/x1" &&
		cmp -s "$MNT/big-tail/2" "$TESTDIR/big" || _fail "$fs: contents changed"
	teardown_fs
done
