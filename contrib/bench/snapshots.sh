#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark "every reference moves" (btrfs): what `dedupd scan` frees in a
# subvolume whose read-only snapshots sit elsewhere, against the limit (what
# block dedupe could free inside the subvolume: ../shared/bench/dup-limit.py,
# measured before). Each case on a fresh loop-mounted btrfs image; subvolume
# home holds two real copies (cp -a --reflink=never) of the CORPUS tree:
#
#   1     3 read-only snapshots of home in .snapshots/1..3; `dedupd scan home`
#   2     the same layout; `dedupd scan MOUNT` (the whole filesystem)
#   3     SNAPS (100, 1000) read-only snapshots; `dedupd scan home` (SIGINT
#         after SCAN_TIMEOUT s: the report is what it did until then)
#   4     case 1's layout and a writable snapshot of home with 10% of its
#         4 KiB blocks rewritten (random pwrites of random data); `dedupd scan
#         home`: the rewritten blocks keep their content
#   5     `dedupd watch` on the mount while the second copy is written (at
#         CORPUS size / WRITE_SECS per second) and a read-only snapshot is
#         taken every 10 s meanwhile; after idle, against `dedupd scan MOUNT`
#         on an identical setup without the daemon
#   bees  bees (BEES, BEESHOME outside the filesystem, 128 MiB hash table) on
#         case 1's layout, stopped after BEES_SECS s or once used space has
#         not moved for BEES_QUIET s
#
# Every case: sha256 of every file of every subvolume and snapshot before
# and after (intact), used bytes (df after `btrfs filesystem sync`) before
# and after (growth must be <= 0), wall time, peak RSS (/usr/bin/time).
# Caches are dropped before each timed run. Prints a markdown section (and
# the raw lines) and appends it to RESULTS. Root only.
#
# env: DEDUPD  CORPUS (/srv/dedupd-bench/rootfs-min, debootstrapped if absent)
#      CASES ("1 2 3 4 5 bees")  SNAPS ("100 1000")  IMG_SIZE (4G)
#      SNAP_IMG_SIZE (32G, case 3)  SCAN_TIMEOUT (1500)  WRITE_SECS (60)
#      BEES (/tmp/bees-src/bin/bees)  BEES_SECS (150)  BEES_QUIET (30)
#      COMMIT (what the binary was built from)  SHARED  RESULTS  WORK
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEDUPD=${DEDUPD:-$top/dedupd}
CORPUS=${CORPUS:-/srv/dedupd-bench/rootfs-min}
CASES=${CASES:-1 2 3 4 5 bees}
SNAPS=${SNAPS:-100 1000}
IMG_SIZE=${IMG_SIZE:-4G}
SNAP_IMG_SIZE=${SNAP_IMG_SIZE:-32G}
SCAN_TIMEOUT=${SCAN_TIMEOUT:-1500}
WRITE_SECS=${WRITE_SECS:-60}
BEES=${BEES:-/tmp/bees-src/bin/bees}
BEES_SECS=${BEES_SECS:-150}
BEES_QUIET=${BEES_QUIET:-30}
SHARED=${SHARED:-$top/../shared}
RESULTS=${RESULTS:-$here/RESULTS.md}
MiB=$((1024 * 1024))

BENCH_NAME=snapshots BENCH_CLOCK=1
. "$here/lib.sh"
has() { [[ " $1 " == *" $2 "* ]]; }
need_root_dedupd
[ -f "$SHARED/bench/dup-limit.py" ] || die "no $SHARED/bench/dup-limit.py (set SHARED=)"
need python3 btrfs mkfs.btrfs sha256sum /usr/bin/time losetup tar
if [ ! -d "$CORPUS" ]; then	# as ../shared/bench/make-corpus.sh finds the mirror
	mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
	say "debootstrap --variant=minbase bookworm $CORPUS $mirror"
	debootstrap --variant=minbase bookworm "$CORPUS.tmp" "$mirror" >"$CORPUS.log" 2>&1 ||
		die "debootstrap failed, see $CORPUS.log"
	mv "$CORPUS.tmp" "$CORPUS"
