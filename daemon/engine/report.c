// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The report of a pass, as one JSON object or as lines for a person, from
 * the engine's counters: for `dedupd scan` and for the scans the daemon
 * does for it; and the report of `dedupd defrag`, from the defragmenter's.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "daemon/common/djson.h"
#include "daemon/common/log.h"
#include "daemon/common/util.h"
#include "daemon/engine/defrag.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/report.h"

#define ST(x) ((unsigned long long)atomic_load(&st->x))

static void print_json(FILE *out, const struct djson_field *f, size_t n)
{
	int ret = djson_print_fields(out, f, n);

	if (ret < 0)
		log_error("cannot write the report: %s", strerror(-ret));
}

/* What the walk left out, if anything. */
static void print_left_out(FILE *out, unsigned long long special,
			   unsigned long long replaced,
			   unsigned long long too_deep)
{
	if (special || replaced || too_deep)
		fprintf(out, "  left out   %llu special files (FIFOs, sockets, devices), %llu replaced since the walk, %llu too deep\n",
			special, replaced, too_deep);
}

void scan_report(FILE *out, const struct scan_report_args *r)
{
	const struct engine_stats *st = r->st;
	const struct hashdb_stats *ix = r->ix;
	int64_t freed = r->freed;
	double secs = r->secs;
	char b1[32], b2[32], b3[32], b4[32], b5[32];

	if (r->json) {
		struct djson_field f[] = {
			DJSON_STR("filesystem", r->fs_name),
			DJSON_BOOL("dry_run", r->dry_run),
			DJSON_STR("index_result", r->index_result),
			DJSON_U64("files_seen", ST(files_seen)),
			DJSON_U64("files_scanned", ST(files_scanned)),
			DJSON_U64("files_unchanged", ST(files_unchanged)),
			DJSON_U64("files_skipped", ST(files_skipped)),
			DJSON_U64("files_changed", ST(files_changed)),
			DJSON_U64("files_vanished", ST(files_vanished)),
			DJSON_U64("files_unreadable", ST(files_unreadable)),
			DJSON_U64("files_hardlinks", ST(files_hardlinks)),
			DJSON_U64("files_special", ST(files_special)),
			DJSON_U64("files_replaced", ST(files_replaced)),
			DJSON_U64("too_deep", ST(too_deep)),
			DJSON_U64("errors", ST(errors)),
			DJSON_U64("bytes_hashed", ST(bytes_hashed)),
			DJSON_U64("bytes_read", ST(bytes_read)),
			DJSON_U64("bytes_csums_read", ST(bytes_csums_read)),
			DJSON_U64("hints_refuted", ST(hints_refuted)),
			DJSON_U64("bytes_shared_skipped",
				  ST(bytes_shared_skipped)),
			DJSON_U64("bytes_duplicate", ST(bytes_duplicate)),
			DJSON_U64("bytes_deduped", ST(bytes_deduped)),
			DJSON_U64("bytes_already_shared",
				  ST(bytes_already_shared)),
			DJSON_U64("bytes_relocated", ST(bytes_relocated)),
			DJSON_U64("bytes_relinked", ST(bytes_relinked)),
			DJSON_U64("refs_relinked", ST(refs_relinked)),
			DJSON_U64("refs_pinned", ST(refs_pinned)),
			DJSON_U64("bytes_pinned", ST(bytes_pinned)),
			DJSON_I64("bytes_freed", freed),
			DJSON_U64("dedupe_calls", ST(dedupe_calls)),
			DJSON_U64("differs", ST(differs)),
			DJSON_U64("index_bytes", ix->file_bytes),
			DJSON_U64("index_cells", ix->cells),
			DJSON_U64("index_cells_used", ix->cells_used),
			DJSON_U64("index_sample_bits", ix->sample_bits),
			DJSON_U64("index_files", ix->files),
			DJSON_REAL("seconds", secs, 3),
		};
		print_json(out, f, DJSON_NFIELDS(f));
		return;
	}
	fprintf(out, "%s %llu files in %.1f s (%llu unchanged, %llu skipped, "
	       "%llu hard links, %llu changed, %llu vanished, "
	       "%llu unreadable)\n",
	       r->dry_run ? "dry run over" : "scanned", ST(files_seen), secs,
	       ST(files_unchanged), ST(files_skipped), ST(files_hardlinks),
	       ST(files_changed), ST(files_vanished), ST(files_unreadable));
	print_left_out(out, ST(files_special), ST(files_replaced), ST(too_deep));
	fprintf(out, "  hashed     %s (read %s of data, %s of checksums)\n",
		fmt_bytes(ST(bytes_hashed), b1, sizeof(b1)),
		fmt_bytes(ST(bytes_read), b2, sizeof(b2)),
		fmt_bytes(ST(bytes_csums_read), b3, sizeof(b3)));
	fprintf(out, "  duplicate  %s\n",
	       fmt_bytes(ST(bytes_duplicate), b2, sizeof(b2)));
	if (r->dry_run)
		return;
	fprintf(out, "  deduped    %s in %llu calls (%llu ranges had changed)\n",
	       fmt_bytes(ST(bytes_deduped), b3, sizeof(b3)), ST(dedupe_calls),
	       ST(differs));
	fprintf(out, "  relocated  %s\n",
	       fmt_bytes(ST(bytes_relocated), b4, sizeof(b4)));
	fprintf(out, "  relinked   %s (snapshots and reflinks of deduped data)\n",
	       fmt_bytes(ST(bytes_relinked), b4, sizeof(b4)));
	if (ST(refs_pinned))
		fprintf(out, "  pinned     %s in %llu references that could not follow (their old extents stay)\n",
			fmt_bytes(ST(bytes_pinned), b4, sizeof(b4)),
			ST(refs_pinned));
	fprintf(out, "  freed      %s%s\n", freed < 0 ? "-" : "",
	       fmt_bytes((uint64_t)(freed < 0 ? -freed : freed), b5,
			 sizeof(b5)));
}

