#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reliability: the whole test suite, again and again (issue "Nothing lost",
# item 1: no flaky tests). Clones this tree's HEAD afresh, runs CI's own
# sequence there once (.ci/run with CI=1: deps, make check, make check-deb),
# then the integration suite RUNS-1 more times in the same clone, one run
# after another, and appends to RESULTS a dated section with each run's
# passed and failed tests and the names of those that failed. Run it alone
# on the machine: the figure is about the tests, not about load. Root only.
#
#   suite-runs.sh                    the runs, then the section
#   suite-runs.sh --from-logs LOG..  the section only, from the logs of an
#                                    earlier run of this script (run0.log is
#                                    .ci/run's, the rest the suite's); COMMIT
#                                    names the commit if the logs do not
#
# env: RUNS (5)  WORK (the clone and logs; default a new /tmp directory)
#      RESULTS (where to append; /dev/null: nowhere)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-5}
RESULTS=${RESULTS:-$here/RESULTS.md}

BENCH_NAME=suite-runs
. "$here/lib.sh"

# One log: "rc passed failed check-deb names-of-failed", from the line
# this script ends each log with ("## rc N"), the suite's own summary line
# ("integration: N passed, M failed, K skipped"), check-deb's ("check-deb:
# N passed, M failed") and the FAIL lines; "-" where a log has none.
summarize() {
	local log=$1 rc passed failed deb names
	rc=$(sed -n 's/^## rc \([0-9]*\)$/\1/p' "$log" | tail -n 1)
	passed=$(sed -n 's/^integration: \([0-9]*\) passed.*/\1/p' "$log" | tail -n 1)
	failed=$(sed -n 's/^integration: [0-9]* passed, \([0-9]*\) failed.*/\1/p' "$log" | tail -n 1)
	deb=$(sed -n 's/^check-deb: \([0-9]* passed, [0-9]* failed\)$/\1/p' "$log" | tail -n 1)
	names=$(sed -n 's/^FAIL \([0-9a-z-]*\) .*/\1/p' "$log" | tr '\n' ' ')
	echo "${rc:--} ${passed:--} ${failed:--} ${deb:--}|${names:--}"
}

section() {
	local commit=$1 i=0 log p f n all_ok=yes
	shift
	echo
	echo "## $(date +%F) Reliability: the test suite, $# runs in a row, commit $commit (contrib/bench/suite-runs.sh)"
	echo
	echo "kernel $(uname -r), $(nproc) CPUs; a fresh clone; run 0 is CI's sequence (.ci/run with CI=1: make check, then make check-deb), the others the integration suite alone (tests/integration/run.sh), one after another in the same clone."
	echo
	echo "| run | what | exit code | integration tests passed | failed | check-deb | which failed |"
	echo "|---:|---|---:|---:|---:|---|---|"
	for log; do
		IFS='|' read -r counts n < <(summarize "$log")
		read -r rc p f deb <<<"$counts"
		[ "$f" = 0 ] && [ "$rc" = 0 ] || all_ok=no
		echo "| $i | $([ $i = 0 ] && echo '.ci/run' || echo 'integration') | $rc | $p | $f | $deb | $n |"
		i=$((i + 1))
	done
	echo
	echo "Runs with no failure: $([ $all_ok = yes ] && echo "all $#" || echo "not all")."
}

if [ "${1:-}" = --from-logs ]; then
	shift
	[ $# -gt 0 ] || die "--from-logs needs the logs"
	commit=${COMMIT:-$(sed -n 's/^## commit \([0-9a-f]*\)$/\1/p' "$1" | head -n 1)}
	s=$(section "${commit:-unknown}" "$@")
	echo "$s"
	echo "$s" >>"$RESULTS"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "needs root"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
WORK=${WORK:-$(mktemp -d /tmp/dedupd-suite-runs.XXXXXX)}
git clone -q "$top" "$WORK/src"
commit=$(git -C "$WORK/src" rev-parse --short HEAD)
logs=()
for ((i = 0; i < RUNS; i++)); do
	log=$WORK/run$i.log
	echo "## commit $commit" >"$log"
	say "run $i of $RUNS ($commit), log $log"
	rc=0
	if [ $i = 0 ]; then
		(cd "$WORK/src" && CI=1 ./.ci/run) >>"$log" 2>&1 || rc=$?
	else
		(cd "$WORK/src" && CI=1 DEDUPD=$WORK/src/dedupd \
			bash tests/integration/run.sh) >>"$log" 2>&1 || rc=$?
	fi
	echo "## rc $rc" >>"$log"
	logs+=("$log")
done
s=$(section "$commit" "${logs[@]}")
echo "$s"
echo "$s" >>"$RESULTS"
