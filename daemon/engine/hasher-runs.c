// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Runs of matching blocks, once found (hasher-internal.h): grown both ways
 * by the source's blocks where sampling left blocks out of the index, and,
 * for crc32c keys, short ones read back and compared before they go to the
 * kernel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/engine/hasher-internal.h"
#include "daemon/common/util.h"
#include "ioctl-compat/fiemap.h"

/* The source of a run, opened read-only; -errno if gone. */
static int extension_source(struct hash_state *hs, uint32_t id)
{
	if (hs->src_id == id)
		return hs->src_fd;
	if (hs->src_fd >= 0)
		close(hs->src_fd);
	hs->src_id = id;
	hs->src_fd = engine_open_file(hs->e, id);
	if (hs->src_fd >= 0) {
		struct stat st;

		hs->src_size = fstat(hs->src_fd, &st) < 0 ? 0 :
							    (uint64_t)st.st_size;
	}
	return hs->src_fd;
}

/* Whether block @d of the segment was keyed by its csum. */
static bool seg_by_csum(const struct hash_state *hs, uint64_t d)
{
	uint64_t i = d - hs->seg_start;

	return hs->seg_csum[i / 8] & (1u << (i % 8));
}

/*
 * The keys by csum of the source's blocks [@first, @first + @n) (at most
 * EXTEND_BLOCKS), as index_range() makes ours, into @keys: 0 where a block
 * has none.
 */
static void source_csum_keys(struct hash_state *hs, int fd, uint64_t first,
			     uint64_t n, uint64_t *keys)
{
	struct engine *e = hs->e;
	uint32_t bs = e->blksz;
	uint64_t lo = first * bs, hi = (first + n) * bs, last;
	struct fiemap_iter *it;
	struct extent ex;

	memset(keys, 0, n * sizeof(*keys));
	if (hs->src_size <= lo)
		return;
	if (hi > hs->src_size)
		hi = hs->src_size;
	last = (hs->src_size - 1) / bs;	/* the source's last block */
	if (fiemap_iter_open(fd, lo, hi, 0, &it) < 0)
		return;
	while (fiemap_iter_next(it, &ex) == 1) {
		uint64_t a = ex.logical > lo ? ex.logical : lo;
		uint64_t b = ex.logical + ex.length < hi ?
				     ex.logical + ex.length : hi;
		uint64_t k = a / bs, cnt = (b - a + bs - 1) / bs;
		uint32_t tail = k + cnt - 1 == last ? hs->src_size % bs : 0;

		if (!hasher_csum_extent(e, &ex) || a % bs || a >= b ||
		    csums_keys(e, ex.physical + (a - ex.logical), cnt, tail, 0,
			       hs->xkeys) != (int)cnt)
			continue;
		for (uint64_t i = 0; i < cnt; i++)
			keys[k - first + i] = hasher_salted(hs, hs->xkeys[i]);
	}
	fiemap_iter_free(it);
}

/*
 * Counts how many blocks, going from dst block @dst / src block @src in
 * direction @dir (+1 or -1), are the same in both, at most @max. The
 * destination's hashes are in the segment; the source's are read back.
 */
static uint64_t extend_count(struct hash_state *hs, int src_fd, uint64_t dst,
			     uint64_t src, int dir, uint64_t max)
{
	uint32_t bs = hs->e->blksz;
	uint64_t *ck = hs->xkeys + EXTEND_BLOCKS, n = 0;

	while (n < max) {
		uint64_t want = max - n < EXTEND_BLOCKS ? max - n : EXTEND_BLOCKS;
		uint64_t first = dir > 0 ? src + n : src - n - (want - 1);
		bool by_read = false, by_csum = false;
		ssize_t got = 0;
		uint64_t k;

		/* Our blocks keyed by csum compare with the source's csums,
		 * the others with its bytes. */
		for (k = 0; k < want; k++) {
			if (seg_by_csum(hs, dir > 0 ? dst + n + k : dst - n - k))
				by_csum = true;
			else
				by_read = true;
		}
		if (by_csum)
			source_csum_keys(hs, src_fd, first, want, ck);
		if (by_read) {
			got = pread(src_fd, hs->xbuf, want * bs,
				    (off_t)(first * bs));
			if (got <= 0)
				got = 0;
			atomic_fetch_add(&hs->e->st.bytes_read, (uint64_t)got);
		}
		for (k = 0; k < want; k++) {
			uint64_t i = dir > 0 ? k : want - 1 - k;
			uint64_t d = dir > 0 ? dst + n : dst - n;
			uint64_t have, h;

			if (seg_by_csum(hs, d)) {
				h = ck[i];
			} else {
				if (i * bs >= (uint64_t)got)
					return n;
				have = (uint64_t)got - i * bs;
				h = hasher_salted(hs, hasher_block_hash(hs->xbuf + i * bs,
							  have < bs ? have : bs,
							  bs, hs->zero_hash));
			}
			if (!h || h != hs->seg[d - hs->seg_start])
				return n;
			n++;
		}
	}
	return n;
}

/* Joins runs from @from on that grew into each other: one dedupe, one extent. */
static void merge_runs(struct file_job *job, size_t from)
{
	size_t i, out = from;

	if (job->nruns <= from + 1)
		return;
	for (i = from + 1; i < job->nruns; i++) {
		struct match_run *p = &job->runs[out], *r = &job->runs[i];

		/* A run ending with a tail is at EOF: nothing follows it. */
		if (r->src_id == p->src_id &&
		    p->src_blk + p->nblk == r->src_blk &&
		    p->dst_blk + p->nblk == r->dst_blk) {
			p->nblk += r->nblk;
			p->len += r->len;
		} else {
			job->runs[++out] = *r;
		}
	}
	job->nruns = out + 1;
}