fi

WORK=${WORK:-$(mktemp -d /tmp/dedupd-bench-snapshots.XXXXXX)}
mkdir -p "$WORK"
MNT=$WORK/mnt
mkdir -p "$MNT"
if [ -z "${COMMIT:-}" ]; then
	COMMIT=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[ "$DEDUPD" = "$top/dedupd" ] || COMMIT="$COMMIT?"
fi
BIN_SHA=$(sha256sum <"$DEDUPD" | cut -d' ' -f1)
cp "$DEDUPD" "$WORK/dedupd"	# what is measured, whatever is built meanwhile
DEDUPD=$WORK/dedupd
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
WPID=

cleanup() {
	local m
	[ -z "$WPID" ] || stop "$WPID"
	for m in $(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	rm -f "$WORK"/*.img "$WORK"/*.idx* "$WORK"/*.before "$WORK"/*.after "$WORK/dedupd"
	rm -rf "$WORK/beeshome" "$WORK/state"
}
trap cleanup EXIT
# stop PID: SIGTERM to PID's children (under /usr/bin/time) or else to PID,
# SIGKILL after 60 s; waits for PID.
stop() {
	local c i
	c=$(pgrep -P "$1" || echo "$1")
	kill -TERM $c 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL $c 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# The helper: manifest ROOT (sha256 of every regular file, in walk order,
# nproc processes), rewrite DIR LIST (10% of DIR's 4 KiB blocks, random data),
# verify LIST (how many listed blocks changed), throttle RATE (stdin to
# stdout at RATE bytes/s).
cat >"$WORK/helper.py" <<'PY'
import hashlib, os, random, sys, time
from multiprocessing import Pool
def sha(p):
    h = hashlib.sha256()
    try:
        with open(p, 'rb') as f:
            while b := f.read(1 << 20):
                h.update(b)
        return h.hexdigest()
    except OSError as e:
        return 'ERROR:%s' % e.errno
def walk(d):
    for e in sorted(os.scandir(d), key=lambda e: e.name):
        if e.is_dir(follow_symlinks=False):
            yield from walk(e.path)
        elif e.is_file(follow_symlinks=False):
            yield e.path
def sha_of(p):
    return p, sha(p)
cmd = sys.argv[1]
if cmd == 'manifest':
    root, out = sys.argv[2], sys.stdout
    with Pool(os.cpu_count()) as pool:
        for p, h in pool.imap(sha_of, walk(root), chunksize=64):
            out.write('%s  %s\n' % (h, os.path.relpath(p, root)))
elif cmd == 'rewrite':
    rnd, seen, blocks = random.Random(10), set(), []
    for p in walk(sys.argv[2]):
        st = os.stat(p)
        if st.st_ino not in seen:	# (a hard link's blocks once)
            seen.add(st.st_ino)
            blocks += [(p, i) for i in range(st.st_size // 4096)]
    with open(sys.argv[3], 'w') as lst:
        for p, i in sorted(rnd.sample(blocks, len(blocks) // 10)):
            b = os.urandom(4096)
            fd = os.open(p, os.O_WRONLY)
            os.pwrite(fd, b, i * 4096)
            os.close(fd)
            lst.write('%s %d %s\n' % (hashlib.sha256(b).hexdigest(), i * 4096, p))
    print(len(blocks) // 10, len(blocks))
elif cmd == 'verify':
    bad = n = 0
    for line in open(sys.argv[2]):
        h, off, p = line.rstrip('\n').split(' ', 2)
        with open(p, 'rb') as f:
            f.seek(int(off))
            bad += hashlib.sha256(f.read(4096)).hexdigest() != h
        n += 1
    print(bad, n)
elif cmd == 'throttle':
    rate, t0, done = float(sys.argv[2]), time.monotonic(), 0
    while b := sys.stdin.buffer.read(1 << 20):
        sys.stdout.buffer.write(b)
        done += len(b)
        time.sleep(max(0.0, t0 + done / rate - time.monotonic()))
PY
helper() { python3 "$WORK/helper.py" "$@"; }

# ---- filesystems ------------------------------------------------------------

# used: as lib.sh's, btrfs synced twice
used() {
	sync
	btrfs filesystem sync "$MNT" >/dev/null
	btrfs filesystem sync "$MNT" >/dev/null
	df -B1 --output=used "$MNT" | tail -n 1 | tr -d ' '
}
# dm KEY N: btrfs's data and metadata used bytes now in R[KEY,dN], R[KEY,mN]
# (after used(); df counts metadata twice: DUP).
dm() {
	local d m
	read -r d m < <(btrfs filesystem df -b "$MNT" |
		awk '/^Data/ { sub(/.*used=/, ""); d = $0 } /^Metadata/ { sub(/.*used=/, ""); m = $0 } END { print d, m }')
	R[$1,d$2]=$d R[$1,m$2]=$m
}
# dm_figures KEY [KEY0]: data freed (from KEY0's d0, else KEY's) and its %
# of the limit, metadata growth, as MiB
dm_figures() {
	local k0=${2:-$1}
	R[$1,dfreed]=$(mib $((R[$k0,d0] - R[$1,d1])))
	R[$1,dpct]=$(pct $((R[$k0,d0] - R[$1,d1])) "$LIMIT")
	R[$1,mgrow]=$(mib $((R[$1,m1] - R[$k0,m0])))
	echo "$1 data_before=${R[$k0,d0]} data_after=${R[$1,d1]} metadata_before=${R[$k0,m0]} metadata_after=${R[$1,m1]}" >>"$WORK/raw"
}
mib() { python3 -c "print(round($1 / 1048576, 1))"; }
pct() { python3 -c "print(round(100 * $1 / $2, 1) if $2 else '-')"; }

# layout N [SIZE]: a fresh filesystem, home with two copies of CORPUS,
# N read-only snapshots of home in .snapshots/1..N. Sets LIMIT, LOGICAL
# (dup-limit.py's dup_bytes and logical_bytes of home), SNAP_S.
layout() {
	local n=$1 i t0
	fresh_fs btrfs "${2:-$IMG_SIZE}"
	btrfs -q subvolume create "$MNT/home"
	mkdir "$MNT/home/a" "$MNT/home/b" "$MNT/.snapshots"
	cp -a --reflink=never "$CORPUS/." "$MNT/home/a/"
	cp -a --reflink=never "$CORPUS/." "$MNT/home/b/"
	sync
	dup_limit "$MNT/home"
	t0=$(date +%s.%N)
	for ((i = 1; i <= n; i++)); do
		btrfs -q subvolume snapshot -r "$MNT/home" "$MNT/.snapshots/$i"
	done
	sync
	SNAP_S=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
}
dup_limit() {
	local out
	out=$(python3 "$SHARED/bench/dup-limit.py" "$1")
	echo "dup-limit $1: $out" >>"$WORK/raw"
	LIMIT=$(sed -n 's/.* dup_bytes=\([0-9]*\).*/\1/p' <<<"$out")
	LOGICAL=$(sed -n 's/.*logical_bytes=\([0-9]*\).*/\1/p' <<<"$out")
}

manifest() { helper manifest "$MNT" >"$WORK/$1"; }
# intact KEY: R[KEY,intact] from $WORK/KEY.before and .after
intact() {
	local n
	if cmp -s "$WORK/$1.before" "$WORK/$1.after"; then
		R[$1,intact]="yes ($(wc -l <"$WORK/$1.after") files)"
	else
		n=$(diff "$WORK/$1.before" "$WORK/$1.after" | grep -c '^>' || true)
		R[$1,intact]="NO ($n of $(wc -l <"$WORK/$1.before") files differ)"
		diff "$WORK/$1.before" "$WORK/$1.after" | head -n 20 | sed "s/^/$1 differs: /" >>"$WORK/raw"
	fi
	grep -q ERROR "$WORK/$1.after" && R[$1,intact]="${R[$1,intact]}, unreadable files"
	rm -f "$WORK/$1.before" "$WORK/$1.after"
}

# timed OUT CMD...: run CMD; sets RC, SECS (wall, sync included), RSS (peak
# KiB), STOPPED (yes if it ran SCAN_TIMEOUT s and got SIGINT; SIGKILL 120 s
# later). stdout to OUT, stderr to OUT.err.
timed() { RSS_NONE=0 bench_timed "$SCAN_TIMEOUT" "$@"; }


declare -A R
# scan_case KEY LAYOUT PATH: manifest, used, dropped caches, the timed scan
# of PATH, used, manifest; the figures in R[KEY,*].
scan_case() {
	local k=$1
	manifest "$k.before"
	U0=$(used)
	dm "$k" 0
	drop_caches
	say "$k: dedupd scan $3 (limit $(mib "$LIMIT") MiB)"
	timed "$WORK/$k.json" "$DEDUPD" scan --json --no-progress --db "$WORK/$k.idx" "$3"
	U1=$(used)
	dm "$k" 1
	dm_figures "$k"
	manifest "$k.after"
	intact "$k"
	R[$k,layout]=$2 R[$k,limit]=$(mib "$LIMIT") R[$k,freed]=$(mib $((U0 - U1)))
	R[$k,pct]=$(pct $((U0 - U1)) "$LIMIT") R[$k,growth]=$(mib $((U1 > U0 ? U1 - U0 : 0)))
	R[$k,t]=$SECS R[$k,rss]=$(mib $((RSS * 1024)))
	R[$k,sgib]=$(python3 -c "print(round($SECS / ($LOGICAL / 2**30), 2))")
	R[$k,rc]=$RC
	[ "$STOPPED" = no ] || R[$k,rc]="$RC (SIGINT at ${SCAN_TIMEOUT} s)"
	for f in refs_relinked refs_pinned bytes_pinned bytes_freed errors; do
		R[$k,$f]=$(jget $f "$WORK/$k.json")
	done
	R[$k,bytes_pinned]=$(mib "${R[$k,bytes_pinned]/-/0}")
	echo "$k used_before=$U0 used_after=$U1 limit=$LIMIT logical=$LOGICAL wall_s=$SECS rss_kb=$RSS rc=$RC stopped=$STOPPED snapshots_s=${SNAP_S:-}" >>"$WORK/raw"
	echo "$k report $(cat "$WORK/$k.json")" >>"$WORK/raw"
	[ ! -s "$WORK/$k.json.err" ] || head -n 5 "$WORK/$k.json.err" | sed "s/^/$k stderr: /" >>"$WORK/raw"
	rm -f "$WORK/$k.idx"*
	say "$k: freed ${R[$k,freed]} MiB (${R[$k,pct]}% of the limit) in $SECS s, RSS ${R[$k,rss]} MiB, intact ${R[$k,intact]}"
}

# ---- the cases -----------------------------------------------------------------

if has "$CASES" 1; then
	say "1: layout, 3 snapshots"
	layout 3
	scan_case c1 "home, 3 ro snapshots; scan home" "$MNT/home"
fi
if has "$CASES" 2; then
	say "2: layout, 3 snapshots"
	layout 3
	scan_case c2 "home, 3 ro snapshots; scan MOUNT" "$MNT"
fi
if has "$CASES" 3; then
	for n in $SNAPS; do
		say "3: layout, $n snapshots"
		layout "$n" "$SNAP_IMG_SIZE"
		scan_case "c3_$n" "home, $n ro snapshots; scan home" "$MNT/home"
	done
fi
if has "$CASES" 4; then
	say "4: layout, 3 snapshots and a writable one, 10% rewritten"
	layout 3
	btrfs -q subvolume snapshot "$MNT/home" "$MNT/ws"
	read -r nrw nbl < <(helper rewrite "$MNT/ws" "$WORK/rewritten")
	sync
	read -r bad n < <(helper verify "$WORK/rewritten")
	[ "$bad" = 0 ] || die "4: $bad rewritten blocks differ before the scan"
	scan_case c4 "home, 3 ro snapshots, writable snapshot with $nrw of $nbl blocks rewritten; scan home" "$MNT/home"
	read -r bad n < <(helper verify "$WORK/rewritten")
	R[c4,rewritten]="$((n - bad)) of $n kept"
	[ "$bad" = 0 ] || R[c4,rewritten]="${R[c4,rewritten]}, $bad CHANGED"
fi

# watch_setup KEY daemon|none: home with the first copy; (the daemon started,
# idle); the second copy written in WRITE_SECS s, a read-only snapshot every
# 10 s meanwhile. Sets UW (used after the write).
watch_setup() {
	local k=$1 rate i=0 tpid t
	fresh_fs btrfs "$IMG_SIZE"
	btrfs -q subvolume create "$MNT/home"
	mkdir "$MNT/home/a" "$MNT/home/b" "$MNT/.snapshots"
	cp -a --reflink=never "$CORPUS/." "$MNT/home/a/"
	sync
	if [ "$2" = daemon ]; then
		rm -rf "$WORK/state"
		"$DEDUPD" watch --no-config \
			--socket "$WORK/sock" --state-dir "$WORK/state" --db "$WORK/$k.idx" \
			"$MNT" >"$WORK/$k.log" 2>&1 &
		WPID=$!
		for ((t = 0; t < 100; t++)); do
			"$DEDUPD" status --socket "$WORK/sock" >/dev/null 2>&1 && break
			sleep 0.1
		done
		watch_idle
	fi
	rate=$(($(du -sb "$CORPUS" | cut -f1) / WRITE_SECS))
	say "$k: second copy at $rate bytes/s, a snapshot every 10 s"
	(tar -C "$CORPUS" -cf - . | helper throttle "$rate" | tar -C "$MNT/home/b" -xpf -) &
	tpid=$!
	t=$SECONDS
	while kill -0 "$tpid" 2>/dev/null; do
		sleep 1
		if kill -0 "$tpid" 2>/dev/null && [ $((SECONDS - t)) -ge 10 ]; then
			t=$SECONDS
			i=$((i + 1))
			btrfs -q subvolume snapshot -r "$MNT/home" "$MNT/.snapshots/$i"
		fi
	done
	wait "$tpid"
	R[$k,snaps]=$i
	UW=$(used)
	WEND=$SECONDS
}
# watch_idle: until the daemon says idle and its events have not moved for
# settle (5 s) + 0.5 s (as tests/integration/lib.sh waits); 900 s at most.
watch_idle() {
	local js idle ev last=-1 since=$SECONDS t0=$SECONDS
	while [ $((SECONDS - t0)) -lt 900 ]; do
		js=$("$DEDUPD" status --json --socket "$WORK/sock") || die "dedupd status failed"
		read -r idle ev < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps(d["idle"]), d["events"])' "$js")
		if [ "$ev" != "$last" ]; then
			last=$ev since=$SECONDS
		elif [ "$idle" = true ] && [ $((SECONDS - since)) -ge 6 ]; then
			echo "$js" >"$WORK/status.json"
			return 0
		fi
		sleep 0.5
	done
	echo "$js" >"$WORK/status.json"
	R[c5,idle]="not idle after 900 s"
}

