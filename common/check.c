#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <bpf/libbpf.h>

#include "json.h"
#include "log.h"
#include "probe.h"

/* Capability numbers (linux/capability.h): CAP_BPF and CAP_PERFMON exist since 5.8; before,
 * CAP_SYS_ADMIN is what BPF tracing needs. */
#define CAP_SYS_ADMIN_NR 21
#define CAP_PERFMON_NR 38
#define CAP_BPF_NR 39

/* The kernel function the fentry line is about: present and traceable on every kernel. */
#define CHECK_FENTRY_FUNC "vfs_read"

static bool active, json, ready;
/* Whether the process may use BPF for tracing: without, the kernel's features cannot be
 * probed (every probe would be refused) and are reported as not checked. */
static bool privileged;
static const char *tool_name;
static char notes[512];

bool check__active(void)
{
	return active;
}

enum status { NO, YES, UNKNOWN, FACT };

/* One line: "name: yes|no|unknown[: detail][; fix: fix]" ("name: detail" for a fact), or its
 * JSON object ("ok": true, false or null). */
static void emit(const char *name, enum status st, const char *detail, const char *fix)
{
	static const char *const words[] = { [NO] = "no", [YES] = "yes", [UNKNOWN] = "unknown" };

	if (json) {
		struct json_writer w;

		json_writer__init(&w, stdout);
		json_obj_begin(&w);
		json_key(&w, "check");
		json_str(&w, name);
		json_key(&w, "ok");
		if (st == UNKNOWN)
			json_null(&w);
		else
			json_bool(&w, st != NO);
		if (detail) {
			json_key(&w, "detail");
			json_str(&w, detail);
		}
		if (fix) {
			json_key(&w, "fix");
			json_str(&w, fix);
		}
		json_obj_end(&w);
		json_writer__endl(&w);
	} else if (st == FACT) {
		printf("%s: %s\n", name, detail);
	} else {
		printf("%s: %s%s%s%s%s\n", name, words[st], detail ? ": " : "", detail ? detail : "",
		       fix ? "; fix: " : "", fix ? fix : "");
	}
}

static void item(const char *name, bool ok, const char *detail, const char *fix)
{
	emit(name, ok ? YES : NO, detail, fix);
}

static void unknown(const char *name)
{
	emit(name, UNKNOWN, "not checked without the capabilities above", NULL);
}

static void info(const char *name, const char *detail)
{
	emit(name, FACT, detail, NULL);
}

/* The first line of a small file, without its newline; false if unreadable. */
static bool read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static void check_kernel(void)
{
	struct utsname u;
	char detail[sizeof(u.release) + sizeof(u.machine) + 2];

	if (uname(&u) != 0) {
		info("kernel", "unknown");
		return;
	}
	snprintf(detail, sizeof(detail), "%s %s", u.release, u.machine);
	info("kernel", detail);
}

static void check_btf(void)
{
	char detail[4200];

	snprintf(detail, sizeof(detail), "%s", probe__btf_path());
	if (probe__kernel_btf())
		item("btf", true, detail, NULL);
	else
		item("btf", false, detail,
		     "a kernel built with CONFIG_DEBUG_INFO_BTF=y, or --btf FILE with this "
		     "kernel's BTF");
}

static void check_capabilities(void)
{
	bool admin = probe__capable(CAP_SYS_ADMIN_NR), bpf = probe__capable(CAP_BPF_NR),
	     perfmon = probe__capable(CAP_PERFMON_NR);
	char last[32], held[64];
	bool has_bpf_caps = true;

	/* Kernels before 5.8 have no CAP_BPF (cap_last_cap below 39). */
	if (read_line("/proc/sys/kernel/cap_last_cap", last, sizeof(last)) &&
	    atoi(last) < CAP_BPF_NR)
		has_bpf_caps = false;
	snprintf(held, sizeof(held), "%s%s%s", bpf && has_bpf_caps ? " CAP_BPF" : "",
		 perfmon && has_bpf_caps ? " CAP_PERFMON" : "", admin ? " CAP_SYS_ADMIN" : "");
	privileged = admin || (has_bpf_caps && bpf && perfmon);
	if (privileged)
		item("capabilities", true, held + 1, NULL);
	else if (!has_bpf_caps)
		item("capabilities", false, held[0] ? held + 1 : "none",
		     "run as root (this kernel has no CAP_BPF: BPF tracing needs CAP_SYS_ADMIN)");
	else
		item("capabilities", false, held[0] ? held + 1 : "none",
		     "run as root, or give the program CAP_BPF and CAP_PERFMON "
		     "(setcap cap_bpf,cap_perfmon+ep PROGRAM)");
}

static void check_perf_event_paranoid(void)
{
	char value[32], detail[96];

	if (!read_line("/proc/sys/kernel/perf_event_paranoid", value, sizeof(value))) {
		item("perf_event_paranoid", true, "not reported (no perf events?)", NULL);
		return;
	}
	if (probe__capable(CAP_PERFMON_NR) || probe__capable(CAP_SYS_ADMIN_NR)) {
		snprintf(detail, sizeof(detail), "%s (CAP_PERFMON or CAP_SYS_ADMIN overrides it)",
			 value);
		item("perf_event_paranoid", true, detail, NULL);
	} else if (atoi(value) <= -1) {
		item("perf_event_paranoid", true, value, NULL);
	} else {
		item("perf_event_paranoid", false, value,
		     "give the program CAP_PERFMON (setcap cap_bpf,cap_perfmon+ep PROGRAM)");
	}
}

