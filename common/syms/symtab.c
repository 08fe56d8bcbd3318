/* Sorted function tables shared by ELF symbol tables and JIT perf maps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "symtab.h"
#include "util.h"

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
