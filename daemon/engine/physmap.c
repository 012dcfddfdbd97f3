// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The referrers of a file's shared blocks, from a FIEMAP walk of a scope
 * (physmap.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/engine/physmap.h"
#include "daemon/common/util.h"
#include "daemon/engine/walk.h"
#include "ioctl-compat/fiemap.h"

struct span {
	uint64_t physical, len;
};

struct piece {
	uint64_t physical, len, logical;
	uint32_t file;
};

struct physmap {
	struct span *own;	/* the file's shared data, sorted, merged */
	size_t nown, cap_own;
	struct piece *v;	/* other files' pieces on it, by address */
	size_t n, cap;
	uint64_t maxlen;	/* the longest piece, for the search */
	char **paths;
	size_t npaths, cap_paths;
	dev_t dev;
	ino_t ino;
	const volatile sig_atomic_t *stop;
	struct physmap_stats *st;
};

/* Data that another file may map: on disk, in place, not encoded. */
static bool shared_data(const struct extent *x)
{
	return (x->flags & EXTENT_SHARED) &&
	       !(x->flags & (EXTENT_HOLE | EXTENT_UNWRITTEN | EXTENT_ENCODED |
			     EXTENT_INLINE | EXTENT_DELALLOC | EXTENT_UNKNOWN |
			     EXTENT_NOT_ALIGNED));
}

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->physical < y->physical ? -1 : x->physical > y->physical;
}

static int map_own(struct physmap *m, int fd, uint64_t start, uint64_t end)
{
	struct fiemap_iter *it;
	struct extent x;
	size_t i, k;
	int ret;

	ret = fiemap_iter_open(fd, start, end, FIEMAP_ITER_SYNC, &it);
	if (ret < 0)
		return ret;
	while ((ret = fiemap_iter_next(it, &x)) == 1) {
		if (!shared_data(&x))
			continue;
		m->own = grow_array(m->own, &m->cap_own, m->nown + 1,
				    sizeof(*m->own));
		m->own[m->nown++] = (struct span){ x.physical, x.length };
	}
	fiemap_iter_free(it);
	if (ret < 0)
		return ret;
	if (!m->nown)
		return 0;
	qsort(m->own, m->nown, sizeof(*m->own), span_cmp);
	for (i = 1, k = 0; i < m->nown; i++) {
		struct span *last = &m->own[k];

		if (m->own[i].physical <= last->physical + last->len) {
			uint64_t e = m->own[i].physical + m->own[i].len;

			if (e > last->physical + last->len)
				last->len = e - last->physical;
		} else {
			m->own[++k] = m->own[i];
		}
	}
	m->nown = k + 1;
	return 0;
}

/* Keeps the parts of another file's extent @x that lie on our own data. */
static void add_pieces(struct physmap *m, const struct extent *x,
		       uint32_t file)
{
	uint64_t end = x->physical + x->length;
	size_t lo = 0, hi = m->nown;

	while (lo < hi) {	/* the first own span ending after it starts */
		size_t mid = lo + (hi - lo) / 2;

		if (m->own[mid].physical + m->own[mid].len <= x->physical)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < m->nown && m->own[lo].physical < end; lo++) {
		const struct span *s = &m->own[lo];
		uint64_t a = s->physical > x->physical ? s->physical :
							 x->physical;
		uint64_t b = s->physical + s->len < end ? s->physical + s->len :
							  end;

		if (a >= b)
			continue;
		m->v = grow_array(m->v, &m->cap, m->n + 1, sizeof(*m->v));
		m->v[m->n++] = (struct piece){ a, b - a,
					       x->logical + (a - x->physical),
					       file };
		if (b - a > m->maxlen)
			m->maxlen = b - a;
		m->st->refs++;
	}
}

