#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs libFuzzer harnesses one at a time, each for SECONDS, and prints one
# line per harness: name, seconds, executions, crashes (a crash, leak,
# timeout or out-of-memory input found; libFuzzer stops at the first).
# Exits 1 if any harness found one, or did not run.
#
# usage: tests/fuzz/run.sh BINDIR SECONDS NAME...
#   BINDIR holds fuzz-NAME; seeds come from tests/fuzz/NAME/ (read only).
#
# env: FUZZ_WORK  where corpora, logs and crash inputs go (default
#                 ${TMPDIR:-/tmp}/dedupd-fuzz; kept between runs, so that
#                 each run starts from what the last one found)
#      FUZZ_NICE  niceness of the fuzzers (10)
#      FUZZ_ARGS  more libFuzzer flags
set -uo pipefail

[ $# -ge 3 ] || { echo "usage: $0 BINDIR SECONDS NAME..." >&2; exit 2; }
bindir=$1 secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
work=${FUZZ_WORK:-${TMPDIR:-/tmp}/dedupd-fuzz}
nice_level=${FUZZ_NICE:-10}

# Inputs worth more than libFuzzer's default 4 KiB: an index's header page
# is 4 KiB before anything else.
max_len() {
	case $1 in
	hashdb) echo 65536 ;;
	btrfs) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

failed=0
printf '%-10s %8s %12s %8s\n' harness seconds executions crashes
for name in "$@"; do
	bin=$bindir/fuzz-$name
	corpus=$work/$name/corpus
	artifacts=$work/$name/artifacts
	log=$work/$name/last.log
	mkdir -p "$corpus" "$artifacts"
	if [ ! -x "$bin" ]; then
		echo "fuzz: $bin missing" >&2
		failed=1
		continue
	fi
	before=$(find "$artifacts" -type f | wc -l)
	start=$(date +%s.%N)
	# The first directory takes what is found; the seeds stay as they are.
	nice -n "$nice_level" "$bin" -max_total_time="$secs" \
		-max_len="$(max_len "$name")" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" \
		-error_exitcode=1 -timeout_exitcode=1 ${FUZZ_ARGS:-} \
		"$corpus" "$here/$name" >"$log" 2>&1
	rc=$?
	end=$(date +%s.%N)
	after=$(find "$artifacts" -type f | wc -l)
	crashes=$((after - before))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		tail -n 1)
	if [ -z "$execs" ]; then
		# Killed before its final figures: its last status line.
		execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
	fi
	printf '%-10s %8s %12s %8d\n' "$name" \
		"$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')" \
		"${execs:-?}" "$crashes"
	if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
		failed=1
		echo "fuzz: $name failed (exit $rc); log $log" >&2
		grep -m 5 -E 'ERROR|SUMMARY|Test unit written' "$log" >&2
	fi
done
exit $failed
