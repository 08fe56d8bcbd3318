/* The container path parser (a table of the cgroup path shapes each runtime and Kubernetes
 * driver makes, malformed ones included) and the resolver's id → path → container steps
 * on a directory tree laid out like a cgroup v2 hierarchy. No root needed. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "testhelp.h"

#define ID1 "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615e4d3"
#define ID2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID1 "6e7e2f4c-91a4-4b6d-8f1e-2c3d4e5f6a7b"
#define UID1_ "6e7e2f4c_91a4_4b6d_8f1e_2c3d4e5f6a7b"

static const struct {
	const char *path;
	const char *id;      /* NULL: names no container */
	const char *runtime;
	const char *pod_uid; /* "" when none */
	const char *dir;     /* the container's directory (prefix of path) */
} cases[] = {
	/* Docker */
	{ "/system.slice/docker-" ID1 ".scope", ID1, "docker", "", "/system.slice/docker-" ID1 ".scope" },
	{ "/docker/" ID1, ID1, "docker", "", "/docker/" ID1 },
	{ "/docker/" ID1 "/init.scope", ID1, "docker", "", "/docker/" ID1 },
	/* Podman: root and rootless, systemd and cgroupfs, and its inner "container" cgroup */
	{ "/machine.slice/libpod-" ID1 ".scope", ID1, "podman", "", "/machine.slice/libpod-" ID1 ".scope" },
	{ "/machine.slice/libpod-" ID1 ".scope/container", ID1, "podman", "", "/machine.slice/libpod-" ID1 ".scope" },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID1 ".scope", ID1,
	  "podman", "", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID1 ".scope" },
	{ "/libpod_parent/libpod-" ID1, ID1, "podman", "", "/libpod_parent/libpod-" ID1 },
	{ "/machine.slice/libpod-conmon-" ID1 ".scope", NULL, NULL, NULL, NULL },
	/* Kubernetes, systemd driver: containerd, CRI-O, dockershim; the three QoS classes */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_
	  ".slice/cri-containerd-" ID1 ".scope", ID1, "containerd", UID1,
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_
	  ".slice/cri-containerd-" ID1 ".scope" },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID1_
	  ".slice/crio-" ID2 ".scope", ID2, "cri-o", UID1,
	  "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID1_
	  ".slice/crio-" ID2 ".scope" },
	{ "/kubepods.slice/kubepods-pod" UID1_ ".slice/docker-" ID1 ".scope", ID1, "docker", UID1,
	  "/kubepods.slice/kubepods-pod" UID1_ ".slice/docker-" ID1 ".scope" },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_
	  ".slice/crio-conmon-" ID1 ".scope", NULL, NULL, NULL, NULL },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID1_ ".slice",
	  NULL, NULL, NULL, NULL },
	/* Kubernetes, cgroupfs driver */
	{ "/kubepods/burstable/pod" UID1 "/" ID1, ID1, "cri", UID1, "/kubepods/burstable/pod" UID1 "/" ID1 },
	{ "/kubepods/pod" UID1 "/" ID2, ID2, "cri", UID1, "/kubepods/pod" UID1 "/" ID2 },
	{ "/kubepods/besteffort/pod" UID1 "/crio-" ID1, ID1, "cri-o", UID1,
	  "/kubepods/besteffort/pod" UID1 "/crio-" ID1 },
	/* the pod's own cgroup, and a bare id not under a pod */
	{ "/kubepods/besteffort/pod" UID1, NULL, NULL, NULL, NULL },
	{ "/besteffort/pod" UID1 "/" ID1, NULL, NULL, NULL, NULL },
	/* nerdctl */
	{ "/system.slice/nerdctl-" ID2 ".scope", ID2, "containerd", "", "/system.slice/nerdctl-" ID2 ".scope" },
	/* systemd-nspawn: machine names are unit-escaped */
	{ "/machine.slice/machine-web.scope", "web", "systemd-nspawn", "", "/machine.slice/machine-web.scope" },
	{ "/machine.slice/machine-web\\x2d1.scope/payload/system.slice", "web-1", "systemd-nspawn",
	  "", "/machine.slice/machine-web\\x2d1.scope" },
	{ "/machine.slice/machine-.scope", NULL, NULL, NULL, NULL },
	{ "/machine.slice/machine-bad\\x2.scope", NULL, NULL, NULL, NULL },
	{ "/machine.slice/machine-bad\\x0a.scope", NULL, NULL, NULL, NULL },
	{ "/machine.slice", NULL, NULL, NULL, NULL },
	/* LXC 4+ / LXD, and LXC before 4; the monitor is not the container */
	{ "/lxc.payload.web", "web", "lxc", "", "/lxc.payload.web" },
	{ "/lxc.payload.web/system.slice/cron.service", "web", "lxc", "", "/lxc.payload.web" },
	{ "/lxc/web", "web", "lxc", "", "/lxc/web" },
	{ "/lxc.monitor.web", NULL, NULL, NULL, NULL },
	/* a container in a container: the inner one */
	{ "/machine.slice/machine-outer.scope/payload/system.slice/docker-" ID2 ".scope", ID2,
	  "docker", "", "/machine.slice/machine-outer.scope/payload/system.slice/docker-" ID2 ".scope" },
	/* host paths and malformed ids */
	{ "/", NULL, NULL, NULL, NULL },
	{ "", NULL, NULL, NULL, NULL },
	{ "/system.slice/ssh.service", NULL, NULL, NULL, NULL },
	{ "/user.slice/user-1000.slice/session-3.scope", NULL, NULL, NULL, NULL },
	{ "/system.slice/docker.service", NULL, NULL, NULL, NULL },
	{ "/system.slice/docker-" ID1 ".service", NULL, NULL, NULL, NULL },
	{ "/system.slice/docker-" ID1 "0.scope", NULL, NULL, NULL, NULL },
	{ "/system.slice/docker-3F1C2A9B8E7D6C5B4A39281706F5E4D3C2B1A09F8E7D6C5B4A3928170615E4D3.scope",
	  NULL, NULL, NULL, NULL },
	{ "/system.slice/docker-zz1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615e4d3.scope",
	  NULL, NULL, NULL, NULL },
	{ "/docker", NULL, NULL, NULL, NULL },
	{ "/docker/abc", NULL, NULL, NULL, NULL },
	{ "/kubepods/burstable/podnot-a-uid/" ID1, NULL, NULL, NULL, NULL },
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6e7e2f4c_91a4.slice/cri-containerd-" ID1 ".scope",
	  ID1, "containerd", "", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6e7e2f4c_91a4.slice/cri-containerd-" ID1 ".scope" },
	{ "//system.slice//docker-" ID1 ".scope/", ID1, "docker", "", "//system.slice//docker-" ID1 ".scope" },
};

