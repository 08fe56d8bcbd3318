#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stacks.h"

const char *stacks__intern(struct stacks *st, const char *s)
{
	struct htab_ent *e = htab__get(&st->strings, s, strlen(s) + 1, true);

	return e ? e->key : NULL;
}

const struct frame *stacks__frame(struct stacks *st, const struct frame *f)
{
	struct {
		const char *name;
		uint64_t kind;
	} key = { stacks__intern(st, f->name), f->kind };
	struct htab_ent *e;
	struct frame *nf;

	if (!key.name)
		return NULL;
	e = htab__get(&st->frames, &key, sizeof(key), true);
	if (!e)
		return NULL;
	if (e->val.ptr)
		return e->val.ptr;
	nf = calloc(1, sizeof(*nf));
	if (!nf)
		return NULL;
	nf->name = key.name;
	nf->module = f->module ? stacks__intern(st, f->module) : NULL;
	nf->build_id = f->build_id ? stacks__intern(st, f->build_id) : NULL;
	nf->addr = f->addr;
	nf->kind = f->kind;
	/* Interning may have grown the table: look the entry up again. */
	e = htab__get(&st->frames, &key, sizeof(key), true);
	if (!e) {
		free(nf);
		return NULL;
	}
	e->val.ptr = nf;
	return nf;
}

const struct stack *stacks__stack(struct stacks *st, const struct frame *const *f, size_t n)
{
	size_t len = sizeof(size_t) + n * sizeof(*f);
	struct htab_ent *e;
	struct stack *buf;

	buf = malloc(len);
	if (!buf)
		return NULL;
	buf->n = n;
	memcpy(buf->f, f, n * sizeof(*f));
	e = htab__get(&st->stacks, buf, len, true);
	free(buf);
	return e ? e->key : NULL;
}

int stacks__add(struct stacks *st, const struct stack_key *k, uint64_t count)
{
	struct htab_ent *e = htab__get(&st->recs, k, sizeof(*k), true);

	if (!e)
		return -ENOMEM;
	e->val.u64 += count;
	st->counted += count;
	return 0;
}

size_t stacks__count(const struct stacks *st)
{
	return st->recs.n;
}

static int cmp_stacks(const struct stack *a, const struct stack *b)
{
	size_t i;
	int c;

	if (a == b)
		return 0;
	if (!a || !b)
		return a ? 1 : -1;
	for (i = 0; i < a->n && i < b->n; i++) {
		c = strcmp(a->f[i]->name, b->f[i]->name);
		if (c)
			return c;
	}
	return a->n < b->n ? -1 : a->n > b->n;
}

static int cmp_content(const struct stack_rec *a, const struct stack_rec *b)
{
	int c = strcmp(a->k->comm, b->k->comm);

	if (c)
		return c;
	if (a->k->pid != b->k->pid)
		return a->k->pid < b->k->pid ? -1 : 1;
	if (a->k->kstate != b->k->kstate)
		return a->k->kstate < b->k->kstate ? -1 : 1;
	if (a->k->ustate != b->k->ustate)
		return a->k->ustate < b->k->ustate ? -1 : 1;
	c = cmp_stacks(a->k->us, b->k->us);
	return c ? c : cmp_stacks(a->k->ks, b->k->ks);
}

static int cmp_ascending(const void *pa, const void *pb)
{
	const struct stack_rec *a = pa, *b = pb;

	if (a->count != b->count)
		return a->count < b->count ? -1 : 1;
	return cmp_content(a, b);
}

static int cmp_descending(const void *pa, const void *pb)
{
	const struct stack_rec *a = pa, *b = pb;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return cmp_content(a, b);
}

struct stack_rec *stacks__sorted(const struct stacks *st, bool descending, size_t *n)
{
	struct stack_rec *recs = calloc(st->recs.n ? st->recs.n : 1, sizeof(*recs));
	struct htab_ent *e;
	size_t i = 0;

	if (!recs)
		return NULL;
	for (e = NULL; (e = htab__next(&st->recs, e));) {
		recs[i].k = e->key;
		recs[i].count = e->val.u64;
		i++;
	}
	qsort(recs, i, sizeof(*recs), descending ? cmp_descending : cmp_ascending);
	*n = i;
	return recs;
}

void stacks__free(struct stacks *st)
{
	struct htab_ent *e;

	for (e = NULL; (e = htab__next(&st->frames, e));)
		free(e->val.ptr);
	htab__free(&st->frames);
	htab__free(&st->strings);
	htab__free(&st->stacks);
	htab__free(&st->recs);
}
