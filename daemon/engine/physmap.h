/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_PHYSMAP_H
#define DEDUPD_PHYSMAP_H

/*
 * Who else maps a file's shared blocks, where the filesystem cannot say:
 * XFS gives no LOGICAL_INO, and GETFSMAP names owners only with rmapbt,
 * which Debian's mkfs.xfs does not turn on. So the referrers of a file's
 * shared data are found by a walk of a scope (the filesystem, or a
 * directory such as a VM image store) that maps every file there with
 * FIEMAP and keeps only the pieces that lie on the file's own shared
 * blocks. Memory follows those pieces: files that share nothing with it
 * cost one FIEMAP each and nothing kept.
 */

#include <signal.h>
#include <stdint.h>

struct physmap;

struct physmap_stats {
	uint64_t files;		/* files mapped in the scope */
	uint64_t errors;	/* files that could not be opened or mapped */
	uint64_t refs;		/* pieces kept */
};

/*
 * Maps the shared data of @fd over [@start, @end), then walks @scope (on
 * @fd's mount; @fd's own file is left out) for every other file's pieces on
 * it. When *@stop (if not NULL) is set, the walk stops where it is. Returns
 * the map in *@ret_map, which is empty (not NULL) when @fd shares nothing,
 * and 0; or -errno when @fd cannot be mapped or @scope not read, with
 * *@ret_map untouched. Adds to @st.
 */
int physmap_build(int fd, uint64_t start, uint64_t end, const char *scope,
		  const volatile sig_atomic_t *stop, struct physmap_stats *st,
		  struct physmap **ret_map);

/*
 * Called with each piece of another file on [physical, +len): @file names
 * it for physmap_path(), @logical is its offset there. Return 0 to go on.
 */
typedef int (*physmap_fn)(void *arg, uint32_t file, uint64_t logical,
			  uint64_t physical, uint64_t len);

/*
 * Calls @fn for every piece of another file that overlaps [@physical,
 * +@len), clipped to it, in order of address. Returns the bytes of that
 * range that some other file of the map holds (each byte counted once), or
 * what @fn returned when it stopped (negative). FIEMAP gives no reference
 * count: a block that a file outside the scope shares too looks the same.
 */
int64_t physmap_refs(const struct physmap *m, uint64_t physical, uint64_t len,
		     physmap_fn fn, void *arg);

/* The path of @file, as the walk met it. */
const char *physmap_path(const struct physmap *m, uint32_t file);

/* NULL-safe; returns NULL. */
struct physmap *physmap_free(struct physmap *m);

#endif
