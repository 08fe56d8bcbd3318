/* One hash table for the user side: keys are byte strings the table copies, values a
 * pointer or a 64-bit number. Open addressing with linear probing (no tombstones: deletion
 * moves later entries back), at most half full, so a lookup touches one or two cache lines.
 * Used for interned names and stacks, per-drain caches, merged counts (profile) and the
 * symbolizer's processes and files (syms).
 *
 * Entries move when the table grows or an entry is deleted: keep keys, not entry pointers,
 * across an htab__get(..., true) or htab__del(). A zeroed struct htab is an empty table. */
#ifndef COMMON_HTAB_H
#define COMMON_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htab_ent {
	uint64_t hash;
	void *key;  /* the table's copy of the key; NULL: a free slot */
	size_t len;
	union {
		void *ptr;
		uint64_t u64;
	} val;
};

struct htab {
	struct htab_ent *ents;
	size_t cap, n;  /* cap: a power of two, or 0 */
};

/* The entry of key[0..len), added with a zero value when absent and add is set. NULL when
 * absent, or when adding ran out of memory. */
struct htab_ent *htab__get(struct htab *t, const void *key, size_t len, bool add);

/* Removes e, an entry of t (from htab__get or a walk), and frees its key copy; the value
 * is the caller's. */
void htab__del(struct htab *t, struct htab_ent *e);

/* Frees the keys and the slots (not what the values point to); t is empty afterwards. */
void htab__free(struct htab *t);

/* Walks the entries: for (e = NULL; (e = htab__next(t, e));). Not across a change of t. */
struct htab_ent *htab__next(const struct htab *t, struct htab_ent *e);

#endif
