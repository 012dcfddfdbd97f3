#!/bin/bash
# A writer doing 4 KiB random writes (fdatasync every 16) to a fragmented
# file all through a defrag of it with 1 MiB chunks loses none of its
# writes: afterwards the file equals the starting content with the
# writer's log replayed in order. The writer's longest single write is
# logged (and must stay under 5 s: no hang). btrfs and XFS (dedupe), ext4
# (move extent). On XFS and ext4, which overwrite in place, the writer does
# not undo the defrag either: the file ends with a tenth of its extents at
# most (on btrfs every write is copied anyway).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/defrag-lib.sh"
setup
require_cmd filefrag

for fs in ${DEFRAG_FS:-btrfs xfs ext4}; do
	setup_fs "$fs"
	make_fragmented "$MNT/f" 64
	e0=$(extents "$MNT/f")
	check_ge "$e0" 1000 "$fs: extents before (precondition)"
	copy_plain "$MNT/f" "$TESTDIR/base"
	rand_file "$MNT/other" 1024
	sha "$MNT/other" >"$TESTDIR/other.sha"

	rm -f "$TESTDIR/stop" "$TESTDIR/wlog" "$TESTDIR/wlog.ready"
	python3 "$FRAG_PY" writer "$MNT/f" "$TESTDIR/wlog" "$TESTDIR/stop" 16 60 \
		>"$TESTDIR/writer.json" &
	wpid=$!
	for ((i = 0; i < 100; i++)); do
		[ -e "$TESTDIR/wlog.ready" ] && break
		sleep 0.05
	done
	[ -e "$TESTDIR/wlog.ready" ] || _fail "$fs: the writer did not start"
	sleep 0.5
	t0=$(date +%s.%N)
	defrag --chunk-size 1M --delay 20 "$MNT/f"
	t1=$(date +%s.%N)
	sleep 0.5
	touch "$TESTDIR/stop"
	wait "$wpid" || _fail "$fs: the writer failed"
	cat "$TESTDIR/writer.json" >&3

	read -r writes wt0 wt1 max med p99 msync < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["writes"], d["t0"], d["t1"], d["max_ms"], d["median_ms"], d["p99_ms"], d["max_sync_ms"])
' "$TESTDIR/writer.json")
	awk -v a="$wt0" -v b="$t0" -v c="$wt1" -v d="$t1" \
		'BEGIN { exit !(a < b && c > d) }' ||
		_fail "$fs: the writer did not write all through the defrag"
	log "$fs: defrag took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s; the writer made $writes writes; write latency: longest $max ms, median $med ms, p99 $p99 ms; longest fdatasync $msync ms"
	check_ge "$writes" 1000 "$fs: writes"
	# (on ext4 some 1 MiB chunks are contiguous already)
	check_ge "$(json_get chunks)" 32 "$fs: chunks tried (1 MiB each)"
	check_ge "$(json_get bytes_moved)" $((32 * MiB)) "$fs: bytes_moved"
	check_eq "$(json_get errors)" 0 "$fs: errors"
	e1=$(extents "$MNT/f")
	log "$fs: chunks_retried $(json_get chunks_retried), chunks_skipped $(json_get chunks_skipped), extents $e0 -> $e1"
	# btrfs copies every write, and on XFS a block the temporary copy
	# still shares is copied on write too: with a random writer running,
	# only ext4 (which moves blocks) must end less fragmented.
	[ "$fs" != ext4 ] ||
		check_le "$e1" $((e0 / 10)) "$fs: extents after the defrag with the writer (before: $e0)"
	check_le "${max%.*}" 5000 "$fs: longest write, ms"

	python3 "$FRAG_PY" replay "$TESTDIR/base" "$TESTDIR/wlog" "$TESTDIR/expected"
	want=$(sha "$TESTDIR/expected")
	got=$(sha "$MNT/f")
	if [ "$want" != "$got" ]; then
		cmp -l "$TESTDIR/expected" "$MNT/f" | awk '{ print int(($1 - 1) / 4096) }' |
			uniq | head -n 20 | sed 's/^/   differing 4 KiB block: /' >&3
		_fail "$fs: the file is not the writer's final image (writes lost)"
	fi
	log "ok: $fs: the file is the starting content + the writer's $writes writes"
	# ...also after dropping the page cache: what is on disk.
	drop_caches
	check_str "$(sha "$MNT/f")" "$want" "$fs: sha256 of the file read from disk"
	check_str "$(sha "$MNT/other")" "$(cat "$TESTDIR/other.sha")" "$fs: the other file"
	rm -f "$TESTDIR/base" "$TESTDIR/expected"
	teardown_fs
done