if has "$CASES" 5; then
	say "5: the reference: no daemon, then dedupd scan MOUNT"
	watch_setup c5ref none
	dup_limit "$MNT/home"
	scan_case c5ref "home, the second copy written with a ro snapshot every 10 s (${R[c5ref,snaps]}); scan MOUNT" "$MNT"
	U0REF=$U0 U1REF=$U1

	say "5: dedupd watch during the write"
	watch_setup c5 daemon
	kill -STOP "$WPID"	# (its clocks run on)
	t0=$SECONDS
	manifest c5.before
	kill -CONT "$WPID"
	tm=$((SECONDS - t0))
	watch_idle
	R[c5,idle_s]=$((SECONDS - WEND - tm))
	cp "$WORK/status.json" "$WORK/c5.status"
	RSS=$(awk '/^VmHWM:/ { print $2 }' "/proc/$WPID/status")
	kill -TERM "$WPID"
	wait "$WPID" || R[c5,rc]="watch exited $?"
	WPID=
	UD=$(used)
	dm c5 1
	manifest c5.after
	intact c5
	dup_limit "$MNT/home"
	R[c5,layout]="as the reference, with dedupd watch running (${R[c5,snaps]} snapshots)"
	R[c5,limit]=$(mib "$LIMIT")
	dm_figures c5 c5ref
	R[c5,freed]=$(mib $((U0REF - UD)))
	R[c5,pct]=$(pct $((U0REF - UD)) "$LIMIT")
	R[c5,vs_scan]=$(pct $((U0REF - UD)) $((U0REF - U1REF)))
	R[c5,growth]=$(mib $((UD > UW ? UD - UW : 0)))
	R[c5,rss]=$(mib $((RSS * 1024)))
	R[c5,t]="idle ${R[c5,idle_s]} s after the write ended${R[c5,idle]:+; ${R[c5,idle]}}"
	echo "c5 used_after_write=$UW used_idle=$UD ref_used_before=$U0REF ref_used_after=$U1REF limit=$LIMIT rss_kb=$RSS" >>"$WORK/raw"
	echo "c5 status $(cat "$WORK/c5.status")" >>"$WORK/raw"
	grep -iE 'error|warn' "$WORK/c5.log" | head -n 5 | sed 's/^/c5 log: /' >>"$WORK/raw" || true
	rm -f "$WORK/c5.idx"*
	say "c5: freed ${R[c5,freed]} MiB, ${R[c5,vs_scan]}% of the scan's, intact ${R[c5,intact]}"
