#!/bin/bash
# libdedupd, as built (build/libdedupd.a and .so.0, or in $DEDUPD_LIBDIR):
# both export the dedupd_* API only; a program using only dedupd.h, linked
# statically and dynamically, dedupes two identical files on btrfs and XFS
# (contents kept, extents shared, the statistics say so) without printing
# anything; calls on a kept index find known files unchanged; with a daemon
# running the call is handed to it; the API's argument and error checks
# pass.
. "$(dirname "$0")/lib.sh"
setup
require_cmd cc nm objdump ldd pkg-config
LIBS_DIR=${DEDUPD_LIBDIR:-$TOP/build}
[ -f "$LIBS_DIR/libdedupd.a" ] && [ -f "$LIBS_DIR/libdedupd.so.0" ] ||
	_fail "no libdedupd in $LIBS_DIR (run make)"
[ "$(readlink "$LIBS_DIR/libdedupd.so")" = libdedupd.so.0 ] ||
	_fail "$LIBS_DIR/libdedupd.so is not a link to libdedupd.so.0"
SZ=4096		# KiB per file
rand_file "$TESTDIR/A" $SZ
rand_file "$TESTDIR/B" $SZ
rand_file "$TESTDIR/C" $SZ
F=$((SZ * KiB))

# ---- exported symbols ----------------------------------------------------------
other=$(nm -D --defined-only "$LIBS_DIR/libdedupd.so.0" |
	awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^dedupd_/ && $3 !~ /^DEDUPD_/')
[ -z "$other" ] || _fail "libdedupd.so.0 exports more than dedupd_*: $other"
other=$(nm -g --defined-only "$LIBS_DIR/libdedupd.a" 2>/dev/null |
	awk 'NF == 3 && $3 !~ /^dedupd_/')
[ -z "$other" ] || _fail "libdedupd.a defines global symbols besides dedupd_*: $other"
soname=$(objdump -p "$LIBS_DIR/libdedupd.so.0" | awk '$1 == "SONAME" { print $2 }')
check_str "$soname" libdedupd.so.0 "soname"
exports=$(nm -D --defined-only "$LIBS_DIR/libdedupd.so.0")
for f in dedupd_open dedupd_dedupe_paths dedupd_get_stats dedupd_close \
	dedupd_strerror dedupd_version dedupd_errmsg dedupd_interrupt \
	dedupd_set_log dedupd_served_by; do
	grep -q " $f@@DEDUPD_0$" <<<"$exports" ||
		_fail "libdedupd.so.0 does not export $f (version DEDUPD_0)"
done

# ---- the test program, static and shared -----------------------------------------
# LIB_TEST_CFLAGS: e.g. -fsanitize=address,undefined for build-asan's
# library (DEDUPD_LIBDIR=.../build-asan).
CFLAGS_T="-std=gnu11 -Wall -Wextra -Werror -I$TOP/daemon/lib ${LIB_TEST_CFLAGS:-}"
run_check cc $CFLAGS_T -o "$TESTDIR/prog-static" "$IT_DIR/lib-dedupe.c" \
	"$LIBS_DIR/libdedupd.a" $(pkg-config --libs libxxhash jansson) -pthread -lm
run_check cc $CFLAGS_T -o "$TESTDIR/prog-shared" "$IT_DIR/lib-dedupe.c" \
	-L"$LIBS_DIR" -ldedupd
# (not `ldd | grep -q`: grep leaving early kills ldd, and pipefail fails)
if grep -q libdedupd <<<"$(ldd "$TESTDIR/prog-static")"; then
	_fail "the static program links libdedupd.so"
fi
grep -q 'libdedupd.so.0' <<<"$(ldd "$TESTDIR/prog-shared")" ||
	_fail "the shared program does not link libdedupd.so.0"
export LD_LIBRARY_PATH=$LIBS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# lib_run PROG ARGS...: run it, stdout in $REPORT (its JSON last line in
# $REPORT.json); it must exit 0 and print nothing on stderr.
lib_run() {
	local rc=0
	_new_report
	log "run: $*"
	"$@" >"$REPORT" 2>"$REPORT.err" 3>&- || rc=$?
	sed 's/^/   stdout: /' "$REPORT" | head -n 20 >&3
	sed 's/^/   stderr: /' "$REPORT.err" >&3
	[ "$rc" = 0 ] || _fail "exit $rc: $*"
	[ ! -s "$REPORT.err" ] || _fail "the library printed on stderr"
	{ grep '^{' "$REPORT" || true; } | tail -n 1 >"$REPORT.json"
}
jget() { json_get "$1" "$REPORT.json"; }

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	copy_plain "$TESTDIR/A" "$MNT/a1"
	copy_plain "$TESTDIR/A" "$MNT/a2"
	copy_plain "$TESTDIR/B" "$MNT/b1"
	copy_plain "$TESTDIR/B" "$MNT/b2"
	manifest >"$TESTDIR/before"

	lib_run "$TESTDIR/prog-static" --no-daemon --index "$DB" "$MNT/a1" "$MNT/a2"
	check_str "$(jget served_by)" local "$fs: static: served_by"
	check_eq "$(jget calls)" 1 "$fs: static: calls"
	check_eq "$(jget files_scanned)" 2 "$fs: static: files_scanned"
	check_eq "$(jget bytes_deduped)" "$F" "$fs: static: bytes_deduped"
	check_ge "$(jget bytes_freed)" $((F * 8 / 10)) "$fs: static: bytes_freed"
	check_eq "$(shared_bytes "$MNT/a1")" "$F" "$fs: shared bytes of a1"
	check_eq "$(shared_bytes "$MNT/a2")" "$F" "$fs: shared bytes of a2"
	check_manifest "$TESTDIR/before"

	# Shared, one call per path with the index kept, and a log function.
	lib_run "$TESTDIR/prog-shared" --no-daemon --keep-index --log \
		--index "$DB" "$MNT/a1" "$MNT/a2" "$MNT/b1" "$MNT/b2"
	check_str "$(jget served_by)" local "$fs: shared: served_by"
	check_eq "$(jget calls)" 4 "$fs: shared: calls"
	check_eq "$(jget files_unchanged)" 2 "$fs: shared: files_unchanged (a1, a2)"
	check_eq "$(jget bytes_deduped)" "$F" "$fs: shared: bytes_deduped (b2)"
	grep -q '^log: 3 ' "$REPORT" || _fail "$fs: no debug line reached the log function"
	check_eq "$(shared_bytes "$MNT/b1")" "$F" "$fs: shared bytes of b1"
	check_eq "$(shared_bytes "$MNT/b2")" "$F" "$fs: shared bytes of b2"
	check_manifest "$TESTDIR/before"

	# A daemon watches the filesystem: the call is handed to it.
	copy_plain "$TESTDIR/C" "$MNT/c1"
	copy_plain "$TESTDIR/C" "$MNT/c2"
	manifest >"$TESTDIR/before"
	watch_start --settle 3600 "$MNT"
	lib_run "$TESTDIR/prog-shared" --socket "$WATCH_SOCK" "$MNT/c1" "$MNT/c2"
	check_str "$(jget served_by)" daemon "$fs: served_by with a daemon"
	check_eq "$(jget calls_daemon)" 1 "$fs: calls_daemon"
	check_eq "$(shared_bytes "$MNT/c2")" "$F" "$fs: shared bytes of c2"
	watch_stop
	check_manifest "$TESTDIR/before"
	check_same "$TESTDIR/A" "$MNT/a1" "$MNT/a2"
	check_same "$TESTDIR/B" "$MNT/b1" "$MNT/b2"
	check_same "$TESTDIR/C" "$MNT/c1" "$MNT/c2"
	teardown_fs
done

# ---- the API's argument and error checks --------------------------------------------
setup_fs tmpfs 64M
T=$MNT
setup_fs xfs 512M
X=$MNT
setup_fs btrfs 512M
lib_run "$TESTDIR/prog-static" --api "$T" "$MNT" "$X"
grep -q 'api checks passed' "$REPORT" || _fail "api checks"
lib_run "$TESTDIR/prog-shared" --api "$T" "$MNT" "$X"
grep -q 'api checks passed' "$REPORT" || _fail "api checks (shared)"
