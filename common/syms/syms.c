/* Per-process user-space symbolization over ELF symbol tables shared between processes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "htab.h"

#include "elfsyms.h"
#include "perfmap.h"
#include "procmaps.h"
#include "syms.h"
#include "util.h"

#define DEFAULT_MAX_OPEN_FILES   64
#define DEFAULT_MAX_UNUSED_FILES 64
/* Unknown addresses re-read a live process's maps at most this often: frame-pointer walks
 * through code built without frame pointers yield garbage addresses, each a miss. */
#define REFRESH_INTERVAL_NS 1000000000ull
/* Reads allowed before the interval applies, again after each read that added a mapping. */
#define REFRESH_FREE_READS 2
/* A vdso is two or three pages; anything much larger is not one. */
#define VDSO_MAX_SIZE (1u << 20)
/* dev value no block device has: marks vdso images, keyed by content. */
#define VDSO_DEV UINT64_MAX

/* ---- Types ---- */

/* Identifies file contents: an inode number alone may be reused once a file is deleted (a
 * rebuilt binary often gets its predecessor's inode), size and mtime tell them apart. */
struct dso_key {
	uint64_t dev, ino, size, mtime_ns;
};

/* One ELF file (or vdso image), shared by every process mapping it. */
struct dso {
	struct dso_key key;
	unsigned int refcnt;
	bool loaded;           /* parse attempted; es may still be NULL (not ELF, unreadable) */
	int fd;                /* held until parsed, so a deleted file or one in a gone
				* process's mount namespace can still be read */
	char *reopen_path;     /* when no fd is held: a path that reaches the file later */
	char *path;            /* as the first process saw it: .gnu_debuglink's directory */
	char *root;            /* that process's "/proc/PID/root" if not ours, else NULL */
	struct elf_syms *es;
	struct dso *lru_prev, *lru_next;  /* on the unused list while refcnt == 0 */
};

struct syms_map {
	uint64_t start, end, pgoff;
	uint64_t ino;
	uint32_t dev_major, dev_minor;
	uint32_t flags;
	char *name;            /* path as in maps; NULL for anonymous memory */
	struct dso *dso;       /* NULL: no ELF behind it */
};

struct syms {
	pid_t pid;
	uid_t uid;
	struct syms_cache *cache;
	struct syms_map *maps; /* executable mappings, sorted by start */
	size_t nmaps, maps_cap;
	char *root;            /* "/proc/PID/root" when its root is not ours */
	uint64_t refreshed_ns;
	unsigned int refreshes_in_vain; /* in a row: reads of the maps that added nothing */
	bool has_anon_exec;
	bool retired;          /* syms_cache__retire(): frozen, on the cache's retired list */
	struct syms *retired_prev, *retired_next;
	/* JIT perf map */
	bool perf_tried;
	int perf_fd;
	char *perf_path;       /* as the process sees it: "/tmp/perf-<nspid>.map" */
	off_t perf_size;       /* size at the last parse; -1 before */
	uint64_t perf_parsed_ns;
	struct symtab perf_tab;
};

struct syms_cache {
	struct htab pids;        /* pid_t -> struct syms * */
	struct htab dsos;        /* struct dso_key -> struct dso * */
	struct syms *retired;  /* retire()d, callers still use them: until release() or free */
	char *debug_dir;
	unsigned int max_open, open_files;
	unsigned int max_unused, unused;
	struct dso *lru_head, *lru_tail;  /* most recently released first */
	size_t loaded;
	size_t refused;        /* files refused: links, not regular files, too large, another
				* user's perf map */
	struct stat root_st, mntns_st;
	bool root_known, mntns_known;
	/* Our own vdso: the kernel maps the same image into every process of our ABI. */
	const void *self_vdso;
	size_t self_vdso_size;
	bool self_vdso_sized;
	uint32_t self_vdso_crc;  /* valid once self_vdso_crc_done */
	bool self_vdso_crc_done;
};

/* ---- Files ---- */

