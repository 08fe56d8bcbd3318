/* Event transport, user side: the BPF ring buffer (or the perf buffer on kernels without
 * one) behind one small API, with lost events counted from both the kernel side (failed
 * outputs, map `events_lost`) and the perf buffer's lost callback. Pairs with
 * bpf/events.bpf.h. */
#ifndef COMMON_EVBUF_H
#define COMMON_EVBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_object;
struct evbuf;

/* Called for each event; return non-zero to stop consuming (the value is passed up). */
typedef int (*evbuf_sample_fn)(void *ctx, const void *data, size_t size);

/* Default ring size. The consumer drains ~1.4 M events/s and is woken once an eighth of the
 * ring is pending; the ring's pages count once in the tool's resident size (evbuf.c maps
 * them once), so 1 MiB keeps a tool's peak under 4 MB; it holds ~15 ms of a 1 M events/s
 * burst of 64-byte events. docs/performance.md has what it loses at the benchmarks' rates. */
#define EVBUF_DEFAULT_BYTES (1u << 20)

/* Before load: sizes the ring (ring_bytes, rounded up to a power of two pages) and its wakeup
 * threshold, or turns `events` into a perf event array when the kernel has no ring buffer.
 * Returns 0 or a negative errno. */
int evbuf__prepare(struct bpf_object *obj, size_t ring_bytes);

/* After load: starts consuming `events`. NULL with errno set on failure. */
struct evbuf *evbuf__new(struct bpf_object *obj, evbuf_sample_fn cb, void *ctx);

/* Waits up to timeout_ms for events and consumes everything pending (records below the
 * wakeup threshold wake nobody, so the timeout is what delivers them on a quiet system).
 * Returns the number of events consumed, or a negative errno (-EINTR is not an error). */
int evbuf__poll(struct evbuf *eb, int timeout_ms);

/* The last read before a stop: evbuf__poll() without waiting, except for the records
 * reserved before the call that are still being written (they hold back the ones after
 * them), whose programs are running now. */
int evbuf__drain(struct evbuf *eb);

/* A bounded stop: once stop_check() returns true (or evbuf__bound() is called), events are
 * delivered only up to what the ring held at that moment, so a stop under a flood of events
 * ends; later ones are counted by evbuf__count_unread(). The perf buffer is bounded already
 * (each poll reads what the buffers hold when it starts). */
void evbuf__set_stop_check(struct evbuf *eb, bool (*stop_check)(void));
void evbuf__bound(struct evbuf *eb);

/* Once the programs are detached: counts (without delivering) the events still in the ring
 * that came after the stop, and any whose program never committed it. Returns that count
 * (0 for the perf buffer). */
uint64_t evbuf__count_unread(struct evbuf *eb);

/* Events lost so far: kernel-side output failures plus perf buffer losses. */
uint64_t evbuf__lost(struct evbuf *eb);

/* "ring buffer" or "perf buffer". */
const char *evbuf__kind(const struct evbuf *eb);

void evbuf__free(struct evbuf *eb);

#endif
