/* tcpconnlat: latency of active TCP connects, from connect() to the completed handshake. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/libbpf.h>

#include "attach.h"
#include "cli.h"
#include "escape.h"
#include "identity.h"
#include "inet.h"
#include "log.h"
#include "loop.h"
#include "openmetrics.h"
#include "out.h"
#include "tool.h"

#include "tcpconnlat.h"
#include "tcpconnlat.skel.h"

/* Connect events are rare next to opens: 1 MiB holds ~10k of them, a burst the consumer
 * drains within one poll interval. */
#define TCPCONNLAT_RING_BYTES (1u << 20)

/* --openmetrics: histograms of up to 2^27 - 1 usecs (134 s, past the kernel's default SYN
 * retry time), for at most this many ports or commands; the rest share one "other" series. */
#define OM_SLOTS_USECS 27
#define OM_MAX_SERIES 256
#define OM_WRITE_MS 1000

struct env {
	struct cli_common c;
	uint16_t family;
	uint64_t min_ns;
	bool timestamp;
	bool time_hms;
	bool lport;
	bool failed;
	enum attach_kind attach;
	const char *om_path;
	bool om_by_comm;
};

enum col { COL_HMS, COL_TIME, COL_PID, COL_TID, COL_NSPID, COL_CONTAINER, COL_COMM, COL_IP, COL_SADDR,
	   COL_LPORT, COL_DADDR, COL_DPORT, COL_LAT, COL_RESULT, NCOLS };

static struct out_col columns[NCOLS] = {
	[COL_HMS] = { "TIME", "time", 8, OUT_LEFT },
	[COL_TIME] = { "TIME(s)", "time_s", 9, 0 },
	[COL_PID] = { "PID", "pid", 7, 0 },
	[COL_TID] = { "TID", "tid", 7, OUT_HIDE_TEXT },
	[COL_NSPID] = IDENTITY_COL_NSPID,
	[COL_CONTAINER] = IDENTITY_COL_CONTAINER,
	[COL_COMM] = { "COMM", "comm", 16, OUT_LEFT },
	[COL_IP] = { "IP", "ip", 2, 0 },
	[COL_SADDR] = { "SADDR", "saddr", INET_ADDR_WIDTH, OUT_LEFT },
	[COL_LPORT] = { "LPORT", "lport", 5, 0 },
	[COL_DADDR] = { "DADDR", "daddr", INET_ADDR_WIDTH, OUT_LEFT },
	[COL_DPORT] = { "DPORT", "dport", 5, 0 },
	[COL_LAT] = { "LAT(ms)", "lat_ms", 8, 0 },
	[COL_RESULT] = { "RESULT", "result", 0, OUT_LEFT },
};

struct ctx {
	struct out *out;
	struct identity *idn;
	bool time_hms;
	uint64_t start_ns;
	const struct env *env;
	struct om_set *om; /* --openmetrics: one series per port or command */
};

static const char doc[] =
	"Trace active TCP connects and print how long each took to establish.\n"
	"\n"
	"min_ms: only connects that took at least this many milliseconds (fractions allowed).\n"
	"\n"
	"EXAMPLES:\n"
	"  tcpconnlat             # every connect with its latency\n"
	"  tcpconnlat 1.5         # only connects slower than 1.5 ms\n"
	"  tcpconnlat -t -L       # with timestamps and the local port\n"
	"  tcpconnlat -p 181 -6   # only PID 181, only IPv6\n"
	"  tcpconnlat -x          # also connects that failed (refused, timed out)\n"
	"  tcpconnlat --openmetrics /var/lib/node_exporter/tcpconnlat.prom >/dev/null";

enum { OPT_TIME = 'T', OPT_TIMESTAMP = 't', OPT_LPORT = 'L', OPT_FAILED = 'x', OPT_ATTACH = 0x100,
       OPT_OPENMETRICS, OPT_OM_BY };

static const struct argp_option options[] = {
	{ "time", OPT_TIME, NULL, 0, "Include a TIME column (HH:MM:SS, wall clock)", 0 },
	{ "timestamp", OPT_TIMESTAMP, NULL, 0, "Include a TIME(s) column (seconds since start)",
	  0 },
	{ "lport", OPT_LPORT, NULL, 0, "Include the local port (LPORT)", 0 },
	{ "failed", OPT_FAILED, NULL, 0,
	  "Also show connects that failed, with a RESULT column (ECONNREFUSED, ETIMEDOUT, ...)",
	  0 },
	{ "attach", OPT_ATTACH, "KIND", 0,
	  "Attach point: auto (default), tp_btf, tracepoint, fentry or kprobe", 0 },
	{ "openmetrics", OPT_OPENMETRICS, "FILE", 0,
	  "Keep FILE an OpenMetrics file of connect latency histograms per destination port "
	  "(with -x also failures), replaced every second", 0 },
	{ "openmetrics-by", OPT_OM_BY, "KEY", 0,
	  "One --openmetrics histogram per dport (default) or per comm (process name)", 0 },
	{},
};

