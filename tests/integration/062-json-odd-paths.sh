#!/bin/bash
# Every --json output is one line of valid JSON (strict UTF-8) whatever the
# paths hold: a btrfs mounted at a path with a double quote, a backslash, a
# newline, a tab, other control characters (0x01, ESC, DEL), a byte that is
# not UTF-8 (0xff) and a UTF-8 letter, holding files named alike, with the
# index and the daemon's state directory named alike too. Covered: `dedupd
# scan --json` (here, --dry-run, and handed to the daemon), `dedupd defrag
# --json` (and --dry-run), `dedupd ctl dedupe --json` (here, through the
# daemon, and --no-wait), `dedupd status --json`, and the text status that
# reads it. status gives the mount and index paths back as README says:
# valid UTF-8 as it is, each other byte as \xHH (Python's backslashreplace).
# Every file keeps its contents.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/defrag-lib.sh"
setup
require_cmd mount umount filefrag

# One name part with all of them; file names alike, with 0xfe. A path with
# a newline cannot go to the daemon (its requests are lines): the files
# handed to it are named FSEND, which has everything else.
ODD=$'q"b\\s\nn\tt\x01\x1b\x7fx\xffy\xc3\xa9'
FODD=$'f"\\\n\t\x02\xfe\xc3\xa9'
FSEND=$'f"\\\t\x02\xfe\xc3\xa9'
SZ=2048		# KiB per file
F=$((SZ * KiB))
for n in A B C D E; do
	rand_file "$TESTDIR/$n" $SZ
done

# check_json FILE WHAT: FILE is exactly one line, one JSON object, strict
# UTF-8 (json.load(sys.stdin) alone would take the surrogates that Python
# makes of stray bytes in the C locale).
check_json() {
	python3 -c 'import json,sys; json.load(sys.stdin)' <"$1" ||
		_fail "$2: not JSON: $(head -c 400 "$1")"
	python3 - "$1" <<'EOF' || _fail "$2: not one line of strict UTF-8 JSON: $(head -c 400 "$1")"
import json, sys
raw = open(sys.argv[1], "rb").read()
assert raw.endswith(b"\n") and raw.count(b"\n") == 1, "not one line"
assert isinstance(json.loads(raw.decode("utf-8", "strict")), dict)
EOF
	log "ok: $2: one line of valid JSON"
}

