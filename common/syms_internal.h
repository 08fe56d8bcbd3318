/* Shared by the symbolizer's own files (ksyms.c, procmaps.c, elfsyms.c, syms.c); not an API. */
#ifndef COMMON_SYMS_INTERNAL_H
#define COMMON_SYMS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "syms.h"

/* An opts field the caller's (possibly older, smaller) struct holds, else the fallback. */
#define SYMS_OPT(opts, field, fallback)                                                     \
	((opts) && (opts)->sz >= offsetof(__typeof__(*(opts)), field) + sizeof((opts)->field) \
		 ? (opts)->field                                                           \
		 : (fallback))

#define SYMS_DEFAULT_DEBUG_DIR "/usr/lib/debug"

/* A sorted, de-duplicated function table whose names live in one allocation. */
struct symtab {
	struct sym *syms;
	size_t nr;
	char *names;
};

struct symtab_ent;

/* Collects candidates in any order, then sorts them once: adding is an append. Names are
 * not copied until finish, and then only the kept ones. */
struct symtab_builder {
	struct symtab_ent *ents;
	size_t nr, cap;
};

/* Adds a candidate; name[0..name_len) must stay valid until finish. size 0 means unknown:
 * the symbol then ends at the next symbol, or at end_hint (the end of its section) if that
 * is nearer; end_hint 0 means unknown. Of candidates at one address the highest rank is
 * kept (ties: the first added). */
int symtab_builder__add(struct symtab_builder *b, const char *name, size_t name_len,
			uint64_t addr, uint64_t size, uint64_t end_hint, uint32_t rank);

/* Sorts, drops lower-ranked aliases, fixes unknown sizes, moves the result into *tab (which
 * must be empty) and frees the builder's memory, also on error. */
int symtab_builder__finish(struct symtab_builder *b, struct symtab *tab);
void symtab_builder__free(struct symtab_builder *b);

const struct sym *symtab__lookup(const struct symtab *tab, uint64_t addr);
const struct sym *symtab__find_name(const struct symtab *tab, const char *name);
void symtab__free(struct symtab *tab);

/* Reads an open file to its end (procfs files report size 0, so this grows a buffer) into a
 * malloc'd NUL-terminated buffer. */
int syms_read_fd(int fd, char **buf, size_t *len);
int syms_read_path(const char *path, char **buf, size_t *len);

/* Parses a perf map text into a table. */
int perf_map_parse_tab(const char *buf, size_t len, struct symtab *tab);

/* Grows the array *p of *cap elements of elem bytes to hold need, doubling from first.
 * Returns 0 or -ENOMEM (on overflow too). */
int syms_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

/* Parses hex digits at p (before end) into *v. Returns the first byte after them, or NULL
 * when there are none or the value overflows 64 bits. */
const char *syms_hex_field(const char *p, const char *end, uint64_t *v);

#endif
