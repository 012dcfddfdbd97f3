#!/bin/bash
# Command line: --help, usage errors (exit 2, one line), a path that does not
# exist, the report's keys and types on an empty filesystem.
. "$(dirname "$0")/lib.sh"
setup
setup_fs btrfs 512M
out=$TESTDIR/out err=$TESTDIR/err

run_expect_rc 0 "$DEDUPD" scan --help >"$out"
grep -qi 'usage' "$out" || _fail "scan --help prints no usage on stdout"
grep -q -- '--dry-run' "$out" || _fail "scan --help does not list --dry-run"
run_expect_rc 0 "$DEDUPD" scan -h >"$out"

usage_error() { # ARGS...: exit 2, one line on stderr, nothing on stdout
	run_expect_rc 2 "$DEDUPD" "$@" >"$out" 2>"$err"
	check_one_line_error "$err"
	[ ! -s "$out" ] || _fail "usage error printed on stdout: $(head -c 300 "$out")"
}
usage_error scan --no-such-flag "$MNT"
usage_error scan --db "$DB"		# no PATH
usage_error scan --threads 0 --db "$DB" "$MNT"
usage_error scan --threads many --db "$DB" "$MNT"
usage_error scan --db-size 12Q --db "$DB" "$MNT"
usage_error scan --min-size -5 --db "$DB" "$MNT"
usage_error scan --db			# missing argument
usage_error no-such-command "$MNT"
run_mustfail "no command" "$DEDUPD" >"$out" 2>"$err"

# A path that does not exist: an error, one line, naming it.
run_mustfail "nonexistent path" "$DEDUPD" scan --no-progress --db "$DB" \
	"$MNT/does-not-exist" >"$out" 2>"$err"
check_one_line_error "$err"
grep -q 'does-not-exist' "$err" || _fail "error does not name the path: $(cat "$err")"
[ "$LAST_RC" != 3 ] && [ "$LAST_RC" != 4 ] ||
	_fail "nonexistent path exits $LAST_RC (3/4 mean other things)"

# The report on an empty filesystem, then on one file.
scan "$MNT"
check_report_keys
check_str "$(json_get filesystem)" btrfs "filesystem"
check_str "$(json_get dry_run)" false "dry_run"
check_str "$(json_get index_result)" created "index_result of a new index"
check_eq "$(json_get files_seen)" 0 "files_seen on an empty filesystem"
check_eq "$(json_get bytes_deduped)" 0 "bytes_deduped on an empty filesystem"
[ -s "$DB" ] || _fail "--db $DB was not created"

rand_file "$MNT/one" 64
scan "$MNT"
check_report_keys
check_str "$(json_get index_result)" opened "index_result of an existing index"
check_eq "$(json_get files_seen)" 1 "files_seen"
check_eq "$(json_get files_scanned)" 1 "files_scanned"
check_eq "$(json_get bytes_hashed)" $((64 * KiB)) "bytes_hashed"

# Without --json: a human report on stdout, exit 0, no JSON.
run_check "$DEDUPD" scan --no-progress --db "$DB" "$MNT" >"$out"
[ -s "$out" ] || _fail "no report without --json"
# Quiet: nothing on stderr.
run_check "$DEDUPD" scan -q --no-progress --db "$DB" "$MNT" >"$out" 2>"$err"
[ ! -s "$err" ] || _fail "-q still printed on stderr: $(head -c 300 "$err")"
