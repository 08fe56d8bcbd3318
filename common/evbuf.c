#include "evbuf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfobj.h"
#include "probe.h"
#include "log.h"

struct evbuf {
	struct ring_buffer *rb;
	struct perf_buffer *pb;
	int lost_fd;
	uint64_t perf_lost;
	evbuf_sample_fn cb;
	void *ctx;
	void *aligned;      /* perf samples are only 4-byte aligned: copied here */
	size_t aligned_size;
	/* Bounded stop (ring buffer): once stop_check() says so, events are delivered up to
	 * the producer position of that moment (stop_pos); later ones are only counted. The
	 * positions are read through read-only mappings of the ring's two control pages. */
	int ring_fd;
	bool (*stop_check)(void);
	bool bounded, counting;
	const volatile unsigned long *cons_pos, *prod_pos;
	unsigned long stop_pos;
	uint64_t unread;
};

/* A perf buffer per CPU of this many pages (the ring size, split across CPUs). */
static size_t perf_pages;

/* CORESCOPE_EVENTS=perf selects the perf buffer even where the ring buffer exists, so the
 * fallback that older kernels take can be tested on a new one. */
static bool evbuf_force_perf(void)
{
	const char *v = getenv("CORESCOPE_EVENTS");

	return v && strcmp(v, "perf") == 0;
}

int evbuf__prepare(struct bpf_object *obj, size_t ring_bytes)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "events");
	size_t page = sysconf(_SC_PAGESIZE), size = page;
	uint64_t wakeup;
	int ncpus, err;

	if (!map)
		return -ENOENT;
	while (size < ring_bytes)
		size <<= 1;
	/* A map-type probe is a syscall; asking the kernel's BTF would parse 5 MiB of it. The
	 * BPF side agrees: it also needs events_use_ringbuf, cleared below otherwise. */
	if (probe__ringbuf() && !evbuf_force_perf()) {
		err = bpf_map__set_max_entries(map, size);
		if (err)
			return err;
		/* Wake the consumer once an eighth of the ring is pending: bursts are delivered in
		 * batches well before the ring fills. */
		wakeup = size / 8;
		err = bpfobj__set_rodata(obj, "events_wakeup_bytes", &wakeup, sizeof(wakeup));
		return err == -ENOENT ? 0 : err;
	}
	err = bpfobj__set_rodata(obj, "events_use_ringbuf", &(uint8_t){ 0 }, 1);
	if (err && err != -ENOENT)
		return err;
	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 1)
		ncpus = 1;
	perf_pages = 1;
	while (perf_pages * page * ncpus < size && perf_pages < 256)
		perf_pages <<= 1;
	err = bpf_map__set_type(map, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	err = err ?: bpf_map__set_key_size(map, sizeof(int));
	err = err ?: bpf_map__set_value_size(map, sizeof(int));
	err = err ?: bpf_map__set_max_entries(map, ncpus);
	return err;
}

static const volatile unsigned long *map_control_page(int fd, off_t off)
{
	void *p = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ, MAP_SHARED, fd, off);

	return p == MAP_FAILED ? NULL : p;
}

void evbuf__bound(struct evbuf *eb)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!eb->rb || eb->bounded)
		return;
	eb->bounded = true;
	eb->cons_pos = map_control_page(eb->ring_fd, 0);
	eb->prod_pos = map_control_page(eb->ring_fd, page);
	/* Without the positions, nothing more is delivered: a stop must stay bounded. */
	eb->stop_pos = eb->prod_pos && eb->cons_pos ? *eb->prod_pos : 0;
	__sync_synchronize();
}

static int ringbuf_sample(void *ctx, void *data, size_t size)
{
	struct evbuf *eb = ctx;

	if (eb->counting) {
		eb->unread++;
		return 0;
	}
	/* A stop asked while the ring keeps filling (one consume can go on for as long as the
	 * producers do): bound the drain now. */
	if (!eb->bounded && eb->stop_check && eb->stop_check())
		evbuf__bound(eb);
	/* libbpf publishes the consumer position after each record: here it is still this
	 * record's start. One that began at or past stop_pos came after the stop. */
	if (eb->bounded && (!eb->cons_pos || *eb->cons_pos >= eb->stop_pos)) {
		eb->unread++;
		eb->counting = true;
		return -ECANCELED;
	}
	return eb->cb(eb->ctx, data, size);
}