static bool refused(int err)
{
	return err == -ELOOP || err == -EINVAL || err == -EFBIG;
}

/* syms_open_file(), counting the files refused as planted or too large (once each: a
 * caller does not ask again for a file that was refused). */
static int open_untrusted(struct syms_cache *c, const char *path, unsigned int flags,
			  uint64_t max_size, struct stat *st)
{
	int fd = syms_open_file(path, flags, max_size, st);

	if (refused(fd))
		c->refused++;
	return fd;
}

static struct dso_key key_of(const struct stat *st)
{
	struct dso_key k = {
		.dev = st->st_dev,
		.ino = st->st_ino,
		.size = (uint64_t)st->st_size,
		.mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000ull + st->st_mtim.tv_nsec,
	};
	return k;
}

static bool key_eq(const struct dso_key *a, const struct dso_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns;
}

static bool fd_has_key(int fd, const struct dso_key *k)
{
	struct dso_key fk;
	struct stat st;

	if (fstat(fd, &st))
		return false;
	fk = key_of(&st);
	return key_eq(&fk, k);
}

static bool same_file(const char *path, int fd, const struct stat *st, const struct syms_map *m)
{
	return syms_same_file(path, fd, st, m->dev_major, m->dev_minor, m->ino);
}

static struct dso *dso_find(struct syms_cache *c, const struct dso_key *k)
{
	struct htab_ent *e = htab__get(&c->dsos, k, sizeof(*k), false);

	return e ? e->val.ptr : NULL;
}

static void lru_unlink(struct syms_cache *c, struct dso *d)
{
	if (d->lru_prev)
		d->lru_prev->lru_next = d->lru_next;
	else
		c->lru_head = d->lru_next;
	if (d->lru_next)
		d->lru_next->lru_prev = d->lru_prev;
	else
		c->lru_tail = d->lru_prev;
	d->lru_prev = d->lru_next = NULL;
	c->unused--;
}

static void dso_release_fd(struct syms_cache *c, struct dso *d)
{
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
		c->open_files--;
	}
}

static void dso_free(struct syms_cache *c, struct dso *d)
{
	dso_release_fd(c, d);
	if (d->es)
		c->loaded--;
	elf_syms__free(d->es);
	free(d->reopen_path);
	free(d->path);
	free(d->root);
	free(d);
}

static void dso_get(struct syms_cache *c, struct dso *d)
{
	if (d->refcnt++ == 0)
		lru_unlink(c, d);
}

static void dso_put(struct syms_cache *c, struct dso *d)
{
	struct dso *victim;

	if (--d->refcnt)
		return;
	/* Unused and unparsed: its descriptor is better spent on a file someone needs. A
	 * process that maps it again brings a new handle (file_dso). */
	if (!d->loaded)
		dso_release_fd(c, d);
	d->lru_prev = NULL;
	d->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = d;
	else
		c->lru_tail = d;
	c->lru_head = d;
	c->unused++;
	if (c->unused <= c->max_unused)
		return;
	victim = c->lru_tail;
	lru_unlink(c, victim);
	htab__del(&c->dsos, htab__get(&c->dsos, &victim->key, sizeof(victim->key), false));
	dso_free(c, victim);
}

static struct dso *dso_new(struct syms_cache *c, const struct dso_key *k, const char *path,
			   const char *root)
{
	struct dso *d = calloc(1, sizeof(*d));
	struct htab_ent *e;

	if (!d)
		return NULL;
	d->fd = -1;
	d->key = *k;
	d->refcnt = 1;
	d->path = path ? strdup(path) : NULL;
	d->root = root ? strdup(root) : NULL;
	if ((path && !d->path) || (root && !d->root) ||
	    !(e = htab__get(&c->dsos, k, sizeof(*k), true))) {
		free(d->path);
		free(d->root);
		free(d);
		return NULL;
	}
	e->val.ptr = d;
	return d;
}

static void dso_set_loaded(struct syms_cache *c, struct dso *d, struct elf_syms *es)
{
	d->es = es;
	d->loaded = true;
	if (es)
		c->loaded++;
	free(d->reopen_path);
	d->reopen_path = NULL;
}

