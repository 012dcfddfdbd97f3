// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: the status, as one line of JSON for `dedupd status` and as
 * a log line for SIGUSR1.
 */
#include <pthread.h>
#include <unistd.h>

#include "daemon/common/djson.h"
#include "daemon/common/log.h"
#include "daemon/service/internal.h"
#include "ioctl-compat/fsprobe.h"

#define FST(f, x) ((unsigned long long)atomic_load(&(f)->e.st.x))

/* Seconds since @f's last checkpoint at @now, or -1 if it had none yet. */
static double checkpoint_age(const struct wfs *f, double now)
{
	return f->last_checkpoint ? now - f->last_checkpoint : -1;
}

/* One filesystem's part of the status. W.lock held. */
static json_t *status_fs_json(struct wfs *f, double now)
{
	struct hashdb_stats ix;
	char uuid[40];

	fs_uuid_format(f->e.fs.uuid, uuid);
	hashdb_get_stats(f->e.db, &ix);
	{
		struct djson_field fields[] = {
			DJSON_STR("mount", f->mount),
			DJSON_STR("fs", f->e.fs.name),
			DJSON_STR("uuid", uuid),
			DJSON_STR("index", f->db_path),
			DJSON_U64("queue", f->q.nqueued),
			DJSON_U64("in_flight", f->q.nflight),
			DJSON_U64("events", f->events),
			DJSON_U64("overflows", f->overflows),
			DJSON_U64("catchups", f->catchups),
			DJSON_REAL("last_checkpoint", checkpoint_age(f, now), 1),
			DJSON_U64("checkpoint_gen", f->saved_gen),
			DJSON_U64("files_taken", FST(f, files_seen)),
			DJSON_U64("files_scanned", FST(f, files_scanned)),
			DJSON_U64("files_unchanged", FST(f, files_unchanged)),
			DJSON_U64("files_vanished", FST(f, files_vanished)),
			DJSON_U64("files_changed", FST(f, files_changed)),
			DJSON_U64("files_special", FST(f, files_special)),
			DJSON_U64("files_replaced", FST(f, files_replaced)),
			DJSON_U64("too_deep", FST(f, too_deep)),
			DJSON_U64("files_unreadable", FST(f, files_unreadable)),
			/* dedupes and defrag chunks that failed */
			DJSON_U64("errors", FST(f, errors) + f->dstats.errors),
			DJSON_U64("bytes_hashed", FST(f, bytes_hashed)),
			DJSON_U64("bytes_duplicate", FST(f, bytes_duplicate)),
			DJSON_U64("bytes_deduped", FST(f, bytes_deduped)),
			DJSON_I64("bytes_freed", f->bytes_freed),
			DJSON_U64("rounds", f->rounds),
			DJSON_U64("index_cells_used", ix.cells_used),
			DJSON_U64("index_files", ix.files),
			DJSON_U64("subvolumes", f->nsubvols),
			DJSON_U64("defrag_queue", f->dq_n),
			DJSON_U64("files_defragged", f->dstats.files_defragged),
			DJSON_U64("defrag_extents_before",
				  f->dstats.extents_before),
			DJSON_U64("defrag_extents_after",
				  f->dstats.extents_after),
			DJSON_U64("defrag_bytes_moved", f->dstats.bytes_moved),
			DJSON_U64("defrag_bytes_relinked",
				  f->dstats.bytes_relinked),
		};

		return djson_object(fields, DJSON_NFIELDS(fields));
	}
}

/* The status as one line of JSON, malloc'd; NULL when out of memory. */
char *status_json(void)
{
	unsigned long long q = 0, fl = 0, ev = 0, own = 0, ov = 0, cu = 0,
			   taken = 0, hashed = 0, dup = 0, ded = 0, reloc = 0,
			   rel = 0, errors = 0;
	long long freed = 0;
	double last_cp = -1, now = now_wall();
	bool catching = false;
	json_t *fss = json_array(), *status;
	char *line;
	int i;

	pthread_mutex_lock(&W.lock);
	for (i = 0; i < W.nfs; i++) {
		struct wfs *f = &W.fs[i];

		q += f->q.nqueued;
		fl += f->q.nflight;
		ev += f->events;
		own += f->events_own;
		ov += f->overflows;
		cu += f->catchups;
		taken += FST(f, files_seen);
		hashed += FST(f, bytes_hashed);
		dup += FST(f, bytes_duplicate);
		ded += FST(f, bytes_deduped);
		reloc += FST(f, bytes_relocated);
		rel += FST(f, bytes_relinked);
		freed += f->bytes_freed;
		catching |= f->need_catchup || f->catching_up;
		if (checkpoint_age(f, now) >= 0 &&
		    (last_cp < 0 || checkpoint_age(f, now) < last_cp))
			last_cp = checkpoint_age(f, now);
		errors += FST(f, errors) + f->dstats.errors;
		/* out of memory: no array, so no status either */
		if (json_array_append_new(fss, status_fs_json(f, now)) < 0) {
			json_decref(fss);
			fss = NULL;
		}
	}
	{
		struct djson_field fields[] = {
			DJSON_I64("pid", getpid()),
			DJSON_REAL("uptime", now - W.start, 1),
			DJSON_STR("state", W.state),
			DJSON_BOOL("idle", !q && !fl && !catching),
			DJSON_U64("queue", q),
			DJSON_U64("in_flight", fl),
			DJSON_U64("events", ev),
			DJSON_U64("events_own", own),
			DJSON_U64("overflows", ov),
			DJSON_U64("catchups", cu),
			DJSON_BOOL("catching_up", catching),
			DJSON_U64("files_taken", taken),
			DJSON_U64("bytes_hashed", hashed),
			DJSON_U64("bytes_duplicate", dup),
			DJSON_U64("bytes_deduped", ded),
			DJSON_U64("bytes_relocated", reloc),
			DJSON_U64("bytes_relinked", rel),
			DJSON_I64("bytes_freed", freed),
			DJSON_U64("errors", errors),
			DJSON_REAL("last_checkpoint", last_cp, 1),
			DJSON_VALUE("filesystems", fss),
		};

		status = djson_object(fields, DJSON_NFIELDS(fields));
	}
	pthread_mutex_unlock(&W.lock);
	line = djson_dump_line(status);
	json_decref(status);
	return line;
}

void status_line(void)
{
	char b1[32], b2[32], b3[32];
	unsigned long long q = 0, ev = 0, ov = 0, hashed = 0, ded = 0;
	long long freed = 0;
	int i;

	pthread_mutex_lock(&W.lock);
	for (i = 0; i < W.nfs; i++) {
		q += W.fs[i].q.nqueued + W.fs[i].q.nflight;
		ev += W.fs[i].events;
		ov += W.fs[i].overflows;
		hashed += FST(&W.fs[i], bytes_hashed);
		ded += FST(&W.fs[i], bytes_deduped);
		freed += W.fs[i].bytes_freed;
	}
	log_msg(LOG_LVL_ERROR,
		"status: %s, %llu files queued, %llu events, %llu overflows, hashed %s, deduped %s, freed %s%s",
		W.state, q, ev, ov, fmt_bytes(hashed, b1, sizeof(b1)),
		fmt_bytes(ded, b2, sizeof(b2)), freed < 0 ? "-" : "",
		fmt_bytes((uint64_t)(freed < 0 ? -freed : freed), b3,
			  sizeof(b3)));
	pthread_mutex_unlock(&W.lock);
}