static void perfbuf_sample(void *ctx, int cpu, void *data, __u32 size)
{
	struct evbuf *eb = ctx;

	/* Event structs hold u64 fields: hand the callback an 8-byte aligned copy. */
	if ((uintptr_t)data % 8) {
		if (size > eb->aligned_size) {
			void *p = realloc(eb->aligned, size);

			if (!p) {
				eb->perf_lost++;
				return;
			}
			eb->aligned = p;
			eb->aligned_size = size;
		}
		memcpy(eb->aligned, data, size);
		data = eb->aligned;
	}
	eb->cb(eb->ctx, data, size);
}

static void perfbuf_lost(void *ctx, int cpu, __u64 cnt)
{
	struct evbuf *eb = ctx;

	eb->perf_lost += cnt;
}

struct evbuf *evbuf__new(struct bpf_object *obj, evbuf_sample_fn cb, void *ctx)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "events");
	struct bpf_map *lost = bpf_object__find_map_by_name(obj, "events_lost");
	struct evbuf *eb;
	int err;

	if (!map) {
		errno = ENOENT;
		return NULL;
	}
	eb = calloc(1, sizeof(*eb));
	if (!eb)
		return NULL;
	eb->cb = cb;
	eb->ctx = ctx;
	eb->lost_fd = lost ? bpf_map__fd(lost) : -1;
	eb->ring_fd = bpf_map__fd(map);
	if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF) {
		eb->rb = ring_buffer__new(bpf_map__fd(map), ringbuf_sample, eb, NULL);
		err = eb->rb ? 0 : -errno;
	} else {
		eb->pb = perf_buffer__new(bpf_map__fd(map), perf_pages ? perf_pages : 64,
					  perfbuf_sample, perfbuf_lost, eb, NULL);
		err = eb->pb ? 0 : -errno;
	}
	if (err) {
		free(eb);
		errno = -err;
		return NULL;
	}
	return eb;
}

int evbuf__poll(struct evbuf *eb, int timeout_ms)
{
	int n, m;

	if (eb->pb) {
		n = perf_buffer__poll(eb->pb, timeout_ms);
		return n == -EINTR ? 0 : n;
	}
	if (eb->counting)
		return 0;
	n = ring_buffer__poll(eb->rb, timeout_ms);
	if (n == -ECANCELED)
		return 1;
	if (n < 0 && n != -EINTR)
		return n;
	/* Records submitted without a wakeup do not end the wait: collect them now. */
	m = eb->counting ? 0 : ring_buffer__consume(eb->rb);
	if (m == -ECANCELED)
		return 1;
	if (m < 0)
		return m;
	return (n > 0 ? n : 0) + m;
}

void evbuf__set_stop_check(struct evbuf *eb, bool (*stop_check)(void))
{
	eb->stop_check = stop_check;
}

uint64_t evbuf__count_unread(struct evbuf *eb)
{
	if (eb->rb) {
		evbuf__bound(eb);
		eb->counting = true;
		ring_buffer__consume(eb->rb);
	}
	return eb->unread;
}

uint64_t evbuf__lost(struct evbuf *eb)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t total = eb->perf_lost;
	__u32 zero = 0;

	if (eb->lost_fd >= 0 && ncpus > 0) {
		uint64_t *vals = calloc(ncpus, sizeof(*vals));

		if (vals && bpf_map_lookup_elem(eb->lost_fd, &zero, vals) == 0)
			for (int i = 0; i < ncpus; i++)
				total += vals[i];
		free(vals);
	}
	return total;
}

const char *evbuf__kind(const struct evbuf *eb)
{
	return eb->rb ? "ring buffer" : "perf buffer";
}

void evbuf__free(struct evbuf *eb)
{
	if (!eb)
		return;
	ring_buffer__free(eb->rb);
	perf_buffer__free(eb->pb);
	if (eb->cons_pos)
		munmap((void *)eb->cons_pos, sysconf(_SC_PAGESIZE));
	if (eb->prod_pos)
		munmap((void *)eb->prod_pos, sysconf(_SC_PAGESIZE));
	free(eb->aligned);
	free(eb);
}