static void test_parse_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct container_ref ref;
		bool got = container__parse_path(cases[i].path, &ref);

		if (got != (cases[i].id != NULL)) {
			TEST_FAIL_AT("case %zu '%s': parsed %d", i, cases[i].path, got);
			continue;
		}
		if (!got)
			continue;
		CHECK_STR(ref.id, cases[i].id);
		CHECK_STR(ref.runtime, cases[i].runtime);
		CHECK_STR(ref.pod_uid, cases[i].pod_uid);
		if (ref.end != strlen(cases[i].dir) || strncmp(cases[i].path, cases[i].dir, ref.end))
			TEST_FAIL_AT("case %zu '%s': dir ends at %zu, want '%s'", i, cases[i].path,
				     ref.end, cases[i].dir);
	}
	CHECK(!container__parse_path(NULL, &(struct container_ref){ 0 }));
}

/* A long path of nothing but separators and junk stays in bounds. */
static void test_parse_long(void)
{
	static char path[70000];
	struct container_ref ref;
	size_t i;

	for (i = 0; i + 1 < sizeof(path); i++)
		path[i] = i % 3 ? 'x' : '/';
	path[sizeof(path) - 1] = '\0';
	CHECK(!container__parse_path(path, &ref));
	memset(path, '\\', sizeof(path) - 1);
	memcpy(path, "/machine-", 9);
	memcpy(path + sizeof(path) - 7, ".scope", 7);
	CHECK(!container__parse_path(path, &ref));
}

static char tree[] = "/tmp/test_container.XXXXXX";

