/* pprof's profile.proto (github.com/google/pprof, proto/profile.proto), gzipped: what
 * go tool pprof, Pyroscope and Parca read. Protobuf's wire format is small enough to write
 * by hand: varints, and length-delimited fields for strings and nested messages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "htab.h"
#include "identity.h"
#include "stackfmt.h"

struct pb {
	unsigned char *p;
	size_t len, cap;
	int err;
};

static void pb_put(struct pb *b, const void *data, size_t n)
{
	if (b->err || !n)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		unsigned char *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	unsigned char buf[10];
	size_t n = 0;

	do {
		buf[n] = v & 0x7f;
		v >>= 7;
		if (v)
			buf[n] |= 0x80;
		n++;
	} while (v);
	pb_put(b, buf, n);
}

/* Wire types: 0 varint, 2 length-delimited. Zero values are left out, as proto3 does. */
static void pb_u64(struct pb *b, unsigned int field, uint64_t v)
{
	if (!v)
		return;
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned int field, const void *data, size_t n)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, n);
	pb_put(b, data, n);
}

/* A nested message: built in m, appended as field, m emptied for reuse. */
static void pb_msg(struct pb *b, unsigned int field, struct pb *m)
{
	if (m->err && !b->err)
		b->err = m->err;
	pb_bytes(b, field, m->p, m->len);
	m->len = 0;
}

/* Indexes into the string table; index 0 is "". */
struct strtab {
	struct htab idx;
	struct pb out;  /* the table's fields, in order */
	uint64_t n;
};

static uint64_t str_id(struct strtab *t, const char *s)
{
	struct htab_ent *e;

	if (!s || !*s)
		return 0;
	e = htab__get(&t->idx, s, strlen(s), true);
	if (!e) {
		t->out.err = -ENOMEM;
		return 0;
	}
	if (!e->val.u64) {
		e->val.u64 = ++t->n;
		pb_bytes(&t->out, 6, s, strlen(s));
	}
	return e->val.u64;
}

/* Mappings by module and build-id; locations and functions: one per interned frame. */
struct ids {
	struct htab mappings, frames;
	uint64_t nmap, nloc;
};

static uint64_t mapping_id(struct ids *ids, struct strtab *st, struct pb *maps, struct pb *m,
			   const struct frame *f)
{
	const char *file = f->module, *bid = f->build_id;
	struct {
		const char *file, *bid;
	} key;
	struct htab_ent *e;

	if (f->kind == FRAME_KERNEL) {
		/* Where perf and pprof look for the kernel: one mapping for it and its modules. */
		file = "[kernel.kallsyms]";
		bid = NULL;
	}
	if (!file)
		return 0;
	key.file = file;
	key.bid = bid;
	e = htab__get(&ids->mappings, &key, sizeof(key), true);
	if (!e) {
		maps->err = -ENOMEM;
		return 0;
	}
	if (!e->val.u64) {
		e->val.u64 = ++ids->nmap;
		pb_u64(m, 1, e->val.u64);
		/* Addresses are offsets in the file (kernel: addresses): the mapping spans them
		 * all, from 0. */
		pb_u64(m, 3, UINT64_MAX);
		pb_u64(m, 5, str_id(st, file));
		pb_u64(m, 6, str_id(st, bid));
		pb_u64(m, 7, 1);  /* has_functions: symbolized already */
		pb_msg(maps, 3, m);
	}
	return e->val.u64;
}

static uint64_t location_id(struct ids *ids, struct strtab *st, struct pb *maps,
			    struct pb *locs, struct pb *funcs, const struct frame *f,
			    bool annotate)
{
	struct pb m = { 0 }, l = { 0 };
	struct htab_ent *e = htab__get(&ids->frames, &f, sizeof(f), true);
	uint64_t id, map;
	char name[4096];

	if (!e) {
		locs->err = -ENOMEM;
		return 0;
	}
	if (e->val.u64)
		return e->val.u64;
	id = e->val.u64 = ++ids->nloc;
	map = mapping_id(ids, st, maps, &m, f);
	snprintf(name, sizeof(name), "%s%s", f->name,
		 annotate && f->kind == FRAME_KERNEL ? "_[k]" : "");
	/* Function id = location id: frames are interned by name already. */
	pb_u64(&m, 1, id);
	pb_u64(&m, 2, str_id(st, name));
	pb_u64(&m, 3, str_id(st, name));
	pb_msg(funcs, 5, &m);
	pb_u64(&l, 1, id);  /* Line.function_id */
	pb_u64(&m, 1, id);
	pb_u64(&m, 2, map);
	pb_u64(&m, 3, f->addr);
	pb_msg(&m, 4, &l);
	pb_msg(locs, 4, &m);
	free(m.p);
	free(l.p);
	return id;
}

static int write_gzip(const char *path, const struct pb *parts, size_t nparts)
{
	unsigned char out[65536];
	z_stream z;
	size_t i;
	int fd, zerr, err = 0;

	fd = stackfmt__create(path);
	if (fd < 0)
		return fd;
	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip header and trailer, as pprof expects. */
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		close(fd);
		return -ENOMEM;
	}
	for (i = 0; i <= nparts && !err; i++) {
		int flush = i == nparts ? Z_FINISH : Z_NO_FLUSH;

		z.next_in = i < nparts ? parts[i].p : NULL;
		z.avail_in = i < nparts ? (uInt)parts[i].len : 0;
		do {
			size_t have, off = 0;

			z.next_out = out;
			z.avail_out = sizeof(out);
			zerr = deflate(&z, flush);
			if (zerr == Z_STREAM_ERROR) {
				err = -EIO;
				break;
			}
			have = sizeof(out) - z.avail_out;
			while (off < have) {
				ssize_t n = write(fd, out + off, have - off);

				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0) {
					err = -errno;
					break;
				}
				off += n;
			}
		} while (!err && z.avail_out == 0);
	}
	deflateEnd(&z);
	if (close(fd) && !err)
		err = -errno;
	return err;
}

