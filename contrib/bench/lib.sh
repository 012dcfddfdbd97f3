#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What the benchmark scripts (contrib/bench/*.sh) share. A script sets
# `here`, `top` and BENCH_NAME (messages start "bench-$BENCH_NAME: "; with
# BENCH_CLOCK=1 they carry the time of day too), then sources this file:
#
#   die MSG, say MSG          a line on stderr (die exits 1)
#   need CMD...               each command is there, else dies "needs CMD"
#   need_root_dedupd [WHY]    run as root (else dies "needs root (WHY)") and
#                             $DEDUPD an executable
#   bench_commit              COMMIT and DIRTY: what $DEDUPD was built from
#   bench_work NAME           WORK (/tmp/dedupd-bench-NAME.XXXXXX unless set),
#                             COMMIT (with DIRTY) and DEDUPD, a copy in WORK
#   corpus_defaults TOOL...   SHARED, DEDUPD, CORPUS, REPEATS, FSTYPES and
#                             TOOLS as the comparisons on the corpus have them
#   corpus_build              CORPUS built with $SHARED/bench/make-corpus.sh
#                             unless it is complete (under CORPUS.lock)
#   fresh_fs FSTYPE SIZE      a new btrfs, XFS (reflink) or ext4 on
#                             $WORK/fs.img mounted on $MNT; sets FS
#   mkfs_mount FSTYPE SIZE IMG MNT   the same on IMG and MNT
#   used                      bytes used on $MNT once its writes are on disk
#   drop_caches               sync, then drop the page cache
#   manifest DIR              the sha256 of every file under DIR, by path
#   jget KEY FILE             a value of a JSON report ("-" if none)
#   bench_timed LIMIT OUT CMD...  CMD under /usr/bin/time with a watchdog;
#                             sets RC, SECS, RSS (KiB) and STOPPED
#   alternate_order R WORD... sets the array order: the WORDs, reversed on
#                             even rounds R
#   tool_runs FN              FN FS TOOL R for each round R of REPEATS, each
#                             FS of FSTYPES, each tool of TOOLS (in
#                             alternate_order)
#   section_head TITLE        the lines that open a RESULTS section
#   raw_details [gap]         stdin as the folded "raw" block that ends a
#                             RESULTS section
#   fiemap_extents FILE       FILE's extents as filefrag counts them

die() { echo "bench-$BENCH_NAME: $*" >&2; exit 1; }
say() {
	if [ "${BENCH_CLOCK:-0}" = 1 ]; then
		echo "bench-$BENCH_NAME: $(date +%T) $*" >&2
	else
		echo "bench-$BENCH_NAME: $*" >&2
	fi
}

need() {
	local c
	for c; do
		command -v "$c" >/dev/null || die "needs $c"
	done
}

# shellcheck disable=SC2120 # WHY is optional
need_root_dedupd() {
	[ "$(id -u)" = 0 ] || die "needs root${1:+ ($1)}"
	[ -x "$DEDUPD" ] || die "$DEDUPD is not an executable (run make)"
}

# The binary measured is the one there now, whatever is built meanwhile (the
# caller copies it): COMMIT is the commit of the tree ("?" after it if
# $DEDUPD is not the tree's build), DIRTY says how the binary may differ
# from it (refused if the tree's build is older than its sources).
bench_commit() {
	COMMIT=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
	DIRTY=
	if [ "$DEDUPD" = "$top/dedupd" ]; then
		make -C "$top" -q dedupd >/dev/null 2>&1 ||
			die "$DEDUPD is older than its sources (run make)"
		[ -z "$(git -C "$top" status --porcelain -- daemon ioctl-compat hashdb 2>/dev/null)" ] ||
			DIRTY=" (with uncommitted changes)"
	else
		COMMIT="$COMMIT?"
		DIRTY=" ($DEDUPD, not the tree's build)"
	fi
}

# bench_work NAME: the scratch directory WORK, made unless set, and the
# binary measured copied there (DEDUPD), whatever is built meanwhile; COMMIT
# says what it was built from, DIRTY included.
bench_work() {
	WORK=${WORK:-$(mktemp -d "/tmp/dedupd-bench-$1.XXXXXX")}
	mkdir -p "$WORK"
	bench_commit
	COMMIT=$COMMIT$DIRTY
	cp "$DEDUPD" "$WORK/dedupd"
	DEDUPD=$WORK/dedupd
}

# corpus_defaults TOOL...: the settings of the scripts that compare tools on
# the shared corpus (run.sh, containers.sh), each unless it is set: SHARED
# (beside the repository), DEDUPD (the tree's build), CORPUS, REPEATS (3),
# FSTYPES (btrfs xfs), TOOLS (the TOOLs, in that order).
# shellcheck disable=SC2034 # for the caller
corpus_defaults() {
	SHARED=${SHARED:-$top/../shared}
	DEDUPD=${DEDUPD:-$top/dedupd}
	CORPUS=${CORPUS:-/srv/dedupd-bench/corpus}
	REPEATS=${REPEATS:-3}
	FSTYPES=${FSTYPES:-btrfs xfs}
	TOOLS=${TOOLS:-$*}
}

