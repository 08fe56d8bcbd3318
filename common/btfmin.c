/* A minimal kernel BTF for one BPF object: only the types and members its CO-RE relocations
 * can reach, the way `bpftool gen min_core_btf` makes one, but written here with libbpf's
 * public BTF API so the tools need no bpftool at run time.
 *
 * Why: libbpf 1.1 reads /sys/kernel/btf/vmlinux (5.5 MB here) into the heap and copies it
 * to relocate a program, which is most of a tool's peak memory (docs/performance.md). Given
 * a small BTF with the same layouts (bpf_object_open_opts.btf_custom_path), it relocates
 * the same way without touching the big one. The full BTF is parsed once, in a child
 * process, so the tool's own peak never holds it; the result is cached per kernel build id
 * and object in a directory only root may write, and every cached file is checked as if
 * hostile (owner, type, size, and that it parses) before it is used.
 *
 * What is kept, per relocation, for every kernel type libbpf would take as a candidate
 * (same kind, same name less any ___flavour suffix): along a field access, each named
 * member on the path (found through anonymous members as libbpf finds it) and the types
 * they lead through; the accessed field's type; whole enums for enum relocations. Structs
 * reached otherwise (through a pointer, say) keep their name and size and no members: a
 * CO-RE match on them compares only kind and name. */
#include "btfmin.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "log.h"

#define BTFMIN_MAX_FILE (8u << 20)

/* ---- the object's .BTF and .BTF.ext ---- */

static const void *elf_section(const void *elf, size_t size, const char *want, size_t *len)
{
	const Elf64_Ehdr *eh = elf;
	const Elf64_Shdr *sh, *strs;
	unsigned i;

	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shoff > size ||
	    eh->e_shstrndx >= eh->e_shnum ||
	    (size - eh->e_shoff) / sizeof(*sh) < eh->e_shnum)
		return NULL;
	sh = (const Elf64_Shdr *)((const char *)elf + eh->e_shoff);
	strs = &sh[eh->e_shstrndx];
	if (strs->sh_offset > size || strs->sh_size > size - strs->sh_offset)
		return NULL;
	for (i = 0; i < eh->e_shnum; i++) {
		const char *name = (const char *)elf + strs->sh_offset + sh[i].sh_name;

		if (sh[i].sh_name >= strs->sh_size || sh[i].sh_offset > size ||
		    sh[i].sh_size > size - sh[i].sh_offset)
			continue;
		if (strnlen(name, strs->sh_size - sh[i].sh_name) == strlen(want) &&
		    strcmp(name, want) == 0) {
			*len = sh[i].sh_size;
			return (const char *)elf + sh[i].sh_offset;
		}
	}
	return NULL;
}

struct ext_hdr {
	__u16 magic;
	__u8 version;
	__u8 flags;
	__u32 hdr_len;
	__u32 func_info_off, func_info_len;
	__u32 line_info_off, line_info_len;
	__u32 core_relo_off, core_relo_len;
};

/* ---- marking what to keep ---- */

/* Candidates of one local root type, found once: many relocations share a root. */
struct cands {
	__u32 local_id;
	__u32 *ids;
	unsigned n;
};

struct mark {
	const struct btf *kern;
	struct cands *cands;
	unsigned ncands;
	unsigned n;
	unsigned char *kept;  /* 1: kept (no members unless listed), 2: kept whole */
	unsigned **members;   /* per struct/union: the member indices to keep, -1 ended */
	unsigned *nmembers;
};

static void keep(struct mark *m, __u32 id, bool whole);

static void keep_member(struct mark *m, __u32 id, unsigned idx)
{
	const struct btf_type *t = btf__type_by_id(m->kern, id);
	unsigned i, *p;

	keep(m, id, false);
	for (i = 0; i < m->nmembers[id]; i++)
		if (m->members[id][i] == idx)
			return;
	p = realloc(m->members[id], (m->nmembers[id] + 1) * sizeof(*p));
	if (!p)
		return;
	p[m->nmembers[id]++] = idx;
	m->members[id] = p;
	keep(m, btf_members(t)[idx].type, false);
}

