#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark "read less than the data" (btrfs): how much a full `dedupd scan`
# reads from the device when blocks with a data checksum are keyed by it
# (the default) against `dedupd scan --read-all`, duperemove
# (`-dr -b 4096 --hashfile`) and jdupes (`-r -B`), as run.sh runs them.
# Corpora (CORPORA):
#
#   sparse10    SPARSE: 4.5 GiB of random data in files of varied sizes, 10%
#               of its 4 KiB blocks in duplicate runs (gen-corpus.py sparse;
#               built once)
#   containers  CORPUS: the "container images" corpus (lib.sh corpus_build)
#   vm          VMS: a 1 GiB VM-like image and 2 copies with 10% of their
#               blocks rewritten (gen-corpus.py vm; built once)
#
# Each run: a fresh loop-mounted btrfs, the corpus copied in
# (cp -a --reflink=never), df used, unmount, caches dropped, mount again;
# sectors read by the loop device (/sys/block/LOOP/stat, field 3) right
# before and after the tool; wall time and peak RSS (lib.sh bench_timed);
# space freed (df used before - after); every file's sha256 against the
# corpus's (a change stops the benchmark). dedupd's JSON report is kept.
# Medians over REPEATS rounds (tools in alternate order); the targets of
# issue 13 item 4 are checked against them. Appends a dated section to
# RESULTS. Root only.
#
# env: DEDUPD  CORPORA ("sparse10 containers vm")  REPEATS (3)
#      SPARSE_REPEATS (REPEATS, the sparse10 corpus)
#      TOOLS ("dedupd read-all duperemove jdupes")
#      SPARSE (/srv/dedupd-bench/sparse10)  VMS (/srv/dedupd-bench/vm-images)
#      CORPUS  SHARED  TIMEOUT (1800 s a run)  WORK  RESULTS
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BENCH_NAME=reads BENCH_CLOCK=1
. "$here/lib.sh"
corpus_defaults dedupd read-all duperemove jdupes
FSTYPES=btrfs	# csums are btrfs's
CORPORA=${CORPORA:-sparse10 containers vm}
SPARSE=${SPARSE:-/srv/dedupd-bench/sparse10}
VMS=${VMS:-/srv/dedupd-bench/vm-images}
SPARSE_REPEATS=${SPARSE_REPEATS:-$REPEATS}
TIMEOUT=${TIMEOUT:-1800}
RESULTS=${RESULTS:-$here/RESULTS.md}
LIMIT_PY=$SHARED/bench/dup-limit.py

need_root_dedupd "loop mounts"
need python3 sha256sum /usr/bin/time mkfs.btrfs btrfs findmnt
for t in duperemove jdupes; do
	[[ " $TOOLS " != *" $t "* ]] || command -v "$t" >/dev/null ||
		die "needs $t (apt-get install $t)"
done
[ -f "$LIMIT_PY" ] || die "no $LIMIT_PY (set SHARED=)"

bench_work reads
MNT=$WORK/mnt

cleanup() {
	local dev
	! mountpoint -q "$MNT" 2>/dev/null || umount "$MNT" || umount -l "$MNT"
	for dev in $(losetup -n -O NAME -j "$WORK/fs.img" 2>/dev/null); do
		losetup -d "$dev" || true
	done
	rm -f "$WORK/fs.img" "$WORK/dedupd" "$WORK/index" "$WORK/duperemove.hash"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the corpora: built once ----
corpus_src() {
	case $1 in
	sparse10) echo "$SPARSE" ;;
	containers) echo "$CORPUS" ;;
	vm) echo "$VMS" ;;
	*) die "unknown corpus $1" ;;
	esac
}
for c in $CORPORA; do
	case $c in
	sparse10) [ -d "$SPARSE" ] || { say "generating $SPARSE"; python3 "$here/gen-corpus.py" sparse "$SPARSE" >&2; } ;;
	containers) corpus_build ;;
	vm) [ -d "$VMS" ] || { say "generating $VMS"; python3 "$here/gen-corpus.py" vm "$VMS" >&2; } ;;
	esac
	corpus_src "$c" >/dev/null
done

raw=$WORK/raw.txt
: >"$raw"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for c in $CORPORA; do
	src=$(corpus_src "$c")
	say "$c: dup-limit.py and the sha256 manifest of $src"
	echo "limit corpus=$c $(python3 "$LIMIT_PY" "$src")" | tee -a "$raw" >&2
	[ ! -f "$src.info" ] || echo "info corpus=$c $(cat "$src.info")" >>"$raw"
	manifest "$src" >"$WORK/$c.manifest"
done

