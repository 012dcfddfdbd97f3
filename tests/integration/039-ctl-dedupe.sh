#!/bin/bash
# dedupd ctl dedupe, on btrfs and XFS: without a daemon the work is done
# here, on the daemon's index (<state-dir>/<fs-uuid>/index), which the
# daemon then opens; with a daemon it does the work ahead of its queue (its
# settle delay keeps the same files queued) and answers what it freed, as
# text or JSON; --no-wait returns at once and the daemon still does it;
# --dry-run changes nothing; an index held by another process is waited
# for (--lock-timeout) or exits 4; SIGINT while waiting for the daemon exits
# 130; `dedupd scan` still hands over. Usage errors exit 2 with one line, a
# filesystem that cannot dedupe 3, a missing path or two filesystems 1.
# Every file keeps its contents.
. "$(dirname "$0")/lib.sh"
setup
require_cmd flock
SZ=2048		# KiB per file
for n in A B C D E U V W; do
	rand_file "$TESTDIR/$n" $SZ
done
F=$((SZ * KiB))
out=$TESTDIR/out err=$TESTDIR/err

# ctl [ARGS...]: `dedupd ctl dedupe --json ARGS`, which must exit $CTL_RC
# (default 0); the report is in $REPORT, stderr in $REPORT.err.
ctl() {
	run_report "${CTL_RC:-0}" "dedupd ctl dedupe" \
		"$DEDUPD" ctl dedupe --json "$@"
	[ "$RUN_RC" != 0 ] || check_json_object "dedupd ctl dedupe --json"
}

# The report's keys and types, as `dedupd ctl dedupe --help` lists them.
check_ctl_keys() {
	python3 - "$REPORT" <<'EOF' || _fail "ctl report keys or types wrong"
import json, sys
d = json.load(open(sys.argv[1]))
ints = """files_seen files_scanned files_unchanged files_skipped files_changed
files_vanished files_unreadable files_hardlinks errors bytes_hashed
bytes_duplicate bytes_deduped bytes_already_shared bytes_relocated
bytes_relinked bytes_freed dedupe_calls differs""".split()
for k in ints:
    assert isinstance(d[k], int), k
assert isinstance(d["seconds"], (int, float))
assert d["served_by"] in ("daemon", "local")
assert d["dry_run"] in (True, False) and d["queued"] is False
EOF
}

usage_error() { # ARGS...: exit 2, one line on stderr, nothing on stdout
	run_expect_rc 2 "$DEDUPD" "$@" >"$out" 2>"$err"
	check_one_line_error "$err"
	[ ! -s "$out" ] || _fail "usage error printed on stdout: $(head -c 300 "$out")"
}

# ---- the command line -------------------------------------------------------
run_expect_rc 0 "$DEDUPD" ctl --help >"$out"
grep -q 'dedupe PATH' "$out" || _fail "ctl --help does not list dedupe"
grep -q 'Exit status' "$out" || _fail "ctl --help gives no exit status"
run_expect_rc 0 "$DEDUPD" ctl dedupe --help >"$out"
for o in --wait --no-wait --json --socket --db --lock-timeout; do
	grep -q -- "$o" "$out" || _fail "ctl dedupe --help does not list $o"
done
run_expect_rc 0 "$DEDUPD" --help >"$out"
grep -q 'ctl' "$out" || _fail "dedupd --help does not list ctl"
usage_error ctl
usage_error ctl frobnicate
usage_error ctl dedupe
usage_error ctl dedupe --no-such-flag /
usage_error ctl dedupe --lock-timeout soon /
usage_error ctl dedupe --threads 0 /
usage_error ctl dedupe --socket

