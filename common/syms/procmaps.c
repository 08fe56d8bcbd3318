/* /proc/PID/maps parsing. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procmaps.h"
#include "util.h"

static const char deleted_suffix[] = " (deleted)";

static const char *expect(const char *p, const char *end, char c)
{
	return p && p < end && *p == c ? p + 1 : NULL;
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);

	return len >= plen && memcmp(s, prefix, plen) == 0;
}

static uint32_t path_flags(const char *path, size_t len)
{
	uint32_t flags = 0;

	if (len == 0)
		return PROCMAP_ANON;
	if (path[0] == '/')
		return PROCMAP_FILE;
	if (path[0] == '[' && path[len - 1] == ']') {
		flags = PROCMAP_PSEUDO;
		if (len == 6 && memcmp(path, "[vdso]", 6) == 0)
			flags |= PROCMAP_VDSO;
		else if (has_prefix(path, len, "[heap]") || has_prefix(path, len, "[stack") ||
			 has_prefix(path, len, "[anon:") || has_prefix(path, len, "[anon_shmem:"))
			flags |= PROCMAP_ANON;
	}
	return flags;
}

int procmap__parse_line(const char *line, size_t len, struct procmap *m)
{
	const char *p = line, *end = line + len, *perms;
	uint64_t major = 0, minor = 0;
	size_t plen;

	if (len && end[-1] == '\n')
		end--;
	memset(m, 0, sizeof(*m));
	p = syms_hex_field(p, end, &m->start);
	p = expect(p, end, '-');
	p = p ? syms_hex_field(p, end, &m->end) : NULL;
	p = expect(p, end, ' ');
	if (!p || end - p < 5 || p[4] != ' ')
		return -EINVAL;
	perms = p;
	if (perms[0] == 'r')
		m->flags |= PROCMAP_READ;
	if (perms[1] == 'w')
		m->flags |= PROCMAP_WRITE;
	if (perms[2] == 'x')
		m->flags |= PROCMAP_EXEC;
	if (perms[3] == 's')
		m->flags |= PROCMAP_SHARED;
	p = syms_hex_field(p + 5, end, &m->offset);
	p = expect(p, end, ' ');
	p = p ? syms_hex_field(p, end, &major) : NULL;
	p = expect(p, end, ':');
	p = p ? syms_hex_field(p, end, &minor) : NULL;
	p = expect(p, end, ' ');
	if (!p || m->end < m->start || major > UINT32_MAX || minor > UINT32_MAX)
		return -EINVAL;
	m->dev_major = (uint32_t)major;
	m->dev_minor = (uint32_t)minor;
	/* The inode is decimal. */
	if (p >= end || *p < '0' || *p > '9')
		return -EINVAL;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (m->inode > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		m->inode = m->inode * 10 + (uint64_t)(*p - '0');
	}
	if (p < end && *p != ' ')
		return -EINVAL;
	/* Padding to the path column; the path runs to the end of the line, spaces included. */
	while (p < end && *p == ' ')
		p++;
	plen = end - p;
	if (plen >= sizeof(deleted_suffix) - 1 &&
	    memcmp(end - (sizeof(deleted_suffix) - 1), deleted_suffix, sizeof(deleted_suffix) - 1) == 0) {
		plen -= sizeof(deleted_suffix) - 1;
		m->flags |= PROCMAP_DELETED;
	}
	m->path = p;
	m->path_len = plen;
	m->flags |= path_flags(p, plen);
	return 0;
}

int procmaps__parse(const char *buf, size_t len, procmap_cb cb, void *ctx)
{
	const char *p = buf, *end = buf + len;
	struct procmap m;
	int err;

	while (p < end) {
		const char *eol = memchr(p, '\n', end - p);
		const char *next = eol ? eol + 1 : end;

		if (!eol)
			eol = end;
		if (eol > p) {
			err = procmap__parse_line(p, eol - p, &m);
			if (err)
				return err;
			err = cb(&m, ctx);
			if (err)
				return err;
		}
		p = next;
	}
	return 0;
}

int procmaps__parse_file(FILE *f, procmap_cb cb, void *ctx)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int err = 0;

	errno = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		struct procmap m;

		if (n == 1 && line[0] == '\n')
			continue;
		err = procmap__parse_line(line, n, &m);
		if (!err)
			err = cb(&m, ctx);
		if (err)
			break;
	}
	if (!err && ferror(f))
		err = errno ? -errno : -EIO;
	free(line);
	return err;
}