static void keep(struct mark *m, __u32 id, bool whole)
{
	const struct btf_type *t;
	unsigned i;

	if (!id || id >= m->n || m->kept[id] == 2 || (m->kept[id] && !whole))
		return;
	m->kept[id] = whole ? 2 : 1;
	t = btf__type_by_id(m->kern, id);
	switch (btf_kind(t)) {
	case BTF_KIND_PTR:
		keep(m, t->type, false);
		break;
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
		keep(m, t->type, whole);
		break;
	case BTF_KIND_ARRAY:
		keep(m, btf_array(t)->type, whole);
		keep(m, btf_array(t)->index_type, false);
		break;
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		if (whole)
			for (i = 0; i < btf_vlen(t); i++)
				keep_member(m, id, i);
		break;
	case BTF_KIND_FUNC_PROTO:
		keep(m, t->type, false);
		for (i = 0; i < btf_vlen(t); i++)
			keep(m, btf_params(t)[i].type, false);
		break;
	case BTF_KIND_FUNC:
		keep(m, t->type, false);
		break;
	default:
		break;
	}
}

static __u32 skip_mods(struct mark *m, __u32 id, bool mark)
{
	const struct btf_type *t = btf__type_by_id(m->kern, id);

	while (t && (btf_is_mod(t) || btf_is_typedef(t))) {
		if (mark)
			m->kept[id] = m->kept[id] ? m->kept[id] : 1;
		id = t->type;
		t = btf__type_by_id(m->kern, id);
	}
	return id;
}

/* A member named `name` of composite `id`, looked for in anonymous members too (as libbpf
 * does); keeps the path to it. Returns its type, or 0. */
static __u32 find_member(struct mark *m, __u32 id, const char *name, int depth)
{
	const struct btf_type *t = btf__type_by_id(m->kern, id);
	const struct btf_member *mb;
	unsigned i;

	if (!t || !btf_is_composite(t) || depth > 16)
		return 0;
	mb = btf_members(t);
	for (i = 0; i < btf_vlen(t); i++) {
		const char *mname = btf__name_by_offset(m->kern, mb[i].name_off);

		if (mname && *mname) {
			if (strcmp(mname, name) == 0) {
				keep_member(m, id, i);
				return mb[i].type;
			}
		} else {
			__u32 inner = skip_mods(m, mb[i].type, false);
			__u32 found = find_member(m, inner, name, depth + 1);

			if (found) {
				skip_mods(m, mb[i].type, true);
				keep_member(m, id, i);
				return found;
			}
		}
	}
	return 0;
}

static size_t essential_len(const char *name)
{
	const char *p = strstr(name, "___");

	return p ? (size_t)(p - name) : strlen(name);
}

/* One field access (local spec) from kernel root `root`. */
static void walk_field(struct mark *m, const struct btf *local, __u32 local_root, __u32 root,
		       const char *access)
{
	__u32 lcur = local_root, kcur = root;
	const char *p = access;
	char *end;
	bool first = true;

	keep(m, root, false);
	while (*p) {
		unsigned long idx = strtoul(p, &end, 10);
		const struct btf_type *lt, *kt;

		if (end == p)
			return;
		p = *end == ':' ? end + 1 : end;
		if (first) {
			first = false;
			continue;
		}
		while ((lt = btf__type_by_id(local, lcur)) && (btf_is_mod(lt) || btf_is_typedef(lt)))
			lcur = lt->type;
		if (!lt)
			return;
		if (btf_is_composite(lt)) {
			const struct btf_member *mb;
			const char *name;

			if (idx >= btf_vlen(lt))
				return;
			mb = &btf_members(lt)[idx];
			name = btf__name_by_offset(local, mb->name_off);
			lcur = mb->type;
			if (!name || !*name)
				continue;
			kcur = find_member(m, skip_mods(m, kcur, true), name, 0);
			if (!kcur)
				return;
		} else if (btf_is_array(lt)) {
			kcur = skip_mods(m, kcur, true);
			kt = btf__type_by_id(m->kern, kcur);
			if (!kt || !btf_is_array(kt))
				return;
			keep(m, kcur, false);
			lcur = btf_array(lt)->type;
			kcur = btf_array(kt)->type;
		} else {
			return;
		}
	}
	keep(m, kcur, false);
	skip_mods(m, kcur, true);
}

