#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reliability under power cuts (issue 11, item 3). The kernel here has no
# device-mapper, so a power cut is a crash-consistent copy of a loop device:
# each btrfs sits on a loop device (--direct-io=on, so that no page cache
# holds its writes) whose backing file lies on a loop-mounted XFS with
# reflink, and `cp --reflink=always BACKING CUT` at a random moment is the
# device as a power cut then would leave it (XFS clones the file under its
# I/O lock, after the direct writes in flight finish: every write the
# device completed is in the copy, none that it had not begun; a device
# that loses completed writes from a volatile cache is not modelled).
#
# Workloads, each in two layouts:
#   scan    `dedupd scan` over a tree of duplicates, again and again; before
#           each pass some duplicate copies are replaced by fresh physical
#           copies of the same content (temporary file written, fsynced,
#           renamed over), so every pass dedupes and every file keeps its
#           sha256 at every instant
#   watch   `dedupd watch --checkpoint 1 --settle 1` while a writer keeps
#           replacing duplicate copies the same way: cuts fall in rounds,
#           checkpoints and idle moments
#   defrag  `dedupd defrag --chunk-size 1M` of files fragmented by random
#           4 KiB rewrites of their own content (copy on write: a new extent
#           each, same bytes), fragmented again after each run
# Layouts:
#   same    the index and state (--db, --state-dir) on the deduped btrfs:
#           one device, each cut atomic for both
#   split   the index and state on a btrfs of their own: both devices cut,
#           one right after the other (state first at even cuts, data first
#           at odd ones: a real cut may leave either one ahead)
#
# After the workload, its filesystems are unmounted (the copies have their
# fsid) and each copy is checked, then deleted: `btrfs check --readonly`
# clean; mounted, every user file has its sha256 (a temporary file of the
# writer may be left, nothing else); the index reopens (`dedupd scan
# --dry-run` on a copy of the index file exits 0 with index_result opened,
# or rebuilt with a warning); scan: a pass with the copy's index, then a
# dry-run scan with a fresh index finds no duplicate left; watch: the daemon
# starts on the copy (index and state there), catches up, becomes idle,
# leaves every file intact and no duplicate a fresh dry-run scan finds, and
# stops cleanly on SIGTERM.
#
# Prints a table per workload and layout, appends a dated "Reliability:
# power cuts" section to contrib/bench/RESULTS.md, exits 1 if any check
# failed. Root only. Every mount and loop device is undone on exit.
#
# env: DEDUPD  CUTS (50 per workload and layout)  WORKLOADS ("scan watch
#      defrag")  LAYOUTS ("same split")  NFILES (16 files in d1/, copied in
#      d2/)  FILE_KIB (4096: files of about half that)  FRAG_MIB (32: two
#      fragmented files)  SEED  WORK  RESULTS (a path, or /dev/null)
#      CHECK_OPTS (more options for the daemon started on each copy)
#      KEEP_FAILED=1 (copies that fail a check are kept in $WORK/failed,
#      as the check left them; all: every copy, as it was cut)
#      INJECT=file (for test 027: one byte of a user file in the first copy
#      checked is flipped, which the checks must report)
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEDUPD=${DEDUPD:-$top/dedupd}
CUTS=${CUTS:-50}
WORKLOADS=${WORKLOADS:-scan watch defrag}
LAYOUTS=${LAYOUTS:-same split}
NFILES=${NFILES:-16}
FILE_KIB=${FILE_KIB:-4096}
FRAG_MIB=${FRAG_MIB:-32}
SEED=${SEED:-$$}
RESULTS=${RESULTS:-$here/RESULTS.md}
INJECT=${INJECT:-}
RANDOM=$SEED

BENCH_NAME=powercut
. "$here/lib.sh"
# its own message prefix (test 027 reads its output)
die() { echo "powercut: $*" >&2; exit 1; }
say() { echo "powercut: $(date +%T) $*" >&2; }
need_root_dedupd
for c in python3 sha256sum mkfs.btrfs mkfs.xfs btrfs losetup; do
	command -v "$c" >/dev/null || die "needs $c"
