// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdio.h>
#include <string.h>

#include "daemon/cli/commands.h"
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
"  version        print the version\n"
"\n"
"Exit status: 0 done; 1 runtime error; 2 usage error; 3 the filesystem\n"
"cannot dedupe; 4 the index is in use by another dedupd; 130 interrupted.\n");
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "scan")) {
		/* getopt names argv[0] in its messages */
		static char name[] = "dedupd scan";

		argv[1] = name;
		return cmd_scan(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "watch")) {
		static char name[] = "dedupd watch";

		argv[1] = name;
		return cmd_watch(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "defrag")) {
		static char name[] = "dedupd defrag";

		argv[1] = name;
		return cmd_defrag(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "ctl")) {
		static char name[] = "dedupd ctl";

		argv[1] = name;
		return cmd_ctl(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "status")) {
		static char name[] = "dedupd status";

		argv[1] = name;
		return cmd_status(argc - 1, argv + 1);
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") ||
	    !strcmp(cmd, "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("dedupd %s\n", dedupd_version());
		return EXIT_OK;
	}
	log_error("unknown command '%s' (see 'dedupd --help')", cmd);
	return EXIT_USAGE;
}
