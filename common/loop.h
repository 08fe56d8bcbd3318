/* Lifecycle: signals, the event loop of the snoop tools and the interval loop of the summary
 * tools, and stdout that is buffered, flushed once per batch, and ends the tool quietly when
 * the reader goes away (`tool | head -1` exits 0); any other output error ends it with one
 * line on stderr and exit status 1. */
#ifndef COMMON_LOOP_H
#define COMMON_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evbuf;

/* SIGINT, SIGTERM and SIGHUP end the loop; SIGPIPE is ignored so a closed pipe shows up as
 * EPIPE on flush. Also switches stdout to full buffering and checks it once more at exit. */
void loop__init(void);

/* Checks stdout once more at exit (write errors other than EPIPE: one line, exit status 1).
 * loop__init() does it; option parsing does it earlier, for --help and --version. */
void loop__watch_stdout(void);

/* True once a signal asked us to stop (or stdout's reader went away). */
bool loop__exiting(void);
void loop__stop(void);

/* CLOCK_MONOTONIC ns at which the first stop signal arrived, or 0. */
uint64_t loop__stop_requested_ns(void);

/* Flushes stdout; on a closed pipe stops the loop and returns -EPIPE. Any other write error
 * (ENOSPC, EIO, ...) is printed once on stderr, stops the loop, is returned as a negative
 * errno by this and every later call, and makes the process exit with status 1 even if the
 * tool's main() returns 0. */
int loop__flush(void);

/* How long the consumer lets batched events wait on a quiet system. */
#define LOOP_POLL_MS 100

/* Consumes events until a signal, duration_ms (0: no limit) or a closed stdout.
 * Returns 0, or a negative errno from polling or from writing stdout. */
int loop__events(struct evbuf *eb, uint64_t duration_ms);

/* loop__events, also calling tick->fn(tick->ctx) every tick->ms while events flow and once
 * more after the last event was consumed (a file the tool keeps current, such as an
 * OpenMetrics exposition, then holds everything). A non-zero return from fn ends the loop and
 * is returned. tick may be NULL. */
struct loop_tick {
	uint64_t ms;
	int (*fn)(void *ctx);
	void *ctx;
};
int loop__events_tick(struct evbuf *eb, uint64_t duration_ms, const struct loop_tick *tick);

/* Calls tick(ctx) every interval_ms until count ticks (0: no limit), duration_ms, or a
 * signal; a signal still runs one final tick when final_tick is set (Ctrl-C prints the last
 * summary). tick returns non-zero to stop. Returns 0, tick's value, or a negative errno
 * from writing stdout. */
int loop__interval(uint64_t interval_ms, uint64_t count, uint64_t duration_ms, bool final_tick,
		   int (*tick)(void *ctx), void *ctx);

/* Monotonic and wall clock helpers in nanoseconds. */
uint64_t loop__now_mono_ns(void);
uint64_t loop__now_boot_ns(void);
/* Wall-clock (CLOCK_REALTIME) nanoseconds of a CLOCK_MONOTONIC timestamp such as
 * bpf_ktime_get_ns(), with the offset between the clocks taken once. */
int64_t loop__mono_to_realtime_ns(uint64_t mono_ns);

#endif
