// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd status: asks the running daemon over its control socket how it is
 * doing and prints its answer: as text, as the daemon's JSON, or as metrics
 * in the Prometheus text format for a textfile collector or a scraper.
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
"Usage: dedupd status [--json | --format=text|json|openmetrics]\n"
"                     [--socket PATH]\n"
"Ask the running 'dedupd watch' how it is doing: queue, events, overflows,\n"
"bytes hashed, deduped and freed, last checkpoint.\n"
"\n"
"  -j, --json       the daemon's answer as one JSON object (--format=json)\n"
"      --format=openmetrics  the figures as metrics in the Prometheus text\n"
"                   format, one series per filesystem (labels mount, uuid,\n"
"                   fstype); with no daemon answering, dedupd_up 0\n"
"      --socket PATH  default $DEDUPD_SOCKET or " WATCH_SOCKET "\n"
"  -h, --help       this text\n"
"\n"
"Exit status: 0 done; 1 no daemon answers; 2 usage error.\n");
}

enum status_format { STATUS_TEXT, STATUS_JSON, STATUS_METRICS };
enum { OPT_FORMAT = 256 };

/* status's own option (options.h): --format. */
static int status_option(void *ctx, int c, const char *name, const char *arg)
{
	enum status_format *format = ctx;

	(void)name;
	if (c != OPT_FORMAT)
		return -EINVAL;
	if (!strcmp(arg, "text"))
		*format = STATUS_TEXT;
	else if (!strcmp(arg, "json"))
		*format = STATUS_JSON;
	else if (!strcmp(arg, "openmetrics") || !strcmp(arg, "prometheus"))
		*format = STATUS_METRICS;
	else {
		log_error("invalid --format '%s' (text, json or openmetrics)",
			  arg);
		return -EINVAL;
	}
	return 0;
}

/* A number of the daemon's status; 0 if it has none. */
static double status_num(const json_t *status, const char *key)
{
	return json_number_value(json_object_get(status, key));
}

/*
 * The series of --format=openmetrics: the daemon's figures (top-level keys)
 * and each filesystem's (keys of its object in "filesystems", one sample per
 * filesystem). Names follow Prometheus' conventions, which promtool checks:
 * base units, counters ending in _total.
 */
static const struct status_metric {
	const char *name, *type, *help, *key;
	bool per_fs;
} status_metrics[] = {
	{ "dedupd_uptime_seconds", "gauge",
	  "Seconds since the daemon started.", "uptime", false },
	{ "dedupd_idle", "gauge",
	  "1 when nothing is queued, in flight or being caught up.", "idle",
	  false },
	{ "dedupd_hashed_bytes_total", "counter",
	  "Bytes of file data read and hashed.", "bytes_hashed", true },
	{ "dedupd_duplicate_bytes_total", "counter",
	  "Bytes found to duplicate indexed data.", "bytes_duplicate", true },
	{ "dedupd_deduped_bytes_total", "counter",
	  "Bytes the kernel shared with another copy (FIDEDUPERANGE).",
	  "bytes_deduped", true },
	{ "dedupd_freed_bytes", "gauge",
	  "Used space before minus after each round and catch-up, added up "
	  "(other writers count against it, so it may fall).", "bytes_freed",
	  true },
	{ "dedupd_queue_files", "gauge",
	  "Files waiting to be hashed.", "queue", true },
	{ "dedupd_in_flight_files", "gauge",
	  "Files being hashed and deduped now.", "in_flight", true },
	{ "dedupd_events_total", "counter",
	  "fanotify events read.", "events", true },
	{ "dedupd_overflows_total", "counter",
	  "Event queue overflows (each one is followed by a catch-up).",
	  "overflows", true },
	{ "dedupd_catchups_total", "counter",
	  "Catch-ups from the filesystem (at start and after an overflow).",
	  "catchups", true },
	{ "dedupd_errors_total", "counter",
	  "Dedupes and defrag chunks that failed (the data is left as it was).",
	  "errors", true },
	{ "dedupd_unreadable_files_total", "counter",
	  "Files skipped because a block could not be read.",
	  "files_unreadable", true },
	{ "dedupd_taken_files_total", "counter",
	  "Files taken up for hashing.", "files_taken", true },
	{ "dedupd_last_checkpoint_age_seconds", "gauge",
	  "Seconds since the index was last checkpointed (since the daemon "
	  "started, before its first checkpoint).", "last_checkpoint", true },
	{ "dedupd_index_used_cells", "gauge",
	  "Cells of the index in use (16 bytes each).", "index_cells_used",
	  true },
	{ "dedupd_index_files", "gauge",
	  "Files known to the index.", "index_files", true },
	{ "dedupd_defrag_queue_files", "gauge",
	  "Fragmented files waiting for the background defrag.",
	  "defrag_queue", true },
	{ "dedupd_defragged_files_total", "counter",
	  "Files the background defrag rewrote.", "files_defragged", true },
	{ "dedupd_defrag_moved_bytes_total", "counter",
	  "Bytes the background defrag moved.", "defrag_bytes_moved", true },
	{ "dedupd_defrag_extents_before_total", "counter",
	  "Extents of the defragged files before.", "defrag_extents_before",
	  true },
	{ "dedupd_defrag_extents_after_total", "counter",
	  "Extents of the defragged files after.", "defrag_extents_after",
	  true },
};