static void dso_load_fd(struct syms_cache *c, struct dso *d, int fd)
{
	struct elf_syms_opts o = {
		.sz = sizeof(o),
		.debug_dir = c->debug_dir,
		.path = d->path,
		.root = d->root,
	};

	dso_set_loaded(c, d, elf_syms__open_fd(fd, &o));
}

/* The symbol table, parsed now if this is the first lookup that needs it. */
static struct elf_syms *dso_syms(struct syms_cache *c, struct dso *d)
{
	int fd;

	if (d->loaded)
		return d->es;
	if (d->fd >= 0) {
		dso_load_fd(c, d, d->fd);
		dso_release_fd(c, d);
		return d->es;
	}
	fd = d->reopen_path ? open_untrusted(c, d->reopen_path, SYMS_OPEN_NOFOLLOW,
					     SYMS_MAX_ELF_SIZE, NULL)
			    : -1;
	if (fd >= 0) {
		if (fd_has_key(fd, &d->key))
			dso_load_fd(c, d, fd);
		close(fd);
	}
	/* Replaced since prepare, or unreadable: module+offset is all a caller gets. */
	if (!d->loaded)
		dso_set_loaded(c, d, NULL);
	return d->es;
}

/* Opens the file behind a mapping when its path no longer leads to it. map_files needs
 * CAP_SYS_ADMIN (CAP_CHECKPOINT_RESTORE); /proc/PID/exe only ptrace access, and covers the
 * common case of a rebuilt or deleted main executable. */
static int open_mapped_file(const struct syms *s, const struct syms_map *m, struct stat *st)
{
	char path[64];
	int fd;

	/* Links the kernel makes: followed. */
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)s->pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	fd = open_untrusted(s->cache, path, 0, SYMS_MAX_ELF_SIZE, st);
	if (fd >= 0 && !same_file(NULL, fd, st, m)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0 && !refused(fd)) {
		/* Sized only once known to be the mapping's file: the main executable is not
		 * always, and a large one must not count as refused for another mapping. */
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)s->pid);
		fd = syms_open_file(path, 0, UINT64_MAX, st);
		if (fd >= 0 && !same_file(NULL, fd, st, m)) {
			close(fd);
			fd = -1;
		} else if (fd >= 0 && (uint64_t)st->st_size > SYMS_MAX_ELF_SIZE) {
			close(fd);
			fd = -EFBIG;
			s->cache->refused++;
		}
	}
	return fd;
}

/* Gives a not yet parsed file a way to be read later, consuming fd (may be -1): the fd
 * itself while the budget lasts; else reopen, a path in our root that reaches the file after
 * its process exits; else, with nothing to come back to, it is parsed now. */
static void dso_keep_handle(struct syms_cache *c, struct dso *d, int fd, const char *reopen)
{
	if (fd >= 0 && c->open_files < c->max_open) {
		d->fd = fd;
		c->open_files++;
		return;
	}
	if (reopen && (d->reopen_path = strdup(reopen))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fd >= 0) {
		dso_load_fd(c, d, fd);
		close(fd);
		return;
	}
	dso_set_loaded(c, d, NULL);
}

static struct dso *file_dso(struct syms *s, const struct syms_map *m)
{
	struct syms_cache *c = s->cache;
	bool by_path = false, reopenable, in_root = s->root != NULL;
	char path[PATH_MAX];
	struct dso_key key;
	struct stat st;
	struct dso *d;
	int fd = -1, n;

