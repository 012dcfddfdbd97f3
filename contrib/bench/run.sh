#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark `dedupd scan` against duperemove (and jdupes) on the "container
# images" corpus, on btrfs and on XFS, with the shared harness
# (../shared/bench/peer-run.sh: a fresh loop-mounted filesystem per run, cold
# cache, wall time, peak RSS, bytes reclaimed by df, contents checked).
# Appends a dated section to contrib/bench/RESULTS.md. Root only; slow (each
# run copies the 1.3 GB corpus).
#
# env: DEDUPD    the binary (default: the tree's ./dedupd)
#      SHARED    the shared directory (default: beside the repository)
#      CORPUS    corpus directory, built if absent (/srv/dedupd-bench/corpus)
#      REPEATS   runs per tool and filesystem (3)
#      FSTYPES   "btrfs xfs";  TOOLS  "dedupd duperemove jdupes"
#      SECOND_PASS  1: also time a second dedupd pass on the unchanged tree
#      RESULTS   where to append (contrib/bench/RESULTS.md)
#      WORK      scratch directory; images are 12G sparse, ~3 GB written
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))

BENCH_NAME=run
. "$here/lib.sh"
die() { echo "bench: $*" >&2; exit 1; }	# not lib.sh's: "bench: "
corpus_defaults dedupd duperemove jdupes
SECOND_PASS=${SECOND_PASS:-1}
RESULTS=${RESULTS:-$here/RESULTS.md}

[ "$(id -u)" = 0 ] || die "needs root (loop mounts)"
peer=$SHARED/bench/peer-run.sh
limit=$SHARED/bench/dup-limit.py
[ -x "$peer" ] && [ -f "$limit" ] || die "no bench harness in $SHARED/bench (set SHARED=)"
case " $TOOLS " in *" dedupd "*)
	[ -x "$DEDUPD" ] || die "$DEDUPD is not an executable (run make)" ;;
esac
case " $TOOLS " in *" duperemove "*)
	command -v duperemove >/dev/null || die "duperemove is not installed" ;;
esac
case " $TOOLS " in *" jdupes "*)
	command -v jdupes >/dev/null || { echo "bench: no jdupes, skipping it"; TOOLS=${TOOLS/jdupes/}; } ;;
esac
command -v python3 >/dev/null || die "needs python3"

# ---- the corpus: build it once ----
corpus_build

# ---- scratch space ----
WORK=${WORK:-$(mktemp -d /tmp/dedupd-bench.XXXXXX)}
export WORK
mkdir -p "$WORK"
corpus_kb=$(du -sk "$CORPUS" | cut -f1)
avail_kb=$(df -k --output=avail "$WORK" | tail -n 1)
[ "$avail_kb" -gt $((corpus_kb * 2 + 2 * 1024 * 1024)) ] ||
	die "not enough space in $WORK for a ${corpus_kb} KiB corpus image"

