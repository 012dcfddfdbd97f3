#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `make demo`: a loop-mounted btrfs image full of duplicates (three copies of
# a few hundred files from /usr, plus partly identical large files), one
# `dedupd scan` over it, the space used before and after, every file's
# checksum verified. Root only; everything is removed at the end.
#
# env: DEDUPD (default: the tree's ./dedupd), DEMO_MB (size of one copy, 150)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
DEDUPD=${DEDUPD:-$top/dedupd}
DEMO_MB=${DEMO_MB:-150}

die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must be run as root (it loop-mounts a btrfs image)"
[ -x "$DEDUPD" ] || die "$DEDUPD is not an executable (run make)"
for c in mkfs.btrfs btrfs sha256sum tar; do
	command -v "$c" >/dev/null || die "needs $c"
done

tmp=$(mktemp -d /tmp/dedupd-demo.XXXXXX)
img=$tmp/demo.img mnt=$tmp/mnt
cleanup() {
	set +e
	if mountpoint -q "$mnt"; then
		umount "$mnt" || umount -l "$mnt"
	fi
	losetup -n -O NAME,BACK-FILE 2>/dev/null | while read -r dev file; do
		[ "$file" != "$img" ] || losetup -d "$dev"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mib() { echo $((($1 + 524288) / 1048576)); }
used() {
	sync
	btrfs filesystem sync "$mnt" >/dev/null
	df -B1 --output=used "$mnt" | tail -n 1 | tr -d ' '
}

echo "== a 2 GiB btrfs image in $tmp"
truncate -s 2G "$img"
mkfs.btrfs -q -f "$img" >/dev/null 2>&1 || die "mkfs.btrfs failed"
mkdir "$mnt"
mount -o loop "$img" "$mnt"
data=$mnt/data
mkdir -p "$data/image-1"

echo "== filling it: about $DEMO_MB MB of files from /usr, three times"
find /usr/share /usr/lib -xdev -type f -readable -size -16M ! -name $'*\n*' \
	-printf '%s %p\n' 2>/dev/null |
	awk -v max=$((DEMO_MB * 1024 * 1024)) '{ if (t + $1 > max) exit; t += $1; print }' |
	cut -d' ' -f2- | sed 's|^/||' >"$tmp/list" || true
[ -s "$tmp/list" ] || die "found no files under /usr to copy"
# tar reads and writes: no reflinks, real duplicates.
{ tar -C / --no-recursion --verbatim-files-from -T "$tmp/list" -cf - \
	2>/dev/null || true; } | tar -C "$data/image-1" -xf -
cp -a --reflink=never "$data/image-1" "$data/image-2"
cp -a --reflink=never "$data/image-1" "$data/image-3"
# image-3 differs a little: a few files gone.
find "$data/image-3" -type f | sed -n '1,20p' | xargs -r -d '\n' rm -f

echo "== and partly identical large files"
mkdir "$data/big"
head -c $((32 << 20)) /dev/urandom >"$tmp/base"
head -c $((16 << 20)) /dev/urandom >"$tmp/other"
cp --reflink=never "$tmp/base" "$data/big/disk.img"
# the same image with its second half rewritten
dd if="$tmp/base" bs=1M count=16 status=none >"$data/big/disk-v2.img"
dd if="$tmp/other" bs=1M status=none >>"$data/big/disk-v2.img"
# the same image with a 4 KiB header prepended
{ head -c 4096 /dev/urandom; cat "$tmp/base"; } >"$data/big/disk-with-header.img"
# the same image with one block changed
cp --reflink=never "$tmp/base" "$data/big/disk-patched.img"
printf 'patched' | dd of="$data/big/disk-patched.img" bs=1 seek=$((5 << 20)) \
	conv=notrunc status=none
rm -f "$tmp/base" "$tmp/other"

files=$(find "$data" -type f | wc -l)
echo "   $files files, $(du -sh --apparent-size "$data" | cut -f1) of data"
echo "== checksumming every file"
(cd "$data" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum --) >"$tmp/sums"
before=$(used)
echo "   space used: $(mib "$before") MiB"

echo "== $DEDUPD scan $data"
echo
start=$SECONDS
"$DEDUPD" scan --db "$tmp/index" "$data"
took=$((SECONDS - start))
echo
after=$(used)

echo "== checking every file's checksum"
(cd "$data" && sha256sum --quiet -c "$tmp/sums") || die "CONTENTS CHANGED (see above)"
echo "   all $files files intact"
echo
saved=$((before - after))
echo "space used before: $(mib "$before") MiB"
echo "space used after:  $(mib "$after") MiB"
echo "saved:             $(mib "$saved") MiB ($((saved * 100 / (before > 0 ? before : 1)))%) in ${took}s"
echo
btrfs filesystem du -s "$data" 2>/dev/null || true
