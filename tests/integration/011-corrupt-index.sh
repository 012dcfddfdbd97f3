#!/bin/bash
# A damaged index is never trusted: a corrupted header, a truncated file,
# random garbage, an index of another filesystem are each rebuilt with a
# warning, exit 0, data intact; the rebuilt index then opens normally.
. "$(dirname "$0")/lib.sh"
setup
rand_file "$TESTDIR/a" 4096
rand_file "$TESTDIR/u" 2048
prev_index=

expect_rebuilt() { # WHAT
	scan "$MNT"
	check_str "$(json_get index_result)" rebuilt "$fs: index_result after $1"
	grep -q '^dedupd: ' "$REPORT.err" || _fail "$fs: no warning on stderr after $1"
	check_ge "$(json_get bytes_hashed)" 1 "$fs: bytes_hashed after rebuilding ($1)"
	check_manifest "$TESTDIR/before"
	scan "$MNT"
	check_str "$(json_get index_result)" opened "$fs: index_result after the rebuild ($1)"
	check_eq "$(json_get bytes_hashed)" 0 "$fs: bytes_hashed after the rebuild ($1)"
}

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	copy_plain "$TESTDIR/a" "$MNT/a"
	copy_plain "$TESTDIR/a" "$MNT/a2"
	copy_plain "$TESTDIR/u" "$MNT/u"
	manifest >"$TESTDIR/before"

	if [ -n "$prev_index" ]; then
		cp "$prev_index" "$DB"
		expect_rebuilt "an index of another filesystem"
	else
		scan "$MNT"
		check_str "$(json_get index_result)" created "$fs: index_result"
	fi
	scan "$MNT"
	check_str "$(json_get index_result)" opened "$fs: index_result"
	size=$(stat -c %s "$DB")

	dd if=/dev/urandom of="$DB" bs=1 seek=0 count=8 conv=notrunc status=none
	expect_rebuilt "a corrupted magic"
	# The header is kept in two copies (2 KiB each) so that a write torn
	# by a crash falls back to the other: fields damaged in one copy are
	# survived, in both the file is rebuilt.
	dd if=/dev/urandom of="$DB" bs=1 seek=8 count=56 conv=notrunc status=none
	scan "$MNT"
	check_str "$(json_get index_result)" opened "$fs: index_result with one header copy damaged"
	check_manifest "$TESTDIR/before"
	dd if=/dev/urandom of="$DB" bs=1 seek=8 count=56 conv=notrunc status=none
	dd if=/dev/urandom of="$DB" bs=1 seek=2056 count=56 conv=notrunc status=none
	expect_rebuilt "corrupted header fields"
	dd if=/dev/zero of="$DB" bs=1 seek=16 count=32 conv=notrunc status=none
	dd if=/dev/zero of="$DB" bs=1 seek=2064 count=32 conv=notrunc status=none
	expect_rebuilt "zeroed header fields"
	truncate -s 1000 "$DB"
	expect_rebuilt "truncation inside the header"
	truncate -s $((size / 2)) "$DB"
	expect_rebuilt "truncation to half its size"
	head -c $((size < 4 * MiB ? size : 4 * MiB)) /dev/urandom >"$DB"
	expect_rebuilt "random garbage"

	: >"$DB"
	scan "$MNT"
	case $(json_get index_result) in
	created | rebuilt) ;;
	*) _fail "$fs: index_result of an empty index file: $(json_get index_result)" ;;
	esac
	check_manifest "$TESTDIR/before"
	prev_index=$TESTDIR/index.$fs
	cp "$DB" "$prev_index"
	teardown_fs
done
