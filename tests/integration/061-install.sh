#!/bin/bash
# make install DESTDIR=... puts every file where PREFIX (or BINDIR, LIBDIR,
# INCLUDEDIR, MANDIR, UNITDIR, PKGCONFIGDIR) says: the binary, libdedupd.a,
# libdedupd.so.0 and its libdedupd.so link, dedupd.h, dedupd.pc, the
# systemd unit (pointing at the installed binary) and dedupd.8; `dedupd
# --version` names the tree's commit; a program
# built with `pkg-config --cflags --libs dedupd` (and --static) against that
# tree links, and dedupes two files on btrfs; make uninstall removes it all.
. "$(dirname "$0")/lib.sh"
setup --no-dedupd
require_cmd make cc ldd pkg-config
D=$TESTDIR/root

# install_into DESTDIR MAKE-VARS...: run make install, quietly
install_into() {
	local dest=$1
	shift
	log "run: make install DESTDIR=$dest $*"
	make -C "$TOP" --no-print-directory install DESTDIR="$dest" "$@" \
		>"$TESTDIR/make.log" 2>&1 3>&- || {
		tail -n 20 "$TESTDIR/make.log" >&3
		_fail "make install DESTDIR=$dest $* failed"
	}
}

# want FILE MODE: a regular file of that mode
want() {
	[ -f "$1" ] && [ ! -L "$1" ] || _fail "not installed: $1"
	[ "$(stat -c %a "$1")" = "$2" ] ||
		_fail "$1: mode $(stat -c %a "$1"), wanted $2"
}

install_into "$D" PREFIX=/usr
want "$D/usr/sbin/dedupd" 755
want "$D/usr/lib/libdedupd.a" 644
want "$D/usr/lib/libdedupd.so.0" 755
[ "$(readlink "$D/usr/lib/libdedupd.so")" = libdedupd.so.0 ] ||
	_fail "libdedupd.so is not a link to libdedupd.so.0"
want "$D/usr/include/dedupd.h" 644
want "$D/usr/lib/pkgconfig/dedupd.pc" 644
want "$D/usr/share/man/man8/dedupd.8" 644
want "$D/usr/lib/systemd/system/dedupd.service" 644
grep -qx 'ExecStart=/usr/sbin/dedupd watch' "$D/usr/lib/systemd/system/dedupd.service" ||
	_fail "the unit does not start /usr/sbin/dedupd"
cmp -s "$TOP/daemon/lib/dedupd.h" "$D/usr/include/dedupd.h" || _fail "dedupd.h differs"
ver=$("$D/usr/sbin/dedupd" version)
grep -qx 'prefix=/usr' "$D/usr/lib/pkgconfig/dedupd.pc" || _fail "dedupd.pc: prefix"
grep -qx 'libdir=/usr/lib' "$D/usr/lib/pkgconfig/dedupd.pc" || _fail "dedupd.pc: libdir"
log "installed: $(cd "$D" && find . ! -type d | sort | tr '\n' ' ')"
if command -v groff >/dev/null; then
	warn=$(groff -man -ww -z "$D/usr/share/man/man8/dedupd.8" 2>&1)
	[ -z "$warn" ] || _fail "groff warns about dedupd.8: $warn"
fi

# pkg-config against the DESTDIR tree (the sysroot prefixes its paths).
export PKG_CONFIG_PATH=$D/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
check_str "dedupd $(pkg-config --modversion dedupd)" "${ver%% (commit *}" \
	"pkg-config --modversion"
# --version names the commit of a build in a git work tree (a tarball's
# build, without .git, says the version alone: check-deb.sh).
if [ -e "$TOP/.git" ] && command -v git >/dev/null; then
	head=$(git -C "$TOP" rev-parse --short=12 HEAD)
	[[ $ver == "dedupd $(pkg-config --modversion dedupd) (commit $head"* ]] ||
		_fail "dedupd version: '$ver', wanted the commit $head"
	check_str "$ver" "$("$D/usr/sbin/dedupd" --version)" "dedupd --version"
