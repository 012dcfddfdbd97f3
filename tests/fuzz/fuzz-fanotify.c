// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzzes the decoding of fanotify event records (ioctl-compat/fanotify.c):
 * the input is what read(2) on the group's fd returned, at an odd address
 * (nothing may assume alignment) and in a buffer exactly that long.
 *
 * The decoder closes an event's fd (a group in FD mode): close() is
 * wrapped (-Wl,--wrap=close) so that a fuzzed fd number closes nothing of
 * the fuzzer's while the decoder runs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ioctl-compat/fanotify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __real_close(int fd);
int __wrap_close(int fd);

static bool decoding;

int __wrap_close(int fd)
{
	if (decoding)
		return 0;
	return __real_close(fd);
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

static void check_event(const struct fan_event *ev)
{
	if (ev->has_handle) {
		if (ev->handle.len == 0 || ev->handle.len > FILE_HANDLE_MAX)
			abort();
	} else if (!all_zero(&ev->handle, sizeof(ev->handle))) {
		abort();
	}
	if (ev->has_name) {
		size_t n = strnlen(ev->name, sizeof(ev->name));

		if (n == 0 || n > FAN_NAME_MAX || ev->dir.len == 0 ||
		    ev->dir.len > FILE_HANDLE_MAX)
			abort();
	} else if (!all_zero(&ev->dir, sizeof(ev->dir)) ||
		   !all_zero(ev->name, sizeof(ev->name))) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fan_event ev;
	struct fan_iter it;
	size_t events = 0;
	uint8_t *buf;
	int ret;

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf + 1, data, size);
	fan_iter_init(&it, buf + 1, size);
	decoding = true;
	while ((ret = fan_iter_next(&it, &ev)) == 1) {
		check_event(&ev);
		/* Each event is at least its metadata long. */
		if (++events > size / FAN_EVENT_METADATA_LEN)
			abort();
	}
	decoding = false;
	if (ret != 0 && ret != -EINVAL)
		abort();
	/* Done means done: the iterator stays at its end. */
	if (fan_iter_next(&it, &ev) != 0)
		abort();
	free(buf);
	return 0;
}
