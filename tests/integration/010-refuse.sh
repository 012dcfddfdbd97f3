#!/bin/bash
# Filesystems that cannot dedupe (ext4, tmpfs, XFS without reflink): exit 3,
# one line on stderr, nothing changed.
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/a" 1024

for fs in ext4 tmpfs xfs-noreflink; do
	setup_fs "$fs" 512M
	copy_plain "$TESTDIR/a" "$MNT/a"
	copy_plain "$TESTDIR/a" "$MNT/a2"
	manifest >"$TESTDIR/before"
	SCAN_RC=3 scan "$MNT"
	check_one_line_error "$REPORT.err"
	SCAN_RC=3 scan --dry-run "$MNT/a"
	check_one_line_error "$REPORT.err"
	check_manifest "$TESTDIR/before"
	teardown_fs
done
