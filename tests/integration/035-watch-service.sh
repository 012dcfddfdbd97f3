#!/bin/bash
# dedupd watch as a service: usage and configuration errors exit 2 with one
# line, a filesystem that cannot dedupe 3, a second daemon on the same socket
# or index 4 (the first one unharmed); `dedupd status` (text, --json,
# $DEDUPD_SOCKET) answers while it runs and exits 1 with one line when none
# does; SIGUSR1 logs a status line; SIGHUP reloads the configuration file
# (a new settle delay takes effect at once), and a reload of a broken file
# keeps the configuration in use; SIGINT stops it cleanly (exit 0).
. "$(dirname "$0")/lib.sh"
setup

# watch_expect_rc RC NAME ARGS...: a daemon that must exit RC at once (a
# time limit, should it run instead) with one line on stderr.
watch_expect_rc() {
	local want=$1 name=$2 rc=0
	shift 2
	log "run (expect exit $want): $DEDUPD watch $*"
	timeout 20 "$DEDUPD" watch "$@" >"$TESTDIR/$name.out" \
		2>"$TESTDIR/$name.err" 3>&- || rc=$?
	sed 's/^/   stderr: /' "$TESTDIR/$name.err" >&3
	[ "$rc" = "$want" ] || _fail "$name: exit $rc, wanted $want"
	check_one_line_error "$TESTDIR/$name.err"
	[ ! -s "$TESTDIR/$name.out" ] || _fail "$name: output on stdout: $(cat "$TESTDIR/$name.out")"
}

# status_expect_rc RC NAME ARGS...: `dedupd status ARGS` exits RC, one line.
status_expect_rc() {
	local want=$1 name=$2 rc=0
	shift 2
	log "run (expect exit $want): $DEDUPD status $*"
	timeout 20 "$DEDUPD" status "$@" >"$TESTDIR/$name.out" \
		2>"$TESTDIR/$name.err" 3>&- || rc=$?
	sed 's/^/   stderr: /' "$TESTDIR/$name.err" >&3
	[ "$rc" = "$want" ] || _fail "$name: exit $rc, wanted $want"
	check_one_line_error "$TESTDIR/$name.err"
}

# wait_log PATTERN: the daemon's log gets a line matching PATTERN (5 s).
wait_log() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q -- "$1" "$WATCH_LOG" && return 0
		sleep 0.1
	done
	_watch_fail "no line matching '$1' in the daemon's log"
}

SOCK=$TESTDIR/sock
STATE=$TESTDIR/state
common=(--socket "$SOCK" --state-dir "$STATE")

# ---- errors at start ----
setup_fs btrfs
BTRFS=$MNT
printf 'settle = banana\n' >"$TESTDIR/bad.conf"
printf '# a comment\nsettle = "0.2\n' >"$TESTDIR/syntax.conf"
printf 'frobnicate = 1\n' >"$TESTDIR/unknown.conf"
watch_expect_rc 2 bad-value --config "$TESTDIR/bad.conf" "${common[@]}" "$BTRFS"
watch_expect_rc 2 bad-syntax --config "$TESTDIR/syntax.conf" "${common[@]}" "$BTRFS"
watch_expect_rc 2 bad-option --config "$TESTDIR/unknown.conf" "${common[@]}" "$BTRFS"
watch_expect_rc 2 no-config-file --config "$TESTDIR/missing.conf" "${common[@]}" "$BTRFS"
watch_expect_rc 2 unknown-flag --no-config --frobnicate "${common[@]}" "$BTRFS"
watch_expect_rc 2 bad-settle --no-config --settle -1 "${common[@]}" "$BTRFS"
watch_expect_rc 2 no-mount --no-config "${common[@]}"
for fs in ext4 tmpfs xfs-noreflink; do
	setup_fs $fs 512M
	watch_expect_rc 3 "on-$fs" --no-config "${common[@]}" "$MNT"
