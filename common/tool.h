/* The steps every tool takes between parsing options and its loop, so each frontend reads
 * top to bottom: tool__init → open skeleton → tool__before_load → load → tool__after_load →
 * attach → loop → tool__report_lost. */
#ifndef COMMON_TOOL_H
#define COMMON_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "evbuf.h"
#include "loop.h"

struct bpf_object;
struct evbuf;
struct out;

/* Logging, signals and stdout buffering; checks privileges and kernel BTF (one-line error).
 * Returns 0 or a negative errno. */
int tool__init(const char *name, const struct cli_common *c);

/* The BTF for the object's CO-RE relocations (bpf_object_open_opts.btf_custom_path): --btf
 * if given, else a minimal BTF made from the kernel's (common/btfmin.h), so libbpf does not
 * read and copy the whole kernel BTF; NULL (libbpf's default) if that cannot be had.
 * TOOL_CORE_BTF(c, opensnoop_bpf) passes the skeleton's embedded object. */
const char *tool__core_btf(const struct cli_common *c, const void *elf, size_t size);
#define TOOL_CORE_BTF(c, skel)                                       \
	({                                                            \
		size_t elf_size_;                                     \
		const void *elf_ = skel##__elf_bytes(&elf_size_);     \
		tool__core_btf((c), elf_, elf_size_);                 \
	})

/* Before load: the common filters, and the event ring (ring_bytes; 0 when the tool sends
 * no events). Prints its own error. */
int tool__before_load(struct bpf_object *obj, const struct cli_common *c, size_t ring_bytes);

/* After load: the cgroup filter. Prints its own error. */
int tool__after_load(struct bpf_object *obj, const struct cli_common *c);

struct bpf_object_skeleton;

/* tool__before_load, the skeleton's load (skel->skeleton) and tool__after_load in one step:
 * what every tool does once its rodata is set and its programs chosen. Prints its own
 * error; returns 0 or a negative errno. */
int tool__load(struct bpf_object_skeleton *skeleton, const struct cli_common *c,
	       size_t ring_bytes);

/* The rest of a snoop tool, after load: make the record writer, start consuming events (before attaching, so the
 * perf buffer loses nothing), attach the skeleton, print the header, run the event loop
 * until a signal, duration_ms or a closed stdout, and report lost events. Prints its own
 * errors; returns 0 or a negative errno. */
struct tool_events {
	struct bpf_object_skeleton *skeleton; /* skel->skeleton */
	/* The record writer is made here, on stdout, and stored in *out for the handler. */
	struct out_col *columns;
	int ncols;
	bool json;
	struct out **out;
	evbuf_sample_fn handler;
	void *ctx;
	const char *what;     /* "file opens": for the ready line */
	uint64_t duration_ms; /* 0: until interrupted */
	struct loop_tick tick; /* optional: see loop__events_tick */
	/* Optional, called with ctx: once the programs are attached, and once the events are
	 * drained, before they are detached (a tool's own checks over exactly that time). */
	void (*attached)(void *ctx);
	void (*detaching)(void *ctx);
};

int tool__run_events(const struct tool_events *te);

/* "Tracing ... Hit Ctrl-C to end." on stderr, once attached, so a person (and a test) knows
 * when events start to count. With -v, also the attach phase and the start-up total. */
void tool__ready(const char *what);

/* Start-up timer for -v: "NAME: phase WHAT: X.XX ms (Y.YY ms since start)", the time since
 * the previous phase. tool__init starts it and tool__load/tool__ready mark the common phases
 * (init, probes, open and set-up, kernel BTF, load, attach); a tool marks its own slow steps
 * (reading /proc/partitions) with it. With -v the time from a stop signal to exit is
 * printed at exit too. */
void tool__phase(const char *what);

/* At exit: events that arrived after the stop signal and were counted, not printed (a stop
 * under load delivers what the ring held at the signal), on stderr and as
 * {"unread_events":N} in JSON; nothing when there are none. */
void tool__report_unread(uint64_t unread, struct out *o);

/* One cause of events or entries that were not counted (evicted, no room, cut): `key` names it
 * in JSON, `what` says it on stderr after the count ("I/Os not counted: ..."). */
struct tool_drop {
	const char *key;
	const char *what;
	uint64_t n;
};

/* At exit: each cause with a non-zero count as one warning line on stderr, and in JSON mode
 * one {"not_counted": {key: N, ...}} line on stdout (nothing when all are zero). Returns the
 * sum. */
uint64_t tool__report_drops(bool json, const struct tool_drop *drops, int n);

/* What bpfobj__missed_runs() counts, as said at exit: by the event tools after "N " on stderr
 * (and as {"missed_events":N} in JSON), by the aggregating tools as one of their
 * not-counted causes. */
#define TOOL_MISSED_WHAT                                                               \
	"events missed: the kernel skipped the tool's program while another BPF program " \
	"ran on the same CPU"

/* At exit: lost events on stderr, and as {"lost_events":N} in JSON. Returns the count. */
uint64_t tool__report_lost(struct evbuf *eb, struct out *o);

#endif
