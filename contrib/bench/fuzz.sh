#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reliability under hostile input: builds the libFuzzer harnesses
# (tests/fuzz/, `make D=fuzz fuzz-build`) and runs each for FUZZ_SECONDS,
# one at a time and nice'd, through tests/fuzz/run.sh, as `make fuzz`
# does. Prints per harness the minutes, executions and crashes (crash,
# leak, timeout or out-of-memory inputs found; libFuzzer stops at the
# first), and appends them as a dated "Reliability" section to
# contrib/bench/RESULTS.md. Needs clang; not root.
#
# env: FUZZ_SECONDS (600)  FUZZERS (all of the Makefile's)  FUZZ_WORK
#      (corpora and crash inputs, default ${TMPDIR:-/tmp}/dedupd-fuzz)
#      RESULTS (where to append; /dev/null: nowhere)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZERS=${FUZZERS:-$(sed -n 's/^FUZZERS := //p' "$top/Makefile")}
RESULTS=${RESULTS:-$here/RESULTS.md}
export FUZZ_WORK=${FUZZ_WORK:-${TMPDIR:-/tmp}/dedupd-fuzz}

say() { echo "bench-fuzz: $*" >&2; }

COMMIT=$(git -C "$top" describe --always --dirty --abbrev=7 2>/dev/null ||
	echo unknown)
say "building the harnesses ($COMMIT)"
nice -n 10 make -C "$top" --no-print-directory -j2 D=fuzz fuzz-build >&2
CLANG=$(${FUZZ_CC:-clang} --version | head -n 1)

corpus_before=""
for name in $FUZZERS; do
	n=$(find "$FUZZ_WORK/$name/corpus" -type f 2>/dev/null | wc -l)
	corpus_before+=" $name:$n"
done

say "running $FUZZERS for $FUZZ_SECONDS s each"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
"$top/tests/fuzz/run.sh" "$top/build-fuzz/fuzz" "$FUZZ_SECONDS" $FUZZERS |
	tee "$out" || rc=$?

rows=()
while read -r name secs execs crashes; do
	[ "$name" = harness ] && continue
	rows+=("| $name | $(awk -v s="$secs" 'BEGIN { printf "%.1f", s / 60 }') | $execs | $crashes |")
done <"$out"

{
	echo
	echo "## $(date +%F) Reliability: fuzzing, binary $COMMIT (contrib/bench/fuzz.sh)"
	echo
	echo "kernel $(uname -r), $(nproc) CPUs; $CLANG; libFuzzer with ASan and UBSan (leaks too), $FUZZ_SECONDS s per harness, one at a time, nice 10; corpora kept between runs (inputs at the start:$corpus_before); harnesses and what they cover: tests/fuzz/"
	echo
	echo "| harness | minutes | executions | crashes |"
	echo "|---|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "<details><summary>raw</summary>"
	echo
	echo '```'
	cat "$out"
	echo '```'
	echo
	echo "</details>"
} >>"$RESULTS"
[ "$RESULTS" = /dev/null ] || say "appended to $RESULTS"
exit $rc
