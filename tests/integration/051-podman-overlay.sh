#!/bin/bash
# A real podman store (containers/storage, overlay driver) on btrfs and XFS:
# three images imported from root filesystem tarballs that share a base
# (made from this machine's files, see podman-lib.sh), deduped by `dedupd
# scan` over the graph root on btrfs and XFS and by the daemon, watching
# while the images are imported, on btrfs and XFS (PODMAN_MODES="scan
# daemon" does both on each). Every file of every image keeps its sha256 (through
# `podman image mount`); the space freed is at least 90 % (scan) or 85 %
# (daemon) of what block-level dedupe can free; `podman system df` reports
# the same image size; where the OCI runtime works here (probed before any
# dedupe), `podman run` works in every image afterwards.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/podman-lib.sh"
podman_store_test overlay