fi

if has "$CASES" bees; then
	if [ ! -x "$BEES" ]; then
		R[bees,layout]="not run: no executable $BEES"
	else
		say "bees: layout, 3 snapshots"
		layout 3
		k=bees
		manifest $k.before
		u0=$(used)
		dm $k 0
		rm -rf "$WORK/beeshome"
		mkdir "$WORK/beeshome"
		truncate -s 128M "$WORK/beeshome/beeshash.dat"
		drop_caches
		t0=$(date +%s)
		BEESHOME=$WORK/beeshome BEESSTATUS=$WORK/bees.status /usr/bin/time -f '%M' \
			-o "$WORK/bees.time" "$BEES" -v 5 "$MNT" >"$WORK/bees.log" 2>&1 &
		WPID=$!
		last=$u0 tlast=$t0
		while sleep 5; do
			u=$(used)
			now=$(date +%s)
			if [ $((last - u)) -gt $MiB ] || [ $((u - last)) -gt $MiB ]; then
				last=$u tlast=$now
			fi
			[ $((now - t0)) -lt "$BEES_SECS" ] || break
			[ $((now - tlast)) -lt "$BEES_QUIET" ] || break
			kill -0 "$WPID" 2>/dev/null || break
		done
		stop "$WPID"
		WPID=
		u1=$(used)
		dm $k 1
		manifest $k.after
		intact $k
		RSS=$(grep -E '^[0-9]+$' "$WORK/bees.time" | tail -n 1 || echo 0)
		R[$k,layout]="as case 1; bees $("$BEES" --help 2>&1 | sed -n 's/^bees version //p'), 128 MiB hash table"
		R[$k,limit]=$(mib "$LIMIT") R[$k,freed]=$(mib $((u0 - u1)))
		dm_figures $k
		R[$k,pct]=$(pct $((u0 - u1)) "$LIMIT") R[$k,growth]=$(mib $((u1 > u0 ? u1 - u0 : 0)))
		R[$k,t]="$((tlast - t0)) (last change; stopped at $(($(date +%s) - t0)))"
		R[$k,rss]=$(mib $((RSS * 1024)))
		echo "bees used_before=$u0 used_after=$u1 limit=$LIMIT last_change_s=$((tlast - t0)) rss_kb=$RSS" >>"$WORK/raw"
		grep -iE 'exception|error' "$WORK/bees.log" | head -n 3 | sed 's/^/bees log: /' >>"$WORK/raw" || true
		rm -rf "$WORK/beeshome"
	fi
