#!/bin/bash
# dedupd status --format=openmetrics: the daemon's figures in the Prometheus
# text format, one series per filesystem with its mount, uuid and fstype as
# labels (a mount path with a space, a quote and a backslash escaped), that
# promtool accepts (at least 10 series), with the same values as --json;
# dedupd_up 0 and exit 1 when no daemon answers. The textfile unit's
# command writes a file that promtool accepts. Every series the Grafana
# dashboard (contrib/grafana/dedupd.json) queries is in the output.
. "$(dirname "$0")/lib.sh"
setup
require_cmd promtool

# promtool_ok FILE: `promtool check metrics` accepts it, saying nothing
promtool_ok() {
	local out rc=0
	out=$(promtool check metrics <"$1" 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ -z "$out" ] ||
		_fail "promtool check metrics on $(basename "$1") (exit $rc): $out"
}

rand_file "$TESTDIR/A" 2048
rand_file "$TESTDIR/B" 1024
setup_fs btrfs 1G
BTRFS=$MNT
setup_fs xfs 1G "$TESTDIR/x \"y\\z"
XFS=$MNT
for m in "$BTRFS" "$XFS"; do
	copy_plain "$TESTDIR/A" "$m/a1"
	copy_plain "$TESTDIR/A" "$m/a2"
	copy_plain "$TESTDIR/B" "$m/b"
done
manifest "$BTRFS" >"$TESTDIR/before.btrfs"
manifest "$XFS" >"$TESTDIR/before.xfs"
# both_intact: every file of both filesystems keeps its sha256
both_intact() {
	check_manifest "$TESTDIR/before.btrfs" "$BTRFS"
	check_manifest "$TESTDIR/before.xfs" "$XFS"
}

SOCK=$TESTDIR/sock
out=$TESTDIR/none.prom
rc=0
"$DEDUPD" status --format=openmetrics --socket "$SOCK" >"$out" 2>"$TESTDIR/none.err" 3>&- || rc=$?
check_eq "$rc" 1 "exit status of status --format=openmetrics without a daemon"
check_one_line_error "$TESTDIR/none.err"
grep -qx 'dedupd_up 0' "$out" || _fail "no 'dedupd_up 0' without a daemon: $(cat "$out")"
promtool_ok "$out"
run_expect_rc 2 "$DEDUPD" status --format=yaml --socket "$SOCK"

watch_start --checkpoint 2 "$BTRFS" "$XFS"
watch_wait_idle
both_intact
# A checkpoint, so that its age is that of a checkpoint, not the uptime.
for ((i = 0; i < 100; i++)); do
	[ "$(watch_status_get last_checkpoint)" != -1.0 ] && break
	sleep 0.1
done
out=$TESTDIR/status.prom
"$DEDUPD" status --format=openmetrics --socket "$SOCK" >"$out" 3>&- ||
	_fail "dedupd status --format=openmetrics failed"
watch_status_json >"$TESTDIR/status.json"
sed 's/^/   /' "$out" | grep -v '^   # ' >&3
promtool_ok "$out"

python3 - "$out" "$TESTDIR/status.json" "$TOP/contrib/grafana/dedupd.json" \
	"$BTRFS" "$XFS" <<'PY' || _fail "metrics do not match the status or the dashboard"
import json, re, sys
prom, status, dash = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), \
    json.load(open(sys.argv[3]))
mounts = sys.argv[4:]
bad = []
samples = {}   # name -> {mount label (unescaped) or None: value}
sample_re = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-z]+)="((?:[^"\\]|\\.)*)"')
unesc = lambda s: re.sub(r'\\(.)', lambda m: '\n' if m[1] == 'n' else m[1], s)
for line in prom.splitlines():
    if line.startswith('#'):
        continue
    m = sample_re.match(line)
    if not m:
        bad.append(f"not a sample line: {line!r}"); continue
    labels = dict((k, unesc(v)) for k, v in label_re.findall(m[2] or ''))
    samples.setdefault(m[1], {})[labels.get('mount')] = (labels, float(m[3]))
if prom.rstrip('\n').splitlines()[-1] != '# EOF':
    bad.append("no '# EOF' at the end")
print(f"   {len(samples)} series", file=sys.stderr)
if len(samples) < 10:
    bad.append(f"only {len(samples)} series")
