#include "evbuf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfobj.h"
#include "probe.h"
#include "log.h"

/* The BPF ring buffer, read here rather than through libbpf's ring_buffer: libbpf maps the
 * data pages twice in a row (so a record that wraps is contiguous), and every mapped page
 * counts in the tool's resident size, twice the ring. Mapped once, a record that wraps is
 * copied instead (rare: at most one per lap). Layout (kernel/bpf/ringbuf.c): page 0 the
 * consumer position (ours to write), page 1 the producer position, then the data; each
 * record an 8-byte header (length with busy and discard bits) and its data, 8-byte aligned. */
struct ring {
	int fd, epfd;
	unsigned long *cons_pos;        /* page 0, read-write */
	const unsigned long *prod_pos;  /* page 1, read-only, data after it */
	const char *data;
	size_t size, map_len;
	char *wrap;                     /* a record that wraps, copied */
};

#define RING_BUSY (1u << 31)
#define RING_DISCARD (1u << 30)

/* How long a final read waits for a record still being written, in pauses of 50 us (at
 * least 200 ms): a program commits its record microseconds after reserving it, but under a
 * hypervisor (or qemu's TCG) the vCPU running it can be descheduled for tens of
 * milliseconds. */
#define RING_COMMIT_PAUSES 4000

struct evbuf {
	struct ring *rb;
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
	bool (*stop_check)(void);
	bool bounded, counting;
	unsigned long stop_pos;
	uint64_t unread;
	/* A final drain (evbuf__drain) waits for the records reserved before drain_pos that are
	 * still being written; once detached, for any (see ring_consume). */
	bool draining, detached;
	unsigned long drain_pos;
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

static void ring_free(struct ring *r)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!r)
		return;
	if (r->cons_pos)
		munmap(r->cons_pos, page);
	if (r->prod_pos)
		munmap((void *)r->prod_pos, r->map_len);
	if (r->epfd >= 0)
		close(r->epfd);
	free(r->wrap);
	free(r);
}

static struct ring *ring_new(int fd, size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	struct epoll_event ev = { .events = EPOLLIN };
	struct ring *r = calloc(1, sizeof(*r));
	void *p;

	if (!r)
		return NULL;
	r->fd = fd;
	r->size = size;
	r->map_len = page + size;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r->cons_pos = p == MAP_FAILED ? NULL : p;
	p = mmap(NULL, r->map_len, PROT_READ, MAP_SHARED, fd, page);
	r->prod_pos = p == MAP_FAILED ? NULL : p;
	r->wrap = malloc(size);
	if (r->epfd < 0 || !r->cons_pos || !r->prod_pos || !r->wrap ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int err = errno ? errno : ENOMEM;

		ring_free(r);
		errno = err;
		return NULL;
	}
	r->data = (const char *)r->prod_pos + page;
	return r;
}

void evbuf__bound(struct evbuf *eb)
{
	if (!eb->rb || eb->bounded)
		return;
	eb->bounded = true;
	eb->stop_pos = __atomic_load_n(eb->rb->prod_pos, __ATOMIC_ACQUIRE);
}

/* The record's header once its writer committed it, or still busy after the wait. */
static uint32_t ring_wait_committed(const char *hdr, uint32_t len)
{
	const struct timespec pause = { .tv_nsec = 50000 };
	int i;

	for (i = 0; i < RING_COMMIT_PAUSES && (len & RING_BUSY); i++) {
		nanosleep(&pause, NULL);
		len = __atomic_load_n((const uint32_t *)hdr, __ATOMIC_ACQUIRE);
	}
	return len;
}

/* Delivers the committed records; returns how many, or the callback's negative value (the
 * record it refused is consumed). A stop bounds it (see evbuf__set_stop_check). A record
 * still being written holds back every record after it: a poll leaves them to the next, but
 * a final drain waits for it (its program is running now), and once the programs are
 * detached (which does not wait for runs in flight) a record that never commits is counted
 * with the unread ones instead of hiding those after it. */
static int ring_consume(struct evbuf *eb)
{
	struct ring *r = eb->rb;
	unsigned long cons = __atomic_load_n(r->cons_pos, __ATOMIC_ACQUIRE), prod;
	size_t mask = r->size - 1;
	int n = 0, err = 0;

	for (;;) {
		prod = __atomic_load_n(r->prod_pos, __ATOMIC_ACQUIRE);
		if (cons >= prod)
			break;
		while (cons < prod) {
			const char *hdr = r->data + (cons & mask);
			uint32_t len = __atomic_load_n((const uint32_t *)hdr, __ATOMIC_ACQUIRE);
			unsigned long start = cons;
			const void *sample;
			size_t rec, off;

			if ((len & RING_BUSY) &&
			    (eb->detached || (eb->draining && start < eb->drain_pos)))
				len = ring_wait_committed(hdr, len);
			if ((len & RING_BUSY) && !eb->detached)
				return n;
			rec = len & ~(RING_BUSY | RING_DISCARD);
			cons += (rec + 8 + 7) & ~7ul;
			/* A stop asked while the ring keeps filling: bound the drain now. */
			if (!eb->bounded && eb->stop_check && eb->stop_check())
				evbuf__bound(eb);
			if (eb->bounded && start >= eb->stop_pos)
				eb->counting = true;
			if (len & RING_DISCARD) {
				/* a reserved record the program dropped */
			} else if (eb->counting || (len & RING_BUSY)) {
				eb->unread++;
			} else {
				off = ((start & mask) + 8) & mask;
				if (off + rec > r->size) {
					memcpy(r->wrap, r->data + off, r->size - off);
					memcpy(r->wrap + (r->size - off), r->data,
					       rec - (r->size - off));
					sample = r->wrap;
				} else {
					sample = r->data + off;
				}
				err = eb->cb(eb->ctx, sample, rec);
				n++;
			}
			__atomic_store_n(r->cons_pos, cons, __ATOMIC_RELEASE);
			if (err < 0)
				return err;
		}
	}
	return n;
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
	if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF) {
		eb->rb = ring_new(bpf_map__fd(map), bpf_map__max_entries(map));
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
	struct epoll_event ev;
	int n;

	if (eb->pb) {
		n = perf_buffer__poll(eb->pb, timeout_ms);
		return n == -EINTR ? 0 : n;
	}
	/* Records submitted without a wakeup do not end the wait: the timeout collects them. */
	n = epoll_wait(eb->rb->epfd, &ev, 1, timeout_ms);
	if (n < 0 && errno != EINTR)
		return -errno;
	return ring_consume(eb);
}

void evbuf__set_stop_check(struct evbuf *eb, bool (*stop_check)(void))
{
	eb->stop_check = stop_check;
}

int evbuf__drain(struct evbuf *eb)
{
	int n;

	if (!eb->rb)
		return evbuf__poll(eb, 0);
	eb->drain_pos = __atomic_load_n(eb->rb->prod_pos, __ATOMIC_ACQUIRE);
	eb->draining = true;
	n = ring_consume(eb);
	eb->draining = false;
	return n;
}

uint64_t evbuf__count_unread(struct evbuf *eb)
{
	if (eb->rb) {
		evbuf__bound(eb);
		eb->counting = true;
		eb->detached = true;
		ring_consume(eb);
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
	ring_free(eb->rb);
	perf_buffer__free(eb->pb);
	free(eb->aligned);
	free(eb);
}
