#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reliability: read errors (issue "Nothing lost"). Runs integration test 026
# with BAD files spoiled (one data block each, overwritten in the unmounted
# btrfs image, so btrfs answers EIO for it) plus 4 sources spoiled after
# they were indexed (the kernel's compare meets EIO), then reads from its
# log: errors injected, files counted unreadable, compares dropped, whether
# the scan finished (exit 0) and whether the daemon kept running through
# its catch-up and stopped cleanly; last, a scan keyed by btrfs csums (the
# default), where no bad block is read until the kernel's compare meets it. Appends a dated section to RESULTS.
# Root only.
#
# env: DEDUPD  BAD (40)  RESULTS
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEDUPD=${DEDUPD:-$top/dedupd}
BAD=${BAD:-40}
RESULTS=${RESULTS:-$here/RESULTS.md}

BENCH_NAME=read-errors
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root"
bench_commit
COMMIT=$COMMIT$DIRTY
logs=$(mktemp -d /tmp/dedupd-bench-read-errors.XXXXXX)
trap 'rm -rf "$logs"' EXIT

rc=0
BAD=$BAD KEEP_LOGS=$logs DEDUPD=$DEDUPD \
	"$top/tests/integration/run.sh" 026 >"$logs/run.out" 2>&1 || rc=$?
log=$(ls "$logs"/026*.log)
num() { grep -o "$1 = [0-9]*" "$log" | head -n 1 | grep -o '[0-9]*$' || echo -; }
spoiled=$(grep -o 'spoiled [0-9]* blocks' "$log" | grep -o '[0-9]*' || echo -)
unreadable=$(num "ok: files_unreadable")
compares=$(num "ok: lines saying a compare read a bad block")
daemon_lines=$(num "ok: lines of the daemon saying where a file could not be read")
csum_compares=$(num "ok: csums: lines saying a compare read a bad block")
scan_ok=no
grep -q 'ok: files_unreadable' "$log" && scan_ok=yes
daemon_ok=no
grep -q 'daemon stopped (exit 0)' "$log" && daemon_ok=yes
verdict=passed
[ "$rc" = 0 ] || verdict="FAILED (see the test's log)"

section=$(
	echo
	echo "## $(date +%F) Reliability: read errors, binary $COMMIT (contrib/bench/read-errors.sh)"
	echo
	echo "kernel $(uname -r); test 026 with BAD=$BAD: one data block of each of $BAD files and of 4 indexed sources overwritten in the unmounted btrfs image; a scan and the daemon's catch-up over the same tree reading every block (--read-all), then a scan keyed by csums (the default), where the bad blocks are met by the compares. Test $verdict."
	echo
	echo "| read errors injected | files counted unreadable (scan) | compares dropped on EIO (scan) | unreadable files logged by the daemon | compares dropped on EIO (scan by csums) | passes aborted | daemon crashes |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	echo "| $spoiled | $unreadable | $compares | $daemon_lines | $csum_compares | $([ $scan_ok = yes ] && echo 0 || echo 1) | $([ $daemon_ok = yes ] && echo 0 || echo 1) |"
)
echo "$section"
[ "$rc" = 0 ] || { cat "$log" >&2; exit 1; }
echo "$section" >>"$RESULTS"
