#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "json.h"

const char *log_prog_name = "corescope";
static int log_verbose;
static bool log_json;
static char last_error[1024];

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!log_verbose || (level == LIBBPF_DEBUG && log_verbose < 2))
		return 0;
	return vfprintf(stderr, fmt, args);
}

void log__init(const char *prog_name, int verbose, bool json)
{
	if (prog_name)
		log_prog_name = prog_name;
	log_verbose = verbose;
	log_json = json;
	libbpf_set_print(libbpf_print);
}

bool log__verbose(void)
{
	return log_verbose > 0;
}

static void vlog(const char *prefix, bool is_error, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (is_error)
		memcpy(last_error, msg, sizeof(last_error));
	/* stdout may hold buffered records: keep them ahead of the error in a shared log. */
	fflush(stdout);
	fprintf(stderr, "%s: %s%s\n", log_prog_name, prefix, msg);
	if (log_json && is_error) {
		struct json_writer w;

		json_writer__init(&w, stdout);
		json_obj_begin(&w);
		json_key(&w, "error");
		json_str(&w, msg);
		json_obj_end(&w);
		json_writer__endl(&w);
		fflush(stdout);
	}
}

const char *log__last_error(void)
{
	return last_error[0] ? last_error : NULL;
}

void p_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", true, fmt, ap);
	va_end(ap);
}

void p_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warning: ", false, fmt, ap);
	va_end(ap);
}

void p_info(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog("", false, fmt, ap);
	va_end(ap);
}

void p_bpf_err(const char *what, int err)
{
	int e = err < 0 ? -err : err;
	/* With -v, libbpf's messages (the verifier log among them) are already above. */
	const char *more = log_verbose ? "libbpf's messages above say more"
				       : "rerun with -v for details";
	char reason[64];

	/* ENOTSUPP (524) is kernel-internal: strerror() knows it only as a number. */
	if (e == 524)
		snprintf(reason, sizeof(reason), "not supported by this kernel (error 524)");
	else
		snprintf(reason, sizeof(reason), "%s", strerror(e));
	if (e == EPERM || e == EACCES) {
		if (geteuid() != 0)
			p_err("%s: %s: run as root (or with CAP_BPF and CAP_PERFMON)", what,
			      reason);
		else
			p_err("%s: %s: the kernel refused it (lockdown, seccomp or a missing "
			      "capability); %s",
			      what, reason, log_verbose ? more : "rerun with -v for the verifier log");
	} else if (e == ESRCH || e == ENOENT) {
		p_err("%s: %s: the kernel lacks a needed type, function or tracepoint; %s", what,
		      reason, more);
	} else {
		p_err("%s: %s (%s)", what, reason, more);
	}
}
