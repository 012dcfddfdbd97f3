# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the integration tests, sourced by every tests/integration/NNN-*.sh.
#
# A test runs as root on loop-mounted images that it makes with setup_fs; the
# EXIT trap unmounts them, detaches their loop devices and removes the
# temporary directory whatever happens (assertion, `set -e` failure, signal).
# Exit status: 0 pass, 1 fail, 77 skip (the automake convention).
#
# Environment: DEDUPD (path of the binary, default ../../dedupd),
# IT_TMPROOT (where temporary directories go; run.sh sets it).

set -eE -o pipefail
export LC_ALL=C

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$IT_DIR/../.." && pwd)
DEDUPD=${DEDUPD:-$TOP/dedupd}
TEST_NAME=$(basename "$0" .sh)
KiB=1024
MiB=$((1024 * 1024))

_mounts=()	# mount points to unmount, in order of mounting
MNT=
FSTYPE=
TESTDIR=

# ---- reporting ----------------------------------------------------------

# The test's log is fd 3, so that a helper whose stdout is redirected still
# logs; commands run by the helpers do not inherit it.
exec 3>&1
log() { printf '## %s\n' "$*" >&3; }

_fail() {
	printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&3
	exit 1
}

# A command that failed under `set -e`, outside the helpers.
_on_err() {
	local rc=$1 line=$2 cmd=$3
	printf 'FAIL: %s: line %s: exit %s: %s\n' "$TEST_NAME" "$line" "$rc" \
		"$cmd" >&3
	exit 1
}

skip() {
	printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*" >&3
	exit 77
}

# ---- cleanup ------------------------------------------------------------

_umount_retry() {
	local m=$1 i
	mountpoint -q "$m" || return 0
	for i in 1 2 3 4 5 6 7 8 9 10; do
		umount "$m" 2>/dev/null && return 0
		sleep 0.5
	done
	echo "cleanup: lazy unmount of $m" >&3
	umount -l "$m" || true
}

