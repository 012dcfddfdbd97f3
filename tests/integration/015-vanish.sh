#!/bin/bash
# Files and directories that vanish or move while a scan runs: never fatal
# (exit 0), and every file that is left holds what it held.
. "$(dirname "$0")/lib.sh"
setup

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	big_tree "$MNT" 32 4096
	mkdir "$MNT/d3"
	for i in $(seq 1 200); do echo "small $i" >"$MNT/d3/s$i"; done
	manifest >"$TESTDIR/before"

	drop_caches
	scan_bg -t 1 "$MNT"
	during=0 moved=()
	for ((i = 31; i >= 0; i--)); do
		scan_step "0.00$((i % 5 + 1))" || break
		f=$(printf 'f%02d' "$i")
		case $((i % 4)) in
		0) rm -rf "$MNT/d3" ;;
		1) mv "$MNT/d1/$f" "$MNT/d1/$f.moved"; moved+=("$f") ;;
		*) rm -f "$MNT/d2/$f" "$MNT/d1/$f" ;;
		esac
		during=$((during + 1))
	done
	scan_wait
	log "$fs: $during removals made while the scan ran; files_vanished=$(json_get files_vanished)"
	check_ge "$during" 5 "$fs: removals made while the scan ran (tree too small?)"

	# What is left, under its old name, must be as it was.
	cp "$TESTDIR/before" "$TESTDIR/expect"
	for f in "${moved[@]}"; do
		sed -i "s|  \./d1/$f\$|  ./d1/$f.moved|" "$TESTDIR/expect"
	done
	manifest >"$TESTDIR/after"
	awk 'NR == FNR { e[$2] = $1; next } !($2 in e) || e[$2] != $1' \
		"$TESTDIR/expect" "$TESTDIR/after" >"$TESTDIR/bad"
	[ ! -s "$TESTDIR/bad" ] || { cat "$TESTDIR/bad"; _fail "$fs: files changed"; }
	check_ge "$(wc -l <"$TESTDIR/after")" 20 "$fs: files left"
	scan "$MNT"
	check_manifest "$TESTDIR/after"
	teardown_fs
done
