#!/bin/bash
# --exclude: a glob without '/' matches file names, one with '/' full paths;
# excluded files are neither hashed nor deduped.
. "$(dirname "$0")/lib.sh"
setup
for f in a b c; do rand_file "$TESTDIR/$f" 2048; done

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	mkdir -p "$MNT/keep" "$MNT/byname" "$MNT/bypath"
	copy_plain "$TESTDIR/a" "$MNT/keep/a"
	copy_plain "$TESTDIR/a" "$MNT/keep/a2"
	copy_plain "$TESTDIR/b" "$MNT/byname/b.tmp"
	copy_plain "$TESTDIR/b" "$MNT/byname/b2.tmp"
	copy_plain "$TESTDIR/c" "$MNT/bypath/c"
	copy_plain "$TESTDIR/c" "$MNT/bypath/c2"
	copy_plain "$TESTDIR/a" "$MNT/bypath/a3.tmp"
	manifest >"$TESTDIR/before"

	scan -x '*.tmp' --exclude "$MNT/bypath/*" "$MNT"
	check_manifest "$TESTDIR/before"
	check_eq "$(json_get files_seen)" 7 "$fs: files_seen"
	check_eq "$(json_get files_skipped)" 5 "$fs: files_skipped (excluded)"
	check_eq "$(json_get bytes_hashed)" $((4 * MiB)) "$fs: bytes_hashed (keep/ only)"
	check_eq "$(json_get bytes_deduped)" $((2 * MiB)) "$fs: bytes_deduped (keep/ only)"
	check_eq "$(shared_bytes "$MNT/keep/a2")" $((2 * MiB)) "$fs: shared bytes of keep/a2"
	check_eq "$(shared_bytes "$MNT"/byname/* "$MNT"/bypath/*)" 0 "$fs: shared bytes of excluded files"
	teardown_fs
done