fi
! mountpoint -q "$MNT" || umount "$MNT"
rm -f "$WORK/fs.img"

# ---- the table --------------------------------------------------------------------

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
v() { echo "${R[$1]:--}"; }
{
	section_head "snapshots elsewhere, binary $COMMIT"
	echo "btrfs, kernel $(uname -r), btrfs-progs $(btrfs --version | awk '{print $2}'), $(nproc) CPUs;"
	echo "binary sha256 $BIN_SHA. Corpus: $CORPUS ($(mib "$(du -sb "$CORPUS" | cut -f1)") MiB,"
	echo "$(find "$CORPUS" -type f | wc -l) files); subvolume home holds two copies (cp -a"
	echo "--reflink=never), on a fresh loop image ($IMG_SIZE; $SNAP_IMG_SIZE with SNAPS"
	echo "snapshots). Limit: dup-limit.py of home, before. Freed: df used before"
	echo "minus after (after btrfs filesystem sync). Caches dropped before each run."
	echo "Intact: sha256 of every file of every subvolume and snapshot, before and"
	echo "after. Data freed, metadata growth: btrfs filesystem df's used (df counts"
	echo "metadata twice: DUP). s/GiB: wall time over home's logical bytes. Load average at the"
	echo "start: $LOAD0; at the end: $LOAD1."
	echo
	echo "| case | layout | limit MiB | freed MiB | % of limit | used growth MiB | data freed MiB (% of limit) | metadata growth MiB | wall s | s/GiB | peak RSS MiB | intact | refs_relinked / refs_pinned / bytes_pinned MiB | errors / exit |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
	keys="c1 c2"
	for n in $SNAPS; do keys="$keys c3_$n"; done
	for k in $keys c4 c5ref c5 bees; do
		[ -n "${R[$k,layout]:-}" ] || continue
		echo "| $k | $(v $k,layout) | $(v $k,limit) | $(v $k,freed) | $(v $k,pct) | $(v $k,growth) | $(v $k,dfreed) ($(v $k,dpct)%) | $(v $k,mgrow) | $(v $k,t) | $(v $k,sgib) | $(v $k,rss) | $(v $k,intact) | $(v $k,refs_relinked) / $(v $k,refs_pinned) / $(v $k,bytes_pinned) | $(v $k,errors) / $(v $k,rc) |"
	done
	echo
	echo "Targets: c1, c2 >= 95% of the limit; c3: s/GiB within 1.5x of c1's"
	echo "($(v c1,sgib)), peak RSS <= 64 MiB; c4: rewritten blocks kept"
	echo "($(v c4,rewritten)); c5: the daemon frees >= 95% of what the scan of an"
	echo "identical setup frees: $(v c5,vs_scan)% (its freed is the reference's"
	echo "used before its scan minus the daemon's setup's used once idle; growth:"
	echo "used once idle minus used at the end of the write; idle: seconds from the"
	echo "end of the write, less its manifest, taken with the daemon stopped). Every case: intact,"
	echo "used space never grows."
	for n in $SNAPS; do
		[ -n "${R[c3_$n,sgib]:-}" ] && [ -n "${R[c1,sgib]:-}" ] &&
			echo "c3_$n s/GiB over c1's: $(python3 -c "print(round(${R[c3_$n,sgib]} / ${R[c1,sgib]}, 2))")x."
	done
	echo
	raw_details <"$WORK/raw"
} | tee -a "$RESULTS"
