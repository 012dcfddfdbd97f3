// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: the events. The main thread reads each filesystem's fanotify
 * queue and decodes it into its queue of files (queue.c); it notes the
 * generation drained, for the checkpoint, and an overflow, for a catch-up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "daemon/common/log.h"
#include "daemon/service/internal.h"
#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/fanotify.h"

void read_events(struct wfs *f)
{
	static uint8_t buf[64 << 10] __attribute__((aligned(8)));
	pid_t self = getpid();

	for (;;) {
		struct fan_iter it;
		struct fan_event ev;
		uint64_t gen = 0;
		ssize_t n;
		double now;
		int ret;

		if (f->btrfs && btrfs_fs_generation(f->top_fd, &gen) < 0)
			gen = 0;
		n = read(f->fan_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN)
				log_warn("cannot read events of '%s': %s",
					 f->mount, strerror(errno));
			/* Empty: every write up to gen has been read. */
			pthread_mutex_lock(&W.lock);
			if (gen > f->drained_gen)
				f->drained_gen = gen;
			pthread_mutex_unlock(&W.lock);
			return;
		}
		now = now_wall();
		fan_iter_init(&it, buf, (size_t)n);
		pthread_mutex_lock(&W.lock);
		while ((ret = fan_iter_next(&it, &ev)) == 1) {
			if (ev.mask & FAN_Q_OVERFLOW) {
				/* Lost events were of writes after what
				 * was drained and queued: catch up from
				 * there. */
				uint64_t k = wqueue_floor(&f->q,
							  f->drained_gen);

				f->overflows++;
				if (!f->need_catchup && !f->catching_up) {
					log_warn("event queue of '%s' overflowed: catching up",
						 f->mount);
					f->catchup_from = k;
				} else if (k < f->catchup_from) {
					f->catchup_from = k;
				}
				f->need_catchup = true;
				continue;
			}
			if (ev.pid == self) {
				f->events_own++;
				continue;
			}
			f->events++;
			f->last_event = now;
			if (ev.has_handle)
				wqueue_note(&f->q, &ev.handle,
					    ev.has_name ? &ev.dir : NULL,
					    ev.has_name ? ev.name : NULL, now,
					    f->drained_gen);
		}
		pthread_mutex_unlock(&W.lock);
		pthread_cond_broadcast(&W.cond);
		if (ret < 0)
			log_warn("malformed fanotify event on '%s', skipping the rest of the buffer",
				 f->mount);
	}
}