# Detach every loop device still backed by a file under $1.
_detach_loops_under() {
	local dir=$1 dev file
	[ -n "$dir" ] || return 0
	losetup -n -O NAME,BACK-FILE 2>/dev/null | while read -r dev file; do
		case $file in
		"$dir"/*) losetup -d "$dev" 2>/dev/null || true ;;
		esac
	done
}

_cleanup() {
	local rc=$? pids i
	trap - ERR
	set +e
	# A daemon left running holds the filesystems (its private top-level
	# mount too, which goes with its mount namespace when it dies).
	if [ -n "${WATCH_PID:-}" ]; then
		kill -9 "$WATCH_PID" 2>/dev/null
		kill -CONT "$WATCH_PID" 2>/dev/null	# a stopped daemon
		wait "$WATCH_PID" 2>/dev/null
		echo "cleanup: killed dedupd watch (pid $WATCH_PID)" >&3
		[ -z "${WATCH_LOG:-}" ] || [ "$rc" = 0 ] || [ -n "${_watch_tail_shown:-}" ] ||
			tail -n 20 "$WATCH_LOG" | sed 's/^/   watch: /' >&3
	fi
	for ((i = ${#_exit_hooks[@]} - 1; i >= 0; i--)); do
		eval "${_exit_hooks[i]}"
	done
	# Background jobs (a scan started with &) keep the mount busy.
	pids=$(jobs -p)
	if [ -n "$pids" ]; then
		kill $pids 2>/dev/null
		kill -CONT $pids 2>/dev/null	# a stopped scan (scan_step)
		wait $pids 2>/dev/null
	fi
	for ((i = ${#_mounts[@]} - 1; i >= 0; i--)); do
		_umount_retry "${_mounts[i]}"
	done
	_detach_loops_under "$TESTDIR"
	if [ -n "$TESTDIR" ] && [ -d "$TESTDIR" ]; then
		# Never follow into something still mounted.
		if grep -q " $TESTDIR/" /proc/mounts; then
			echo "cleanup: $TESTDIR still has mounts, not removing" >&3
		else
			rm -rf "$TESTDIR"
		fi
	fi
	exit "$rc"
}

# on_exit CMD: eval CMD in the EXIT trap, before the unmounts (last first).
_exit_hooks=()
on_exit() { _exit_hooks+=("$1"); }

trap '_on_err $? $LINENO "$BASH_COMMAND"' ERR
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- prerequisites --------------------------------------------------------

require_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

require_cmd() {
	local c
	for c; do
		command -v "$c" >/dev/null 2>&1 || skip "needs $c"
	done
}

require_dedupd() {
	[ -x "$DEDUPD" ] || _fail "DEDUPD=$DEDUPD is not an executable (run make)"
}

require_loop() {
	[ -e /dev/loop-control ] || modprobe loop 2>/dev/null || true
	[ -e /dev/loop-control ] || skip "no loop devices"
	losetup -f >/dev/null 2>&1 || skip "no free loop device"
}

# The usual prologue: root, loop devices, a temporary directory.
setup() {
	require_root
	require_loop
	require_cmd python3 sha256sum mountpoint
	[ "${1:-}" = --no-dedupd ] || require_dedupd
	mkdir -p "${IT_TMPROOT:-/tmp}"
	TESTDIR=$(mktemp -d "${IT_TMPROOT:-/tmp}/$TEST_NAME.XXXXXX")
	log "test $TEST_NAME in $TESTDIR, dedupd=$DEDUPD"
}

# ---- filesystems ---------------------------------------------------------

# setup_fs btrfs|xfs|xfs-noreflink|ext4|tmpfs [SIZE [MOUNTPOINT]]: make a
# fresh filesystem on a sparse image and mount it (with $MOUNT_OPTS too) on
# MOUNTPOINT (default $TESTDIR/mntN); sets MNT, FSTYPE and DB (a fresh index
# path). $MKFS_BTRFS_OPTS go to mkfs.btrfs (e.g. "--csum xxhash"). May be called several times in one test: every mount is undone at
# exit.
setup_fs() {
	local fs=$1 size=${2:-1G} n=${#_mounts[@]} img
	[ -n "$TESTDIR" ] || _fail "setup_fs before setup"
	img=$TESTDIR/fs$n.img
	MNT=${3:-$TESTDIR/mnt$n}
	FSTYPE=$fs
	DB=$TESTDIR/index$n	# a fresh index for every filesystem
	rm -f "$DB"
	mkdir -p "$MNT"
	case $fs in
	btrfs)
		require_cmd mkfs.btrfs btrfs
		truncate -s "$size" "$img"
		# shellcheck disable=SC2086 # options, split on purpose
		mkfs.btrfs -q -f ${MKFS_BTRFS_OPTS:-} "$img" >/dev/null 2>&1 ||
			_fail "mkfs.btrfs failed"
		;;
	xfs | xfs-noreflink | xfs-rmap)
		require_cmd mkfs.xfs
		truncate -s "$size" "$img"
		local meta=reflink=1
		[ "$fs" != xfs-noreflink ] || meta=reflink=0
		[ "$fs" != xfs-rmap ] || meta=reflink=1,rmapbt=1
		mkfs.xfs -q -f -m $meta "$img" >/dev/null ||
			_fail "mkfs.xfs failed"
		;;
	ext4)
		require_cmd mkfs.ext4
		truncate -s "$size" "$img"
		mkfs.ext4 -q -F "$img" >/dev/null || _fail "mkfs.ext4 failed"
		;;
	tmpfs)
		mount -t tmpfs -o size="$size" dedupd-test "$MNT" ||
			_fail "mount tmpfs failed"
		_mounts+=("$MNT")
		log "mounted tmpfs on $MNT"
		return 0
		;;
	*) _fail "setup_fs: unknown filesystem $fs" ;;
	esac
	grep -qw "${fs%-*}" /proc/filesystems ||
		modprobe "${fs%-*}" 2>/dev/null ||
		skip "kernel lacks $fs"
	mount -o "loop${MOUNT_OPTS:+,$MOUNT_OPTS}" "$img" "$MNT" ||
		_fail "mount -o loop $img failed"
	_mounts+=("$MNT")
	log "mounted $fs ($size) on $MNT"
}

# Unmount the most recent filesystem (the EXIT trap does it anyway).
teardown_fs() {
	local n=$((${#_mounts[@]} - 1))
	[ "$n" -ge 0 ] || return 0
	_umount_retry "${_mounts[n]}"
	unset "_mounts[n]"
	_detach_loops_under "$TESTDIR"
	rm -f "$TESTDIR/fs$n.img"
	MNT=
}

# The filesystems that test data deduplication.
DEDUPE_FS=${DEDUPE_FS:-btrfs xfs}

# Bytes used on $MNT (or $1), after making the filesystem account for
# everything written and freed.
used_bytes() {
	local m=${1:-$MNT}
	sync -f "$m/." 2>/dev/null || sync
	if [ "$(stat -f -c %T "$m")" = btrfs ]; then
		btrfs filesystem sync "$m" >/dev/null
	fi
	df -B1 --output=used "$m" | tail -n 1 | tr -d ' '
}

# ---- manifests -----------------------------------------------------------

# manifest [DIR]: sha256 of every regular file under DIR (default $MNT),
# relative paths, sorted; NUL-safe (sha256sum escapes odd names).
manifest() {
	local dir=${1:-$MNT}
	(cd "$dir" && find . -type f -print0 | sort -z |
		xargs -0 -r sha256sum --)
}

# check_manifest BEFORE [DIR]: every file still has the content it had.
check_manifest() {
	local before=$1 dir=${2:-$MNT} now
	now=$(mktemp "$TESTDIR/manifest.XXXXXX")
	manifest "$dir" >"$now"
	[ -s "$before" ] || _fail "manifest $before is empty"
	if ! diff -u "$before" "$now" >"$now.diff"; then
		head -n 40 "$now.diff" >&3
		_fail "file contents changed under $dir"
	fi
	log "manifest of $dir intact ($(wc -l <"$now") files)"
}

# times_manifest [DIR]: atime, mtime and ctime of every file (ns).
times_manifest() {
	local dir=${1:-$MNT}
	(cd "$dir" && find . -type f -print0 | sort -z |
		xargs -0 -r stat -c '%n %x %y %z' --)
}

# ---- running commands ---------------------------------------------------

# run_check CMD...: log it, it must succeed.
run_check() {
	local rc=0
	log "run: $*"
	"$@" 3>&- || rc=$?
	[ "$rc" = 0 ] || _fail "command failed (exit $rc): $*"
}

# run_mustfail MSG CMD...: it must fail (any non-zero exit).
run_mustfail() {
	local msg=$1 rc=0
	shift
	log "run (must fail): $*"
	"$@" 3>&- || rc=$?
	[ "$rc" != 0 ] || _fail "$msg: command succeeded: $*"
	LAST_RC=$rc
}

# run_expect_rc N CMD...: it must exit with status N.
run_expect_rc() {
	local want=$1 rc=0
	shift
	log "run (expect exit $want): $*"
	"$@" 3>&- || rc=$?
	[ "$rc" = "$want" ] || _fail "exit $rc, wanted $want: $*"
}

# Every scan gets its own report file (a background scan may still be
# writing the previous one).
_nreports=0
_new_report() {
	_nreports=$((_nreports + 1))
	REPORT=$TESTDIR/report$_nreports.json
}

# scan [ARGS...]: `dedupd scan --json --no-progress --db $DB ARGS`, which must
# exit 0; the report is kept in $REPORT, stderr in $REPORT.err.  setup_fs
# points DB at a fresh index; SCAN_RC overrides the expected exit status.
scan() {
	DB=${DB:-$TESTDIR/index}
	run_report "${SCAN_RC:-0}" "dedupd scan" \
		"$DEDUPD" scan --json --no-progress --db "$DB" "$@"
	[ "$RUN_RC" != 0 ] || check_json_object "dedupd scan --json"
}

# run_report WANT NAME CMD...: runs CMD (a dedupd command) with its stdout in
# a new $REPORT and its stderr in $REPORT.err, logs both, and fails unless it
# exits WANT; RUN_RC is its exit status.
run_report() {
	local want=$1 name=$2
	shift 2
	RUN_RC=0
	_new_report
	log "run: $*"
	"$@" >"$REPORT" 2>"$REPORT.err" 3>&- || RUN_RC=$?
	sed 's/^/   stdout: /' "$REPORT" >&3
	head -n 40 "$REPORT.err" | sed 's/^/   stderr: /' >&3
	[ "$RUN_RC" = "$want" ] || _fail "$name exit $RUN_RC, wanted $want"
}

# check_json_object WHAT: $REPORT is one JSON object.
check_json_object() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d, dict)' \
		"$REPORT" 2>/dev/null ||
		_fail "stdout of $1 is not one JSON object"
}

# scan_bg [ARGS...]: start `dedupd scan` like scan() does, in the background
# and stopped (SIGSTOP) before it runs; SCAN_PID is its pid. scan_step lets
# it run a little; scan_wait lets it finish and checks it as scan() would
# (and points REPORT at its report again).
# A scan is far too fast on small images for a test to race it by sleeping:
# stopping and continuing it interleaves the test's changes with its work
# however fast it is.
scan_bg() {
	DB=${DB:-$TESTDIR/index}
	_new_report
	SCAN_REPORT=$REPORT
	log "run (background, stopped): $DEDUPD scan --json --no-progress --db $DB $*"
	bash -c 'kill -STOP $$; exec "$@"' scan "$DEDUPD" scan --json \
		--no-progress --db "$DB" "$@" >"$REPORT" 2>"$REPORT.err" 3>&- &
	SCAN_PID=$!
	# wait until it has stopped itself
	while [ "$(awk '{ print $3 }' "/proc/$SCAN_PID/stat" 2>/dev/null)" != T ]; do
		sleep 0.01
	done
}

# scan_running: the scan has not exited yet (it may be stopped).
scan_running() {
	local st
	st=$(awk '{ print $3 }' "/proc/$SCAN_PID/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# scan_step SECONDS: let the stopped scan run for SECONDS, stop it again;
# fails when the scan has exited.
scan_step() {
	kill -CONT "$SCAN_PID" 2>/dev/null || return 1
	sleep "$1"
	kill -STOP "$SCAN_PID" 2>/dev/null || return 1
	scan_running
}

scan_wait() {
	local rc=0 want=${SCAN_RC:-0}
	REPORT=$SCAN_REPORT
	kill -CONT "$SCAN_PID" 2>/dev/null || true
	wait "$SCAN_PID" || rc=$?
	sed 's/^/   stdout: /' "$REPORT" >&3
	sed 's/^/   stderr: /' "$REPORT.err" >&3
	[ "$rc" = "$want" ] || _fail "dedupd scan exit $rc, wanted $want"
	if [ "$want" = 0 ]; then
		python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$REPORT" ||
			_fail "stdout of dedupd scan --json is not JSON"
	fi
}

# json_get KEY [FILE]: a value of the report (booleans as true/false).
json_get() {
	python3 - "$1" "${2:-$REPORT}" <<'EOF' || _fail "report has no key $1"
import json, sys
key, path = sys.argv[1], sys.argv[2]
v = json.load(open(path))[key]
print(json.dumps(v) if isinstance(v, (bool, type(None))) else v)
EOF
}

# The documented report keys and their types.
check_report_keys() {
	python3 - "${1:-$REPORT}" <<'EOF' || _fail "report keys or types wrong"
import json, sys
d = json.load(open(sys.argv[1]))
ints = """files_seen files_scanned files_unchanged files_skipped files_changed
files_vanished files_unreadable bytes_hashed bytes_duplicate bytes_deduped
bytes_relocated bytes_freed dedupe_calls differs""".split()
bad = []
for k in ints:
    if not isinstance(d.get(k), int) or isinstance(d.get(k), bool):
        bad.append(f"{k}={d.get(k)!r} (want integer)")
    elif k != "bytes_freed" and d[k] < 0:
        bad.append(f"{k}={d[k]} (negative)")
if not isinstance(d.get("seconds"), (int, float)) or isinstance(d.get("seconds"), bool):
    bad.append(f"seconds={d.get('seconds')!r} (want number)")
if not isinstance(d.get("filesystem"), str):
    bad.append(f"filesystem={d.get('filesystem')!r} (want string)")
if not isinstance(d.get("dry_run"), bool):
    bad.append(f"dry_run={d.get('dry_run')!r} (want bool)")
if d.get("index_result") not in ("opened", "created", "rebuilt", "resized", "rekeyed"):
    bad.append(f"index_result={d.get('index_result')!r}")
for b in bad:
    print("report:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# check_one_line_error FILE: stderr is exactly one line starting "dedupd: ".
check_one_line_error() {
	local f=$1
	[ "$(wc -l <"$f")" = 1 ] ||
		_fail "want one line on stderr, got $(wc -l <"$f"): $(head -c 500 "$f")"
	grep -q '^dedupd: ' "$f" ||
		_fail "stderr does not start with 'dedupd: ': $(cat "$f")"
}

# ---- assertions -----------------------------------------------------------

_num() { [[ $1 =~ ^-?[0-9]+$ ]] || _fail "not an integer: '$1' ($2)"; }

# check_eq / check_ge / check_le / check_between ACTUAL BOUND... WHAT
check_eq() {
	_num "$1" "$3"; _num "$2" "$3"
	[ "$1" -eq "$2" ] || _fail "$3: $1, wanted $2"
	log "ok: $3 = $1"
}
check_ge() {
	_num "$1" "$3"; _num "$2" "$3"
	[ "$1" -ge "$2" ] || _fail "$3: $1, wanted >= $2"
	log "ok: $3 = $1 >= $2"
}
check_le() {
	_num "$1" "$3"; _num "$2" "$3"
	[ "$1" -le "$2" ] || _fail "$3: $1, wanted <= $2"
	log "ok: $3 = $1 <= $2"
}
check_between() {
	_num "$1" "$4"; _num "$2" "$4"; _num "$3" "$4"
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ] ||
		_fail "$4: $1, wanted between $2 and $3"
	log "ok: $4 = $1 in [$2, $3]"
}
check_str() {
	[ "$1" = "$2" ] || _fail "$3: '$1', wanted '$2'"
	log "ok: $3 = $1"
}

# ---- extents ---------------------------------------------------------------

# shared_bytes FILE...: bytes in extents flagged shared (FIEMAP).
shared_bytes() { python3 "$IT_DIR/fiemap.py" shared "$@"; }
# data_segments FILE: "OFFSET LENGTH" per data segment (SEEK_DATA/HOLE).
data_segments() { python3 "$IT_DIR/fiemap.py" segments "$1"; }
# alloc_bytes FILE: bytes allocated (st_blocks).
alloc_bytes() { echo $(($(stat -c '%b * %B' "$1"))); }

# ---- making data ------------------------------------------------------------
# Note: cat, and cp without --reflink=never, use copy_file_range, which
# reflinks on btrfs/XFS; build test data with these helpers only.

# rand_file FILE KIB: KIB KiB of random data.
rand_file() {
	head -c $(($2 * 1024)) /dev/urandom >"$1"
}

# rand_bytes FILE BYTES
rand_bytes() {
	head -c "$2" /dev/urandom >"$1"
}

# copy_plain SRC DST: a physical copy (never a reflink), holes kept.
copy_plain() {
	cp --reflink=never --sparse=always "$1" "$2"
}

# splice_file DST SRC:OFF_KIB:LEN_KIB...: DST is the concatenation of the
# given ranges, written with read/write (no reflink).
splice_file() {
	local dst=$1 part src off len
	shift
	: >"$dst"
	for part; do
		IFS=: read -r src off len <<<"$part"
		dd if="$src" bs=1K skip="$off" count="$len" status=none \
			iflag=fullblock >>"$dst"
	done
}

# sparse_file FILE SIZE_KIB SRC OFF_KIB:LEN_KIB...: a sparse file of SIZE
# KiB with SRC's bytes at the given ranges (same offsets), holes elsewhere.
# Calling it twice with the same SRC gives two identical, equally sparse files.
sparse_file() {
	local f=$1 size=$2 src=$3 r off len
	shift 3
	rm -f "$f"
	truncate -s "$((size * 1024))" "$f"
	for r; do
		off=${r%:*} len=${r#*:}
		[ $(((off + len) * 1024)) -le "$(stat -c %s "$src")" ] ||
			_fail "sparse_file: $src is shorter than $r"
		dd if="$src" of="$f" bs=1K skip="$off" seek="$off" count="$len" \
			conv=notrunc status=none iflag=fullblock
	done
}

# flip_byte FILE OFFSET...: invert the byte at each offset, in place.
flip_byte() {
	python3 - "$@" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for off in map(int, sys.argv[2:]):
    b = os.pread(fd, 1, off)
    os.pwrite(fd, bytes([b[0] ^ 0xff]), off)
os.close(fd)
EOF
}

# flip_every_block FILE [BLOCK]: invert one byte in every BLOCK (4096) bytes.
flip_every_block() {
	python3 - "$1" "${2:-4096}" <<'EOF'
import sys
path, bs = sys.argv[1], int(sys.argv[2])
data = bytearray(open(path, "rb").read())
for off in range(0, len(data), bs):
    data[off] ^= 0xff
with open(path, "r+b") as fh:
    fh.write(data)
EOF
}

# sha FILE: its sha256.
sha() { sha256sum <"$1" | cut -d' ' -f1; }

# big_tree DIR NFILES KIB: DIR/d1 with NFILES random files fNN of KIB KiB,
# DIR/d2 a physical copy of d1 (everything in d2 is a duplicate).
big_tree() {
	local dir=$1 n=$2 kib=$3 i
	mkdir -p "$dir/d1"
	for ((i = 0; i < n; i++)); do
		rand_file "$dir/d1/$(printf 'f%02d' "$i")" "$kib"
	done
	cp -a --reflink=never "$dir/d1" "$dir/d2"
}

# Start with a cold page cache, so that timing-dependent tests last.
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

# ---- the daemon (dedupd watch) -----------------------------------------------

WATCH_PID=
WATCH_SOCK=
WATCH_STATE=
WATCH_LOG=
WATCH_SETTLE=1
_nwatch=0

# _watch_alive: the daemon has not exited (a zombie counts as exited).
_watch_alive() {
	local st
	[ -n "$WATCH_PID" ] || return 1
	st=$(awk '{ print $3 }' "/proc/$WATCH_PID/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# _watch_log_tail [N]: the end of the daemon's log, on the test's log.
_watch_log_tail() {
	[ -n "$WATCH_LOG" ] && [ -f "$WATCH_LOG" ] || return 0
	_watch_tail_shown=yes
	echo "---- last ${1:-30} lines of $WATCH_LOG" >&3
	tail -n "${1:-30}" "$WATCH_LOG" | sed 's/^/   watch: /' >&3
}

_watch_fail() {
	_watch_log_tail 40
	_fail "$@"
}

# watch_status_json: the daemon's `dedupd status --json` answer on stdout.
watch_status_json() {
	timeout 10 "$DEDUPD" status --json --socket "$WATCH_SOCK" 3>&-
}

# watch_status_get KEY [FILE]: a value of the daemon's status (of FILE, a
# saved watch_status_json answer, else asked now). A key that is not at the
# top level is taken from the first filesystem ("filesystems":[{...}]): the
# first occurrence in the text; "filesystems.N.KEY" names another one.
# Booleans come out as true/false.
watch_status_get() {
	local key=$1 file=${2:-} js
	if [ -z "$file" ]; then
		js=$(watch_status_json) || _watch_fail "dedupd status failed (asking for $key)"
	else
		js=$(cat "$file")
	fi
	python3 -c '
import json, sys
key, d = sys.argv[1], json.loads(sys.stdin.read())
if key.startswith("filesystems."):
    _, i, key = key.split(".", 2)
    v = d["filesystems"][int(i)][key]
elif key in d:
    v = d[key]
else:
    v = d["filesystems"][0][key]
print(json.dumps(v) if isinstance(v, (bool, type(None))) else v)
' "$key" <<<"$js" || _watch_fail "daemon status has no key $key: $js"
}

# watch_start [OPTION...] MOUNT...: start `dedupd watch` in the background
# with --no-config --settle 1 (neither if OPTIONs give --config: the file
# decides, and WATCH_CONF_SETTLE tells watch_wait_idle its settle delay), -v,
# --socket $TESTDIR/sock, --state-dir $TESTDIR/state, then $WATCH_OPTS (e.g.
# WATCH_OPTS=--dry-run to see that a test can fail), OPTION... MOUNT...
# (later options win). Its stdout and stderr go to $TESTDIR/watch.log
# (appended to: a restart keeps the log). Sets WATCH_PID, WATCH_SOCK,
# WATCH_SETTLE; returns once `dedupd status` answers; fails if it does not
# within 10 s. WATCH_ENV (words NAME=VALUE) goes into its environment.
watch_start() {
	local a prev= cfg=--no-config dflt="--settle 1" i
	WATCH_SOCK=${WATCH_SOCK:-$TESTDIR/sock}
	WATCH_STATE=${WATCH_STATE:-$TESTDIR/state}
	WATCH_LOG=$TESTDIR/watch.log
	WATCH_SETTLE=1
	for a; do
		case $prev in --settle) WATCH_SETTLE=$a ;; esac
		case $a in
		--settle=*) WATCH_SETTLE=${a#--settle=} ;;
		--config | --config=*) cfg= dflt= WATCH_SETTLE=${WATCH_CONF_SETTLE:-5} ;;
		esac
		prev=$a
	done
	case $WATCH_SETTLE in
	*ms) WATCH_SETTLE=$(awk -v v="${WATCH_SETTLE%ms}" 'BEGIN { print v / 1000 }') ;;
	*s) WATCH_SETTLE=${WATCH_SETTLE%s} ;;
	*m) WATCH_SETTLE=$((${WATCH_SETTLE%m} * 60)) ;;
	esac
	_watch_alive && _fail "watch_start: a daemon (pid $WATCH_PID) is still running"
	_nwatch=$((_nwatch + 1))
	echo "==== watch_start #$_nwatch: $*" >>"$WATCH_LOG"
	log "run (daemon): $DEDUPD watch $cfg $dflt -v --socket $WATCH_SOCK --state-dir $WATCH_STATE ${WATCH_OPTS:-} $*"
	env ${WATCH_ENV:-} "$DEDUPD" watch $cfg $dflt -v --socket "$WATCH_SOCK" \
		--state-dir "$WATCH_STATE" ${WATCH_OPTS:-} "$@" \
		>>"$WATCH_LOG" 2>&1 3>&- &
	WATCH_PID=$!
	i=$((SECONDS + 10))
	while [ "$SECONDS" -le "$i" ]; do
		if ! _watch_alive; then
			local rc=0
			wait "$WATCH_PID" || rc=$?
			WATCH_PID=
			_watch_fail "dedupd watch exited with status $rc at start"
		fi
		if timeout 2 "$DEDUPD" status --socket "$WATCH_SOCK" \
			>/dev/null 2>&1 3>&-; then
			log "daemon ready, pid $WATCH_PID"
			return 0
		fi
		sleep 0.1
	done
	_watch_fail "dedupd watch (pid $WATCH_PID) does not answer on $WATCH_SOCK after 10 s"
}

# watch_wait_idle [TIMEOUT]: wait (default 60 s) until the daemon says idle
# (nothing queued, in flight or to catch up) and its events count has not
# moved for more than settle + 0.5 s. Fails on timeout or if it died.
watch_wait_idle() {
	local timeout=${1:-60} js idle ev last_ev=-1 t0 since now
	t0=$(date +%s.%N)
	since=$t0
	while :; do
		if ! _watch_alive; then
			local rc=0 pid=$WATCH_PID
			wait "$WATCH_PID" || rc=$?
			WATCH_PID=
			_watch_fail "dedupd watch (pid $pid) died (exit status $rc)"
		fi
		js=$(watch_status_json) || _watch_fail "dedupd status failed"
		now=$(date +%s.%N)
		read -r idle ev < <(python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
print(json.dumps(d["idle"]), d["events"])' <<<"$js") ||
			_watch_fail "bad status answer: $js"
		if [ "$ev" != "$last_ev" ]; then
			last_ev=$ev
			since=$now
		elif [ "$idle" = true ] && awk -v a="$now" -v b="$since" \
			-v s="$WATCH_SETTLE" 'BEGIN { exit !(a - b > s + 0.5) }'; then
			log "daemon idle after $(awk -v a="$now" -v b="$t0" \
				'BEGIN { printf "%.1f", a - b }') s: $js"
			return 0
		fi
		if awk -v a="$now" -v b="$t0" -v t="$timeout" \
			'BEGIN { exit !(a - b > t) }'; then
			echo "   last status: $js" >&3
			_watch_fail "dedupd watch not idle after $timeout s"
		fi
		sleep 0.2
	done
}

# watch_wait_caught_up [TIMEOUT]: wait (default 30 s) until the daemon has
# finished a catch-up (with a long --settle it never says idle).
watch_wait_caught_up() {
	local end=$((SECONDS + ${1:-30}))
	until [ "$(watch_status_get catchups)" -ge 1 ] &&
		[ "$(watch_status_get catching_up)" = false ]; do
		[ "$SECONDS" -lt "$end" ] || _watch_fail "no catch-up in ${1:-30} s"
		sleep 0.2
	done
}

# watch_stop: SIGTERM, wait (30 s at most) for the daemon, which must exit 0.
watch_stop() {
	local rc=0 i
	[ -n "$WATCH_PID" ] || _fail "watch_stop: no daemon"
	log "stopping the daemon (SIGTERM to $WATCH_PID)"
	kill -TERM "$WATCH_PID" 2>/dev/null || true
	kill -CONT "$WATCH_PID" 2>/dev/null || true	# if stopped
	for ((i = 0; i < 300; i++)); do
		_watch_alive || break
		sleep 0.1
	done
	_watch_alive && _watch_fail "dedupd watch still runs 30 s after SIGTERM"
	wait "$WATCH_PID" || rc=$?
	WATCH_PID=
	[ "$rc" = 0 ] || _watch_fail "dedupd watch exited with status $rc after SIGTERM"
	log "daemon stopped (exit 0)"
}

# watch_kill: SIGKILL the daemon and reap it.
watch_kill() {
	[ -n "$WATCH_PID" ] || _fail "watch_kill: no daemon"
	log "killing the daemon (SIGKILL to $WATCH_PID)"
	kill -KILL "$WATCH_PID" 2>/dev/null || true
	kill -CONT "$WATCH_PID" 2>/dev/null || true
	wait "$WATCH_PID" 2>/dev/null || true
	WATCH_PID=
}

# dup_left [SCAN-ARGS...] MOUNT: bytes_duplicate of a fresh dry-run scan
# (its own index), i.e. duplicate data the daemon left unshared.
dup_left() {
	local db=$DB
	DB=$TESTDIR/other$_nreports.db
	rm -f "$DB"
	scan --dry-run "$@"
	DB=$db
	json_get bytes_duplicate
}

# mount_subvol SUBVOL DIR: mount subvolume SUBVOL (a path from the top level)
# of the btrfs at $MNT on DIR too (unmounted at exit, before $MNT).
mount_subvol() {
	local dev
	dev=$(findmnt -n -o SOURCE --target "$MNT" | sed 's/\[.*//') ||
		_fail "no device for $MNT"
	mkdir -p "$2"
	mount -o "subvol=$1" "$dev" "$2" || _fail "mount -o subvol=$1 $dev $2 failed"
	_mounts+=("$2")
	log "mounted subvolume $1 of $dev on $2"
}

