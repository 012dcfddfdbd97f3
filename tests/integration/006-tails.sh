#!/bin/bash
# Tails at EOF: identical files of 3 blocks + 100 bytes share all 4 blocks;
# files whose last partial block differs, or whose lengths differ, share the
# 3 full blocks only. Each case is scanned alone with its own index.
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
rand_bytes "$TESTDIR/big" $((MiB + 1))

case_scan() { # NAME FILE1 FILE2 MIN_DEDUPED MAX_DEDUPED SHARED_OF_FILE2
	local name=$1
	mkdir "$MNT/$name"
	copy_plain "$2" "$MNT/$name/1"
	copy_plain "$3" "$MNT/$name/2"
	DB=$TESTDIR/index.$name scan "$MNT/$name"
	check_between "$(json_get bytes_deduped)" "$4" "$5" "$fs: $name: bytes_deduped"
	check_eq "$(shared_bytes "$MNT/$name/2")" "$6" "$fs: $name: shared bytes of the second file"
}

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	case_scan same "$TESTDIR/x1" "$TESTDIR/x1" $((3 * bs)) $((4 * bs)) $((4 * bs))
	check_ge "$(json_get bytes_deduped)" "$n" "$fs: same: the tail is deduped too"
	case_scan tail-differs "$TESTDIR/y1" "$TESTDIR/y2" $((3 * bs)) $((3 * bs)) $((3 * bs))
	case_scan length-differs "$TESTDIR/x1" "$TESTDIR/x" $((3 * bs)) $((3 * bs)) $((3 * bs))
	case_scan big-tail "$TESTDIR/big" "$TESTDIR/big" "$((MiB + 1))" $((MiB + bs)) $((MiB + bs))
	# every pair must still differ/match as it did
	cmp -s "$MNT/tail-differs/1" "$TESTDIR/y1" && cmp -s "$MNT/tail-differs/2" "$TESTDIR/y2" &&
		cmp -s "$MNT/length-differs/2" "$TESTDIR/x" && cmp -s "$MNT/same/2" "$TESTDIR/x1" &&
		cmp -s "$MNT/big-tail/2" "$TESTDIR/big" || _fail "$fs: contents changed"
	teardown_fs
done
