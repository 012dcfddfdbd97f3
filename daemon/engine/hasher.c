// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hash one file and match it against the index.
 *
 * Only data extents are read (holes and preallocated ranges are not data),
 * with large sequential reads. Each full block is hashed with xxh3; the
 * partial block at EOF gets a hash seeded with its length, so it can match
 * only an identical tail. All-zero blocks are left out: sharing them would
 * pile references on one extent for no gain over a hole. Whether a file is
 * to be hashed at all, and its record in the index, are hasher-file.c's.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "daemon/engine/hasher-internal.h"
#include "daemon/engine/engine.h"
#include "daemon/common/log.h"
#include "daemon/engine/phys.h"
#include "daemon/engine/plan.h"
#include "daemon/common/util.h"
#include "ioctl-compat/btrfs.h"
#include "ioctl-compat/handle.h"

#define TAIL_SEED 0x7a11ULL
#define DOMAIN_SEED 0xd0a1ULL

static bool block_is_zero(const uint8_t *p, size_t len)
{
	static const uint8_t zero[64];

	for (size_t i = 0; i < len; i += sizeof(zero))
		if (memcmp(p + i, zero, sizeof(zero)))
			return false;
	return true;
}

static void digest_add(struct hash_state *hs, uint64_t h)
{
	if (!h) {
		hs->zero_run++;
		return;
	}
	if (hs->zero_run) {
		uint64_t mark[2] = { 0, hs->zero_run };

		XXH3_64bits_update(hs->digest, mark, sizeof(mark));
		hs->zero_run = 0;
	}
	XXH3_64bits_update(hs->digest, &h, sizeof(h));
}

/* Adds the zero/hole blocks up to @blk to the digest. */
static void digest_skip_to(struct hash_state *hs, uint64_t *next_blk,
			   uint64_t blk)
{
	if (blk > *next_blk)
		hs->zero_run += blk - *next_blk;
	*next_blk = blk;
}

static void add_run(struct file_job *job, uint32_t src_id, uint64_t src_blk,
		    uint64_t dst_blk, uint64_t len)
{
	struct match_run *r = job->nruns ? &job->runs[job->nruns - 1] : NULL;

	if (r && r->src_id == src_id && r->src_blk + r->nblk == src_blk &&
	    r->dst_blk + r->nblk == dst_blk) {
		r->nblk++;
		r->len += len;
		return;
	}
	job->runs = grow_array(job->runs, &job->cap_runs, job->nruns + 1,
			       sizeof(*job->runs));
	job->runs[job->nruns++] = (struct match_run){
		.src_id = src_id,
		.src_blk = src_blk,
		.dst_blk = dst_blk,
		.nblk = 1,
		.len = len,
	};
}

uint64_t hasher_block_hash(const uint8_t *p, size_t n, uint32_t blksz,
			  uint64_t zero_hash)
{
	uint64_t h;

	if (n == blksz) {
		h = XXH3_64bits(p, n);
		if (h == zero_hash && block_is_zero(p, n))
			return 0;
		return h;
	}
	h = XXH3_64bits_withSeed(p, n, TAIL_SEED + n);
	return h ? h : 1;	/* 0 means "no hash" */
}

/*
 * --domain: block hashes are salted with the file's domain (its owner or
 * its subvolume), so that the index never matches blocks of two domains:
 * the same data in another domain is another key. Zero blocks stay 0.
 */
static uint64_t domain_salt(const struct engine *e, const struct file_job *job,
			    const struct stat *st)
{
	uint64_t key[2] = { e->domain, 0 }, salt;

	switch (e->domain) {
	case DOMAIN_OWNER:
		key[1] = st->st_uid;
		break;
	case DOMAIN_SUBVOLUME:
		key[1] = job->root;
		break;
	default:
		return 0;
	}
	salt = XXH3_64bits_withSeed(key, sizeof(key), DOMAIN_SEED);
	return salt ? salt : 1;
}

uint64_t hasher_salted(const struct hash_state *hs, uint64_t h)
{
	if (!h || !hs->salt)
		return h;
	h ^= hs->salt;
	return h ? h : 1;	/* 0 means "no hash" */
}

/* Whether the blocks of extent @ex may be keyed by their btrfs csums. */
bool hasher_csum_extent(const struct engine *e, const struct extent *ex)
{
	return e->csum.on && ex->physical &&
	       !(ex->flags & (EXTENT_ENCODED | EXTENT_UNKNOWN |
			      EXTENT_DELALLOC | EXTENT_INLINE |
			      EXTENT_NOT_ALIGNED | EXTENT_HOLE |
			      EXTENT_UNWRITTEN));
}

