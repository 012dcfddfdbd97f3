#!/bin/bash
# make check-deb: the Debian packages, from a clean clone of this tree's
# HEAD, as an operator gets them. `dpkg-buildpackage -us -uc -b` builds
# dedupd, libdedupd0 and libdedupd-dev; lintian finds no error; they
# install; the installed binary says its version and the clone's commit,
# and dedupes on btrfs; /etc/dedupd.conf is a conffile; the units are where
# Debian wants them, ExecStart at /usr/sbin/dedupd, pass `systemd-analyze
# verify`, and are not enabled (nothing to watch yet); the libdedupd example
# (lib-dedupe.c) builds with `pkg-config dedupd` against the installed -dev
# package, shared and static, and dedupes; purging leaves nothing. A build
# from a tarball (no .git) says the version alone. The packages are purged
# at the end, whatever happens. Not in `make check` (it installs packages
# on the machine): .ci/run runs it after.
. "$(dirname "$0")/lib.sh"
setup --no-dedupd
require_cmd git dpkg-buildpackage dh lintian cc pkg-config systemd-analyze
PKGS=(dedupd libdedupd0 libdedupd-dev)
[ -e "$TOP/.git" ] || skip "not a git work tree: nothing to clone"
for p in "${PKGS[@]}"; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$'; then
		skip "$p is installed already; this test installs and purges it"
	fi
done

purge() {
	dpkg --purge "${PKGS[@]}" >"$TESTDIR/purge.log" 2>&1 ||
		cat "$TESTDIR/purge.log" >&3
}
on_exit purge

SRC=$TESTDIR/build/src
mkdir -p "$TESTDIR/build"
run_check git clone -q "$TOP" "$SRC"
head=$(git -C "$SRC" rev-parse --short=12 HEAD)
log "building the packages of $head (log: dpkg-buildpackage.log)"
(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$TESTDIR/dpkg-buildpackage.log" 2>&1 3>&- || {
	tail -n 30 "$TESTDIR/dpkg-buildpackage.log" >&3
	_fail "dpkg-buildpackage -us -uc -b failed"
}
ver=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
debs=()
for p in "${PKGS[@]}"; do
	f=$TESTDIR/build/${p}_${ver}_$(dpkg --print-architecture).deb
	[ -f "$f" ] || _fail "not built: $(basename "$f")"
	debs+=("$f")
done
log "built: $(cd "$TESTDIR/build" && ls ./*.deb | tr '\n' ' ')"

# lintian: no error (its other tags are shown)
changes=$TESTDIR/build/dedupd_${ver}_$(dpkg --print-architecture).changes
rc=0
lintian --fail-on error "$changes" >"$TESTDIR/lintian.log" 2>&1 3>&- || rc=$?
sed -e '/running with root privileges/d' -e 's/^/   lintian: /' "$TESTDIR/lintian.log" >&3
errors=$(grep -c '^E: ' "$TESTDIR/lintian.log" || true)
log "lintian: $errors errors, exit $rc"
check_eq "$errors" 0 "lintian errors"
check_eq "$rc" 0 "lintian's exit status"

log "installing: dpkg -i ${debs[*]##*/}"
dpkg -i "${debs[@]}" >"$TESTDIR/dpkg-i.log" 2>&1 3>&- || {
	cat "$TESTDIR/dpkg-i.log" >&3
	_fail "dpkg -i failed"
}
check_str "$(/usr/sbin/dedupd --version)" "dedupd $ver (commit $head)" \
	"the installed dedupd --version"
[ "$(dpkg-query -W -f='${Conffiles}' dedupd | awk '{ print $1 }')" = /etc/dedupd.conf ] ||
	_fail "conffiles of dedupd: $(dpkg-query -W -f='${Conffiles}' dedupd)"
[ -f /usr/share/man/man8/dedupd.8.gz ] || _fail "no man page"
[ -f /usr/share/bash-completion/completions/dedupd ] || _fail "no bash completion"
[ -f /usr/share/zsh/vendor-completions/_dedupd ] || _fail "no zsh completion"

# The units: where bookworm wants them, pointing at /usr/sbin, valid, and
# not enabled: the daemon waits for a mount in /etc/dedupd.conf.
UNITS=(dedupd.service dedupd@.service dedupd-metrics.service dedupd-metrics.timer)
for u in "${UNITS[@]}"; do
	[ -f "/lib/systemd/system/$u" ] || _fail "not installed: /lib/systemd/system/$u"