/* A label value, escaped as the text format wants: \\, \" and \n. */
static void print_label_value(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
}

static void print_metric_head(const char *name, const char *type,
			      const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The value of @key in @obj as a sample value; false if it has none. */
static bool metric_value(const json_t *obj, const struct status_metric *m,
			 double uptime, double *ret)
{
	const json_t *v = json_object_get(obj, m->key);

	if (json_is_boolean(v))
		*ret = json_is_true(v);
	else if (json_is_number(v))
		*ret = json_number_value(v);
	else
		return false;
	if (!strcmp(m->key, "last_checkpoint") && *ret < 0)
		*ret = uptime;	/* none yet: unsaved since the start */
	return true;
}

/* The daemon's @status as metrics; dedupd_up 0 when @status is NULL. */
static void print_metrics(const json_t *status)
{
	const json_t *fss = json_object_get(status, "filesystems"), *f;
	double uptime = status_num(status, "uptime"), v;
	size_t i, j;

	print_metric_head("dedupd_up", "gauge",
			  "1 when the daemon answered on its control socket.");
	printf("dedupd_up %d\n", status ? 1 : 0);
	for (i = 0; status && i < sizeof(status_metrics) / sizeof(status_metrics[0]); i++) {
		const struct status_metric *m = &status_metrics[i];

		print_metric_head(m->name, m->type, m->help);
		if (!m->per_fs) {
			if (metric_value(status, m, uptime, &v))
				printf("%s %.17g\n", m->name, v);
			continue;
		}
		json_array_foreach(fss, j, f) {
			if (!metric_value(f, m, uptime, &v))
				continue;
			printf("%s{mount=\"", m->name);
			print_label_value(json_string_value(
				json_object_get(f, "mount")));
			printf("\",uuid=\"");
			print_label_value(json_string_value(
				json_object_get(f, "uuid")));
			printf("\",fstype=\"");
			print_label_value(json_string_value(
				json_object_get(f, "fs")));
			printf("\"} %.17g\n", v);
		}
	}
	puts("# EOF");
}

/* The daemon's @status as text. */
static void print_text(const json_t *status)
{
	char b1[32], b2[32], b3[32];
	const char *state;
	double fr;

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
	fr = status_num(status, "bytes_freed");
	printf("  freed      %s%s\n", fr < 0 ? "-" : "",
	       fmt_bytes((uint64_t)(fr < 0 ? -fr : fr), b3, sizeof(b3)));
	if (status_num(status, "last_checkpoint") >= 0)
		printf("  checkpoint %.0f s ago\n",
		       status_num(status, "last_checkpoint"));
	else
		printf("  checkpoint none yet\n");
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ NULL, 0, NULL, 0 },
	};
	enum status_format format = STATUS_TEXT;
	const char *sock = NULL;
	char *answer = NULL;
	bool json = false;
	json_t *status;
	const struct cli_command cmd = {
		.name = "status", .verb = "status", .shortopts = "",
		.longopts = longopts, .usage = status_usage,
		.option = status_option, .ctx = &format,
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
	if (json)
		format = STATUS_JSON;
	sock = watch_socket_path(sock);
	ret = watch_request(sock, "status\n", &answer);
	if (ret < 0) {
		log_error("no dedupd watch answers on '%s': %s", sock,
			  strerror(-ret));
		if (format == STATUS_METRICS)
			print_metrics(NULL);
		return EXIT_RUNTIME;
	}
	status = format == STATUS_JSON ? NULL : djson_parse_object(answer);
	if (!status && format == STATUS_METRICS) {
		log_error("the daemon's answer on '%s' is not a JSON object",
			  sock);
		print_metrics(NULL);
		free(answer);
		return EXIT_RUNTIME;
	}
	if (!status) {	/* asked for JSON, or an answer that is not */
		fputs(answer, stdout);
		free(answer);
		return EXIT_OK;
	}
	if (format == STATUS_METRICS)
		print_metrics(status);
	else
		print_text(status);
	json_decref(status);
	free(answer);
	return EXIT_OK;
}