	/* Through the process's root, so a container's /usr/lib/libc.so.6 is its own. maps
	 * gives a path from our root where one exists (a chroot under ours): try that too. */
	if (!(m->flags & PROCMAP_DELETED)) {
		n = snprintf(path, sizeof(path), "%s%s", s->root ? s->root : "", m->name);
		by_path = n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 &&
			  same_file(path, -1, &st, m);
		if (!by_path && s->root) {
			n = snprintf(path, sizeof(path), "%s", m->name);
			by_path = n > 0 && (size_t)n < sizeof(path) && stat(path, &st) == 0 &&
				  same_file(path, -1, &st, m);
			in_root = false;
		}
	}
	if (!by_path) {
		fd = open_mapped_file(s, m, &st);
		if (fd < 0)
			return NULL;
	}
	key = key_of(&st);
	d = dso_find(c, &key);
	if (d) {
		dso_get(c, d);
	} else if (!(d = dso_new(c, &key, m->name, s->root))) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (d->loaded || d->fd >= 0 || d->reopen_path) {
		if (fd >= 0)
			close(fd);
		return d;
	}
	/* Only a path in our own root that still names the file works once the process has
	 * exited; without a descriptor to spare, such a path is all that is kept. */
	reopenable = by_path && !in_root;
	if (by_path && (c->open_files < c->max_open || !reopenable)) {
		/* The last component may have been replaced since stat (a link, a FIFO). */
		fd = open_untrusted(c, path, SYMS_OPEN_NOFOLLOW, SYMS_MAX_ELF_SIZE, NULL);
		if (refused(fd)) {
			/* Asking again later would not change the answer. */
			dso_set_loaded(c, d, NULL);
			return d;
		}
		if (fd >= 0 && !fd_has_key(fd, &key)) {
			close(fd);
			fd = -1;
		}
	}
	dso_keep_handle(c, d, fd, reopenable ? path : NULL);
	return d;
}

static int find_self_vdso(const struct procmap *pm, void *ctx)
{
	struct syms_cache *c = ctx;

	if ((pm->flags & PROCMAP_VDSO) && pm->start == (uintptr_t)c->self_vdso) {
		c->self_vdso_size = pm->end - pm->start;
		return 1;
	}
	return 0;
}

static size_t self_vdso_size(struct syms_cache *c)
{
	char *buf;
	size_t len;

	if (c->self_vdso_sized)
		return c->self_vdso_size;
	c->self_vdso_sized = true;
	if (c->self_vdso && syms_read_path("/proc/self/maps", &buf, &len) == 0) {
		procmaps__parse(buf, len, find_self_vdso, c);
		free(buf);
	}
	return c->self_vdso_size;
}

static struct dso *vdso_dso(struct syms *s, const struct syms_map *m)
{
	struct syms_cache *c = s->cache;
	size_t size = m->end - m->start;
	const void *img = NULL;
	struct dso_key key;
	struct dso *d;
	void *buf = NULL;

	if (size == 0 || size > VDSO_MAX_SIZE)
		return NULL;
	if (c->self_vdso && self_vdso_size(c) == size) {
		img = c->self_vdso;
	} else {
		/* Another ABI's vdso (a 32-bit process), or ours is unknown: read the process's. */
		char path[32];
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/mem", (int)s->pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		buf = malloc(size);
		if (fd >= 0 && buf && pread(fd, buf, size, (off_t)m->start) == (ssize_t)size)
			img = buf;
		if (fd >= 0)
			close(fd);
		if (!img) {
			free(buf);
			return NULL;
		}
	}
	key.dev = VDSO_DEV;
	if (img == c->self_vdso) {
		/* Every process of our ABI has this image: hash it once, not per process. */
		if (!c->self_vdso_crc_done) {
			c->self_vdso_crc = (uint32_t)crc32(0L, img, (uInt)size);
			c->self_vdso_crc_done = true;
		}
		key.ino = c->self_vdso_crc;
	} else {
		key.ino = crc32(0L, img, (uInt)size);
	}
	key.size = size;
	key.mtime_ns = 0;
	d = dso_find(c, &key);
	if (d) {
		dso_get(c, d);
	} else {
		d = dso_new(c, &key, "[vdso]", NULL);
		if (d)
			dso_set_loaded(c, d, elf_syms__open_mem(img, size));
	}
	free(buf);
	return d;
}

