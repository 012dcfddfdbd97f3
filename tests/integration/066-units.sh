#!/bin/bash
# The systemd units: every unit in contrib/ passes `systemd-analyze verify`
# with no word said (ExecStart= pointed at this build); dedupd.service and
# dedupd@.service are rated 3.5 or less by `systemd-analyze security`, and
# share one sandbox, line for line. The daemon lives within the unit's
# SystemCallFilter: run under strace through a start on a btrfs subvolume
# mount (its private top-level mount) and on XFS, catch-ups, rounds with a
# relocation, a request over the socket, the background defrag, SIGUSR1,
# SIGHUP, checkpoints and SIGTERM, it makes no call outside the list, and
# opens nothing in /proc outside its own pid (ProcSubset=pid).
. "$(dirname "$0")/lib.sh"
setup
require_cmd systemd-analyze strace

UNITS=$TESTDIR/units
mkdir "$UNITS"
for u in "$TOP"/contrib/systemd/*.service "$TOP"/contrib/systemd/*.timer \
	"$TOP"/contrib/containers/*.service "$TOP"/contrib/containers/*.path; do
	sed -e "s|/usr/local/sbin/dedupd|$DEDUPD|g" \
		-e "s|/usr/local/bin/dedupd-after-pull|$TOP/contrib/containers/dedupd-after-pull|g" \
		"$u" >"$UNITS/$(basename "$u")"
done
names=()
for u in "$UNITS"/*; do
	n=$(basename "$u")
	case $n in *@.*) n=${n/@./@srv-data.} ;; esac	# an instance
	names+=("$n")
done
out=$(cd "$UNITS" && systemd-analyze verify --man=no "${names[@]}" 2>&1) ||
	_fail "systemd-analyze verify: $out"
[ -z "$out" ] || _fail "systemd-analyze verify says: $out"
log "systemd-analyze verify: ${#names[@]} units pass: ${names[*]}"

for u in dedupd.service dedupd@srv-data.service; do
	e=$(cd "$UNITS" && systemd-analyze security --offline=true "$u" 2>&1 |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	[ -n "$e" ] || _fail "no exposure level for $u"
	log "systemd-analyze security $u: $e"
	awk -v e="$e" 'BEGIN { exit !(e <= 3.5) }' || _fail "$u: exposure $e, more than 3.5"
done
sandbox() { sed -n '/^# ---- sandbox ----$/,/^\[Install\]$/p' "$1"; }
[ -n "$(sandbox "$TOP/contrib/systemd/dedupd.service")" ] || _fail "no sandbox section"
diff -u <(sandbox "$TOP/contrib/systemd/dedupd.service") \
	<(sandbox "$TOP/contrib/systemd/dedupd@.service") >&3 ||
	_fail "dedupd@.service's sandbox is not dedupd.service's"

# ---- the daemon's system calls, under strace ----
# The allow-list, as systemd builds it: the lines in order, "~" removes.
allowed=$TESTDIR/allowed
python3 - "$TOP/contrib/systemd/dedupd.service" >"$allowed" <<'PY'
import re, subprocess, sys
def expand(name, seen=None):
    if not name.startswith('@'):
        return {name}
    out = subprocess.run(['systemd-analyze', 'syscall-filter', name],
                         capture_output=True, text=True, check=True).stdout
    calls = set()
    for w in out.splitlines()[1:]:	# the group's name, then its members
        w = w.strip()
        if not w or w.startswith('#'):	# a comment: "# Kernel keyring access"
            continue
        calls |= expand(w) if w.startswith('@') else {w}
    return calls
allow = set()
for line in re.findall(r'^SystemCallFilter=(.*)$', open(sys.argv[1]).read(), re.M):
    deny = line.startswith('~')
    names = line.lstrip('~').split()
    calls = set().union(*(expand(n) for n in names))
    allow = allow - calls if deny else allow | calls
# systemd lets these through whatever the list says (execve runs the program)
allow |= {'execve', 'exit', 'exit_group', 'rt_sigreturn', 'getrlimit'}
print('\n'.join(sorted(allow)))
PY
check_ge "$(wc -l <"$allowed")" 100 "system calls the unit allows"
for c in fanotify_init fsopen fsconfig fsmount open_by_handle_at ioprio_set; do
	grep -qx "$c" "$allowed" || _fail "the unit's filter lacks $c"
done

TRACE=$TESTDIR/trace
cat >"$TESTDIR/traced" <<EOF2
#!/bin/bash
# dedupd watch under strace -D: the daemon keeps the pid, strace follows.
[ "\$1" = watch ] && exec strace -D -f -qq -o "$TRACE.\$\$" "$DEDUPD" "\$@"
exec "$DEDUPD" "\$@"
EOF2
chmod +x "$TESTDIR/traced"
REAL=$DEDUPD
rand_file "$TESTDIR/A" 4096
rand_file "$TESTDIR/B" 1024
for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	if [ "$fs" = btrfs ]; then
		run_check btrfs -q subvolume create "$MNT/sv"
		W=$TESTDIR/svmnt
		mount_subvol sv "$W"
	else
		W=$MNT
	fi
	copy_plain "$TESTDIR/A" "$W/old1"	# for the catch-up at start
	copy_plain "$TESTDIR/A" "$W/old2"
	sync
	printf 'settle = 1\ncheckpoint = 1\nio-class = best-effort\nloadavg-target = 1000\ndefrag-idle = 0\ndefrag-threshold = 2\n' \
		>"$TESTDIR/watch.conf"
	DEDUPD=$TESTDIR/traced
	WATCH_CONF_SETTLE=1
	watch_start --config "$TESTDIR/watch.conf" "$W"
	DEDUPD=$REAL
	watch_wait_idle
	# a round: a copy, and a file holding B then A (A's part a partial
	# duplicate of an extent: a relocation on btrfs)
	copy_plain "$TESTDIR/A" "$W/new"
	cat "$TESTDIR/B" "$TESTDIR/A" >"$W/mixed"
	# fragmented, for the background defrag
	python3 - "$W/frag" "$W/other" <<'PY'
import os, sys
a = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
b = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(4 * 256):
    os.write(a, os.urandom(4096)); os.fdatasync(a)
    os.write(b, os.urandom(4096)); os.fdatasync(b)
PY
	manifest "$W" >"$TESTDIR/before"
	watch_wait_idle
	run_check "$DEDUPD" ctl dedupe --socket "$WATCH_SOCK" "$W/old1" "$W/new" >/dev/null
	kill -USR1 "$WATCH_PID"
	kill -HUP "$WATCH_PID"
	for ((i = 0; i < 100; i++)); do
		[ "$(watch_status_get files_defragged)" -ge 1 ] && break
		sleep 0.1
	done
	check_ge "$(watch_status_get files_defragged)" 1 "$fs: files defragged"
	check_ge "$(watch_status_get bytes_deduped)" $((8 * MiB)) "$fs: bytes deduped"
	sleep 1.5	# a checkpoint
	pid=$WATCH_PID
	watch_stop
	check_manifest "$TESTDIR/before" "$W"
	# strace (detached, -D) has written everything once it is gone
	for ((i = 0; i < 100; i++)); do
		pgrep -f "strace -D -f -qq -o $TRACE.$pid " >/dev/null || break
		sleep 0.1
	done
	grep -Eq "^$pid +exit_group\(0\)" "$TRACE.$pid" ||
		_fail "$fs: strace saw no exit_group(0) of $pid: $(tail -n 3 "$TRACE.$pid")"
	used=$(sed -n -e 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' \
		-e 's/^[0-9]* *<\.\.\. \([a-z_0-9]*\) resumed>.*/\1/p' "$TRACE.$pid" | sort -u)
	log "$fs: the daemon made $(wc -l <<<"$used") kinds of system call: $(tr '\n' ' ' <<<"$used")"
	outside=$(comm -23 <(echo "$used") "$allowed")
	[ -z "$outside" ] || _fail "$fs: system calls outside the unit's SystemCallFilter: $outside"
	for c in fanotify_init open_by_handle_at ioprio_set sysinfo; do
		grep -qx "$c" <<<"$used" || _fail "$fs: no $c seen: is the trace whole?"
	done
	[ "$fs" != btrfs ] || grep -qx fsmount <<<"$used" || _fail "no private mount (fsmount) seen"
	# glibc's malloc reads /proc/sys/vm/overcommit_memory the first time
	# a thread's arena shrinks (check_may_shrink_heap), which happens or
	# not with the timing; when the open fails, as under ProcSubset=pid, it
	# shrinks by madvise as it does for the default overcommit. Not ours.
	procs=$(grep -o '"/proc/[^"]*"' "$TRACE.$pid" |
		grep -Ev '^"/proc/(self|thread-self|[0-9]+)(/|")' |
		grep -vx '"/proc/sys/vm/overcommit_memory"' | sort -u || true)
	[ -z "$procs" ] || _fail "$fs: opens in /proc that ProcSubset=pid hides: $procs"
	rm -f "$TRACE".*
	teardown_fs
done
