#!/bin/bash
# Files rewritten while a scan runs (new content, in-place overwrite, content
# of another file, truncation, replace by rename): each ends with exactly
# what was written last, every other file is intact, the scan exits 0.
. "$(dirname "$0")/lib.sh"
setup
targets=(d2/f00 d2/f01 d2/f02 d2/f03 d2/f04 d2/f05 d1/f10 d1/f11 d1/f12 d2/f13)

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	big_tree "$MNT" 32 4096
	manifest >"$TESTDIR/before"
	rm -rf "$TESTDIR/shadow"
	mkdir "$TESTDIR/shadow"
	for t in "${targets[@]}"; do cp "$MNT/$t" "$TESTDIR/shadow/${t//\//_}"; done

	drop_caches
	scan_bg -t 1 "$MNT"
	during=0
	for ((i = 0; i < 400; i++)); do
		# the scan runs 1-9 ms, then the file changes while it is stopped
		scan_step "0.00$((i % 9 + 1))" || break
		t=${targets[i % ${#targets[@]}]}
		sh=$TESTDIR/shadow/${t//\//_}
		case $((i % 5)) in
		0)	# new content, O_TRUNC rewrite
			rand_file "$TESTDIR/new" 4096
			cp "$TESTDIR/new" "$sh"
			copy_plain "$TESTDIR/new" "$MNT/$t" ;;
		1)	# 1 MiB overwritten in place
			rand_file "$TESTDIR/new" 1024
			dd if="$TESTDIR/new" of="$sh" bs=1M seek=1 conv=notrunc status=none
			dd if="$TESTDIR/new" of="$MNT/$t" bs=1M seek=1 conv=notrunc status=none ;;
		2)	# becomes a copy of another file (a duplicate again)
			cp "$MNT/d1/f20" "$sh"
			copy_plain "$MNT/d1/f20" "$MNT/$t" ;;
		3)	# shrinks
			truncate -s 1000000 "$sh"
			truncate -s 1000000 "$MNT/$t" ;;
		4)	# replaced by rename, as editors do
			rand_file "$TESTDIR/new" 2048
			cp "$TESTDIR/new" "$sh"
			copy_plain "$TESTDIR/new" "$MNT/$t.tmp"
			mv "$MNT/$t.tmp" "$MNT/$t" ;;
		esac
		during=$((during + 1))
	done
	scan_wait
	log "$fs: $during changes made while the scan ran"
	check_ge "$during" 10 "$fs: changes made while the scan ran (tree too small?)"

	for t in "${targets[@]}"; do
		cmp "$TESTDIR/shadow/${t//\//_}" "$MNT/$t" ||
			_fail "$fs: $t does not hold what was last written to it"
	done
	printf '%s\n' "${targets[@]/#/./}" >"$TESTDIR/targets"
	awk 'NR == FNR { t[$0]; next } !($2 in t)' "$TESTDIR/targets" "$TESTDIR/before" \
		>"$TESTDIR/before.others"
	manifest | awk 'NR == FNR { t[$0]; next } !($2 in t)' "$TESTDIR/targets" - \
		>"$TESTDIR/after.others"
	diff -u "$TESTDIR/before.others" "$TESTDIR/after.others" ||
		_fail "$fs: files not rewritten changed"
	check_eq "$(wc -l <"$TESTDIR/after.others")" $((64 - ${#targets[@]})) "$fs: untouched files"

	# A quiet second pass over the changed tree keeps it intact too.
	manifest >"$TESTDIR/after"
	scan "$MNT"
	check_manifest "$TESTDIR/after"
	teardown_fs
done