/* ---- Processes ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct maps_list {
	struct syms_map *v;
	size_t n, cap;
};

static void maps_list_free(struct maps_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int collect_exec(const struct procmap *pm, void *ctx)
{
	struct maps_list *l = ctx;
	struct syms_map *m;

	if (!(pm->flags & PROCMAP_EXEC))
		return 0;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct syms_map *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	m = &l->v[l->n];
	memset(m, 0, sizeof(*m));
	m->start = pm->start;
	m->end = pm->end;
	m->pgoff = pm->offset;
	m->ino = pm->inode;
	m->dev_major = pm->dev_major;
	m->dev_minor = pm->dev_minor;
	m->flags = pm->flags;
	if (pm->path_len) {
		m->name = strndup(pm->path, pm->path_len);
		if (!m->name)
			return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int read_maps(pid_t pid, struct maps_list *l)
{
	char path[32], *buf;
	size_t len;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	err = syms_read_path(path, &buf, &len);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = procmaps__parse(buf, len, collect_exec, l);
	free(buf);
	if (err)
		maps_list_free(l);
	return err;
}

static void attach_dso(struct syms *s, struct syms_map *m)
{
	if (m->flags & PROCMAP_VDSO)
		m->dso = vdso_dso(s, m);
	else if ((m->flags & PROCMAP_FILE) && m->ino)
		m->dso = file_dso(s, m);
	/* Executable memory without an ELF (anonymous, memfd, [anon:...]) is where a JIT puts
	 * code; [vsyscall] and a failed [vdso] are not. */
	if (!m->dso && ((m->flags & PROCMAP_ANON) || !(m->flags & PROCMAP_PSEUDO)))
		s->has_anon_exec = true;
}

static struct syms_map *find_map(const struct syms *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && addr < s->maps[lo - 1].end)
		return &s->maps[lo - 1];
	return NULL;
}

/* Adds the mappings of l that overlap none already known (libraries loaded since the last
 * read); l keeps the rest, for the caller to free. Returns how many were added. */
static size_t merge_maps(struct syms *s, struct maps_list *l)
{
	size_t i, added = 0;

	for (i = 0; i < l->n; i++) {
		struct syms_map *m = &l->v[i];
		size_t pos = 0, lo = 0, hi = s->nmaps;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (s->maps[mid].start < m->start)
				lo = mid + 1;
			else
				hi = mid;
		}
		pos = lo;
		if ((pos > 0 && s->maps[pos - 1].end > m->start) ||
		    (pos < s->nmaps && s->maps[pos].start < m->end))
			continue;
		if (s->nmaps == s->maps_cap) {
			size_t ncap = s->maps_cap ? s->maps_cap * 2 : 8;
			struct syms_map *nv = realloc(s->maps, ncap * sizeof(*nv));

			if (!nv)
				break;
			s->maps = nv;
			s->maps_cap = ncap;
		}
		memmove(&s->maps[pos + 1], &s->maps[pos], (s->nmaps - pos) * sizeof(*s->maps));
		s->maps[pos] = *m;
		m->name = NULL;  /* now owned by s */
		s->nmaps++;
		attach_dso(s, &s->maps[pos]);
		added++;
	}
	return added;
}

static pid_t ns_pid(pid_t pid)
{
	char path[32], *buf, *p;
	pid_t inner = pid;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (syms_read_path(path, &buf, &len))
		return pid;
	/* "NSpid:\t1234\t7": the last number is the pid inside the innermost namespace, the
	 * one a JIT inside a container writes into its perf map's name. */
	p = strstr(buf, "\nNSpid:");
	if (p) {
		char *end = strchr(p + 1, '\n'), *q = p + 7;

		while (q && *q && (!end || q < end)) {
			char *next;
			long v = strtol(q, &next, 10);

			if (next == q)
				break;
			inner = (pid_t)v;
			q = next;
		}
	}
	free(buf);
	return inner;
}

