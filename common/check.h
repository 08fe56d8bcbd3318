/* --check: what this kernel and this process allow, and what the tool would attach to, one
 * line each on stdout ("ITEM: yes|no[: detail][; fix: what to do]", or one JSON object per
 * line with -j), then "result: yes|no: ..." and exit status 0 when the tool can run, 1 when
 * it cannot. The tool goes through its normal start-up (probes, program choice, load,
 * attach) and stops where it would start tracing, so the answer is the tool's own. */
#ifndef COMMON_CHECK_H
#define COMMON_CHECK_H

#include <stdbool.h>

struct bpf_object;

/* Starts check mode: prints the environment lines and arranges for "result: no: <the last
 * error>" at exit should the tool stop before it is ready. Called by tool__init. */
void check__begin(const char *tool, bool json);

bool check__active(void);

/* Something the tool chose that its programs' sections do not say (the perf event profile
 * samples): printed as "attach: WHAT" at the end. */
void check__attach_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The tool is attached and would start tracing now: prints the programs of obj it loaded
 * (their section names: the attach points chosen), the notes, "result: yes", and exits 0. */
void check__ready(struct bpf_object *obj) __attribute__((noreturn));

#endif
