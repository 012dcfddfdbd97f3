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

/* Signals go to the main loop through a signalfd. Returns it, or -errno. */
static int signals_open(void)
{
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return -errno;
	return sfd;
}

/*
 * The control socket, then each filesystem of W.o. Returns EXIT_OK, or an
 * exit status with the reason logged (what was set up stays in W, for
 * shut_down()).
 */
static int set_up(void)
{
	int i, ret;

	W.listen_fd = listen_socket(W.sock_path);
	if (W.listen_fd < 0) {
		if (W.listen_fd == -EADDRINUSE) {
			log_error("another dedupd watch answers on '%s'",
				  W.sock_path);
			return EXIT_INDEX_LOCKED;
		}
		log_error("cannot listen on '%s': %s", W.sock_path,
			  strerror(-W.listen_fd));
		return EXIT_RUNTIME;
	}
	for (i = 0; i < W.o.nmounts; i++) {
		struct wfs *f = &W.fs[W.nfs++];

		/* Copied: a reload frees the configuration it came from. */
		f->mount = xstrdup(W.o.mounts[i]);
		ret = setup_fs(f, &W.o);
		if (ret != EXIT_OK)
			return ret;
		for (int j = 0; j < i; j++)
			if (!memcmp(W.fs[j].e.fs.uuid, f->e.fs.uuid, 16)) {
				log_error("'%s' and '%s' are the same filesystem: give one of them",
					  W.fs[j].mount, f->mount);
				return EXIT_USAGE;
			}
	}
	return EXIT_OK;
}

/* Reads the signals that arrived. Returns true if one asks to stop. */
static bool read_signals(int sfd)
{
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
	return stop;
}

/*
 * The main thread: events, signals and control clients, until a signal
 * asks to stop (or poll fails).
 */
static void main_loop(int sfd)
{
	struct pollfd pfd[MAX_MOUNTS + 2];
	int i, ret;

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
		if ((pfd[W.nfs].revents & POLLIN) && read_signals(sfd))
			break;
		if (pfd[W.nfs + 1].revents & POLLIN)
			serve_client(W.listen_fd);
	}
}

/*
 * Stops the threads (NULL: not started), answers the scans still queued,
 * checkpoints and tears down every filesystem, and frees the options.
 */
static void shut_down(pthread_t *worker_tid, pthread_t *defrag_tid)
{
	int i;

	pass_stop = 1;
	pthread_mutex_lock(&W.lock);
	W.stopping = true;
	pthread_mutex_unlock(&W.lock);
	pthread_cond_broadcast(&W.cond);
	if (worker_tid)
		pthread_join(*worker_tid, NULL);
	if (defrag_tid)
		pthread_join(*defrag_tid, NULL);
	while (W.requests) {
		struct request *r = W.requests;

		W.requests = r->next;
		answer(r->fd, "rc 130\nthe daemon is stopping\n");
		free_request(r);
	}
	for (i = 0; i < W.nfs; i++) {
		/* Events read since the last round stay owed. */
		if (worker_tid)
			checkpoint(&W.fs[i]);
		teardown_fs(&W.fs[i]);
	}
	if (W.listen_fd >= 0) {
		close(W.listen_fd);
		(void)unlink(W.sock_path);
	}
	watch_opts_free(&W.o);
	config_free(&W.conf);
}

int watch_run(struct watch_opts *o, struct config *conf, watch_load_fn *load,
	      int argc, char **argv)
{
	pthread_t tid, dtid;
	int sfd, rc;
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
	sfd = signals_open();
	if (sfd < 0) {
		log_error("signalfd: %s", strerror(-sfd));
		return EXIT_RUNTIME;
	}
	raise_fd_limit();
	set_io_class(W.o.io_class);

	rc = set_up();
	if (rc != EXIT_OK)
		goto out;
	rc = EXIT_RUNTIME;
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
	main_loop(sfd);
	(void)sd_notify_send("STOPPING=1");
	log_info("stopping: finishing the files in flight");
	rc = EXIT_OK;
out:
	shut_down(worker_started ? &tid : NULL,
		  defragger_started ? &dtid : NULL);
	close(sfd);
	return rc;
}
