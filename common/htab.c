#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

static uint64_t hash_bytes(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ull;  /* FNV-1a, then a final mix */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

static struct htab_ent *slot(struct htab_ent *ents, size_t cap, uint64_t h, const void *key,
			     size_t len)
{
	size_t i = h & (cap - 1);

	while (ents[i].key && !(ents[i].hash == h && ents[i].len == len &&
				memcmp(ents[i].key, key, len) == 0))
		i = (i + 1) & (cap - 1);
	return &ents[i];
}

static int grow(struct htab *t)
{
	size_t cap = t->cap ? t->cap * 2 : 16, i;
	struct htab_ent *ents;

	if (cap < t->cap || cap > SIZE_MAX / sizeof(*ents))
		return -ENOMEM;
	ents = calloc(cap, sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	for (i = 0; i < t->cap; i++)
		if (t->ents[i].key)
			*slot(ents, cap, t->ents[i].hash, t->ents[i].key, t->ents[i].len) =
				t->ents[i];
	free(t->ents);
	t->ents = ents;
	t->cap = cap;
	return 0;
}

struct htab_ent *htab__get(struct htab *t, const void *key, size_t len, bool add)
{
	uint64_t h = hash_bytes(key, len);
	struct htab_ent *e;

	if (t->cap) {
		e = slot(t->ents, t->cap, h, key, len);
		if (e->key || !add)
			return e->key ? e : NULL;
	} else if (!add) {
		return NULL;
	}
	if ((t->n + 1) * 2 > t->cap && grow(t))
		return NULL;
	e = slot(t->ents, t->cap, h, key, len);
	e->key = malloc(len ? len : 1);
	if (!e->key)
		return NULL;
	memcpy(e->key, key, len);
	e->hash = h;
	e->len = len;
	e->val.u64 = 0;
	t->n++;
	return e;
}

void htab__del(struct htab *t, struct htab_ent *e)
{
	size_t mask = t->cap - 1, hole = (size_t)(e - t->ents), j = hole, home;

	free(e->key);
	e->key = NULL;
	t->n--;
	for (;;) {
		j = (j + 1) & mask;
		if (!t->ents[j].key)
			return;
		home = t->ents[j].hash & mask;
		/* Entry j may fill the hole unless its home lies cyclically in (hole, j]. */
		if (hole <= j ? (home > hole && home <= j) : (home > hole || home <= j))
			continue;
		t->ents[hole] = t->ents[j];
		t->ents[j].key = NULL;
		hole = j;
	}
}

void htab__free(struct htab *t)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		free(t->ents[i].key);
	free(t->ents);
	memset(t, 0, sizeof(*t));
}

struct htab_ent *htab__next(const struct htab *t, struct htab_ent *e)
{
	struct htab_ent *end;

	if (!t->cap)
		return NULL;
	end = t->ents + t->cap;
	for (e = e ? e + 1 : t->ents; e < end; e++)
		if (e->key)
			return e;
	return NULL;
}
