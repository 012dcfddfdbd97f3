#!/bin/bash
# --dry-run finds the duplicates, reports them and changes nothing; a real
# scan afterwards (same index) still dedupes them.
. "$(dirname "$0")/lib.sh"
setup
MOUNT_OPTS=strictatime	# every read updates atime, except with O_NOATIME
rand_file "$TESTDIR/a" 8192
rand_file "$TESTDIR/u" 4096
dup=$((16 * MiB))

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	for f in a1 a2 a3; do copy_plain "$TESTDIR/a" "$MNT/$f"; done
	copy_plain "$TESTDIR/u" "$MNT/u"
	manifest >"$TESTDIR/before"
	times_manifest >"$TESTDIR/times.before"
	u0=$(used_bytes)

	scan --dry-run "$MNT"
	times_manifest >"$TESTDIR/times.after"
	check_manifest "$TESTDIR/before"
	diff -u "$TESTDIR/times.before" "$TESTDIR/times.after" ||
		_fail "$fs: a dry run changed timestamps"
	check_str "$(json_get dry_run)" true "$fs: dry_run"
	check_between "$(json_get bytes_duplicate)" "$dup" $((dup + 256 * KiB)) "$fs: bytes_duplicate"
	check_eq "$(json_get bytes_deduped)" 0 "$fs: bytes_deduped"
	check_eq "$(json_get bytes_relocated)" 0 "$fs: bytes_relocated"
	check_eq "$(json_get dedupe_calls)" 0 "$fs: dedupe_calls"
	u1=$(used_bytes)
	check_between $((u1 - u0)) $((-128 * KiB)) $((128 * KiB)) "$fs: used bytes change"
	check_eq "$(shared_bytes "$MNT"/a1 "$MNT"/a2 "$MNT"/a3)" 0 "$fs: shared bytes"

	scan "$MNT"
	check_manifest "$TESTDIR/before"
	check_str "$(json_get dry_run)" false "$fs: dry_run"
	check_between "$(json_get bytes_deduped)" "$dup" $((dup + 256 * KiB)) \
		"$fs: bytes_deduped of a real scan after a dry run"
	u2=$(used_bytes)
	check_ge $((u0 - u2)) $((dup * 8 / 10)) "$fs: used bytes freed by the real scan"
	teardown_fs
done
