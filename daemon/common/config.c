// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The configuration file as argv words. The parser knows no option: it only
 * turns lines into "--name=value" words, and getopt_long (after
 * config_check) decides what they mean, so that a new option of `dedupd
 * watch` is a config option without a line here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/config.h"
#include "daemon/common/util.h"

struct parser {
	const char *path;
	unsigned int line;	/* 0: the message is about the whole file */
	char *err;
	size_t errlen;
};

/* Fills @p->err with "PATH:LINE: message". Returns @ret. */
__attribute__((format(printf, 3, 4)))
static int fail(const struct parser *p, int ret, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errlen)
		return ret;
	if (p->line)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->path, p->line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->path);
	if (n < 0 || (size_t)n >= p->errlen)
		return ret;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return ret;
}

static int fail_errno(const struct parser *p, int ret)
{
	char buf[128];

	return fail(p, ret, "%s", strerror_r(-ret, buf, sizeof(buf)));
}

/* Not isspace(): the locale must not change what a blank is. */
static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Reads all of @fd into a NUL-terminated buffer, up to the limit. */
static int read_file(const struct parser *p, int fd, char **ret_buf,
		     size_t *ret_len)
{
	size_t len = 0, cap;
	struct stat st;
	char *buf;
	ssize_t n;

	if (fstat(fd, &st))
		return fail_errno(p, -errno);
	if (S_ISDIR(st.st_mode))
		return fail_errno(p, -EISDIR);
	if (!S_ISREG(st.st_mode))
		return fail(p, -EINVAL, "not a regular file");
	if (st.st_size > CONFIG_MAX_FILE)
		return fail(p, -EFBIG, "larger than %d bytes", CONFIG_MAX_FILE);

	/* The size is a hint: the file may grow while it is read. */
	cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap) {
			cap = cap * 2 > CONFIG_MAX_FILE + 2 ?
				      CONFIG_MAX_FILE + 2 : cap * 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			free(buf);
			return fail_errno(p, (int)n);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_MAX_FILE) {
			free(buf);
			return fail(p, -EFBIG, "larger than %d bytes",
				    CONFIG_MAX_FILE);
		}
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

/*
 * Undoes the quoting of @s (which starts with '"') in place. Returns 0, or
 * -EINVAL with the message in @p->err.
 */
static int unquote(const struct parser *p, char *s)
{
	const char *in = s + 1;
	char *out = s;

	for (;;) {
		char c = *in++;

		if (c == '\0')
			return fail(p, -EINVAL, "unterminated quoted value");
		if (c == '"')
			break;
		/* A lone backslash at the end is unterminated, next turn. */
		if (c == '\\' && (*in == '"' || *in == '\\'))
			c = *in++;
		else if (c == '\\' && *in)
			return fail(p, -EINVAL, "invalid escape '\\%c'", *in);
		*out++ = c;
	}
	/* The caller trimmed trailing blanks: anything left is text. */
	if (*in)
		return fail(p, -EINVAL,
			    "unexpected text after the closing quote");
	*out = '\0';
	return 0;
}

/*
 * Parses one NUL-terminated line. Returns 0 and sets *@ret_word to the new
 * "--name[=value]" word, or to NULL for a blank line or a comment; or
 * -EINVAL with the message in @p->err.
 */
static int parse_line(const struct parser *p, char *s, char **ret_word)
{
	char *name, *value, *end, *word;
	size_t name_len, value_len;
	int has_equals = 0, quoted = 0;

	while (is_blank(*s))
		s++;
	if (*s == '\0' || *s == '#') {
		*ret_word = NULL;
		return 0;
	}
	if (*s == '-')
		return fail(p, -EINVAL,
			    "option name expected, without the leading '-'");
	if (!is_name_char(*s))
		return fail(p, -EINVAL, "option name expected");
	name = s;
	while (is_name_char(*s))
		s++;
	name_len = (size_t)(s - name);
	if (*s && !is_blank(*s) && *s != '=') {
		if (*s > ' ' && *s < 0x7f)
			return fail(p, -EINVAL,
				    "invalid character '%c' in option name",
				    *s);
		return fail(p, -EINVAL, "invalid byte 0x%02x in option name",
			    (unsigned char)*s);
	}

	while (is_blank(*s))
		s++;
	if (*s == '=') {
		has_equals = 1;
		s++;
		while (is_blank(*s))
			s++;
	}
	value = s;
	end = value + strlen(value);
	while (end > value && is_blank(end[-1]))
		end--;
	*end = '\0';
	if (*value == '\0' && has_equals)
		return fail(p, -EINVAL,
			    "value expected after '=' (\"\" for an empty one)");
	if (*value == '"') {
		int ret = unquote(p, value);

		if (ret)
			return ret;
		quoted = 1;
	}

	value_len = strlen(value);
	word = xmalloc(2 + name_len + 1 + value_len + 1);
	memcpy(word, "--", 2);
	memcpy(word + 2, name, name_len);
	if (*value || quoted) {
		word[2 + name_len] = '=';
		memcpy(word + 2 + name_len + 1, value, value_len + 1);
	} else {
		word[2 + name_len] = '\0';
	}
	*ret_word = word;
	return 0;
}