# sectors DEV: sectors (512 bytes) the block device DEV has read
sectors() { awk '{ print $3 }' "/sys/block/${1#/dev/}/stat"; }

run_one() { # FS TOOL ROUND, on corpus $cname from $src
	local tool=$2 r=$3 label=$cname-$2-$3 dev s0 s1 u0 u1 intact=yes load
	say "$cname: round $r/$REPEATS, $tool"
	fresh_fs "$1" "$img_size"
	mkdir "$MNT/data"
	cp -a --reflink=never "$src/." "$MNT/data/"
	u0=$(used)
	umount "$MNT"
	drop_caches
	mount -o loop "$WORK/fs.img" "$MNT"
	dev=$(findmnt -n -o SOURCE "$MNT")
	load=$(cut -d' ' -f1 /proc/loadavg)
	rm -f "$WORK/index" "$WORK/duperemove.hash"
	s0=$(sectors "$dev")
	case $tool in
	dedupd | read-all)
		opts=(--no-progress --json --db "$WORK/index")
		[ "$tool" = dedupd ] || opts+=(--read-all)
		bench_timed "$TIMEOUT" "$WORK/$label.out" "$DEDUPD" scan "${opts[@]}" "$MNT/data" ;;
	duperemove)
		bench_timed "$TIMEOUT" "$WORK/$label.out" \
			duperemove -dr -b 4096 --hashfile="$WORK/duperemove.hash" "$MNT/data" ;;
	jdupes) bench_timed "$TIMEOUT" "$WORK/$label.out" jdupes -r -B -q "$MNT/data" ;;
	*) die "unknown tool $tool" ;;
	esac
	s1=$(sectors "$dev")
	u1=$(used)
	manifest "$MNT/data" >"$WORK/$label.after"
	cmp -s "$WORK/$cname.manifest" "$WORK/$label.after" || intact=NO
	umount "$MNT"
	echo "run corpus=$cname tool=$tool round=$r rc=$RC stopped=$STOPPED wall_s=$SECS peak_rss_kb=$RSS sectors_read=$((s1 - s0)) freed=$((u0 - u1)) intact=$intact load1=$load" |
		tee -a "$raw" >&2
	[[ $tool != dedupd && $tool != read-all ]] ||
		echo "report $label $(tr -d '\n' <"$WORK/$label.out")" >>"$raw"
	if [ "$intact" != yes ]; then
		cp "$raw" "$RESULTS.reads-failed"
		diff "$WORK/$cname.manifest" "$WORK/$label.after" | head -n 20 >&2 || true
		die "$label: file contents changed (raw lines in $RESULTS.reads-failed)"
	fi
	rm -f "$WORK/$label.after"
}

for cname in $CORPORA; do
	src=$(corpus_src "$cname")
	img_size=$(( $(du -sb "$src" | cut -f1) * 2 + (4 << 30) ))
	reps=$REPEATS
	[ "$cname" != sparse10 ] || REPEATS=$SPARSE_REPEATS
	tool_runs run_one
	REPEATS=$reps
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the section ----
section=$WORK/section.md
python3 - "$raw" "$COMMIT" "$(sha256sum <"$DEDUPD" | cut -c1-12)" \
	"kernel $(uname -r), $(nproc) CPUs, $(free -g | awk '/Mem:/ { print $2 }') GiB" \
	"load average $LOAD0 at the start, $LOAD1 at the end" \
	"$(duperemove --version 2>&1 | head -n 1); $(jdupes -v 2>&1 | head -n 1)" <<'EOF' >"$section"
import json, re, statistics, sys
raw, commit, sha, machine, load, versions = sys.argv[1:]
lines = open(raw).read().splitlines()
kv = lambda s: dict(re.findall(r"(\w+)=(\S+)", s))
MiB = 1 << 20
limit, runs, reports = {}, {}, {}
for l in lines:
    if l.startswith("limit "):
        d = kv(l); limit[d["corpus"]] = d
    elif l.startswith("run "):
        d = kv(l); runs.setdefault((d["corpus"], d["tool"]), []).append(d)
    elif l.startswith("report "):
        _, label, js = l.split(" ", 2)
        try: reports[label] = json.loads(js)
        except ValueError: reports[label] = {}
med = lambda xs: statistics.median(xs) if xs else float("nan")
corpora = list(dict.fromkeys(c for c, _ in runs))
rounds = {c: max(len(v) for (k, _), v in runs.items() if k == c) for c in corpora}
print(f"binary {commit}, sha256 {sha}; {machine}; btrfs on a loop image in /tmp "
      f"(ext4), a fresh one per run; the corpus copied in (cp -a --reflink=never), "
      f"unmounted, caches dropped, mounted again before each timed run; {load}; "
      f"{versions}; rounds (medians): "
      + ", ".join(f"{c} {rounds[c]}" for c in corpora))
