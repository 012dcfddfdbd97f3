#!/bin/bash
# dedupd defrag on btrfs, XFS and ext4: a fragmented 64 MiB file (thousands
# of extents) ends in a few, its contents unchanged; the report counts what
# filefrag counts; --dry-run changes nothing (same physical extents); an
# unfragmented file is left where it is, and a second run has nothing to do.
# Usage errors exit 2 with one line; tmpfs and XFS without reflink exit 3,
# their files untouched.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/defrag-lib.sh"
setup
require_cmd filefrag

for fs in btrfs xfs ext4; do
	setup_fs "$fs"
	mkdir "$MNT/d"
	make_fragmented "$MNT/d/frag" 64
	rand_file "$MNT/d/plain" $((16 * 1024))
	sync
	e0=$(extents "$MNT/d/frag")
	p0=$(extents "$MNT/d/plain")
	check_ge "$e0" 1000 "$fs: extents of the fragmented file (precondition)"
	check_le "$p0" 2 "$fs: extents of the plain file (precondition)"
	phys_map "$MNT/d/frag" >"$TESTDIR/frag.map"
	phys_map "$MNT/d/plain" >"$TESTDIR/plain.map"
	manifest >"$TESTDIR/before"

	# --dry-run: the report, nothing moved.
	defrag --dry-run "$MNT/d"
	check_str "$(json_get filesystem)" "$fs" "$fs: filesystem"
	check_str "$(json_get dry_run)" true "$fs: dry_run"
	check_eq "$(json_get files)" 2 "$fs: dry run: files"
	check_eq "$(json_get files_fragmented)" 1 "$fs: dry run: files_fragmented"
	check_eq "$(json_get files_defragged)" 0 "$fs: dry run: files_defragged"
	check_eq "$(json_get extents_before)" $((e0 + p0)) "$fs: dry run: extents_before (filefrag's count)"
	check_eq "$(json_get extents_after)" $((e0 + p0)) "$fs: dry run: extents_after"
	check_eq "$(json_get bytes)" $((80 * MiB)) "$fs: dry run: bytes"
	check_eq "$(json_get bytes_moved)" 0 "$fs: dry run: bytes_moved"
	check_eq "$(json_get chunks)" 0 "$fs: dry run: chunks"
	check_eq "$(extents "$MNT/d/frag")" "$e0" "$fs: extents after the dry run"
	phys_map "$MNT/d/frag" | diff -q "$TESTDIR/frag.map" - >/dev/null ||
		_fail "$fs: the dry run moved extents"
	check_manifest "$TESTDIR/before"
	# Without --json it names the fragmented file.
	out=$("$DEDUPD" defrag --dry-run --no-progress "$MNT/d" 2>&1 3>&-)
	grep -q "^$MNT/d/frag: $e0 extents" <<<"$out" ||
		_fail "$fs: the dry run does not list the fragmented file: $out"
	grep -q "plain" <<<"$out" && _fail "$fs: the dry run lists the plain file: $out"

	# An unfragmented file alone: left where it is.
	defrag "$MNT/d/plain"
	check_eq "$(json_get files)" 1 "$fs: plain: files"
	check_eq "$(json_get files_fragmented)" 0 "$fs: plain: files_fragmented"
	check_eq "$(json_get bytes_moved)" 0 "$fs: plain: bytes_moved"
	check_eq "$(json_get chunks)" 0 "$fs: plain: chunks"

	# The real thing.
	defrag "$MNT/d"
	check_manifest "$TESTDIR/before"
	e1=$(extents "$MNT/d/frag")
	check_le "$e1" 4 "$fs: extents of the 64 MiB file after defrag (from $e0)"
	check_le $((e1 * 100)) "$e0" "$fs: extents after x 100 <= before"
	check_eq "$(json_get files)" 2 "$fs: files"
	check_eq "$(json_get files_fragmented)" 1 "$fs: files_fragmented"
	check_eq "$(json_get files_defragged)" 1 "$fs: files_defragged"
	check_eq "$(json_get extents_before)" $((e0 + p0)) "$fs: extents_before"
	check_eq "$(json_get extents_after)" $((e1 + p0)) "$fs: extents_after (filefrag's count)"
	check_between "$(json_get bytes_moved)" $((48 * MiB)) $((64 * MiB)) "$fs: bytes_moved"
	check_eq "$(json_get chunks)" 4 "$fs: chunks (16 MiB each)"
	check_eq "$(json_get chunks_retried)" 0 "$fs: chunks_retried"
	check_eq "$(json_get chunks_skipped)" 0 "$fs: chunks_skipped"
	check_eq "$(json_get bytes_relinked)" 0 "$fs: bytes_relinked (nothing shared)"
	check_eq "$(json_get errors)" 0 "$fs: errors"
	phys_map "$MNT/d/plain" | diff -q "$TESTDIR/plain.map" - >/dev/null ||
		_fail "$fs: the unfragmented file was moved"
	[ "$(ls -A "$MNT/d" | tr '\n' ' ')" = 'frag plain ' ] ||
		_fail "$fs: names left in the directory: $(ls -A "$MNT/d")"

	# Nothing left to do.
	defrag "$MNT/d"
	check_eq "$(json_get files_fragmented)" 0 "$fs: second run: files_fragmented"
	check_eq "$(json_get bytes_moved)" 0 "$fs: second run: bytes_moved"
	check_manifest "$TESTDIR/before"
	teardown_fs
done

# ---- usage errors: exit 2, one line, nothing on stdout ----
setup_fs btrfs 256M
rand_file "$MNT/f" 1024
for args in "" "--bogus $MNT" "--chunk-size $MNT" "--chunk-size 512K $MNT" \
	"--chunk-size 2G $MNT" "--chunk-size 1000000 $MNT" \
	"--chunk-size lots $MNT" "--delay -1 $MNT" "--delay x $MNT" \
	"--min-extent 0 $MNT" "--min-extent nan $MNT" "-c"; do
	rc=0
	"$DEDUPD" defrag $args >"$TESTDIR/out" 2>"$TESTDIR/err" 3>&- || rc=$?
	[ "$rc" = 2 ] || _fail "dedupd defrag $args: exit $rc, wanted 2"
	check_one_line_error "$TESTDIR/err"
	[ ! -s "$TESTDIR/out" ] || _fail "dedupd defrag $args: stdout: $(cat "$TESTDIR/out")"
	log "ok: 'dedupd defrag $args': exit 2: $(cat "$TESTDIR/err")"
done
# A path that does not exist: a runtime error.
DEFRAG_RC=1 defrag "$MNT/nonexistent"
check_one_line_error "$REPORT.err"
# Two filesystems in one run: refused.
mnt1=$MNT
setup_fs btrfs 256M
DEFRAG_RC=1 defrag "$mnt1" "$MNT"
check_one_line_error "$REPORT.err"

# ---- unsupported filesystems: exit 3, files untouched ----
for fs in tmpfs xfs-noreflink; do
	setup_fs "$fs" 512M
	rand_file "$MNT/f" 4096
	manifest >"$TESTDIR/before.$fs"
	DEFRAG_RC=3 defrag "$MNT"
	check_one_line_error "$REPORT.err"
	grep -q "$fs\|${fs%-noreflink}" "$REPORT.err" ||
		_fail "$fs: the error does not name the filesystem: $(cat "$REPORT.err")"
	DEFRAG_RC=3 defrag --dry-run "$MNT/f"
	check_manifest "$TESTDIR/before.$fs"
done