fi
flags=$(pkg-config --cflags --libs dedupd)
log "pkg-config --cflags --libs dedupd: $flags"
[[ $flags == *"-I$D/usr/include"* ]] || _fail "cflags: $flags"
run_check cc -std=gnu11 -Wall -Werror -o "$TESTDIR/prog" \
	"$IT_DIR/lib-dedupe.c" $flags
# --static: what the static library needs; the archive itself by name, so
# that the linker does not take the .so beside it.
static=$(pkg-config --static --libs dedupd)
log "pkg-config --static --libs dedupd: $static"
[[ $static == *-lxxhash* ]] || _fail "--static libs lack xxhash: $static"
[[ $static == *-ljansson* ]] || _fail "--static libs lack jansson: $static"
run_check cc -std=gnu11 -Wall -Werror -o "$TESTDIR/prog-static" \
	"$IT_DIR/lib-dedupe.c" $(pkg-config --cflags dedupd) \
	${static/-ldedupd/$D/usr/lib/libdedupd.a}
# (not `ldd | grep -q`: grep leaving early kills ldd, and pipefail fails)
grep -q libdedupd <<<"$(ldd "$TESTDIR/prog-static")" &&
	_fail "the static program links libdedupd.so"
grep -q "$D/usr/lib/libdedupd.so.0" <<<"$(LD_LIBRARY_PATH=$D/usr/lib ldd "$TESTDIR/prog")" ||
	_fail "the program does not use the installed libdedupd.so.0"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

setup_fs btrfs 512M
rand_file "$TESTDIR/A" 1024
copy_plain "$TESTDIR/A" "$MNT/a1"
copy_plain "$TESTDIR/A" "$MNT/a2"
copy_plain "$TESTDIR/A" "$MNT/a3"
manifest >"$TESTDIR/before"
LD_LIBRARY_PATH=$D/usr/lib run_check "$TESTDIR/prog" --no-daemon \
	--index "$DB" "$MNT/a1" "$MNT/a2" >"$TESTDIR/out"
cat "$TESTDIR/out" >&3
grep -q '"bytes_deduped":1048576,' "$TESTDIR/out" || _fail "bytes_deduped"
run_check "$TESTDIR/prog-static" --no-daemon --index "$DB" "$MNT" >"$TESTDIR/out"
cat "$TESTDIR/out" >&3
grep -q '"bytes_deduped":1048576,' "$TESTDIR/out" || _fail "bytes_deduped (a3)"
check_eq "$(shared_bytes "$MNT/a3")" $((1024 * KiB)) "shared bytes of a3"
check_manifest "$TESTDIR/before"

# The directory variables, each on its own.
E=$TESTDIR/root2
install_into "$E" PREFIX=/opt/d BINDIR=/b LIBDIR=/l INCLUDEDIR=/i \
	MANDIR=/m UNITDIR=/u PKGCONFIGDIR=/p
for f in b/dedupd l/libdedupd.a l/libdedupd.so.0 l/libdedupd.so i/dedupd.h \
	m/man8/dedupd.8 u/dedupd.service p/dedupd.pc; do
	[ -e "$E/$f" ] || _fail "not installed: $E/$f"
done
grep -qx 'libdir=/l' "$E/p/dedupd.pc" && grep -qx 'includedir=/i' "$E/p/dedupd.pc" ||
	_fail "dedupd.pc does not follow LIBDIR and INCLUDEDIR: $(cat "$E/p/dedupd.pc")"
grep -qx 'ExecStart=/b/dedupd watch' "$E/u/dedupd.service" ||
	_fail "the unit does not follow BINDIR"

# make uninstall leaves nothing behind.
log "run: make uninstall DESTDIR=$D PREFIX=/usr"
make -C "$TOP" --no-print-directory uninstall DESTDIR="$D" PREFIX=/usr \
	>"$TESTDIR/make.log" 2>&1 3>&- || _fail "make uninstall failed"
left=$(find "$D" ! -type d)
[ -z "$left" ] || _fail "left after make uninstall: $left"
