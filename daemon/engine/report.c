// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The report of a pass, as one JSON object or as lines for a person, from
 * the engine's counters: for `dedupd scan` and for the scans the daemon
 * does for it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "daemon/common/djson.h"
#include "daemon/common/log.h"
#include "daemon/common/util.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/report.h"

#define ST(x) ((unsigned long long)atomic_load(&st->x))

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
		int ret = djson_print_fields(out, f, DJSON_NFIELDS(f));

		if (ret < 0)
			log_error("cannot write the report: %s",
				  strerror(-ret));
		return;
	}
	fprintf(out, "%s %llu files in %.1f s (%llu unchanged, %llu skipped, "
	       "%llu hard links, %llu changed, %llu vanished, "
	       "%llu unreadable)\n",
	       r->dry_run ? "dry run over" : "scanned", ST(files_seen), secs,
	       ST(files_unchanged), ST(files_skipped), ST(files_hardlinks),
	       ST(files_changed), ST(files_vanished), ST(files_unreadable));
	if (ST(files_special) || ST(files_replaced) || ST(too_deep))
		fprintf(out, "  left out   %llu special files (FIFOs, sockets, devices), %llu replaced since the walk, %llu too deep\n",
			ST(files_special), ST(files_replaced), ST(too_deep));
	fprintf(out, "  hashed     %s\n", fmt_bytes(ST(bytes_hashed), b1, sizeof(b1)));
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

