#!/bin/bash
# The harness itself: the helpers the other tests rely on must be able to
# fail. A manifest catches a changed file, FIEMAP sees reflinks and holes,
# a plain copy is not a reflink, used_bytes moves when data is written.
# Needs no dedupd.
. "$(dirname "$0")/lib.sh"
setup --no-dedupd

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	rand_file "$TESTDIR/a" 4096
	copy_plain "$TESTDIR/a" "$MNT/a"
	copy_plain "$MNT/a" "$MNT/plain"
	cp --reflink=always "$MNT/a" "$MNT/ref"
	check_eq "$(shared_bytes "$MNT/plain")" 0 "$fs: shared bytes of a plain copy"
	check_eq "$(shared_bytes "$MNT/ref")" $((4 * MiB)) "$fs: shared bytes of a reflink"

	rand_file "$TESTDIR/big" 16384
	sparse_file "$MNT/sparse" 16384 "$TESTDIR/big" 0:64 8192:128
	check_eq "$(data_segments "$MNT/sparse" | wc -l)" 2 "$fs: data segments of a sparse file"
	copy_plain "$MNT/sparse" "$MNT/sparse2"
	check_str "$(data_segments "$MNT/sparse2")" "$(data_segments "$MNT/sparse")" \
		"$fs: segments of a plain copy of a sparse file"

	manifest >"$TESTDIR/before"
	check_manifest "$TESTDIR/before"
	flip_byte "$MNT/plain" 12345
	if (check_manifest "$TESTDIR/before") >/dev/null 2>&1 3>&1; then
		_fail "check_manifest missed a flipped byte"
	fi
	flip_byte "$MNT/plain" 12345
	check_manifest "$TESTDIR/before"

	u0=$(used_bytes)
	copy_plain "$TESTDIR/a" "$MNT/more"
	u1=$(used_bytes)
	check_ge $((u1 - u0)) $((3 * MiB)) "$fs: used bytes grow by a 4 MiB write"

	# The helpers' own failure paths.
	if (run_expect_rc 3 false) >/dev/null 2>&1 3>&1; then _fail "run_expect_rc"; fi
	if (run_mustfail "x" true) >/dev/null 2>&1 3>&1; then _fail "run_mustfail"; fi
	if (check_ge 1 2 x) >/dev/null 2>&1 3>&1; then _fail "check_ge"; fi
	run_expect_rc 1 false
	teardown_fs
done

# ext4 and tmpfs mount too (the refusal test uses them).
setup_fs ext4 256M
echo x >"$MNT/x"
setup_fs tmpfs 64M
echo x >"$MNT/x"
# Leave both mounted: the EXIT trap must undo them.
log "harness ok"
