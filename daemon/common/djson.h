/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef DEDUPD_DJSON_H
#define DEDUPD_DJSON_H

/*
 * JSON for every --json report and for the daemon's control-socket replies,
 * written and read back through jansson, so that no string is ever pasted
 * into JSON by hand. Part of libdedupd too: no logging, no exit().
 *
 * Strings are bytes (file names, mount paths). A string that is valid UTF-8
 * goes out as it is, with '"', '\\' and control characters escaped by
 * jansson. In one that is not, each byte that does not begin a well-formed
 * UTF-8 sequence becomes the four characters \xHH (two lowercase hex
 * digits), as Python's "backslashreplace" error handler writes it: the JSON
 * stays valid UTF-8, and the bytes can be told back except where the name
 * itself holds a backslash, 'x' and two hex digits.
 *
 * Numbers keep their JSON type: integers (DJSON_U64, DJSON_I64) are written
 * as integers, DJSON_REAL values always with a fraction or an exponent.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum djson_kind {
	DJSON_U64,	/* integer; above INT64_MAX written as INT64_MAX */
	DJSON_I64,	/* integer */
	DJSON_BOOL,	/* true or false */
	DJSON_STR,	/* bytes, as above; NULL is written as null */
	DJSON_REAL,	/* number rounded to .decimals places */
	DJSON_VALUE,	/* a jansson value, whose reference is taken */
};

/* One member of an object; made with the DJSON_* macros below. */
struct djson_field {
	const char *key;
	enum djson_kind kind;
	int decimals;
	union {
		uint64_t u64;
		int64_t i64;
		bool boolean;
		const char *str;
		double real;
		json_t *value;
	};
};

#define DJSON_U64(k, v) \
	{ .key = (k), .kind = DJSON_U64, .u64 = (uint64_t)(v) }
#define DJSON_I64(k, v) \
	{ .key = (k), .kind = DJSON_I64, .i64 = (int64_t)(v) }
#define DJSON_BOOL(k, v) \
	{ .key = (k), .kind = DJSON_BOOL, .boolean = (v) }
#define DJSON_STR(k, v) \
	{ .key = (k), .kind = DJSON_STR, .str = (v) }
#define DJSON_REAL(k, v, d) \
	{ .key = (k), .kind = DJSON_REAL, .decimals = (d), .real = (v) }
#define DJSON_VALUE(k, v) \
	{ .key = (k), .kind = DJSON_VALUE, .value = (v) }

#define DJSON_NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A JSON string of the @len bytes at @s, escaped as the header comment
 * says. Returns a new reference, or NULL when out of memory.
 */
json_t *djson_bytes(const char *s, size_t len);

/* djson_bytes() of a NUL-terminated string; NULL @s gives JSON null. */
json_t *djson_string(const char *s);

/*
 * Writes the escaped form of the @len bytes at @s (as djson_bytes() would
 * hold it, before JSON escaping) into @buf, NUL-terminated, if @size allows.
 * Returns the length it needs, without the NUL: at most 4 * @len.
 */
size_t djson_escape_bytes(char *buf, size_t size, const char *s, size_t len);

/*
 * A new object of the @n @fields, in their order. Every DJSON_VALUE's
 * reference is taken, also on failure. Returns the object (a new
 * reference), or NULL when out of memory, a DJSON_VALUE is NULL or a
 * DJSON_REAL is not finite.
 */
json_t *djson_object(const struct djson_field *fields, size_t n);

/*
 * The compact one-line text of @v followed by "\n", malloc'd (the caller
 * frees it), or NULL when out of memory or @v is NULL.
 */
char *djson_dump_line(const json_t *v);

/*
 * Writes djson_dump_line() of @v to @out. Returns 0, -ENOMEM, -EINVAL for
 * a NULL @v, or -EIO when the stream fails.
 */
int djson_print(FILE *out, const json_t *v);

/*
 * djson_print() of djson_object() of the @n @fields. Returns 0 or -errno
 * as those do (-ENOMEM when the object cannot be made).
 */
int djson_print_fields(FILE *out, const struct djson_field *fields,
		       size_t n);

/*
 * Parses @text, which must hold one JSON object and nothing after it but
 * white space. Returns the object (a new reference), or NULL.
 */
json_t *djson_parse_object(const char *text);

#endif
