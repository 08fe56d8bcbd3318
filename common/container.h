/* Which container an event came from: the kernel sends ids (bpf/ident.h), user space names
 * them here. A cgroup path is parsed by a table of the shapes container runtimes give their
 * cgroups (Docker, Podman, containerd and CRI-O under Kubernetes with the systemd and
 * cgroupfs drivers, systemd-nspawn machines, LXC); the resolver maps a cgroup v2 id to its
 * path, and on hosts where the v2 path names no container (hybrid or v1-only hosts) falls
 * back to the process's cgroup v1 paths, keyed by mount namespace. Every answer is cached
 * per (cgroup id, mount namespace). */
#ifndef COMMON_CONTAINER_H
#define COMMON_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONTAINER_ID_MAX 128 /* bytes of an id or machine name, with its NUL */
#define CONTAINER_POD_UID_LEN 37

struct container_ref {
	char id[CONTAINER_ID_MAX];          /* 64 hex digits, or a machine/LXC name */
	const char *runtime;                /* "docker", "podman", ...; static */
	char pod_uid[CONTAINER_POD_UID_LEN]; /* Kubernetes pod UID with dashes, "" if none */
	size_t end;                         /* path bytes up to the end of the naming component */
};

/* Parses a cgroup path ("/system.slice/docker-<id>.scope/...", as /proc/PID/cgroup shows
 * it). Returns true and fills *ref when a component names a container (the innermost one
 * when several do); false for host paths and malformed ids. */
bool container__parse_path(const char *path, struct container_ref *ref);

/* Where the answer came from. */
enum container_source {
	CONTAINER_SRC_NONE = 0, /* not in a container (or the cgroup is gone) */
	CONTAINER_SRC_CGROUP2,  /* the cgroup v2 path names it */
	CONTAINER_SRC_CGROUP1,  /* a cgroup v1 hierarchy of the process names it */
};

struct container_info {
	uint64_t cgroup_id;
	const char *cgroup; /* path below the cgroup v2 root, NULL when unknown */
	enum container_source source;
	struct container_ref ref; /* valid when source != CONTAINER_SRC_NONE */
};

struct container_resolver;

/* Finds the cgroup v2 mount (mountinfo_path: NULL for /proc/self/mountinfo; tests pass
 * their own). Works without one too (v1-only hosts): ids then stay unnamed. Returns NULL
 * with errno set on allocation failure. */
struct container_resolver *container_resolver__new(const char *mountinfo_path);
void container_resolver__free(struct container_resolver *r);

/* The cgroup v2 mount point, or NULL. */
const char *container_resolver__root(const struct container_resolver *r);

/* Names the cgroup `cgroup_id` of process `pid` (0 when there is no process to ask, e.g. a
 * socket's owner) in mount namespace `mntns` (0: unknown). The result stays valid until the
 * resolver is freed. */
const struct container_info *container_resolver__get(struct container_resolver *r,
						     uint64_t cgroup_id, uint32_t mntns,
						     uint32_t pid);

/* Resolves --container ID_PREFIX for the filters: the cgroup v2 directory of the one
 * container whose id (or name) starts with prefix, written to cgroup_dir; or, where no v2
 * path names it, the mount namespace of a process whose v1 cgroup does (*mntns, cgroup_dir
 * left empty). Returns 0, -ENOENT (no such container), -EEXIST (the prefix names more than
 * one; *other gets a second id for the message) or another negative errno. */
int container_resolver__find(struct container_resolver *r, const char *prefix,
			     char *cgroup_dir, size_t size, uint32_t *mntns,
			     struct container_ref *found, struct container_ref *other);

/* The cgroup v2 id of a directory (what bpf_get_current_cgroup_id() returns for tasks in
 * it). Returns 0 or a negative errno. */
int container__cgroup_id(const char *dir, uint64_t *id);

/* How deep a cgroup v2 directory is below its hierarchy's root (the root is 0), what the
 * kernel keeps as cgroup->level. Returns 0 or a negative errno. */
int container__cgroup_level(const char *dir, uint32_t *level);

#endif
