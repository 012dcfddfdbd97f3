/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_SERVICE_WATCH_H
#define DEDUPD_SERVICE_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/common/config.h"
#include "daemon/common/util.h"

#define MAX_MOUNTS 16

/*
 * The daemon's options. The strings point into the command line or into
 * the configuration read with them, which must outlive the options.
 */
struct watch_opts {
	double settle, min_age, reexamine, checkpoint, loadavg_target;
	double defrag_threshold;	/* extents per MiB; 0: no defrag */
	double defrag_idle;		/* quiet seconds before defragging */
	uint64_t defrag_chunk;
	char **includes;
	size_t nincludes;
	char **excludes;
	size_t nexcludes;
	const char *db_path;
	uint64_t db_size;
	const char *state_dir;
	const char *socket_path;
	const char *config_path;
	bool no_config;
	int io_class;		/* 0 none, 2 best-effort, 3 idle */
	bool bounded_queue;
	uint64_t min_size;
	unsigned int threads;
	bool dry_run;
	bool skip_snapshots;	/* --snapshots=skip: read-only ones stay */
	enum dedupe_domain domain;	/* --domain */
	bool read_all;		/* --read-all: no keys from btrfs csums */
	int log_level;
	const char *mounts[MAX_MOUNTS];
	int nmounts;
};

/* Frees the glob lists of @o and zeroes it. */
void watch_opts_free(struct watch_opts *o);

/*
 * Reads the options again, for SIGHUP: from the command line @argc/@argv
 * and the configuration file it names. Returns 0, filling *@conf and *@o,
 * or -errno with the reason logged.
 */
typedef int watch_load_fn(int argc, char **argv, struct config *conf,
			  struct watch_opts *o);

/*
 * Runs the daemon on the mounts of @o until SIGTERM or SIGINT. Takes over
 * @o and @conf (frees them). @load and @argc/@argv read the options again
 * on SIGHUP. Returns an exit status (enum exit_code).
 */
int watch_run(struct watch_opts *o, struct config *conf, watch_load_fn *load,
	      int argc, char **argv);

#endif