static void check_lockdown(void)
{
	char line[128], mode[32] = "";
	const char *open_br, *close_br;

	/* "none [integrity] confidentiality": the mode in force is bracketed. */
	if (!read_line("/sys/kernel/security/lockdown", line, sizeof(line))) {
		item("lockdown", true, "not reported (no /sys/kernel/security/lockdown)", NULL);
		return;
	}
	open_br = strchr(line, '[');
	close_br = open_br ? strchr(open_br, ']') : NULL;
	if (open_br && close_br && (size_t)(close_br - open_br) < sizeof(mode))
		snprintf(mode, sizeof(mode), "%.*s", (int)(close_br - open_br - 1), open_br + 1);
	if (strcmp(mode, "confidentiality") == 0)
		item("lockdown", false,
		     "confidentiality (no reads of kernel memory, kprobes, perf or tracefs)",
		     "boot with lockdown=integrity or without lockdown (under Secure Boot, as the "
		     "distribution allows)");
	else
		item("lockdown", true, mode[0] ? mode : line, NULL);
}

static void check_tracefs(void)
{
	const char *dir;

	if (!privileged) {
		unknown("tracefs");
		return;
	}
	dir = probe__tracefs();
	if (dir)
		item("tracefs", true, dir, NULL);
	else
		item("tracefs", false, "not mounted, and mounting it failed",
		     "mount -t tracefs tracefs /sys/kernel/tracing (needed for classic "
		     "tracepoints only)");
}

static void check_kprobes(void)
{
	if (probe__kprobes())
		item("kprobes", true, NULL, NULL);
	else
		item("kprobes", false, "no kprobe PMU in /sys/bus/event_source/devices",
		     "a kernel built with CONFIG_KPROBES=y (needed only where a tool has no "
		     "tracepoint)");
}

static void check_fentry(void)
{
	char detail[160];
	int err;

	if (!privileged) {
		unknown("fentry");
		return;
	}
	err = probe__fentry_error(CHECK_FENTRY_FUNC);
	if (!err) {
		item("fentry", true, NULL, NULL);
		return;
	}
	/* ENOTSUPP (524) is kernel-internal: strerror does not know it. */
	if (err == -524)
		snprintf(detail, sizeof(detail),
			 "fentry on " CHECK_FENTRY_FUNC " loads but does not attach (error 524, "
			 "no BPF trampoline on this kernel)");
	else if (err == -ENOENT)
		snprintf(detail, sizeof(detail),
			 "no function " CHECK_FENTRY_FUNC " in the kernel's BTF");
	else
		snprintf(detail, sizeof(detail), "fentry on " CHECK_FENTRY_FUNC " refused: %s",
			 strerror(-err));
	item("fentry", false, detail,
	     "a kernel with BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS) that allows "
	     "them (needed only where a tool has no tracepoint)");
}

/* A feature probed with BPF: not checked without the privileges to. */
static void check_feature(const char *name, bool (*probe)(void), const char *missing,
			  const char *fix)
{
	if (!privileged)
		unknown(name);
	else if (probe())
		item(name, true, NULL, NULL);
	else
		item(name, false, missing, fix);
}

static void at_exit(void)
{
	char detail[1100];
	const char *why = log__last_error();

	if (ready)
		return;
	snprintf(detail, sizeof(detail), "%s cannot run here%s%s", tool_name, why ? ": " : "",
		 why ? why : "");
	item("result", false, detail, NULL);
	fflush(stdout);
}

void check__begin(const char *tool, bool as_json)
{
	active = true;
	json = as_json;
	tool_name = tool;
	atexit(at_exit);
	check_kernel();
	check_btf();
	check_capabilities();
	check_perf_event_paranoid();
	check_lockdown();
	check_tracefs();
	check_kprobes();
	check_fentry();
	check_feature("ringbuf", probe__ringbuf, "no BPF ring buffer (Linux 5.8+)",
		      "none needed: events go through the perf buffer");
	check_feature("bpf_loop", probe__bpf_loop, "no bpf_loop helper (Linux 5.17+)",
		      "none needed: the tools use bounded loops instead");
	fflush(stdout);
}

void check__attach_note(const char *fmt, ...)
{
	size_t n = strlen(notes);
	va_list ap;

	if (!active)
		return;
	if (n && n + 2 < sizeof(notes)) {
		memcpy(notes + n, ", ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(notes + n, sizeof(notes) - n, fmt, ap);
	va_end(ap);
}

void check__ready(struct bpf_object *obj)
{
	char attach[1024] = "", detail[128];
	struct bpf_program *prog;
	size_t n = 0;

	ready = true;
	/* The programs that loaded are the attach points the tool chose: the others were
	 * switched off before load. */
	if (obj) {
		bpf_object__for_each_program(prog, obj) {
			if (!bpf_program__autoload(prog) || n >= sizeof(attach))
				continue;
			n += snprintf(attach + n, sizeof(attach) - n, "%s%s", n ? ", " : "",
				      bpf_program__section_name(prog));
		}
	}
	if (notes[0] && n < sizeof(attach))
		n += snprintf(attach + n, sizeof(attach) - n, "%s%s", n ? "; " : "", notes);
	info("attach", attach);
	snprintf(detail, sizeof(detail), "%s can run here", tool_name);
	item("result", true, detail, NULL);
	fflush(stdout);
	exit(0);
}