done
[[ $CUTS =~ ^[1-9][0-9]*$ ]] || die "CUTS must be a positive integer"

own_work=
if [ -z "${WORK:-}" ]; then
	WORK=$(mktemp -d /tmp/dedupd-powercut.XXXXXX)
	own_work=yes
fi
mkdir -p "$WORK/logs"
bench_commit
COMMIT=$COMMIT$DIRTY
cp "$DEDUPD" "$WORK/dedupd-bin"
DEDUPD=$WORK/dedupd-bin
BIN_SHA=$(sha256sum "$DEDUPD" | cut -c1-12)

HOST=$WORK/host		# the XFS that holds the backing files and cuts
SOCK=$WORK/sock
_mounts=()		# mounted by us, in order
_loops=()		# attached by us: DEV:INODE of its backing file
_pids=()		# background processes of ours

# ---- cleanup -----------------------------------------------------------

umount_retry() {	# DIR [TRIES]: half a second apart
	local m=$1 i
	mountpoint -q "$m" 2>/dev/null || return 0
	for ((i = 0; i < ${2:-10}; i++)); do
		umount "$m" 2>/dev/null && return 0
		sleep 0.5
	done
	say "lazy unmount of $m"
	umount -l "$m"
}

# forget_mount DIR / forget_loop DEV: drop them from the lists
forget_mount() {
	local i
	for i in "${!_mounts[@]}"; do
		[ "${_mounts[i]}" != "$1" ] || unset "_mounts[i]"
	done
}
forget_loop() {
	local i
	for i in "${!_loops[@]}"; do
		[ "${_loops[i]%%:*}" != "$1" ] || unset "_loops[i]"
	done
}

# descendants PID: the pids of PID's children, theirs, and so on
descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

