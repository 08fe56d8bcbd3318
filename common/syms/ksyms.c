/* Kernel symbols from /proc/kallsyms: one sorted array, names in one arena. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syms.h"
#include "util.h"

/* While parsing, names are arena offsets (pointers are fixed once the arena stops moving),
 * and the sort key carries a rank so the preferred alias sorts last within an address. */
struct kent {
	uint64_t addr;
	uint64_t key;      /* rank << 32 | name offset: name offsets grow in file order */
	uint64_t mod_off;  /* module name offset + 1; 0: vmlinux */
};

union kslot {
	struct kent e;
	struct ksym s;
};

_Static_assert(sizeof(struct kent) == sizeof(struct ksym), "in-place conversion");

struct ksyms {
	union kslot *slots;
	size_t nr, cap;
	char *names;
	size_t names_len, names_cap;
	/* Consecutive lines share a module: remember the last one instead of a lookup. */
	uint64_t last_mod_off;
	size_t last_mod_len;
	size_t zero_addrs;
};

#define KSYMS_READ_CHUNK (256 * 1024)

static int add_name(struct ksyms *ks, const char *s, size_t len, uint64_t *off)
{
	/* A 4 MiB first arena fits a typical kernel without a copy. */
	int err = syms_grow((void **)&ks->names, &ks->names_cap, ks->names_len + len + 1, 1,
			  4u << 20);

	if (err)
		return err;
	if (ks->names_len + len + 1 > UINT32_MAX)
		return -E2BIG;
	memcpy(ks->names + ks->names_len, s, len);
	ks->names[ks->names_len + len] = '\0';
	*off = ks->names_len;
	ks->names_len += len + 1;
	return 0;
}

/* Higher is preferred: text over data, global over local, and a name without a leading '_'
 * (an alias like _stext or __pfx_x is rarely what a reader wants). */
static uint32_t ksym_rank(char type, const char *name)
{
	uint32_t r = 0;

	if (type == 'T' || type == 't')
		r += 4;
	else if (type == 'W' || type == 'w')
		r += 2;
	if (type >= 'A' && type <= 'Z')
		r += 2;
	if (name[0] != '_')
		r += 1;
	return r;
}

static inline int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One line, without its '\n': "ffffffff81000000 T _stext" or "... t name\t[module]".
 * Malformed lines are skipped: the format is the kernel's, and one odd line should not cost
 * every symbol. */
static int parse_line(struct ksyms *ks, const char *p, const char *end)
{
	const char *name, *name_end, *mod = NULL, *mod_end = NULL;
	uint64_t addr = 0, name_off, mod_off = 0;
	struct kent *e;
	int d, err;
	char type;

	while (p < end && (d = hexval(*p)) >= 0) {
		addr = addr << 4 | (uint64_t)d;
		p++;
	}
	if (end - p < 4 || p[0] != ' ' || p[2] != ' ')
		return 0;
	type = p[1];
	name = p + 3;
	name_end = memchr(name, '\t', end - name);
	if (name_end) {
		mod = name_end + 1;
		if (mod < end && *mod == '[') {
			mod++;
			mod_end = memchr(mod, ']', end - mod);
		}
		if (!mod_end)
			mod = NULL;
	} else {
		name_end = end;
	}
	if (name_end == name)
		return 0;
	if (addr == 0) {
		ks->zero_addrs++;
		return 0;
	}
	err = syms_grow((void **)&ks->slots, &ks->cap, ks->nr + 1, sizeof(*ks->slots), 1u << 16);
	if (err)
		return err;
	if (mod) {
		size_t mlen = mod_end - mod;

		if (ks->last_mod_off && ks->last_mod_len == mlen &&
		    memcmp(ks->names + ks->last_mod_off - 1, mod, mlen) == 0) {
			mod_off = ks->last_mod_off;
		} else {
			err = add_name(ks, mod, mlen, &mod_off);
			if (err)
				return err;
			mod_off++;
			ks->last_mod_off = mod_off;
			ks->last_mod_len = mlen;
		}
	}
	err = add_name(ks, name, name_end - name, &name_off);
	if (err)
		return err;
	e = &ks->slots[ks->nr++].e;
	e->addr = addr;
	e->key = (uint64_t)ksym_rank(type, name) << 32 | name_off;
	e->mod_off = mod_off;
	return 0;
}

static int parse_buf(struct ksyms *ks, const char *buf, size_t len, size_t *used)
{
	const char *p = buf, *end = buf + len;
	int err;

	while (p < end) {
		const char *eol = memchr(p, '\n', end - p);

		if (!eol)
			break;
		err = parse_line(ks, p, eol);
		if (err)
			return err;
		p = eol + 1;
	}
	*used = p - buf;
	return 0;
}

static int kent_cmp(const void *pa, const void *pb)
{
	const struct kent *a = pa, *b = pb;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	return a->key < b->key ? -1 : a->key > b->key;
}

