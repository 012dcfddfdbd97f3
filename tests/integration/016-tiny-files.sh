#!/bin/bash
# Empty and tiny files (0, 1, 100, 2048, 4095, 4096 bytes, in pairs): no
# crash, every file counted once, a block-sized pair deduped; --min-size
# skips them all.
. "$(dirname "$0")/lib.sh"
setup

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	n=0
	for size in 0 1 100 2048 4095 4096; do
		rand_bytes "$TESTDIR/t" "$size"
		copy_plain "$TESTDIR/t" "$MNT/$size.a"
		copy_plain "$TESTDIR/t" "$MNT/$size.b"
		n=$((n + 2))
	done
	echo x >"$MNT/x"
	n=$((n + 1))
	manifest >"$TESTDIR/before"

	scan "$MNT"
	check_manifest "$TESTDIR/before"
	check_report_keys
	check_eq "$(json_get files_seen)" "$n" "$fs: files_seen"
	for k in files_unchanged files_changed files_vanished files_unreadable differs; do
		check_eq "$(json_get $k)" 0 "$fs: $k"
	done
	check_eq $(($(json_get files_scanned) + $(json_get files_skipped))) "$n" \
		"$fs: files_scanned + files_skipped"
	check_ge "$(json_get bytes_deduped)" 4096 "$fs: bytes_deduped"
	check_eq "$(shared_bytes "$MNT/4096.b")" 4096 "$fs: shared bytes of the 4096-byte copy"

	DB=$TESTDIR/index.min scan --min-size 5000 "$MNT"
	check_eq "$(json_get files_seen)" "$n" "$fs: files_seen with --min-size 5000"
	check_eq "$(json_get files_skipped)" "$n" "$fs: files_skipped with --min-size 5000"
	check_eq "$(json_get bytes_hashed)" 0 "$fs: bytes_hashed with --min-size 5000"
	check_manifest "$TESTDIR/before"
	teardown_fs
done
