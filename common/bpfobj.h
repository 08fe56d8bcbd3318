/* Helpers on a libbpf object that every tool needs between open and attach. */
#ifndef COMMON_BPFOBJ_H
#define COMMON_BPFOBJ_H

#include <stddef.h>
#include <stdint.h>

struct bpf_object;
struct bpf_program;
struct cli_common;

/* Sets the `const volatile` global VAR in .rodata before load. Returns 0, -ENOENT when the
 * object has no such variable, or -EINVAL when its size differs. */
int bpfobj__set_rodata(struct bpf_object *obj, const char *var, const void *val, size_t size);

/* Before load: copies the common -p/-u/-c filters into bpf/filter.bpf.h's variables.
 * After load: bpfobj__apply_cgroup() opens the -c directory and arms filter_cgroup_map;
 * it prints its own error (missing or non-cgroup2 directory) and returns negative errno. */
int bpfobj__apply_filters(struct bpf_object *obj, const struct cli_common *c);
int bpfobj__apply_cgroup(struct bpf_object *obj, const struct cli_common *c);

/* Before load, when `cond` is false, keeps the named program from loading (it is a fallback
 * that is not needed, or an attach point this kernel lacks). Returns 0 or -ENOENT. */
int bpfobj__autoload(struct bpf_object *obj, const char *prog, int cond);

/* Before load, on kernels without the BPF memory allocator (before 6.1): clears
 * BPF_F_NO_PREALLOC from the object's hash maps, which would taint those kernels when
 * used from tracing programs. Returns how many maps it changed, or a negative errno. */
int bpfobj__prealloc_where_needed(struct bpf_object *obj);

/* Runs of the object's loaded programs that the kernel skipped because another BPF program
 * was already running on that CPU (a softirq interrupting one, say): events lost before any
 * code of ours ran. The kernel counts them in bpf_prog_info.recursion_misses: for fentry and
 * fexit since 5.12, raw tracepoints since 6.1 or 6.2, classic tracepoints and kprobes since
 * 6.7; where it does not, this is 0. */
uint64_t bpfobj__missed_runs(const struct bpf_object *obj);

/* The same for one program (0 if it is not loaded). */
uint64_t bpfobj__prog_missed_runs(const struct bpf_program *prog);

/* Checks that the process may use BPF at all and that kernel BTF is there; prints a
 * one-line error naming what is missing and returns negative errno. Call before opening. */
int bpfobj__check_env(const char *btf_path);

#endif
