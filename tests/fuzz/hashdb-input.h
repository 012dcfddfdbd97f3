/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_FUZZ_HASHDB_INPUT_H
#define DEDUPD_FUZZ_HASHDB_INPUT_H
/*
 * The input of fuzz-hashdb, shared with mkseed-hashdb (which writes it from
 * an index the real code made). An index file is at least 548 KiB, mostly
 * zeros, and a header is only trusted with its checksum: so the input
 * describes the file rather than being it.
 *
 *   shorter than FUZZ_HASHDB_MIN: the whole file, as is
 *   else:
 *     4096 bytes  the header page; a slot whose checksum field (bytes 8-15
 *                 of its 2048) is zero gets the right checksum, so that
 *                 the fuzzer gets past it; any other value is kept
 *     le32        the file's size in 4 KiB pages (at least 1, at most
 *                 FUZZ_HASHDB_MAX_PAGES); zeros past the header
 *     then, to the end: chunks { le32 offset; le16 len; len bytes }
 *                 written at offset (modulo the size, cut at the end)
 */
#include <stdint.h>

#define FUZZ_HASHDB_PAGE 4096
#define FUZZ_HASHDB_MIN (FUZZ_HASHDB_PAGE + 4)
#define FUZZ_HASHDB_MAX_PAGES 4096	/* 16 MiB */
#define FUZZ_HASHDB_CHUNK_HDR 6

/* The filesystem the index is for. */
static const uint8_t fuzz_hashdb_uuid[16] = {
	0x64, 0x65, 0x64, 0x75, 0x70, 0x64, 0x2d, 0x66,
	0x75, 0x7a, 0x7a, 0x2d, 0x75, 0x75, 0x69, 0x64,
};

#endif