static void str_label(struct pb *m, struct pb *lab, struct strtab *st, const char *key,
		      const char *v)
{
	if (!v)
		return;
	pb_u64(lab, 1, str_id(st, key));
	pb_u64(lab, 2, str_id(st, v));
	pb_msg(m, 3, lab);
}

static void num_label(struct pb *m, struct pb *lab, struct strtab *st, const char *key,
		      uint64_t v)
{
	if (!v)
		return;
	pb_u64(lab, 1, str_id(st, key));
	pb_u64(lab, 3, v);
	pb_msg(m, 3, lab);
}

/* The record's container and ids, under the names of the JSON keys (a host process has no
 * container labels; unknown ids none). */
static void ident_labels(struct pb *m, struct pb *lab, struct strtab *st,
			 const struct identity_rec *idr)
{
	str_label(m, lab, st, "container_id", idr->container);
	str_label(m, lab, st, "container_runtime", idr->runtime);
	str_label(m, lab, st, "pod_uid", idr->pod_uid);
	str_label(m, lab, st, "cgroup", idr->cgroup);
	num_label(m, lab, st, "cgroup_id", idr->id.cgroup_id);
	num_label(m, lab, st, "mntns", idr->id.mntns);
	num_label(m, lab, st, "ns_pid", idr->id.ns_pid);
}

int stackfmt__pprof(const char *path, const struct stackfmt_opts *o, const struct stack_rec *recs,
		    size_t n, const struct stackfmt_pprof_info *info)
{
	struct pb head = { 0 }, samples = { 0 }, maps = { 0 }, locs = { 0 }, funcs = { 0 };
	struct pb m = { 0 }, ids_pb = { 0 };
	struct strtab st = { 0 };
	struct ids ids = { 0 };
	size_t i, j;
	int err;

	pb_bytes(&st.out, 6, "", 0);
	/* sample_type: samples/count and cpu/nanoseconds (each sample stands for a period). */
	pb_u64(&m, 1, str_id(&st, "samples"));
	pb_u64(&m, 2, str_id(&st, "count"));
	pb_msg(&head, 1, &m);
	pb_u64(&m, 1, str_id(&st, "cpu"));
	pb_u64(&m, 2, str_id(&st, "nanoseconds"));
	pb_msg(&head, 1, &m);
	for (i = 0; i < n; i++) {
		const struct stack_key *k = recs[i].k;
		struct pb lab = { 0 };

		/* Leaf first, as folded output reads right to left: kernel, then user frames. */
		if (!o->user_only && k->kstate == STACK_FRAMES && k->ks)
			for (j = 0; j < k->ks->n; j++)
				pb_varint(&ids_pb, location_id(&ids, &st, &maps, &locs, &funcs,
							       k->ks->f[j], o->annotations));
		if (!o->kernel_only && k->ustate == STACK_FRAMES && k->us)
			for (j = 0; j < k->us->n; j++)
				pb_varint(&ids_pb, location_id(&ids, &st, &maps, &locs, &funcs,
							       k->us->f[j], false));
		if (ids_pb.len)
			pb_msg(&m, 1, &ids_pb);  /* packed location_id */
		pb_varint(&lab, recs[i].count);
		pb_varint(&lab, recs[i].count * info->period_ns);
		pb_msg(&m, 2, &lab);  /* packed value */
		/* Labels: the command (folded output's first field), the pid, and lost stacks. */
		pb_u64(&lab, 1, str_id(&st, "comm"));
		pb_u64(&lab, 2, str_id(&st, k->comm));
		pb_msg(&m, 3, &lab);
		if (k->pid) {
			pb_u64(&lab, 1, str_id(&st, "pid"));
			pb_u64(&lab, 3, k->pid);
			pb_msg(&m, 3, &lab);
		}
		if (k->idr)
			ident_labels(&m, &lab, &st, k->idr);
		if (!o->user_only && k->kstate == STACK_MISSED) {
			pb_u64(&lab, 1, str_id(&st, "missed"));
			pb_u64(&lab, 2, str_id(&st, "kernel stack"));
			pb_msg(&m, 3, &lab);
		}
		if (!o->kernel_only && k->ustate == STACK_MISSED) {
			pb_u64(&lab, 1, str_id(&st, "missed"));
			pb_u64(&lab, 2, str_id(&st, "user stack"));
			pb_msg(&m, 3, &lab);
		}
		pb_msg(&samples, 2, &m);
		free(lab.p);
	}
	pb_u64(&funcs, 9, info->time_ns);
	pb_u64(&funcs, 10, info->duration_ns);
	pb_u64(&m, 1, str_id(&st, "cpu"));
	pb_u64(&m, 2, str_id(&st, "nanoseconds"));
	pb_msg(&funcs, 11, &m);
	pb_u64(&funcs, 12, info->period_ns);
	err = head.err ?: samples.err ?: maps.err ?: locs.err ?: funcs.err ?: st.out.err ?: m.err;
	if (!err) {
		/* Fields may come in any order: string table last, once every string is known. */
		struct pb parts[] = { head, samples, maps, locs, funcs, st.out };

		err = write_gzip(path, parts, sizeof(parts) / sizeof(parts[0]));
	}
	free(head.p);
	free(samples.p);
	free(maps.p);
	free(locs.p);
	free(funcs.p);
	free(m.p);
	free(ids_pb.p);
	free(st.out.p);
	htab__free(&st.idx);
	htab__free(&ids.mappings);
	htab__free(&ids.frames);
	return err;
}
