// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dedupd watch: the daemon's entry point and main loop. watch_run() sets up
 * each filesystem, starts the worker and defrag threads, and then the main
 * thread waits in poll(2) for fanotify events, signals and control clients
 * until SIGTERM or SIGINT; then it stops the threads and checkpoints. The
 * design and the state the threads share: internal.h.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/common/client.h"
#include "daemon/common/log.h"
#include "daemon/service/internal.h"
#include "daemon/service/sdnotify.h"
#include "daemon/service/watch.h"

struct watch_daemon W = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.listen_fd = -1,
	.state = "starting",
	.requests_tail = &W.requests,
};

void watch_opts_free(struct watch_opts *o)
{
	free(o->includes);
	free(o->excludes);
	memset(o, 0, sizeof(*o));
}

static void set_io_class(int cls)
{
	/* IOPRIO_WHO_PROCESS, class << IOPRIO_CLASS_SHIFT (13); threads
	 * created afterwards inherit it. */
	if (cls && syscall(SYS_ioprio_set, 1, 0, cls << 13) < 0)
		log_warn("cannot set the I/O class: %s", strerror(errno));
}

int watch_run(struct watch_opts *o, struct config *conf, watch_load_fn *load,
	      int argc, char **argv)
{
	struct pollfd pfd[MAX_MOUNTS + 2];
	char run_dir[PATH_MAX], *slash;
	pthread_t tid, dtid;
	sigset_t mask;
	int sfd = -1, rc = EXIT_RUNTIME, i, ret;
	bool worker_started = false, defragger_started = false;

	W.argc = argc;
	W.argv = argv;
	W.load = load;
	W.o = *o;
	W.conf = *conf;
	if (geteuid() != 0)
		log_warn("not running as root: fanotify filesystem marks need CAP_SYS_ADMIN");
	W.start = now_wall();
	snprintf(W.sock_path, sizeof(W.sock_path), "%s",
		 watch_socket_path(W.o.socket_path));
	snprintf(run_dir, sizeof(run_dir), "%s", W.sock_path);
	slash = strrchr(run_dir, '/');
	if (slash && slash != run_dir)
		*slash = '\0';
	else
		snprintf(run_dir, sizeof(run_dir), "/run/dedupd");

	/* Signals go to the main loop through a signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	raise_fd_limit();
	set_io_class(W.o.io_class);

	W.listen_fd = listen_socket(W.sock_path);
	if (W.listen_fd < 0) {
		if (W.listen_fd == -EADDRINUSE) {
			log_error("another dedupd watch answers on '%s'",
				  W.sock_path);
			rc = EXIT_INDEX_LOCKED;
		} else {
			log_error("cannot listen on '%s': %s", W.sock_path,
				  strerror(-W.listen_fd));
		}
		goto out;
	}
	for (i = 0; i < W.o.nmounts; i++) {
		struct wfs *f = &W.fs[W.nfs++];

		/* Copied: a reload frees the configuration it came from. */
		f->mount = xstrdup(W.o.mounts[i]);
		ret = setup_fs(f, &W.o, run_dir);
		if (ret != EXIT_OK) {
			rc = ret;
			goto out;
		}
		for (int j = 0; j < i; j++)
			if (!memcmp(W.fs[j].e.fs.uuid, f->e.fs.uuid, 16)) {
				log_error("'%s' and '%s' are the same filesystem: give one of them",
					  W.fs[j].mount, f->mount);
				rc = EXIT_USAGE;
				goto out;
			}
	}
	if (pthread_create(&tid, NULL, worker, NULL)) {
		log_error("cannot start the worker thread");
		goto out;
	}
	worker_started = true;
	if (pthread_create(&dtid, NULL, defragger, NULL) == 0)
		defragger_started = true;
	(void)sd_notify_send("READY=1");
	log_info("ready: %d filesystem%s, socket '%s'", W.nfs,
		 W.nfs == 1 ? "" : "s", W.sock_path);

	for (;;) {
		int n = 0;

		for (i = 0; i < W.nfs; i++)
			pfd[n++] = (struct pollfd){ .fd = W.fs[i].fan_fd,
						    .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = W.listen_fd,
					    .events = POLLIN };
		/* Blocks until something happens: no timer, no polling. */
		ret = poll(pfd, (nfds_t)n, -1);
		if (ret < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}
		for (i = 0; i < W.nfs; i++)
			if (pfd[i].revents & POLLIN)
				read_events(&W.fs[i]);
		if (pfd[W.nfs].revents & POLLIN) {
			struct signalfd_siginfo si;
			bool stop = false;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					reload();
				else if (si.ssi_signo == SIGUSR1)
					status_line();
				else
					stop = true;
			}
			if (stop)
				break;
		}
		if (pfd[W.nfs + 1].revents & POLLIN)
			serve_client(W.listen_fd);
	}
	(void)sd_notify_send("STOPPING=1");
	log_info("stopping: finishing the files in flight");
	rc = EXIT_OK;
out:
	pass_stop = 1;
	pthread_mutex_lock(&W.lock);
	W.stopping = true;
	pthread_mutex_unlock(&W.lock);
	pthread_cond_broadcast(&W.cond);
	if (worker_started)
		pthread_join(tid, NULL);
	if (defragger_started)
		pthread_join(dtid, NULL);
	while (W.requests) {
		struct request *r = W.requests;

		W.requests = r->next;
		answer(r->fd, "rc 130\nthe daemon is stopping\n");
		free_request(r);
	}
	for (i = 0; i < W.nfs; i++) {
		/* Events read since the last round stay owed. */
		if (worker_started)
			checkpoint(&W.fs[i]);
		teardown_fs(&W.fs[i]);
	}
	if (W.listen_fd >= 0) {
		close(W.listen_fd);
		(void)unlink(W.sock_path);
	}
	if (sfd >= 0)
		close(sfd);
	watch_opts_free(&W.o);
	config_free(&W.conf);
	return rc;
}