# Each per-filesystem series has one sample per mount, with its labels.
fss = {f['mount']: f for f in status['filesystems']}
keys = {'hashed_bytes_total': 'bytes_hashed', 'deduped_bytes_total': 'bytes_deduped',
        'freed_bytes': 'bytes_freed', 'queue_files': 'queue',
        'errors_total': 'errors', 'overflows_total': 'overflows',
        'catchups_total': 'catchups', 'defrag_queue_files': 'defrag_queue',
        'defragged_files_total': 'files_defragged', 'events_total': 'events'}
for short, key in keys.items():
    name = 'dedupd_' + short
    s = samples.get(name, {})
    if sorted(k for k in s if k) != sorted(mounts):
        bad.append(f"{name}: mounts {sorted(k for k in s if k)}, wanted {sorted(mounts)}")
        continue
    for mnt in mounts:
        labels, v = s[mnt]
        if labels.get('uuid') != fss[mnt]['uuid'] or labels.get('fstype') != fss[mnt]['fs']:
            bad.append(f"{name}{{mount={mnt!r}}}: labels {labels}")
        if v != fss[mnt][key]:
            bad.append(f"{name}{{mount={mnt!r}}} = {v}, status says {fss[mnt][key]}")
for mnt in mounts:
    if samples['dedupd_deduped_bytes_total'][mnt][1] < 2 * 1024 * 1024:
        bad.append(f"{mnt}: deduped {samples['dedupd_deduped_bytes_total'][mnt][1]}")
    age = samples['dedupd_last_checkpoint_age_seconds'][mnt][1]
    if not 0 <= age < 30:
        bad.append(f"{mnt}: checkpoint age {age}")
if samples.get('dedupd_up', {}).get(None, (0, 0))[1] != 1:
    bad.append("dedupd_up is not 1")
# The dashboard's queries name only series that exist.
queried = set()
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ('expr', 'query', 'definition') and isinstance(v, str):
                queried.update(re.findall(r'\bdedupd_[a-z_]+', v))
            else:
                walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(dash)
print(f"   the dashboard queries {len(queried)} series", file=sys.stderr)
if len(queried) < 10:
    bad.append(f"the dashboard queries only {len(queried)} series")
for name in sorted(queried - set(samples)):
    bad.append(f"the dashboard queries {name}, which the output lacks")
titles = ' '.join(p.get('title', '') for p in dash['panels']).lower()
for want in ('freed', 'queue', 'hashing', 'error'):
    if want not in titles:
        bad.append(f"no dashboard panel about {want}")
for b in bad: print("metrics:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# The textfile unit's command, as the unit runs it (sh -c '...'), into a
# directory of ours, the socket through $DEDUPD_SOCKET.
unit=$TOP/contrib/systemd/dedupd-metrics.service
cmd=$(sed -n "s|^ExecStart=/bin/sh -c '\(.*\)'\$|\1|p" "$unit")
[ -n "$cmd" ] || _fail "no ExecStart=/bin/sh -c '...' in $unit"
mkdir "$TESTDIR/textfile"
TEXTFILE_DIR=$TESTDIR/textfile DEDUPD_SOCKET=$SOCK \
	run_check sh -c "${cmd//\/usr\/local\/sbin\/dedupd/$DEDUPD}"
[ "$(ls "$TESTDIR/textfile")" = dedupd.prom ] ||
	_fail "the textfile directory holds: $(ls "$TESTDIR/textfile")"
grep -qx 'dedupd_up 1' "$TESTDIR/textfile/dedupd.prom" || _fail "textfile: no dedupd_up 1"
promtool_ok "$TESTDIR/textfile/dedupd.prom"

watch_stop
# No daemon: the unit's command succeeds and writes dedupd_up 0.
TEXTFILE_DIR=$TESTDIR/textfile DEDUPD_SOCKET=$SOCK \
	run_check sh -c "${cmd//\/usr\/local\/sbin\/dedupd/$DEDUPD}"
grep -qx 'dedupd_up 0' "$TESTDIR/textfile/dedupd.prom" || _fail "textfile: no dedupd_up 0"
promtool_ok "$TESTDIR/textfile/dedupd.prom"
both_intact
