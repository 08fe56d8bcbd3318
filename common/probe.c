#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/capability.h>

#include "log.h"

/* Questions for the BTF child (see oracle_start). */
enum oracle_op { OP_BTF_TYPE, OP_TP_BTF, OP_FENTRY, OP_SYSCALL_FUNC, OP_TP_ARG_INDEX,
		 OP_MEM_ALLOC, OP_SK_STORAGE };
static int ask(int op, const char *a, const char *b);

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

static bool is_tracefs_at(const char *dir)
{
	char events[PATH_MAX];
	struct statfs sfs;

	if (statfs(dir, &sfs) != 0 || sfs.f_type != TRACEFS_MAGIC)
		return false;
	snprintf(events, sizeof(events), "%s/events", dir);
	return access(events, R_OK) == 0;
}

static const char *do_tracefs(void)
{
	static const char *found;
	static bool tried;

	if (tried)
		return found;
	tried = true;
	if (is_tracefs_at("/sys/kernel/tracing"))
		return found = "/sys/kernel/tracing";
	if (is_tracefs_at("/sys/kernel/debug/tracing"))
		return found = "/sys/kernel/debug/tracing";
	/* A fresh boot (or a new mount namespace) may have no tracefs mounted at all; mounting
	 * it is harmless and is what an administrator would do by hand. */
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0) {
		p_info("mounted tracefs at /sys/kernel/tracing");
		if (is_tracefs_at("/sys/kernel/tracing"))
			return found = "/sys/kernel/tracing";
	} else {
		p_info("tracefs is not mounted and mounting it failed: %s", strerror(errno));
	}
	return NULL;
}

static bool do_tracepoint(const char *category, const char *name)
{
	const char *tracefs = do_tracefs();
	char path[PATH_MAX];

	if (!tracefs)
		return false;
	snprintf(path, sizeof(path), "%s/events/%s/%s/id", tracefs, category, name);
	return access(path, R_OK) == 0;
}

static const char *btf_path_override;

void probe__set_btf_path(const char *path)
{
	btf_path_override = path;
}

const char *probe__btf_path(void)
{
	return btf_path_override ? btf_path_override : "/sys/kernel/btf/vmlinux";
}

static bool do_kernel_btf(void)
{
	return access(probe__btf_path(), R_OK) == 0;
}

/* Parsed BTF is ~15 MiB of heap for a 5 MiB vmlinux: kept only until probe__release(). */
static struct btf *cached_kernel_btf, *cached_running_btf;
static bool tried_kernel_btf, tried_running_btf;

/* The running kernel's BTF string section (2-3 MiB), kept until probe__release(). */
static char *btf_strings;
static size_t btf_strings_len;
static bool tried_btf_strings;

static struct btf *running_btf(void)
{
	if (!tried_running_btf) {
		tried_running_btf = true;
		/* Without --btf both are the same file: parse it once. */
		if (!btf_path_override && cached_kernel_btf)
			return cached_running_btf = cached_kernel_btf;
		cached_running_btf = btf__load_vmlinux_btf();
		if (libbpf_get_error(cached_running_btf))
			cached_running_btf = NULL;
	}
	return cached_running_btf;
}

static struct btf *kernel_btf(void)
{
	if (!tried_kernel_btf) {
		tried_kernel_btf = true;
		if (!btf_path_override && cached_running_btf) {
			cached_kernel_btf = cached_running_btf;
		} else {
			cached_kernel_btf = btf__parse(probe__btf_path(), NULL);
			if (libbpf_get_error(cached_kernel_btf))
				cached_kernel_btf = NULL;
		}
	}
	return cached_kernel_btf;
}

static void oracle_stop(void);

void probe__release(void)
{
	oracle_stop();
	free(btf_strings);
	btf_strings = NULL;
	btf_strings_len = 0;
	tried_btf_strings = false;
	if (cached_running_btf != cached_kernel_btf)
		btf__free(cached_running_btf);
	btf__free(cached_kernel_btf);
	cached_kernel_btf = cached_running_btf = NULL;
	tried_kernel_btf = tried_running_btf = false;
}

