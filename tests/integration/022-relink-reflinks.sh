#!/bin/bash
# A duplicate whose extent other files share through reflinks: when that
# extent is the one deduped away, its other names are deduped onto the same
# source too ("relinked"), or the extent would stay pinned and nothing be
# freed. The plain copy b is created (and with one thread, indexed) first,
# so a, the file with reflinks, is the destination.
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/a" 16384

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	copy_plain "$TESTDIR/a" "$MNT/b"
	copy_plain "$TESTDIR/a" "$MNT/a"
	cp --reflink=always "$MNT/a" "$MNT/r1"
	cp --reflink=always "$MNT/a" "$MNT/r2"
	manifest >"$TESTDIR/before"
	u0=$(used_bytes)

	scan -t 1 "$MNT"
	check_manifest "$TESTDIR/before"
	check_eq "$(json_get bytes_hashed)" $((32 * MiB)) "$fs: bytes_hashed (a's extent once)"
	check_eq "$(json_get bytes_deduped)" $((16 * MiB)) "$fs: bytes_deduped"
	check_eq "$(json_get bytes_relinked)" $((32 * MiB)) "$fs: bytes_relinked (r1 and r2)"
	u1=$(used_bytes)
	check_ge $((u0 - u1)) $((16 * MiB * 8 / 10)) "$fs: used bytes freed (df)"
	check_ge "$(shared_bytes "$MNT/b" "$MNT/a" "$MNT/r1" "$MNT/r2")" $((64 * MiB)) \
		"$fs: all four share one extent"
	teardown_fs
done