void defrag_report(FILE *out, const struct defrag_stats *s,
		   const char *fs_name, bool dry_run, bool json, double secs)
{
	char b1[32], b2[32], b3[32];

	if (json) {
		struct djson_field f[] = {
			DJSON_STR("filesystem", fs_name),
			DJSON_BOOL("dry_run", dry_run),
			DJSON_U64("files", s->files),
			DJSON_U64("files_fragmented", s->files_fragmented),
			DJSON_U64("files_defragged", s->files_defragged),
			DJSON_U64("files_skipped", s->files_skipped),
			DJSON_U64("files_vanished", s->files_vanished),
			DJSON_U64("files_special", s->files_special),
			DJSON_U64("files_replaced", s->files_replaced),
			DJSON_U64("too_deep", s->too_deep),
			DJSON_U64("extents_before", s->extents_before),
			DJSON_U64("extents_after", s->extents_after),
			DJSON_U64("bytes", s->bytes),
			DJSON_U64("bytes_moved", s->bytes_moved),
			DJSON_U64("bytes_relinked", s->bytes_relinked),
			DJSON_U64("refs_relinked", s->refs_relinked),
			DJSON_U64("refs_busy", s->refs_busy),
			DJSON_U64("refs_pinned", s->refs_pinned),
			DJSON_U64("bytes_pinned", s->bytes_pinned),
			DJSON_U64("bytes_filled", s->bytes_filled),
			DJSON_U64("files_mapped", s->files_mapped),
			DJSON_U64("chunks", s->chunks),
			DJSON_U64("chunks_retried", s->chunks_retried),
			DJSON_U64("chunks_skipped", s->chunks_skipped),
			DJSON_U64("errors", s->errors),
			DJSON_REAL("seconds", secs, 3),
		};
		print_json(out, f, DJSON_NFIELDS(f));
		return;
	}
	fprintf(out, "%s %llu files (%s) in %.1f s: %llu fragmented\n",
	       dry_run ? "looked at" : "defragmented",
	       (unsigned long long)s->files, fmt_bytes(s->bytes, b1, sizeof(b1)),
	       secs, (unsigned long long)s->files_fragmented);
	fprintf(out, "  extents    %llu before, %llu after\n",
	       (unsigned long long)s->extents_before,
	       (unsigned long long)s->extents_after);
	print_left_out(out, s->files_special, s->files_replaced, s->too_deep);
	if (dry_run)
		return;
	fprintf(out, "  moved      %s in %llu chunks (%llu retried, %llu skipped)\n",
	       fmt_bytes(s->bytes_moved, b2, sizeof(b2)),
	       (unsigned long long)s->chunks,
	       (unsigned long long)s->chunks_retried,
	       (unsigned long long)s->chunks_skipped);
	fprintf(out, "  relinked   %s in %llu references of snapshots and reflinks (%llu left pinned)\n",
	       fmt_bytes(s->bytes_relinked, b3, sizeof(b3)),
	       (unsigned long long)s->refs_relinked,
	       (unsigned long long)s->refs_pinned);
	if (s->bytes_pinned)
		fprintf(out, "  pinned     %s of old data still shared with files that could not follow\n",
		       fmt_bytes(s->bytes_pinned, b1, sizeof(b1)));
}
