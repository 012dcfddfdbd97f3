# bash completion for dedupd(8). Installed as
# /usr/share/bash-completion/completions/dedupd.
#
# Each command's options are read from its --help, so that they never fall
# behind the program; only the values of a few options are known here.

_dedupd_options()	# CMD...: the long options `dedupd CMD... --help` lists
{
	LC_ALL=C "${words[0]}" "$@" --help 2>/dev/null |
		grep -oE -- '--[a-z][a-z-]*=?' | sort -u
}

_dedupd()
{
	local cur prev words cword split
	_init_completion -s || return

	local cmd= i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W 'scan watch status defrag ctl help
			version --help --version' -- "$cur"))
		return
	fi
	if [[ $cmd == ctl ]]; then
		local sub=${words[i + 1]:-}
		if ((cword == i + 1)); then
			COMPREPLY=($(compgen -W 'dedupe --help' -- "$cur"))
			return
		fi
		cmd="ctl $sub"
	fi

	case $prev in
	--snapshots) COMPREPLY=($(compgen -W 'follow skip' -- "$cur")); return ;;
	--domain) COMPREPLY=($(compgen -W 'none owner subvolume' -- "$cur")); return ;;
	--io-class) COMPREPLY=($(compgen -W 'idle best-effort none' -- "$cur")); return ;;
	--format) COMPREPLY=($(compgen -W 'text json openmetrics' -- "$cur")); return ;;
	--db | --config | --socket) _filedir; return ;;
	--state-dir | --scope) _filedir -d; return ;;
	--exclude | --include | --settle | --min-age | --reexamine | \
	--checkpoint | --loadavg-target | --db-size | --min-size | \
	--threads | --chunk-size | --delay | --min-extent | --lock-timeout | \
	--defrag-chunk | --defrag-idle | --defrag-threshold | -[xtc])
		return ;;
	esac
	$split && return

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_dedupd_options $cmd)" -- "$cur"))
		[[ ${COMPREPLY-} == *= ]] && compopt -o nospace
		return
	fi
	case $cmd in
	status | help | version) ;;
	*) _filedir -d ;;	# PATHs and MOUNTs: directories, mostly
	esac
} &&
	complete -F _dedupd dedupd
