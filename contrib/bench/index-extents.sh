#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reliability: the index kept on btrfs (as /var/lib/dedupd is on a btrfs
# root). A loop btrfs holds the index (--db); another holds two copies of
# CORPUS (cp -a --reflink=never). PASSES scans of the corpus, a copy of a
# tenth of it added before each later pass; after each, the index file's
# extents as filefrag counts them (physically contiguous pieces are one)
# and whether it is NOCOW. Target (issue "Nothing lost"): <= 16 extents
# after a pass of the corpus. Appends a dated section to RESULTS.
# Root only.
#
# env: DEDUPD  CORPUS (/srv/dedupd-bench/rootfs-min)  PASSES (3)  WORK  RESULTS
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEDUPD=${DEDUPD:-$top/dedupd}
CORPUS=${CORPUS:-/srv/dedupd-bench/rootfs-min}
PASSES=${PASSES:-3}
RESULTS=${RESULTS:-$here/RESULTS.md}

BENCH_NAME=index-extents
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root"
[ -d "$CORPUS" ] || die "no corpus at $CORPUS (contrib/bench/snapshots.sh makes one)"
[ -x "$DEDUPD" ] || die "$DEDUPD is not an executable (run make)"
bench_commit
COMMIT=$COMMIT$DIRTY

WORK=${WORK:-$(mktemp -d /tmp/dedupd-bench-index.XXXXXX)}
mkdir -p "$WORK/state" "$WORK/data"
cp "$DEDUPD" "$WORK/dedupd"
DEDUPD=$WORK/dedupd
cleanup() {
	for m in "$WORK/state" "$WORK/data"; do
		! mountpoint -q "$m" || umount "$m" || umount -l "$m"
	done
	rm -f "$WORK"/*.img "$WORK/dedupd"
}
trap cleanup EXIT

for fs in state data; do
	truncate -s 4G "$WORK/$fs.img"
	mkfs.btrfs -q -f "$WORK/$fs.img" >/dev/null
	mount -o loop "$WORK/$fs.img" "$WORK/$fs"
done
cp -a --reflink=never "$CORPUS" "$WORK/data/a"
cp -a --reflink=never "$CORPUS" "$WORK/data/b"
DB=$WORK/state/index


rows=() raw=()
for ((p = 1; p <= PASSES; p++)); do
	if [ "$p" -gt 1 ]; then	# new data for the next pass
		mkdir -p "$WORK/data/c$p"
		find "$WORK/data/a" -type f | awk 'NR % 10 == 0' |
			while read -r f; do
				cp --reflink=never "$f" "$WORK/data/c$p/$(echo "$f" | md5sum | cut -c1-16)"
			done
	fi
	"$DEDUPD" scan --json --no-progress --db "$DB" "$WORK/data" >"$WORK/report$p.json"
	sync
	n=$(fiemap_extents "$DB")
	nocow=no
	lsattr "$DB" | grep -q '^[^ ]*C' && nocow=yes
	size=$(stat -c %s "$DB")
	rows+=("| $p | $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["files_scanned"], "|", d["bytes_hashed"], "|", d["bytes_deduped"])' "$WORK/report$p.json") | $size | $n | $nocow |")
	raw+=("pass=$p extents=$n nocow=$nocow size=$size report=$(cat "$WORK/report$p.json")")
	echo "bench-index-extents: pass $p: index in $n extents (nocow $nocow)" >&2
done

section=$(
	echo
	echo "## $(date +%F) Reliability: the index on btrfs, binary $COMMIT (contrib/bench/index-extents.sh)"
	echo
	echo "kernel $(uname -r); corpus $CORPUS, two copies, on a loop btrfs; the index (--db) on another loop btrfs; a tenth of the corpus copied anew before each later pass. Extents as filefrag counts them. Target: <= 16 after a pass."
	echo
	echo "| pass | files scanned | bytes hashed | bytes deduped | index bytes | index extents | NOCOW |"
	echo "|---:|---:|---:|---:|---:|---:|---|"
	printf '%s\n' "${rows[@]}"
	echo
	echo '<details><summary>raw</summary>'
	echo
	echo '```'
	printf '%s\n' "${raw[@]}"
	echo '```'
	echo '</details>'
)
echo "$section"
echo "$section" >>"$RESULTS"
