#!/bin/bash
# Hostile trees on btrfs: names with newlines, tabs, escapes and
# backslashes (deduped, log lines stay one line each); a 10,000-deep chain of
# directories (cut at 512 levels and counted once, the duplicate above the
# cut deduped); HOSTILE_FILES (default 50,000) files in one directory;
# a FIFO, a socket and device nodes (never opened: a FIFO opened without
# O_NONBLOCK would hang the scan; counted); then, with the scan stopped at
# points it is seen to reach (its open fds), files replaced between walk
# and open (a symlink, a FIFO, a rename, a directory made a symlink:
# counted as replaced, left alone) and two files that shrink and grow while
# they are hashed (counted as changed, never deduped). Every scan has a
# time limit; every file's sha256 (by directory fd, whatever its depth or
# name) is checked after, and every outcome counter adds up to files_seen.
# The daemon counts special files it is told of, never opening them, and a
# scan handed to it reports the same counts.
. "$(dirname "$0")/lib.sh"
setup
require_cmd mknod timeout

NFILES=${HOSTILE_FILES:-50000}
SCAN_LIMIT=${HOSTILE_SCAN_LIMIT:-120}	# seconds a scan may take

# tree_manifest DIR: "sha256 path" of every regular file under DIR, paths
# as JSON strings, sorted; also "type path" of FIFOs, sockets and devices.
# Iterative, through directory fds: paths past PATH_MAX and names with
# newlines are fine.
tree_manifest() {
	python3 - "$1" <<'EOF'
import hashlib, json, os, stat, sys
out = []
stack = [(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY), ".")]
while stack:
    dfd, rel = stack.pop()
    with os.scandir(dfd) as it:
        entries = list(it)
    for e in entries:
        p = rel + "/" + e.name
        st = os.stat(e.name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            stack.append((os.open(e.name, os.O_RDONLY | os.O_DIRECTORY |
                                  os.O_NOFOLLOW, dir_fd=dfd), p))
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(e.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
            h = hashlib.sha256()
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                h.update(b)
            os.close(fd)
            out.append(h.hexdigest() + " " + json.dumps(p))
        elif not stat.S_ISLNK(st.st_mode):
            out.append("%s:%x " % (stat.filemode(st.st_mode)[0], st.st_rdev)
                       + json.dumps(p))
    os.close(dfd)
out.sort()
print("\n".join(out))
EOF
}

# check_tree BEFORE: the tree holds what BEFORE says.
check_tree() {
	tree_manifest "$MNT" >"$TESTDIR/now"
	diff -u "$1" "$TESTDIR/now" | head -n 40 >&3 || true
	cmp -s "$1" "$TESTDIR/now" || _fail "file contents or types changed"
	log "tree intact ($(wc -l <"$1") entries)"
}

# timed_scan ARGS...: `dedupd scan --json` that must exit 0 within
# SCAN_LIMIT seconds (a hang on a FIFO fails here, not at the harness's
# limit).
timed_scan() {
	run_report 0 "dedupd scan (at most ${SCAN_LIMIT}s)" \
		timeout -k 5 "$SCAN_LIMIT" "$DEDUPD" scan --json --no-progress \
		--db "$DB" "$@"
	check_json_object "dedupd scan --json"
}

# Every file taken up ends in exactly one of these.
check_outcomes_add_up() {
	local sum=0 k
	for k in files_scanned files_unchanged files_skipped files_changed \
		files_vanished files_unreadable files_hardlinks files_replaced \
		errors; do
		sum=$((sum + $(json_get $k)))
	done
	check_eq "$sum" "$(json_get files_seen)" "$1: outcomes add up to files_seen"
}

# every stderr line is a whole log line
check_log_lines() {
	local bad
	bad=$(grep -cv '^dedupd: ' "$REPORT.err" || true)
	check_eq "$bad" 0 "$1: stderr lines that do not start with 'dedupd: '"
}

setup_fs btrfs 2G

# ---- names ----------------------------------------------------------------
rand_file "$TESTDIR/n" 256
mkdir "$MNT/names" "$MNT/names/dir
with newlines"
copy_plain "$TESTDIR/n" "$MNT/names/plain"
copy_plain "$TESTDIR/n" "$MNT/names/new
line"
copy_plain "$TESTDIR/n" "$MNT/names/dir
with newlines/$(printf 'tab\there\033[2Jesc\\back')"

# ---- a 10,000-deep chain ----------------------------------------------------
# "deep\nchain/d/d/...": a copy of names/plain at depth 100 (deduped), and
# one at the bottom, 10,000 levels down (past the bound: left out).
python3 - "$MNT" "$TESTDIR/n" <<'EOF'
import os, sys
data = open(sys.argv[2], "rb").read()
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
os.mkdir("deep\nchain", dir_fd=fd)
nfd = os.open("deep\nchain", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
os.close(fd)
fd = nfd
for depth in range(1, 10001):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
    if depth in (100, 10000):
        f = os.open("copy", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(f, data)
        os.close(f)
os.close(fd)
EOF
log "made a chain of 10,000 directories"

# ---- many files in one directory -------------------------------------------
# 4 KiB each, 100 distinct contents: most are duplicates.
python3 "$IT_DIR/many-files.py" "$MNT/many" "$NFILES" 100
log "made $NFILES files in one directory"

# ---- special files ----------------------------------------------------------
mkdir "$MNT/special"
mkfifo "$MNT/special/fifo"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
	"$MNT/special/sock"
mknod "$MNT/special/null" c 1 3
mknod "$MNT/special/loop" b 7 200
ln -s fifo "$MNT/special/to-fifo"	# a symlink: never followed
ln -s /dev/zero "$MNT/special/to-zero"

tree_manifest "$MNT" >"$TESTDIR/before"
t0=$SECONDS
timed_scan -v "$MNT"
log "scan of the hostile tree took $((SECONDS - t0)) s"
check_tree "$TESTDIR/before"
check_report_keys
check_outcomes_add_up "hostile tree"
check_eq "$(json_get files_special)" 4 "files_special (fifo, sock, null, loop)"
check_eq "$(json_get too_deep)" 1 "too_deep (the chain, once)"
check_eq "$(json_get files_replaced)" 0 "files_replaced"
check_eq "$(json_get errors)" 0 "errors"
# names, the chain's copy at depth 100, many/: 3 + 1 + NFILES regular files
check_eq "$(json_get files_seen)" $((4 + NFILES)) "files_seen"
check_log_lines "hostile tree"
grep -qF "'$MNT/deep\\nchain/d/d/" "$REPORT.err" ||
	_fail "no escaped warning for the chain's cut"
# the bound: "deep\nchain" is level 1, its 512th "/d" level 513, cut
grep -qE "deep\\\\nchain(/d){512}' is more than 512 directories deep, skipping$" \
	"$REPORT.err" || _fail "the chain is not cut at 512 levels"
for f in "names/new
line" "names/dir
with newlines/$(printf 'tab\there\033[2Jesc\\back')"; do
	check_eq "$(shared_bytes "$MNT/$f")" $((256 * KiB)) "shared bytes of a name with a newline"
done
deep100=$(python3 -c 'print("deep\nchain" + "/d" * 100 + "/copy", end="")')
check_eq "$(cd "$MNT" && shared_bytes "$deep100")" $((256 * KiB)) \
	"shared bytes of the copy 100 levels down"
check_ge "$(json_get bytes_deduped)" $(((NFILES - 100) * 4096)) \
	"bytes_deduped (the files in one directory are 100 contents)"
check_str "$(stat -c %F "$MNT/special/fifo")" fifo "the FIFO"

# The text report says it too.
DB=$DB run_report 0 "dedupd scan (text)" timeout -k 5 "$SCAN_LIMIT" \
	"$DEDUPD" scan --no-progress --db "$DB" "$MNT/special" "$MNT/names"
grep -q '^  left out   4 special files (FIFOs, sockets, devices), 0 replaced since the walk, 0 too deep$' \
	"$REPORT" || _fail "text report has no 'left out' line"

# defrag walks the same tree: a dry run lists fragmented files, one line each
run_report 0 "dedupd defrag -n" timeout -k 5 "$SCAN_LIMIT" \
	"$DEDUPD" defrag --json -n --no-progress "$MNT/special" "$MNT/deep
chain"
check_json_object "dedupd defrag --json"
check_eq "$(json_get files_special)" 4 "defrag: files_special"
check_eq "$(json_get too_deep)" 1 "defrag: too_deep"
check_tree "$TESTDIR/before"

# ---- the daemon -------------------------------------------------------------
# New special files and a newline-named copy while it watches: the special
# files are counted, never opened (their type is read through an O_PATH
# handle); a scan handed to it counts like a local one.
watch_start "$MNT"
mkfifo "$MNT/special/fifo2"
mknod "$MNT/special/null2" c 1 3
echo written >"$MNT/special/null2"		# a write through the device node
copy_plain "$TESTDIR/n" "$MNT/special/copy
with a newline"
watch_wait_idle 60
check_ge "$(watch_status_get files_special)" 2 "daemon: files_special (fifo2, null2)"
check_eq "$(shared_bytes "$MNT/special/copy
with a newline")" $((256 * KiB)) "daemon: shared bytes of a newline-named copy"
# (A PATH with a newline is not handed over, by design: the whole mount.)
_new_report
log "run: dedupd scan (handed to the daemon)"
DEDUPD_SOCKET=$WATCH_SOCK timeout -k 5 "$SCAN_LIMIT" "$DEDUPD" scan --json \
	--no-progress "$MNT" >"$REPORT" 2>"$REPORT.err" 3>&- ||
	_watch_fail "handed-over scan failed"
sed 's/^/   stdout: /' "$REPORT" >&3
check_str "$(json_get index_result)" daemon "served by the daemon"
check_outcomes_add_up "handed-over scan"
check_eq "$(json_get files_special)" 6 "handed-over scan: files_special"
check_eq "$(json_get too_deep)" 1 "handed-over scan: too_deep"
watch_stop
bad=$(grep -cv '^dedupd: \|^==== ' "$WATCH_LOG" || true)
check_eq "$bad" 0 "daemon: log lines that do not start with 'dedupd: '"
rm "$MNT/special/fifo2" "$MNT/special/null2" "$MNT/special/copy
with a newline"
check_tree "$TESTDIR/before"

# ---- replaced between walk and open, changed while read -------------------
# The scan is stopped when it is seen to hold a file open (/proc/PID/fd):
# files are hashed in walk order (one thread, one batch), so the victims
# queued behind a big file are not opened yet, and the big file is in the
# middle of its read. 128 MiB leaves ample time to stop it there.
rm -rf "$MNT/names" "$MNT/many" "$MNT/deep
chain" "$MNT/special"
# In this order in the directory (btrfs lists by creation): the big files
# first.
mkdir "$MNT/race" "$MNT/elsewhere" "$MNT/spare"
rand_file "$TESTDIR/v" 1024
rand_file "$TESTDIR/b" $((128 * 1024))
copy_plain "$TESTDIR/b" "$MNT/race/big1"		# shrinks while read
rand_file "$TESTDIR/b2" $((128 * 1024))
copy_plain "$TESTDIR/b2" "$MNT/race/big2.twin"
copy_plain "$TESTDIR/b2" "$MNT/race/big2"		# grows while read
for i in 1 2 3; do copy_plain "$TESTDIR/v" "$MNT/race/victim$i"; done
copy_plain "$TESTDIR/v" "$MNT/race/other"
mkdir "$MNT/race/dir"
copy_plain "$TESTDIR/v" "$MNT/race/dir/victim4"
rand_file "$MNT/elsewhere/victim4" 1024
rand_file "$MNT/spare/new" 1024
head -c 1M /dev/urandom >"$TESTDIR/append"
sync

# wait_open NAME: until the stopped-and-continued scan has NAME open, then
# stop it there.
wait_open() {
	local i
	kill -CONT "$SCAN_PID"
	for ((i = 0; i < 20000; i++)); do
		if ls -l "/proc/$SCAN_PID/fd" 2>/dev/null | grep -q "/race/$1\$"; then
			kill -STOP "$SCAN_PID"
			log "scan stopped with $1 open"
			return 0
		fi
		scan_running || _fail "scan ended before it opened $1"
		sleep 0.002
	done
	_fail "scan did not open $1"
}

# not_opened_yet NAME...: the stopped scan has none of them open.
not_opened_yet() {
	local n
	for n; do
		! ls -l "/proc/$SCAN_PID/fd" | grep -q "/race/$n\$" ||
			_fail "$n was opened already"
	done
}

tree_manifest "$MNT" >"$TESTDIR/race.before"
drop_caches
DB=$TESTDIR/index.race
# --read-all: "while read" (keyed by csums, the data are not read, and a file
# cut before its size was taken is hashed as it is then)
scan_bg -t 1 --read-all "$MNT/race"
( sleep "$SCAN_LIMIT"; kill -9 "$SCAN_PID" 2>/dev/null ) &
watchdog=$!
wait_open big1
not_opened_yet big2 victim1 victim2 victim3 dir/victim4
truncate -s $((64 * MiB)) "$MNT/race/big1"
rm "$MNT/race/victim1"
ln -s other "$MNT/race/victim1"			# a symlink
rm "$MNT/race/victim2"
mkfifo "$MNT/race/victim2"			# a FIFO
mv "$MNT/spare/new" "$MNT/race/victim3"		# another inode
mv "$MNT/race/dir" "$MNT/race/dir.old"
ln -s ../elsewhere "$MNT/race/dir"		# its directory, a symlink
wait_open big2
cat "$TESTDIR/append" >>"$MNT/race/big2"
scan_wait
kill "$watchdog" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true

check_outcomes_add_up "race"
check_eq "$(json_get files_seen)" 8 "race: files_seen"
check_eq "$(json_get files_replaced)" 4 "files_replaced (symlink, FIFO, rename, directory)"
check_eq "$(json_get files_changed)" 2 "files_changed (shrunk, grown while read)"
# big2 would have matched its twin, hashed before it
check_eq "$(shared_bytes "$MNT/race/big2")" 0 "shared bytes of the file grown while read"
check_eq "$(shared_bytes "$MNT/race/big2.twin")" 0 "shared bytes of its twin"
check_str "$(stat -c %F "$MNT/race/victim2")" fifo "victim2"
check_str "$(readlink "$MNT/race/victim1")" other "victim1"
check_eq "$(stat -c %s "$MNT/race/big2")" $((129 * MiB)) "big2's size"
# What the test wrote last, everywhere.
python3 - "$TESTDIR/race.before" "$TESTDIR/race.expect" "$TESTDIR/b" \
	"$TESTDIR/b2" "$TESTDIR/append" <<'EOF'
import hashlib, json, sys
before, out, b, b2, append = sys.argv[1:]
rows = {}
for line in open(before):
    sha, p = line.rstrip("\n").split(" ", 1)
    rows[json.loads(p)] = sha
rows["./race/big1"] = hashlib.sha256(open(b, "rb").read()[: 64 << 20]).hexdigest()
rows["./race/big2"] = hashlib.sha256(open(b2, "rb").read() +
                                     open(append, "rb").read()).hexdigest()
rows["./race/victim3"] = rows.pop("./spare/new")
rows["./race/dir.old/victim4"] = rows.pop("./race/dir/victim4")
del rows["./race/victim1"]
rows["./race/victim2"] = "p:0"
with open(out, "w") as f:
    f.write("\n".join(sorted(v + " " + json.dumps(k)
                             for k, v in rows.items())) + "\n")
EOF
check_tree "$TESTDIR/race.expect"
teardown_fs
