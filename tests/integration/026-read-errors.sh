#!/bin/bash
# Read errors, made as disks make them: with the filesystem unmounted, one
# data block of each of BAD files is overwritten in the image, so btrfs
# answers EIO for it (its checksum fails). A scan logs one line per file
# (path and offset), counts it in files_unreadable and goes on: the other
# duplicates are deduped. A file indexed before its block went bad, whose
# copy is written later, makes the kernel's compare fail with EIO: that
# range is dropped (one line, counted in errors). Keyed by their csums
# (the default), the damaged files are not read by the hasher: each of their
# compares fails the same way. The daemon catches up over
# the same tree, keeps running and dedupes what is written next. Readable
# files keep their sha256; the damaged ones keep their blocks where they
# were.
. "$(dirname "$0")/lib.sh"
setup
require_cmd btrfs-map-logical
BAD=${BAD:-24}
SRC=4

setup_fs btrfs 1G
img=$TESTDIR/fs0.img
mkdir "$MNT/bad" "$MNT/good" "$MNT/src"
for ((i = 1; i <= BAD; i++)); do
	rand_file "$MNT/bad/f$i" 256
	copy_plain "$MNT/bad/f$i" "$MNT/bad/g$i"
done
for i in 1 2 3 4; do
	rand_file "$MNT/good/f$i" 1024
	copy_plain "$MNT/good/f$i" "$MNT/good/g$i"
done
for ((i = 1; i <= SRC; i++)); do
	rand_file "$MNT/src/s$i" 512
done
scan --read-all "$MNT/src"	# the sources are indexed while they read well
for ((i = 1; i <= SRC; i++)); do
	copy_plain "$MNT/src/s$i" "$MNT/src/c$i"
done
run_check sync

# the block to spoil in each file: its 3rd, at a device offset in the image
targets=()
mkdir "$TESTDIR/maps"
for f in "$MNT"/bad/f* "$MNT"/src/s*; do
	phys=$(python3 "$IT_DIR/fiemap.py" extents "$f" | awk 'NR == 1 { print $2 }')
	[ -n "$phys" ] || _fail "no extent for $f"
	dev=$(btrfs-map-logical -l $((phys + 2 * 4096)) "$img" 2>/dev/null |
		awk '$1 == "mirror" && $2 == 1 { print $6; exit }')
	[ -n "$dev" ] || _fail "btrfs-map-logical found no device offset for $f"
	targets+=("$dev")
	python3 "$IT_DIR/fiemap.py" extents "$f" \
		>"$TESTDIR/maps/$(basename "$f").map.before"
done
(cd "$MNT" && find . -type f ! -path './bad/f*' ! -path './src/s*' -print0 |
	sort -z | xargs -0 sha256sum --) >"$TESTDIR/before"

run_check umount "$MNT"
for dev in "${targets[@]}"; do
	dd if=/dev/urandom of="$img" bs=4096 seek=$((dev / 4096)) count=1 \
		conv=notrunc status=none
done
mount -o loop "$img" "$MNT" || _fail "remount of $img failed"
log "spoiled ${#targets[@]} blocks"
cat "$MNT/bad/f1" >/dev/null 2>&1 && _fail "bad/f1 still reads: no read error made"

# --- a scan: one line per unreadable file, the pass goes on -----------------
# (--read-all: by default, blocks with a csum are not read by the hasher; the
# last part of this test is that case)
scan --read-all "$MNT"
check_eq "$(json_get files_unreadable)" "$BAD" "files_unreadable"
n=$(grep -c "cannot read '$MNT/bad/f[0-9]*' at offset 8192: Input/output error, skipping" \
	"$REPORT.err" || true)
check_eq "$n" "$BAD" "lines saying where a file could not be read"
n=$(grep -c "cannot compare '$MNT/src/c[0-9]*' .*with its copy: Input/output error, skipping" \
	"$REPORT.err" || true)
check_eq "$n" "$SRC" "lines saying a compare read a bad block"
check_ge "$(json_get errors)" "$SRC" "errors (compares that read a bad block)"
check_ge "$(json_get bytes_deduped)" $((4 * 1024 * 1024)) "bytes deduped of good/"
for i in 1 2 3 4; do
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/good/f$i" 0 \
		"$MNT/good/g$i" 0 $((1024 * 1024)))" 256 "blocks of good/g$i shared with good/f$i"
done
for ((i = 1; i <= SRC; i++)); do
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/src/s$i" 0 \
		"$MNT/src/c$i" 0 $((512 * 1024)))" 0 "blocks of src/c$i shared with the damaged src/s$i"
done
check_manifest_readable() {
	local now=$TESTDIR/now
	(cd "$MNT" && find . -type f ! -path './bad/f*' ! -path './src/s*' -print0 |
		sort -z | xargs -0 sha256sum --) >"$now"
	diff -u "$TESTDIR/before" "$now" >&3 || _fail "readable files changed ($1)"
	for f in "$MNT"/bad/f* "$MNT"/src/s*; do
		python3 "$IT_DIR/fiemap.py" extents "$f" 2>/dev/null |
			cmp -s - "$TESTDIR/maps/$(basename "$f").map.before" ||
			_fail "the blocks of the damaged $f moved ($1)"
	done
	log "readable files intact, damaged ones where they were ($1)"
}
check_manifest_readable "scan"

# --- the daemon: its catch-up reads the same tree, and it keeps going -------
watch_start --read-all "$MNT"
watch_wait_idle 120
n=$(grep -c "cannot read '$MNT/bad/f[0-9]*' at offset 8192" "$WATCH_LOG" || true)
check_eq "$n" "$BAD" "lines of the daemon saying where a file could not be read"
mkdir "$MNT/new"
for i in 1 2; do
	rand_file "$MNT/new/f$i" 1024
	copy_plain "$MNT/new/f$i" "$MNT/new/g$i"
done
watch_wait_idle 120
for i in 1 2; do
	check_eq "$(python3 "$IT_DIR/fiemap.py" same "$MNT/new/f$i" 0 \
		"$MNT/new/g$i" 0 $((1024 * 1024)))" 256 "blocks of new/g$i shared by the daemon"
done
(cd "$MNT" && find . -type f ! -path './bad/f*' ! -path './src/s*' -print0 |
	sort -z | xargs -0 sha256sum --) >"$TESTDIR/before"
watch_stop
check_manifest_readable "daemon"

# --- keyed by csums: the compare meets the bad blocks -------------------------
DB=$TESTDIR/index.csums
scan "$MNT"
check_eq "$(json_get files_unreadable)" 0 "csums: files_unreadable"
n=$(grep -c "cannot compare '$MNT/\(bad/g\|bad/f\|src/c\|src/s\)[0-9]*' .*Input/output error, skipping" \
	"$REPORT.err" || true)
check_eq "$n" $((BAD + SRC)) "csums: lines saying a compare read a bad block"
check_ge "$(json_get errors)" $((BAD + SRC)) "csums: errors"
check_manifest_readable "scan by csums"