done
[ ! -e "$SOCK" ] || _fail "a daemon that failed to start left its socket"
status_expect_rc 1 status-none --socket "$SOCK"
status_expect_rc 2 status-arg --socket "$SOCK" extra
status_expect_rc 2 status-flag --bogus

# ---- a running daemon, settle 30 from its configuration file ----
MNT=$BTRFS
printf '# test\nsettle = 30\nreexamine = 1\n' >"$TESTDIR/watch.conf"
WATCH_CONF_SETTLE=0	# nothing written yet: no need to wait 30 s for idle
watch_start --config "$TESTDIR/watch.conf" "$MNT"
watch_wait_idle

# a second daemon: same socket (other index), same index (other socket)
watch_expect_rc 4 same-socket --no-config --socket "$SOCK" \
	--state-dir "$TESTDIR/state2" "$MNT"
watch_expect_rc 4 same-index --no-config --socket "$TESTDIR/sock2" \
	--state-dir "$STATE" "$MNT"
_watch_alive || _watch_fail "the first daemon died"
[ ! -e "$TESTDIR/sock2" ] || _fail "the daemon refused for its index left its socket"
[ -S "$SOCK" ] || _fail "the first daemon's socket is gone"

# dedupd status: text, JSON, $DEDUPD_SOCKET
"$DEDUPD" status --socket "$SOCK" >"$TESTDIR/status.txt" 3>&- ||
	_fail "dedupd status failed"
sed 's/^/   status: /' "$TESTDIR/status.txt" >&3
grep -q "^dedupd watch, pid $WATCH_PID, up [0-9]* s: idle$" "$TESTDIR/status.txt" ||
	_fail "dedupd status: no 'dedupd watch, pid $WATCH_PID ...: idle' line"
for w in queue events hashed deduped freed checkpoint; do
	grep -q "^  $w " "$TESTDIR/status.txt" || _fail "dedupd status: no '$w' line"
done
DEDUPD_SOCKET=$SOCK "$DEDUPD" status --json >"$TESTDIR/status.json" 3>&- ||
	_fail "DEDUPD_SOCKET=... dedupd status --json failed"
[ "$(wc -l <"$TESTDIR/status.json")" = 1 ] || _fail "status --json is not one line"
python3 - "$TESTDIR/status.json" "$WATCH_PID" "$MNT" <<'EOF' || _fail "status --json keys or types wrong"
import json, sys
d = json.load(open(sys.argv[1]))
bad = []
ints = """pid queue in_flight events events_own overflows catchups files_taken
bytes_hashed bytes_duplicate bytes_deduped bytes_relocated bytes_relinked
bytes_freed""".split()
fsints = """queue events overflows checkpoint_gen files_taken files_scanned
files_unchanged files_vanished bytes_hashed bytes_deduped bytes_freed rounds
index_cells_used index_files""".split()
def isint(v): return isinstance(v, int) and not isinstance(v, bool)
for k in ints:
    if not isint(d.get(k)): bad.append(f"{k}={d.get(k)!r}")
for k in ("uptime", "last_checkpoint"):
    if not isinstance(d.get(k), (int, float)) or isinstance(d.get(k), bool):
        bad.append(f"{k}={d.get(k)!r}")
for k in ("idle", "catching_up"):
    if not isinstance(d.get(k), bool): bad.append(f"{k}={d.get(k)!r}")
if d.get("state") != "idle": bad.append(f"state={d.get('state')!r}")
if d.get("pid") != int(sys.argv[2]): bad.append(f"pid={d.get('pid')!r}")
fss = d.get("filesystems")
if not isinstance(fss, list) or len(fss) != 1:
    bad.append(f"filesystems={fss!r}")