static void perf_map_parse_fd(struct syms *s, int fd, off_t size)
{
	struct symtab tab;
	size_t len;
	char *buf;

	if (lseek(fd, 0, SEEK_SET) < 0 || syms_read_fd_max(fd, SYMS_MAX_PERF_MAP_SIZE, &buf, &len))
		return;
	if (perf_map_parse_tab(buf, len, &tab) == 0) {
		symtab__free(&s->perf_tab);
		s->perf_tab = tab;
		s->perf_size = size;
	}
	free(buf);
}

/* Opens /tmp/perf-PID.map as the process sees it. The file sits in a world-writable
 * directory: only a regular file owned by the process's user is believed, so another user
 * cannot plant names (or make us read a file of theirs). */
static void perf_map_open(struct syms *s)
{
	struct syms_cache *c = s->cache;
	char path[PATH_MAX], shown[64];
	pid_t nspid;
	struct stat st;
	int fd;

	/* A retired process's perf map path now names another image's map. */
	if (s->perf_tried || s->retired)
		return;
	s->perf_tried = true;
	nspid = ns_pid(s->pid);
	snprintf(shown, sizeof(shown), "/tmp/perf-%d.map", (int)nspid);
	snprintf(path, sizeof(path), "%s%s", s->root ? s->root : "", shown);
	fd = open_untrusted(c, path, SYMS_OPEN_NOFOLLOW, SYMS_MAX_PERF_MAP_SIZE, &st);
	if (fd < 0 && (s->root || nspid != s->pid)) {
		/* Gone with its root, or a map copied out of the container: ours, by our pid. */
		snprintf(shown, sizeof(shown), "/tmp/perf-%d.map", (int)s->pid);
		fd = open_untrusted(c, shown, SYMS_OPEN_NOFOLLOW, SYMS_MAX_PERF_MAP_SIZE, &st);
	}
	if (fd < 0)
		return;
	if (st.st_uid != s->uid)
		c->refused++;
	if (st.st_uid != s->uid || !(s->perf_path = strdup(shown))) {
		close(fd);
		return;
	}
	if (c->open_files < c->max_open) {
		s->perf_fd = fd;
		c->open_files++;
		return;
	}
	perf_map_parse_fd(s, fd, st.st_size);
	close(fd);
}

static const struct sym *perf_map_lookup(struct syms *s, uint64_t addr)
{
	struct stat st;

	perf_map_open(s);
	/* A JIT appends as it compiles: re-read when the file changed since the last parse,
	 * but a map can be large and a live JIT never stops: at most once a second. A retired
	 * process's map is parsed once, from the handle opened while its image ran. */
	if (s->perf_fd >= 0 && (!s->retired || s->perf_size < 0) &&
	    fstat(s->perf_fd, &st) == 0 && st.st_size != s->perf_size &&
	    (uint64_t)st.st_size <= SYMS_MAX_PERF_MAP_SIZE) {
		uint64_t now = now_ns();

		if (s->perf_size < 0 || now - s->perf_parsed_ns >= REFRESH_INTERVAL_NS) {
			perf_map_parse_fd(s, s->perf_fd, st.st_size);
			s->perf_parsed_ns = now;
		}
	}
	return symtab__lookup(&s->perf_tab, addr);
}

static void syms_free(struct syms_cache *c, struct syms *s, bool put)
{
	size_t i;

	for (i = 0; i < s->nmaps; i++) {
		if (put && s->maps[i].dso)
			dso_put(c, s->maps[i].dso);
		free(s->maps[i].name);
	}
	if (s->perf_fd >= 0) {
		close(s->perf_fd);
		c->open_files--;
	}
	symtab__free(&s->perf_tab);
	free(s->perf_path);
	free(s->maps);
	free(s->root);
	free(s);
}

static struct syms *syms_find(struct syms_cache *c, pid_t pid)
{
	struct htab_ent *e = htab__get(&c->pids, &pid, sizeof(pid), false);

	return e ? e->val.ptr : NULL;
}

/* Takes s out of the pids table if it is the pid's current syms. */
static void syms_unlist(struct syms_cache *c, struct syms *s)
{
	struct htab_ent *e = htab__get(&c->pids, &s->pid, sizeof(s->pid), false);

	if (e && e->val.ptr == s)
		htab__del(&c->pids, e);
}