cleanup() {
	local m dev file
	for m in "$WORK"/*.mnt; do
		mountpoint -q "$m" 2>/dev/null && { umount "$m" || umount -l "$m"; }
	done
	losetup -n -O NAME,BACK-FILE 2>/dev/null | while read -r dev file; do
		case $file in "$WORK"/*) losetup -d "$dev" || true ;; esac
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

raw=$WORK/raw.txt
: >"$raw"
echo "bench: corpus $CORPUS ($((corpus_kb / 1024)) MiB), scratch $WORK"

# ---- the limit: what block-level dedupe can reclaim at best ----
echo "bench: dup-limit.py (btrfs: 2 KiB inline; XFS: no inline)"
echo "limit fs=btrfs $(python3 "$limit" "$CORPUS")" | tee -a "$raw"
echo "limit fs=xfs $(python3 "$limit" "$CORPUS" 4096 0)" | tee -a "$raw"

# ---- runs ----
# The second pass: dedupd twice on the same fresh index, the second one on a
# cold cache, timed on its own; its report goes to OUT.json.
twice=$WORK/dedupd-twice.sh
cat >"$twice" <<EOF
#!/bin/bash
# usage: dedupd-twice.sh INDEX DIR OUT
set -u
rm -f "\$1"
"$DEDUPD" scan --no-progress --json --db "\$1" "\$2" >"\$3.first.json" || exit \$?
sync; echo 3 >/proc/sys/vm/drop_caches
/usr/bin/time -f "%e %M" -o "\$3.time" \
	"$DEDUPD" scan --no-progress --json --db "\$1" "\$2" >"\$3.json"
EOF
chmod +x "$twice"

# json_of FILE: the first JSON object in FILE, on one line ({} if none).
json_of() {
	python3 - "$1" <<'PY' 2>/dev/null || echo '{}'
import json, sys
text = open(sys.argv[1], errors="replace").read()
dec, i = json.JSONDecoder(), text.find("{")
while i >= 0:
    try:
        print(json.dumps(dec.raw_decode(text, i)[0])); break
    except ValueError:
        i = text.find("{", i + 1)
else:
    print("{}")
PY
}

run_one() { # FS TOOL N
	local fs=$1 tool=$2 n=$3 label=$2-$1-$3 line
	echo "bench: run $n/$REPEATS, $fs, $tool"
	case $tool in
	dedupd)
		rm -f "$WORK/dedupd.index"	# a fresh index every run
		line=$("$peer" "$fs" "$CORPUS" "$label" -- \
			"$DEDUPD" scan --no-progress --json --db "$WORK/dedupd.index" {})
		echo "$line" | tee -a "$raw"
		echo "report $label $(json_of "$WORK/$label.log")" >>"$raw"
		;;
	duperemove)
		rm -f "$WORK/duperemove.hash"
		line=$("$peer" "$fs" "$CORPUS" "$label" -- \
			duperemove -dr -b 4096 --hashfile="$WORK/duperemove.hash" {})
		echo "$line" | tee -a "$raw"
		;;
	jdupes)
		line=$("$peer" "$fs" "$CORPUS" "$label" -- jdupes -r -B -q {})
		echo "$line" | tee -a "$raw"
		;;
	esac
	rm -f "$WORK/$label.before" "$WORK/$label.after"
}

tool_runs run_one

if [ "$SECOND_PASS" = 1 ] && [[ " $TOOLS " == *" dedupd "* ]]; then
	for fs in $FSTYPES; do
		echo "bench: dedupd second pass, $fs"
		label=pass2-$fs out=$WORK/second-$fs	# not $label.*: peer-run owns those
		line=$("$peer" "$fs" "$CORPUS" "$label" -- \
			"$twice" "$WORK/dedupd.index" {} "$out")
		echo "$line" | tee -a "$raw"
		read -r wall rss <"$out.time" || wall=? rss=?
		echo "second-pass $label fs=$fs wall_s=$wall peak_rss_kb=$rss report $(json_of "$out.json")" |
			tee -a "$raw"
	done
fi

# ---- the table ----
section=$WORK/section.md
python3 - "$raw" "$section" "$(date -u +%F)" "$(uname -r)" "$(nproc)" \
	"$CORPUS" "$((corpus_kb / 1024))" "$REPEATS" \
	"$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)$(
		[ -x "$DEDUPD" ] && echo ", binary sha256 $(sha256sum <"$DEDUPD" | cut -c1-12)")" \
	"$(duperemove --version 2>&1 | head -n 1)" \
	"$(command -v jdupes >/dev/null && jdupes -v 2>&1 | head -n 1 || echo -)" <<'EOF'
import json, re, statistics, sys
raw, out, date, kernel, cpus, corpus, corpus_mib, repeats, rev, drv, jdv = sys.argv[1:]
lines = open(raw).read().splitlines()
kv = lambda s: dict(re.findall(r"(\w+)=(\S+)", s))
limit, runs, reports, second = {}, {}, {}, []
for l in lines:
    if l.startswith("limit "):
        d = kv(l); limit[d["fs"]] = int(d["dup_bytes"])
    elif l.startswith("report "):
        _, label, js = l.split(" ", 2)
        try: reports[label] = json.loads(js)
        except ValueError: reports[label] = {}
    elif l.startswith("second-pass "):
        second.append(l)
    elif " fs=" in l and " wall_s=" in l:
        label = l.split()[0]; d = kv(l)
        tool = label.split("-")[0]
        if tool == "pass2":
            continue
        runs.setdefault((d["fs"], tool), []).append((label, d))
MiB = 1024 * 1024
med = lambda xs: statistics.median(xs) if xs else float("nan")
o = [f"## {date}", "",
     f"kernel {kernel}, {cpus} CPUs; corpus {corpus} ({corpus_mib} MiB); "
     f"runs per tool and filesystem: {repeats} (medians); dedupd {rev}; {drv}; {jdv}", "",
     "| fs | tool | wall s | peak RSS MiB | reclaimed MiB | % of limit | intact | rc 0 |",
     "|---|---|---:|---:|---:|---:|---|---|"]
walls = {}
for (fs, tool), rs in sorted(runs.items()):
    wall = med([float(d["wall_s"]) for _, d in rs])
    rss = med([int(d["peak_rss_kb"]) / 1024 for _, d in rs])
    rec = med([int(d["reclaimed"]) for _, d in rs])
    walls[(fs, tool)] = wall
    pct = f"{100 * rec / limit[fs]:.1f}" if limit.get(fs) else "-"
    intact = "yes" if all(d["intact"] == "yes" for _, d in rs) else "**NO**"
    ok = f"{sum(d['rc'] == '0' for _, d in rs)}/{len(rs)}"
    o.append(f"| {fs} | {tool} | {wall:.1f} | {rss:.0f} | {rec / MiB:.0f} | {pct} | {intact} | {ok} |")
o.append("")
for fs in sorted({fs for fs, _ in runs}):
    o.append(f"- {fs}: limit (dup-limit.py) {limit.get(fs, 0) / MiB:.0f} MiB")
    if (fs, "dedupd") in walls and (fs, "duperemove") in walls and walls[(fs, "duperemove")]:
        o.append(f"- {fs}: wall-time ratio dedupd/duperemove "
                 f"{walls[(fs, 'dedupd')] / walls[(fs, 'duperemove')]:.2f}")
    for l in second:
        if f" fs={fs} " in l:
            d = kv(l.split(" report ")[0])
            try: rep = json.loads(l.split(" report ", 1)[1])
            except ValueError: rep = {}
            h = rep.get("bytes_hashed", "?")
            flag = "" if h == 0 else " **(must be 0)**"
            o.append(f"- {fs}: second dedupd pass on the unchanged tree (cold cache): "
                     f"wall {d.get('wall_s')} s, peak RSS {int(d.get('peak_rss_kb', 0)) // 1024} MiB, "
                     f"bytes_hashed {h}{flag}")
o += ["", "<details><summary>raw</summary>", "", "```"] + lines + ["```", "</details>", ""]
open(out, "w").write("\n".join(o))
EOF

# ---- the index microbenchmark (tests/unit/bench-hashdb.c) ----
if [ "${MICROBENCH:-1}" = 1 ]; then
	echo "bench: index microbenchmark (1 GiB)"
	make -C "$top" --no-print-directory -s build/tests/bench-hashdb >/dev/null
	mbdir=$(mktemp -d "$WORK/microbench.XXXXXX")
	"$top/build/tests/bench-hashdb" 1G 0 "$mbdir" >"$WORK/microbench.txt" 2>&1 ||
		echo "bench: microbenchmark failed" >&2
	rm -rf "$mbdir"
	{
		echo "Index microbenchmark (\`make microbench\`: a 1 GiB index in $(df --output=fstype "$WORK" | tail -n 1) on $WORK, filled to 80 % of its cells, then saturated):"
		echo
		echo '```'
		grep -E '^(cells|insert_rate|fill|bytes_per_block_[a-z]+|lookup_hit_rate|lookup_miss_rate|saturated_(fill|bytes_per_block_[a-z]+)|reopen_time) ' "$WORK/microbench.txt"
		echo '```'
		echo
	} >>"$section"
fi

[ -f "$RESULTS" ] || printf '# dedupd benchmark results\n\nAppended by contrib/bench/run.sh (`make bench`); never edited by hand.\n\n' >"$RESULTS"
cat "$section" >>"$RESULTS"
echo
sed '/<details>/,$d' "$section"
echo "bench: appended to $RESULTS"
