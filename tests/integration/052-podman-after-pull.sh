#!/bin/bash
# contrib/containers/dedupd-after-pull on a real podman store: overlay on
# btrfs, vfs on XFS, with an image built in layers (`podman build`, COPY
# only) on top of an imported base, and another imported image. With the
# daemon running (its settle delay so long that it does nothing on its
# own), the hook, given the images' names, has the daemon dedupe their
# layers at once: it returns with at least 85 % of the store's duplicate
# data freed. Without a daemon, `--store` dedupes a newly imported image
# against the rest on the hook's own index. Every file of every image keeps
# its sha256; where the runtime works, `podman run` still does.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/podman-lib.sh"
setup
podman_setup
HOOK=$TOP/contrib/containers/dedupd-after-pull
[ -x "$HOOK" ] || _fail "$HOOK is not executable"
make_rootfs_set "$TESTDIR/rootfs"
py=$(cd "$TESTDIR/rootfs/app" && ls -d usr/lib/python3.* 2>/dev/null | sed -n 1p)
[ -n "$py" ] || skip "no python library on this machine to build layers from"

# hook ARGS...: the hook on the current store, report in $REPORT.
hook() {
	local rc=0
	_new_report
	log "run: dedupd-after-pull $*"
	env CONTAINERS_CONF="$PM_CONF" CONTAINERS_STORAGE_CONF="$PM_SCONF" \
		TMPDIR="$PM_RUN/tmp" DEDUPD="$DEDUPD" \
		PODMAN="podman --root $PM_GRAPH --runroot $PM_RUN --tmpdir $PM_RUN/libpod --storage-driver $PM_DRIVER --events-backend none" \
		DEDUPD_OPTS="--json ${HOOK_OPTS:-}" DEDUPD_SOCKET="${WATCH_SOCK:-$TESTDIR/no-daemon}" \
		"$HOOK" "$@" >"$REPORT" 2>"$REPORT.err" 3>&- || rc=$?
	sed 's/^/   stdout: /' "$REPORT" >&3
	sed 's/^/   stderr: /' "$REPORT.err" >&3
	[ "$rc" = 0 ] || _fail "dedupd-after-pull exit $rc"
}

# served_by: "daemon" or "local", from the report of `dedupd ctl dedupe`
# (served_by) or of `dedupd scan` (index_result), whichever the hook used.
served_by() {
	python3 - "$REPORT" <<'PY' || _fail "the hook's report is not JSON"
import json, sys
d = json.load(open(sys.argv[1]))
if "served_by" in d:
    print(d["served_by"])
else:
    print("daemon" if d.get("index_result") == "daemon" else "local")
PY
}

for fs in $DEDUPE_FS; do
	driver=overlay
	[ "$fs" = btrfs ] || driver=vfs
	log "==== $driver store on $fs"
	setup_fs "$fs" 2G
	inline=2048
	[ "$fs" = btrfs ] || inline=0
	podman_store "$driver"
	# the daemon first, on the empty store: it must do nothing by itself
	watch_start --settle 600 --include "$PM_GRAPH/*" "$MNT"
	u0=$(used_bytes)
	pm_import "$TESTDIR/rootfs/base.tar" base
	runs=yes
	podman_probe_runtime base || {
		runs=no
		log "SKIP STEP: podman run: the OCI runtime does not work on this machine (see above)"
	}
	ctx=$TESTDIR/ctx
	rm -rf "$ctx"
	mkdir -p "$ctx"
	cp -a --reflink=never "$TESTDIR/rootfs/app/$py" "$ctx/py"
	printf 'FROM localhost/base:latest\nCOPY py /%s/\nCOPY py /opt/py-copy/\n' \
		"$py" >"$ctx/Containerfile"
	pm build -q -t layered "$ctx" >"$TESTDIR/build.log" 2>&1 ||
		_fail "podman build failed: $(tail -n 5 "$TESTDIR/build.log")"
	check_ge "$(pm image inspect --format '{{len .RootFS.Layers}}' layered)" 3 \
		"$fs/$driver: layers of the built image"
	pm_import "$TESTDIR/rootfs/app.tar" app
	for img in base layered app; do
		image_manifest "$img" "$TESTDIR/$img.before"
	done
	cmp -s "$TESTDIR/base.before" "$TESTDIR/rootfs/base.manifest" ||
		_fail "image base does not hold the files of its tarball"
	check_eq "$(watch_status_get bytes_deduped)" 0 "$fs/$driver: bytes the daemon deduped by itself (settle 600 s)"
	u1=$(used_bytes)
	limit=$(dup_limit "$PM_GRAPH" "$inline" physical)
	check_ge "$limit" $((40 * MiB)) "$fs/$driver: duplicate data in the store (precondition)"

	t0=$SECONDS
	hook layered app
	log "$fs/$driver: the hook returned after $((SECONDS - t0)) s"
	check_str "$(served_by)" daemon "$fs/$driver: served by"
	u2=$(used_bytes)
	log "$fs/$driver: freed $(((u1 - u2) / MiB)) MiB, limit $((limit / MiB)) MiB; the daemon deduped $(($(watch_status_get bytes_deduped) / MiB)) MiB"
	check_ge $((u1 - u2)) $((limit * 85 / 100)) "$fs/$driver: bytes freed when the hook returns (85 % of the limit)"
	for img in base layered app; do
		check_image "$img" "$TESTDIR/$img.before"
	done
	watch_stop
	rm -rf "$WATCH_STATE"

	# No daemon: a new image, then --store on the hook's own index.
	WATCH_SOCK=
	pm_import "$TESTDIR/rootfs/build.tar" build
	image_manifest build "$TESTDIR/build.before"
	u1=$(used_bytes)
	rm -f "$DB"
	HOOK_OPTS="--db $DB" hook --store
	check_str "$(served_by)" local "$fs/$driver: served by (no daemon)"
	u2=$(used_bytes)
	# build shares the base with every other image: at least its size
	check_ge $((u1 - u2)) $((30 * MiB)) "$fs/$driver: bytes freed by --store after a new image"
	for img in base layered app build; do
		check_image "$img" "$TESTDIR/$img.before"
	done
	if [ "$runs" = yes ]; then
		for img in base layered app build; do
			pm_run "$img" /usr/bin/true 2>"$TESTDIR/run.err" ||
				_fail "podman run $img true failed after dedupe: $(tail -n 3 "$TESTDIR/run.err")"
		done
		pm_run layered /usr/bin/ls "/opt/py-copy" >"$TESTDIR/ls.out" 2>"$TESTDIR/run.err" ||
			_fail "podman run layered ls failed after dedupe: $(tail -n 3 "$TESTDIR/run.err")"
		(cd "$ctx/py" && ls) | cmp -s - "$TESTDIR/ls.out" ||
			_fail "ls /opt/py-copy in a container of layered lists other files"
		log "$fs/$driver: podman run works in every image after dedupe"
	fi
	pm_system_df "$fs/$driver: after the hook"
	podman_store_teardown
	teardown_fs
	WATCH_SOCK=
done