static bool differs(const char *path, bool known, const struct stat *ours)
{
	struct stat st;

	return known && stat(path, &st) == 0 &&
	       (st.st_dev != ours->st_dev || st.st_ino != ours->st_ino);
}

/* A new mount namespace may keep our root directory yet mount other files over paths. */
static bool foreign_root(const struct syms_cache *c, pid_t pid)
{
	char path[48];

	snprintf(path, sizeof(path), "/proc/%d/root/", (int)pid);
	if (differs(path, c->root_known, &c->root_st))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	return differs(path, c->mntns_known, &c->mntns_st);
}

static struct syms *syms_new(struct syms_cache *c, pid_t pid)
{
	struct maps_list l = {0};
	struct htab_ent *e;
	char path[32];
	struct stat st;
	struct syms *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->pid = pid;
	s->cache = c;
	s->perf_fd = -1;
	s->perf_size = -1;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st)) {
		err = errno == ENOENT ? -ESRCH : -errno;
		goto fail;
	}
	s->uid = st.st_uid;
	/* Another root or mount namespace (a container, a chroot): its files are reached
	 * through /proc/PID/root. If we may not look (EACCES), assume ours; same_file()
	 * catches a wrong guess. */
	if (foreign_root(c, pid)) {
		snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
		s->root = strdup(path);
		if (!s->root) {
			err = -ENOMEM;
			goto fail;
		}
	}
	err = read_maps(pid, &l);
	if (err)
		goto fail;
	merge_maps(s, &l);
	maps_list_free(&l);
	s->refreshed_ns = now_ns();
	if (s->has_anon_exec)
		perf_map_open(s);
	e = htab__get(&c->pids, &pid, sizeof(pid), true);
	if (!e) {
		err = -ENOMEM;
		goto fail;
	}
	e->val.ptr = s;
	return s;
fail:
	syms_free(c, s, true);
	errno = -err;
	return NULL;
}

/* Re-reads the maps of a live process; true if any mapping was added. */
static bool syms_refresh(struct syms *s)
{
	struct maps_list l = {0};
	uint64_t now = now_ns();
	bool had_anon = s->has_anon_exec;
	size_t added;

	/* A retired pid's maps describe another image now. The first misses re-read at once,
	 * whatever the interval: the maps may have been read while the process was still in
	 * its dynamic loader, before libc was mapped, and a sample taken since names libc. Once
	 * reads stop adding mappings, misses are garbage addresses: then once an interval. */
	if (s->retired || (s->refreshes_in_vain >= REFRESH_FREE_READS &&
			   now - s->refreshed_ns < REFRESH_INTERVAL_NS))
		return false;
	s->refreshed_ns = now;
	if (read_maps(s->pid, &l))
		return false;
	added = merge_maps(s, &l);
	maps_list_free(&l);
	s->refreshes_in_vain = added ? 0 : s->refreshes_in_vain + 1;
	if (!had_anon && s->has_anon_exec)
		perf_map_open(s);
	return added > 0;
}

/* ---- Public API ---- */

struct syms_cache *syms_cache__new(const struct syms_cache_opts *opts)
{
	const char *debug_dir = SYMS_OPT(opts, debug_dir, NULL);
	struct syms_cache *c = calloc(1, sizeof(*c));
	struct rlimit rl;

	if (!c)
		return NULL;
	if (debug_dir && !(c->debug_dir = strdup(debug_dir))) {
		free(c);
		return NULL;
	}
	c->max_open = SYMS_OPT(opts, max_open_files, 0);
	if (!c->max_open) {
		c->max_open = DEFAULT_MAX_OPEN_FILES;
		/* Leave most descriptors to the caller (perf events, maps, output). */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur / 4 < c->max_open)
			c->max_open = (unsigned int)(rl.rlim_cur / 4);
	}
	c->max_unused = SYMS_OPT(opts, max_unused_files, 0);
	if (!c->max_unused)
		c->max_unused = DEFAULT_MAX_UNUSED_FILES;
	c->root_known = stat("/", &c->root_st) == 0;
	c->mntns_known = stat("/proc/self/ns/mnt", &c->mntns_st) == 0;
	c->self_vdso = (const void *)(uintptr_t)getauxval(AT_SYSINFO_EHDR);
	return c;
}

