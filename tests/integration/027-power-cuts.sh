#!/bin/bash
# Power cuts, a few per workload (contrib/bench/powercut.sh does the same
# with 50): each btrfs on a direct-I/O loop device whose backing file sits
# on a reflink XFS, cut by `cp --reflink=always` at random moments during
# `dedupd scan`, the daemon's rounds and checkpoints (a writer replacing
# duplicate copies by fresh ones of the same content), and `dedupd defrag`,
# with the index and state on the deduped btrfs and on a btrfs of their
# own. Every copy must be clean by `btrfs check`, keep every file's sha256,
# reopen its index (opened, or rebuilt with a warning), and leave no
# duplicate after a rescan with its index (scan) or after the daemon,
# restarted on it, caught up (watch). First, the checks must be able to
# fail: one byte of a user file flipped in a copy is reported.
. "$(dirname "$0")/lib.sh"
setup
require_cmd mkfs.btrfs btrfs mkfs.xfs losetup
BENCH=$TOP/contrib/bench/powercut.sh
CUTS=${CUTS:-3}

# 1. A spoiled copy is caught (exit 1, one copy with files changed).
rc=0
log "run: powercut.sh with INJECT=file (scan, index on the data, 1 cut)"
INJECT=file CUTS=1 WORKLOADS=scan LAYOUTS=same NFILES=4 SEED=1 \
	WORK=$TESTDIR/neg RESULTS=$TESTDIR/neg.md DEDUPD=$DEDUPD \
	bash "$BENCH" >"$TESTDIR/neg.out" 2>"$TESTDIR/neg.err" 3>&- || rc=$?
sed 's/^/   /' "$TESTDIR/neg.err" | tail -n 8 >&3
check_eq "$rc" 1 "powercut.sh exit status with a spoiled copy"
line=$(grep '^summary scan same ' "$TESTDIR/neg.out") ||
	_fail "no summary line for the spoiled run"
[[ $line =~ \ files_changed=([0-9]+) ]] || _fail "no files_changed in: $line"
check_eq "${BASH_REMATCH[1]}" 1 "copies with a changed file (one spoiled)"

# 2. The real thing.
rc=0
log "run: powercut.sh with CUTS=$CUTS"
CUTS=$CUTS SEED=${SEED:-$RANDOM} WORK=$TESTDIR/work \
	RESULTS=$TESTDIR/results.md DEDUPD=$DEDUPD \
	bash "$BENCH" >"$TESTDIR/out" 2>"$TESTDIR/err" 3>&- || rc=$?
grep '^powercut: ' "$TESTDIR/err" | sed 's/^/   /' | tail -n 40 >&3
grep -E '^[a-z]+ (same|split) cut=' "$TESTDIR/out" | sed 's/^/   /' >&3
check_eq "$rc" 0 "powercut.sh exit status"
grep -q '^## .* Reliability: power cuts, binary ' "$TESTDIR/results.md" ||
	_fail "no dated section in RESULTS"
grep -q '^| scan | split | ' "$TESTDIR/results.md" ||
	_fail "no table row in RESULTS"

# key=value of a summary line
val() { [[ $1 =~ \ $2=(-?[0-9]+) ]] || _fail "no $2 in: $1"; echo "${BASH_REMATCH[1]}"; }
for wl in scan watch defrag; do
	for layout in same split; do
		line=$(grep "^summary $wl $layout " "$TESTDIR/out") ||
			_fail "no summary for $wl/$layout"
		what="$wl, index on $layout"
		cuts=$(val "$line" cuts)
		check_ge "$(val "$line" during)" "$CUTS" "$what: cuts during the work"
		check_eq "$(val "$line" checked)" "$cuts" "$what: copies checked"
		check_eq "$(val "$line" fsck_bad)" 0 "$what: copies btrfs check finds unclean"
		check_eq "$(val "$line" files_changed)" 0 "$what: copies with a changed file"
		check_eq "$(val "$line" index_failed)" 0 "$what: indexes that did not reopen"
		check_eq $(($(val "$line" index_opened) + $(val "$line" index_rebuilt))) \
			"$cuts" "$what: indexes opened or rebuilt"
		check_eq "$(val "$line" workload_errors)" 0 "$what: workload errors"
		check_eq "$(val "$line" failed_copies)" 0 "$what: copies failing a check"
		case $wl in
		scan) check_eq "$(val "$line" rescan_bad)" 0 "$what: rescans leaving duplicates" ;;
		watch)
			check_eq "$(val "$line" daemon_ok)" "$cuts" "$what: daemon restarts that caught up and left nothing"
			check_eq "$(val "$line" uncut_dup_left)" 0 "$what: duplicates the uncut run left"
			;;
		esac
	done
done