setup_fs tmpfs 64M
run_expect_rc 3 "$DEDUPD" ctl dedupe --no-config "$MNT" >"$out" 2>"$err"
check_one_line_error "$err"

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	S=$TESTDIR/state-$fs		# the daemon's --state-dir
	SOCK=$TESTDIR/sock-$fs
	common=(--no-config --socket "$SOCK" --state-dir "$S")

	run_mustfail "a missing path" "$DEDUPD" ctl dedupe "${common[@]}" \
		"$MNT/missing" >"$out" 2>"$err"
	check_one_line_error "$err"
	grep -q missing "$err" || _fail "the error does not name the path: $(cat "$err")"
	[ "$LAST_RC" = 1 ] || _fail "a missing path exits $LAST_RC, wanted 1"
	run_expect_rc 1 "$DEDUPD" ctl dedupe "${common[@]}" "$MNT" "$TESTDIR" \
		>"$out" 2>"$err"
	check_one_line_error "$err"
	grep -q 'another filesystem' "$err" || _fail "two filesystems: $(cat "$err")"

	# -- no daemon: done here, on <state-dir>/<fs-uuid>/index ---------------
	mkdir "$MNT/local"
	copy_plain "$TESTDIR/A" "$MNT/local/a1"
	copy_plain "$TESTDIR/A" "$MNT/local/a2"
	copy_plain "$TESTDIR/U" "$MNT/local/u"
	manifest >"$TESTDIR/before"
	ctl "${common[@]}" "$MNT/local"
	check_ctl_keys
	check_str "$(json_get served_by)" local "$fs: served_by without a daemon"
	check_eq "$(json_get files_seen)" 3 "$fs: files_seen"
	check_eq "$(json_get bytes_deduped)" "$F" "$fs: bytes_deduped (a2)"
	check_ge "$(json_get bytes_freed)" $((F * 8 / 10)) "$fs: bytes_freed"
	check_eq "$(shared_bytes "$MNT/local/a1")" "$F" "$fs: shared bytes of a1"
	check_eq "$(shared_bytes "$MNT/local/a2")" "$F" "$fs: shared bytes of a2"
	check_eq "$(shared_bytes "$MNT/local/u")" 0 "$fs: shared bytes of u"
	check_manifest "$TESTDIR/before"
	idx=$(find "$S" -name index)
	[ "$(echo "$idx" | wc -l)" = 1 ] && [ -s "$idx" ] ||
		_fail "$fs: want one index under $S, found: $idx"
	[ "$(stat -c %a "$(dirname "$idx")")" = 700 ] ||
		_fail "$fs: index directory mode $(stat -c %a "$(dirname "$idx")")"
	# The index persists: a second pass reads nothing.
	ctl "${common[@]}" "$MNT/local"
	check_eq "$(json_get files_unchanged)" 3 "$fs: files_unchanged the second time"
	check_eq "$(json_get bytes_hashed)" 0 "$fs: bytes_hashed the second time"
	# Text and quiet.
	run_check "$DEDUPD" ctl dedupe "${common[@]}" "$MNT/local" >"$out"
	grep -q '^deduped .*freed.*done here' "$out" ||
		_fail "$fs: text report: $(cat "$out")"
	run_check "$DEDUPD" ctl dedupe -q "${common[@]}" "$MNT/local" >"$out" 2>"$err"
	[ ! -s "$out" ] && [ ! -s "$err" ] || _fail "$fs: -q printed something"
	# --no-wait without a daemon: the work is done before it returns.
	copy_plain "$TESTDIR/B" "$MNT/local/b1"
	copy_plain "$TESTDIR/B" "$MNT/local/b2"
	manifest >"$TESTDIR/before"
	ctl --no-wait "${common[@]}" "$MNT/local/b1" "$MNT/local/b2"
	check_str "$(json_get served_by)" local "$fs: served_by (--no-wait, no daemon)"
	check_eq "$(json_get bytes_deduped)" "$F" "$fs: bytes_deduped (b2)"
	check_eq "$(shared_bytes "$MNT/local/b2")" "$F" "$fs: shared bytes of b2"
	check_manifest "$TESTDIR/before"

	# -- another process holds the index: waited for, or exit 4 ---------------
	flock -x "$idx" -c 'sleep 2' 3>&- &
	holder=$!
	while flock -n -x "$idx" true; do	# until the holder has it
		sleep 0.05
	done
	CTL_RC=4 ctl --lock-timeout 0 "${common[@]}" "$MNT/local"
	check_one_line_error "$REPORT.err"
	grep -q 'in use' "$REPORT.err" || _fail "$fs: exit 4 without saying the index is in use"
	t0=$SECONDS
	ctl --lock-timeout 30 "${common[@]}" "$MNT/local"
	check_str "$(json_get served_by)" local "$fs: served_by after waiting"
	check_eq "$(json_get files_unchanged)" 5 "$fs: files_unchanged after waiting"
	wait "$holder"
	check_ge $((SECONDS - t0)) 1 "$fs: seconds waited for the index"

	# The daemon's configuration says where its index is: its state-dir,
	# or a db for its one mount on this filesystem.
	printf 'state-dir = %s\nsocket = %s\n' "$S" "$SOCK" >"$TESTDIR/conf1"
	ctl --config "$TESTDIR/conf1" "$MNT/local"
	check_eq "$(json_get files_unchanged)" 5 "$fs: files_unchanged (state-dir from the configuration)"
	printf 'mount = %s\ndb = %s\nsocket = %s\n' "$MNT" "$TESTDIR/cfgdb-$fs" \
		"$SOCK" >"$TESTDIR/conf2"
	ctl --config "$TESTDIR/conf2" "$MNT/local"
	[ -s "$TESTDIR/cfgdb-$fs" ] || _fail "$fs: the configuration's db was not used"
	check_eq "$(json_get files_scanned)" 5 "$fs: files_scanned (a fresh index from the configuration)"

	# -- the daemon, on the same state directory: it opens ctl's index --------
	WATCH_SOCK=$SOCK
	WATCH_STATE=$S
	watch_start --settle 3600 "$MNT"
	grep -q "index '$idx' opened" "$WATCH_LOG" ||
		_watch_fail "$fs: the daemon did not open the index ctl made ($idx)"
	watch_wait_caught_up
	d0=$(watch_status_get bytes_deduped)

	mkdir "$MNT/new"
	copy_plain "$TESTDIR/C" "$MNT/new/c1"
	copy_plain "$TESTDIR/C" "$MNT/new/c2"
	copy_plain "$TESTDIR/V" "$MNT/new/v"
	sync
	end=$((SECONDS + 20))
	until [ "$(watch_status_get queue)" -ge 3 ]; do
		[ "$SECONDS" -lt "$end" ] || _watch_fail "$fs: the new files are not queued"
		sleep 0.1
	done
	manifest >"$TESTDIR/before"
	ctl --socket "$SOCK" --no-config "$MNT/new"
	check_ctl_keys
	check_str "$(json_get served_by)" daemon "$fs: served_by with a daemon"
	check_eq "$(json_get files_seen)" 3 "$fs: files_seen (daemon)"
	check_eq "$(json_get files_scanned)" 3 "$fs: files_scanned (daemon)"
	check_eq "$(json_get bytes_deduped)" "$F" "$fs: bytes_deduped by the daemon (c2)"
	check_ge "$(json_get bytes_freed)" $((F * 8 / 10)) "$fs: bytes_freed by the daemon"
	check_eq "$(shared_bytes "$MNT/new/c1")" "$F" "$fs: shared bytes of c1"
	check_eq "$(shared_bytes "$MNT/new/c2")" "$F" "$fs: shared bytes of c2"
	check_eq "$(shared_bytes "$MNT/new/v")" 0 "$fs: shared bytes of v"
	check_ge "$(watch_status_get queue)" 3 "$fs: the files are still queued (ahead of the queue)"
	check_eq $(($(watch_status_get bytes_deduped) - d0)) "$F" \
		"$fs: the daemon's bytes_deduped moved by"
	check_manifest "$TESTDIR/before"
	# $DEDUPD_SOCKET and text
	DEDUPD_SOCKET=$SOCK run_check "$DEDUPD" ctl dedupe --no-config "$MNT/new" >"$out"
	grep -q 'by the running dedupd watch' "$out" || _fail "$fs: text report: $(cat "$out")"

	# --dry-run through the daemon changes nothing.
	copy_plain "$TESTDIR/D" "$MNT/new/d1"
	copy_plain "$TESTDIR/D" "$MNT/new/d2"
	ctl --dry-run --socket "$SOCK" --no-config "$MNT/new/d1" "$MNT/new/d2"
	check_str "$(json_get dry_run)" true "$fs: dry_run"
	check_eq "$(json_get bytes_duplicate)" "$F" "$fs: bytes_duplicate (dry run)"
	check_eq "$(json_get bytes_deduped)" 0 "$fs: bytes_deduped (dry run)"
	check_eq "$(shared_bytes "$MNT/new/d2")" 0 "$fs: shared bytes of d2 after a dry run"

	# --no-wait: accepted at once; the daemon does it and logs it.
	copy_plain "$TESTDIR/E" "$MNT/new/e1"
	copy_plain "$TESTDIR/E" "$MNT/new/e2"
	manifest >"$TESTDIR/before"
	_new_report
	run_check "$DEDUPD" ctl dedupe --no-wait --json --socket "$SOCK" \
		--no-config "$MNT/new/e1" "$MNT/new/e2" >"$REPORT"
	check_str "$(json_get queued)" true "$fs: queued (--no-wait)"
	run_check "$DEDUPD" ctl dedupe --no-wait --socket "$SOCK" --no-config \
		"$MNT/new/e1" >"$out"
	[ ! -s "$out" ] || _fail "$fs: --no-wait printed: $(cat "$out")"
	end=$((SECONDS + 20))
	until [ "$(shared_bytes "$MNT/new/e2")" = "$F" ]; do
		[ "$SECONDS" -lt "$end" ] || _watch_fail "$fs: e2 not deduped 20 s after --no-wait"
		sleep 0.2
	done
	end=$((SECONDS + 10))
	until grep -q 'request [0-9]* done' "$WATCH_LOG"; do
		[ "$SECONDS" -lt "$end" ] || _watch_fail "$fs: the daemon did not log the request"
		sleep 0.1
	done
	check_manifest "$TESTDIR/before"

	# Interrupted while the daemon works (here: is stopped): exit 130 at
	# once, one line; the daemon still does the request.
	kill -STOP "$WATCH_PID"
	"$DEDUPD" ctl dedupe --socket "$SOCK" --no-config "$MNT/new" \
		>"$out" 2>"$err" 3>&- &
	pid=$!
	sleep 0.5
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	kill -CONT "$WATCH_PID"
	[ "$rc" = 130 ] || _watch_fail "$fs: ctl interrupted while waiting exits $rc, wanted 130"
	check_one_line_error "$err"
	[ ! -s "$out" ] || _fail "$fs: an interrupted wait printed a report"

	# The daemon holds the index: --no-daemon finds it in use.
	CTL_RC=4 ctl --no-daemon --lock-timeout 0.3 "${common[@]}" "$MNT/new"
	check_one_line_error "$REPORT.err"
	# `dedupd scan` still hands its paths over.
	copy_plain "$TESTDIR/W" "$MNT/new/w1"
	copy_plain "$TESTDIR/W" "$MNT/new/w2"
	_new_report
	DEDUPD_SOCKET=$SOCK run_check "$DEDUPD" scan --json --no-progress \
		"$MNT/new/w1" "$MNT/new/w2" >"$REPORT"
	check_str "$(json_get index_result)" daemon "$fs: scan handed to the daemon"
	check_eq "$(json_get bytes_deduped)" "$F" "$fs: bytes_deduped of the handed-over scan"

	manifest >"$TESTDIR/before"
	watch_stop
	check_manifest "$TESTDIR/before"
	check_same "$TESTDIR/A" "$MNT/local/a1" "$MNT/local/a2"
	check_same "$TESTDIR/C" "$MNT/new/c1" "$MNT/new/c2"
	check_same "$TESTDIR/D" "$MNT/new/d1" "$MNT/new/d2"
	check_same "$TESTDIR/W" "$MNT/new/w1" "$MNT/new/w2"
	check_same "$TESTDIR/E" "$MNT/new/e1" "$MNT/new/e2"
	teardown_fs
done
