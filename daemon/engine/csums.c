// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Block keys from btrfs's data checksums. See csums.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <linux/btrfs_tree.h>

#include "daemon/engine/csums.h"
#include "daemon/engine/engine.h"

#define CSUM_SEED 0xc5c5ULL	/* keys of csums: not hashes of bytes */
#define CSUM_TAIL_SEED 0x7a1c5ULL
#define WINDOW_BYTES (16ULL << 20)	/* of data: 16 KiB of crc32c */

/*
 * The csum of a zero 4 KiB sector, by type (crc32c, xxhash64, sha256,
 * blake2b-256), as btrfs stores it; test 063 checks each against the csum
 * tree of a filesystem made with that type.
 */
static const uint8_t zero_4k[4][BTRFS_CSUM_MAX_SIZE] = {
	{ 0x89, 0x41, 0xf9, 0x98 },
	{ 0xdb, 0xbb, 0xd8, 0x32, 0x6f, 0x9b, 0x86, 0xac },
	{ 0xad, 0x7f, 0xac, 0xb2, 0x58, 0x6f, 0xc6, 0xe9, 0x66, 0xc0, 0x04,
	  0xd7, 0xd1, 0xd1, 0x6b, 0x02, 0x4f, 0x58, 0x05, 0xff, 0x7c, 0xb4,
	  0x7c, 0x7a, 0x85, 0xda, 0xbd, 0x8b, 0x48, 0x89, 0x2c, 0xa7 },
	{ 0x68, 0x6e, 0xde, 0x92, 0x88, 0xc3, 0x91, 0xe7, 0xe0, 0x50, 0x26,
	  0xe5, 0x6f, 0x2f, 0x91, 0xbf, 0xd8, 0x79, 0x98, 0x7a, 0x04, 0x0e,
	  0xa9, 0x84, 0x45, 0xda, 0xbc, 0x76, 0xf5, 0x5b, 0x8e, 0x5f },
};

/* A window of csums and how it was read. */
struct window {
	struct btrfs_csum_window w;
	uint64_t min_transid;	/* what it was read with */
	unsigned int epoch;	/* the engine's csum.epoch when it was read */
};

/*
 * Each hashing thread's windows: two, so that growing a run (our blocks
 * against a source's elsewhere) does not read one window again and again.
 */
struct thread_window {
	struct window v[2];
	unsigned int last;	/* the one used last */
};

static pthread_key_t window_key;
static pthread_once_t window_once = PTHREAD_ONCE_INIT;

static void window_free(void *p)
{
	struct thread_window *tw = p;

	btrfs_csum_window_free(&tw->v[0].w);
	btrfs_csum_window_free(&tw->v[1].w);
	free(tw);
}

static void window_key_make(void)
{
	(void)pthread_key_create(&window_key, window_free);
}

static struct thread_window *thread_window(void)
{
	struct thread_window *tw;

	(void)pthread_once(&window_once, window_key_make);
	tw = pthread_getspecific(window_key);
	if (!tw) {
		tw = calloc(1, sizeof(*tw));
		if (tw && pthread_setspecific(window_key, tw)) {
			free(tw);
			tw = NULL;
		}
	}
	return tw;
}

void csums_new_batch(struct engine *e)
{
	atomic_fetch_add(&e->csum.epoch, 1);
}

void csums_setup(struct engine *e, int fd)
{
	struct btrfs_csum_info ci;
	struct btrfs_csum_window w = { 0 };

	e->csum.on = false;
	e->csum.weak = false;
	e->csum.zero = NULL;
	if (e->read_all || e->fs.kind != FS_BTRFS || fd < 0 ||
	    btrfs_csum_info(fd, &ci) < 0 || ci.sectorsize != e->blksz)
		return;
	/* The search needs CAP_SYS_ADMIN: try one. */
	if (btrfs_csums_read(fd, &ci, 0, ci.sectorsize, 0, &w) < 0)
		return;
	btrfs_csum_window_free(&w);
	e->csum.on = true;
	e->csum.ci = ci;
	e->csum.weak = ci.type == BTRFS_CSUM_TYPE_CRC32;
	if (ci.sectorsize == 4096 && ci.type < 4)
		e->csum.zero = zero_4k[ci.type];
}

/*
 * A window of @tw holding [phys, phys + len): one that does, or the other one
 * read again. Returns it, or NULL with *@ret set to -errno.
 */
static const struct btrfs_csum_window *
window_cover(struct engine *e, struct thread_window *tw, uint64_t phys,
	     uint64_t len, uint64_t min_transid, int *ret)
{
	unsigned int epoch = atomic_load(&e->csum.epoch), i;
	struct window *v;
	uint64_t before;

	for (i = 0; i < 2; i++) {
		v = &tw->v[tw->last ^ i];
		if (v->w.len && phys >= v->w.start &&
		    phys + len <= v->w.start + v->w.len &&
		    v->min_transid <= min_transid && v->epoch == epoch) {
			tw->last ^= i;
			return &v->w;
		}
	}
	tw->last ^= 1;		/* the one used less lately */
	v = &tw->v[tw->last];
	before = v->w.bytes_read;
	*ret = btrfs_csums_read(e->mount_fd, &e->csum.ci, phys,
				len > WINDOW_BYTES ? len : WINDOW_BYTES,
				min_transid, &v->w);
	atomic_fetch_add(&e->st.bytes_csums_read, v->w.bytes_read - before);
	v->epoch = epoch;
	v->min_transid = min_transid;
	return *ret < 0 ? NULL : &v->w;
}

int csums_keys(struct engine *e, uint64_t phys, uint64_t n,
	       uint32_t tail_len, uint64_t min_transid, uint64_t *keys)
{
	struct thread_window *tw = thread_window();
	const struct btrfs_csum_window *w;
	uint32_t bs = e->blksz, size = e->csum.ci.size;
	uint64_t i;
	int ret = 0;

	if (!tw)
		return -ENOMEM;
	if (!n || phys % bs)
		return 0;
	w = window_cover(e, tw, phys, n * bs, min_transid, &ret);
	if (!w)
		return ret;
	for (i = 0; i < n; i++) {
		const uint8_t *c = btrfs_csum_get(w, phys + i * bs);
		bool tail = tail_len && i == n - 1;
		uint64_t k;

		if (!c)
			return 0;
		if (!tail && e->csum.zero && !memcmp(c, e->csum.zero, size)) {
			keys[i] = 0;
			continue;
		}
		k = XXH3_64bits_withSeed(c, size, tail ?
					 CSUM_TAIL_SEED + tail_len :
					 CSUM_SEED + e->csum.ci.type);
		keys[i] = k ? k : 1;	/* 0 means "no hash" */
	}
	return (int)n;
}
