#!/bin/bash
# A chunk that keeps changing during the defrag is retried, then skipped:
# a writer rewrites 64 KiB inside the sixth 1 MiB chunk of a fragmented
# 8 MiB file without pause all through `dedupd defrag --chunk-size 1M`. The
# report counts that chunk retried and skipped (and no other skipped), a
# warning names the file and the chunk, every other chunk is defragmented,
# and the file holds the writer's last data over the original contents.
# Then a writer that stops once the first pass is over (the last chunk
# moved): the retry moves the chunk, nothing is skipped. btrfs, XFS and ext4
# (there, dirty pages make the move fail with EBUSY; the second part needs
# a fragmented chunk after the sixth, which ext4's layout does not give).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/defrag-lib.sh"
setup
require_cmd filefrag
OFF=$((5 * MiB + 64 * KiB)) LEN=$((64 * KiB))
C0=$((5 * MiB)) C1=$((6 * MiB))	# its chunk

# extents_in FILE LO HI / extents_outside FILE LO HI: extents of FILE that
# lie in / are not in [LO, HI) (physically contiguous pieces are one).
_extents_range() {
	python3 - "$IT_DIR" "$@" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import fiemap
mode, lo, hi = sys.argv[2], int(sys.argv[4]), int(sys.argv[5])
n, nxt = 0, None
for log, phys, length, flags in fiemap.extents(sys.argv[3]):
    if (log >= lo and log + length <= hi) != (mode == "in"):
        nxt = None
        continue
    if (log, phys) != nxt:
        n += 1
    nxt = (log + length, phys + length)
print(n)
EOF
}
extents_in() { _extents_range in "$@"; }
extents_outside() { _extents_range out "$@"; }

# expected FILE: $TESTDIR/base with the rewriter's last data at OFF.
expected() {
	cp "$TESTDIR/base" "$1"
	dd if="$TESTDIR/last" of="$1" bs=64K seek=$((OFF / LEN)) conv=notrunc \
		status=none
}

start_rewriter() {
	rm -f "$TESTDIR/stop" "$TESTDIR/last" "$TESTDIR/last.ready"
	python3 "$FRAG_PY" rewriter "$MNT/f" "$OFF" "$LEN" "$TESTDIR/stop" \
		"$TESTDIR/last" >"$TESTDIR/rewrites" &
	rpid=$!
	for ((i = 0; i < 100; i++)); do
		[ -e "$TESTDIR/last.ready" ] && return 0
		sleep 0.05
	done
	_fail "$fs: the rewriter did not start"
}

stop_rewriter() {
	touch "$TESTDIR/stop"
	wait "$rpid" || _fail "$fs: the rewriter failed"
	log "$fs: the rewriter made $(cat "$TESTDIR/rewrites") rewrites"
}

for fs in ${DEFRAG_FS:-btrfs xfs ext4}; do
	setup_fs "$fs"
	# ---- a writer that never stops ----
	make_fragmented "$MNT/f" 8 1024
	check_ge "$(extents_outside "$MNT/f" $C0 $C1)" 100 \
		"$fs: extents outside the changing chunk (precondition)"
	check_ge "$(extents_in "$MNT/f" $C0 $C1)" 10 \
		"$fs: extents in the changing chunk (precondition)"
	copy_plain "$MNT/f" "$TESTDIR/base"
	start_rewriter
	defrag --chunk-size 1M "$MNT/f"
	stop_rewriter
	expected "$TESTDIR/want"
	check_str "$(sha "$MNT/f")" "$(sha "$TESTDIR/want")" \
		"$fs: sha256 of the file (original + the writer's last data)"
	# Whether the rewriter lands between a chunk's copy and its dedupe
	# is timing (on XFS it often does not): the outcome is what counts.
	# A chunk skipped is the changing one, and it is named.
	log "$fs: chunks_retried $(json_get chunks_retried)"
	check_le "$(json_get chunks_skipped)" 1 "$fs: chunks_skipped"
	check_eq "$(json_get errors)" 0 "$fs: errors"
	if [ "$(json_get chunks_skipped)" = 1 ]; then
		grep -q "'$MNT/f' kept changing at $C0 " "$REPORT.err" ||
			_fail "$fs: no warning naming the file and the chunk at 5 MiB"
		[ "$(grep -c . "$REPORT.err")" = 1 ] ||
			_fail "$fs: more than one line on stderr"
	fi
	check_le "$(extents_outside "$MNT/f" $C0 $C1)" 8 \
		"$fs: extents outside the changing chunk after defrag"
	drop_caches
	check_str "$(sha "$MNT/f")" "$(sha "$TESTDIR/want")" "$fs: sha256 read from disk"
	if [ "$fs" = ext4 ]; then	# no fragmented chunk after the sixth
		teardown_fs
		continue
	fi

	# ---- a writer that stops after the first pass ----
	rm -f "$MNT/f"
	make_fragmented "$MNT/f" 8 1024
	e0=$(extents "$MNT/f")
	copy_plain "$MNT/f" "$TESTDIR/base"
	start_rewriter
	_new_report
	log "run (background): $DEDUPD defrag --json --no-progress --chunk-size 1M --delay 300 $MNT/f"
	"$DEDUPD" defrag --json --no-progress --chunk-size 1M --delay 300 "$MNT/f" \
		>"$REPORT" 2>"$REPORT.err" 3>&- &
	dpid=$!
	# The last chunk moved: the first pass is over.
	while [ "$(extents_in "$MNT/f" $((7 * MiB)) $((8 * MiB)))" -gt 1 ]; do
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.02
	done
	stop_rewriter
	rc=0
	wait "$dpid" || rc=$?
	sed 's/^/   stdout: /' "$REPORT" >&3
	sed 's/^/   stderr: /' "$REPORT.err" >&3
	check_eq "$rc" 0 "$fs: defrag exit status"
	check_defrag_report
	expected "$TESTDIR/want"
	check_str "$(sha "$MNT/f")" "$(sha "$TESTDIR/want")" \
		"$fs: sha256 of the file (original + the writer's last data)"
	# Whether the writer hit a chunk in its window before it stopped is
	# timing: only the outcome is checked (nothing skipped, data right).
	log "$fs: writer stopped: chunks_retried $(json_get chunks_retried)"
	check_eq "$(json_get chunks_skipped)" 0 "$fs: writer stopped: chunks_skipped"
	check_le "$(extents "$MNT/f")" 8 "$fs: writer stopped: extents after (from $e0)"
	[ ! -s "$REPORT.err" ] || _fail "$fs: stderr: $(cat "$REPORT.err")"
	teardown_fs
done
