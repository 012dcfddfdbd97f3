#!/bin/bash
# An unprivileged scan (uid 65534): root-only files (0600) are counted as
# unreadable, root-owned readable files are still hashed (O_NOATIME is
# refused for files one does not own), the user's own duplicates are
# deduped, exit 0, nothing lost.
. "$(dirname "$0")/lib.sh"
setup
require_cmd setpriv
nobody=65534
rand_file "$TESTDIR/a" 4096
rand_file "$TESTDIR/r" 4096
chmod 711 "$TESTDIR"
mkdir "$TESTDIR/nobody"
chown "$nobody:$nobody" "$TESTDIR/nobody"

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	chmod 755 "$MNT"
	mkdir -m 755 "$MNT/pub" "$MNT/secret"
	mkdir -m 700 "$MNT/closed"
	copy_plain "$TESTDIR/a" "$MNT/pub/a"
	copy_plain "$TESTDIR/a" "$MNT/pub/a2"
	chown "$nobody:$nobody" "$MNT/pub/a" "$MNT/pub/a2"
	copy_plain "$TESTDIR/r" "$MNT/pub/r"
	copy_plain "$TESTDIR/r" "$MNT/pub/r2"
	chmod 644 "$MNT"/pub/*
	copy_plain "$TESTDIR/a" "$MNT/secret/s"
	copy_plain "$TESTDIR/a" "$MNT/secret/s2"
	chmod 600 "$MNT"/secret/*
	copy_plain "$TESTDIR/a" "$MNT/closed/c"
	manifest >"$TESTDIR/before"
	setpriv --reuid=$nobody --regid=$nobody --clear-groups test -r "$MNT/pub/a" ||
		_fail "uid $nobody cannot reach $MNT (a parent directory is closed)"

	db=$TESTDIR/nobody/index.$fs
	out=$TESTDIR/nobody.json
	rc=0
	log "run: setpriv --reuid=$nobody ... $DEDUPD scan --json --no-progress --db $db $MNT"
	setpriv --reuid=$nobody --regid=$nobody --clear-groups \
		"$DEDUPD" scan --json --no-progress --db "$db" "$MNT" \
		>"$out" 2>"$out.err" || rc=$?
	sed 's/^/   stdout: /' "$out"
	sed 's/^/   stderr: /' "$out.err"
	check_eq "$rc" 0 "$fs: exit status of the unprivileged scan"
	check_manifest "$TESTDIR/before"
	REPORT=$out
	check_report_keys
	# the two 0600 files, and maybe the closed directory as one entry
	check_between "$(json_get files_unreadable)" 2 3 "$fs: files_unreadable"
	check_eq "$(json_get files_scanned)" 4 "$fs: files_scanned (a, a2, r, r2)"
	check_ge "$(json_get bytes_hashed)" $((16 * MiB)) "$fs: bytes_hashed (a, a2, r, r2)"
	check_ge "$(json_get bytes_deduped)" $((4 * MiB)) "$fs: bytes_deduped (the user's own pair)"
	check_eq "$(shared_bytes "$MNT/pub/a2")" $((4 * MiB)) "$fs: shared bytes of the user's copy"
	check_eq "$(shared_bytes "$MNT/secret/s" "$MNT/secret/s2" "$MNT/closed/c")" 0 \
		"$fs: shared bytes of files the user cannot read"
	teardown_fs
done