cleanup() {
	local rc=$? i m keys
	trap - EXIT INT TERM HUP
	set +e
	# Everything started here (a scan in the background, the writer's
	# cp, the daemon) lets go of the filesystems before they are
	# unmounted: a busy one would be unmounted lazily and keep its
	# loop device, and the host XFS, alive.
	for i in $(descendants $$); do
		kill -9 "$i" 2>/dev/null
	done
	wait 2>/dev/null
	# the btrfs mounts, their loop devices, then the host
	keys=("${!_mounts[@]}")
	for ((i = ${#keys[@]} - 1; i >= 0; i--)); do
		m=${_mounts[keys[i]]}
		[ "$m" = "$HOST" ] || umount_retry "$m"
	done
	for i in "${_loops[@]}"; do
		detach_wait "${i%%:*}" "${i#*:}"
	done
	# the loop devices on its files let go of it in their own time
	umount_retry "$HOST" 60
	if grep -q " $WORK/" /proc/mounts; then
		say "$WORK still has mounts, not removing it"
	elif [ -n "$own_work" ]; then
		rm -rf "$WORK"
	else
		rm -rf "$WORK/host" "$WORK/host.img" "$WORK/chk" "$WORK/mnt" \
			"$WORK/dedupd-bin" "$WORK"/*.idx "$WORK/idx-check"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- devices -------------------------------------------------------------

do_mount() {	# DEV DIR
	mkdir -p "$2"
	mount "$1" "$2" || return 1
	_mounts+=("$2")
}

do_umount() {	# DIR
	umount_retry "$1"
	forget_mount "$1"
}

# attach FILE [losetup options]: LOOPDEV (not printed: the list of loop
# devices to detach at exit lives in this shell, not in a $(...) one)
attach() {
	local f=$1
	shift
	LOOPDEV=$(losetup "$@" -f --show "$f") || return 1
	_loops+=("$LOOPDEV:$(stat -c %i "$f")")
}

# detach_wait DEV INODE: detached, and gone within 30 s (a filesystem on it
# that a dying process still held lets go of it late); retried only while
# DEV is still backed by our file (inode INODE), never once it is another's
detach_wait() {
	local i
	for ((i = 0; i < 60; i++)); do
		[ "$(losetup -n -O BACK-INO "$1" 2>/dev/null | tr -d ' ')" = "$2" ] ||
			return 0
		losetup -d "$1" 2>/dev/null
		sleep 0.5
	done
	say "$1 is still attached"
}

detach() {	# DEV
	losetup -d "$1" 2>/dev/null || { sleep 0.5; losetup -d "$1"; }
	forget_loop "$1"
}

host_up() {
	mkdir -p "$HOST"
	truncate -s 64G "$WORK/host.img"
	mkfs.xfs -q -f -m reflink=1 "$WORK/host.img" || die "mkfs.xfs failed"
	mount -o loop "$WORK/host.img" "$HOST" || die "mount of the host XFS failed"
	_mounts+=("$HOST")
	mkdir -p "$HOST/cuts"
}

# new_btrfs NAME: a btrfs on a fresh 1 GiB backing file $HOST/NAME.img,
# through a direct-I/O loop device, mounted on $WORK/mnt/NAME.
new_btrfs() {
	local name=$1 dev
	truncate -s 1G "$HOST/$name.img"
	attach "$HOST/$name.img" --direct-io=on || die "losetup $name failed"
	dev=$LOOPDEV
	mkfs.btrfs -q -f "$dev" >/dev/null 2>&1 || die "mkfs.btrfs $name failed"
	do_mount "$dev" "$WORK/mnt/$name" || die "mount $name failed"
	eval "DEV_$name=$dev"
}

drop_btrfs() {	# NAME
	local dev
	eval "dev=\$DEV_$1"
	do_umount "$WORK/mnt/$1"
	detach "$dev"
	rm -f "$HOST/$1.img"
}

# ---- data ------------------------------------------------------------------

# manifest DIR: sha256 of every regular file, the writer's temporary files
# (*.pc-tmp) left out
manifest() {
	(cd "$1" && find . -type f ! -name '*.pc-tmp' -print0 | sort -z |
		xargs -0 -r sha256sum --)
}

rand_file() { head -c "$2" /dev/urandom >"$1"; }

# replace SRC DST: DST becomes a fresh physical copy of SRC (same content):
# written beside it, fsynced, renamed over
replace() {
	local tmp
	tmp=$(dirname "$2")/.$(basename "$2").pc-tmp
	cp --reflink=never "$1" "$tmp" && sync "$tmp" && mv -f "$tmp" "$2"
}

# refragment FILE N: N random 4 KiB blocks rewritten with their own bytes
# (btrfs puts each in a new extent); fsync every 64
refragment() {
	python3 - "$1" "$2" "$RANDOM" <<'EOF'
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDWR)
r = random.Random(int(sys.argv[3]))
blocks = os.fstat(fd).st_size // 4096
for i in range(int(sys.argv[2])):
    off = r.randrange(blocks) * 4096
    os.pwrite(fd, os.pread(fd, 4096, off), off)
    if i % 64 == 63:
        os.fsync(fd)
os.fsync(fd)
os.close(fd)
EOF
}

# evict DIR: its files' pages dropped from the page cache (written back
# first), so that the next pass reads them from the device and lasts long
# enough to be cut in the middle
evict() {
	python3 - "$1" <<'EOF'
import os, sys
for d, _, names in os.walk(sys.argv[1]):
    for n in names:
        fd = os.open(os.path.join(d, n), os.O_RDONLY)
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
EOF
}

# rnd MAX: a random number of seconds in [0, MAX)
rnd() { awk -v m="$1" -v r="$RANDOM$RANDOM" 'BEGIN { srand(r); printf "%.3f", rand() * m }'; }

json_get() {	# KEY FILE
	python3 -c 'import json,sys; v=json.load(open(sys.argv[2]))[sys.argv[1]]; print(json.dumps(v) if isinstance(v,(bool,type(None))) else v)' \
		"$1" "$2" 2>/dev/null
}

# ---- cuts --------------------------------------------------------------------

# cut LABEL: copy the backing file(s) as they are now
cut() {
	local n=$((ncut + 1))
	if [ "$LAYOUT" = split ] && [ $((n % 2)) = 0 ]; then
		cp --reflink=always "$HOST/state.img" "$HOST/cuts/$n.state" &&
			cp --reflink=always "$HOST/data.img" "$HOST/cuts/$n.data"
	elif [ "$LAYOUT" = split ]; then
		cp --reflink=always "$HOST/data.img" "$HOST/cuts/$n.data" &&
			cp --reflink=always "$HOST/state.img" "$HOST/cuts/$n.state"
	else
		cp --reflink=always "$HOST/data.img" "$HOST/cuts/$n.data"
	fi || die "cut $n: cp --reflink=always failed"
	ncut=$n
	echo "$n $(date +%s.%N) $1" >>"$WORK/cuts.list"
	[[ $1 == during* ]] && nduring=$((nduring + 1))
	return 0
}

# ---- the daemon --------------------------------------------------------------

# daemon_start LOG MOUNT ARGS...: DPID
daemon_start() {
	local log=$1 i
	shift
	rm -f "$SOCK"
	"$DEDUPD" watch --no-config -v --settle 1 --socket "$SOCK" "$@" \
		>>"$log" 2>&1 &
	DPID=$!
	_pids+=("$DPID")
	for ((i = 0; i < 100; i++)); do
		kill -0 "$DPID" 2>/dev/null || return 1
		"$DEDUPD" status --socket "$SOCK" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# daemon_idle TIMEOUT: idle, and no new event for 1.5 s
daemon_idle() {
	local end=$((SECONDS + $1)) js idle ev last=-1 since=$SECONDS
	while [ "$SECONDS" -lt "$end" ]; do
		kill -0 "$DPID" 2>/dev/null || return 1
		js=$("$DEDUPD" status --json --socket "$SOCK" 2>/dev/null) || return 1
		read -r idle ev < <(python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(json.dumps(d["idle"]), d["events"])' <<<"$js")
		if [ "$ev" != "$last" ]; then
			last=$ev since=$SECONDS
		elif [ "$idle" = true ] && [ $((SECONDS - since)) -ge 2 ]; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# daemon_stop: SIGTERM, exit status 0 within 60 s
daemon_stop() {
	local i rc=0
	kill -TERM "$DPID" 2>/dev/null
	for ((i = 0; i < 600; i++)); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DPID" 2>/dev/null && { kill -9 "$DPID"; wait "$DPID"; return 1; }
	wait "$DPID" || rc=$?
	return "$rc"
}

# ---- workloads -----------------------------------------------------------------

populate() {	# DIR: d1/ random files, d2/ physical copies
	local i
	mkdir -p "$1/d1" "$1/d2"
	for ((i = 0; i < NFILES; i++)); do
		# sizes vary, some with a partial last block
		rand_file "$1/d1/f$i" $((FILE_KIB * 1024 / 2 + (i * 37 % 97) * 10000))
		cp --reflink=never "$1/d1/f$i" "$1/d2/f$i"
	done
}

refresh() {	# DIR N: N random copies in d2/ replaced
	local i k
	for ((k = 0; k < $2; k++)); do
		i=$((RANDOM % NFILES))
		replace "$1/d1/f$i" "$1/d2/f$i" || return 1
	done
}

# run_cmd_cut NAME CMD...: runs CMD in the background, cuts once at a random
# moment within 80 % of the last run's duration, waits for it (exit 0 or
# the workload fails)
last_dur=1
run_cmd_cut() {
	local name=$1 pid t0 rc label
	shift
	rm -f "$WORK/cmd.end"
	t0=$(date +%s.%N)
	(
		rc=0
		"$@" >"$WORK/logs/$name.out" 2>"$WORK/logs/$name.err" || rc=$?
		echo "$(date +%s.%N) $rc" >"$WORK/cmd.end"
	) &
	pid=$!
	sleep "$(rnd "$(awk -v d="$last_dur" 'BEGIN { print d * 0.8 }')")"
	label="during $name"
	[ ! -e "$WORK/cmd.end" ] || label="after $name"
	cut "$label"
	wait "$pid"
	read -r t1 rc <"$WORK/cmd.end"
	last_dur=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	if [ "$rc" != 0 ]; then
		say "$name exited $rc: $(head -c 300 "$WORK/logs/$name.err")"
		workload_errors=$((workload_errors + 1))
	fi
}

# first_scans DIR: the index made, d1/ first, so that the copies replaced
# later are never where the index finds their content: it keeps one
# location per block, and a copy deleted by a rename leaves a stale one
# that new copies then fail to match (README, limits), power cut or not
first_scans() {
	"$DEDUPD" scan -q --no-progress --db "$DB" "$DATA/files/d1" &&
		"$DEDUPD" scan -q --no-progress --db "$DB" "$1" ||
		{ say "first scans failed"; workload_errors=$((workload_errors + 1)); }
}

wl_scan() {
	local files=$DATA/files
	populate "$files"
	mkdir -p "$STATEDIR"
	first_scans "$files"
	manifest "$files" >"$WORK/before"
	sync
	while [ "$nduring" -lt "$CUTS" ]; do
		refresh "$files" $((NFILES / 2)) || workload_errors=$((workload_errors + 1))
		evict "$files"
		run_cmd_cut scan "$DEDUPD" scan --json --no-progress -t 1 \
			--db "$DB" "$files"
	done
}

wl_defrag() {
	local files=$DATA/files i
	populate "$files"
	mkdir -p "$files/frag" "$STATEDIR"
	for i in 1 2; do
		rand_file "$files/frag/img$i" $((FRAG_MIB * 1024 * 1024))
		refragment "$files/frag/img$i" $((FRAG_MIB * 32))
	done
	first_scans "$files"
	manifest "$files" >"$WORK/before"
	sync
	while [ "$nduring" -lt "$CUTS" ]; do
		run_cmd_cut defrag "$DEDUPD" defrag --json --no-progress \
			--chunk-size 1M --delay 5 "$files/frag"
		for i in 1 2; do
			refragment "$files/frag/img$i" $((FRAG_MIB * 32))
		done
	done
}

# the writer of the watch workload: replaces copies in d2/ until STOP exists
writer() {
	local files=$1 i
	while [ ! -e "$WORK/stop" ]; do
		i=$((RANDOM % NFILES))
		replace "$files/d1/f$i" "$files/d2/f$i" || return 1
		sleep "$(rnd 0.4)"
	done
}

wl_watch() {
	local files=$DATA/files st wpid
	populate "$files"
	mkdir -p "$STATEDIR"
	first_scans "$files/d1"
	manifest "$files" >"$WORK/before"
	sync
	if ! daemon_start "$WORK/logs/watch-$LAYOUT.log" --checkpoint 1 \
		--db "$DB" --state-dir "$STATEDIR" "$DATA" ||
		! daemon_idle 120; then
		say "the daemon did not start or settle: $(tail -n 5 "$WORK/logs/watch-$LAYOUT.log")"
		workload_errors=$((workload_errors + 1))
		return
	fi
	rm -f "$WORK/stop"
	writer "$files" &
	wpid=$!
	_pids+=("$wpid")
	while [ "$nduring" -lt "$CUTS" ]; do
		sleep "$(rnd 2)"
		if ! kill -0 "$DPID" 2>/dev/null; then
			say "the daemon died"
			workload_errors=$((workload_errors + 1))
			break
		fi
		st=$("$DEDUPD" status --json --socket "$SOCK" 2>/dev/null |
			python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"].replace(" ", "-"))' 2>/dev/null)
		cut "during watch ${st:-unknown}"
	done
	touch "$WORK/stop"
	wait "$wpid" || workload_errors=$((workload_errors + 1))
	# without a cut: what the daemon leaves once idle, for comparison
	if daemon_idle 120; then
		base_left=$(dup_left "$files")
	else
		base_left=-1
	fi
	daemon_stop || { say "the daemon did not stop cleanly"; workload_errors=$((workload_errors + 1)); }
	grep -E 'error|warn' "$WORK/logs/watch-$LAYOUT.log" | head -n 5 >&2
}

# ---- checking a copy -----------------------------------------------------------

# dup_left DIR: bytes_duplicate of a dry-run scan with a fresh index
dup_left() {
	rm -f "$WORK/fresh.idx"
	"$DEDUPD" scan --dry-run --json --no-progress -vv --db "$WORK/fresh.idx" "$1" \
		>"$WORK/fresh.json" 2>"$WORK/fresh.err" || { echo -1; return; }
	json_get bytes_duplicate "$WORK/fresh.json" || echo -1
}

check_copy() {
	local n=$1 label=$2 cdata=$WORK/chk/data cstate cdb f dev ok=yes
	local fsck=ok files=ok index=failed extra="" d rc
	cstate=$cdata
	[ "$LAYOUT" = same ] || cstate=$WORK/chk/state
	: >"$WORK/check.err"
	if [ "${KEEP_FAILED:-}" = all ]; then	# as they were cut
		mkdir -p "$WORK/failed"
		for f in data state; do
			[ ! -e "$HOST/cuts/$n.$f" ] ||
				cp --sparse=always "$HOST/cuts/$n.$f" "$WORK/failed/$WORKLOAD-$LAYOUT-$n.$f"
		done
	fi
	for f in data state; do
		[ -e "$HOST/cuts/$n.$f" ] || continue
		if ! btrfs check --readonly "$HOST/cuts/$n.$f" >"$WORK/fsck.out" 2>&1; then
			fsck=BAD
			cp "$WORK/fsck.out" "$WORK/logs/fsck-$WORKLOAD-$LAYOUT-$n-$f.txt"
		fi
		attach "$HOST/cuts/$n.$f" || die "losetup of cut $n failed"
		dev=$LOOPDEV
		eval "cdev_$f=$dev"
		do_mount "$dev" "$WORK/chk/$f" || { fsck=BAD; extra+=" mount-$f=failed"; }
	done
	cdb=$cstate/state/index
	if mountpoint -q "$cdata"; then
		if [ -n "$INJECT" ] && [ "$nchecked" = 0 ]; then
			python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); b=os.pread(fd,1,4096); os.pwrite(fd, bytes([b[0]^0xff]), 4096); os.fsync(fd)' \
				"$cdata/files/d1/f0"
		fi
		manifest "$cdata/files" >"$WORK/now"
		if ! diff "$WORK/before" "$WORK/now" >"$WORK/diff"; then
			files=CHANGED
			extra+=" changed=$(grep -c '^[<>]' "$WORK/diff")"
			cp "$WORK/diff" "$WORK/logs/diff-$WORKLOAD-$LAYOUT-$n.txt"
		fi
		# the index reopens (checked on a copy of it, which the scan may
		# update, so that the daemon below finds the cut's own)
		if [ -f "$cdb" ] && ! cp --reflink=never "$cdb" "$WORK/idx-check"; then
			extra+=" index=not-copied"	# the check's own failure
		elif [ -f "$cdb" ]; then
			rc=0
			"$DEDUPD" scan --dry-run --json --no-progress --db "$WORK/idx-check" \
				"$cdata/files" >"$WORK/idx.json" 2>"$WORK/idx.err" || rc=$?
			d=$(json_get index_result "$WORK/idx.json")
			if [ "$rc" = 0 ] && [ "$d" = opened ]; then
				index=opened
			elif [ "$rc" = 0 ] && [ "$d" = rebuilt ] && [ -s "$WORK/idx.err" ]; then
				index=rebuilt
				extra+=" ($(head -n 1 "$WORK/idx.err" | sed "s|$WORK/||g"))"
			else
				extra+=" index_rc=$rc index_result=${d:-none}"
			fi
			rm -f "$WORK/idx-check"
		else
			extra+=" index=missing"
		fi
		case $WORKLOAD in
		scan)	# a pass with the cut's index finishes the job
			rc=0
			"$DEDUPD" scan --json --no-progress --db "$cdb" "$cdata/files" \
				>"$WORK/rescan.json" 2>>"$WORK/check.err" || rc=$?
			d=$(dup_left "$cdata/files")
			extra+=" rescan_rc=$rc dup_left=$d"
			[ "$d" = 0 ] || grep 'dedupe onto' "$WORK/fresh.err" \
				>"$WORK/logs/dup-$WORKLOAD-$LAYOUT-$n.txt"
			if [ "$rc" != 0 ] || [ "$d" != 0 ]; then
				rescan_bad=$((rescan_bad + 1))
				ok=no
			fi
			;;
		watch)
			rc=0
			if daemon_start "$WORK/logs/check-$LAYOUT-$n.log" --checkpoint 5 ${CHECK_OPTS:-} \
				--db "$cdb" --state-dir "$cstate/state" "$cdata" &&
				daemon_idle 180; then
				d=$(dup_left "$cdata/files")
				manifest "$cdata/files" | diff -q "$WORK/before" - >/dev/null ||
					{ files=CHANGED; extra+=" changed_by_daemon"; }
				daemon_stop || rc=$?
				extra+=" daemon_stop_rc=$rc dup_left=$d"
				[ "$d" = 0 ] || grep 'dedupe onto' "$WORK/fresh.err" \
					>"$WORK/logs/dup-$WORKLOAD-$LAYOUT-$n.txt"
				if [ "$rc" = 0 ] && [ "$d" = 0 ]; then
					daemon_ok=$((daemon_ok + 1))
				else
					ok=no
				fi
			else
				extra+=" daemon=failed"
				kill -9 "$DPID" 2>/dev/null
				wait "$DPID" 2>/dev/null
				ok=no
			fi
			if [ "$ok" = yes ]; then
				rm -f "$WORK/logs/check-$LAYOUT-$n.log"
			fi
			;;
		esac
	fi
	for f in state data; do
		eval "dev=\${cdev_$f:-}"
		[ -n "$dev" ] || continue
		do_umount "$WORK/chk/$f"
		detach "$dev"
		eval "cdev_$f="
	done
	nchecked=$((nchecked + 1))
	[ "$fsck" = ok ] || { fsck_bad=$((fsck_bad + 1)); ok=no; }
	[ "$files" = ok ] || { files_bad=$((files_bad + 1)); ok=no; }
	case $index in
	opened) idx_opened=$((idx_opened + 1)) ;;
	rebuilt) idx_rebuilt=$((idx_rebuilt + 1)) ;;
	*) idx_failed=$((idx_failed + 1)); ok=no ;;
	esac
	if [ "$ok" = no ] && [ "${KEEP_FAILED:-}" = 1 ]; then
		mkdir -p "$WORK/failed"
		for f in data state; do
			[ ! -e "$HOST/cuts/$n.$f" ] ||
				cp --sparse=always "$HOST/cuts/$n.$f" "$WORK/failed/$WORKLOAD-$LAYOUT-$n.$f"
		done
	fi
	rm -f "$HOST/cuts/$n.data" "$HOST/cuts/$n.state"
	[ "$ok" = yes ] || failed_copies=$((failed_copies + 1))
	raw+=("$WORKLOAD $LAYOUT cut=$n ($label) fsck=$fsck files=$files index=$index$extra")
	[ "$ok" = yes ] || say "cut $n ($label): fsck=$fsck files=$files index=$index$extra"
}

# ---- main --------------------------------------------------------------------

host_up
rows=() raw=() any_failed=0
for WORKLOAD in $WORKLOADS; do
	case $WORKLOAD in scan | watch | defrag) ;; *) die "unknown workload $WORKLOAD" ;; esac
	for LAYOUT in $LAYOUTS; do
		case $LAYOUT in same | split) ;; *) die "unknown layout $LAYOUT" ;; esac
		say "$WORKLOAD, index and state on the $([ "$LAYOUT" = same ] && echo deduped btrfs || echo btrfs of their own): $CUTS cuts"
		t_start=$SECONDS
		ncut=0 nduring=0 nchecked=0 fsck_bad=0 files_bad=0 idx_opened=0
		idx_rebuilt=0 idx_failed=0 daemon_ok=0 rescan_bad=0 workload_errors=0
		failed_copies=0 last_dur=1 base_left=-
		: >"$WORK/cuts.list"
		new_btrfs data
		DATA=$WORK/mnt/data
		if [ "$LAYOUT" = split ]; then
			new_btrfs state
			STATEDIR=$WORK/mnt/state/state
		else
			STATEDIR=$DATA/state
		fi
		DB=$STATEDIR/index
		"wl_$WORKLOAD"
		t_run=$((SECONDS - t_start))
		[ "$LAYOUT" = same ] || drop_btrfs state
		drop_btrfs data
		say "$WORKLOAD/$LAYOUT: $ncut cuts ($nduring during the work) in $t_run s; checking them"
		while read -r n t label; do
			check_copy "$n" "$label"
		done <"$WORK/cuts.list"
		t_all=$((SECONDS - t_start))
		case $WORKLOAD in
		scan) col_extra="rescan left duplicates: $rescan_bad" ;;
		watch) col_extra="daemon restarts ok: $daemon_ok/$nchecked; uncut run left $base_left bytes duplicate" ;;
		defrag) col_extra="-" ;;
		esac
		rows+=("| $WORKLOAD | $LAYOUT | $ncut ($nduring during) | $nchecked | $fsck_bad | $files_bad | $idx_opened / $idx_rebuilt / $idx_failed | $col_extra | $workload_errors | ${t_run} + $((t_all - t_run)) |")
		raw+=("summary $WORKLOAD $LAYOUT cuts=$ncut during=$nduring checked=$nchecked fsck_bad=$fsck_bad files_changed=$files_bad index_opened=$idx_opened index_rebuilt=$idx_rebuilt index_failed=$idx_failed daemon_ok=$daemon_ok uncut_dup_left=$base_left rescan_bad=$rescan_bad workload_errors=$workload_errors failed_copies=$failed_copies run_s=$t_run check_s=$((t_all - t_run))")
		say "${raw[-1]}"
		if [ "$failed_copies" != 0 ] || [ "$workload_errors" != 0 ] ||
			[ "$nchecked" != "$ncut" ] || [ "$nduring" -lt "$CUTS" ]; then
			any_failed=1
		fi
	done
done

verdict="all checks passed"
[ "$any_failed" = 0 ] || verdict="SOME CHECKS FAILED"
{
	echo
	echo "## $(date +%F) Reliability: power cuts, binary $COMMIT (contrib/bench/powercut.sh)"
	echo
	echo "kernel $(uname -r), $(nproc) CPUs, btrfs-progs $(btrfs --version | awk '{ print $2 }'); binary sha256 $BIN_SHA; seed $SEED; $CUTS cuts at least during each workload and layout; each cut a \`cp --reflink=always\` of the btrfs's direct-I/O loop device's backing file on an XFS; $verdict"
	echo
	echo "| workload | index/state | cuts taken | copies checked | fsck not clean | files changed | index opened / rebuilt / failed | | workload errors | seconds (run + check) |"
	echo "|---|---|---|---:|---:|---:|---|---|---:|---|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "<details><summary>raw</summary>"
	echo
	echo '```'
	printf '%s\n' "${raw[@]}"
	echo '```'
	echo
	echo "</details>"
} | tee -a "$RESULTS"
exit "$any_failed"
