#!/bin/bash
# bash and zsh completion (contrib/completion): bash completes the
# commands, each command's options as its --help lists them, and the values
# of --format, --snapshots and --domain; the zsh function parses.
. "$(dirname "$0")/lib.sh"
setup
BC=/usr/share/bash-completion/bash_completion
[ -f "$BC" ] || skip "needs bash-completion"

# complete WORDS...: what bash offers for the last word, one a line
complete_words() {
	DEDUPD_BIN=$DEDUPD bash -c '
		. "$1"; . "$2"; shift 2
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_WORDS[0]=$DEDUPD_BIN
		COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
		_dedupd "$DEDUPD_BIN" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ "$BC" \
		"$TOP/contrib/completion/dedupd.bash" "$@" 3>&-
}
want() {	# WORD... -- EXPECTED...: each expected word is offered
	local args=() w got
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	got=$(complete_words "${args[@]}")
	for w; do
		grep -qx -- "$w" <<<"$got" ||
			_fail "'${args[*]}' does not offer '$w': $(tr '\n' ' ' <<<"$got")"
	done
	log "'${args[*]}' offers $(wc -l <<<"$got") words, among them $*"
}
want dedupd "" -- scan watch status defrag ctl version
want dedupd st -- status
want dedupd scan --sn -- --snapshots=
want dedupd watch --set -- --settle
want dedupd status --f -- --format=
want dedupd status --format "" -- text json openmetrics
want dedupd scan --domain "" -- none owner subvolume
want dedupd ctl "" -- dedupe
want dedupd ctl dedupe --no- -- --no-wait --no-daemon --no-config
# every option of each command's --help is offered
for cmd in scan watch defrag status; do
	opts=$("$DEDUPD" $cmd --help | grep -oE -- '--[a-z][a-z-]*' | sort -u)
	got=$(complete_words dedupd $cmd --)
	missing=$(comm -23 <(echo "$opts") <(sed 's/=$//' <<<"$got" | sort -u))
	[ -z "$missing" ] || _fail "dedupd $cmd: not offered: $missing"
done
log "every option of scan, watch, defrag and status is offered"
if command -v zsh >/dev/null; then
	run_check zsh -n "$TOP/contrib/completion/_dedupd"
	head -n1 "$TOP/contrib/completion/_dedupd" | grep -qx '#compdef dedupd' ||
		_fail "_dedupd does not start with #compdef dedupd"
else
	log "no zsh: its completion not parsed"
fi