# corpus_build: the "container images" corpus in CORPUS, built once by
# $SHARED/bench/make-corpus.sh; never races another build (CORPUS.lock, and
# a build started by hand is waited for).
corpus_ready() {
	[ -d "$CORPUS/img-build" ] && [ -d "$CORPUS/img-python" ] &&
		[ -d "$CORPUS/rootfs-min" ] && ! compgen -G "$CORPUS/*.tmp" >/dev/null
}
corpus_build() {
	corpus_ready && return 0
	mkdir -p "$(dirname "$CORPUS")"
	exec 9>"$CORPUS.lock"
	say "waiting for the corpus lock $CORPUS.lock"
	flock 9
	while pgrep -f "make-corpus.sh $CORPUS" >/dev/null; do
		say "a corpus build into $CORPUS is running, waiting"
		sleep 30
	done
	if ! corpus_ready; then
		say "building the corpus into $CORPUS (log: $CORPUS.log)"
		rm -rf "$CORPUS"/*.tmp
		"$SHARED/bench/make-corpus.sh" "$CORPUS" >>"$CORPUS.log" 2>&1 ||
			die "corpus build failed, see $CORPUS.log"
		echo done >>"$CORPUS.log"
	fi
	exec 9>&-
	corpus_ready || die "corpus in $CORPUS is incomplete"
}

# mkfs_mount FSTYPE SIZE IMG MNT: whatever was on MNT goes.
mkfs_mount() {
	mkdir -p "$4"
	! mountpoint -q "$4" || umount "$4"
	rm -f "$3"
	truncate -s "$2" "$3"
	case $1 in
	btrfs) mkfs.btrfs -q -f "$3" >/dev/null ;;
	xfs) mkfs.xfs -q -f -m reflink=1 "$3" ;;
	ext4) mkfs.ext4 -q -F "$3" ;;
	*) die "unknown filesystem $1" ;;
	esac
	mount -o loop "$3" "$4"
}

fresh_fs() {
	FS=$1
	MNT=${MNT:-$WORK/mnt}
	mkfs_mount "$1" "$2" "$WORK/fs.img" "$MNT"
}

used() {
	sync -f "$MNT/."
	[ "$(stat -f -c %T "$MNT")" != btrfs ] || btrfs filesystem sync "$MNT" >/dev/null
	df -B1 --output=used "$MNT" | tail -n 1 | tr -d ' '
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

manifest() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum --); }

jget() {
	python3 -c 'import json,sys
try: print(json.load(open(sys.argv[2]))[sys.argv[1]])
except Exception: print("-")' "$1" "$2"
}

# bench_timed LIMIT OUT CMD...: runs CMD, its stdout in OUT, stderr in OUT.err,
# peak RSS from /usr/bin/time in OUT.time. Out of time (LIMIT s) it gets
# SIGINT, which dedupd answers by finishing what is in flight and printing
# its report (exit 130); 120 s later SIGKILL. Sets RC, SECS, RSS (KiB;
# $RSS_NONE if unknown) and STOPPED (yes if the watchdog stopped it).
bench_timed() {
	local limit=$1 out=$2 t0 tpid wd
	shift 2
	rm -f "$WORK/stopped"
	t0=$(date +%s.%N)
	RC=0
	/usr/bin/time -f '%M' -o "$out.time" "$@" >"$out" 2>"$out.err" &
	tpid=$!
	(	# the watchdog
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$limit" & s=$!
		wait "$s"
		c=$(pgrep -P "$tpid") || exit 0
		touch "$WORK/stopped"
		kill -INT "$c" 2>/dev/null
		sleep 120 & s=$!
		wait "$s"
		kill -KILL "$c" 2>/dev/null
	) &
	wd=$!
	wait "$tpid" || RC=$?
	kill "$wd" 2>/dev/null || true
	wait "$wd" 2>/dev/null || true
	sync
	SECS=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
	RSS=$(grep -E '^[0-9]+$' "$out.time" | tail -n 1 || echo "${RSS_NONE:-?}")
	STOPPED=no
	[ ! -e "$WORK/stopped" ] || STOPPED=yes
}

alternate_order() {
	local r=$1 i
	shift
	order=("$@")
	if ((r % 2 == 0)); then
		order=()
		for ((i = $#; i >= 1; i--)); do order+=("${!i}"); done
	fi
}

# tool_runs FN: the runs of a comparison of tools, every tool on every
# filesystem in every round, the tools' order reversed from one round to the
# next; FN FS TOOL R does one.
tool_runs() {
	local r fs tool names
	read -ra names <<<"$TOOLS"
	for ((r = 1; r <= REPEATS; r++)); do
		for fs in $FSTYPES; do
			alternate_order "$r" "${names[@]}"
			for tool in "${order[@]}"; do
				"$1" "$fs" "$tool" "$r"
			done
		done
	done
}

# section_head TITLE: a blank line, "## DATE TITLE (contrib/bench/NAME.sh)"
# (DATE: today's, UTC; NAME: BENCH_NAME), a blank line.
section_head() {
	echo
	echo "## $(date -u +%Y-%m-%d) $1 (contrib/bench/$BENCH_NAME.sh)"
	echo
}

# raw_details [gap]: with gap, a blank line before the closing tag.
raw_details() {
	echo "<details><summary>raw</summary>"
	echo
	echo '```'
	cat
	echo '```'
	[ "${1:-}" != gap ] || echo
	echo "</details>"
}

# FILE's extents as filefrag counts them: physically contiguous pieces are
# one (writes into fallocated space split the items, not the blocks).
fiemap_extents() {
	python3 "$top/tests/integration/fiemap.py" extents "$1" | awk '
		{ if (NR == 1 || $1 != nl || $2 != np) n++; nl = $1 + $3; np = $2 + $3 }
		END { print n + 0 }'
}