/* Looks up and indexes the hashed blocks of the current segment. */
static void match_segment(struct hash_state *hs)
{
	struct engine *e = hs->e;
	struct file_job *job = hs->job;
	size_t first_run = job->nruns;
	struct hashdb_stats ix;
	uint64_t i, loc;

	pthread_mutex_lock(&e->db_lock);
	for (i = 0; i < hs->seg_used; i++) {
		uint64_t blk = hs->seg_start + i, h = hs->seg[i];
		uint32_t len = e->blksz;
		int ret;

		if (!h)
			continue;
		if (hs->tail_len && blk == hs->nblocks - 1)
			len = hs->tail_len;
		ret = hashdb_lookup_insert(e->db, h,
					   hashdb_loc(job->file_id, blk), &loc);
		if (ret != 1)
			continue;
		if (hashdb_loc_file(loc) == job->file_id &&
		    hashdb_loc_block(loc) == blk)
			continue;	/* our own cell from an earlier pass */
		add_run(job, hashdb_loc_file(loc), hashdb_loc_block(loc), blk,
			len);
	}
	/*
	 * Decided now, not when the file was opened: a file hashed while
	 * another fills the index sees sampling start in between.
	 */
	hashdb_get_stats(e->db, &ix);
	pthread_mutex_unlock(&e->db_lock);
	if ((ix.sample_bits || ix.evictions) && job->nruns > first_run) {
		if (!hs->xbuf)
			hs->xbuf = xmalloc((size_t)EXTEND_BLOCKS * e->blksz);
		if (!hs->xkeys)
			hs->xkeys = xmalloc(2 * EXTEND_BLOCKS *
					    sizeof(*hs->xkeys));
		hasher_extend_runs(hs, first_run);
	}
	memset(hs->seg, 0, hs->seg_used * sizeof(*hs->seg));
	memset(hs->seg_csum, 0, hs->seg_used / 8 + 1);
	hs->seg_used = 0;
}

static void put_hash(struct hash_state *hs, uint64_t blk, uint64_t h,
		     bool by_csum)
{
	uint64_t i;

	if (blk >= hs->seg_start + SEG_BLOCKS) {
		match_segment(hs);
		hs->seg_start = blk - blk % SEG_BLOCKS;
	}
	i = blk - hs->seg_start;
	hs->seg[i] = h;
	if (by_csum)
		hs->seg_csum[i / 8] |= (uint8_t)(1u << (i % 8));
	hs->seg_used = i + 1;
}

/* Block @blk's hash (0: none, a zero block) goes to the segment and digest. */
static void take_block(struct hash_state *hs, uint64_t blk, uint64_t h,
		       bool by_csum, uint64_t *next_blk)
{
	digest_skip_to(hs, next_blk, blk);
	if (h)
		put_hash(hs, blk, h, by_csum);
	digest_add(hs, h);
	*next_blk = blk + 1;
}

/* Reads and hashes [off, off + len) of the file. Returns 0 or -errno. */
static int hash_range(struct hash_state *hs, uint64_t off, uint64_t len,
		      uint8_t *buf, size_t buflen, uint64_t *next_blk)
{
	struct engine *e = hs->e;
	struct file_job *job = hs->job;
	uint64_t end = off + len;

	while (off < end) {
		size_t want = end - off < buflen ? end - off : buflen;
		size_t got = 0, i;

		/*
		 * A short read is the end of the file (it shrank under us: it
		 * changed) or a read error at the next byte (btrfs returns
		 * what it could read before a block whose checksum fails),
		 * which the next read reports.
		 */
		while (got < want) {
			ssize_t n = pread(job->fd, buf + got, want - got,
					  (off_t)(off + got));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				hs->bad_off = off + got;
				return -errno;
			}
			if (n == 0)
				return -ESTALE;
			got += (size_t)n;
		}
		for (i = 0; i < want; i += e->blksz) {
			size_t n = want - i < e->blksz ? want - i : e->blksz;
			uint64_t blk = (off + i) / e->blksz;

			take_block(hs, blk,
				   hasher_salted(hs, hasher_block_hash(buf + i, n, e->blksz,
							 hs->zero_hash)),
				   false, next_blk);
		}
		atomic_fetch_add(&e->st.bytes_hashed, want);
		atomic_fetch_add(&e->st.bytes_read, want);
		off += want;
	}
	return 0;
}

