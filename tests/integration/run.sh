#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Run the integration tests: every tests/integration/NNN-*.sh, in order, each
# in its own bash with a time limit.  Needs root (tests skip otherwise).
#
# usage: run.sh [PATTERN...]      e.g. run.sh 002 sparse
# env:   DEDUPD=/abs/path/dedupd  (default: the tree's ./dedupd)
#        TEST_TIMEOUT=600         seconds per test
#        KEEP_LOGS=DIR            keep every test's log in DIR
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
export DEDUPD=${DEDUPD:-$top/dedupd}
timeout_s=${TEST_TIMEOUT:-600}

IT_TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/dedupd-it.XXXXXX") || exit 1
chmod 711 "$IT_TMPROOT"	# the unprivileged-scan test reaches its files
export IT_TMPROOT
logdir=${KEEP_LOGS:-$IT_TMPROOT/logs}
mkdir -p "$logdir"

# Last resort if a test was killed before its own EXIT trap ran: unmount
# whatever is still mounted under IT_TMPROOT and detach its loop devices.
sweep() {
	local m dev file
	for m in $(awk -v r="$IT_TMPROOT/" 'index($2, r) == 1 { print $2 }' \
		/proc/mounts | sort -r); do
		echo "run.sh: unmounting leftover $m" >&2
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	losetup -n -O NAME,BACK-FILE 2>/dev/null | while read -r dev file; do
		case $file in
		"$IT_TMPROOT"/*)
			echo "run.sh: detaching leftover $dev" >&2
			losetup -d "$dev" ;;
		esac
	done
}

finish() {
	sweep
	grep -q " $IT_TMPROOT/" /proc/mounts && return
	if [ -n "${KEEP_LOGS:-}" ] || [ "$fail" = 0 ]; then
		rm -rf "$IT_TMPROOT"
	else	# keep the failed tests' logs, nothing else
		find "$IT_TMPROOT" -mindepth 1 -maxdepth 1 ! -name logs \
			-exec rm -rf {} +
	fi
}
pass=0 fail=0 skipped=0 failed_names=()
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_all=$SECONDS
for t in "$here"/[0-9][0-9][0-9]-*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ $# -gt 0 ]; then
		match=no
		for p; do
			case $name in *"$p"*) match=yes ;; esac
		done
		[ $match = yes ] || continue
	fi
	log=$logdir/$name.log
	t0=$SECONDS
	timeout -k 30 "$timeout_s" bash "$t" >"$log" 2>&1
	rc=$?
	sweep
	dt=$((SECONDS - t0))
	case $rc in
	0)
		pass=$((pass + 1))
		printf 'PASS %s (%ss)\n' "$name" "$dt"
		;;
	77)
		skipped=$((skipped + 1))
		printf 'SKIP %s: %s\n' "$name" \
			"$(grep -m1 '^SKIP' "$log" | sed 's/^SKIP: [^:]*: //')"
		;;
	*)
		fail=$((fail + 1))
		failed_names+=("$name")
		[ $rc = 124 ] || [ $rc = 137 ] && echo "   (timed out after ${timeout_s}s)" >>"$log"
		printf 'FAIL %s (exit %s, %ss)\n' "$name" "$rc" "$dt"
		tail -n 25 "$log" | sed 's/^/    | /'
		;;
	esac
done

echo
[ $fail = 0 ] || echo "failed: ${failed_names[*]} (logs: $logdir)"
echo "time: $((SECONDS - start_all))s"
echo "$pass passed, $fail failed"
echo "integration: $pass passed, $fail failed, $skipped skipped"
[ $fail = 0 ]
