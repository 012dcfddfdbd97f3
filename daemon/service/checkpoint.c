// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: checkpoints. The index, the defrag queue and, on btrfs, the
 * state file (the transaction id all is done up to, see internal.h) are
 * saved; an index lost to a full filesystem is made afresh here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/common/log.h"
#include "daemon/engine/index.h"
#include "daemon/service/internal.h"

int load_state(struct wfs *f)
{
	char line[128];
	unsigned long long gen;
	FILE *fp = fopen(f->state_path, "re");
	int ok = 0;

	if (!fp)
		return errno == ENOENT ? 0 : -errno;
	if (fgets(line, sizeof(line), fp) &&
	    !strcmp(line, "dedupd-state 1\n") && fgets(line, sizeof(line), fp) &&
	    sscanf(line, "gen %llu\n", &gen) == 1) {
		f->saved_gen = gen;
		ok = 1;
	}
	fclose(fp);
	if (!ok)
		log_warn("state '%s' is damaged, catching up on everything",
			 f->state_path);
	return ok;
}

static int save_state(struct wfs *f, uint64_t gen)
{
	char tmp[PATH_MAX + 8];
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", f->state_path);
	fp = fopen(tmp, "we");
	if (!fp)
		return -errno;
	fprintf(fp, "dedupd-state 1\ngen %llu\n", (unsigned long long)gen);
	return commit_file(fp, tmp, f->state_path);
}

/*
 * The index was lost (SIGBUS on its mapping: no room on its filesystem).
 * It goes on in memory; a new one is made on disk as soon as there is
 * room, and a catch-up from the start fills it. Until then nothing is
 * saved: a restart catches up on everything.
 */
static bool replace_lost_index(struct wfs *f)
{
	int ret;

	if (!index_lost(&f->e, f->db_path))
		return false;
	pthread_mutex_lock(&f->e.db_lock);
	ret = index_reopen(&f->e, f->root_fd, f->db_path, W.o.db_size);
	pthread_mutex_unlock(&f->e.db_lock);
	if (ret < 0) {
		if (!f->index_retry_said)
			log_warn("cannot make index '%s' afresh: %s, keeping it in memory and trying again at each checkpoint",
				 f->db_path, strerror(-ret));
		f->index_retry_said = true;
		return true;
	}
	log_warn("index '%s' made afresh, catching up on '%s' from the start",
		 f->db_path, f->mount);
	f->index_retry_said = false;
	pthread_mutex_lock(&W.lock);
	f->need_catchup = true;
	f->catchup_from = 0;
	f->saved_gen = 0;
	pthread_mutex_unlock(&W.lock);
	return false;
}

/* Saves the index, and on btrfs the transaction id all is done up to. */
void checkpoint(struct wfs *f)
{
	uint64_t k;
	int ret;

	if (replace_lost_index(f)) {
		pthread_mutex_lock(&W.lock);
		f->last_checkpoint = now_wall();
		f->checkpoint_now = false;
		pthread_mutex_unlock(&W.lock);
		return;
	}
	ret = index_save(&f->e);
	if (ret < 0)
		log_warn("cannot save index '%s': %s", f->db_path,
			 strerror(-ret));
	ret = defrag_queue_save(f);
	if (ret < 0)
		log_warn("cannot save the defrag queue '%s': %s",
			 f->defrag_path, strerror(-ret));
	pthread_mutex_lock(&W.lock);
	k = f->drained_gen;
	if (f->need_catchup || f->catching_up)
		k = f->catchup_from < k ? f->catchup_from : k;
	k = wqueue_floor(&f->q, k);
	if (k < f->saved_gen)
		k = f->saved_gen;
	pthread_mutex_unlock(&W.lock);
	if (f->btrfs) {
		ret = save_state(f, k);
		if (ret < 0)
			log_warn("cannot save state '%s': %s", f->state_path,
				 strerror(-ret));
		else
			f->saved_gen = k;
	}
	pthread_mutex_lock(&W.lock);
	f->last_checkpoint = now_wall();
	f->dirty = false;
	f->checkpoint_now = false;
	pthread_mutex_unlock(&W.lock);
	log_debug("checkpoint of '%s' (generation %llu)", f->mount,
		  (unsigned long long)k);
}