static bool do_btf_type(const char *name)
{
	struct btf *btf = kernel_btf();

	return btf && btf__find_by_name(btf, name) > 0;
}

/* The types of the running kernel: program attach needs the kernel's own BTF ids even when
 * --btf names another file for CO-RE. */
static int running_kernel_btf_id(const char *name, __u32 kind)
{
	struct btf *vmlinux = running_btf();

	if (!vmlinux)
		return -ENOENT;
	return btf__find_by_name_kind(vmlinux, name, kind);
}

/* Loads a two-instruction tracing program for the BTF type `name` of `kind`: the kernel
 * checks at load whether the type is a valid target (a function for fentry) and refuses
 * fentry at load where it is not allowed. Returns the program's fd or a negative errno. */
static int tracing_prog_load(const char *name, __u32 kind, enum bpf_attach_type type)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int id = running_kernel_btf_id(name, kind), fd;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = type);

	if (id <= 0)
		return -ENOENT;
	opts.attach_btf_id = id;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", insns, 2, &opts);
	return fd < 0 ? -errno : fd;
}
/* sysfs hands out a binary attribute one page per read. */
static bool pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + done);

		if (n <= 0)
			return false;
		done += n;
	}
	return true;
}

static const char *running_btf_strings(size_t *len)
{
	struct btf_header hdr;
	int fd;

	if (!tried_btf_strings) {
		tried_btf_strings = true;
		fd = open("/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return NULL;
		if (pread_full(fd, &hdr, sizeof(hdr), 0) && hdr.magic == BTF_MAGIC &&
		    hdr.str_len > 0) {
			btf_strings = malloc(hdr.str_len);
			if (btf_strings && pread_full(fd, btf_strings, hdr.str_len,
						      hdr.hdr_len + hdr.str_off)) {
				btf_strings_len = hdr.str_len;
			} else {
				free(btf_strings);
				btf_strings = NULL;
			}
		}
		close(fd);
	}
	*len = btf_strings_len;
	return btf_strings;
}

static bool do_tp_btf(const char *tp_name)
{
	char needle[160];
	const char *strs;
	size_t len;
	int n;

	/* A typed tracepoint exists exactly when the kernel's BTF names its btf_trace_<tp>
	 * typedef. Looking for the name in the string section costs a read of 2-3 MiB instead of
	 * parsing all of the BTF (~12 MiB of heap, ~7 ms) right before libbpf parses it again.
	 * Where tp_btf programs load at all (kernel BTF present) they attach to such a typedef. */
	n = snprintf(needle, sizeof(needle), "%cbtf_trace_%s%c", '\0', tp_name, '\0');
	strs = running_btf_strings(&len);
	if (!strs || n <= 0 || (size_t)n >= sizeof(needle))
		return false;
	return memmem(strs, len, needle, n) != NULL;
}

static bool do_bpf_mem_alloc(void)
{
	static const char needle[] = "\0bpf_mem_alloc";
	const char *strs;
	size_t len;

	/* The allocator's type, and its name in the strings, arrived with it (6.1). */
	strs = running_btf_strings(&len);
	return strs && memmem(strs, len, needle, sizeof(needle)) != NULL;
}

/* An SK_STORAGE map as a tool declares one (BPF_F_CLONE: children of a listener get a copy),
 * with the BTF such maps need (an int key, an 8-byte value). Returns its fd or -errno. */
static int sk_storage_map(void)
{
	struct btf *btf = btf__new_empty();
	int key, val, fd = -ENOMEM;

	if (!btf)
		return -ENOMEM;
	key = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	val = btf__add_int(btf, "long long", 8, BTF_INT_SIGNED);
	if (key > 0 && val > 0 && btf__load_into_kernel(btf) == 0) {
		LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_NO_PREALLOC | BPF_F_CLONE,
			    .btf_fd = btf__fd(btf), .btf_key_type_id = key,
			    .btf_value_type_id = val);

		fd = bpf_map_create(BPF_MAP_TYPE_SK_STORAGE, NULL, 4, 8, 0, &mo);
		fd = fd < 0 ? -errno : fd;
	}
	btf__free(btf); /* the map holds its own reference to the kernel's copy */
	return fd;
}

