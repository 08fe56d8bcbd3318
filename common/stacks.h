/* Symbolized stacks merged into counts, for tools that sample stacks (profile): frames,
 * stacks and names are interned (one copy, compared by pointer), and samples with the same
 * process name, pid, identity and stacks add up in one record. Memory follows the distinct stacks,
 * not the samples. The output formats (stackfmt.h) read the records. */
#ifndef COMMON_STACKS_H
#define COMMON_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htab.h"

struct identity_rec;

#define STACKS_COMM_LEN 16

enum frame_kind {
	FRAME_USER,
	FRAME_KERNEL,
};

/* One frame. Interned by kind and name: a name is one frame wherever it was seen; the other
 * fields are those of its first sighting. */
struct frame {
	const char *name;      /* function name, or "[unknown]..." */
	const char *module;    /* file the code was mapped from (as its process saw it),
				* "[vdso]", a perf map; kernel: NULL; NULL when unknown */
	const char *build_id;  /* the module's GNU build-id in hex, or NULL */
	uint64_t addr;         /* user: the offset in module (or the address when there is no
				* module); kernel: the address */
	uint32_t kind;         /* enum frame_kind */
};

/* An interned stack, leaf first. */
struct stack {
	size_t n;
	const struct frame *f[];
};

enum stack_state {
	STACK_FRAMES,  /* frames (maybe none) */
	STACK_NONE,    /* no stack of this kind: not asked for, or none exists */
	STACK_MISSED,  /* the stack existed but was lost */
};

/* What merges: every field a value or an interned pointer, zero padded. */
struct stack_key {
	const struct stack *us, *ks;  /* user and kernel stacks; NULL unless STACK_FRAMES */
	/* The process's container and ids (common/identity.h, interned), or only its container
	 * (folded output); NULL when not kept. */
	const struct identity_rec *idr;
	uint32_t ustate, kstate;      /* enum stack_state */
	uint32_t pid;
	char comm[STACKS_COMM_LEN];
	uint32_t pad;  /* explicit: the key is hashed and compared as bytes */
};

struct stack_rec {
	const struct stack_key *k;
	uint64_t count;
};

struct stacks {
	struct htab strings, frames, stacks, recs;
	uint64_t counted;  /* samples added */
};

/* A zeroed struct stacks is empty. Interning returns NULL only when out of memory. */
const char *stacks__intern(struct stacks *st, const char *s);

/* The frame named f->name of kind f->kind; its strings are interned here. */
const struct frame *stacks__frame(struct stacks *st, const struct frame *f);

const struct stack *stacks__stack(struct stacks *st, const struct frame *const *f, size_t n);

/* Adds count samples to k's record. -ENOMEM. */
int stacks__add(struct stacks *st, const struct stack_key *k, uint64_t count);

/* Distinct records. */
size_t stacks__count(const struct stacks *st);

/* A malloc'd array of every record (*n of them), the most frequent first (descending) or
 * last; equal counts in an order that does not depend on the hash. NULL: out of memory. */
struct stack_rec *stacks__sorted(const struct stacks *st, bool descending, size_t *n);

void stacks__free(struct stacks *st);

#endif
