/* Output formats for merged stack counts (stacks.h): BCC's text layout, folded lines (for
 * flame graphs), JSON lines; each takes the records in the order to print. */
#ifndef COMMON_STACKFMT_H
#define COMMON_STACKFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stacks.h"

struct stackfmt_opts {
	bool user_only;    /* no kernel frames */
	bool kernel_only;  /* no user frames */
	bool delimited;    /* "--" (text) or "-" (folded) between kernel and user frames */
	bool annotations;  /* "_[k]" after kernel frame names */
	/* --containers: the container of each record (stack_key.idr) as the root frame of
	 * folded lines and flame graphs ("[host]" outside any), after the pid in text. */
	bool containers;
};

/* Kernel frames, user frames (each leaf first), "-  comm (pid)", count; a blank line. With
 * containers, a process in one has " container=LABEL" after its pid (and " ns_pid=N" when
 * its PID there differs). */
void stackfmt__text(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *rec);

/* "comm;user frames;kernel frames count", root first, as flamegraph.pl reads it; with
 * containers, "LABEL;comm;..." (the CONTAINER column's text: 12 digits of a 64-digit id, a
 * name whole) or "[host];comm;...". A ';' in a name becomes "\x3b" (with the usual escaping
 * of the rest). */
void stackfmt__folded(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *rec);

/* All of recs as folded lines, one per distinct text: records that differ only in what a
 * line does not show (the identities behind one container label, frames named alike) are
 * summed, most samples first, as flamegraph.pl would sum them. -ENOMEM or -errno of the
 * write. */
int stackfmt__folded_all(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *recs,
			 size_t n);

/* One JSON object: pid, comm, count, kernel_stack / user_stack (leaf first) and
 * kernel_stack_missed / user_stack_missed, and the identity keys (identity__json) when the
 * record has its identity. */
void stackfmt__json(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *rec);

/* Opens path for writing a file format: created 0644 or truncated, refused (-ELOOP,
 * -EINVAL) unless it is a regular file reached without a link as last component. */
int stackfmt__create(const char *path);

struct stackfmt_pprof_info {
	uint64_t period_ns;    /* CPU time one sample stands for */
	uint64_t time_ns;      /* wall-clock start of the profile (Unix epoch) */
	uint64_t duration_ns;
};

/* Writes path (created 0644; an existing link or FIFO there is refused) as a gzipped
 * pprof profile (profile.proto): one sample per record with its counts (samples, and CPU
 * nanoseconds at period_ns each), its frames leaf first (kernel frames, then user frames)
 * as locations with a mapping (the file and build-id; "[kernel.kallsyms]" for the kernel)
 * and a function, and labels comm, pid (when known), missed ("kernel stack", "user
 * stack"), and where the record has them container_id, container_runtime, pod_uid, cgroup
 * (strings), cgroup_id, mntns and ns_pid (numbers). Returns 0 or a negative errno. */
int stackfmt__pprof(const char *path, const struct stackfmt_opts *o, const struct stack_rec *recs,
		    size_t n, const struct stackfmt_pprof_info *info);

/* Writes path (created 0644; an existing link or FIFO there is refused) as a
 * self-contained interactive flame graph (SVG with its own script): frame widths in
 * proportion to samples, kernel and user frames in different colours, the frame and its
 * share on hover, zoom on click, search. title names the event. 0 or a negative errno. */
int stackfmt__flamegraph(const char *path, const struct stackfmt_opts *o,
			 const struct stack_rec *recs, size_t n, const char *title);

#endif
