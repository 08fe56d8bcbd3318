#include "hist.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "json.h"

_Static_assert(sizeof(struct hist) == (HIST_MAX_SLOTS + 2) * sizeof(__u64),
	       "struct hist is a map value shared with BPF: no padding");

const char *hist_unit__name(enum hist_unit unit)
{
	switch (unit) {
	case HIST_UNIT_NSECS: return "nsecs";
	case HIST_UNIT_USECS: return "usecs";
	case HIST_UNIT_MSECS: return "msecs";
	}
	return NULL;
}

double hist_unit__per_sec(enum hist_unit unit)
{
	switch (unit) {
	case HIST_UNIT_NSECS: return 1e9;
	case HIST_UNIT_USECS: return 1e6;
	case HIST_UNIT_MSECS: return 1e3;
	}
	return 0;
}

__u64 hist__total(const struct hist *h)
{
	__u64 total = 0;
	int i;

	for (i = 0; i < HIST_MAX_SLOTS; i++)
		total += h->slots[i];
	return total;
}

void hist__add(struct hist *h, __u64 v)
{
	h->slots[hist_log2_slot(v)]++;
	h->sum += v;
	h->count++;
}

void hist__merge(struct hist *dst, const struct hist *src)
{
	int i;

	for (i = 0; i < HIST_MAX_SLOTS; i++)
		dst->slots[i] += src->slots[i];
	dst->sum += src->sum;
	dst->count += src->count;
}

bool hist__is_empty(const struct hist *h)
{
	return hist__total(h) == 0;
}

/* Highest non-empty slot, -1 when there is none. */
static int hist_last_slot(const struct hist *h)
{
	int i;

	for (i = HIST_MAX_SLOTS - 1; i >= 0; i--)
		if (h->slots[i])
			return i;
	return -1;
}

static __u64 hist_max_count(const struct hist *h)
{
	__u64 max = 0;
	int i;

	for (i = 0; i < HIST_MAX_SLOTS; i++)
		if (h->slots[i] > max)
			max = h->slots[i];
	return max;
}

/* Inclusive integer range of log2 slot i; computed without 1 << 64 for the last slot. */
static __u64 log2_low(int i)
{
	return i == 0 ? 0 : 1ULL << i;
}

__u64 hist__slot_high(int i)
{
	return i >= 63 ? UINT64_MAX : (2ULL << i) - 1;
}

/* width columns, val / max of them stars. Counts near 2^64 would overflow val * width, so
 * both are scaled down together first; the ratio, all that matters, barely moves. */
static void print_bar(FILE *f, __u64 val, __u64 max, int width)
{
	int i, stars;

	while (max > UINT64_MAX / (unsigned)width) {
		max >>= 1;
		val >>= 1;
	}
	stars = max ? (int)(val * (unsigned)width / max) : 0;
	for (i = 0; i < width; i++)
		fputc(i < stars ? '*' : ' ', f);
}

int hist__print_log2(FILE *f, const struct hist *h, const char *unit)
{
	int i, last = hist_last_slot(h);
	__u64 max = hist_max_count(h);
	bool wide = last > 32;
	int width = wide ? 20 : 10;

	if (last < 0)
		return 0;
	fprintf(f, "%*s%-*s : count    distribution\n", wide ? 15 : 5, "", wide ? 29 : 19, unit);
	for (i = 0; i <= last; i++) {
		fprintf(f, "%*llu -> %-*llu : %-8llu |", width, (unsigned long long)log2_low(i),
			width, (unsigned long long)hist__slot_high(i), (unsigned long long)h->slots[i]);
		print_bar(f, h->slots[i], max, wide ? 20 : 40);
		fputs("|\n", f);
	}
	return ferror(f) ? -EIO : 0;
}

int hist__print_linear(FILE *f, const struct hist *h, __u64 base, __u64 step, const char *unit)
{
	int i, last = hist_last_slot(h);
	__u64 max = hist_max_count(h);

	if (last < 0)
		return 0;
	fprintf(f, "     %-13s : count     distribution\n", unit);
	for (i = 0; i <= last; i++) {
		if (!h->slots[i])
			continue;
		fprintf(f, "        %-10llu : %-8llu |", (unsigned long long)(base + i * step),
			(unsigned long long)h->slots[i]);
		print_bar(f, h->slots[i], max, 40);
		fputs("|\n", f);
	}
	return ferror(f) ? -EIO : 0;
}