static const struct cands *find_cands(struct mark *m, const struct btf *local, __u32 local_id)
{
	const struct btf_type *lt = btf__type_by_id(local, local_id);
	const char *lname = btf__name_by_offset(local, lt->name_off);
	size_t llen = essential_len(lname);
	struct cands *c;
	unsigned i, id;

	for (i = 0; i < m->ncands; i++)
		if (m->cands[i].local_id == local_id)
			return &m->cands[i];
	c = realloc(m->cands, (m->ncands + 1) * sizeof(*c));
	if (!c)
		return NULL;
	m->cands = c;
	c = &m->cands[m->ncands++];
	memset(c, 0, sizeof(*c));
	c->local_id = local_id;
	for (id = 1; id < m->n; id++) {
		const struct btf_type *t = btf__type_by_id(m->kern, id);
		const char *name;
		__u32 *ids;

		if (btf_kind(t) != btf_kind(lt))
			continue;
		name = btf__name_by_offset(m->kern, t->name_off);
		if (!name || essential_len(name) != llen || strncmp(name, lname, llen) != 0)
			continue;
		ids = realloc(c->ids, (c->n + 1) * sizeof(*ids));
		if (!ids)
			break;
		c->ids = ids;
		c->ids[c->n++] = id;
	}
	return c;
}

static void mark_relo(struct mark *m, const struct btf *local, const struct bpf_core_relo *r)
{
	const struct btf_type *lt = btf__type_by_id(local, r->type_id);
	const struct cands *c;
	const char *lname, *access;
	unsigned i;

	if (!lt || r->kind == BPF_CORE_TYPE_ID_LOCAL)
		return;
	lname = btf__name_by_offset(local, lt->name_off);
	access = btf__name_by_offset(local, r->access_str_off);
	if (!lname || !*lname || !access)
		return;
	c = find_cands(m, local, r->type_id);
	for (i = 0; c && i < c->n; i++) {
		__u32 id = c->ids[i];

		switch (r->kind) {
		case BPF_CORE_FIELD_BYTE_OFFSET:
		case BPF_CORE_FIELD_BYTE_SIZE:
		case BPF_CORE_FIELD_EXISTS:
		case BPF_CORE_FIELD_SIGNED:
		case BPF_CORE_FIELD_LSHIFT_U64:
		case BPF_CORE_FIELD_RSHIFT_U64:
			walk_field(m, local, r->type_id, id, access);
			break;
		case BPF_CORE_TYPE_MATCHES:
		case BPF_CORE_ENUMVAL_EXISTS:
		case BPF_CORE_ENUMVAL_VALUE:
			keep(m, id, true);
			break;
		default:
			keep(m, id, false);
			break;
		}
	}
}

/* ---- writing the kept types ---- */

