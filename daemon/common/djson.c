// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * JSON through jansson: byte strings made valid UTF-8, objects built from
 * field lists, one-line output, replies parsed back. See djson.h.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/common/djson.h"

/*
 * Compact, as the reports always were (scripts match "key":value), with
 * 15 significant digits: enough for every rounded DJSON_REAL, few enough
 * that 0.1 is written 0.1, not 0.10000000000000001.
 */
#define DJSON_DUMP_FLAGS \
	(JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

/*
 * The length of the well-formed UTF-8 sequence at @s (@left bytes there),
 * or 0: Unicode's table 3-7, which leaves out overlong forms, surrogates
 * and code points above U+10FFFF, as jansson's own check does.
 */
static size_t utf8_sequence(const unsigned char *s, size_t left)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

size_t djson_escape_bytes(char *buf, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t in = 0, out = 0, kept = 0, n;
	char esc[4] = { '\\', 'x' };
	const char *piece;

	while (in < len) {
		n = utf8_sequence(p + in, len - in);
		if (n) {
			piece = s + in;
			in += n;
		} else {
			esc[2] = hex[p[in] >> 4];
			esc[3] = hex[p[in] & 0xf];
			piece = esc;
			n = 4;
			in++;
		}
		/* whole pieces only, none after one that did not fit */
		if (kept == out && out + n < size) {
			memcpy(buf + out, piece, n);
			kept += n;
		}
		out += n;
	}
	if (size)
		buf[kept] = '\0';
	return out;
}

json_t *djson_bytes(const char *s, size_t len)
{
	json_t *v;
	size_t need;
	char *buf;

	need = djson_escape_bytes(NULL, 0, s, len);
	if (need == len)	/* valid UTF-8: jansson copies it as it is */
		return json_stringn(s, len);
	buf = malloc(need + 1);
	if (!buf)
		return NULL;
	(void)djson_escape_bytes(buf, need + 1, s, len);
	v = json_stringn(buf, need);
	free(buf);
	return v;
}

json_t *djson_string(const char *s)
{
	return s ? djson_bytes(s, strlen(s)) : json_null();
}

static json_t *field_value(const struct djson_field *f)
{
	double scale;

	switch (f->kind) {
	case DJSON_U64:
		return json_integer(f->u64 > INT64_MAX ? INT64_MAX :
							 (json_int_t)f->u64);
	case DJSON_I64:
		return json_integer((json_int_t)f->i64);
	case DJSON_BOOL:
		return json_boolean(f->boolean);
	case DJSON_STR:
		return djson_string(f->str);
	case DJSON_REAL:
		if (!isfinite(f->real))
			return NULL;
		scale = pow(10, f->decimals);
		return json_real(round(f->real * scale) / scale);
	case DJSON_VALUE:
		return f->value;
	}
	return NULL;
}

json_t *djson_object(const struct djson_field *fields, size_t n)
{
	json_t *obj = json_object();
	size_t i = 0;

	if (!obj)
		goto fail;
	for (; i < n; i++) {
		/* json_object_set_new() takes the value, NULL or not */
		if (json_object_set_new(obj, fields[i].key,
					field_value(&fields[i])) < 0) {
			i++;
			goto fail;
		}
	}
	return obj;
fail:
	/* the DJSON_VALUEs not reached are ours to drop too */
	for (; i < n; i++)
		if (fields[i].kind == DJSON_VALUE)
			json_decref(fields[i].value);
	json_decref(obj);
	return NULL;
}

char *djson_dump_line(const json_t *v)
{
	char *text, *line;
	size_t len;

	if (!v)
		return NULL;
	text = json_dumps(v, DJSON_DUMP_FLAGS);
	if (!text)
		return NULL;
	len = strlen(text);
	line = realloc(text, len + 2);
	if (!line) {
		free(text);
		return NULL;
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	return line;
}

int djson_print(FILE *out, const json_t *v)
{
	char *line;
	int ret = 0;

	if (!v)
		return -EINVAL;
	line = djson_dump_line(v);
	if (!line)
		return -ENOMEM;
	if (fputs(line, out) == EOF)
		ret = -EIO;
	free(line);
	return ret;
}

int djson_print_fields(FILE *out, const struct djson_field *fields,
		       size_t n)
{
	json_t *obj = djson_object(fields, n);
	int ret;

	if (!obj)
		return -ENOMEM;
	ret = djson_print(out, obj);
	json_decref(obj);
	return ret;
}

json_t *djson_parse_object(const char *text)
{
	json_error_t err;
	json_t *v;

	if (!text)
		return NULL;
	v = json_loads(text, 0, &err);
	if (v && !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}