# check_status_paths FILE MOUNT STATE: the status in FILE gives MOUNT and
# STATE/<uuid>/index back as the README's policy says.
check_status_paths() {
	python3 - "$@" <<'EOF' || _fail "status: the paths do not round-trip"
import json, os, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
mnt, state = (os.fsencode(a) for a in sys.argv[2:4])
def policy(b):	# README: valid UTF-8 as is, each other byte \xHH
    return b.decode("utf-8", "backslashreplace")
f = d["filesystems"][0]
bad = []
if f["mount"] != policy(mnt):
    bad.append(f"mount {f['mount']!r}, wanted {policy(mnt)!r}")
want = policy(state + b"/" + f["uuid"].encode() + b"/index")
if f["index"] != want:
    bad.append(f"index {f['index']!r}, wanted {want!r}")
if "\\xff" not in f["mount"] or "\u00e9" not in f["mount"]:
    bad.append("mount lacks \\xff or the UTF-8 letter")
for b in bad:
    print("status:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
	log "ok: status: mount and index paths round-trip"
}

setup_fs btrfs 1G "$TESTDIR/mnt $ODD"
DB=$TESTDIR/index$ODD
WATCH_STATE=$TESTDIR/state$ODD
D=$MNT/dir$ODD
mkdir "$D"
copy_plain "$TESTDIR/A" "$D/a$FODD"
copy_plain "$TESTDIR/A" "$D/b$FODD"
copy_plain "$TESTDIR/B" "$D/u$FODD"
make_fragmented "$D/frag$FODD" 8
manifest >"$TESTDIR/before"

# ---- no daemon ----------------------------------------------------------------
scan --dry-run "$MNT"
check_json "$REPORT" "scan --dry-run --json"
check_report_keys
check_eq "$(json_get bytes_duplicate)" "$F" "scan --dry-run: bytes_duplicate"
rm -f "$DB"
scan "$MNT"
check_json "$REPORT" "scan --json"
check_report_keys
check_eq "$(json_get bytes_deduped)" "$F" "scan: bytes_deduped"
check_eq "$(shared_bytes "$D/b$FODD")" "$F" "scan: shared bytes of b"

defrag --dry-run "$D"
check_json "$REPORT" "defrag --dry-run --json"
check_ge "$(json_get files_fragmented)" 1 "defrag --dry-run: files_fragmented"
defrag "$D"
check_json "$REPORT" "defrag --json"
check_ge "$(json_get files_defragged)" 1 "defrag: files_defragged"
check_manifest "$TESTDIR/before"

copy_plain "$TESTDIR/C" "$D/c1$FODD"
copy_plain "$TESTDIR/C" "$D/c2$FODD"
manifest >"$TESTDIR/before"
run_report 0 "dedupd ctl dedupe" "$DEDUPD" ctl dedupe --json --no-daemon \
	--no-config --state-dir "$WATCH_STATE" "$D"
check_json "$REPORT" "ctl dedupe --json (here)"
check_str "$(json_get served_by)" local "ctl dedupe: served_by"
check_eq "$(json_get bytes_deduped)" "$F" "ctl dedupe: bytes_deduped"
check_manifest "$TESTDIR/before"

# ---- the daemon ---------------------------------------------------------------
# The mount path has a newline: the daemon gets the files through the same
# filesystem bind-mounted at a plain path, mounted before it starts (so that
# its mount namespace has it). --state-dir and --lock-timeout 0: a client
# that kept the work would fail on the daemon's index, not write elsewhere.
PLAIN=$TESTDIR/plain
mkdir "$PLAIN"
mount --bind "$MNT" "$PLAIN" || _fail "mount --bind failed"
_mounts+=("$PLAIN")
watch_start --settle 3600 "$MNT"
watch_wait_caught_up
watch_status_json >"$TESTDIR/status.json" || _watch_fail "dedupd status --json failed"
check_json "$TESTDIR/status.json" "status --json"
check_status_paths "$TESTDIR/status.json" "$MNT" "$WATCH_STATE"
run_check "$DEDUPD" status --socket "$WATCH_SOCK" >"$TESTDIR/status.txt"
grep -q "^dedupd watch, pid $WATCH_PID, up .*: " "$TESTDIR/status.txt" ||
	_fail "text status: $(cat "$TESTDIR/status.txt")"
grep -q '^  queue ' "$TESTDIR/status.txt" ||
	_fail "text status has no queue line: $(cat "$TESTDIR/status.txt")"

mkdir "$MNT/new"
copy_plain "$TESTDIR/D" "$MNT/new/d1$FSEND"
copy_plain "$TESTDIR/D" "$MNT/new/d2$FSEND"
copy_plain "$TESTDIR/E" "$MNT/new/e1$FSEND"
copy_plain "$TESTDIR/E" "$MNT/new/e2$FSEND"
sync
manifest >"$TESTDIR/before"
common=(--socket "$WATCH_SOCK" --no-config --state-dir "$WATCH_STATE"
	--lock-timeout 0)
run_report 0 "dedupd ctl dedupe" "$DEDUPD" ctl dedupe --json "${common[@]}" \
	"$PLAIN/new/d1$FSEND" "$PLAIN/new/d2$FSEND"
check_json "$REPORT" "ctl dedupe --json (daemon)"
check_str "$(json_get served_by)" daemon "ctl dedupe: served_by (daemon)"
check_eq "$(json_get bytes_deduped)" "$F" "ctl dedupe: bytes_deduped by the daemon"
run_report 0 "dedupd ctl dedupe" "$DEDUPD" ctl dedupe --json --no-wait \
	"${common[@]}" "$PLAIN/new/d1$FSEND"
check_json "$REPORT" "ctl dedupe --json --no-wait"
check_str "$(json_get queued)" true "ctl dedupe --no-wait: queued"
run_report 0 "dedupd scan" env DEDUPD_SOCKET="$WATCH_SOCK" "$DEDUPD" scan \
	--json --no-progress "$PLAIN/new/e1$FSEND" "$PLAIN/new/e2$FSEND"
check_json "$REPORT" "scan --json (handed to the daemon)"
check_str "$(json_get index_result)" daemon "scan: handed to the daemon"
check_eq "$(json_get bytes_deduped)" "$F" "scan: bytes_deduped by the daemon"
watch_status_json >"$TESTDIR/status.json" || _watch_fail "dedupd status --json failed"
check_json "$TESTDIR/status.json" "status --json after the requests"
check_status_paths "$TESTDIR/status.json" "$MNT" "$WATCH_STATE"

manifest >"$TESTDIR/before"
watch_stop
check_manifest "$TESTDIR/before"
check_same "$TESTDIR/A" "$D/a$FODD" "$D/b$FODD"
check_same "$TESTDIR/B" "$D/u$FODD"
check_same "$TESTDIR/C" "$D/c1$FODD" "$D/c2$FODD"
check_same "$TESTDIR/D" "$MNT/new/d1$FSEND" "$MNT/new/d2$FSEND"
check_same "$TESTDIR/E" "$MNT/new/e1$FSEND" "$MNT/new/e2$FSEND"