static int emit(struct mark *m, struct btf *out)
{
	__u32 *new_id = calloc(m->n, sizeof(*new_id)), next = 1, id;
	int err = 0;

	if (!new_id)
		return -ENOMEM;
	for (id = 1; id < m->n; id++)
		if (m->kept[id])
			new_id[id] = next++;
	for (id = 1; id < m->n && !err; id++) {
		const struct btf_type *t = btf__type_by_id(m->kern, id);
		const char *name = btf__name_by_offset(m->kern, t->name_off);
		struct btf_type *nt;
		unsigned i;
		int nid;

		if (!m->kept[id])
			continue;
		if (btf_is_composite(t)) {
			nid = btf_is_struct(t) ? btf__add_struct(out, name, t->size)
					       : btf__add_union(out, name, t->size);
			for (i = 0; nid > 0 && i < btf_vlen(t); i++) {
				const struct btf_member *mb = &btf_members(t)[i];
				unsigned j;

				for (j = 0; j < m->nmembers[id]; j++)
					if (m->members[id][j] == i)
						break;
				if (j == m->nmembers[id] && m->kept[id] != 2)
					continue;
				err = btf__add_field(out, btf__name_by_offset(m->kern, mb->name_off),
						     new_id[mb->type], btf_member_bit_offset(t, i),
						     btf_member_bitfield_size(t, i));
				if (err)
					break;
			}
		} else {
			nid = btf__add_type(out, m->kern, t);
			nt = nid > 0 ? (struct btf_type *)btf__type_by_id(out, nid) : NULL;
			if (nt) {
				switch (btf_kind(nt)) {
				case BTF_KIND_PTR:
				case BTF_KIND_TYPEDEF:
				case BTF_KIND_VOLATILE:
				case BTF_KIND_CONST:
				case BTF_KIND_RESTRICT:
				case BTF_KIND_TYPE_TAG:
				case BTF_KIND_FUNC:
				case BTF_KIND_FUNC_PROTO:
					nt->type = nt->type < m->n ? new_id[nt->type] : 0;
					if (btf_is_func_proto(nt))
						for (i = 0; i < btf_vlen(nt); i++)
							btf_params(nt)[i].type =
								new_id[btf_params(nt)[i].type];
					break;
				case BTF_KIND_ARRAY:
					btf_array(nt)->type = new_id[btf_array(nt)->type];
					btf_array(nt)->index_type = new_id[btf_array(nt)->index_type];
					break;
				default:
					break;
				}
			}
		}
		if (!err && nid < 0)
			err = nid;
		if (!err && (__u32)nid != new_id[id])
			err = -EINVAL;
	}
	free(new_id);
	return err;
}

int btfmin__build(const void *elf, size_t elf_size, const struct btf *kern, struct btf **out)
{
	const struct ext_hdr *eh;
	const void *btf_data, *ext;
	size_t btf_len, ext_len;
	struct btf *local = NULL;
	struct mark m = { .kern = kern };
	const char *p, *end;
	__u32 rec_size, id;
	int err = -EINVAL;

	*out = NULL;
	btf_data = elf_section(elf, elf_size, BTF_ELF_SEC, &btf_len);
	ext = elf_section(elf, elf_size, BTF_EXT_ELF_SEC, &ext_len);
	if (!btf_data || !ext || ext_len < sizeof(*eh))
		return -ENOENT;
	eh = ext;
	if (eh->magic != BTF_MAGIC || eh->hdr_len < sizeof(*eh) || eh->hdr_len > ext_len ||
	    eh->core_relo_off > ext_len - eh->hdr_len ||
	    eh->core_relo_len > ext_len - eh->hdr_len - eh->core_relo_off)
		return -EINVAL;
	local = btf__new(btf_data, btf_len);
	if (!local)
		return -errno;
	m.n = btf__type_cnt(kern);
	m.kept = calloc(m.n, 1);
	m.members = calloc(m.n, sizeof(*m.members));
	m.nmembers = calloc(m.n, sizeof(*m.nmembers));
	if (!m.kept || !m.members || !m.nmembers) {
		err = -ENOMEM;
		goto out;
	}
	p = (const char *)ext + eh->hdr_len + eh->core_relo_off;
	end = p + eh->core_relo_len;
	if (end - p < 4)
		goto out;
	rec_size = *(const __u32 *)p;
	p += 4;
	if (rec_size < sizeof(struct bpf_core_relo))
		goto out;
	while (end - p >= 8) {
		__u32 n = ((const __u32 *)p)[1];

		p += 8;
		if ((size_t)(end - p) / rec_size < n)
			goto out;
		for (; n; n--, p += rec_size)
			mark_relo(&m, local, (const struct bpf_core_relo *)p);
	}
	*out = btf__new_empty();
	if (!*out) {
		err = -errno;
		goto out;
	}
	err = emit(&m, *out);
	if (err) {
		btf__free(*out);
		*out = NULL;
	}
out:
	for (id = 0; m.members && id < m.n; id++)
		free(m.members[id]);
	for (id = 0; id < m.ncands; id++)
		free(m.cands[id].ids);
	free(m.cands);
	free(m.members);
	free(m.nmembers);
	free(m.kept);
	btf__free(local);
	return err;
}

