# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the container-store tests (050, 051), sourced after lib.sh:
# a private podman (containers/storage) store on the test's filesystem,
# root filesystem tarballs that share a base, made from this machine's own
# files (no network), manifests of images through `podman image mount`,
# and a probe of whether the OCI runtime can run a container here.
#
# podman is Debian's (4.3 in bookworm). Each store is private: its graph
# root on $MNT, its own run root, libpod tmpdir and TMPDIR,
# empty containers.conf and storage.conf (the host's configuration does not
# leak in: a storage.conf of its own), no event log, no network; its run
# root is a short directory under /tmp (podman wants at most 50 characters).

# podman_setup: skip unless podman is installed; the empty containers.conf
# every store uses.
podman_setup() {
	require_cmd podman tar
	podman --version >/dev/null 2>&1 3>&- || skip "podman does not start"
	PM_CONF=$TESTDIR/containers.conf
	: >"$PM_CONF"
	log "$(podman --version)"
}

PM_GRAPH=
PM_RUN=
PM_DRIVER=
_npm=0

# podman_store DRIVER [GRAPHROOT]: a fresh store with DRIVER (vfs or
# overlay), its graph root GRAPHROOT (default $MNT/containers/storage, as
# /var/lib/containers/storage is on a host). Torn down at exit (or by
# podman_store_teardown) before the filesystem is unmounted.
podman_store() {
	_npm=$((_npm + 1))
	PM_DRIVER=$1
	PM_GRAPH=${2:-$MNT/containers/storage}
	# (the run root's path must be short: conmon's sockets live there)
	PM_RUN=$(mktemp -d /tmp/dedupd-pm.XXXXXX)
	PM_SCONF=$PM_RUN/storage.conf
	mkdir -p "$PM_GRAPH" "$PM_RUN/tmp"
	printf '[storage]\ndriver = "%s"\nrunroot = "%s"\ngraphroot = "%s"\n' \
		"$PM_DRIVER" "$PM_RUN" "$PM_GRAPH" >"$PM_SCONF"
	on_exit "PM_GRAPH='$PM_GRAPH' PM_RUN='$PM_RUN' PM_DRIVER='$PM_DRIVER' PM_SCONF='$PM_SCONF' podman_store_teardown quiet"
	log "podman store: driver $PM_DRIVER, graph root $PM_GRAPH"
}

# pm ARGS...: podman on the current store (killed after $PM_TIMEOUT s if
# that is set).
pm() {
	local t=()
	[ -z "${PM_TIMEOUT:-}" ] || t=(timeout -k 10 "$PM_TIMEOUT")
	"${t[@]}" env CONTAINERS_CONF="$PM_CONF" CONTAINERS_STORAGE_CONF="$PM_SCONF" \
		TMPDIR="$PM_RUN/tmp" \
		podman --root "$PM_GRAPH" --runroot "$PM_RUN" \
		--tmpdir "$PM_RUN/libpod" --storage-driver "$PM_DRIVER" \
		--events-backend none --cgroup-manager cgroupfs "$@" 3>&-
}

# podman_store_teardown [quiet]: no container, no mounted image, nothing
# of podman's left mounted under the graph root, the run root removed (the
# filesystem can then be unmounted). Safe to call twice. Not `podman system
# reset`: it also removes the host's networks (/etc/containers/networks).
podman_store_teardown() {
	local m
	[ -n "$PM_GRAPH" ] && [ -d "$PM_RUN" ] || return 0
	PM_TIMEOUT=60 pm rm -af -t 0 >/dev/null 2>&1 || true
	PM_TIMEOUT=60 pm unmount -a >/dev/null 2>&1 || true
	PM_TIMEOUT=60 pm image unmount -a >/dev/null 2>&1 || true
	for m in $(awk -v g="$PM_GRAPH/" 'index($2, g) == 1 { print $2 }' \
		/proc/mounts | sort -r); do
		echo "cleanup: unmounting $m, left by podman" >&3
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	rm -rf "$PM_RUN"
	[ "${1:-}" = quiet ] || log "podman store $PM_GRAPH torn down"
}

# pm_import TARBALL NAME: `podman import`, must succeed.
pm_import() {
	local out
	out=$(pm import "$1" "$2" 2>&1) ||
		_fail "podman import $1 $2 failed: $(tail -n 5 <<<"$out")"
	log "imported $2 from $(basename "$1") ($(du -m "$1" | cut -f1) MiB)"
}

