#!/bin/bash
# Two scans on one index: the second exits 4 with one line while the first
# runs. A scan killed with SIGKILL mid-way leaves no stale lock and no damage:
# the next scan succeeds, every file is intact, and no duplicate is left
# (what the killed scan hashed but had not deduped is not taken for done).
. "$(dirname "$0")/lib.sh"
setup

setup_fs btrfs
big_tree "$MNT" 32 4096
manifest >"$TESTDIR/before"

drop_caches
scan_bg -t 1 "$MNT"
first=$SCAN_PID
# let the first scan run until it has its index, then keep it stopped
for ((i = 0; i < 100; i++)); do
	scan_step 0.002 || _fail "the first scan ended before the second started"
	[ ! -s "$DB" ] || break
done
scan_step 0.01 || _fail "the first scan ended before the second started"
SCAN_RC=4 scan "$MNT"
check_one_line_error "$REPORT.err"
SCAN_PID=$first
scan_wait
check_manifest "$TESTDIR/before"
scan "$MNT"
check_str "$(json_get index_result)" opened "index_result after a locked attempt"

# Crash: new duplicates, a scan killed mid-way, then a normal scan.
teardown_fs
setup_fs btrfs
big_tree "$MNT" 32 4096
manifest >"$TESTDIR/before"
kills=0
for delay in 0.01 0.03 0.06 0.1; do
	drop_caches
	scan_bg -t 1 "$MNT"
	if ! scan_step "$delay"; then
		log "the scan ended before the kill at ${delay}s"
		wait "$SCAN_PID" || true
		continue
	fi
	kill -9 "$SCAN_PID"
	kills=$((kills + 1))
	kill -CONT "$SCAN_PID" 2>/dev/null || true
	wait "$SCAN_PID" 2>/dev/null || true
	log "killed the scan after ${delay}s of running"
	check_manifest "$TESTDIR/before"
done
check_ge "$kills" 2 "scans killed mid-way"
scan "$MNT"
case $(json_get index_result) in
opened | rebuilt) ;;
*) _fail "index_result after a crash: $(json_get index_result)" ;;
esac
check_manifest "$TESTDIR/before"
# Files a killed scan hashed but did not dedupe are not taken for done.
check_eq "$(dup_left "$MNT")" 0 "duplicate bytes a fresh dry-run scan finds after the recovery"
scan "$MNT"
check_eq "$(json_get bytes_hashed)" 0 "bytes_hashed after recovering from the crash"
check_manifest "$TESTDIR/before"
