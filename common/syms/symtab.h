/* Sorted function tables shared by ELF symbol tables and JIT perf maps. */
#ifndef COMMON_SYMS_SYMTAB_H
#define COMMON_SYMS_SYMTAB_H

#include <stddef.h>
#include <stdint.h>

/* One function. addr is the ELF virtual address (absolute for ET_EXEC, load-relative for PIE
 * and shared objects; the absolute address for perf-map entries). A symbol without a size in
 * the file extends to the next symbol or the end of its section, whichever comes first; if
 * neither is known, size is 0 and only addr itself matches. */
struct sym {
	const char *name;
	uint64_t addr;
	uint64_t size;
};

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

#endif
