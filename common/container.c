#include "container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

/* --- the path parser --- */

enum id_kind {
	ID_HEX64,   /* a runtime's container id: 64 lowercase hex digits */
	ID_MACHINE, /* a systemd machine name, unit-escaped ("\x2d" for '-') */
	ID_NAME,    /* an LXC container name, as is */
};

/* Parent-component conditions. */
#define PARENT_ANY NULL
#define PARENT_POD "\x01pod" /* "pod<uid>" below kubepods (the cgroupfs driver) */

/* One cgroup directory name a runtime gives a container. The first rule that matches a
 * component wins; the innermost component that matches names the container (a container
 * in a container is the inner one). The shapes, from each runtime's cgroup code and
 * documentation:
 *   Docker, systemd driver:        /system.slice/docker-<id>.scope
 *   Docker, cgroupfs driver:       /docker/<id>
 *   Podman, systemd (root/rootless): .../machine.slice/libpod-<id>.scope[/container]
 *   Podman, cgroupfs:              /libpod_parent/libpod-<id>
 *   Kubernetes, systemd driver:    /kubepods.slice/kubepods-<qos>.slice/
 *                                  kubepods-<qos>-pod<uid_with_underscores>.slice/
 *                                  {cri-containerd,crio,docker}-<id>.scope
 *   Kubernetes, cgroupfs driver:   /kubepods/<qos>/pod<uid>/{<id>,crio-<id>}
 *   nerdctl (containerd):          /system.slice/nerdctl-<id>.scope
 *   systemd-nspawn (machined):     /machine.slice/machine-<escaped name>.scope
 *   LXC 4+ / LXD:                  /lxc.payload.<name>; LXC before 4: /lxc/<name>
 * Conmon's own cgroups (libpod-conmon-<id>.scope, crio-conmon-<id>.scope) and LXC's monitor
 * (lxc.monitor.<name>) hold the runtime's helper, not the container: their ids do not
 * parse as HEX64, or no rule has their prefix. */
static const struct ctr_rule {
	const char *parent;
	const char *prefix;
	const char *suffix;
	enum id_kind kind;
	const char *runtime;
} ctr_rules[] = {
	{ PARENT_ANY, "docker-", ".scope", ID_HEX64, "docker" },
	{ "docker", "", "", ID_HEX64, "docker" },
	{ PARENT_ANY, "libpod-", ".scope", ID_HEX64, "podman" },
	{ "libpod_parent", "libpod-", "", ID_HEX64, "podman" },
	{ PARENT_ANY, "cri-containerd-", ".scope", ID_HEX64, "containerd" },
	{ PARENT_ANY, "crio-", ".scope", ID_HEX64, "cri-o" },
	{ PARENT_POD, "crio-", "", ID_HEX64, "cri-o" },
	/* containerd and dockershim name it alike under the cgroupfs driver. */
	{ PARENT_POD, "", "", ID_HEX64, "cri" },
	{ PARENT_ANY, "nerdctl-", ".scope", ID_HEX64, "containerd" },
	{ PARENT_ANY, "machine-", ".scope", ID_MACHINE, "systemd-nspawn" },
	{ PARENT_ANY, "lxc.payload.", "", ID_NAME, "lxc" },
	{ "lxc", "", "", ID_NAME, "lxc" },
};

#define NRULES (sizeof(ctr_rules) / sizeof(ctr_rules[0]))