# image_manifest NAME OUT: sha256 of every regular file of image NAME, as
# `podman image mount` shows it (the merged overlay, or the vfs directory),
# into OUT; the image is unmounted again.
image_manifest() {
	local dir
	dir=$(pm image mount "$1" 2>"$TESTDIR/mount.err") ||
		_fail "podman image mount $1 failed: $(cat "$TESTDIR/mount.err")"
	[ -d "$dir" ] || _fail "podman image mount $1 gave '$dir', not a directory"
	manifest "$dir" >"$2"
	pm image unmount "$1" >/dev/null 2>&1 ||
		_fail "podman image unmount $1 failed"
	[ -s "$2" ] || _fail "image $1 has no file"
}

# check_image NAME BEFORE: every file of image NAME has the sha256 it had
# (same set of files).
check_image() {
	local now=$TESTDIR/image-${1//[:\/]/_}.now
	image_manifest "$1" "$now"
	if ! diff -u "$2" "$now" >"$now.diff"; then
		head -n 40 "$now.diff" >&3
		_fail "files of image $1 changed"
	fi
	log "image $1 intact ($(wc -l <"$now") files, sha256 of each unchanged)"
}

# pm_system_df LABEL: log what podman users see (`podman system df`).
pm_system_df() {
	log "podman system df ($1):"
	pm system df 2>&1 | sed 's/^/   /' >&3
}

# pm_images_size: the "Images" size `podman system df` reports, in bytes.
pm_images_size() {
	pm system df --format '{{json .}}' | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    if d.get("Type") == "Images":
        print(d["Size"])' || _fail "podman system df failed"
}

# ---- can a container run here? ----------------------------------------------

PM_RUN_GLOBAL=	# global podman options for `podman run` (the runtime)
PM_RUN_OPTS=	# and options of `podman run`

# podman_probe_runtime IMAGE: find options with which `podman run` runs
# /usr/bin/true in IMAGE, in this order: none; lower rlimits (a sandbox may
# refuse podman's defaults); the same with runc (crun refuses a cgroup v1 +
# v2 hybrid hierarchy). Sets PM_RUN_GLOBAL and PM_RUN_OPTS and returns 0,
# or logs why not and returns 1: the OCI runtime does not work on this
# machine. Call it before deduping anything, so that a run that fails
# afterwards is the image's fault, never the machine's.
podman_probe_runtime() {
	local img=$1 t g o out rc
	local lim="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
	local tries=("|" "|$lim")
	command -v runc >/dev/null 2>&1 && tries+=("--runtime runc|$lim")
	for t in "${tries[@]}"; do
		g=${t%%|*} o=${t#*|} rc=0
		# shellcheck disable=SC2086 # words on purpose
		out=$(PM_TIMEOUT=120 pm $g run --rm --network none $o "$img" \
			/usr/bin/true 2>&1) || rc=$?
		if [ "$rc" = 0 ]; then
			PM_RUN_GLOBAL=$g PM_RUN_OPTS=$o
			log "podman run works here${o:+ with: ${g:+$g }$o}"
			return 0
		fi
		log "podman run ${g:+$g }${o:+$o }fails here (exit $rc): $(tail -n 1 <<<"$out")"
	done
	return 1
}

# pm_run IMAGE CMD...: `podman run --rm` with the options the probe found.
pm_run() {
	local img=$1
	shift
	# shellcheck disable=SC2086
	PM_TIMEOUT=120 pm $PM_RUN_GLOBAL run --rm --network none $PM_RUN_OPTS \
		"$img" "$@"
}

# ---- root filesystems that share a base -----------------------------------------

# _pick SRCDIR BUDGET_KIB MIN_KIB [FIND-ARGS...]: relative paths of regular
# files under SRCDIR, at least MIN_KIB each, in name order, until BUDGET_KIB
# is used up.
_pick() {
	local src=$1 budget=$2 min=$3
	shift 3
	(cd "$src" && find . -xdev -type f -size +"$min"k "$@" -printf '%k %P\n' |
		sort -k2 | awk -v b="$budget" '$1 <= b { b -= $1; print $2 }')
}

# _copy_files SRCDIR DSTDIR: the relative paths on stdin, physically copied
# with their attributes and parent directories.
_copy_files() {
	mkdir -p "$2"
	(cd "$1" && tr '\n' '\0' | xargs -0 -r cp -a --reflink=never --parents -t "$2")
}

# make_rootfs_set DIR [SCALE]: three root filesystems that share a base, as
# image layers of a distribution do, made from this machine's files, and
# their tarballs DIR/{base,app,build}.tar:
#   base   a usr-merged tree that runs (ld.so, libc, dash, ls, true), then
#          12*SCALE MiB of /usr/bin, 16*SCALE MiB of shared libraries,
#          300*SCALE small text files, symlinks, a hard link, an empty file
#   app    base + 16*SCALE MiB of python's library; /etc/os-release changed,
#          one library patched every 64 KiB (a partial duplicate), a file
#          removed
#   build  base + the first 8*SCALE MiB of app's python files + 24*SCALE
#          MiB of gcc's files + a library with 1 MiB of new data appended
# Sizes are budgets: a machine with less in those directories gives less.
# DIR/*.manifest hold sha256 of every file of each tree.
make_rootfs_set() {
	local out=$1 s=${2:-1} b=$1/base lib py f interp
	# the multiarch library directory and the dynamic loader, wherever
	# this machine has them (usr-merged: /lib* are links into /usr)
	lib=$(ldd /usr/bin/ls | awk '$1 ~ /^libc\.so/ { print $3 }')
	lib=$(dirname "$(readlink -f "$lib")")
	interp=$(ldd /usr/bin/ls | awk '$1 ~ /^\/.*ld-linux/ { print $1 }')
	[ -d "$lib" ] && [ -e "$interp" ] || _fail "make_rootfs_set: no libc or loader found by ldd"
	interp=/usr${interp#/usr}
	rm -rf "$out"
	mkdir -p "$b/usr/bin" "$b/usr/lib64" "$b$lib" "$b/etc" "$b/tmp" \
		"$b/proc" "$b/sys" "$b/dev" "$b/run" "$b/var/empty" "$b/root" \
		"$b$(dirname "$interp")"
	ln -s usr/bin "$b/bin"
	ln -s usr/lib "$b/lib"
	ln -s usr/lib64 "$b/lib64"
	cp -L --reflink=never "${interp#/usr}" "$b$interp"
	for f in $(ldd /usr/bin/ls /usr/bin/dash | awk '$3 ~ /^\// { print $3 }' | sort -u); do
		cp -L --reflink=never "$f" "$b$lib/"
	done
	cp --reflink=never /usr/bin/true /usr/bin/ls /usr/bin/dash "$b/usr/bin/"
	ln -sf dash "$b/usr/bin/sh"
	_pick /usr/bin $((12 * 1024 * s)) 16 | _copy_files /usr/bin "$b/usr/bin"
	_pick $lib $((16 * 1024 * s)) 16 -name '*.so*' | _copy_files $lib "$b$lib"
	mkdir -p "$b/usr/share/doc"
	find /usr/share/doc -maxdepth 2 -type f -name copyright -size -16k \
		-printf '%P\n' | sort | awk -v n=$((300 * s)) 'NR <= n' |
		_copy_files /usr/share/doc "$b/usr/share/doc"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$b/etc/passwd"
	printf 'root:x:0:\n' >"$b/etc/group"
	printf 'PRETTY_NAME="dedupd test base"\nID=dedupd-base\n' >"$b/etc/os-release"
	: >"$b/etc/empty"
	ln "$b/etc/passwd" "$b/etc/passwd.hardlink"
	ln -s ../usr/bin/dash "$b/etc/symlink-to-dash"
	chmod 0600 "$b/etc/passwd"

	# app: base + python
	cp -a --reflink=never "$b" "$out/app"
	py=$(ls -d /usr/lib/python3.* 2>/dev/null | sort | tail -n 1)
	if [ -n "$py" ]; then
		_pick "$py" $((16 * 1024 * s)) 0 | _copy_files "$py" "$out/app$py"
	fi
	printf 'PRETTY_NAME="dedupd test app"\nID=dedupd-app\n' >"$out/app/etc/os-release"
	f=$(cd "$out/app" && find ".$lib" -type f -size +512k | sort | sed -n 1p)
	[ -z "$f" ] || python3 - "$out/app/$f" <<'EOF'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
for off in range(0, len(data), 65536):
    data[off] ^= 0x5a
open(path, "wb").write(data)
EOF
	rm -f "$out/app/etc/empty"

	# build: base + half of app's python + gcc
	cp -a --reflink=never "$b" "$out/build"
	if [ -n "$py" ]; then
		_pick "$py" $((8 * 1024 * s)) 0 | _copy_files "$py" "$out/build$py"
	fi
	for f in /usr/lib/gcc /usr/libexec/gcc /usr/share/perl /usr/share/perl5; do
		[ -d "$f" ] || continue
		_pick "$f" $((24 * 1024 * s)) 4 | _copy_files "$f" "$out/build$f"
		break
	done
	f=$(cd "$out/build" && find ".$lib" -type f -size +256k | sort | tail -n 1)
	[ -z "$f" ] || head -c $MiB /dev/urandom >>"$out/build/$f"
	printf 'PRETTY_NAME="dedupd test build"\nID=dedupd-build\n' >"$out/build/etc/os-release"

	for f in base app build; do
		tar -C "$out/$f" --numeric-owner -cf "$out/$f.tar" .
		manifest "$out/$f" >"$out/$f.manifest"
		log "rootfs $f: $(wc -l <"$out/$f.manifest") files, $(du -sm "$out/$f" | cut -f1) MiB"
	done
}

# dup_limit DIR [INLINE [physical]]: what block-level dedupe can reclaim in
# DIR at best (the algorithm of ../shared/bench/dup-limit.py: bytes in 4 KiB
# blocks, or tails of files larger than INLINE bytes, whose content appeared
# before; all-zero blocks aside). INLINE: 2048 on btrfs (smaller files live
# in its metadata), 0 on XFS. "physical": a block at a disk address seen
# before (a reflinked copy, a hard link, data already deduped) is shared
# already and counts neither way, so that the limit is what is left to free.
dup_limit() {
	python3 - "$1" "${2:-2048}" "${3:-}" "$IT_DIR" <<'EOF'
import hashlib, os, sys
top, inline, mode, itdir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.path.insert(0, itdir)
import fiemap
bs = 4096
seen, places, dup, zero = set(), set(), 0, bytes(bs)
# FIEMAP_EXTENT_UNKNOWN | DATA_ENCODED | NOT_ALIGNED | DATA_INLINE
ODD = 0x2 | 0x8 | 0x100 | 0x200

def phys_map(path):
    m = {}
    for lo, ph, ln, fl in fiemap.extents(path):
        if fl & ODD:
            continue
        for off in range(lo - lo % bs, lo + ln, bs):
            if off >= lo:
                m[off // bs] = ph + off - lo
    return m

for root, _, files in os.walk(top):
    for f in files:
        p = os.path.join(root, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        size = os.path.getsize(p)
        pm = phys_map(p) if mode == "physical" else {}
        with open(p, "rb") as fh:
            n = -1
            while True:
                b = fh.read(bs)
                if not b:
                    break
                n += 1
                where = pm.get(n)
                if where is not None:
                    if where in places:
                        continue
                    places.add(where)
                if len(b) < bs:
                    if size > inline:
                        h = hashlib.blake2b(b, digest_size=16).digest() + b"T"
                        dup += bs if h in seen else 0
                        seen.add(h)
                    continue
                if b == zero:
                    continue
                h = hashlib.blake2b(b, digest_size=16).digest()
                dup += bs if h in seen else 0
                seen.add(h)
print(dup)
EOF
}

# ---- the test body of 050 (vfs) and 051 (overlay) ---------------------------------

# _podman_modes FS: how the store on FS is deduped: "scan" (`dedupd scan`
# over the graph root after the imports), "daemon" (`dedupd watch` running
# while the images are imported), or both ($PODMAN_MODES). By default each
# driver has one of each, on different filesystems, and the overlay driver
# on XFS both: there the daemon's start-up catch-up walks the store while
# podman bind-mounts its overlay directory onto itself (test 053).
_podman_modes() {
	if [ -n "${PODMAN_MODES:-}" ]; then
		echo "$PODMAN_MODES"
		return
	fi
	case $PM_DRIVER:$1 in
	overlay:xfs) echo scan daemon ;;
	vfs:btrfs) echo scan ;;
	*) echo daemon ;;
	esac
}

# podman_store_test DRIVER: the whole test, for one storage driver, on
# every filesystem of $DEDUPE_FS.
podman_store_test() {
	local driver=$1 fs mode img inline limit u0 u1 u2 freed ref left
	local size0 size1 t_end runs images=(base app build)
	setup
	podman_setup
	make_rootfs_set "$TESTDIR/rootfs"
	for fs in $DEDUPE_FS; do
		PM_DRIVER=$driver
		for mode in $(_podman_modes "$fs"); do
			log "==== $driver store on $fs, deduped by $mode"
			setup_fs "$fs" 2G
			inline=2048
			[ "$fs" = btrfs ] || inline=0
			podman_store "$driver"
			u0=$(used_bytes)

			# base first: the runtime is probed on an image that
			# nothing has deduped yet
			pm_import "$TESTDIR/rootfs/base.tar" base
			runs=yes
			podman_probe_runtime base || {
				runs=no
				log "SKIP STEP: podman run: the OCI runtime does not work on this machine (see above); every other check still runs"
			}
			if [ "$mode" = daemon ]; then
				# the base was there before: the start-up catch-up
				watch_start --include "$PM_GRAPH/*" "$MNT"
			fi
			pm_import "$TESTDIR/rootfs/app.tar" app
			pm_import "$TESTDIR/rootfs/build.tar" build
			t_end=$(date +%s.%N)
			if [ "$mode" = daemon ]; then
				watch_wait_idle 180
				log "$fs/$driver: daemon idle $(awk -v a="$(date +%s.%N)" \
					-v b="$t_end" 'BEGIN { printf "%.1f", a - b }') s after the last import ended"
			fi
			# Each image holds exactly the files of its tarball (in
			# daemon mode, already deduped: the tarball's tree is the
			# "before").
			for img in "${images[@]}"; do
				check_image "$img" "$TESTDIR/rootfs/$img.manifest"
			done
			pm_system_df "$fs/$driver, $mode: before"
			size0=$(pm_images_size)
			pm image unmount -a >/dev/null
			u1=$(used_bytes)
			limit=$(dup_limit "$PM_GRAPH" "$inline")
			log "$fs/$driver: graph root limit (dup-limit) $((limit / MiB)) MiB; store $(du -sm "$PM_GRAPH" | cut -f1) MiB allocated by du"
			check_ge "$limit" $((40 * MiB)) "$fs/$driver: duplicate data in the store (precondition)"

			if [ "$mode" = scan ]; then
				scan "$PM_GRAPH"
				u2=$(used_bytes)
				freed=$((u1 - u2))
				log "$fs/$driver: scan freed $((freed / MiB)) MiB = $((freed * 100 / limit)) % of the limit (bytes_freed $(json_get bytes_freed))"
				check_ge "$freed" $((limit * 90 / 100)) "$fs/$driver: bytes freed by dedupd scan (90 % of the limit)"
				# unchanged store: a second pass reads nothing
				scan "$PM_GRAPH"
				check_eq "$(json_get bytes_hashed)" 0 "$fs/$driver: bytes hashed by a second scan"
			else
				left=$(dup_left "$PM_GRAPH")
				check_le "$left" $((limit * 5 / 100)) "$fs/$driver: duplicate bytes the daemon left (a fresh dry-run scan)"
				log "$fs/$driver: daemon: bytes_deduped $(watch_status_get bytes_deduped), bytes_freed $(watch_status_get bytes_freed)"
			fi

			for img in "${images[@]}"; do
				check_image "$img" "$TESTDIR/rootfs/$img.manifest"
			done
			pm_system_df "$fs/$driver, $mode: after"
			size1=$(pm_images_size)
			check_eq "$size1" "$size0" "$fs/$driver: image size podman reports (unchanged by dedupe)"
			if [ "$runs" = yes ]; then
				for img in "${images[@]}"; do
					pm_run "$img" /usr/bin/true >/dev/null 2>"$TESTDIR/run.err" ||
						_fail "podman run $img /usr/bin/true failed after dedupe: $(tail -n 3 "$TESTDIR/run.err")"
					pm_run "$img" /usr/bin/ls /usr/bin >"$TESTDIR/ls.$img" 2>"$TESTDIR/run.err" ||
						_fail "podman run $img ls failed after dedupe: $(tail -n 3 "$TESTDIR/run.err")"
					(cd "$TESTDIR/rootfs/$img/usr/bin" && ls) | cmp -s - "$TESTDIR/ls.$img" ||
						_fail "ls /usr/bin in a container of $img lists other files"
				done
				log "$fs/$driver: podman run (true, ls) works in every image after dedupe"
			fi

			if [ "$mode" = daemon ]; then
				watch_stop
				rm -rf "$WATCH_STATE"
				# The same imports into a second store, without a
				# daemon: what the store would use undeduped.
				u1=$(used_bytes)
				podman_store_teardown
				podman_store "$driver" "$MNT/ref-storage"
				for img in "${images[@]}"; do
					pm_import "$TESTDIR/rootfs/$img.tar" "$img"
				done
				u2=$(used_bytes)
				ref=$((u2 - u1))
				freed=$((ref - (u1 - u0)))
				log "$fs/$driver: the store uses $(((u1 - u0) / MiB)) MiB deduped by the daemon, $((ref / MiB)) MiB without: $((freed / MiB)) MiB freed = $((freed * 100 / limit)) % of the limit"
				check_ge "$freed" $((limit * 85 / 100)) "$fs/$driver: bytes the daemon freed (85 % of the limit)"
			fi
			podman_store_teardown
			teardown_fs
		done
	done
}