# check_same SRC FILE...: every FILE has exactly SRC's contents.
check_same() {
	local src=$1 want f
	shift
	want=$(sha "$src")
	for f; do
		[ "$(sha "$f")" = "$want" ] || _fail "$f does not hold the contents of $src"
	done
}

# watch_freeze_busy [MIN [HASHED [TIMEOUT]]]: poll the daemon's status as
# fast as it answers (no python) until at least MIN (default 1) files are in
# flight and its bytes_hashed is at least HASHED (default 1), and stop it
# there (SIGSTOP; `kill -CONT $WATCH_PID` or watch_kill next).
# WATCH_FROZEN_STATUS is the last answer. Fails if not seen within TIMEOUT s
# (default 30). A round lasts longer when its files are due together:
# written while the daemon was stopped.
watch_freeze_busy() {
	local min=${1:-1} hashed=${2:-1} timeout=${3:-30} js end
	end=$((SECONDS + timeout))
	while [ "$SECONDS" -lt "$end" ]; do
		js=$(watch_status_json) || _watch_fail "dedupd status failed"
		if [[ $js =~ \"in_flight\":([0-9]+), ]] &&
			[ "${BASH_REMATCH[1]}" -ge "$min" ] &&
			[[ $js =~ \"bytes_hashed\":([0-9]+), ]] &&
			[ "${BASH_REMATCH[1]}" -ge "$hashed" ]; then
			kill -STOP "$WATCH_PID"
			WATCH_FROZEN_STATUS=$js
			log "daemon stopped (SIGSTOP) while busy: $js"
			return 0
		fi
	done
	_watch_fail "the daemon never had $min files in flight and $hashed bytes hashed within $timeout s"
}