/* step == 0 selects log2 bounds. */
static void hist_json_buckets(struct json_writer *w, const struct hist *h, __u64 base,
			      __u64 step, const char *unit)
{
	int i, last = hist_last_slot(h);
	__u64 low, high;

	json_key(w, "unit");
	json_str(w, unit);
	json_key(w, "buckets");
	json_arr_begin(w);
	for (i = 0; i <= last; i++) {
		low = step ? base + i * step : log2_low(i);
		high = step ? low + step - 1 : hist__slot_high(i);
		json_obj_begin(w);
		json_key(w, "low");
		json_u64(w, low);
		json_key(w, "high");
		json_u64(w, high);
		json_key(w, "count");
		json_u64(w, h->slots[i]);
		json_obj_end(w);
	}
	json_arr_end(w);
	json_key(w, "count");
	json_u64(w, hist__total(h));
	json_key(w, "sum");
	json_u64(w, h->sum);
}

void hist__json(struct json_writer *w, const struct hist *h, const char *unit)
{
	hist_json_buckets(w, h, 0, 0, unit);
}

void hist__json_linear(struct json_writer *w, const struct hist *h, __u64 base, __u64 step,
		       const char *unit)
{
	/* A zero step would mean log2 below; one-wide buckets are the closest honest reading. */
	hist_json_buckets(w, h, base, step ? step : 1, unit);
}

int hist__diff(const struct hist *now, struct hist *prev, struct hist *delta)
{
	bool reset = now->sum < prev->sum || now->count < prev->count;
	int i;

	for (i = 0; i < HIST_MAX_SLOTS && !reset; i++)
		reset = now->slots[i] < prev->slots[i];
	if (reset)
		memset(prev, 0, sizeof(*prev));
	for (i = 0; i < HIST_MAX_SLOTS; i++)
		delta->slots[i] = now->slots[i] - prev->slots[i];
	delta->sum = now->sum - prev->sum;
	delta->count = now->count - prev->count;
	/* delta may be now: prev is rebuilt from delta + old prev, which equals now. */
	for (i = 0; i < HIST_MAX_SLOTS; i++)
		prev->slots[i] += delta->slots[i];
	prev->sum += delta->sum;
	prev->count += delta->count;
	return reset;
}

/* Shadows sorted by key bytes (memcmp order) for binary search; keys[] and shadows[] are
 * parallel arrays. A shadow whose seen differs from gen after a walk belongs to a key that
 * left the map. */
struct hist_shadow {
	struct hist h;
	unsigned long seen;
};

struct hist_track {
	size_t key_size;
	size_t n, cap;
	unsigned char *keys;
	struct hist_shadow *shadows;
	unsigned long gen;
	unsigned char *walk_keys; /* two keys: the previous and the next of a map walk */
	struct hist *percpu;      /* one value per possible CPU, for a per-CPU map */
	int ncpus;
};

struct hist_track *hist_track__new(size_t key_size)
{
	struct hist_track *t;

	if (!key_size || key_size > 512) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->key_size = key_size;
	t->walk_keys = malloc(2 * key_size);
	if (!t->walk_keys) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void hist_track__free(struct hist_track *t)
{
	if (!t)
		return;
	free(t->keys);
	free(t->shadows);
	free(t->walk_keys);
	free(t->percpu);
	free(t);
}

/* Index of key, or where it would be inserted (*found false). */
static size_t track_find(const struct hist_track *t, const void *key, bool *found)
{
	size_t lo = 0, hi = t->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = memcmp(t->keys + mid * t->key_size, key, t->key_size);
		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* The shadow of key, created empty if new; NULL when out of memory. */
static struct hist_shadow *track_get(struct hist_track *t, const void *key)
{
	size_t i, ks = t->key_size;
	bool found;
	void *p;

	i = track_find(t, key, &found);
	if (found)
		return &t->shadows[i];
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;

		p = realloc(t->keys, cap * ks);
		if (!p)
			return NULL;
		t->keys = p;
		p = realloc(t->shadows, cap * sizeof(*t->shadows));
		if (!p)
			return NULL;
		t->shadows = p;
		t->cap = cap;
	}
	memmove(t->keys + (i + 1) * ks, t->keys + i * ks, (t->n - i) * ks);
	memmove(&t->shadows[i + 1], &t->shadows[i], (t->n - i) * sizeof(*t->shadows));
	memcpy(t->keys + i * ks, key, ks);
	memset(&t->shadows[i], 0, sizeof(*t->shadows));
	t->n++;
	return &t->shadows[i];
}

int hist_track__update(struct hist_track *t, const void *key, const struct hist *now,
		       struct hist *delta)
{
	struct hist_shadow *s = track_get(t, key);