print()
for c in corpora:
    d = limit[c]
    print(f"- {c}: {int(d['logical_bytes']) / MiB:.0f} MiB of data, "
          f"{int(d['dup_bytes']) / MiB:.0f} MiB duplicate ({d['dup_pct']}%, dup-limit.py)")
print()
print("| corpus | tool | device read MiB | % of data | wall s | freed MiB | % of limit "
      "| peak RSS MiB | bytes_read MiB | csums read MiB | hints_refuted | dedupe_calls "
      "| differs | intact | rc 0 |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
M = {}
for c in corpora:
    data, lim = int(limit[c]["logical_bytes"]), int(limit[c]["dup_bytes"])
    for (cc, tool), rs in runs.items():
        if cc != c:
            continue
        rd = med([int(x["sectors_read"]) * 512 for x in rs])
        wall = med([float(x["wall_s"]) for x in rs])
        freed = med([int(x["freed"]) for x in rs])
        rss = med([int(x["peak_rss_kb"]) / 1024 for x in rs])
        reps = [reports.get(f"{c}-{tool}-{x['round']}", {}) for x in rs]
        rep = lambda k: med([r[k] for r in reps if k in r])
        m = M[(c, tool)] = dict(read=rd, wall=wall, freed=freed, data=data,
                                calls=rep("dedupe_calls"), differs=rep("differs"),
                                refuted=rep("hints_refuted"))
        f = lambda v, s=1: "-" if v != v else f"{v / s:.0f}"
        dd = tool in ("dedupd", "read-all")
        print(f"| {c} | {tool} | {rd / MiB:.0f} | {100 * rd / data:.1f} | {wall:.1f} "
              f"| {freed / MiB:.0f} | {100 * freed / lim if lim else 0:.1f} | {rss:.0f} "
              f"| {f(rep('bytes_read'), MiB) if dd else '-'} "
              f"| {f(rep('bytes_csums_read'), MiB) if dd else '-'} "
              f"| {f(m['refuted']) if dd else '-'} | {f(m['calls']) if dd else '-'} "
              f"| {f(m['differs']) if dd else '-'} "
              f"| {'yes' if all(x['intact'] == 'yes' for x in rs) else '**NO**'} "
              f"| {sum(x['rc'] == '0' for x in rs)}/{len(rs)} |")
print()
print("Targets (issue 13 item 4), on the medians; dedupd is the default (csum) mode:")
print()
print("| figure | target | measured | met |")
print("|---|---|---|---|")
def row(fig, target, val, ok, how):
    met = "-" if val != val else ("yes" if ok else "**no**")
    print(f"| {fig} | {target} | {how} | {met} |")
def read_row(c, bound):
    m = M.get((c, "dedupd"))
    if m:
        v = m["read"] / m["data"]
        row(f"device read, {c}, dedupd", f"<= {bound:.0%} of data", v, v <= bound,
            f"{m['read'] / MiB:.0f} / {m['data'] / MiB:.0f} MiB = {100 * v:.1f}%")
read_row("sparse10", 0.25)
read_row("containers", 0.85)
for c in corpora:
    a, b = M.get((c, "dedupd")), M.get((c, "read-all"))
    if a and b:
        v = a["freed"] / b["freed"] if b["freed"] else float("nan")
        row(f"space freed, {c}, dedupd / --read-all", ">= 97%", v, v >= 0.97,
            f"{a['freed'] / MiB:.0f} / {b['freed'] / MiB:.0f} MiB = {100 * v:.1f}%")
a, b = M.get(("sparse10", "dedupd")), M.get(("sparse10", "read-all"))
if a and b:
    v = a["wall"] / b["wall"]
    row("wall time, sparse10, dedupd / --read-all", "<= 0.4x", v, v <= 0.4,
        f"{a['wall']:.1f} / {b['wall']:.1f} s = {v:.2f}x")
for c in corpora:
    a = M.get((c, "dedupd"))
    if a and a["calls"] == a["calls"]:
        v = a["differs"] / a["calls"] if a["calls"] else 0.0
        row(f"differs / dedupe_calls, {c}, dedupd", "<= 1%", v, v <= 0.01,
            f"{a['differs']:.0f} / {a['calls']:.0f} = {100 * v:.2f}% "
            f"(hints_refuted {a['refuted']:.0f})")
print()
EOF
{
	section_head "reads: keys from btrfs csums against reading the data, binary $COMMIT"
	cat "$section"
	raw_details gap
} <"$raw" | tee -a "$RESULTS"