/* bpf_sk_storage_get() on the struct sock * first argument of tp_name, in a tp_btf program:
 * what the tools' programs do where the kernel allows it (tracing programs, Linux 5.11). */
static bool do_sk_storage_tracing(const char *tp_name)
{
	char type[160];
	int map, id, fd;

	snprintf(type, sizeof(type), "btf_trace_%s", tp_name);
	id = running_kernel_btf_id(type, BTF_KIND_TYPEDEF);
	if (id <= 0)
		return false;
	map = sk_storage_map();
	if (map < 0)
		return false;
	{
		const struct bpf_insn insns[] = {
			/* r6 = sk (the first argument); if (!sk) goto out */
			{ .code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_6,
			  .src_reg = BPF_REG_1 },
			{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = BPF_REG_6, .off = 6 },
			/* bpf_sk_storage_get(map, sk, NULL, 0) */
			{ .code = BPF_LD | BPF_IMM | BPF_DW, .dst_reg = BPF_REG_1,
			  .src_reg = BPF_PSEUDO_MAP_FD, .imm = map },
			{ 0 },
			{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2,
			  .src_reg = BPF_REG_6 },
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3 },
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_4 },
			{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_sk_storage_get },
			/* out: return 0 */
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
			{ .code = BPF_JMP | BPF_EXIT },
		};
		LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP,
			    .attach_btf_id = id);

		fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", insns,
				   sizeof(insns) / sizeof(insns[0]), &opts);
	}
	close(map);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Whether this kernel attaches fentry programs at all: 1 until the first program that loads
 * is attached, then 0 or the negative errno of that attach. */
static int fentry_attach_err = 1;

static int do_fentry(const char *func)
{
	int fd = tracing_prog_load(func, BTF_KIND_FUNC, BPF_TRACE_FENTRY), link;

	if (fd < 0)
		return fd;
	/* Some kernels load fentry programs they cannot attach (no BPF trampoline for the
	 * architecture: arm64 6.1 answers 524, ENOTSUPP), so one is attached, once: detaching
	 * costs an RCU grace period, tens of milliseconds of start-up, and the answer is the
	 * kernel's, the same for every function that loads. */
	if (fentry_attach_err == 1) {
		link = bpf_raw_tracepoint_open(NULL, fd);
		fentry_attach_err = link < 0 ? -errno : 0;
		if (link >= 0)
			close(link);
	}
	close(fd);
	return fentry_attach_err;
}

static bool do_kprobes(void)
{
	return access("/sys/bus/event_source/devices/kprobe/type", R_OK) == 0;
}

bool probe__capable(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (cap < 0 || cap >= 64 || syscall(SYS_capget, &hdr, data) != 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

static bool do_ringbuf(void)
{
	return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
}

static bool do_bpf_loop(void)
{
	/* bpf_loop is a base helper: any program type that loads without kprobes will tell. */
	return libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop, NULL) == 1;
}

static bool do_syscall(const char *name)
{
	char tp[64], fn[64];

	snprintf(tp, sizeof(tp), "sys_enter_%s", name);
	if (do_tracefs())
		return do_tracepoint("syscalls", tp);
	/* Syscall wrappers are named per architecture; a match on any of them will do. */
	snprintf(fn, sizeof(fn), "__x64_sys_%s", name);
	if (ask(OP_SYSCALL_FUNC, fn, NULL) > 0)
		return true;
	snprintf(fn, sizeof(fn), "__arm64_sys_%s", name);
	return ask(OP_SYSCALL_FUNC, fn, NULL) > 0;
}

static bool do_raw_tp(const char *tp_name)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd, link;

	/* A tracepoint the kernel's BTF names (btf_trace_<name>) takes raw programs: asked
	 * that way nothing is attached and detached (each flips the tracepoint's static key,
	 * milliseconds on a busy VM). */
	if (ask(OP_TP_BTF, tp_name, NULL) > 0)
		return true;
	fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL, "GPL", insns, 2, NULL);
	if (fd < 0)
		return false;
	link = bpf_raw_tracepoint_open(tp_name, fd);
	if (link >= 0)
		close(link);
	close(fd);
	return link >= 0;
}