static int map_other(void *arg, int dfd, const char *name, const char *path,
		     const struct stat *walked)
{
	struct physmap *m = arg;
	struct fiemap_iter *it;
	struct extent x;
	struct stat sb;
	size_t before = m->n;
	int fd, ret;

	if (m->stop && *m->stop)
		return -EINTR;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
				       O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			m->st->errors++;
		return 0;	/* vanished, or not ours to read */
	}
	if (fstat(fd, &sb) < 0 || (sb.st_dev == m->dev && sb.st_ino == m->ino))
		goto out;
	/* Replaced since the walk (a FIFO, another file): not the one. */
	if (!S_ISREG(sb.st_mode) || sb.st_dev != walked->st_dev ||
	    sb.st_ino != walked->st_ino)
		goto out;
	m->st->files++;
	if (fiemap_iter_open(fd, 0, (uint64_t)walked->st_size, 0, &it) < 0) {
		m->st->errors++;
		goto out;
	}
	while ((ret = fiemap_iter_next(it, &x)) == 1)
		if (shared_data(&x))
			add_pieces(m, &x, (uint32_t)m->npaths);
	fiemap_iter_free(it);
	if (ret < 0)
		m->st->errors++;
	if (m->n > before) {
		m->paths = grow_array(m->paths, &m->cap_paths, m->npaths + 1,
				      sizeof(*m->paths));
		m->paths[m->npaths++] = xstrdup(path);
	}
out:
	close(fd);
	return 0;
}

static int piece_cmp(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;

	if (x->physical != y->physical)
		return x->physical < y->physical ? -1 : 1;
	return x->file < y->file ? -1 : x->file > y->file;
}

int physmap_build(int fd, uint64_t start, uint64_t end, const char *scope,
		  const volatile sig_atomic_t *stop, struct physmap_stats *st,
		  struct physmap **ret_map)
{
	struct physmap *m = xcalloc(1, sizeof(*m));
	struct walk_opts wo = { 0 };
	struct walk_stats ws = { 0 };
	struct statx stx;
	struct stat sb;
	int ret;

	m->stop = stop;
	m->st = st;
	if (fstat(fd, &sb) < 0) {
		ret = -errno;
		goto fail;
	}
	m->dev = sb.st_dev;
	m->ino = sb.st_ino;
	ret = map_own(m, fd, start, end);
	if (ret < 0)
		goto fail;
	if (m->nown) {
		if (statx(AT_FDCWD, scope, 0, STATX_MNT_ID, &stx) < 0) {
			ret = -errno;
			goto fail;
		}
		wo.mnt_id = (int)stx.stx_mnt_id;
		ret = walk_tree(scope, &wo, &ws, map_other, m);
		if (ret < 0 && ret != -EINTR)
			goto fail;
		qsort(m->v, m->n, sizeof(*m->v), piece_cmp);
	}
	*ret_map = m;
	return 0;
fail:
	physmap_free(m);
	return ret;
}

int64_t physmap_refs(const struct physmap *m, uint64_t physical, uint64_t len,
		     physmap_fn fn, void *arg)
{
	uint64_t end = physical + len, covered = 0, upto = physical;
	uint64_t from = physical > m->maxlen ? physical - m->maxlen : 0;
	size_t lo = 0, hi = m->n;

	while (lo < hi) {	/* no piece before this one reaches @physical */
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].physical < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < m->n && m->v[lo].physical < end; lo++) {
		const struct piece *p = &m->v[lo];
		uint64_t a = p->physical > physical ? p->physical : physical;
		uint64_t b = p->physical + p->len < end ? p->physical + p->len :
							  end;
		int ret;

		if (a >= b)
			continue;
		ret = fn(arg, p->file, p->logical + (a - p->physical), a, b - a);
		if (ret)
			return ret < 0 ? ret : -ECANCELED;
		if (b > upto) {
			covered += b - (a > upto ? a : upto);
			upto = b;
		}
	}
	return (int64_t)covered;
}

const char *physmap_path(const struct physmap *m, uint32_t file)
{
	return file < m->npaths ? m->paths[file] : NULL;
}

struct physmap *physmap_free(struct physmap *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->npaths; i++)
		free(m->paths[i]);
	free(m->paths);
	free(m->own);
	free(m->v);
	free(m);
	return NULL;
}