/*
 * Indexes [off, off + len) of extent @ex: by the blocks' csums where they
 * all have one, a piece at a time, else by reading them. Returns 0 or -errno.
 */
static int index_range(struct hash_state *hs, const struct extent *ex,
		       uint64_t off, uint64_t len, uint8_t *buf,
		       size_t buflen, uint64_t *next_blk)
{
	struct engine *e = hs->e;
	uint32_t bs = e->blksz;
	uint64_t end = off + len, blk, last;

	if (!hasher_csum_extent(e, ex) || off % bs || off < ex->logical ||
	    end > ex->logical + ex->length)
		return hash_range(hs, off, len, buf, buflen, next_blk);
	if (!hs->keys)
		hs->keys = xmalloc(CSUM_PIECE * sizeof(*hs->keys));
	for (blk = off / bs, last = (end + bs - 1) / bs; blk < last;) {
		uint64_t n = last - blk < CSUM_PIECE ? last - blk : CSUM_PIECE;
		uint64_t a = blk * bs, b = (blk + n) * bs < end ?
						   (blk + n) * bs : end;
		uint32_t tail = hs->tail_len && blk + n == hs->nblocks ?
					hs->tail_len : 0;
		int ret = csums_keys(e, ex->physical + (a - ex->logical), n,
				     tail, hs->min_transid, hs->keys);

		if (ret <= 0) {	/* no csums: read this piece */
			ret = hash_range(hs, a, b - a, buf, buflen, next_blk);
			if (ret < 0)
				return ret;
		} else {
			for (uint64_t i = 0; i < n; i++)
				take_block(hs, blk + i,
					   hasher_salted(hs, hs->keys[i]), true,
					   next_blk);
			atomic_fetch_add(&e->st.bytes_hashed, b - a);
			hs->by_csum = true;
		}
		blk += n;
	}
	return 0;
}

static void add_alias(struct file_job *job, uint64_t logical,
		      uint64_t physical, uint64_t len)
{
	job->aliases = grow_array(job->aliases, &job->cap_aliases,
				  job->naliases + 1, sizeof(*job->aliases));
	job->aliases[job->naliases++] = (struct alias){ logical, physical,
							len };
}

/*
 * A shared extent: hash only the pieces of it that no other file hashed in
 * this pass (reflinks and snapshots of it cost nothing).
 */
static int hash_shared_extent(struct hash_state *hs, const struct extent *ex,
			      uint8_t *buf, size_t buflen, uint64_t *next_blk)
{
	struct byte_range pieces[32];
	uint64_t done = 0;
	size_t n, i;
	int ret;

	uint64_t pos = 0;

	n = phys_seen_claim(hs->e, ex->physical, ex->length, pieces,
			    sizeof(pieces) / sizeof(pieces[0]));
	for (i = 0; i <= n; i++) {
		uint64_t next = i < n ? pieces[i].off : ex->length;

		if (next > pos)	/* taken by another file: an alias */
			add_alias(hs->job, ex->logical + pos,
				  ex->physical + pos, next - pos);
		if (i == n)
			break;
		ret = index_range(hs, ex, ex->logical + pieces[i].off,
				  pieces[i].len, buf, buflen, next_blk);
		if (ret < 0)
			return ret;
		done += pieces[i].len;
		pos = pieces[i].off + pieces[i].len;
	}
	if (done < ex->length) {
		atomic_fetch_add(&hs->e->st.bytes_shared_skipped,
				 ex->length - done);
		hs->digest_valid = false;
	}
	return 0;
}

static void add_extent(struct file_job *job, const struct extent *ex)
{
	job->extents = grow_array(job->extents, &job->cap_extents,
				  job->nextents + 1, sizeof(*job->extents));
	job->extents[job->nextents++] = *ex;
}


