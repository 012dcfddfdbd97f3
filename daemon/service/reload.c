// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: SIGHUP. The options are read again; what can change
 * without a restart (timings, filters, thresholds, log level) is taken.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/common/log.h"
#include "daemon/service/internal.h"
#include "daemon/service/sdnotify.h"

void reload(void)
{
	struct watch_opts o;
	struct config conf;
	int i;

	char note[64];
	struct timespec ts;

	/* systemd's reload protocol: RELOADING=1 with the time, then READY. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(note, sizeof(note), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000);
	(void)sd_notify_send(note);
	log_info("reloading the configuration");
	if (W.load(W.argc, W.argv, &conf, &o) < 0) {
		log_error("reload failed: keeping the configuration in use");
		(void)sd_notify_send("READY=1");
		return;
	}
	if (o.nmounts != W.nfs)
		log_warn("changing the mounts needs a restart; the new ones are ignored");
	else
		for (i = 0; i < o.nmounts; i++)
			if (strcmp(o.mounts[i], W.fs[i].mount))
				log_warn("changing the mounts needs a restart; '%s' is ignored",
					 o.mounts[i]);
	if (o.domain != W.o.domain)
		log_warn("changing --domain needs a restart; still the one it started with");
	if (o.skip_snapshots != W.o.skip_snapshots)
		log_warn("changing --snapshots needs a restart; still '%s'",
			 W.o.skip_snapshots ? "skip" : "follow");
	pthread_mutex_lock(&W.lock);
	W.o.settle = o.settle;
	W.o.min_age = o.min_age;
	W.o.reexamine = o.reexamine;
	W.o.checkpoint = o.checkpoint;
	W.o.loadavg_target = o.loadavg_target;
	W.o.defrag_threshold = o.defrag_threshold;
	W.o.defrag_idle = o.defrag_idle;
	W.o.min_size = o.min_size;
	W.o.log_level = o.log_level;
	free(W.o.includes);
	free(W.o.excludes);
	W.o.includes = o.includes;
	W.o.nincludes = o.nincludes;
	W.o.excludes = o.excludes;
	W.o.nexcludes = o.nexcludes;
	o.includes = o.excludes = NULL;
	/* The option strings live in the config: keep the new one. The old
	 * one's strings may still be in W.o (paths needing a restart). */
	config_free(&W.conf);
	W.conf = conf;
	pthread_mutex_unlock(&W.lock);
	log_level = o.log_level;
	pthread_cond_broadcast(&W.cond);
	(void)sd_notify_send("READY=1");
}