/* ---- the cache ---- */

/* The running kernel's GNU build id, hex, from /sys/kernel/notes. */
static bool kernel_build_id(char *hex, size_t size)
{
	unsigned char buf[4096];
	size_t off = 0, len;
	int fd = open("/sys/kernel/notes", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return false;
	len = n;
	while (off + sizeof(Elf64_Nhdr) <= len) {
		const Elf64_Nhdr *nh = (const void *)(buf + off);
		size_t name = (nh->n_namesz + 3) & ~3u, desc = (nh->n_descsz + 3) & ~3u;
		const unsigned char *d = buf + off + sizeof(*nh) + name;

		if (name > len || desc > len || off + sizeof(*nh) + name + desc > len)
			return false;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    memcmp(buf + off + sizeof(*nh), "GNU", 4) == 0 && nh->n_descsz &&
		    nh->n_descsz * 2 < size) {
			for (unsigned i = 0; i < nh->n_descsz; i++)
				snprintf(hex + 2 * i, 3, "%02x", d[i]);
			return true;
		}
		off += sizeof(*nh) + name + desc;
	}
	return false;
}

static uint64_t fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	while (len--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static const char *cache_dir(void)
{
	const char *dir = getenv("CORESCOPE_CACHE_DIR");

	return dir && *dir ? dir : "/var/cache/corescope";
}

/* The cache directory, if it is one only we may write: ours, not a link, no group or other
 * write permission. Created (0700) when missing. -1 otherwise. */
static int open_cache_dir(void)
{
	const char *dir = cache_dir();
	struct stat st;
	int fd;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022)) {
		p_info("BTF cache %s: not a directory only this user may write; not used", dir);
		close(fd);
		return -1;
	}
	return fd;
}

/* A cached file that is ours, regular, not linked elsewhere, of sane size, and parses as
 * BTF: its fd, else -1. */
static int open_cached(int dirfd, const char *name)
{
	struct stat st;
	struct btf *btf;
	void *data;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_nlink != 1 || st.st_size <= 0 || st.st_size > BTFMIN_MAX_FILE)
		goto bad;
	data = malloc(st.st_size);
	if (!data || pread(fd, data, st.st_size, 0) != st.st_size) {
		free(data);
		goto bad;
	}
	btf = btf__new(data, st.st_size);
	free(data);
	if (!btf)
		goto bad;
	btf__free(btf);
	return fd;
bad:
	close(fd);
	return -1;
}

