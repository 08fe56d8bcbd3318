/* JIT perf maps (/tmp/perf-PID.map): "START SIZE name" lines into a symbol table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "perfmap.h"
#include "util.h"

/* Perf maps may write addresses with or without 0x. */
static const char *parse_hex(const char *p, const char *end, uint64_t *v)
{
	if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	return syms_hex_field(p, end, v);
}

int perf_map_parse_tab(const char *buf, size_t len, struct symtab *tab)
{
	struct symtab_builder b = {0};
	const char *p = buf, *end = buf + len;
	uint32_t line = 0;
	int err;

	while (p < end) {
		const char *eol = memchr(p, '\n', end - p), *q;
		uint64_t start = 0, size = 0;

		if (!eol)
			eol = end;
		q = parse_hex(p, eol, &start);
		if (q && q < eol && *q == ' ')
			q = parse_hex(q + 1, eol, &size);
		else
			q = NULL;
		if (q && q < eol && *q == ' ' && q + 1 < eol && size > 0) {
			const char *name = q + 1;
			size_t nlen = eol - name;

			if (nlen && name[nlen - 1] == '\r')
				nlen--;
			/* Later lines win: rank by line number. */
			err = symtab_builder__add(&b, name, nlen, start, size, 0, line);
			if (err) {
				symtab_builder__free(&b);
				return err;
			}
		}
		line++;
		p = eol + 1;
	}
	return symtab_builder__finish(&b, tab);
}

struct perf_map {
	struct symtab tab;
};

struct perf_map *perf_map__parse(const char *buf, size_t len)
{
	struct perf_map *pm = calloc(1, sizeof(*pm));
	int err;

	if (!pm)
		return NULL;
	err = perf_map_parse_tab(buf, len, &pm->tab);
	if (err) {
		free(pm);
		errno = -err;
		return NULL;
	}
	return pm;
}

void perf_map__free(struct perf_map *pm)
{
	if (!pm)
		return;
	symtab__free(&pm->tab);
	free(pm);
}

const struct sym *perf_map__map_addr(const struct perf_map *pm, uint64_t addr, uint64_t *offset)
{
	const struct sym *s = symtab__lookup(&pm->tab, addr);

	if (s && offset)
		*offset = addr - s->addr;
	return s;
}

size_t perf_map__count(const struct perf_map *pm)
{
	return pm->tab.nr;
}