	if (!s)
		return -ENOMEM;
	s->seen = t->gen;
	hist__diff(now, &s->h, delta);
	return 0;
}

static void track_sweep(struct hist_track *t)
{
	size_t i, n = 0, ks = t->key_size;

	for (i = 0; i < t->n; i++) {
		if (t->shadows[i].seen != t->gen)
			continue;
		if (n != i) {
			memcpy(t->keys + n * ks, t->keys + i * ks, ks);
			t->shadows[n] = t->shadows[i];
		}
		n++;
	}
	t->n = n;
}

/* The sum of n per-CPU values: each only grows, so their sum only grows too. */
static void hist_sum(struct hist *sum, const struct hist *v, int n)
{
	int c, i;

	memset(sum, 0, sizeof(*sum));
	for (c = 0; c < n; c++) {
		for (i = 0; i < HIST_MAX_SLOTS; i++)
			sum->slots[i] += v[c].slots[i];
		sum->sum += v[c].sum;
		sum->count += v[c].count;
	}
}

static bool map_type_is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

int hist_track__read_map(struct hist_track *t, int map_fd, hist_track_fn fn, void *ctx)
{
	unsigned char *prev = NULL, *next = t->walk_keys, *tmp;
	struct bpf_map_info info;
	__u32 info_len = sizeof(info);
	struct hist_shadow *s;
	struct hist now, delta;
	bool map_percpu;
	int err;

	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(map_fd, &info, &info_len);
	if (err)
		return err < 0 ? err : -EINVAL;
	if (info.key_size != t->key_size || info.value_size != sizeof(struct hist))
		return -EINVAL;
	if (map_type_is_percpu(info.type) && !t->percpu) {
		/* A per-CPU lookup fills one value per possible CPU (struct hist is a multiple of
		 * 8 bytes, the kernel's per-CPU value stride). */
		t->ncpus = libbpf_num_possible_cpus();
		if (t->ncpus < 1)
			return t->ncpus < 0 ? t->ncpus : -EINVAL;
		t->percpu = calloc(t->ncpus, sizeof(struct hist));
		if (!t->percpu)
			return -ENOMEM;
	}

	map_percpu = map_type_is_percpu(info.type);
	t->gen++;
	for (;;) {
		err = bpf_map_get_next_key(map_fd, prev, next);
		if (err == -ENOENT)
			break;
		if (err)
			return err;
		tmp = prev ? prev : t->walk_keys + t->key_size;
		prev = next;
		next = tmp;

		err = map_percpu ? bpf_map_lookup_elem(map_fd, prev, t->percpu)
				 : bpf_map_lookup_elem(map_fd, prev, &now);
		if (err == -ENOENT)
			continue; /* deleted since get_next_key: it has left the map */
		if (err)
			return err;
		if (map_percpu)
			hist_sum(&now, t->percpu, t->ncpus);
		s = track_get(t, prev);
		if (!s)
			return -ENOMEM;
		/* The kernel restarts a hash walk whose current key was deleted, so a key can come
		 * round again: report it once; what it gained since stays for the next read. */
		if (s->seen == t->gen)
			continue;
		s->seen = t->gen;
		hist__diff(&now, &s->h, &delta);
		err = fn(prev, &now, &delta, ctx);
		if (err)
			return err;
	}
	track_sweep(t);
	return 0;
}
