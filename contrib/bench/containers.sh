#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark dedupd on a real podman store (containers/storage, vfs driver)
# holding the corpus's three images (rootfs-min, img-python, img-build, each
# `podman import`ed from a tarball of its tree), on fresh loop-mounted btrfs
# and XFS images:
#
#   space   `dedupd scan` over the graph root after the imports: space freed
#           (df) as % of ../shared/bench/dup-limit.py's limit of the graph
#           root, wall time; `jdupes -B -r` and `duperemove -dr -b 4096` on
#           identical fresh stores for reference (REPEATS runs each, medians)
#   pull    `dedupd watch` running (its default settle delay, or SETTLE;
#           DAEMON_OPTS more options) while rootfs-min and img-build are
#           imported, then img-python (336 MiB, one layer) is: seconds from
#           the end of that import until the daemon has deduped it (the last
#           move of its bytes_deduped before it stays idle), and the same
#           with the post-pull hook (contrib/containers/dedupd-after-pull)
#           run at once after the import: seconds until the hook returns;
#           seconds until the daemon is idle with nothing queued; duplicate
#           data left in the store (a fresh dry-run scan). REPEATS runs each.
#
# Every run checks the sha256 of every file of the graph root before and
# after, and of every file of every image through `podman image mount`
# against the corpus; `podman system df` (what podman users see) is
# recorded beside the space used on the filesystem. Appends a dated section
# to contrib/bench/RESULTS.md (or RESULTS). Root only; about 40 minutes.
#
# env: DEDUPD    the binary (default: the tree's ./dedupd)
#      SHARED    the shared directory (default: beside the repository)
#      CORPUS    /srv/dedupd-bench/corpus (contrib/bench/run.sh builds it)
#      REPEATS   3;  FSTYPES "btrfs xfs";  TOOLS "dedupd jdupes duperemove"
#      PULL      1: also the pull timings;  SETTLE  the daemon's --settle
#      RESULTS   where to append (contrib/bench/RESULTS.md)
#      WORK      scratch directory (tarballs 1.3 GB; images 12G sparse);
#                KEEP_WORK=1 keeps it (the daemon's log: watch.log)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))

BENCH_NAME=containers
. "$here/lib.sh"
corpus_defaults dedupd jdupes duperemove
PULL=${PULL:-1}
SETTLE=${SETTLE:-}
DAEMON_OPTS=${DAEMON_OPTS-}
RESULTS=${RESULTS:-$here/RESULTS.md}
HOOK=$top/contrib/containers/dedupd-after-pull
IMAGES="rootfs-min img-build img-python"	# import order; the pull is the last

need_root_dedupd "loop mounts, podman's store"
limit_py=$SHARED/bench/dup-limit.py
[ -f "$limit_py" ] || die "no $limit_py (set SHARED=)"
command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"
command -v python3 >/dev/null || die "needs python3"
for d in $IMAGES; do
	[ -d "$CORPUS/$d" ] || die "no $CORPUS/$d (contrib/bench/run.sh builds the corpus)"
done
case " $TOOLS " in *" duperemove "*)
	command -v duperemove >/dev/null || { say "no duperemove, skipping it"; TOOLS=${TOOLS/duperemove/}; } ;;
esac
case " $TOOLS " in *" jdupes "*)
	command -v jdupes >/dev/null || { say "no jdupes, skipping it"; TOOLS=${TOOLS/jdupes/}; } ;;
esac

WORK=${WORK:-$(mktemp -d /tmp/dedupd-bench-containers.XXXXXX)}
mkdir -p "$WORK"
IMG=$WORK/fs.img
MNT=$WORK/mnt
GRAPH=$MNT/containers/storage
SOCK=$WORK/sock
STATE=$WORK/state
RUNROOT=	# podman's run root: a short path (at most 50 characters)
WPID=
raw=$WORK/raw.txt
: >"$raw"
mkdir -p "$MNT"

# ---- podman on a private store ----
printf '' >"$WORK/containers.conf"
pm() {
	env CONTAINERS_CONF="$WORK/containers.conf" \
		CONTAINERS_STORAGE_CONF="$RUNROOT/storage.conf" TMPDIR="$RUNROOT/tmp" \
		podman --root "$GRAPH" --runroot "$RUNROOT" --tmpdir "$RUNROOT/libpod" \
		--storage-driver vfs --events-backend none --cgroup-manager cgroupfs "$@"
}

