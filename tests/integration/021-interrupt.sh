#!/bin/bash
# SIGINT (Ctrl-C) or SIGTERM during a scan: it stops cleanly with exit 130,
# saves the index and prints its report; nothing is lost, and the next scan
# takes up only what the first one did not finish.
. "$(dirname "$0")/lib.sh"
setup

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	big_tree "$MNT" 48 4096		# d1/ and its copy d2/: 192 MiB dup
	manifest >"$TESTDIR/before"
	u0=$(used_bytes)

	drop_caches
	# --read-all: the hasher reads the 384 MiB, so the scan is still
	# taking files up 20 ms in (keyed by csums on btrfs, it is done by
	# then and exits 0)
	scan_bg -t 1 --read-all "$MNT"
	scan_step 0.02 || _fail "$fs: the scan ended before it could be interrupted"
	kill -INT "$SCAN_PID"
	SCAN_RC=130 scan_wait
	check_manifest "$TESTDIR/before"
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$REPORT" ||
		_fail "$fs: no JSON report after SIGINT"
	grep -q interrupted "$REPORT.err" || _fail "$fs: no 'interrupted' line"
	first=$(json_get files_scanned)
	log "$fs: $first of 96 files scanned before SIGINT"
	check_le "$first" 95 "$fs: files scanned before SIGINT"

	scan --read-all "$MNT"
	check_manifest "$TESTDIR/before"
	check_eq "$(json_get files_unchanged)" "$first" \
		"$fs: files the interrupted scan indexed are not read again"
	u1=$(used_bytes)
	check_ge $((u0 - u1)) $((192 * MiB * 8 / 10)) "$fs: used bytes freed by both scans"
	teardown_fs
done
