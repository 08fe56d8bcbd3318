/* Output formats for merged stack counts (stacks.h): BCC's text layout, folded lines (for
 * flame graphs), JSON lines; each takes the records in the order to print. */
#ifndef COMMON_STACKFMT_H
#define COMMON_STACKFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "stacks.h"

struct stackfmt_opts {
	bool user_only;    /* no kernel frames */
	bool kernel_only;  /* no user frames */
	bool delimited;    /* "--" (text) or "-" (folded) between kernel and user frames */
	bool annotations;  /* "_[k]" after kernel frame names */
};

/* Kernel frames, user frames (each leaf first), "-  comm (pid)", count; a blank line. */
void stackfmt__text(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *rec);

/* "comm;user frames;kernel frames count", root first, as flamegraph.pl reads it. A ';' in a
 * name becomes "\x3b" (with the usual escaping of the rest). */
void stackfmt__folded(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *rec);

/* One JSON object: pid, comm, count, kernel_stack / user_stack (leaf first) and
 * kernel_stack_missed / user_stack_missed. */
void stackfmt__json(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *rec);

#endif