/* Milliseconds as a decimal with up to 6 fraction digits ("0.25"), to nanoseconds. Strict:
 * digits, at most one dot, nothing else. */
static uint64_t parse_min_ms(const char *arg)
{
	const uint64_t max_ms = 86400ull * 1000 * 365;
	const char *dot = strchr(arg, '.');
	char whole[24], shown[128];
	uint64_t ms = 0, frac_ns = 0, scale = 100000;
	size_t n = dot ? (size_t)(dot - arg) : strlen(arg);
	const char *f;
	bool ok = n > 0 && n < sizeof(whole);

	if (ok) {
		memcpy(whole, arg, n);
		whole[n] = '\0';
		ok = parse_u64(whole, 0, max_ms, &ms) == 0;
	}
	if (ok && dot) {
		ok = dot[1] != '\0';
		for (f = dot + 1; ok && *f; f++, scale /= 10) {
			if (*f < '0' || *f > '9' || !scale)
				ok = false;
			else
				frac_ns += (uint64_t)(*f - '0') * scale * 10;
		}
	}
	if (!ok) {
		escape_text(shown, sizeof(shown), arg, strlen(arg), 0);
		cli__usage_error("invalid min_ms '%s': not a number of milliseconds between 0 "
				 "and %llu (up to 6 decimals)",
				 shown, (unsigned long long)max_ms);
	}
	return ms * 1000000 + frac_ns;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;

	switch (key) {
	case OPT_TIME:
		env->time_hms = true;
		break;
	case OPT_TIMESTAMP:
		env->timestamp = true;
		break;
	case OPT_LPORT:
		env->lport = true;
		break;
	case OPT_FAILED:
		env->failed = true;
		break;
	case OPT_OPENMETRICS:
		env->om_path = om__path_arg(arg);
		break;
	case OPT_OM_BY:
		if (strcmp(arg, "dport") && strcmp(arg, "comm"))
			cli__usage_error("invalid --openmetrics-by KEY: must be dport or comm");
		env->om_by_comm = !strcmp(arg, "comm");
		break;
	case OPT_ATTACH:
		env->attach = attach__parse(arg, ATTACH_MASK(ATTACH_RAW_TP) |
						 ATTACH_MASK(ATTACH_TP_BTF) |
						 ATTACH_MASK(ATTACH_TRACEPOINT) |
						 ATTACH_MASK(ATTACH_FENTRY) |
						 ATTACH_MASK(ATTACH_KPROBE));
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num > 0) {
			char shown[128];

			escape_text(shown, sizeof(shown), arg, strlen(arg), 0);
			cli__usage_error("unexpected argument '%s'", shown);
		}
		env->min_ns = parse_min_ms(arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* "ECONNREFUSED" for a failure with the socket's error, "closed" when the socket closed
 * without one (the application gave up, or a local error returned by connect() itself). */
static const char *result_text(const struct tcpconnlat_event *e, char *buf, size_t size)
{
	const char *name;

	if (e->result == TCPCONNLAT_ESTABLISHED)
		return "established";
	if (e->err <= 0)
		return "closed";
	name = strerrorname_np(e->err);
	if (name)
		return name;
	snprintf(buf, size, "error %d", e->err);
	return buf;
}

/* --openmetrics: the event's latency (or failure) in its port's or command's series. */
static int om_count(struct ctx *ctx, const struct tcpconnlat_event *e)
{
	char label[TCPCONNLAT_COMM_LEN + 1];
	const char *values[] = { label };
	struct om_series *r;

	if (ctx->env->om_by_comm)
		snprintf(label, sizeof(label), "%.*s", (int)sizeof(e->comm), e->comm);
	else
		snprintf(label, sizeof(label), "%u", e->tuple.rport);
	r = om_set__get(ctx->om, values);
	if (!r) {
		p_err("--openmetrics: out of memory");
		return -ENOMEM;
	}
	if (e->result == TCPCONNLAT_ESTABLISHED)
		hist__add(r->hist, e->lat_ns / 1000);
	else
		r->counters[0]++;
	return 0;
}

static int om_write(FILE *f, void *vctx)
{
	const struct ctx *ctx = vctx;
	const char *const names[] = { ctx->env->om_by_comm ? "comm" : "dport" };
	struct om_writer *w = om__new(f);
	int err;

	if (!w)
		return -errno;
	err = om__metric(w, "corescope_tcpconnlat_seconds", OM_HISTOGRAM, "seconds",
			 "Latency of active TCP connects, from connect() to the completed handshake.");
	if (!err)
		err = om__set_slots(w, OM_SLOTS_USECS);
	if (!err)
		err = om_set__write_hists(ctx->om, w, names, HIST_UNIT_USECS);
	if (!err && ctx->env->failed) {
		err = om__metric(w, "corescope_tcpconnlat_failed_total", OM_COUNTER, NULL,
				 "Active TCP connects that failed (refused, timed out, closed).");
		if (!err)
			err = om_set__write_counter(ctx->om, w, names, 0);
	}
	if (err) {
		om__free(w);
		return err;
	}
	return om__end(w);
}

static int om_tick(void *vctx)
{
	struct ctx *ctx = vctx;

	return om__update_file(ctx->env->om_path, om_write, ctx);
}

static int handle_event(void *vctx, const void *data, size_t size)
{
	const struct tcpconnlat_event *e = data;
	struct ctx *ctx = vctx;
	struct out *o = ctx->out;
	char saddr[INET_TEXT_MAX], daddr[INET_TEXT_MAX], res[32];
	const struct inet_tuple *t;

	if (size < sizeof(*e))
		return 0;
	t = &e->tuple;
	out__begin(o);
	if (ctx->time_hms) {
		char hms[16];

		out__hms(hms, sizeof(hms), e->ts_ns);
		out__fmt(o, COL_HMS, "%s", hms);
	}
	out__double(o, COL_TIME, (double)(int64_t)(e->ts_ns - ctx->start_ns) / 1e9, 3);
	out__u64(o, COL_PID, e->pid);
	out__u64(o, COL_TID, e->tid);
	identity__print(ctx->idn, o, &e->id, e->pid, e->ts_ns);
	out__str(o, COL_COMM, e->comm, strnlen(e->comm, sizeof(e->comm)));
	out__u64(o, COL_IP, inet__version(t->family));
	out__fmt(o, COL_SADDR, "%s", inet__addr(t->family, t->laddr, saddr, sizeof(saddr)));
	out__u64(o, COL_LPORT, t->lport);
	out__fmt(o, COL_DADDR, "%s", inet__addr(t->family, t->raddr, daddr, sizeof(daddr)));
	out__u64(o, COL_DPORT, t->rport);
	out__double(o, COL_LAT, (double)e->lat_ns / 1e6, 2);
	out__fmt(o, COL_RESULT, "%s", result_text(e, res, sizeof(res)));
	out__end(o);
	return ctx->om ? om_count(ctx, e) : 0;
}

static const char *const connect_funcs_any[] = { "tcp_v4_connect", "tcp_v6_connect",
						 "tcp_rcv_state_process", NULL };
static const char *const connect_funcs_v4[] = { "tcp_v4_connect", "tcp_rcv_state_process",
						NULL };
static const char *const connect_funcs_v6[] = { "tcp_v6_connect", "tcp_rcv_state_process",
						NULL };

int main(int argc, char **argv)
{
	struct env env = { 0 };
	struct argp_child children[] = { cli__child(CLI_PID | CLI_UID | CLI_CGROUP | CLI_CONTAINERS | CLI_DURATION,
						    &env.c),
					 inet__family_child(&env.family), {} };
	const struct argp argp = { .options = options, .parser = parse_arg, .doc = doc,
				   .args_doc = "[min_ms]", .children = children };
	static const enum attach_kind order[] = { ATTACH_RAW_TP, ATTACH_TP_BTF, ATTACH_TRACEPOINT,
						  ATTACH_FENTRY, ATTACH_KPROBE, ATTACH_AUTO };
	struct attach_point point = { .tp_category = "sock", .tp_name = "inet_sock_set_state" };
	struct tcpconnlat_bpf *skel = NULL;
	struct ctx ctx = { .env = &env };
	enum attach_kind kind;
	char why[160];
	int err;

	cli__parse(&argp, argc, argv, &env);
	err = tool__init("tcpconnlat", &env.c);
	if (err)
		return 1;

	/* The fallback needs only the connect function of the family asked for. */
	point.funcs = env.family == AF_INET    ? connect_funcs_v4
		      : env.family == AF_INET6 ? connect_funcs_v6
					       : connect_funcs_any;
	if (env.attach == ATTACH_KPROBE)
		kind = ATTACH_KPROBE; /* checked after load, below */
	else if (env.attach != ATTACH_AUTO)
		kind = attach__pick(env.attach, NULL, &point);
	else
		kind = attach__pick(ATTACH_AUTO, order, &point);
	if (kind == ATTACH_AUTO && env.attach != ATTACH_AUTO)
		return 1;
	if (kind == ATTACH_AUTO) {
		attach__possible(ATTACH_TRACEPOINT, &point, why, sizeof(why));
		p_err("cannot trace connects on this kernel: %s, and neither fentry nor kprobes "
		      "work here",
		      why);
		return 1;
	}
	if (kind == ATTACH_RAW_TP || kind == ATTACH_TP_BTF || kind == ATTACH_TRACEPOINT)
		p_info("attach: %s sock:inet_sock_set_state", attach__name(kind));
	else
		p_info("attach: %s %s, %s%s%s", attach__name(kind), point.funcs[0], point.funcs[1],
		       point.funcs[2] ? ", " : "", point.funcs[2] ? point.funcs[2] : "");

	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    .btf_custom_path = TOOL_CORE_BTF(&env.c, tcpconnlat_bpf));
	skel = tcpconnlat_bpf__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		p_bpf_err("opening BPF object", err);
		goto cleanup;
	}
	skel->rodata->min_lat_ns = env.min_ns;
	skel->rodata->report_failed = env.failed;
	skel->rodata->filter_family = env.family;
	{
		const struct attach_prog progs[] = {
			{ skel->progs.state_raw, ATTACH_RAW_TP },
			{ skel->progs.state_btf, ATTACH_TP_BTF },
			{ skel->progs.state_tp, ATTACH_TRACEPOINT },
			{ skel->progs.v4_connect_fentry, ATTACH_FENTRY },
			{ skel->progs.v6_connect_fentry, ATTACH_FENTRY },
			{ skel->progs.rcv_state_fentry, ATTACH_FENTRY },
			{ skel->progs.v4_connect_kprobe, ATTACH_KPROBE },
			{ skel->progs.v6_connect_kprobe, ATTACH_KPROBE },
			{ skel->progs.rcv_state_kprobe, ATTACH_KPROBE },
		};

		attach__select(progs, sizeof(progs) / sizeof(progs[0]), kind);
	}
	if (env.family == AF_INET) {
		bpf_program__set_autoload(skel->progs.v6_connect_fentry, false);
		bpf_program__set_autoload(skel->progs.v6_connect_kprobe, false);
	} else if (env.family == AF_INET6) {
		bpf_program__set_autoload(skel->progs.v4_connect_fentry, false);
		bpf_program__set_autoload(skel->progs.v4_connect_kprobe, false);
	}
	err = tool__load(skel->skeleton, &env.c, TCPCONNLAT_RING_BYTES);
	if (err)
		goto cleanup;
	/* A forced kprobe is checked only now: its programs got through the verifier first, so
	 * `--attach kprobe` on a kernel without kprobes still proves the fallback loads (fentry
	 * programs cannot load where fentry is refused). */
	if (env.attach == ATTACH_KPROBE && !attach__possible(kind, &point, why, sizeof(why))) {
		p_err("--attach %s: not possible here: %s", attach__name(kind), why);
		err = -EOPNOTSUPP;
		goto cleanup;
	}

	if (!env.timestamp)
		columns[COL_TIME].flags |= OUT_HIDE;
	if (!env.time_hms)
		columns[COL_HMS].flags |= OUT_HIDE;
	ctx.time_hms = env.time_hms;
	if (!env.lport)
		columns[COL_LPORT].flags |= OUT_HIDE_TEXT;
	if (!env.failed)
		columns[COL_RESULT].flags |= OUT_HIDE;
	if (env.family == AF_INET)
		columns[COL_SADDR].width = columns[COL_DADDR].width = INET_ADDR4_WIDTH;
	ctx.idn = identity__new(&env.c, columns, COL_NSPID);
	if (!ctx.idn) {
		err = -errno;
		p_err("out of memory");
		goto cleanup;
	}
	if (env.om_path) {
		ctx.om = om_set__new(1, 1, true, OM_MAX_SERIES);
		if (!ctx.om) {
			err = -errno;
			p_err("--openmetrics: %s", strerror(errno));
			goto cleanup;
		}
		/* An empty exposition now: a bad path fails before tracing starts. */
		err = om_tick(&ctx);
		if (err)
			goto cleanup;
	}
	ctx.start_ns = loop__now_mono_ns();
	err = tool__run_events(&(struct tool_events){ .skeleton = skel->skeleton,
			.columns = columns, .ncols = NCOLS, .json = env.c.json, .out = &ctx.out,
						       .handler = handle_event, .ctx = &ctx,
						       .what = "TCP connects",
						       .duration_ms = env.c.duration_ms,
						       .tick = { env.om_path ? OM_WRITE_MS : 0,
								 env.om_path ? om_tick : NULL,
								 &ctx } });
	if (skel) {
		struct tool_drop drops[] = {
			{ "pending_full", "connects not timed: more than 8192 in flight",
			  skel->bss->pending_full },
		};

		tool__report_drops(env.c.json, drops, 1);
	}

cleanup:
	om_set__free(ctx.om);
	tcpconnlat_bpf__destroy(skel);
	identity__free(ctx.idn);
	return err ? 1 : 0;
}
