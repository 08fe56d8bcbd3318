/* What this kernel offers: a tool chooses its attach points from these answers at run time
 * (bpf_program__set_autoload) instead of failing on the first program that cannot load. */
#ifndef COMMON_PROBE_H
#define COMMON_PROBE_H

#include <stdbool.h>
#include <stdint.h>

/* Returns the tracefs mount point ("/sys/kernel/tracing" or the debugfs one), mounting
 * tracefs at /sys/kernel/tracing when it is not mounted and we may; NULL if there is none
 * (errno set). The answer is cached. */
const char *probe__tracefs(void);

/* Does the classic tracepoint CATEGORY:NAME exist (needs tracefs)? */
bool probe__tracepoint(const char *category, const char *name);

/* Kernel BTF: the --btf file if one was given (probe__set_btf_path), else
 * /sys/kernel/btf/vmlinux. Returns true if it is readable. */
void probe__set_btf_path(const char *path);
const char *probe__btf_path(void);
bool probe__kernel_btf(void);

/* Does the kernel's BTF have this type (STRUCT, TYPEDEF, FUNC, ... by name)? */
bool probe__btf_type(const char *name);

/* Would a BPF_PROG_TYPE_TRACING program attached to this BTF-typed raw tracepoint
 * ("sched_process_exec") load? Loads a two-instruction program. */
bool probe__tp_btf(const char *tp_name);

/* Would an fentry (or fexit) program on this kernel function load and attach? Loads a
 * two-instruction program; the first one that loads is attached too, since some kernels load
 * fentry programs they cannot attach (error 524 on arm64 6.1). Some kernels refuse the load
 * (EPERM). probe__fentry_error returns 0 or that negative errno. */
bool probe__fentry(const char *func);
int probe__fentry_error(const char *func);

/* Can a tp_btf program on tp_name keep data on the socket of its struct sock * first argument
 * in a BPF_MAP_TYPE_SK_STORAGE map with BPF_F_CLONE (bpf_sk_storage_get in tracing programs:
 * Linux 5.11)? Loads such a program. */
bool probe__sk_storage_tracing(const char *tp_name);

/* Can kprobes be created on this kernel at all (CONFIG_KPROBES and a kprobe PMU)? */
bool probe__kprobes(void);

/* The BPF memory allocator (Linux 6.1+). Before it, a hash map that is not preallocated
 * (BPF_F_NO_PREALLOC) in a tracing program makes the verifier warn "trace type BPF program
 * uses run-time allocation" and taint the kernel. */
bool probe__bpf_mem_alloc(void);

/* Does this process have the capability (its number in linux/capability.h) in its effective
 * set? Without libcap. */
bool probe__capable(int cap);

/* BPF ring buffer maps (Linux 5.8+). */
bool probe__ringbuf(void);

/* The bpf_loop() helper (Linux 5.17+). */
bool probe__bpf_loop(void);

/* Does this architecture have the syscall (e.g. "open" is absent on arm64)? Uses the
 * syscall tracepoints when tracefs is there, else the kernel's BTF for __x64_sys_NAME-style
 * symbols. */
bool probe__syscall(const char *name);

/* Would a BPF_PROG_TYPE_RAW_TRACEPOINT program attach to this tracepoint ("block_rq_issue")?
 * Raw tracepoints (Linux 4.17+) need neither tracefs nor BTF. Loads a two-instruction
 * program. */
bool probe__raw_tp(const char *tp_name);

/* Can a tool trace syscalls through the raw tracepoint sys_exit, filtering them by number
 * (bpf/syscall.bpf.h)? Yes on the architectures that file knows (x86-64, arm64), where it
 * exists on every kernel with raw tracepoints; CORESCOPE_SYSCALL_TRACEPOINTS=classic says no, so tests can take
 * the classic syscall tracepoints here. */
bool probe__raw_sys_exit(void);

/* Position of the first argument of the tracepoint tp_name that is a pointer to
 * `struct struct_name`, counted from 0 without the context pointer every tracepoint
 * prototype starts with, per the kernel's BTF (btf_trace_<tp_name>). Argument lists change
 * between kernels (block_rq_issue lost its request_queue in 5.11): a program reading its
 * arguments as an array picks the index with this. -ENOENT when the BTF lacks the tracepoint
 * (kernels before 5.5) or no argument matches. */
int probe__tp_arg_index(const char *tp_name, const char *struct_name);

/* Time spent in the probes above so far (nested probes once) and how many were asked, for
 * the start-up timer of -v. */
uint64_t probe__elapsed_ns(unsigned *count);

/* Frees the kernel BTF the probes parsed (tens of MiB of heap): call once the programs are
 * loaded. Later probes parse it again. */
void probe__release(void);

#endif
