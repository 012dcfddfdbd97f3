#!/bin/bash
# dedupd watch's own work raises no work: once it has deduped what was
# written and is idle, its events, rounds and files taken stay put for three
# settle delays; every file written was taken up exactly once (a file
# requeued by the daemon's own dedupes would be taken again: --reexamine 1
# lets that show within the test), and its own temporary files (btrfs: data
# relocated out of a partly shared extent) were never queued.
. "$(dirname "$0")/lib.sh"
setup
SZ=2048		# KiB per file
F=$((SZ * KiB))
N=8		# d1/ files, each copied into d2/
SETTLE=1
rand_file "$TESTDIR/u" 2048

for fs in $DEDUPE_FS; do
	setup_fs "$fs"
	watch_start --settle $SETTLE --reexamine 1 "$MNT"
	watch_wait_idle
	big_tree "$MNT" $N $SZ
	# Partial duplicates: 512 KiB of new data, then the rest of d1/fNN. On
	# btrfs the new part pins the old extent once the rest is shared: the
	# daemon writes it elsewhere (bytes_relocated), and its own writes
	# raise events (events_own).
	mkdir "$MNT/p"
	for ((i = 0; i < 4; i++)); do
		n=$(printf 'f%02d' "$i")
		splice_file "$MNT/p/$n" "$TESTDIR/u:$((i * 512)):512" \
			"$MNT/d1/$n:512:$((SZ - 512))"
	done
	manifest >"$TESTDIR/before"
	watch_wait_idle
	watch_status_json >"$TESTDIR/st0"
	dup=$((N * F + 4 * (F - 512 * KiB)))
	check_between "$(watch_status_get bytes_deduped "$TESTDIR/st0")" $dup \
		$((dup + 256 * KiB)) "$fs: bytes deduped"
	check_eq "$(watch_status_get files_taken "$TESTDIR/st0")" $((2 * N + 4)) \
		"$fs: files taken (each file once)"
	# The daemon's own temporary files (relocation) are never queued: had
	# they been, they would be taken up after they are gone.
	check_eq "$(watch_status_get files_vanished "$TESTDIR/st0")" 0 \
		"$fs: files vanished before they were taken up"
	log "$fs: events_own $(watch_status_get events_own "$TESTDIR/st0"), bytes_relocated $(watch_status_get bytes_relocated "$TESTDIR/st0")"

	sleep $((3 * SETTLE))
	watch_status_json >"$TESTDIR/st1"
	for k in events rounds files_taken bytes_hashed bytes_deduped queue in_flight; do
		check_eq "$(watch_status_get $k "$TESTDIR/st1")" \
			"$(watch_status_get $k "$TESTDIR/st0")" "$fs: $k after $((3 * SETTLE)) s idle"
	done
	check_str "$(watch_status_get state "$TESTDIR/st1")" idle "$fs: state"
	check_str "$(watch_status_get idle "$TESTDIR/st1")" true "$fs: idle"
	check_manifest "$TESTDIR/before"
	for ((i = 0; i < N; i++)); do
		n=$(printf 'f%02d' "$i")
		check_eq "$(shared_bytes "$MNT/d2/$n")" "$F" "$fs: shared bytes of d2/$n"
	done
	for ((i = 0; i < 4; i++)); do
		n=$(printf 'f%02d' "$i")
		check_eq "$(shared_bytes "$MNT/p/$n")" $((F - 512 * KiB)) "$fs: shared bytes of p/$n"
	done
	watch_stop
	check_manifest "$TESTDIR/before"
	rm -rf "$WATCH_STATE"
	teardown_fs
done