static void mkdirs(const char *rel)
{
	char p[PATH_MAX];
	char *s;

	snprintf(p, sizeof(p), "%s%s", tree, rel);
	for (s = p + strlen(tree) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

static char *write_mountinfo(void)
{
	static char mi[PATH_MAX];
	FILE *f;

	snprintf(mi, sizeof(mi), "%s.mountinfo", tree);
	f = fopen(mi, "w");
	if (!f)
		return NULL;
	fprintf(f, "24 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
		   "30 24 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
		   "35 24 0:27 / %s rw,relatime - cgroup2 cgroup2 rw\n", tree);
	fclose(f);
	return mi;
}

static void test_resolver_tree(void)
{
	struct container_resolver *r;
	const struct container_info *ci;
	struct container_ref found, other;
	char dir[PATH_MAX], full[PATH_MAX];
	uint64_t id_ctr, id_sub, id_host;
	uint32_t mntns;
	char *mi;

	if (!mkdtemp(tree)) {
		TEST_FAIL_AT("mkdtemp: %s", strerror(errno));
		return;
	}
	mkdirs("/system.slice/docker-" ID1 ".scope/sub");
	mkdirs("/system.slice/ssh.service");
	mkdirs("/machine.slice/machine-web\\x2d1.scope");
	mkdirs("/machine.slice/machine-web\\x2d2.scope");
	mi = write_mountinfo();
	r = container_resolver__new(mi);
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_STR(container_resolver__root(r), tree);

	snprintf(full, sizeof(full), "%s/system.slice/docker-" ID1 ".scope", tree);
	CHECK_INT(container__cgroup_id(full, &id_ctr), 0);
	snprintf(full, sizeof(full), "%s/system.slice/docker-" ID1 ".scope/sub", tree);
	CHECK_INT(container__cgroup_id(full, &id_sub), 0);
	snprintf(full, sizeof(full), "%s/system.slice/ssh.service", tree);
	CHECK_INT(container__cgroup_id(full, &id_host), 0);

	ci = container_resolver__get(r, id_sub, 0, 0);
	CHECK_INT(ci->source, CONTAINER_SRC_CGROUP2);
	CHECK_STR(ci->cgroup, "/system.slice/docker-" ID1 ".scope/sub");
	CHECK_STR(ci->ref.id, ID1);
	CHECK_STR(ci->ref.runtime, "docker");
	/* cached: the same answer object */
	CHECK(container_resolver__get(r, id_sub, 0, 0) == ci);
	ci = container_resolver__get(r, id_host, 0, 0);
	CHECK_INT(ci->source, CONTAINER_SRC_NONE);
	CHECK_STR(ci->cgroup, "/system.slice/ssh.service");
	ci = container_resolver__get(r, 0xdeadbeefcafeULL, 0, 0);
	CHECK_INT(ci->source, CONTAINER_SRC_NONE);
	CHECK(ci->cgroup == NULL);

	/* --container: a unique prefix gives the container's directory, not a subcgroup */
	CHECK_INT(container_resolver__find(r, "3f1c", dir, sizeof(dir), &mntns, &found, &other), 0);
	snprintf(full, sizeof(full), "%s/system.slice/docker-" ID1 ".scope", tree);
	CHECK_STR(dir, full);
	CHECK_INT(mntns, 0);
	CHECK_STR(found.id, ID1);
	CHECK_INT(container_resolver__find(r, "web-1", dir, sizeof(dir), &mntns, &found, &other), 0);
	CHECK_STR(found.runtime, "systemd-nspawn");
	CHECK_INT(container_resolver__find(r, "web", dir, sizeof(dir), &mntns, &found, &other),
		  -EEXIST);
	CHECK(strncmp(found.id, "web-", 4) == 0 && strncmp(other.id, "web-", 4) == 0 &&
	      strcmp(found.id, other.id) != 0);
	CHECK_INT(container_resolver__find(r, "ffff0000", dir, sizeof(dir), &mntns, &found, &other),
		  -ENOENT);
	CHECK_INT(container_resolver__find(r, "", dir, sizeof(dir), &mntns, &found, &other),
		  -EINVAL);
	container_resolver__free(r);

	/* No cgroup v2 mount (a v1-only host): nothing resolves, nothing breaks. */
	r = container_resolver__new("/dev/null");
	CHECK(r != NULL && container_resolver__root(r) == NULL);
	if (r) {
		ci = container_resolver__get(r, id_sub, 0, 0);
		CHECK(ci->cgroup == NULL && ci->source == CONTAINER_SRC_NONE);
		container_resolver__free(r);
	}
	{
		char cmd[2 * PATH_MAX + 32];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", tree, mi);
		if (system(cmd) != 0)
			TEST_FAIL_AT("cleanup failed");
	}
}

int main(void)
{
	TEST_RUN(test_parse_table);
	TEST_RUN(test_parse_long);
	TEST_RUN(test_resolver_tree);
	return TEST_REPORT();
}
