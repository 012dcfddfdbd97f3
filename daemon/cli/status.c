// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd status: asks the running daemon over its control socket how it is
 * doing and prints its answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/cli/commands.h"
#include "daemon/cli/options.h"
#include "daemon/common/client.h"
#include "daemon/common/djson.h"
#include "daemon/common/log.h"
#include "daemon/common/util.h"

static void status_usage(FILE *f)
{
	fprintf(f,
"Usage: dedupd status [--json] [--socket PATH]\n"
"Ask the running 'dedupd watch' how it is doing: queue, events, overflows,\n"
"bytes hashed, deduped and freed, last checkpoint.\n"
"\n"
"  -j, --json       the daemon's answer as one JSON object\n"
"      --socket PATH  default $DEDUPD_SOCKET or " WATCH_SOCKET "\n"
"  -h, --help       this text\n"
"\n"
"Exit status: 0 done; 1 no daemon answers; 2 usage error.\n");
}

/* A number of the daemon's status; 0 if it has none. */
static double status_num(const json_t *status, const char *key)
{
	return json_number_value(json_object_get(status, key));
}

int cmd_status(int argc, char **argv)
{
	const char *sock = NULL;
	char *answer = NULL, b1[32], b2[32], b3[32];
	const char *state;
	bool json = false;
	json_t *status;
	const struct cli_command cmd = {
		.name = "status", .verb = "status", .shortopts = "",
		.usage = status_usage,
		.shared = { .json = &json, .socket = &sock },
	};
	int ret;

	ret = cli_parse(argc, argv, &cmd);
	if (ret)
		return ret > 0 ? EXIT_OK : EXIT_USAGE;
	if (optind < argc) {
		log_error("status takes no arguments (see 'dedupd status --help')");
		return EXIT_USAGE;
	}
	sock = watch_socket_path(sock);
	ret = watch_request(sock, "status\n", &answer);
	if (ret < 0) {
		log_error("no dedupd watch answers on '%s': %s", sock,
			  strerror(-ret));
		return EXIT_RUNTIME;
	}
	status = json ? NULL : djson_parse_object(answer);
	if (!status) {	/* asked for JSON, or an answer that is not */
		fputs(answer, stdout);
		free(answer);
		return EXIT_OK;
	}
	state = json_string_value(json_object_get(status, "state"));
	printf("dedupd watch, pid %.0f, up %.0f s: %s\n",
	       status_num(status, "pid"), status_num(status, "uptime"),
	       state ? state : "");
	printf("  queue      %.0f files waiting, %.0f in flight\n",
	       status_num(status, "queue"), status_num(status, "in_flight"));
	printf("  events     %.0f (%.0f overflows, %.0f catch-ups)\n",
	       status_num(status, "events"), status_num(status, "overflows"),
	       status_num(status, "catchups"));
	printf("  hashed     %s\n",
	       fmt_bytes((uint64_t)status_num(status, "bytes_hashed"), b1,
			 sizeof(b1)));
	printf("  deduped    %s\n",
	       fmt_bytes((uint64_t)status_num(status, "bytes_deduped"), b2,
			 sizeof(b2)));
	{
		double fr = status_num(status, "bytes_freed");

		printf("  freed      %s%s\n", fr < 0 ? "-" : "",
		       fmt_bytes((uint64_t)(fr < 0 ? -fr : fr), b3,
				 sizeof(b3)));
	}
	if (status_num(status, "last_checkpoint") >= 0)
		printf("  checkpoint %.0f s ago\n",
		       status_num(status, "last_checkpoint"));
	else
		printf("  checkpoint none yet\n");
	json_decref(status);
	free(answer);
	return EXIT_OK;
}