void syms_cache__free(struct syms_cache *c)
{
	struct htab_ent *e;

	if (!c)
		return;
	for (e = NULL; (e = htab__next(&c->pids, e));)
		syms_free(c, e->val.ptr, false);
	for (e = NULL; (e = htab__next(&c->dsos, e));)
		dso_free(c, e->val.ptr);
	while (c->retired) {
		struct syms *s = c->retired;

		c->retired = s->retired_next;
		syms_free(c, s, false);
	}
	htab__free(&c->pids);
	htab__free(&c->dsos);
	free(c->debug_dir);
	free(c);
}

int syms_cache__prepare(struct syms_cache *c, pid_t pid)
{
	if (syms_find(c, pid))
		return 0;
	return syms_new(c, pid) ? 0 : -errno;
}

struct syms *syms_cache__get_syms(struct syms_cache *c, pid_t pid)
{
	struct syms *s = syms_find(c, pid);

	return s ? s : syms_new(c, pid);
}

void syms_cache__forget(struct syms_cache *c, pid_t pid)
{
	struct syms *s = syms_find(c, pid);

	if (!s)
		return;
	syms_unlist(c, s);
	syms_free(c, s, true);
}

void syms_cache__retire(struct syms_cache *c, pid_t pid)
{
	struct syms *s = syms_find(c, pid);

	if (!s)
		return;
	syms_unlist(c, s);
	s->retired = true;
	s->retired_prev = NULL;
	s->retired_next = c->retired;
	if (c->retired)
		c->retired->retired_prev = s;
	c->retired = s;
}

void syms_cache__release(struct syms_cache *c, struct syms *s)
{
	if (!s)
		return;
	if (!s->retired) {
		syms_unlist(c, s);
	} else {
		if (s->retired_prev)
			s->retired_prev->retired_next = s->retired_next;
		else
			c->retired = s->retired_next;
		if (s->retired_next)
			s->retired_next->retired_prev = s->retired_prev;
	}
	syms_free(c, s, true);
}

void syms_cache__stats(const struct syms_cache *c, struct syms_cache_stats *st)
{
	st->pids = c->pids.n;
	st->files = c->dsos.n;
	st->loaded = c->loaded;
	st->open_files = c->open_files;
	st->refused = c->refused;
}

int syms__map_addr_info(struct syms *s, uint64_t addr, struct sym_info *info)
{
	struct syms_map *m;
	const struct sym *sym;

	memset(info, 0, sizeof(*info));
	m = find_map(s, addr);
	if (!m && syms_refresh(s))
		m = find_map(s, addr);
	if (m && m->name) {
		info->module = m->name;
		info->module_offset = addr - m->start + m->pgoff;
	}
	if (m && m->dso) {
		struct elf_syms *es = dso_syms(s->cache, m->dso);
		uint64_t vaddr;

		if (es)
			info->build_id_len = elf_syms__build_id(es, &info->build_id);
		if (!es || elf_syms__offset_to_vaddr(es, addr - m->start + m->pgoff, &vaddr))
			return -ENOENT;
		sym = elf_syms__map_vaddr(es, vaddr, &info->sym_offset);
		if (!sym)
			return -ENOENT;
		info->name = sym->name;
		info->sym = sym;
		return 0;
	}
	/* No ELF behind the address: JIT code, which a perf map may name. */
	sym = perf_map_lookup(s, addr);
	if (!sym)
		return -ENOENT;
	info->name = sym->name;
	info->sym = sym;
	info->sym_offset = addr - sym->addr;
	info->module = s->perf_path;
	info->module_offset = addr;
	return 0;
}
