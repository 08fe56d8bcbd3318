#include "bpfobj.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "container.h"
#include "escape.h"
#include "log.h"
#include "probe.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

int bpfobj__prealloc_where_needed(struct bpf_object *obj)
{
	struct bpf_map *map;
	int changed = 0, err;
	__u32 flags;

	if (probe__bpf_mem_alloc())
		return 0;
	bpf_object__for_each_map(map, obj) {
		enum bpf_map_type type = bpf_map__type(map);

		flags = bpf_map__map_flags(map);
		if ((type != BPF_MAP_TYPE_HASH && type != BPF_MAP_TYPE_PERCPU_HASH) ||
		    !(flags & BPF_F_NO_PREALLOC))
			continue;
		err = bpf_map__set_map_flags(map, flags & ~BPF_F_NO_PREALLOC);
		if (err)
			return err;
		p_info("map %s preallocated: no BPF memory allocator in this kernel (before 6.1)",
			   bpf_map__name(map));
		changed++;
	}
	return changed;
}

int bpfobj__set_rodata(struct bpf_object *obj, const char *var, const void *val, size_t size)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".rodata");
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	size_t data_size;
	char *data;
	int id, i;

	if (!map || !btf)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, id);
	/* libbpf 1.1 returns const, but before load this is the writable mmap the skeleton
	 * itself writes rodata through. */
	data = (char *)bpf_map__initial_value(map, &data_size);
	if (!data)
		return -ENOENT;
	vs = btf_var_secinfos(sec);
	for (i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *t = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, t->name_off), var) != 0)
			continue;
		if (vs->size != size || vs->offset + size > data_size)
			return -EINVAL;
		memcpy(data + vs->offset, val, size);
		return 0;
	}
	return -ENOENT;
}

int bpfobj__apply_filters(struct bpf_object *obj, const struct cli_common *c)
{
	uint32_t pid = c->pid, uid = c->uid_set ? c->uid : (uint32_t)-1;
	uint32_t self = (uint32_t)getpid();
	uint8_t cg = c->cgroup != NULL;
	int err;

	/* Tools without the shared filters have no filter_self either: that is fine. */
	err = bpfobj__set_rodata(obj, "filter_self", &self, sizeof(self));
	if (err == -ENOENT)
		err = 0;
	if (!err && pid)
		err = bpfobj__set_rodata(obj, "filter_pid", &pid, sizeof(pid));
	if (!err && c->uid_set)
		err = bpfobj__set_rodata(obj, "filter_uid", &uid, sizeof(uid));
	if (!err && cg)
		err = bpfobj__set_rodata(obj, "filter_cgroup", &cg, sizeof(cg));
	if (!err && c->mntns)
		err = bpfobj__set_rodata(obj, "filter_mntns", &c->mntns, sizeof(c->mntns));
	if (!err && cg) {
		uint64_t id = 0;
		uint32_t level = 0;

		/* Not a cgroup v2 directory: bpfobj__apply_cgroup says so after load. */
		if (container__cgroup_id(c->cgroup, &id) == 0 &&
		    container__cgroup_level(c->cgroup, &level) == 0) {
			err = bpfobj__set_rodata(obj, "filter_cgroup_id", &id, sizeof(id));
			if (!err)
				err = bpfobj__set_rodata(obj, "filter_cgroup_level", &level,
							 sizeof(level));
		}
	}
	return err;
}

int bpfobj__apply_cgroup(struct bpf_object *obj, const struct cli_common *c)
{
	struct bpf_map *map;
	struct statfs sfs;
	char shown[256];
	__u32 zero = 0;
	int fd, err;

	if (!c->cgroup)
		return 0;
	escape_text(shown, sizeof(shown), c->cgroup, strlen(c->cgroup), 0);
	fd = open(c->cgroup, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		err = -errno;
		p_err("cgroup '%s': %s", shown, strerror(-err));
		return err;
	}
	if (fstatfs(fd, &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		p_err("cgroup '%s': not a cgroup v2 directory (e.g. /sys/fs/cgroup/system.slice)",
		      shown);
		close(fd);
		return -EINVAL;
	}
	map = bpf_object__find_map_by_name(obj, "filter_cgroup_map");
	err = map ? bpf_map_update_elem(bpf_map__fd(map), &zero, &fd, BPF_ANY) : -ENOENT;
	if (err)
		err = -errno;
	close(fd);
	if (err)
		p_err("cgroup '%s': cannot set the filter: %s", shown, strerror(-err));
	return err;
}

int bpfobj__autoload(struct bpf_object *obj, const char *prog, int cond)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, prog);

	if (!p)
		return -ENOENT;
	return bpf_program__set_autoload(p, cond != 0);
}

int bpfobj__check_env(const char *btf_path)
{
	/* CAP_BPF (39) and CAP_PERFMON (38), or CAP_SYS_ADMIN (21) on kernels before 5.8. */
	if (!(probe__capable(21) || (probe__capable(39) && probe__capable(38)))) {
		p_err("needs root, or the CAP_BPF and CAP_PERFMON capabilities");
		return -EPERM;
	}
	probe__set_btf_path(btf_path);
	if (!probe__kernel_btf()) {
		if (btf_path)
			p_err("cannot read BTF file '%s'", btf_path);
		else
			p_err("kernel BTF not found at /sys/kernel/btf/vmlinux (needs "
			      "CONFIG_DEBUG_INFO_BTF=y); pass --btf FILE with this kernel's BTF");
		return -ENOENT;
	}
	return 0;
}

uint64_t bpfobj__prog_missed_runs(const struct bpf_program *prog)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	int fd = bpf_program__fd(prog);

	memset(&info, 0, sizeof(info));
	/* A kernel older than the field fills less of info: the rest stays 0. */
	if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		return info.recursion_misses;
	return 0;
}

uint64_t bpfobj__missed_runs(const struct bpf_object *obj)
{
	struct bpf_program *prog;
	uint64_t missed = 0;

	bpf_object__for_each_program(prog, obj)
		missed += bpfobj__prog_missed_runs(prog);
	return missed;
}
