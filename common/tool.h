/* The steps every tool takes between parsing options and its loop, so each frontend reads
 * top to bottom: tool__init → open skeleton → tool__before_load → load → tool__after_load →
 * attach → loop → tool__report_lost. */
#ifndef COMMON_TOOL_H
#define COMMON_TOOL_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

struct bpf_object;
struct evbuf;
struct out;

/* Logging, signals and stdout buffering; checks privileges and kernel BTF (one-line error).
 * Returns 0 or a negative errno. */
int tool__init(const char *name, const struct cli_common *c);

/* Before load: the common filters, and the event ring (ring_bytes; 0 when the tool sends
 * no events). Prints its own error. */
int tool__before_load(struct bpf_object *obj, const struct cli_common *c, size_t ring_bytes);

/* After load: the cgroup filter. Prints its own error. */
int tool__after_load(struct bpf_object *obj, const struct cli_common *c);

/* "Tracing ... Hit Ctrl-C to end." on stderr, once attached, so a person (and a test) knows
 * when events start to count. */
void tool__ready(const char *what);

/* At exit: lost events on stderr, and as {"lost_events":N} in JSON. Returns the count. */
uint64_t tool__report_lost(struct evbuf *eb, struct out *o);

#endif
