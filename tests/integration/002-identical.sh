#!/bin/bash
# Identical files are deduped: the report says so, df says so, FIEMAP shows
# the extents shared, contents and timestamps are unchanged.
. "$(dirname "$0")/lib.sh"
setup
MOUNT_OPTS=strictatime	# every read updates atime, except with O_NOATIME
rand_file "$TESTDIR/src" 16384
rand_file "$TESTDIR/uniq" 8192
dup=$((32 * MiB))	# two of the three 16 MiB copies

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	mkdir -p "$MNT/d1" "$MNT/d2/sub"
	copy_plain "$TESTDIR/src" "$MNT/d1/a"
	copy_plain "$TESTDIR/src" "$MNT/d2/a-copy"
	copy_plain "$TESTDIR/src" "$MNT/d2/sub/a copy with spaces"
	copy_plain "$TESTDIR/uniq" "$MNT/d1/unique"
	manifest >"$TESTDIR/before"
	times_manifest >"$TESTDIR/times.before"
	u0=$(used_bytes)

	scan "$MNT"
	times_manifest >"$TESTDIR/times.after"
	check_manifest "$TESTDIR/before"
	diff -u "$TESTDIR/times.before" "$TESTDIR/times.after" ||
		_fail "$fs: timestamps (atime/mtime/ctime) changed"
	check_report_keys
	check_str "$(json_get filesystem)" "$fs" "$fs: filesystem"
	check_eq "$(json_get files_seen)" 4 "$fs: files_seen"
	check_eq "$(json_get files_scanned)" 4 "$fs: files_scanned"
	check_between "$(json_get bytes_hashed)" $((24 * MiB)) $((56 * MiB)) "$fs: bytes_hashed"
	check_between "$(json_get bytes_duplicate)" "$dup" $((dup + 256 * KiB)) "$fs: bytes_duplicate"
	check_between "$(json_get bytes_deduped)" "$dup" $((dup + 256 * KiB)) "$fs: bytes_deduped"
	check_ge "$(json_get dedupe_calls)" 1 "$fs: dedupe_calls"
	check_eq "$(json_get differs)" 0 "$fs: differs"
	check_ge "$(json_get bytes_freed)" $((dup * 8 / 10)) "$fs: bytes_freed (report)"

	u1=$(used_bytes)
	check_ge $((u0 - u1)) $((dup * 8 / 10)) "$fs: used bytes freed (df)"
	for f in d1/a d2/a-copy "d2/sub/a copy with spaces"; do
		check_eq "$(shared_bytes "$MNT/$f")" $((16 * MiB)) "$fs: shared bytes of $f"
	done
	check_eq "$(shared_bytes "$MNT/d1/unique")" 0 "$fs: shared bytes of the unique file"
	if [ "$fs" = btrfs ]; then
		read -r total excl shared _ < <(btrfs filesystem du -s --raw "$MNT" | tail -n 1)
		log "btrfs filesystem du: total=$total exclusive=$excl set_shared=$shared"
		check_le "$excl" $((9 * MiB)) "btrfs du exclusive (only the unique file)"
		check_between "$shared" $((16 * MiB)) $((17 * MiB)) "btrfs du set shared"
	fi
	teardown_fs
done
