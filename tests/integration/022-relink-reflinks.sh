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

# A reflink outside the scanned path: btrfs finds it (LOGICAL_INO_V2) and it
# follows, so the extent is freed; XFS cannot name it, so its blocks stay
# and the report counts them as pinned. Used space never grows.
for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	mkdir "$MNT/in" "$MNT/out"
	copy_plain "$TESTDIR/a" "$MNT/in/b"
	copy_plain "$TESTDIR/a" "$MNT/in/a"
	cp --reflink=always "$MNT/in/a" "$MNT/out/r"
	manifest >"$TESTDIR/before"
	u0=$(used_bytes)
	scan -t 1 "$MNT/in"
	check_manifest "$TESTDIR/before"
	u1=$(used_bytes)
	check_eq "$(json_get bytes_deduped)" $((16 * MiB)) "$fs, reflink outside: bytes_deduped"
	check_le "$u1" "$u0" "$fs, reflink outside: used bytes never grow"
	if [ "$fs" = btrfs ]; then
		check_eq "$(json_get bytes_pinned)" 0 "$fs, reflink outside: bytes_pinned"
		check_ge $((u0 - u1)) $((16 * MiB * 8 / 10)) "$fs, reflink outside: freed (it followed)"
	else
		check_eq "$(json_get bytes_pinned)" $((16 * MiB)) "$fs, reflink outside: bytes_pinned"
	fi
	teardown_fs
done