static bool is_lower_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Copies the id s[0..n) into out when it is well formed for its kind. */
static bool parse_id(enum id_kind kind, const char *s, size_t n, char *out, size_t size)
{
	size_t i, o = 0;

	switch (kind) {
	case ID_HEX64:
		if (n != 64)
			return false;
		for (i = 0; i < n; i++)
			if (!is_lower_hex(s[i]))
				return false;
		break;
	case ID_MACHINE:
		/* systemd's unit name escaping: "\xHH" for bytes other than [A-Za-z0-9:_.]. */
		for (i = 0; i < n; i++) {
			int c = (unsigned char)s[i];

			if (c == '\\') {
				char hex[3];

				/* systemd writes lowercase hex digits */
				if (i + 3 >= n || s[i + 1] != 'x' || !is_lower_hex(s[i + 2]) ||
				    !is_lower_hex(s[i + 3]))
					return false;
				hex[0] = s[i + 2];
				hex[1] = s[i + 3];
				hex[2] = '\0';
				c = (int)strtol(hex, NULL, 16);
				i += 3;
			}
			if (c < 0x21 || c > 0x7e || c == '/' || o + 1 >= size)
				return false;
			out[o++] = (char)c;
		}
		if (!o)
			return false;
		out[o] = '\0';
		return true;
	case ID_NAME:
		if (!n)
			return false;
		for (i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
				return false;
		break;
	}
	if (n + 1 > size)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* A pod UID as the kubelet writes it into cgroup names: 8-4-4-4-12 hex digits joined by
 * '-' (cgroupfs) or '_' (systemd, where '-' separates slice levels). */
static bool parse_uid(const char *s, size_t n, char *out)
{
	size_t i;

	if (n != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-' && s[i] != '_')
				return false;
			out[i] = '-';
		} else if (is_lower_hex(s[i])) {
			out[i] = s[i];
		} else {
			return false;
		}
	}
	out[36] = '\0';
	return true;
}

/* "pod<uid>" (cgroupfs) or "kubepods[-<qos>]-pod<uid>.slice" (systemd). */
static bool pod_component(const char *c, size_t n, char *uid)
{
	const char *p;

	if (n > 6 && strncmp(c + n - 6, ".slice", 6) == 0) {
		n -= 6;
		if (n < 12 || strncmp(c, "kubepods-", 9) != 0)
			return false;
		p = c + n - 36 - 4;
		if (p < c + 8 || strncmp(p, "-pod", 4) != 0)
			return false;
		return parse_uid(p + 4, 36, uid);
	}
	return n == 39 && strncmp(c, "pod", 3) == 0 && parse_uid(c + 3, 36, uid);
}

static bool match_rule(const struct ctr_rule *r, const char *c, size_t n, const char *parent,
		       size_t parent_len, bool parent_is_pod, char *id, size_t size)
{
	size_t pl = strlen(r->prefix), sl = strlen(r->suffix);

	if (r->parent && strcmp(r->parent, PARENT_POD) == 0) {
		if (!parent_is_pod)
			return false;
	} else if (r->parent &&
		   (parent_len != strlen(r->parent) || strncmp(parent, r->parent, parent_len))) {
		return false;
	}
	if (n <= pl + sl || strncmp(c, r->prefix, pl) || strncmp(c + n - sl, r->suffix, sl))
		return false;
	return parse_id(r->kind, c + pl, n - pl - sl, id, size);
}

bool container__parse_path(const char *path, struct container_ref *ref)
{
	const char *c = path, *parent = "";
	size_t parent_len = 0;
	bool found = false, kube = false, parent_is_pod = false;
	char pod[CONTAINER_POD_UID_LEN] = "";
	char id[CONTAINER_ID_MAX];

	if (!path)
		return false;
	while (*c) {
		size_t n, i;
		bool is_pod = false;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if (!n)
			break;
		if (n >= 8 && strncmp(c, "kubepods", 8) == 0)
			kube = true;
		if (kube && pod_component(c, n, pod))
			is_pod = true;
		for (i = 0; i < NRULES; i++) {
			const struct ctr_rule *r = &ctr_rules[i];

			if (!match_rule(r, c, n, parent, parent_len, parent_is_pod, id, sizeof(id)))
				continue;
			memcpy(ref->id, id, sizeof(id));
			ref->runtime = r->runtime;
			/* The pod owns containers below it only. */
			strcpy(ref->pod_uid, kube ? pod : "");
			ref->end = (size_t)(c - path) + n;
			found = true;
			break;
		}
		parent = c;
		parent_len = n;
		parent_is_pod = is_pod;
		c += n;
	}
	return found;
}

/* --- cgroup ids --- */

int container__cgroup_id(const char *dir, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	struct stat st;
	int mount_id;

	/* The kernfs node id is the handle: what libbpf-tools and bpftool read too. */
	h.fh.handle_bytes = sizeof(h.id);
	if (name_to_handle_at(AT_FDCWD, dir, &h.fh, &mount_id, 0) == 0 &&
	    h.fh.handle_bytes == sizeof(h.id)) {
		memcpy(id, h.fh.f_handle, sizeof(*id));
		return 0;
	}
	/* Without exportfs support: the inode number is the id on 64-bit kernels. */
	if (stat(dir, &st) != 0)
		return -errno;
	*id = st.st_ino;
	return 0;
}

int container__cgroup_level(const char *dir, uint32_t *level)
{
	char *p = realpath(dir, NULL), *slash;
	struct statfs sfs;
	uint32_t n = 0;

	if (!p)
		return -errno;
	if (statfs(p, &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		free(p);
		return -EINVAL;
	}
	/* Up one directory at a time while the parent is still the same cgroup2 mount. */
	while ((slash = strrchr(p, '/')) != NULL && slash != p) {
		struct stat child, parent;

		if (stat(p, &child) != 0)
			break;
		*slash = '\0';
		if (statfs(p, &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC ||
		    stat(p, &parent) != 0 || parent.st_dev != child.st_dev)
			break;
		n++;
	}
	free(p);
	*level = n;
	return 0;
}

/* --- the caches --- */

struct path_entry {
	uint64_t id;
	char *path; /* below the v2 root; NULL: looked for, not found */
};

struct info_entry {
	uint64_t id;
	uint32_t mntns;
	bool used;
	char *path; /* info.cgroup's own copy */
	struct container_info info;
};

/* Bounded: a host with more distinct cgroups than this restarts the cache (answers are
 * recomputed, nothing is lost). */
#define CACHE_MAX 16384
/* Slots of the id → path table (half of them used at most). */
#define PATHS_MAX (1u << 19)

struct container_resolver {
	char *root;      /* cgroup v2 mount point */
	struct path_entry *paths;
	size_t npaths, cap_paths; /* open addressing, cap a power of two */
	struct info_entry *infos;
	size_t ninfos;
	uint32_t *used; /* the slots of infos in use, ninfos of them */
	/* The newest cgroup id the last tree walk saw. Ids only grow (kernfs allocates them
	 * cyclically with a generation above), so an unknown id below it names a cgroup
	 * removed before that walk, and only a bigger one calls for another walk. */
	uint64_t max_scanned_id;
	uint32_t self_mntns; /* the host's, as far as this tool can tell: never a container's */
	struct container_info scratch; /* an answer not cached */
	char *scratch_path;
};

static uint64_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static void paths_clear(struct container_resolver *r)
{
	size_t i;

	for (i = 0; i < r->cap_paths; i++)
		free(r->paths[i].path);
	memset(r->paths, 0, r->cap_paths * sizeof(*r->paths));
	r->npaths = 0;
}

static struct path_entry *paths_slot(struct container_resolver *r, uint64_t id)
{
	size_t mask = r->cap_paths - 1, i = hash64(id) & mask;

	while (r->paths[i].id && r->paths[i].id != id)
		i = (i + 1) & mask;
	return &r->paths[i];
}

/* Doubles the table up to PATHS_MAX slots; -ENOSPC beyond (the caller starts over). */
static int paths_grow(struct container_resolver *r)
{
	struct path_entry *old = r->paths, *fresh;
	size_t i, old_cap = r->cap_paths;

	if (old_cap * 2 > PATHS_MAX)
		return -ENOSPC;
	fresh = calloc(old_cap * 2, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	r->paths = fresh;
	r->cap_paths = old_cap * 2;
	for (i = 0; i < old_cap; i++)
		if (old[i].id)
			*paths_slot(r, old[i].id) = old[i];
	free(old);
	return 0;
}

/* Records id → path (path NULL: known missing). Takes ownership of path. */
static void paths_put(struct container_resolver *r, uint64_t id, char *path)
{
	struct path_entry *e;

	if (!id) {
		free(path);
		return;
	}
	if (r->npaths + 1 > r->cap_paths / 2 && paths_grow(r) != 0)
		paths_clear(r);
	e = paths_slot(r, id);
	if (e->id) {
		if (!path)
			return; /* keep a known path */
		free(e->path);
	} else {
		r->npaths++;
	}
	e->id = id;
	e->path = path;
}

/* Only the slots in use are touched: the table's 7 MiB are calloc'ed and stay untouched
 * (not resident) until used, and walking or clearing all of it at exit cost 75-260 ms of
 * page faults and 7 MiB of RSS. */
static void infos_clear(struct container_resolver *r)
{
	size_t i;

	for (i = 0; i < r->ninfos; i++) {
		struct info_entry *e = &r->infos[r->used[i]];

		free(e->path);
		memset(e, 0, sizeof(*e));
	}
	r->ninfos = 0;
}

static struct info_entry *infos_slot(struct container_resolver *r, uint64_t id, uint32_t mntns)
{
	size_t mask = CACHE_MAX * 2 - 1, i = hash64(id ^ ((uint64_t)mntns << 32)) & mask;

	while (r->infos[i].used && !(r->infos[i].id == id && r->infos[i].mntns == mntns))
		i = (i + 1) & mask;
	return &r->infos[i];
}

/* --- the cgroup v2 mount --- */

/* mountinfo escapes blanks and backslashes as \ooo. */
static void unescape_octal(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static char *find_cgroup2(const char *mountinfo)
{
	FILE *f = fopen(mountinfo ? mountinfo : "/proc/self/mountinfo", "re");
	char *line = NULL, *found = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	while (!found && getline(&line, &cap, f) > 0) {
		char *fields[5], *sep, *save = NULL, *tok;
		int n = 0;

		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER" */
		sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		*sep = '\0';
		for (tok = strtok_r(line, " ", &save); tok && n < 5; tok = strtok_r(NULL, " ", &save))
			fields[n++] = tok;
		if (n < 5)
			continue;
		unescape_octal(fields[4]);
		found = strdup(fields[4]);
	}
	free(line);
	fclose(f);
	return found;
}

static uint32_t proc_mntns_self(void)
{
	struct stat st;

	return stat("/proc/self/ns/mnt", &st) == 0 ? (uint32_t)st.st_ino : 0;
}

struct container_resolver *container_resolver__new(const char *mountinfo_path)
{
	struct container_resolver *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cap_paths = 1024;
	r->paths = calloc(r->cap_paths, sizeof(*r->paths));
	r->infos = calloc(CACHE_MAX * 2, sizeof(*r->infos));
	r->used = calloc(CACHE_MAX, sizeof(*r->used));
	if (!r->paths || !r->infos || !r->used) {
		container_resolver__free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->root = find_cgroup2(mountinfo_path);
	r->self_mntns = proc_mntns_self();
	return r;
}

void container_resolver__free(struct container_resolver *r)
{
	if (!r)
		return;
	if (r->paths)
		paths_clear(r);
	free(r->paths);
	if (r->infos && r->used)
		infos_clear(r);
	free(r->infos);
	free(r->scratch_path);
	free(r->used);
	free(r->root);
	free(r);
}

const char *container_resolver__root(const struct container_resolver *r)
{
	return r->root;
}

/* --- walking the v2 tree --- */

/* nftw has no context argument. */
static struct container_resolver *scan_r;
static size_t scan_root_len;

#define SCAN_MAX_DIRS 200000

static int scan_one(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = fpath + scan_root_len;
	uint64_t id;
	char *p;

	if (type != FTW_D)
		return FTW_CONTINUE;
	if (container__cgroup_id(fpath, &id) != 0)
		return FTW_CONTINUE;
	p = strdup(*rel ? rel : "/");
	if (!p)
		return FTW_STOP;
	paths_put(scan_r, id, p);
	if (id > scan_r->max_scanned_id)
		scan_r->max_scanned_id = id;
	return FTW_CONTINUE;
}

static void scan_tree(struct container_resolver *r)
{
	if (!r->root)
		return;
	scan_r = r;
	scan_root_len = strlen(r->root);
	/* One file descriptor per level: cgroup trees are shallow. */
	nftw(r->root, scan_one, 16, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL);
	scan_r = NULL;
}

/* --- /proc/PID/cgroup --- */

/* Calls fn for each line "HIERARCHY:CONTROLLERS:PATH" of the process; stops when fn
 * returns true. A process that is gone reads as no lines. */
static void proc_cgroups(uint32_t pid, bool (*fn)(const char *ctrls, const char *path, void *arg),
			 void *arg)
{
	char name[64], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	snprintf(name, sizeof(name), "/proc/%u/cgroup", pid);
	f = fopen(name, "re");
	if (!f)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		*c2 = '\0';
		if (fn(c1 + 1, c2 + 1, arg))
			break;
	}
	free(line);
	fclose(f);
}

struct v2_lookup {
	struct container_resolver *r;
	uint64_t want;
	bool found;
};

static bool v2_line(const char *ctrls, const char *path, void *arg)
{
	struct v2_lookup *l = arg;
	char full[4096];
	uint64_t id;

	if (*ctrls)
		return false;
	/* The process may have moved since the event: trust the path only if its id is the
	 * event's. */
	if (snprintf(full, sizeof(full), "%s%s", l->r->root, path) >= (int)sizeof(full))
		return true;
	if (container__cgroup_id(full, &id) == 0 && id == l->want) {
		paths_put(l->r, id, strdup(path));
		l->found = true;
	}
	return true;
}

struct v1_lookup {
	struct container_ref *ref;
	bool found;
};

static bool v1_line(const char *ctrls, const char *path, void *arg)
{
	struct v1_lookup *l = arg;

	if (!*ctrls)
		return false;
	l->found = container__parse_path(path, l->ref);
	return l->found;
}

static uint32_t proc_mntns(uint32_t pid)
{
	char name[64];
	struct stat st;

	snprintf(name, sizeof(name), "/proc/%u/ns/mnt", pid);
	if (stat(name, &st) != 0)
		return 0;
	return (uint32_t)st.st_ino;
}

static const char *id_path(struct container_resolver *r, uint64_t id, uint32_t pid)
{
	struct path_entry *e = paths_slot(r, id);

	if (e->id)
		return e->path;
	if (!r->root || !id)
		return NULL;
	if (pid) {
		struct v2_lookup l = { .r = r, .want = id };

		proc_cgroups(pid, v2_line, &l);
		if (l.found)
			return paths_slot(r, id)->path;
	}
	if (id > r->max_scanned_id)
		scan_tree(r);
	e = paths_slot(r, id);
	if (e->id)
		return e->path;
	paths_put(r, id, NULL);
	return NULL;
}

const struct container_info *container_resolver__get(struct container_resolver *r,
						     uint64_t cgroup_id, uint32_t mntns,
						     uint32_t pid)
{
	struct info_entry *e = infos_slot(r, cgroup_id, mntns);
	struct container_info *ci;

	if (e->used)
		return &e->info;
	if (r->ninfos + 1 > CACHE_MAX) {
		infos_clear(r);
		e = infos_slot(r, cgroup_id, mntns);
	}
	ci = &e->info;
	memset(ci, 0, sizeof(*ci));
	ci->cgroup_id = cgroup_id;
	/* The path table may rehash on a later insert: keep a copy. */
	e->path = id_path(r, cgroup_id, pid) ? strdup(id_path(r, cgroup_id, pid)) : NULL;
	ci->cgroup = e->path;
	if (container__parse_path(ci->cgroup, &ci->ref)) {
		ci->source = CONTAINER_SRC_CGROUP2;
	} else if (pid && mntns && mntns != r->self_mntns) {
		/* Hybrid and v1-only hosts: a runtime may name the container in the v1
		 * hierarchies only, leaving it in the v2 root. The mount namespace tells its
		 * processes from the host's, so the answer is cached per namespace; a process
		 * in the tool's own namespace (a runtime's helper before it unshares) is never
		 * taken for a container. */
		struct v1_lookup l = { .ref = &ci->ref };

		if (proc_mntns(pid) != mntns) {
			/* Gone (or moved) before it could be asked: not cached, so the next
			 * event of this namespace asks its own process. */
			free(r->scratch_path);
			r->scratch_path = e->path;
			r->scratch = *ci;
			memset(e, 0, sizeof(*e));
			return &r->scratch;
		}
		proc_cgroups(pid, v1_line, &l);
		if (l.found)
			ci->source = CONTAINER_SRC_CGROUP1;
	}
	e->id = cgroup_id;
	e->mntns = mntns;
	e->used = true;
	r->used[r->ninfos++] = (uint32_t)(e - r->infos);
	return ci;
}

/* --- --container ID_PREFIX --- */

struct find_state {
	const char *prefix;
	int matches;          /* distinct containers */
	struct container_ref first, second;
	char dir[4096];       /* below the root, of the first */
};

static void find_note(struct find_state *st, const struct container_ref *ref, const char *path)
{
	if (strncmp(ref->id, st->prefix, strlen(st->prefix)) != 0)
		return;
	if (st->matches && strcmp(ref->id, st->first.id) == 0) {
		/* The same container seen deeper (its subcgroups): keep the shortest path. */
		if (path && ref->end < strlen(st->dir))
			snprintf(st->dir, sizeof(st->dir), "%.*s", (int)ref->end, path);
		return;
	}
	if (st->matches && st->matches > 1)
		return;
	if (st->matches && strcmp(ref->id, st->second.id) == 0)
		return;
	if (!st->matches) {
		st->first = *ref;
		if (path)
			snprintf(st->dir, sizeof(st->dir), "%.*s", (int)ref->end, path);
	} else {
		st->second = *ref;
	}
	st->matches++;
}

struct find_v1 {
	struct find_state *st;
	uint32_t pid;
	uint32_t mntns;
	uint32_t self_mntns;
};

static bool find_v1_line(const char *ctrls, const char *path, void *arg)
{
	struct find_v1 *f = arg;
	struct container_ref ref;

	if (!*ctrls || !container__parse_path(path, &ref))
		return false;
	/* A process still in the tool's own mount namespace names no container's. */
	if (proc_mntns(f->pid) == f->self_mntns)
		return true;
	find_note(f->st, &ref, NULL);
	if (f->st->matches && strcmp(ref.id, f->st->first.id) == 0)
		f->mntns = proc_mntns(f->pid);
	return true;
}

int container_resolver__find(struct container_resolver *r, const char *prefix,
			     char *cgroup_dir, size_t size, uint32_t *mntns,
			     struct container_ref *found, struct container_ref *other)
{
	struct find_state st = { .prefix = prefix };
	uint32_t ns = 0;
	size_t i;

	if (!prefix || !*prefix)
		return -EINVAL;
	*mntns = 0;
	if (size)
		cgroup_dir[0] = '\0';
	scan_tree(r);
	for (i = 0; i < r->cap_paths; i++)
		if (r->paths[i].path) {
			struct container_ref ref;

			if (container__parse_path(r->paths[i].path, &ref))
				find_note(&st, &ref, r->paths[i].path);
		}
	if (!st.matches) {
		/* No v2 path names it: a process whose v1 hierarchies do, and its mount
		 * namespace. */
		DIR *d = opendir("/proc");
		struct dirent *de;

		while (d && (de = readdir(d)) != NULL) {
			struct find_v1 f = { .st = &st, .self_mntns = r->self_mntns };
			char *end;
			unsigned long pid = strtoul(de->d_name, &end, 10);

			if (*end || !pid)
				continue;
			f.pid = (uint32_t)pid;
			proc_cgroups(f.pid, find_v1_line, &f);
			if (f.mntns && !ns && st.matches == 1)
				ns = f.mntns;
		}
		if (d)
			closedir(d);
		if (st.matches == 1 && !ns)
			return -ENOENT;
	}
	if (!st.matches)
		return -ENOENT;
	*found = st.first;
	if (st.matches > 1) {
		*other = st.second;
		return -EEXIST;
	}
	if (st.dir[0]) {
		if (snprintf(cgroup_dir, size, "%s%s", r->root, st.dir) >= (int)size)
			return -ENAMETOOLONG;
	} else {
		*mntns = ns;
	}
	return 0;
}
