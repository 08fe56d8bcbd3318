/* Sorted function tables shared by ELF symbol tables and JIT perf maps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "syms_internal.h"

struct symtab_ent {
	uint64_t addr;
	uint64_t size;
	uint64_t end_hint;
	const char *name;  /* the caller's, until finish copies the kept ones */
	uint32_t rank;
	/* Input order: qsort is not stable, and ties must resolve the same way every run. */
	uint32_t seq;
	uint32_t name_len;
};

/* How far back a lookup looks for a symbol that encloses a smaller one after it. */
#define SYMTAB_NESTED_SCAN 8

int syms_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t ncap = *cap ? *cap : first;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		ncap *= 2;
	}
	np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

int symtab_builder__add(struct symtab_builder *b, const char *name, size_t name_len,
			uint64_t addr, uint64_t size, uint64_t end_hint, uint32_t rank)
{
	struct symtab_ent *e;
	int err;

	if (name_len >= UINT32_MAX || b->nr >= UINT32_MAX)
		return -E2BIG;
	err = syms_grow((void **)&b->ents, &b->cap, b->nr + 1, sizeof(*b->ents), 64);
	if (err)
		return err;
	e = &b->ents[b->nr];
	e->addr = addr;
	e->size = size;
	e->end_hint = end_hint;
	e->name = name;
	e->name_len = (uint32_t)name_len;
	e->rank = rank;
	e->seq = (uint32_t)b->nr;
	b->nr++;
	return 0;
}

/* Best alias last within one address, so the de-duplication keeps the last of a run. */
static int ent_cmp(const void *pa, const void *pb)
{
	const struct symtab_ent *a = pa, *b = pb;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	/* Equal rank: the first added wins, so it sorts last. */
	return a->seq > b->seq ? -1 : a->seq < b->seq;
}

void symtab_builder__free(struct symtab_builder *b)
{
	free(b->ents);
	memset(b, 0, sizeof(*b));
}

int symtab_builder__finish(struct symtab_builder *b, struct symtab *tab)
{
	struct symtab_ent *e = b->ents;
	size_t i, n = 0, names_len = 0, off = 0;
	struct sym *syms = NULL;
	char *names = NULL;

	memset(tab, 0, sizeof(*tab));
	if (b->nr == 0) {
		symtab_builder__free(b);
		return 0;
	}
	qsort(e, b->nr, sizeof(*e), ent_cmp);
	/* Keep the last entry of each address run; compact in place. */
	for (i = 0; i < b->nr; i++) {
		if (i + 1 < b->nr && e[i + 1].addr == e[i].addr)
			continue;
		e[n++] = e[i];
		names_len += e[i].name_len + 1;
	}
	syms = malloc(n * sizeof(*syms));
	names = malloc(names_len);
	if (!syms || !names) {
		free(syms);
		free(names);
		symtab_builder__free(b);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		uint64_t size = e[i].size;

		if (size == 0) {
			uint64_t end = e[i].end_hint;

			if (i + 1 < n && (end <= e[i].addr || e[i + 1].addr < end))
				end = e[i + 1].addr;
			size = end > e[i].addr ? end - e[i].addr : 0;
		}
		memcpy(names + off, e[i].name, e[i].name_len);
		names[off + e[i].name_len] = '\0';
		syms[i].name = names + off;
		syms[i].addr = e[i].addr;
		syms[i].size = size;
		off += e[i].name_len + 1;
	}
	symtab_builder__free(b);
	tab->syms = syms;
	tab->nr = n;
	tab->names = names;
	return 0;
}

const struct sym *symtab__lookup(const struct symtab *tab, uint64_t addr)
{
	size_t lo = 0, hi = tab->nr, i, stop;

	/* Find the first symbol above addr; candidates are before it. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tab->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	stop = lo > SYMTAB_NESTED_SCAN ? lo - SYMTAB_NESTED_SCAN : 0;
	for (i = lo; i > stop; i--) {
		const struct sym *s = &tab->syms[i - 1];

		if (addr - s->addr < s->size || addr == s->addr)
			return s;
	}
	return NULL;
}

const struct sym *symtab__find_name(const struct symtab *tab, const char *name)
{
	size_t i;

	for (i = 0; i < tab->nr; i++)
		if (strcmp(tab->syms[i].name, name) == 0)
			return &tab->syms[i];
	return NULL;
}

void symtab__free(struct symtab *tab)
{
	free(tab->syms);
	free(tab->names);
	memset(tab, 0, sizeof(*tab));
}

/* ---- perf maps ---- */

const char *syms_hex_field(const char *p, const char *end, uint64_t *v)
{
	const char *start = p;
	uint64_t x = 0;

	for (; p < end; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (x >> 60)
			return NULL;
		x = x << 4 | d;
	}
	if (p == start)
		return NULL;
	*v = x;
	return p;
}

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

struct perf_map *perf_map__load(const char *path)
{
	struct perf_map *pm;
	size_t len;
	char *buf;
	int err;

	err = syms_read_path(path, &buf, &len);
	if (err) {
		errno = -err;
		return NULL;
	}
	pm = perf_map__parse(buf, len);
	err = errno;
	free(buf);
	errno = err;
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
