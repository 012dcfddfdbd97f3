#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Includes point down the layers only (README, "Architecture"):
#   daemon/cli -> daemon/service -> daemon/engine -> daemon/common
#   daemon/lib -> daemon/engine;  every room -> hashdb/, ioctl-compat/
#   daemon/cli -> daemon/lib too (`dedupd ctl` is libdedupd's command)
# hashdb/ and ioctl-compat/ include nothing of each other nor of daemon/.
# Prints each include that points up (file:line) and exits 1 if any.
set -euo pipefail
cd "$(dirname "$0")/../.."

allowed() { # ROOM: the include prefixes it may use
	case $1 in
	hashdb) echo "hashdb/" ;;
	ioctl-compat) echo "ioctl-compat/" ;;
	daemon/common) echo "daemon/common/ hashdb/ ioctl-compat/" ;;
	daemon/engine) echo "daemon/engine/ daemon/common/ hashdb/ ioctl-compat/" ;;
	daemon/service) echo "daemon/service/ daemon/engine/ daemon/common/ hashdb/ ioctl-compat/" ;;
	daemon/cli) echo "daemon/cli/ daemon/lib/ daemon/service/ daemon/engine/ daemon/common/ hashdb/ ioctl-compat/" ;;
	daemon/lib) echo "daemon/lib/ daemon/engine/ daemon/common/ hashdb/ ioctl-compat/" ;;
	*) return 1 ;;
	esac
}

bad=0 n=0
for f in hashdb/*.[ch] ioctl-compat/*.[ch] daemon/*/*.[ch]; do
	room=${f%/*}
	ok=$(allowed "$room") || { echo "$f: not in a known room"; bad=1; continue; }
	while IFS=: read -r line inc; do
		n=$((n + 1))
		inc=${inc#*\"}
		inc=${inc%\"*}
		case $inc in */*) ;; *) continue ;; esac	# same-folder or system
		fine=no
		for p in $ok; do
			case $inc in "$p"*) fine=yes ;; esac
		done
		if [ $fine = no ]; then
			echo "$f:$line: includes \"$inc\", which is not below $room"
			bad=1
		fi
	done < <(grep -n '^#include "' "$f" || true)
done
[ $bad = 0 ] && echo "layers: $n includes, none points up"
exit $bad
