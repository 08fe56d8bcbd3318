/* Sampling perf events, one per online CPU, that run a BPF program on each sample: opening
 * (CPU cycles where there is a hardware PMU, else the cpu-clock timer), attaching, pausing
 * and counting the periods they took, for tools that sample stacks (profile). And counting
 * events on a tracepoint, to check a program's runs against its hits (tcpretrans).
 *
 * Functions returning int return 0 or a negative errno, after printing one line saying what
 * failed (p_err). */
#ifndef COMMON_PERFEVENT_H
#define COMMON_PERFEVENT_H

#include <stdbool.h>
#include <stdint.h>

struct bpf_program;
struct bpf_link;

struct sampling {
	const char *event;       /* "cycles" or "cpu-clock" */
	int ncpus;               /* CPUs sampled (events open) */
	uint64_t freq, period;   /* what was asked: a frequency, or a period when non-zero */
	uint64_t start_ns, end_ns;  /* CLOCK_MONOTONIC at enable and at stop */
	/* Samples the events took, from their counts: known for a fixed period (cpu-clock, a
	 * timer, or a period), not for cycles at a frequency (the kernel adapts the period). */
	bool taken_known;
	uint64_t taken;
	int *fds;                /* the events, ncpus of them */
	struct bpf_link **links; /* one per event once attached (the link then owns the fd) */
};

/* Opens one disabled event per online CPU, or on CPU cpu only (cpu >= 0), sampling freq
 * times a second, or every period events when period is non-zero. sm must be zeroed but for
 * event: NULL takes cycles where the CPU counts them, else cpu-clock; "cycles" or
 * "cpu-clock" takes that one or fails ("--event cycles: not possible here: ..."). */
int sampling__open(struct sampling *sm, int cpu, uint64_t freq, uint64_t period);

/* Attaches prog to every event, then enables them all (start_ns is set then): every sample
 * an event takes from here on is one the program sees, so skipped ones can be counted. */
int sampling__start(struct sampling *sm, struct bpf_program *prog);

/* Disables / re-enables every event. Disabling waits until the event's handler is not
 * running on its CPU: after sampling__pause(), no sample is still being written. */
void sampling__pause(struct sampling *sm);
int sampling__resume(struct sampling *sm);

/* Disables the events for good, sets end_ns, adds up the samples they took (taken,
 * taken_known) and detaches the program. */
void sampling__stop(struct sampling *sm);

/* Sampling periods the events counted that never ran the program (runs: how many times it
 * ran); 0 when unknown. */
uint64_t sampling__skipped(const struct sampling *sm, uint64_t runs);

/* Detaches and closes everything; sm is zeroed. */
void sampling__close(struct sampling *sm);

/* Counting events on one classic tracepoint, one per online CPU: the times the kernel hit
 * it, as `perf stat -e CATEGORY:NAME` counts them. Beside a BPF program on that tracepoint,
 * hits minus the program's runs is what the kernel hit without running the program (6.18
 * does so silently for some timer batches of tcp:tcp_retransmit_skb, while perf's own probe
 * still counts them). Each hit then also costs perf's probe: for rare events only. A CPU
 * that comes online later is not counted, so the difference errs low, never high. */
struct tp_count {
	int *fds;
	int n;
};

/* Opens them disabled (the tracepoint's id is read from tracefs). Returns 0 or a negative
 * errno, quietly: the caller says what it cannot check. */
int tp_count__open(struct tp_count *tc, const char *category, const char *name);

/* Enables / disables them all. */
int tp_count__enable(struct tp_count *tc);
void tp_count__disable(struct tp_count *tc);

/* The hits counted while enabled; false if a count could not be read. */
bool tp_count__read(const struct tp_count *tc, uint64_t *hits);

void tp_count__close(struct tp_count *tc);

#endif