static bool do_raw_sys_exit(void)
{
	const char *force = getenv("CORESCOPE_SYSCALL_TRACEPOINTS");

#if defined(__x86_64__) || defined(__aarch64__)
	/* Not attached to find out: the raw tracepoint exists wherever raw tracepoints do
	 * (4.17+, these architectures always have syscall tracepoints), and attaching it flips
	 * the syscall tracing static keys on and off again, 50-120 ms on a loaded machine. */
	return !(force && strcmp(force, "classic") == 0);
#else
	return false;
#endif
}

static int do_tp_arg_index(const char *tp_name, const char *struct_name)
{
	struct btf *btf = kernel_btf();
	const struct btf_param *params;
	const struct btf_type *t;
	char type_name[160];
	int i, n, tid;

	if (!btf)
		return -ENOENT;
	snprintf(type_name, sizeof(type_name), "btf_trace_%s", tp_name);
	tid = btf__find_by_name_kind(btf, type_name, BTF_KIND_TYPEDEF);
	if (tid <= 0)
		return -ENOENT;
	/* typedef void (*btf_trace_NAME)(void *, ARGS...) */
	t = btf__type_by_id(btf, tid);
	t = t ? btf__type_by_id(btf, t->type) : NULL;
	if (!t || !btf_is_ptr(t))
		return -ENOENT;
	t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_func_proto(t))
		return -ENOENT;
	params = btf_params(t);
	n = btf_vlen(t);
	for (i = 1; i < n; i++) {
		t = btf__type_by_id(btf, params[i].type);
		while (t && (btf_is_mod(t) || btf_is_typedef(t)))
			t = btf__type_by_id(btf, t->type);
		if (!t || !btf_is_ptr(t))
			continue;
		t = btf__type_by_id(btf, t->type);
		while (t && (btf_is_mod(t) || btf_is_typedef(t)))
			t = btf__type_by_id(btf, t->type);
		if (t && btf_is_struct(t) &&
		    !strcmp(btf__name_by_offset(btf, t->name_off), struct_name))
			return i - 1;
	}
	return -ENOENT;
}

/* The probes that need the kernel's parsed BTF (~12 MiB of heap for a 5.5 MB vmlinux, the
 * largest part of a tool's peak memory) ask a child process instead: it parses the BTF once,
 * answers over a socket, and exits at probe__release(). The tool's own heap never holds the
 * BTF. Where no child can be made, the answer is computed here as before. */
struct oracle_req {
	int op;
	char a[128];
	char b[128];
};

static int oracle_fd = -1;
static pid_t oracle_pid;

static int oracle_answer(const struct oracle_req *q)
{
	switch (q->op) {
	case OP_BTF_TYPE:
		return do_btf_type(q->a);
	case OP_TP_BTF:
		return do_tp_btf(q->a);
	case OP_FENTRY:
		return do_fentry(q->a);
	case OP_SYSCALL_FUNC:
		return running_kernel_btf_id(q->a, BTF_KIND_FUNC) > 0;
	case OP_TP_ARG_INDEX:
		return do_tp_arg_index(q->a, q->b);
	case OP_MEM_ALLOC:
		return do_bpf_mem_alloc();
	case OP_SK_STORAGE:
		return do_sk_storage_tracing(q->a);
	default:
		return -EINVAL;
	}
}

static bool oracle_start(void)
{
	int sv[2];
	pid_t pid;

	if (oracle_fd >= 0)
		return true;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return false;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	if (pid == 0) {
		struct oracle_req q;
		int r;

		close(sv[0]);
		while (recv(sv[1], &q, sizeof(q), 0) == (ssize_t)sizeof(q)) {
			q.a[sizeof(q.a) - 1] = q.b[sizeof(q.b) - 1] = '\0';
			r = oracle_answer(&q);
			if (send(sv[1], &r, sizeof(r), 0) != (ssize_t)sizeof(r))
				break;
		}
		_exit(0);
	}
	close(sv[1]);
	oracle_fd = sv[0];
	oracle_pid = pid;
	return true;
}