store_down() {
	local m
	[ -n "$RUNROOT" ] || return 0
	pm image unmount -a >/dev/null 2>&1 || true
	for m in $(awk -v g="$GRAPH/" 'index($2, g) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	rm -rf "$RUNROOT"
	RUNROOT=
}

stop_daemon() {
	[ -n "$WPID" ] || return 0
	kill -TERM "$WPID" 2>/dev/null || true
	wait "$WPID" 2>/dev/null || true
	WPID=
}

cleanup() {
	local rc=$? dev file
	if [ "$rc" != 0 ] && [ -s "$raw" ]; then
		cp "$raw" "${TMPDIR:-/tmp}/dedupd-bench-containers.raw.txt"
		say "failed; the figures so far: ${TMPDIR:-/tmp}/dedupd-bench-containers.raw.txt"
	fi
	stop_daemon
	store_down
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	losetup -n -O NAME,BACK-FILE 2>/dev/null | while read -r dev file; do
		case $file in "$WORK"/*) losetup -d "$dev" || true ;; esac
	done
	[ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fresh_store FSTYPE: a new filesystem on $MNT, an empty store on it.
fresh_store() {
	stop_daemon
	store_down
	mkfs_mount "$1" 12G "$IMG" "$MNT"
	mkdir -p "$GRAPH"
	RUNROOT=$(mktemp -d /tmp/dedupd-bpm.XXXXXX)
	mkdir -p "$RUNROOT/tmp"
	printf '[storage]\ndriver = "vfs"\nrunroot = "%s"\ngraphroot = "%s"\n' \
		"$RUNROOT" "$GRAPH" >"$RUNROOT/storage.conf"
	rm -rf "$STATE"
}

drop() { drop_caches; }
now() { date +%s.%N; }

# import NAME: `podman import` of the corpus tree NAME; prints its seconds.
import_one() {
	local t0 t1
	t0=$(now)
	pm import "$WORK/tar/$1.tar" "$1" >/dev/null 2>"$WORK/import.err" ||
		die "podman import $1 failed: $(tail -n 3 "$WORK/import.err")"
	t1=$(now)
	awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }'
}

# images_intact: every file of every image, through `podman image mount`,
# has the sha256 its corpus tree has ("yes"/"NO").
images_intact() {
	local d dir ok=yes
	for d in $IMAGES; do
		pm image exists "$d" || continue
		dir=$(pm image mount "$d") || { ok=NO; continue; }
		manifest "$dir" >"$WORK/img.now"
		pm image unmount "$d" >/dev/null 2>&1 || true
		cmp -s "$WORK/img.now" "$WORK/tar/$d.manifest" || { ok=NO; say "image $d differs from its tree"; }
	done
	echo "$ok"
}

# df_line LABEL: `podman system df` as one line for the raw log.
df_line() {
	pm system df --format '{{.Type}}={{.Size}}' | tr '\n' ' ' | sed "s/^/systemdf $1 /;s/ $//"
	echo
}

# ---- tarballs of the corpus trees, and their manifests ----
mkdir -p "$WORK/tar"
for d in $IMAGES; do
	say "tar of $CORPUS/$d"
	# device nodes stay out: an image gets /dev from its runtime
	tar -C "$CORPUS/$d" --numeric-owner --exclude=./dev/* -cf "$WORK/tar/$d.tar" .
	manifest "$CORPUS/$d" >"$WORK/tar/$d.manifest"
done

# ---- space ----
run_tool() { # FS TOOL N
	local fs=$1 tool=$2 n=$3 label=$2-$1-$3 before after rc=0 intact wall rss t
	say "space: run $n/$REPEATS, $fs, $tool"
	fresh_store "$fs"
	t=
	for d in $IMAGES; do t="$t $d=$(import_one "$d")"; done
	echo "import $label fs=$fs$t" >>"$raw"
	pm image unmount -a >/dev/null 2>&1 || true
	if [ "$n" = 1 ] && [ "$tool" = "${TOOLS%% *}" ]; then
		echo "limit fs=$fs $(python3 "$limit_py" "$GRAPH" 4096 "$([ "$fs" = btrfs ] && echo 2048 || echo 0)")" |
			tee -a "$raw"
	fi
	df_line "$label-before" >>"$raw"
	manifest "$GRAPH" >"$WORK/before"
	before=$(used)
	drop
	case $tool in
	dedupd)
		rm -f "$WORK/index"
		/usr/bin/time -f "%e %M" -o "$WORK/time" "$DEDUPD" scan --no-progress \
			--json --db "$WORK/index" "$GRAPH" >"$WORK/out" 2>&1 || rc=$?
		;;
	jdupes)
		/usr/bin/time -f "%e %M" -o "$WORK/time" jdupes -B -r -q "$GRAPH" \
			>"$WORK/out" 2>&1 || rc=$?
		;;
	duperemove)
		rm -f "$WORK/dr.hash"
		/usr/bin/time -f "%e %M" -o "$WORK/time" duperemove -dr -b 4096 \
			--hashfile="$WORK/dr.hash" "$GRAPH" >"$WORK/out" 2>&1 || rc=$?
		;;
	esac
	after=$(used)
	manifest "$GRAPH" >"$WORK/after"
	intact=yes
	cmp -s "$WORK/before" "$WORK/after" || intact=NO
	[ "$(images_intact)" = yes ] || intact=NO
	df_line "$label-after" >>"$raw"
	read -r wall rss < <(tail -n 1 "$WORK/time")
	echo "$label fs=$fs rc=$rc wall_s=$wall peak_rss_kb=$rss used_before=$before used_after=$after reclaimed=$((before - after)) intact=$intact" |
		tee -a "$raw"
	[ "$tool" != dedupd ] || echo "report $label $(grep -m1 '^{' "$WORK/out" || echo '{}')" >>"$raw"
}

tool_runs run_tool

# ---- pull ----
status() { "$DEDUPD" status --json --socket "$SOCK" 2>/dev/null; }
# st_fields: "idle queue in_flight events bytes_deduped" of the daemon
st_fields() {
	status | python3 -c '
import json, sys
d = json.load(sys.stdin)
f = d["filesystems"][0] if d.get("filesystems") else d
g = lambda k: d[k] if k in d else f.get(k)
print(json.dumps(g("idle")), g("queue"), g("in_flight"), g("events"), g("bytes_deduped"))'
}

start_daemon() {
	local i
	echo "==== $(date +%T.%N) start" >>"$WORK/watch.log"
	# shellcheck disable=SC2086 # DAEMON_OPTS: words on purpose
	"$DEDUPD" watch --no-config -v ${SETTLE:+--settle "$SETTLE"} --socket "$SOCK" \
		--state-dir "$STATE" --include "$GRAPH/*" $DAEMON_OPTS "$MNT" \
		>>"$WORK/watch.log" 2>&1 &
	WPID=$!
	for i in $(seq 1 100); do
		status >/dev/null && return 0
		kill -0 "$WPID" 2>/dev/null || die "dedupd watch died at start (see $WORK/watch.log)"
		sleep 0.1
	done
	die "dedupd watch does not answer"
}

# wait_deduped T_END QUIET: poll until the daemon is idle with nothing
# queued or in flight and its bytes_deduped has not moved for QUIET seconds;
# prints two figures, seconds from T_END: until bytes_deduped last moved
# (the data deduped), and until that idle stretch began (the daemon done
# with every file, podman's metadata files included). Every answer goes to
# $WORK/timeline.
wait_deduped() {
	local t_end=$1 quiet=$2 idle q fl dd last=-1 since t deadline moved
	deadline=$(awk -v a="$(now)" 'BEGIN { printf "%.3f\n", a + 900 }')
	since=$(now)
	moved=$t_end
	while :; do
		t=$(now)
		read -r idle q fl _ dd < <(st_fields) || die "dedupd status failed"
		echo "$t $idle $q $fl $dd" >>"$WORK/timeline"
		if [ "$dd" != "$last" ]; then
			[ "$last" = -1 ] || moved=$t
			last=$dd
			since=$t
		elif [ "$idle" != true ] || [ "$q" != 0 ] || [ "$fl" != 0 ]; then
			since=$t
		elif awk -v a="$t" -v b="$since" -v q="$quiet" 'BEGIN { exit !(a - b >= q) }'; then
			awk -v m="$moved" -v s="$since" -v b="$t_end" 'BEGIN {
				m -= b; s -= b; if (m < 0) m = 0; if (s < 0) s = 0
				printf "%.2f %.2f\n", m, s }'
			return 0
		fi
		awk -v a="$t" -v b="$deadline" 'BEGIN { exit !(a > b) }' && die "the daemon is not done after 900 s"
		sleep 0.2
	done
}

# dup_left: duplicate bytes a fresh dry-run scan finds in the store.
dup_left() {
	rm -f "$WORK/left.index"
	"$DEDUPD" scan --no-progress --dry-run --json --db "$WORK/left.index" "$GRAPH" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_duplicate"])'
}

pull_once() { # FS MODE N
	local fs=$1 mode=$2 n=$3 label=pull-$2-$1-$3 t_imp t_end secs idle_s u0 u1 d0 d1 left quiet
	fresh_store "$fs"
	start_daemon
	quiet=$(awk -v s="${SETTLE:-5}" 'BEGIN { print s + 2 }')
	for d in ${IMAGES% *}; do import_one "$d" >/dev/null; done
	wait_deduped "$(now)" "$quiet" >/dev/null
	df_line "$label-before" >>"$raw"
	u0=$(used)
	d0=$(st_fields | cut -d' ' -f5)
	t_imp=$(import_one "${IMAGES##* }")
	t_end=$(now)
	echo "==== $(date +%T.%N) $label: import ended" >>"$WORK/watch.log"
	echo "# $label t_end=$t_end" >>"$WORK/timeline"
	case $mode in
	daemon)
		read -r secs idle_s < <(wait_deduped "$t_end" "$quiet")
		;;
	hook)
		env CONTAINERS_CONF="$WORK/containers.conf" \
			CONTAINERS_STORAGE_CONF="$RUNROOT/storage.conf" TMPDIR="$RUNROOT/tmp" \
			PODMAN="podman --root $GRAPH --runroot $RUNROOT --tmpdir $RUNROOT/libpod --storage-driver vfs --events-backend none" \
			DEDUPD="$DEDUPD" \
			DEDUPD_SOCKET="$SOCK" DEDUPD_OPTS=--json \
			"$HOOK" "${IMAGES##* }" >"$WORK/hook.out" 2>&1 ||
			die "dedupd-after-pull failed: $(tail -n 3 "$WORK/hook.out")"
		secs=$(awk -v a="$(now)" -v b="$t_end" 'BEGIN { printf "%.2f\n", a - b }')
		echo "hookreport $label $(grep -m1 '^{' "$WORK/hook.out" || echo '{}')" >>"$raw"
		read -r _ idle_s < <(wait_deduped "$t_end" "$quiet")
		;;
	esac
	u1=$(used)
	d1=$(st_fields | cut -d' ' -f5)
	stop_daemon
	left=$(dup_left)
	df_line "$label-after" >>"$raw"
	echo "$label fs=$fs import_s=$t_imp deduped_after_s=$secs idle_after_s=$idle_s daemon_deduped=$((d1 - d0)) used_before=$u0 used_after=$u1 dup_left=$left intact=$(images_intact)" |
		tee -a "$raw"
}

if [ "$PULL" = 1 ]; then
	[ -x "$HOOK" ] || die "no $HOOK"
	for ((r = 1; r <= REPEATS; r++)); do
		for fs in $FSTYPES; do
			for mode in daemon hook; do
				say "pull: run $r/$REPEATS, $fs, $mode"
				pull_once "$fs" "$mode" "$r"
			done
		done
	done
fi
stop_daemon
store_down
umount "$MNT"

# ---- the section ----
other=$(pgrep -af 'contrib/bench/[a-z]+\.sh' | awk -v me=$$ '$1 != me && !/containers\.sh/ { $1 = ""; print }' |
	sort -u | tr '\n' ';' || true)
section=$WORK/section.md
python3 - "$raw" "$section" "$(date -u +%F)" "$(uname -r)" "$(nproc)" "$CORPUS" \
	"$REPEATS" "$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown), binary sha256 $(sha256sum <"$DEDUPD" | cut -c1-12)" \
	"$(podman --version)" "$(duperemove --version 2>&1 | head -n 1 || echo -)" \
	"$(jdupes -v 2>/dev/null | head -n 1 || echo -)" "${SETTLE:-default (5)}" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" "${other:-none}" <<'EOF'
import json, re, statistics, sys
(raw, out, date, kernel, cpus, corpus, repeats, rev, podman, drv, jdv, settle,
 load, other) = sys.argv[1:]
lines = open(raw).read().splitlines()
kv = lambda s: dict(re.findall(r"(\w+)=(\S+)", s))
MiB = 1024 * 1024
med = lambda xs: statistics.median(xs) if xs else float("nan")
limit, runs, pulls, sdf = {}, {}, {}, {}
for l in lines:
    if l.startswith("limit "):
        d = kv(l); limit[d["fs"]] = int(d["dup_bytes"])
    elif l.startswith("systemdf "):
        _, label, rest = (l.split(" ", 2) + [""])[:3]
        sdf[label] = kv(rest.replace("Local Volumes", "Volumes"))
    elif l.startswith("pull-"):
        d = kv(l); _, mode, fs, _ = l.split()[0].split("-")
        pulls.setdefault((fs, mode), []).append(d)
    elif " fs=" in l and " wall_s=" in l:
        label = l.split()[0]; d = kv(l)
        runs.setdefault((d["fs"], label.split("-")[0]), []).append((label, d))
o = [f"## {date}: container image store (podman, vfs driver)", "",
     f"`contrib/bench/containers.sh`: kernel {kernel}, {cpus} CPUs; {podman}; "
     f"corpus {corpus} (rootfs-min, img-python, img-build, each `podman import`ed "
     f"as one image); runs: {repeats} (medians); dedupd {rev}; {drv}; {jdv}; "
     f"load average at the end {load}; other benchmarks running meanwhile: {other}", "",
     "Space: the three images imported into a fresh store on a fresh filesystem, "
     "then one tool over the graph root. Limit: `dup-limit.py` of the graph root.", "",
     "| fs | tool | wall s | peak RSS MiB | reclaimed MiB | % of limit | intact | rc 0 |",
     "|---|---|---:|---:|---:|---:|---|---|"]
for (fs, tool), rs in sorted(runs.items()):
    rec = med([int(d["reclaimed"]) for _, d in rs])
    pct = f"{100 * rec / limit[fs]:.1f}" if limit.get(fs) else "-"
    intact = "yes" if all(d["intact"] == "yes" for _, d in rs) else "**NO**"
    o.append(f"| {fs} | {tool} | {med([float(d['wall_s']) for _, d in rs]):.1f} | "
             f"{med([int(d['peak_rss_kb']) / 1024 for _, d in rs]):.0f} | {rec / MiB:.0f} | "
             f"{pct} | {intact} | {sum(d['rc'] == '0' for _, d in rs)}/{len(rs)} |")
o.append("")
for fs in sorted(limit):
    o.append(f"- {fs}: limit (dup-limit.py) {limit[fs] / MiB:.0f} MiB")
    rs = runs.get((fs, "dedupd"), [])
    if rs:
        label, d = rs[0]
        b, a = sdf.get(label + "-before", {}), sdf.get(label + "-after", {})
        o.append(f"- {fs}, {label}: `podman system df` says images take {b.get('Images', '?')} "
                 f"before and {a.get('Images', '?')} after; the filesystem's used space went "
                 f"from {int(d['used_before']) / MiB:.0f} MiB to {int(d['used_after']) / MiB:.0f} MiB")
if pulls:
    o += ["", f"Pull: `dedupd watch` (settle {settle}) watches the store while rootfs-min and "
          "img-build are imported; then img-python (one 336 MiB layer) is. *daemon*: seconds "
          "from the end of that import until the daemon has deduped it (the last move of its "
          "bytes deduped, before it stays idle); *hook*: until `dedupd-after-pull img-python`, "
          "started at once, returns. Idle: until the daemon is idle with nothing queued "
          "(podman's lock files, rewritten in place, wait for `--reexamine`). Left: duplicate "
          "bytes a fresh dry-run scan of the store finds afterwards.", "",
          "| fs | mode | import s | deduped after s (median) | each run | idle after s | deduped MiB | left MiB | intact |",
          "|---|---|---:|---:|---|---:|---:|---:|---|"]
    for (fs, mode), ds in sorted(pulls.items()):
        secs = [float(d["deduped_after_s"]) for d in ds]
        intact = "yes" if all(d["intact"] == "yes" for d in ds) else "**NO**"
        o.append(f"| {fs} | {mode} | {med([float(d['import_s']) for d in ds]):.1f} | "
                 f"{med(secs):.1f} | {', '.join(f'{s:.1f}' for s in secs)} | "
                 f"{med([float(d['idle_after_s']) for d in ds]):.1f} | "
                 f"{med([int(d['daemon_deduped']) / MiB for d in ds]):.0f} | "
                 f"{med([int(d['dup_left']) / MiB for d in ds]):.1f} | {intact} |")
o += ["", "<details><summary>raw</summary>", "", "```"] + lines + ["```", "</details>", ""]
open(out, "w").write("\n".join(o))
EOF

[ -f "$RESULTS" ] || printf '# dedupd benchmark results\n\n' >"$RESULTS"
cat "$section" >>"$RESULTS"
echo
sed '/<details>/,$d' "$section"
say "appended to $RESULTS"
