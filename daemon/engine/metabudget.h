/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_METABUDGET_H
#define DEDUPD_METABUDGET_H

/*
 * The metadata a dedupe costs on btrfs, weighed against the data it frees.
 *
 * A snapshot shares its tree's leaves with the subvolume it was taken of
 * until one of them changes: moving a reference in a snapshot (or in a
 * subvolume that has snapshots) copies the leaf holding its file extent
 * item, with the backrefs of every item in it, once; later references in
 * the same leaf cost nothing more. So the cost is per (subvolume, leaf)
 * first touched, not per reference: 3 snapshots of a tree of small files
 * cost little per file (many files share a leaf), 100 snapshots of the same
 * tree cost more than the data they would free.
 *
 * Leaves are not visible from user space; a group of GROUP inode numbers
 * in one subvolume stands for one (the items of neighbouring inodes sit
 * together). Each candidate (a range to dedupe, with the files whose
 * references would move) brings its gain; a group pays for itself when the
 * gains of the candidates touching it, each shared evenly among its
 * groups, reach the leaf cost. A candidate goes ahead only if every group
 * it touches is paid for or was touched before in this pass; candidates
 * that cannot go ahead take their gain away, until nothing changes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metabudget;

/*
 * @leaf_cost: bytes of used space a first touched leaf costs (its copies
 * included: DUP metadata counts twice). Returns NULL on allocation failure.
 */
struct metabudget *metabudget_new(uint64_t leaf_cost);

/* NULL-safe; returns NULL. */
struct metabudget *metabudget_free(struct metabudget *b);

/*
 * A candidate freeing @gain bytes if the @n files @files (root, inode)
 * change. Returns its id, valid until metabudget_end_batch().
 */
size_t metabudget_add(struct metabudget *b, uint64_t gain,
		      const uint64_t (*files)[2], size_t n);

/* Decides every candidate added since the last batch ended. */
void metabudget_decide(struct metabudget *b);

/* Whether candidate @id may go ahead (after metabudget_decide()). */
bool metabudget_ok(const struct metabudget *b, size_t id);

/* Candidate @id went ahead: its groups are touched for the pass. */
void metabudget_spend(struct metabudget *b, size_t id);

/*
 * One candidate decided alone (a relocation): whether its own gain pays
 * for the groups it would touch first; if so they are spent.
 */
bool metabudget_single(struct metabudget *b, uint64_t gain,
		       const uint64_t (*files)[2], size_t n);

/* Forgets the batch's candidates; the groups touched stay. */
void metabudget_end_batch(struct metabudget *b);

/* Forgets everything (a new pass). */
void metabudget_reset(struct metabudget *b);

#endif
