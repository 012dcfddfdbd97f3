// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdio.h>
#include <string.h>

#include "daemon/cli/commands.h"
#include "daemon/cli/options.h"
#include "daemon/lib/dedupd.h"
#include "daemon/common/log.h"
#include "daemon/common/util.h"


static void usage(FILE *f)
{
	fprintf(f,
"Usage: dedupd COMMAND [OPTION]... [ARG]...\n"
"Block-level deduplication for btrfs and XFS (reflink).\n"
"\n"
"Commands:\n"
"  scan PATH...   one pass over a filesystem: find duplicate blocks and\n"
"                 share them (see 'dedupd scan --help')\n"
"  watch MOUNT... the daemon: dedupe new data as it is written\n"
"                 (see 'dedupd watch --help')\n"
"  status         ask the running daemon how it is doing\n"
"  defrag PATH... defragment without locking files, snapshot-aware\n"
"                 (see 'dedupd defrag --help')\n"
"  ctl dedupe PATH...\n"
"                 for pipelines: dedupe PATHs now, through the daemon if\n"
"                 one runs, and say what was freed (see 'dedupd ctl --help')\n"
"  help           this text\n"
"  version        print the version and the commit it was built from\n"
"\n"
"Exit status: 0 done; 1 runtime error; 2 usage error; 3 the filesystem\n"
"cannot dedupe; 4 the index is in use by another dedupd; 130 interrupted.\n");
}

/*
 * The version, and the commit it was built from when the build had one: the
 * Makefile passes DEDUPD_COMMIT only for a build in a git work tree, not for
 * one from a tarball.
 */
static void print_version(void)
{
#ifdef DEDUPD_COMMIT
	if (DEDUPD_COMMIT[0]) {
		printf("dedupd %s (commit %s)\n", dedupd_version(),
		       DEDUPD_COMMIT);
		return;
	}
#endif
	printf("dedupd %s\n", dedupd_version());
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name, *prog;
		int (*fn)(int, char **);
	} commands[] = {
		{ "scan", "dedupd scan", cmd_scan },
		{ "watch", "dedupd watch", cmd_watch },
		{ "defrag", "dedupd defrag", cmd_defrag },
		{ "ctl", "dedupd ctl", cmd_ctl },
		{ "status", "dedupd status", cmd_status },
	};
	const char *cmd = argc > 1 ? argv[1] : NULL;
	size_t i;

	if (!cmd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(cmd, commands[i].name))
			return cli_run(commands[i].prog, commands[i].fn, argc,
				       argv);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") ||
	    !strcmp(cmd, "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		print_version();
		return EXIT_OK;
	}
	log_error("unknown command '%s' (see 'dedupd --help')", cmd);
	return EXIT_USAGE;
}