done
grep -qx 'ExecStart=/usr/sbin/dedupd watch' /lib/systemd/system/dedupd.service ||
	_fail "dedupd.service does not start /usr/sbin/dedupd"
grep -q '/usr/local' /lib/systemd/system/dedupd*.* &&
	_fail "an installed unit names /usr/local: $(grep -l /usr/local /lib/systemd/system/dedupd*.*)"
out=$(cd /lib/systemd/system && systemd-analyze verify --man=no \
	dedupd.service dedupd@srv-data.service dedupd-metrics.service \
	dedupd-metrics.timer 2>&1) || _fail "systemd-analyze verify: $out"
[ -z "$out" ] || _fail "systemd-analyze verify: $out"
log "systemd-analyze verify: the ${#UNITS[@]} installed units pass"
for u in dedupd.service dedupd-metrics.timer; do
	st=$(systemctl is-enabled "$u" 2>&1 || true)
	check_str "$st" disabled "systemctl is-enabled $u after the install"
done
grep -Eq '^[[:space:]]*mount[[:space:]]*=' /etc/dedupd.conf &&
	_fail "the shipped /etc/dedupd.conf names a mount"

# The installed binary and the example program against the installed -dev.
flags=$(pkg-config --cflags --libs dedupd)
log "pkg-config --cflags --libs dedupd: $flags"
check_str "$(pkg-config --modversion dedupd)" "$ver" "pkg-config --modversion dedupd"
run_check cc -std=gnu11 -Wall -Werror -o "$TESTDIR/prog" \
	"$IT_DIR/lib-dedupe.c" $flags
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
# (/lib or /usr/lib: the same directory, merged /usr)
grep -q " => \(/usr\)\?/lib/$MA/libdedupd.so.0 " <<<"$(ldd "$TESTDIR/prog")" ||
	_fail "the program does not use the installed libdedupd.so.0: $(ldd "$TESTDIR/prog")"
static=$(pkg-config --static --libs dedupd)
run_check cc -std=gnu11 -Wall -Werror -o "$TESTDIR/prog-static" \
	"$IT_DIR/lib-dedupe.c" $(pkg-config --cflags dedupd) \
	${static/-ldedupd//usr/lib/$MA/libdedupd.a}
setup_fs btrfs 512M
rand_file "$TESTDIR/A" 1024
for f in a1 a2 a3 b1 b2; do copy_plain "$TESTDIR/A" "$MNT/$f"; done
manifest >"$TESTDIR/before"
run_check "$TESTDIR/prog" --no-daemon --index "$DB" "$MNT/a1" "$MNT/a2" >"$TESTDIR/out"
grep -q '"bytes_deduped":1048576,' "$TESTDIR/out" || _fail "libdedupd.so: $(cat "$TESTDIR/out")"
run_check "$TESTDIR/prog-static" --no-daemon --index "$DB" "$MNT/a3" >"$TESTDIR/out"
grep -q '"bytes_deduped":1048576,' "$TESTDIR/out" || _fail "libdedupd.a: $(cat "$TESTDIR/out")"
run_check /usr/sbin/dedupd scan --json --db "$TESTDIR/index2" "$MNT" >"$TESTDIR/scan.json"
check_eq "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_deduped"])' \
	<"$TESTDIR/scan.json")" $((2 * MiB)) "bytes deduped by the installed dedupd scan"
check_eq "$(shared_bytes "$MNT/b2")" $((1024 * KiB)) "shared bytes of b2"
check_manifest "$TESTDIR/before"

# Purged, nothing is left of it.
log "purging: dpkg --purge ${PKGS[*]}"
dpkg --purge "${PKGS[@]}" >"$TESTDIR/purge.log" 2>&1 3>&- ||
	_fail "dpkg --purge: $(cat "$TESTDIR/purge.log")"
for f in /usr/sbin/dedupd /etc/dedupd.conf /lib/systemd/system/dedupd.service \
	/usr/include/dedupd.h; do
	[ ! -e "$f" ] || _fail "left after the purge: $f"
done

# From a tarball (what dpkg-source unpacks: no .git), the version alone.
mkdir "$TESTDIR/tarball"
git -C "$SRC" archive HEAD | tar -x -C "$TESTDIR/tarball"
make -C "$TESTDIR/tarball" -j2 dedupd >"$TESTDIR/tarball.log" 2>&1 3>&- ||
	_fail "make dedupd from a tarball: $(tail -n 20 "$TESTDIR/tarball.log")"
check_str "$("$TESTDIR/tarball/dedupd" --version)" "dedupd $ver" \
	"dedupd --version built from a tarball"