/* Hashes the parts of extent @ex that are in @nr. */
static int hash_new_parts(struct hash_state *hs, const struct extent *ex,
			  const struct new_ranges *nr, uint8_t *buf,
			  size_t buflen, uint64_t *next_blk)
{
	uint64_t a = ex->logical, b = ex->logical + ex->length;
	int ret;

	for (size_t i = 0; i < nr->n; i++) {
		uint64_t lo = nr->v[i].off, hi = lo + nr->v[i].len;

		if (hi <= a || lo >= b)
			continue;
		lo = lo > a ? lo : a;
		hi = hi < b ? hi : b;
		ret = index_range(hs, ex, lo, hi - lo, buf, buflen, next_blk);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Sets @hs up for its file. Returns 0, or -ENOMEM (nothing to free). */
static int hash_state_init(struct hash_state *hs, const struct stat *st,
			   uint8_t *buf, size_t buflen)
{
	struct engine *e = hs->e;
	struct file_job *job = hs->job;

	hs->nblocks = (job->size + e->blksz - 1) / e->blksz;
	hs->tail_len = job->size % e->blksz;
	/* Sized to the file: most files are small, and zeroing 512 KiB for
	 * each of them was the scan's largest CPU cost. */
	hs->seg = xcalloc(hs->nblocks < SEG_BLOCKS ? hs->nblocks : SEG_BLOCKS,
			  sizeof(*hs->seg));
	hs->seg_csum = xcalloc((hs->nblocks < SEG_BLOCKS ? hs->nblocks :
						       SEG_BLOCKS) / 8 + 1, 1);
	hs->digest = XXH3_createState();
	if (!hs->digest) {
		free(hs->seg);
		free(hs->seg_csum);
		return -ENOMEM;
	}
	XXH3_64bits_reset(hs->digest);
	hs->digest_valid = true;
	memset(buf, 0, e->blksz);
	hs->zero_hash = XXH3_64bits(buf, e->blksz);
	if (e->domain == DOMAIN_SUBVOLUME && e->fs.kind == FS_BTRFS &&
	    !job->root && btrfs_file_root(job->fd, &job->root, &job->ino) < 0)
		job->root = 0;	/* XFS and ext4: one domain */
	hs->salt = domain_salt(e, job, st);
	if (job->size > buflen)	/* more than one read: ask for readahead */
		(void)posix_fadvise(job->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

/* Hashes one extent of the file's map, if it is data. Returns 0 or -errno. */
static int hash_extent(struct hash_state *hs, const struct extent *ex,
		       const struct new_ranges *nr, bool only_new,
		       uint8_t *buf, size_t buflen, uint64_t *next_blk)
{
	if (ex->flags & (EXTENT_HOLE | EXTENT_UNWRITTEN)) {
		/* Holes are not data: block runs skip them,
		 * a whole-file run would count them. */
		hs->digest_valid = false;
		return 0;
	}
	if (ex->flags & EXTENT_INLINE) {
		/* In metadata: nothing on disk to free. */
		hs->digest_valid = false;
		return 0;
	}
	add_extent(hs->job, ex);
	if (only_new)
		return hash_new_parts(hs, ex, nr, buf, buflen, next_blk);
	/* Pieces another file hashed become aliases,
	 * which follow that file: not across domains. */
	if ((ex->flags & EXTENT_SHARED) && hs->e->domain == DOMAIN_NONE &&
	    !(ex->flags & (EXTENT_UNKNOWN | EXTENT_DELALLOC | EXTENT_ENCODED)))
		return hash_shared_extent(hs, ex, buf, buflen, next_blk);
	return index_range(hs, ex, ex->logical, ex->length, buf, buflen,
			   next_blk);
}

/*
 * Hashes the file's data, extent by extent (with @only_new, only the
 * ranges of @nr). Returns 0 or -errno.
 */
static int hash_data(struct hash_state *hs, const struct new_ranges *nr,
		     bool only_new, uint8_t *buf, size_t buflen,
		     uint64_t *next_blk)
{
	struct engine *e = hs->e;
	struct file_job *job = hs->job;
	struct fiemap_iter *it = NULL;
	struct extent ex;
	int ret;

	/*
	 * On XFS a file of one block has no inline data and a hole in it
	 * reads as zeros (left out): its extent map tells nothing worth a
	 * FIEMAP call (a refcount btree lookup for the shared flag).
	 */
	if (only_new) {
		/* Old data keep their cells; the whole-file digest would be
		 * of the new parts only. */
		hs->digest_valid = false;
	}
	if (only_new && !nr->n)
		ret = 1;	/* nothing new: only metadata changed */
	else if (e->fs.kind == FS_XFS && job->size <= e->blksz)
		ret = -EOPNOTSUPP;
	else
		ret = fiemap_iter_open(job->fd, 0, job->size, FIEMAP_ITER_SYNC,
				       &it);
	if (ret == 1)
		return 0;
	if (ret < 0) {
		/* No extent map: hash all of it, place unknown. */
		ex = (struct extent){ .logical = 0, .length = job->size };
		return only_new ? hash_new_parts(hs, &ex, nr, buf, buflen,
						 next_blk) :
				  hash_range(hs, 0, job->size, buf, buflen,
					     next_blk);
	}
	while ((ret = fiemap_iter_next(it, &ex)) == 1) {
		ret = hash_extent(hs, &ex, nr, only_new, buf, buflen, next_blk);
		if (ret < 0)
			break;
	}
	fiemap_iter_free(it);
	return ret;
}

/* Counts, and logs, a read of the file that failed with @err. */
static void read_failed(const struct hash_state *hs, int err)
{
	struct engine *e = hs->e;
	const struct file_job *job = hs->job;

	if (err == -ESTALE) {
		atomic_fetch_add(&e->st.files_changed, 1);
	} else if (err == -EIO) {
		/* A bad block (btrfs: its checksum fails): the disk's
		 * problem, not ours; the rest of the pass goes on. */
		log_warn("cannot read '%s' at offset %llu: %s, skipping",
			 job->path, (unsigned long long)hs->bad_off,
			 strerror(-err));
		atomic_fetch_add(&e->st.files_unreadable, 1);
	} else {
		log_info("cannot read '%s': %s, skipping", job->path,
			 strerror(-err));
		atomic_fetch_add(&e->st.errors, 1);
	}
}

/* The file is hashed and unchanged: its runs trimmed, counted, recorded. */
static void file_hashed(struct hash_state *hs)
{
	struct engine *e = hs->e;
	struct file_job *job = hs->job;
	uint64_t dup = 0;

	/*
	 * The digest serves files whose blocks found nothing (sampling left
	 * them out): only those look up and record it, so two copies hashed
	 * at once never match each other both ways.
	 */
	if (hs->digest_valid && !job->nruns)
		hasher_finish_digest(hs);
	if (hs->by_csum && e->csum.weak)
		hasher_confirm_short_runs(hs);
	plan_trim_encoded(job, e->blksz);
	plan_trim_self_overlap(job, e->blksz);
	for (size_t i = 0; i < job->nruns; i++)
		dup += job->runs[i].len;
	atomic_fetch_add(&e->st.bytes_duplicate, dup);
	atomic_fetch_add(&e->st.files_scanned, 1);
	job->hashed = true;
	if (e->hashed_cb)
		e->hashed_cb(e->hashed_arg, job);
	if (!e->dry_run) {
		pthread_mutex_lock(&e->db_lock);
		(void)hashdb_file_set_cookie(e->db, job->file_id, job->cookie,
					     job->size);
		if (job->gen)
			(void)hashdb_file_set_gen(e->db, job->file_id,
						  job->gen);
		pthread_mutex_unlock(&e->db_lock);
	}
}

void engine_hash_file(struct engine *e, struct file_job *job, uint8_t *buf,
		      size_t buflen)
{
	struct new_ranges nr = { 0 };
	struct hash_state hs = { .e = e, .job = job, .src_fd = -1 };
	struct file_id_handle h;
	struct stat st;
	uint64_t next_blk = 0;
	bool only_new;
	int fd, ret;

	fd = hasher_open_file(e, job, &st, &h);
	if (fd < 0)
		return;
	if (e->fs.kind == FS_BTRFS && !e->dry_run &&
	    btrfs_fs_generation(fd, &job->gen) < 0)
		job->gen = 0;
	only_new = hasher_find_new_ranges(e, job, &h, &nr) == 1;
	/* New data's csums are in tree blocks written since. */
	hs.min_transid = only_new ? job->prev_gen + 1 : 0;
	if (hash_state_init(&hs, &st, buf, buflen) < 0)
		goto out_close;
	ret = hash_data(&hs, &nr, only_new, buf, buflen, &next_blk);
	if (ret < 0) {
		read_failed(&hs, ret);
		job->nruns = 0;
		goto out_free;
	}
	digest_skip_to(&hs, &next_blk, hs.nblocks);
	match_segment(&hs);

	/* Changed while we read it? Then our hashes may be of neither. */
	if (fstat(fd, &st) < 0 || stat_cookie(&st) != job->cookie) {
		atomic_fetch_add(&e->st.files_changed, 1);
		job->nruns = 0;
		goto out_free;
	}
	file_hashed(&hs);
out_free:
	free(nr.v);
	XXH3_freeState(hs.digest);
	if (hs.src_fd >= 0)
		close(hs.src_fd);
	free(hs.xbuf);
	free(hs.keys);
	free(hs.xkeys);
	free(hs.seg_csum);
	free(hs.seg);
	if (job->hashed && (job->nruns || job->naliases))
		return;		/* keep the fd: the executor needs it */
out_close:
	close(fd);
	job->fd = -1;
}