int config_parse(const char *path, const char *buf, size_t len,
		 struct config *ret, char *err, size_t errlen)
{
	struct parser p = { .path = path, .err = err, .errlen = errlen };
	struct config c = { .argc = 0 };
	char line[CONFIG_MAX_LINE + 1];
	size_t argv_cap = 0, lines_cap = 0, pos = 0;
	int r;

	if (!path || (!buf && len))
		return -EINVAL;
	if (len > CONFIG_MAX_FILE)
		return fail(&p, -EFBIG, "larger than %d bytes",
			    CONFIG_MAX_FILE);

	c.argv = grow_array(NULL, &argv_cap, 1, sizeof(*c.argv));
	c.argv[0] = NULL;
	while (pos < len) {
		const char *s = buf + pos, *nl;
		size_t n;
		char *word;

		p.line++;
		nl = memchr(s, '\n', len - pos);
		n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n > CONFIG_MAX_LINE) {
			r = fail(&p, -EFBIG, "line longer than %d bytes",
				 CONFIG_MAX_LINE);
			goto out_free;
		}
		if (memchr(s, '\0', n)) {
			r = fail(&p, -EINVAL, "NUL byte in line");
			goto out_free;
		}
		memcpy(line, s, n);
		line[n] = '\0';
		r = parse_line(&p, line, &word);
		if (r)
			goto out_free;
		if (!word)
			continue;
		if (c.argc == CONFIG_MAX_OPTIONS) {
			free(word);
			r = fail(&p, -EFBIG, "more than %d options",
				 CONFIG_MAX_OPTIONS);
			goto out_free;
		}
		c.argv = grow_array(c.argv, &argv_cap, (size_t)c.argc + 2,
				    sizeof(*c.argv));
		c.lines = grow_array(c.lines, &lines_cap, (size_t)c.argc + 1,
				     sizeof(*c.lines));
		c.lines[c.argc] = p.line;
		c.argv[c.argc++] = word;
		c.argv[c.argc] = NULL;
	}
	c.path = xstrdup(path);
	*ret = c;
	return 0;

out_free:
	config_free(&c);
	return r;
}

int config_load(const char *path, struct config *ret, char *err,
		size_t errlen)
{
	struct parser p = { .path = path, .err = err, .errlen = errlen };
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail_errno(&p, -errno);
	r = read_file(&p, fd, &buf, &len);
	close(fd);
	if (r)
		return r;
	r = config_parse(path, buf, len, ret, err, errlen);
	free(buf);
	return r;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	if (c->argv)
		for (int i = 0; i < c->argc; i++)
			free(c->argv[i]);
	free(c->argv);
	free(c->lines);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

int config_check(const struct config *c, const struct option *longopts,
		 char *err, size_t errlen)
{
	struct parser p = { .err = err, .errlen = errlen };

	if (!c)
		return 0;
	p.path = c->path ? c->path : "config";
	for (int i = 0; i < c->argc; i++) {
		const char *name = c->argv[i] + 2;
		const char *eq = strchr(name, '=');
		size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
		const struct option *o;

		p.line = c->lines ? c->lines[i] : 0;
		for (o = longopts; o->name; o++)
			if (strlen(o->name) == name_len &&
			    !strncmp(o->name, name, name_len))
				break;
		if (!o->name)
			return fail(&p, -EINVAL, "unknown option '%.*s'",
				    (int)name_len, name);
		if (o->has_arg == no_argument && eq)
			return fail(&p, -EINVAL, "option '%s' takes no value",
				    o->name);
		if (o->has_arg == required_argument && !eq)
			return fail(&p, -EINVAL, "option '%s' needs a value",
				    o->name);
	}
	return 0;
}

char **config_merge_argv(const struct config *c, int argc, char **argv,
			 int *ret_argc)
{
	int nconf = c ? c->argc : 0, n = 0;
	char **merged;

	if (argc < 1)
		return NULL;
	merged = xmalloc(((size_t)argc + (size_t)nconf + 1) * sizeof(*merged));
	merged[n++] = argv[0];
	for (int i = 0; i < nconf; i++)
		merged[n++] = c->argv[i];
	for (int i = 1; i < argc; i++)
		merged[n++] = argv[i];
	merged[n] = NULL;
	*ret_argc = n;
	return merged;
}