/* In a child (its heap, not ours, holds the kernel's BTF): the minimal BTF into fd. */
static int generate(const void *elf, size_t size, int fd)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct btf *kern = btf__load_vmlinux_btf(), *min = NULL;
		const void *raw;
		__u32 len;

		if (libbpf_get_error(kern) || btfmin__build(elf, size, kern, &min))
			_exit(1);
		raw = btf__raw_data(min, &len);
		_exit(raw && write(fd, raw, len) == (ssize_t)len ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* A cache file's name: 16 hex digits (the object), '-', the kernel's build id in hex,
 * ".btf". Its temporary name while written: '.', that name, '.', the writer's pid. */
static bool cache_name(const char *name, bool *tmp)
{
	const char *p = name;
	size_t n;

	*tmp = *p == '.';
	p += *tmp;
	n = strspn(p, "0123456789abcdef");
	if (n != 16 || p[16] != '-')
		return false;
	p += 17;
	n = strspn(p, "0123456789abcdef");
	if (!n || strncmp(p + n, ".btf", 4) != 0)
		return false;
	p += n + 4;
	if (!*tmp)
		return !*p;
	return *p == '.' && p[1] && strspn(p + 1, "0123456789") == strlen(p + 1);
}

struct cache_entry {
	char name[NAME_MAX + 1];
	struct timespec mtime;
};

static int newest_first(const void *a, const void *b)
{
	const struct timespec *x = &((const struct cache_entry *)a)->mtime;
	const struct timespec *y = &((const struct cache_entry *)b)->mtime;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? 1 : -1;
	return x->tv_nsec < y->tv_nsec ? 1 : x->tv_nsec > y->tv_nsec ? -1 : 0;
}

/* Temporary files older than this were left by a writer that died. */
#define BTFMIN_TMP_STALE_S 3600

/* Removes all but the `keep` most recently used cache files of dirfd (and stale temporary
 * ones). Only names of the cache's own shape are touched, each by unlinkat, which never
 * follows a link; directories and anything else stay. Returns the number removed. */
static int prune(int dirfd, unsigned keep)
{
	struct cache_entry *e = NULL, *p;
	size_t n = 0, cap = 0, i;
	struct dirent *d;
	struct stat st;
	int removed = 0, fd = dup(dirfd);
	time_t now = time(NULL);
	DIR *dir;
	bool tmp;

	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((d = readdir(dir))) {
		if (!cache_name(d->d_name, &tmp) ||
		    fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode))
			continue;
		if (tmp) {
			if (st.st_mtime + BTFMIN_TMP_STALE_S < now &&
			    unlinkat(dirfd, d->d_name, 0) == 0)
				removed++;
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			p = realloc(e, cap * sizeof(*e));
			if (!p)
				break;
			e = p;
		}
		snprintf(e[n].name, sizeof(e[n].name), "%s", d->d_name);
		e[n++].mtime = st.st_mtim;
	}
	closedir(dir);
	if (n > keep) {
		qsort(e, n, sizeof(*e), newest_first);
		for (i = keep; i < n; i++)
			removed += unlinkat(dirfd, e[i].name, 0) == 0;
	}
	free(e);
	return removed;
}

int btfmin__prune_cache(unsigned keep)
{
	int dirfd = open_cache_dir(), n;

	if (dirfd < 0)
		return -EPERM;
	n = prune(dirfd, keep);
	close(dirfd);
	return n;
}

static int held_fd = -1;
static char held_path[64];

const char *btfmin__path(const void *elf, size_t size)
{
	char build_id[128], name[256], tmp[300];
	int dirfd, fd = -1;

	if (getenv("CORESCOPE_FULL_BTF") || !kernel_build_id(build_id, sizeof(build_id)))
		return NULL;
	snprintf(name, sizeof(name), "%016llx-%s.btf", (unsigned long long)fnv1a(elf, size),
		 build_id);
	dirfd = open_cache_dir();
	if (dirfd >= 0) {
		fd = open_cached(dirfd, name);
		if (fd < 0) {
			snprintf(tmp, sizeof(tmp), ".%s.%d", name, (int)getpid());
			fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				    0600);
			if (fd >= 0 && generate(elf, size, fd) == 0 &&
			    renameat(dirfd, tmp, dirfd, name) == 0) {
				p_info("minimal BTF written to %s/%s", cache_dir(), name);
				prune(dirfd, BTFMIN_CACHE_KEEP);
			} else {
				if (fd >= 0)
					unlinkat(dirfd, tmp, 0);
				if (fd >= 0)
					close(fd);
				fd = -1;
			}
		} else {
			/* Used now: the pruning keeps the most recently used files. */
			futimens(fd, NULL);
			p_info("minimal BTF from %s/%s", cache_dir(), name);
		}
		close(dirfd);
	}
	if (fd < 0) {
		/* No usable cache: the same BTF in memory only. */
		fd = memfd_create("corescope-btf", MFD_CLOEXEC);
		if (fd >= 0 && generate(elf, size, fd) != 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0)
		return NULL;
	btfmin__release();
	held_fd = fd;
	snprintf(held_path, sizeof(held_path), "/proc/self/fd/%d", fd);
	return held_path;
}

void btfmin__release(void)
{
	if (held_fd >= 0)
		close(held_fd);
	held_fd = -1;
}