/*
 * Sampling leaves most blocks out of the index: a run is found from the
 * blocks that were kept, then grown both ways while the source's blocks
 * read back equal ours. A run may grow over the runs after it (they found
 * the same data elsewhere, e.g. in a copy of the source): those are cut or
 * dropped, so a range is deduped in one piece. The kernel verifies whatever
 * we guess.
 */
void hasher_extend_runs(struct hash_state *hs, size_t first_run)
{
	struct file_job *job = hs->job;
	uint32_t bs = hs->e->blksz;
	uint64_t seg_end = hs->seg_start + hs->seg_used;
	uint64_t prev_end = hs->seg_start;
	size_t i, out = first_run;

	for (i = first_run; i < job->nruns; i++) {
		struct match_run r = job->runs[i];
		uint64_t max, n;
		int fd;

		if (r.dst_blk + r.nblk <= prev_end)
			continue;	/* covered by the run before */
		if (r.dst_blk < prev_end) {
			/* whole blocks: a tail is only ever a run's last */
			uint64_t cut = prev_end - r.dst_blk;

			r.dst_blk += cut;
			r.src_blk += cut;
			r.nblk -= cut;
			r.len -= cut * bs;
		}
		fd = extension_source(hs, r.src_id);
		if (fd >= 0) {
			max = r.dst_blk - prev_end;
			if (max > r.src_blk)
				max = r.src_blk;
			n = max ? extend_count(hs, fd, r.dst_blk - 1,
					       r.src_blk - 1, -1, max) : 0;
			r.dst_blk -= n;
			r.src_blk -= n;
			r.nblk += n;
			r.len += n * bs;
			/* a run that ends with the tail is at EOF already */
			if (!(hs->tail_len && r.dst_blk + r.nblk == hs->nblocks)) {
				max = seg_end - (r.dst_blk + r.nblk);
				n = max ? extend_count(hs, fd, r.dst_blk + r.nblk,
						       r.src_blk + r.nblk, 1,
						       max) : 0;
				r.nblk += n;
				r.len += n * bs;
				if (n && hs->tail_len &&
				    r.dst_blk + r.nblk == hs->nblocks)
					r.len -= bs - hs->tail_len;
			}
		}
		job->runs[out++] = r;
		prev_end = r.dst_blk + r.nblk;
	}
	job->nruns = out;
	merge_runs(job, first_run ? first_run - 1 : 0);
}

/* Whether [dst, +len) of the file reads the same as [src, +len) of @fd. */
static bool reads_same(struct hash_state *hs, int fd, uint64_t dst,
		       uint64_t src, uint64_t len)
{
	uint8_t *a = hs->xbuf, *b = hs->xbuf + len;
	ssize_t na = pread(hs->job->fd, a, len, (off_t)dst);
	ssize_t nb = pread(fd, b, len, (off_t)src);

	atomic_fetch_add(&hs->e->st.bytes_read,
			 (na > 0 ? (uint64_t)na : 0) + (nb > 0 ? (uint64_t)nb : 0));
	return na == (ssize_t)len && nb == (ssize_t)len && !memcmp(a, b, len);
}

/*
 * Joins two runs of one source whose gap is the same in both files, a few
 * blocks wide, and reads the same: blocks whose key a false crc32c twin
 * took in the index, so that their lookup found the twin (refuted) and not
 * the source that holds them too.
 */
static void bridge_gaps(struct hash_state *hs)
{
	struct file_job *job = hs->job;
	uint32_t bs = hs->e->blksz;
	size_t i, out = 0;

	for (i = 1; i < job->nruns; i++) {
		struct match_run *p = &job->runs[out];
		const struct match_run *r = &job->runs[i];
		uint64_t dend = p->dst_blk + p->nblk, send = p->src_blk + p->nblk;
		uint64_t gap = r->dst_blk - dend;
		int fd;

		if (r->src_id == p->src_id && r->dst_blk > dend &&
		    r->src_blk > send && r->src_blk - send == gap &&
		    gap < CSUM_WEAK_RUN && p->len == p->nblk * bs &&
		    (fd = extension_source(hs, r->src_id)) >= 0 &&
		    reads_same(hs, fd, dend * bs, send * bs, gap * bs)) {
			p->nblk += gap + r->nblk;
			p->len += gap * bs + r->len;
			continue;
		}
		job->runs[++out] = *r;
	}
	if (job->nruns)
		job->nruns = out + 1;
}

/*
 * crc32c: a run shorter than CSUM_WEAK_RUN blocks may be a false twin. Its
 * blocks and the source's are read back and compared; a run that differs
 * is dropped, counted as a refuted hint. Then short gaps are bridged.
 */
void hasher_confirm_short_runs(struct hash_state *hs)
{
	struct file_job *job = hs->job;
	uint32_t bs = hs->e->blksz;
	size_t i, out = 0;

	if (!hs->xbuf)
		hs->xbuf = xmalloc((size_t)EXTEND_BLOCKS * bs);
	for (i = 0; i < job->nruns; i++) {
		const struct match_run *r = &job->runs[i];
		int fd;

		if (r->nblk < CSUM_WEAK_RUN) {
			fd = extension_source(hs, r->src_id);
			if (fd < 0 || !reads_same(hs, fd, r->dst_blk * bs,
						  r->src_blk * bs, r->len)) {
				atomic_fetch_add(&hs->e->st.hints_refuted, 1);
				continue;
			}
		}
		job->runs[out++] = *r;
	}
	job->nruns = out;
	bridge_gaps(hs);
}