else:
    f = fss[0]
    for k in fsints:
        if not isint(f.get(k)): bad.append(f"filesystems[0].{k}={f.get(k)!r}")
    if f.get("mount") != sys.argv[3]: bad.append(f"mount={f.get('mount')!r}")
    if f.get("fs") != "btrfs": bad.append(f"fs={f.get('fs')!r}")
    for k in ("uuid", "index"):
        if not isinstance(f.get(k), str) or not f[k]: bad.append(f"{k}={f.get(k)!r}")
for b in bad: print("status:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
log "status --json keys and types ok"
status_expect_rc 1 status-other-socket --socket "$TESTDIR/nosuch.sock"

# SIGUSR1: a status line in the log
kill -USR1 "$WATCH_PID"
wait_log "status: "
log "SIGUSR1 logged: $(grep -m1 "status: " "$WATCH_LOG")"
_watch_alive || _watch_fail "the daemon died of SIGUSR1"

# settle 30 in effect: a pair written is still waiting after 2 s
rand_file "$TESTDIR/A" 2048
rand_file "$TESTDIR/B" 2048
rand_file "$TESTDIR/C" 2048
copy_plain "$TESTDIR/A" "$MNT/a1"
copy_plain "$TESTDIR/A" "$MNT/a2"
sleep 2
check_ge "$(watch_status_get queue)" 2 "files queued with settle 30"
check_eq "$(watch_status_get files_taken)" 0 "files taken with settle 30"

# SIGHUP with settle 0.2: taken up at once
printf 'settle = 0.2\nreexamine = 1\n' >"$TESTDIR/watch.conf"
kill -HUP "$WATCH_PID"
wait_log "reloading"
WATCH_SETTLE=0.2
watch_wait_idle 10
check_eq "$(shared_bytes "$MNT/a1" "$MNT/a2")" $((4 * MiB)) "shared bytes of a1, a2 after the reload"
grep -q "reload failed" "$WATCH_LOG" && _fail "the good reload failed"

# SIGHUP with a broken file: the daemon keeps settle 0.2
for conf in syntax bad unknown; do
	cp "$TESTDIR/$conf.conf" "$TESTDIR/watch.conf"
	n=$(grep -c "reload failed" "$WATCH_LOG" || true)
	kill -HUP "$WATCH_PID"
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c "reload failed" "$WATCH_LOG")" -gt "$n" ] && break
		sleep 0.1
	done
	[ "$(grep -c "reload failed" "$WATCH_LOG")" -gt "$n" ] ||
		_watch_fail "no 'reload failed' after a reload of $conf.conf"
	_watch_alive || _watch_fail "the daemon died reloading $conf.conf"
done
copy_plain "$TESTDIR/B" "$MNT/b1"
copy_plain "$TESTDIR/B" "$MNT/b2"
copy_plain "$TESTDIR/C" "$MNT/c"
manifest >"$TESTDIR/before"
# settle 0.2: done in well under the default 5 s
for ((i = 0; i < 30; i++)); do
	[ "$(shared_bytes "$MNT/b1" "$MNT/b2")" = $((4 * MiB)) ] && break
	sleep 0.1
done
check_eq "$(shared_bytes "$MNT/b1" "$MNT/b2")" $((4 * MiB)) \
	"shared bytes of b1, b2 3 s after their writes (settle 0.2 kept)"
watch_wait_idle 10
check_eq "$(shared_bytes "$MNT/c")" 0 "shared bytes of the unique file"
check_manifest "$TESTDIR/before"

# SIGINT: a clean stop, exit 0, socket removed
log "stopping the daemon with SIGINT"
kill -INT "$WATCH_PID"
for ((i = 0; i < 300; i++)); do
	_watch_alive || break
	sleep 0.1
done
rc=0
wait "$WATCH_PID" || rc=$?
WATCH_PID=
check_eq "$rc" 0 "exit status after SIGINT"
[ ! -e "$SOCK" ] || _fail "the socket outlives a clean stop"
status_expect_rc 1 status-after --socket "$SOCK"
check_manifest "$TESTDIR/before"