static void oracle_stop(void)
{
	if (oracle_fd < 0)
		return;
	close(oracle_fd);
	oracle_fd = -1;
	while (waitpid(oracle_pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int ask(int op, const char *a, const char *b)
{
	struct oracle_req q = { .op = op };
	int r;

	snprintf(q.a, sizeof(q.a), "%s", a ? a : "");
	snprintf(q.b, sizeof(q.b), "%s", b ? b : "");
	if (oracle_start() && send(oracle_fd, &q, sizeof(q), 0) == (ssize_t)sizeof(q) &&
	    recv(oracle_fd, &r, sizeof(r), 0) == (ssize_t)sizeof(r))
		return r;
	oracle_stop();
	return oracle_answer(&q);
}

/* Time spent answering probes, for the start-up timer: nested probes count once. */
static uint64_t probe_ns;
static unsigned probe_count;
static int probe_depth;

static uint64_t timer_start(void)
{
	struct timespec ts;

	if (probe_depth++)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void timer_stop(uint64_t start)
{
	struct timespec ts;

	if (--probe_depth)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	probe_ns += (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec - start;
	probe_count++;
}

uint64_t probe__elapsed_ns(unsigned *count)
{
	if (count)
		*count = probe_count;
	return probe_ns;
}

const char *probe__tracefs(void)
{
	uint64_t t = timer_start();
	const char *r = do_tracefs();

	timer_stop(t);
	return r;
}

bool probe__tracepoint(const char *category, const char *name)
{
	uint64_t t = timer_start();
	bool r = do_tracepoint(category, name);

	timer_stop(t);
	return r;
}

bool probe__kernel_btf(void)
{
	uint64_t t = timer_start();
	bool r = do_kernel_btf();

	timer_stop(t);
	return r;
}

bool probe__btf_type(const char *name)
{
	uint64_t t = timer_start();
	bool r = ask(OP_BTF_TYPE, name, NULL) > 0;

	timer_stop(t);
	return r;
}

bool probe__tp_btf(const char *tp_name)
{
	uint64_t t = timer_start();
	bool r = ask(OP_TP_BTF, tp_name, NULL) > 0;

	timer_stop(t);
	return r;
}

bool probe__bpf_mem_alloc(void)
{
	uint64_t t = timer_start();
	bool r = ask(OP_MEM_ALLOC, NULL, NULL) > 0;

	timer_stop(t);
	return r;
}

bool probe__sk_storage_tracing(const char *tp_name)
{
	uint64_t t = timer_start();
	bool r = ask(OP_SK_STORAGE, tp_name, NULL) > 0;

	timer_stop(t);
	return r;
}

int probe__fentry_error(const char *func)
{
	uint64_t t = timer_start();
	int r = ask(OP_FENTRY, func, NULL);

	timer_stop(t);
	return r;
}

bool probe__fentry(const char *func)
{
	return probe__fentry_error(func) == 0;
}

bool probe__kprobes(void)
{
	uint64_t t = timer_start();
	bool r = do_kprobes();

	timer_stop(t);
	return r;
}

bool probe__ringbuf(void)
{
	uint64_t t = timer_start();
	bool r = do_ringbuf();

	timer_stop(t);
	return r;
}

bool probe__bpf_loop(void)
{
	uint64_t t = timer_start();
	bool r = do_bpf_loop();

	timer_stop(t);
	return r;
}

bool probe__syscall(const char *name)
{
	uint64_t t = timer_start();
	bool r = do_syscall(name);

	timer_stop(t);
	return r;
}

bool probe__raw_tp(const char *tp_name)
{
	uint64_t t = timer_start();
	bool r = do_raw_tp(tp_name);

	timer_stop(t);
	return r;
}

bool probe__raw_sys_exit(void)
{
	uint64_t t = timer_start();
	bool r = do_raw_sys_exit();

	timer_stop(t);
	return r;
}

int probe__tp_arg_index(const char *tp_name, const char *struct_name)
{
	uint64_t t = timer_start();
	int r = ask(OP_TP_ARG_INDEX, tp_name, struct_name);

	timer_stop(t);
	return r;
}
