#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evbuf.h"
#include "log.h"

static volatile sig_atomic_t exiting;
static volatile uint64_t stop_signal_ns;
/* The first write error on stdout other than EPIPE (positive errno), reported once. */
static int output_err;

static bool stdout_reader_gone(void);

/* Output that failed must not end in exit status 0, whichever path the tool takes to exit
 * (some print their summary after the loop): checked once more after main() returns. Runs
 * before stdio's own flush at exit, which would ignore the error. */
static void check_output_at_exit(void)
{
	loop__flush();
	if (output_err)
		_exit(1);
}

static void on_signal(int sig)
{
	struct timespec ts;

	/* clock_gettime is async-signal-safe. */
	if (!stop_signal_ns && clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		stop_signal_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	exiting = 1;
}

uint64_t loop__stop_requested_ns(void)
{
	return stop_signal_ns;
}

void loop__init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a signal must interrupt epoll_wait and nanosleep. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Full buffering even on a terminal: loop__flush() writes once per drained batch. */
	setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
	loop__watch_stdout();
}

void loop__watch_stdout(void)
{
	static bool registered;

	if (!registered)
		registered = atexit(check_output_at_exit) == 0;
}

bool loop__exiting(void)
{
	return exiting;
}

void loop__stop(void)
{
	exiting = 1;
}

int loop__flush(void)
{
	int err = 0;

	if (output_err)
		return -output_err;
	if (fflush(stdout) != 0)
		err = errno;
	else if (ferror(stdout))
		/* A write inside stdio failed earlier and its errno is gone: a closed pipe says
		 * so by POLLERR, anything else is an I/O error. */
		err = stdout_reader_gone() ? EPIPE : EIO;
	if (!err)
		return 0;
	exiting = 1;
	if (err == EPIPE)
		return -EPIPE;
	output_err = err;
	p_err("writing to standard output: %s (output is incomplete)", strerror(err));
	return -err;
}

/* A pipe whose reader went away reports POLLERR on its write end: notice it even when there
 * is nothing to write, so `tool | head -1` ends on a quiet system too. */
static bool stdout_reader_gone(void)
{
	struct pollfd p = { .fd = STDOUT_FILENO, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

uint64_t loop__now_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t loop__now_boot_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

int64_t loop__mono_to_realtime_ns(uint64_t mono_ns)
{
	static int64_t offset;
	static bool have_offset;

	if (!have_offset) {
		struct timespec mono, real;

		clock_gettime(CLOCK_MONOTONIC, &mono);
		clock_gettime(CLOCK_REALTIME, &real);
		offset = ((int64_t)real.tv_sec - mono.tv_sec) * 1000000000LL +
			 (real.tv_nsec - mono.tv_nsec);
		have_offset = true;
	}
	return (int64_t)mono_ns + offset;
}

int loop__events(struct evbuf *eb, uint64_t duration_ms)
{
	return loop__events_tick(eb, duration_ms, NULL);
}

int loop__events_tick(struct evbuf *eb, uint64_t duration_ms, const struct loop_tick *tick)
{
	uint64_t deadline = duration_ms ? loop__now_mono_ns() + duration_ms * 1000000ull : 0;
	uint64_t next_tick = tick && tick->ms ? loop__now_mono_ns() + tick->ms * 1000000ull : 0;
	int n, timeout;

	evbuf__set_stop_check(eb, loop__exiting);
	while (!exiting) {
		uint64_t now = loop__now_mono_ns();

		timeout = LOOP_POLL_MS;
		if (deadline) {
			if (now >= deadline)
				break;
			if ((deadline - now) / 1000000 < (uint64_t)timeout)
				timeout = (int)((deadline - now) / 1000000) + 1;
		}
		if (next_tick) {
			if (now >= next_tick) {
				n = tick->fn(tick->ctx);
				if (n)
					return n;
				next_tick += tick->ms * 1000000ull;
				if (next_tick <= now) /* a slow tick: no burst of catch-up ticks */
					next_tick = now + tick->ms * 1000000ull;
			}
			if ((next_tick - now) / 1000000 < (uint64_t)timeout)
				timeout = (int)((next_tick - now) / 1000000) + 1;
		}
		n = evbuf__poll(eb, timeout);
		if (n < 0) {
			p_err("reading events: %s", strerror(-n));
			return n;
		}
		if (n > 0) {
			n = loop__flush();
			if (n == -EPIPE)
				break;
			if (n < 0)
				return n;
		}
		if (n == 0 && stdout_reader_gone())
			break;
	}
	/* Whatever arrived before the stop still gets printed; after a stop signal, what keeps
	 * arriving does not hold the exit up (counted by the caller with evbuf__count_unread).
	 * At the end of duration_ms the caller may go on consuming (profile does, in chunks).
	 * The last tick counts what was printed. */
	if (exiting)
		evbuf__bound(eb);
	if (evbuf__drain(eb) > 0)
		loop__flush();
	if (tick && tick->fn)
		return tick->fn(tick->ctx);
	return 0;
}

static void sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = deadline_ns / 1000000000ull,
		.tv_nsec = deadline_ns % 1000000000ull,
	};

	/* Interrupted by a signal: return and let the caller look at `exiting`. */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

int loop__interval(uint64_t interval_ms, uint64_t count, uint64_t duration_ms, bool final_tick,
		   int (*tick)(void *ctx), void *ctx)
{
	uint64_t start = loop__now_mono_ns(), next = start;
	uint64_t end = duration_ms ? start + duration_ms * 1000000ull : 0;
	uint64_t done = 0;
	int err;

	for (;;) {
		/* A stop that came before the first sleep (right after the ready line) still
		 * gets its final tick. */
		bool last = exiting;

		if (!last) {
			next += interval_ms * 1000000ull;
			if (end && next > end)
				next = end;
			sleep_until(next);
			last = exiting;
		}
		if (stdout_reader_gone())
			break;
		if (last && !final_tick)
			break;
		err = tick(ctx);
		if (err)
			return err;
		err = loop__flush();
		if (err == -EPIPE)
			break;
		if (err)
			return err;
		done++;
		if (last || (count && done >= count) || (end && loop__now_mono_ns() >= end))
			break;
	}
	return 0;
}
