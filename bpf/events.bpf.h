/* Event transport, kernel side: one API over the BPF ring buffer and, on kernels without it,
 * the perf buffer. User space (common/evbuf.c) turns the `events` map into a perf event array
 * before load when the kernel has no ring buffer; bpf_core_type_exists() then removes the
 * ring buffer branch at load time, so one object serves both.
 *
 * A tool defines EVENT_MAX_SIZE (its largest event) before including this header, builds an
 * event in events_scratch() and sends its used length with events_emit(). */
#ifndef EVENTS_BPF_H
#define EVENTS_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#ifndef EVENT_MAX_SIZE
#error "define EVENT_MAX_SIZE before including events.bpf.h"
#endif

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* Sized by user space before load (evbuf__prepare). */
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Reserve or output failures: the consumer reports them, so no event is lost silently. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} events_lost SEC(".maps");

struct events_scratch_buf {
	__u8 data[EVENT_MAX_SIZE];
};

/* Per-CPU scratch space: events are larger than the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct events_scratch_buf);
} events_scratch_map SEC(".maps");

/* Pending bytes at which a producer wakes the consumer; below it, records wait for the
 * consumer's poll timeout. One wakeup per event costs the traced process microseconds. */
const volatile __u64 events_wakeup_bytes = 64 * 1024;
/* Cleared by user space to use the perf buffer although the kernel has a ring buffer
 * (CORESCOPE_EVENTS=perf, to exercise the fallback). */
const volatile __u8 events_use_ringbuf = 1;

static __always_inline void *events_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&events_scratch_map, &zero);
}

static __always_inline void events_count_lost(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&events_lost, &zero);

	if (lost)
		*lost += 1;
}

/* Sends size bytes of data (size must be provably <= EVENT_MAX_SIZE to the verifier);
 * wake: wake the consumer now, whatever is pending (an event it must act on at once). */
static __always_inline void events_emit_wake(void *ctx, void *data, __u64 size, bool wake)
{
	long err;

	/* Keep the compiler from checking a copy of size and passing the unchecked one. */
	barrier_var(size);
	if (size > EVENT_MAX_SIZE)
		size = EVENT_MAX_SIZE;
	barrier_var(size);
	if (bpf_core_type_exists(struct bpf_ringbuf) && events_use_ringbuf) {
		__u64 flags = wake || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >=
					      events_wakeup_bytes
				      ? BPF_RB_FORCE_WAKEUP
				      : BPF_RB_NO_WAKEUP;

		err = bpf_ringbuf_output(&events, data, size, flags);
	} else {
		err = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, data, size);
	}
	if (err)
		events_count_lost();
}

static __always_inline void events_emit(void *ctx, void *data, __u64 size)
{
	events_emit_wake(ctx, data, size, false);
}

#endif