static int kent_addr_cmp(const void *pa, const void *pb)
{
	const struct kent *a = pa, *b = pb;

	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* The kernel lists vmlinux and modules in address order and appends BPF programs, a few of
 * them out of order: sort that tail alone and merge it in, rather than sort everything. */
static void sort_slots(struct ksyms *ks)
{
	size_t n = ks->nr, p = 1, m, i, j, k;
	union kslot *tail;

	while (p < n && ks->slots[p - 1].e.addr <= ks->slots[p].e.addr)
		p++;
	m = n - p;
	if (m > n / 4 || !(tail = malloc(m * sizeof(*tail) + 1))) {
		qsort(ks->slots, n, sizeof(*ks->slots), kent_cmp);
		return;
	}
	if (m) {
		qsort(&ks->slots[p], m, sizeof(*ks->slots), kent_addr_cmp);
		memcpy(tail, &ks->slots[p], m * sizeof(*tail));
		for (i = p, j = m, k = n; j > 0;) {
			if (i > 0 && ks->slots[i - 1].e.addr > tail[j - 1].e.addr)
				ks->slots[--k] = ks->slots[--i];
			else
				ks->slots[--k] = tail[--j];
		}
	}
	free(tail);
	/* Order each run of aliases by rank, so the preferred name sorts last. */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && ks->slots[j].e.addr == ks->slots[i].e.addr;)
			j++;
		if (j - i > 1)
			qsort(&ks->slots[i], j - i, sizeof(*ks->slots), kent_cmp);
	}
}

static int finish(struct ksyms *ks)
{
	size_t i;
	char *names;

	if (ks->nr == 0)
		return ks->zero_addrs ? -EPERM : -ENODATA;
	sort_slots(ks);
	/* Give back the slack of the doubling growth before pointers into the arena exist. */
	names = realloc(ks->names, ks->names_len);
	if (names) {
		ks->names = names;
		ks->names_cap = ks->names_len;
	}
	if (ks->nr < ks->cap) {
		union kslot *slots = realloc(ks->slots, ks->nr * sizeof(*slots));

		if (slots) {
			ks->slots = slots;
			ks->cap = ks->nr;
		}
	}
	for (i = 0; i < ks->nr; i++) {
		struct kent e = ks->slots[i].e;

		ks->slots[i].s.addr = e.addr;
		ks->slots[i].s.name = ks->names + (uint32_t)e.key;
		ks->slots[i].s.module = e.mod_off ? ks->names + e.mod_off - 1 : NULL;
	}
	return 0;
}

static struct ksyms *fail(struct ksyms *ks, int err)
{
	ksyms__free(ks);
	errno = -err;
	return NULL;
}

struct ksyms *ksyms__parse(const char *buf, size_t len)
{
	struct ksyms *ks = calloc(1, sizeof(*ks));
	size_t used;
	int err;

	if (!ks)
		return NULL;
	err = parse_buf(ks, buf, len, &used);
	/* The last line may lack its '\n'. */
	if (!err && used < len)
		err = parse_line(ks, buf + used, buf + len);
	if (!err)
		err = finish(ks);
	return err ? fail(ks, err) : ks;
}

struct ksyms *ksyms__load_file(const char *path)
{
	struct ksyms *ks;
	size_t len = 0, used;
	char *buf;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ks = calloc(1, sizeof(*ks));
	/* Stream through one buffer: the 5+ MB text never needs to be in memory at once. */
	buf = malloc(KSYMS_READ_CHUNK);
	if (!ks || !buf) {
		close(fd);
		free(buf);
		return fail(ks, -ENOMEM);
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, KSYMS_READ_CHUNK - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0) {
			if (len)
				err = parse_line(ks, buf, buf + len);
			break;
		}
		len += n;
		err = parse_buf(ks, buf, len, &used);
		if (err)
			break;
		if (used == 0 && len == KSYMS_READ_CHUNK) {
			/* A 256 KiB line is not kallsyms. */
			err = -EINVAL;
			break;
		}
		memmove(buf, buf + used, len - used);
		len -= used;
	}
	close(fd);
	free(buf);
	if (!err)
		err = finish(ks);
	return err ? fail(ks, err) : ks;
}

struct ksyms *ksyms__load(void)
{
	return ksyms__load_file("/proc/kallsyms");
}

void ksyms__free(struct ksyms *ks)
{
	if (!ks)
		return;
	free(ks->slots);
	free(ks->names);
	free(ks);
}

const struct ksym *ksyms__map_addr(const struct ksyms *ks, uint64_t addr, uint64_t *offset)
{
	size_t lo = 0, hi = ks->nr;
	const struct ksym *s;

	/* The last symbol at or below addr: within a run of aliases that is the preferred one. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ks->slots[mid].s.addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &ks->slots[lo - 1].s;
	if (offset)
		*offset = addr - s->addr;
	return s;
}

const struct ksym *ksyms__get_symbol(const struct ksyms *ks, const char *name)
{
	size_t i;

	for (i = 0; i < ks->nr; i++)
		if (strcmp(ks->slots[i].s.name, name) == 0)
			return &ks->slots[i].s;
	return NULL;
}

size_t ksyms__count(const struct ksyms *ks)
{
	return ks->nr;
}
