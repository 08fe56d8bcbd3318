/* tcpretrans: TCP retransmits as they happen, or counted per flow (-c). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "bpfobj.h"
#include "cli.h"
#include "identity.h"
#include "inet.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "openmetrics.h"
#include "out.h"
#include "perfevent.h"
#include "probe.h"
#include "tool.h"

#include "tcpretrans.h"
#include "tcpretrans.skel.h"

/* Retransmit storms are bursts of small events: 1 MiB holds ~14k, more than one poll interval
 * of a heavy storm. -c sends no events and keeps the ring minimal. */
#define TCPRETRANS_RING_BYTES (1u << 20)
#define TCPRETRANS_COUNT_RING_BYTES (4u << 10)
#define OM_WRITE_MS 1000

struct env {
	struct cli_common c;
	uint16_t family;
	bool count;
	bool loss_probes;
	enum attach_kind attach;
	const char *om_path;
};

/* Text shows "addr:port" endpoints; JSON has the address and the port as separate keys (the
 * *PORT columns are JSON only, and the endpoint columns then carry just the address). */
enum col { COL_TIME, COL_TS, COL_PID, COL_OWNER, COL_UID, COL_NSPID, COL_CONTAINER, COL_IP, COL_LOCAL,
	   COL_LPORT, COL_TYPE, COL_REMOTE, COL_RPORT, COL_STATE, COL_SEGS, COL_SYNACK, COL_ERR,
	   NCOLS };

static struct out_col columns[NCOLS] = {
	[COL_TIME] = { "TIME", "time", 8, OUT_LEFT },
	[COL_TS] = { "TS", "ts_ns", 0, OUT_HIDE_TEXT },
	[COL_PID] = { "PID", "pid", 7, 0 },
	[COL_OWNER] = { "OWNER", "owner_pid", 7, 0 },
	[COL_UID] = { "UID", "uid", 0, OUT_HIDE_TEXT },
	[COL_NSPID] = IDENTITY_COL_NSPID,
	[COL_CONTAINER] = IDENTITY_COL_CONTAINER,
	[COL_IP] = { "IP", "ip", 2, 0 },
	[COL_LOCAL] = { "LADDR:LPORT", "laddr", INET_ENDPOINT_WIDTH, OUT_LEFT },
	[COL_LPORT] = { "LPORT", "lport", 5, OUT_HIDE_TEXT },
	[COL_TYPE] = { "T>", "type", 2, OUT_LEFT },
	[COL_REMOTE] = { "RADDR:RPORT", "raddr", INET_ENDPOINT_WIDTH, OUT_LEFT },
	[COL_RPORT] = { "RPORT", "rport", 5, OUT_HIDE_TEXT },
	[COL_STATE] = { "STATE", "state", 11, OUT_LEFT },
	[COL_SEGS] = { "SEGS", "segs", 4, OUT_HIDE_TEXT },
	[COL_SYNACK] = { "SYNACK", "synack", 0, OUT_HIDE_TEXT },
	[COL_ERR] = { "ERR", "err", 0, OUT_HIDE_TEXT },
};

enum count_col { CCOL_OWNER, CCOL_UID, CCOL_NSPID, CCOL_CONTAINER, CCOL_IP, CCOL_LOCAL, CCOL_LPORT, CCOL_REMOTE, CCOL_RPORT, CCOL_RETRANS,
		 CCOL_SEGS, CCOL_TLP, CCOL_FAILED, NCCOLS };

static struct out_col count_columns[NCCOLS] = {
	[CCOL_OWNER] = { "OWNER", "owner_pid", 7, OUT_HIDE_TEXT },
	[CCOL_UID] = { "UID", "uid", 0, OUT_HIDE_TEXT },
	[CCOL_NSPID] = IDENTITY_COL_NSPID,
	[CCOL_CONTAINER] = IDENTITY_COL_CONTAINER,
	[CCOL_IP] = { "IP", "ip", 2, 0 },
	[CCOL_LOCAL] = { "LADDR:LPORT", "laddr", INET_ENDPOINT_WIDTH, OUT_LEFT },
	[CCOL_LPORT] = { "LPORT", "lport", 5, OUT_HIDE_TEXT },
	[CCOL_REMOTE] = { "RADDR:RPORT", "raddr", INET_ENDPOINT_WIDTH, OUT_LEFT },
	[CCOL_RPORT] = { "RPORT", "rport", 5, OUT_HIDE_TEXT },
	[CCOL_RETRANS] = { "RETRANSMITS", "retransmits", 11, 0 },
	[CCOL_SEGS] = { "SEGS", "segs", 8, 0 },
	[CCOL_TLP] = { "LOSS_PROBES", "loss_probes", 11, 0 },
	[CCOL_FAILED] = { "FAILED", "failed", 6, OUT_HIDE_TEXT },
};

/* The kernel's count of each tracepoint's hits (perf counting events) beside the programs'
 * runs over the same time: a retransmit the kernel hit without running the program is
 * counted, not lost without a word (6.18 skips every BPF program on tcp_retransmit_skb for
 * some timer batches; docs/reliability.md). The runs are read before the counts start and
 * after they stop, so a hit at either edge can only make the difference smaller. */
struct hit_check {
	struct tp_count tc[TCPRETRANS_HIT_KINDS];
	const struct bpf_program *prog[TCPRETRANS_HIT_KINDS];
	const __u64 *runs;  /* the skeleton's tp_runs */
	uint64_t runs_start[TCPRETRANS_HIT_KINDS], missed_start[TCPRETRANS_HIT_KINDS];
	bool checked, stopped;
	uint64_t skipped;  /* once stopped; before, a lower bound (hits_so_far) */
	uint64_t prev_hits[TCPRETRANS_HIT_KINDS];
	bool prev_known[TCPRETRANS_HIT_KINDS];
};

struct ctx {
	struct out *out;
	struct identity *idn;
	struct hit_check hits;
};

static const char doc[] =
	"Trace TCP retransmits: one line per retransmitted packet, or counts per flow.\n"
	"\n"
	"PID is the task that was on the CPU: a retransmit runs from a timer or on an\n"
	"incoming ACK, so it is usually 0 or an unrelated process, rarely the socket's owner.\n"
	"OWNER is the socket's owner: the process that connected it or made it listen (for\n"
	"an accepted socket, the listener's); \"-\" for sockets older than tcpretrans. -p and\n"
	"--mntns apply to the owner, and never match a socket whose owner is not known;\n"
	"-u to the socket's user (the one that created it; an accepted socket: its\n"
	"listener's), --cgroup and --container to the cgroup it was created in.\n"
	"\n"
	"EXAMPLES:\n"
	"  tcpretrans             # every retransmit\n"
	"  tcpretrans -l          # also tail loss probes (needs fentry or kprobes)\n"
	"  tcpretrans -c -d 10    # retransmits per flow over 10 seconds\n"
	"  tcpretrans -6 -j       # IPv6 only, as JSON lines\n"
	"  tcpretrans -p 1234     # retransmits of the sockets process 1234 opened\n"
	"  tcpretrans -c --openmetrics /var/lib/node_exporter/tcpretrans.prom >/dev/null";

enum { OPT_COUNT = 'c', OPT_LOSS = 'l', OPT_ATTACH = 0x100, OPT_OPENMETRICS };

static const struct argp_option options[] = {
	{ "count", OPT_COUNT, NULL, 0,
	  "Count retransmits per flow and print the counts at the end", 0 },
	{ "lossprobe", OPT_LOSS, NULL, 0,
	  "Also trace tail loss probes (fails if this kernel cannot trace them)", 0 },
	{ "attach", OPT_ATTACH, "KIND", 0,
	  "Attach point: auto (default); raw_tp, tp_btf or tracepoint for retransmits; fentry "
	  "or kprobe for -l's tail loss probes", 0 },
	{ "openmetrics", OPT_OPENMETRICS, "FILE", 0,
	  "With -c: keep FILE an OpenMetrics file of retransmit counters per IP version and "
	  "TCP state, replaced every second", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;

	switch (key) {
	case OPT_COUNT:
		env->count = true;
		break;
	case OPT_LOSS:
		env->loss_probes = true;
		break;
	case OPT_ATTACH:
		env->attach = attach__parse(arg, ATTACH_MASK(ATTACH_RAW_TP) |
						 ATTACH_MASK(ATTACH_TP_BTF) |
						 ATTACH_MASK(ATTACH_TRACEPOINT) |
						 ATTACH_MASK(ATTACH_FENTRY) |
						 ATTACH_MASK(ATTACH_KPROBE));
		break;
	case OPT_OPENMETRICS:
		env->om_path = om__path_arg(arg);
		break;
	case ARGP_KEY_END:
		if (env->om_path && !env->count)
			cli__usage_error("--openmetrics needs -c (counting in the kernel)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* An endpoint column: "addr:port" in text; in JSON the address alone (the port has its own
 * key). */
static void put_endpoint(struct out *o, int col, int port_col, const struct inet_tuple *t,
			 const uint8_t *addr, unsigned port)
{
	char buf[INET_TEXT_MAX];

	if (out__is_json(o))
		out__fmt(o, col, "%s", inet__addr(t->family, addr, buf, sizeof(buf)));
	else
		out__fmt(o, col, "%s", inet__endpoint(t->family, addr, port, buf, sizeof(buf)));
	out__u64(o, port_col, port);
}

static int handle_event(void *vctx, const void *data, size_t size)
{
	const struct tcpretrans_event *e = data;
	struct ctx *ctx = vctx;
	struct out *o = ctx->out;
	bool json = out__is_json(o);
	int64_t wall_ns;
	const char *state;
	char hms[16];

	if (size < sizeof(*e))
		return 0;
	wall_ns = loop__mono_to_realtime_ns(e->ts_ns);
	out__hms(hms, sizeof(hms), e->ts_ns);
	state = inet__tcp_state(e->state);

	out__begin(o);
	out__fmt(o, COL_TIME, "%s", hms);
	out__u64(o, COL_TS, wall_ns);
	out__u64(o, COL_PID, e->pid);
	if (e->owner_pid)
		out__u64(o, COL_OWNER, e->owner_pid);
	else
		out__none(o, COL_OWNER);
	out__u64(o, COL_UID, e->uid);
	/* The socket's container, and its owner's ids (the owner, if it still runs, is asked
	 * where only cgroup v1 names the container). */
	identity__print(ctx->idn, o, &e->id, e->owner_pid, e->ts_ns);
	out__u64(o, COL_IP, inet__version(e->tuple.family));
	put_endpoint(o, COL_LOCAL, COL_LPORT, &e->tuple, e->tuple.laddr, e->tuple.lport);
	if (e->type == TCPRETRANS_LOSS_PROBE)
		out__fmt(o, COL_TYPE, "%s", json ? "loss_probe" : "L>");
	else
		/* F>: counted by the kernel as retransmitted, but the send failed (JSON: err). */
		out__fmt(o, COL_TYPE, "%s", json ? "retransmit" : e->err ? "F>" : "R>");
	put_endpoint(o, COL_REMOTE, COL_RPORT, &e->tuple, e->tuple.raddr, e->tuple.rport);
	if (state)
		out__fmt(o, COL_STATE, "%s", state);
	else
		out__fmt(o, COL_STATE, "%u", e->state);
	out__u64(o, COL_SEGS, e->segs);
	if (json) {
		json_key(out__json(o), "synack");
		json_bool(out__json(o), e->flags & TCPRETRANS_F_SYNACK);
	}
	out__s64(o, COL_ERR, e->err);
	out__end(o);
	return 0;
}

struct flow {
	struct inet_tuple key;
	struct tcpretrans_count count;
};

static int flow_cmp(const void *a, const void *b)
{
	const struct tcpretrans_count *x = &((const struct flow *)a)->count;
	const struct tcpretrans_count *y = &((const struct flow *)b)->count;
	uint64_t xs = x->segs + x->loss_probes, ys = y->segs + y->loss_probes;

	return xs < ys ? 1 : xs > ys ? -1 : 0;
}

/* -c: the flows, most retransmitted first. Read once at the end (nothing deletes from the map
 * while the programs run, so no count is lost between read and delete). */
static int print_counts(struct tcpretrans_bpf *skel, struct out *o, struct identity *idn)
{
	int fd = bpf_map__fd(skel->maps.flows);
	struct flow *flows = NULL, *grown;
	size_t n = 0, cap = 0, i;
	struct inet_tuple key, next, *prev = NULL;
	int err = 0;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(flows, cap * sizeof(*flows));
			if (!grown) {
				err = -ENOMEM;
				p_err("reading the per-flow counts: %s", strerror(ENOMEM));
				goto out;
			}
			flows = grown;
		}
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &flows[n].count) != 0)
			continue;
		flows[n++].key = key;
	}
	if (n)
		qsort(flows, n, sizeof(*flows), flow_cmp);
	out__header(o);
	for (i = 0; i < n; i++) {
		const struct inet_tuple *t = &flows[i].key;

		const struct tcpretrans_owner *ow = &flows[i].count.owner;

		out__begin(o);
		if (ow->pid)
			out__u64(o, CCOL_OWNER, ow->pid);
		else
			out__none(o, CCOL_OWNER);
		out__u64(o, CCOL_UID, flows[i].count.uid);
		identity__print(idn, o,
				&(struct ident){ .cgroup_id = flows[i].count.cgroup_id,
						 .mntns = ow->mntns, .ns_pid = ow->ns_pid },
				ow->pid, 0);
		out__u64(o, CCOL_IP, inet__version(t->family));
		put_endpoint(o, CCOL_LOCAL, CCOL_LPORT, t, t->laddr, t->lport);
		put_endpoint(o, CCOL_REMOTE, CCOL_RPORT, t, t->raddr, t->rport);
		out__u64(o, CCOL_RETRANS, flows[i].count.retransmits);
		out__u64(o, CCOL_SEGS, flows[i].count.segs);
		out__u64(o, CCOL_TLP, flows[i].count.loss_probes);
		out__u64(o, CCOL_FAILED, flows[i].count.failed);
		out__end(o);
	}
	if (skel->bss->flows_dropped)
		p_warn("%llu retransmits not counted: more flows than the table holds (%u)",
		       (unsigned long long)skel->bss->flows_dropped,
		       bpf_map__max_entries(skel->maps.flows));
out:
	free(flows);
	return err;
}

/* The one program of progs[] that is loaded, or NULL. */
static const struct bpf_program *loaded_of(struct bpf_program *const *progs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (bpf_program__autoload(progs[i]))
			return progs[i];
	return NULL;
}

/* After load: one counting event per CPU on each traced tracepoint. Without them (no
 * tracefs for the tracepoint's id, perf events refused) nothing is checked: said with -v. */
static void hits_open(struct hit_check *hc, struct tcpretrans_bpf *skel)
{
	static const char *const names[TCPRETRANS_HIT_KINDS] = {
		[TCPRETRANS_HIT_RETRANSMIT] = "tcp_retransmit_skb",
		[TCPRETRANS_HIT_SYNACK] = "tcp_retransmit_synack",
	};
	struct bpf_program *retrans[] = { skel->progs.retrans_raw, skel->progs.retrans_btf_sk,
					   skel->progs.retrans_btf, skel->progs.retrans_tp };
	struct bpf_program *synack[] = { skel->progs.synack_raw, skel->progs.synack_btf_sk,
					  skel->progs.synack_btf, skel->progs.synack_tp };
	int i, err;

	hc->prog[TCPRETRANS_HIT_RETRANSMIT] = loaded_of(retrans, 4);
	hc->prog[TCPRETRANS_HIT_SYNACK] = loaded_of(synack, 4);
	hc->runs = skel->bss->tp_runs;
	for (i = 0; i < TCPRETRANS_HIT_KINDS; i++) {
		if (!hc->prog[i])
			continue;
		err = tp_count__open(&hc->tc[i], "tcp", names[i]);
		if (err)
			p_info("tcp:%s: its hits are not counted, so hits the kernel skipped the "
			       "program for would go unnoticed: %s", names[i], strerror(-err));
	}
}

static void hits_start(void *vctx)
{
	struct hit_check *hc = &((struct ctx *)vctx)->hits;
	int i, err;

	for (i = 0; i < TCPRETRANS_HIT_KINDS; i++) {
		if (!hc->tc[i].n)
			continue;
		hc->runs_start[i] = __atomic_load_n(&hc->runs[i], __ATOMIC_ACQUIRE);
		hc->missed_start[i] = bpfobj__prog_missed_runs(hc->prog[i]);
		err = tp_count__enable(&hc->tc[i]);
		if (err) {
			p_info("enabling the count of tracepoint hits: %s", strerror(-err));
			tp_count__close(&hc->tc[i]);
			continue;
		}
		hc->checked = true;
	}
}

/* While counting (--openmetrics): the hits read one call ago against the runs now. Every
 * hit counted then has long finished its program's run, so a run still under way at a read
 * is never taken for a skip; and the value only grows, as a counter must. */
static uint64_t hits_so_far(struct hit_check *hc)
{
	uint64_t runs, missed, sum = 0;
	int i;

	if (hc->stopped)
		return hc->skipped;
	for (i = 0; i < TCPRETRANS_HIT_KINDS; i++) {
		if (!hc->tc[i].n)
			continue;
		runs = __atomic_load_n(&hc->runs[i], __ATOMIC_ACQUIRE) - hc->runs_start[i];
		missed = bpfobj__prog_missed_runs(hc->prog[i]) - hc->missed_start[i];
		if (hc->prev_known[i] && hc->prev_hits[i] > runs + missed)
			sum += hc->prev_hits[i] - runs - missed;
		hc->prev_known[i] = tp_count__read(&hc->tc[i], &hc->prev_hits[i]);
	}
	if (sum > hc->skipped)
		hc->skipped = sum;
	return hc->skipped;
}

/* Hits minus runs, less the runs the kernel counted as missed (reported as missed_events). */
static void hits_stop(void *vctx)
{
	struct hit_check *hc = &((struct ctx *)vctx)->hits;
	uint64_t hits, runs, missed, sum = 0;
	int i;

	for (i = 0; i < TCPRETRANS_HIT_KINDS; i++) {
		if (!hc->tc[i].n)
			continue;
		tp_count__disable(&hc->tc[i]);
		runs = __atomic_load_n(&hc->runs[i], __ATOMIC_ACQUIRE) - hc->runs_start[i];
		missed = bpfobj__prog_missed_runs(hc->prog[i]) - hc->missed_start[i];
		if (tp_count__read(&hc->tc[i], &hits) && hits > runs + missed)
			sum += hits - runs - missed;
		tp_count__close(&hc->tc[i]);
	}
	/* A bound published while counting never goes back (see hits_so_far). */
	if (sum > hc->skipped)
		hc->skipped = sum;
	hc->stopped = true;
}

/* --openmetrics: the kernel's totals per family and state (tcpretrans.h); a series appears
 * with its first retransmit and, being a counter, stays. */
struct om_ctx {
	const struct env *env;
	const struct tcpretrans_count (*counts)[TCPRETRANS_STATES];
	struct hit_check *hits;
	uint64_t skipped;  /* hits_so_far() at this write */
};

static int om_family(struct om_writer *w, const struct om_ctx *ctx, const char *name,
		     const char *help, size_t field)
{
	static const char *const names[] = { "ip", "state" };
	char num[16];
	const char *values[] = { NULL, NULL };
	int v6, st, err;

	err = om__metric(w, name, OM_COUNTER, NULL, help);
	for (v6 = 0; v6 < 2 && !err; v6++) {
		for (st = 0; st < TCPRETRANS_STATES && !err; st++) {
			const struct tcpretrans_count *c = &ctx->counts[v6][st];
			uint64_t value = __atomic_load_n((const uint64_t *)((const char *)c + field),
							 __ATOMIC_RELAXED);

			if (!c->retransmits && !c->loss_probes)
				continue;
			values[0] = v6 ? "6" : "4";
			values[1] = inet__tcp_state(st);
			if (!values[1]) {
				snprintf(num, sizeof(num), "%d", st);
				values[1] = num;
			}
			err = om__u64(w, names, values, 2, value);
		}
	}
	return err;
}

static int om_write(FILE *f, void *vctx)
{
	const struct om_ctx *ctx = vctx;
	struct om_writer *w = om__new(f);
	int err;

	if (!w)
		return -errno;
	err = om_family(w, ctx, "corescope_tcpretrans_retransmits_total",
			"TCP packets retransmitted, by the socket's IP version and TCP state.",
			offsetof(struct tcpretrans_count, retransmits));
	if (!err)
		err = om_family(w, ctx, "corescope_tcpretrans_retransmitted_segments_total",
				"TCP segments in retransmitted packets (what the kernel's "
				"RetransSegs counts).",
				offsetof(struct tcpretrans_count, segs));
	if (!err && ctx->env->loss_probes)
		err = om_family(w, ctx, "corescope_tcpretrans_loss_probes_total",
				"TCP tail loss probes sent.",
				offsetof(struct tcpretrans_count, loss_probes));
	/* Only where checked: absent, not 0, when nothing was. */
	if (!err && ctx->hits->checked)
		err = om__metric(w, "corescope_tcpretrans_skipped_by_kernel_total", OM_COUNTER,
				 NULL, "Retransmits of any flow that the kernel traced without "
				 "running tcpretrans's program (perf's count of the tracepoints' "
				 "hits is higher): in no other series.");
	if (!err && ctx->hits->checked)
		err = om__u64(w, NULL, NULL, 0, ctx->skipped);
	if (err) {
		om__free(w);
		return err;
	}
	return om__end(w);
}

static int count_tick(void *vctx)
{
	struct om_ctx *ctx = vctx;

	if (!ctx->env->om_path)
		return 0;
	ctx->skipped = hits_so_far(ctx->hits);
	return om__update_file(ctx->env->om_path, om_write, ctx);
}

/* -v: the attempts left out because the kernel did not count them either (not sent). */
static void report_uncounted(const struct tcpretrans_bpf *skel)
{
	const __u64 *n = skel->bss->uncounted_attempts;

	if (n[TCPRETRANS_UNCOUNTED_EBUSY] || n[TCPRETRANS_UNCOUNTED_EAGAIN] ||
	    n[TCPRETRANS_UNCOUNTED_ENOMEM] || n[TCPRETRANS_UNCOUNTED_EHOSTUNREACH])
		p_info("attempts the kernel gave up before counting a retransmit, left out: "
		       "%llu EBUSY (still queued), %llu EAGAIN (outside the window), %llu ENOMEM, "
		       "%llu EHOSTUNREACH",
		       (unsigned long long)n[TCPRETRANS_UNCOUNTED_EBUSY],
		       (unsigned long long)n[TCPRETRANS_UNCOUNTED_EAGAIN],
		       (unsigned long long)n[TCPRETRANS_UNCOUNTED_ENOMEM],
		       (unsigned long long)n[TCPRETRANS_UNCOUNTED_EHOSTUNREACH]);
}

/* At exit: retransmits the kernel hit without running the program, retransmits -p or --mntns
 * left out because their socket's owner is not known, with -c the runs the kernel counted as
 * missed (the event mode reports those itself, as missed_events), and sockets whose owner
 * could not be recorded (their events were all shown, with OWNER unknown: a warning, not
 * events lost). See the man page: The PID and OWNER columns, and OUTPUT. */
static void report_not_counted(struct tcpretrans_bpf *skel, const struct env *env,
			       const struct hit_check *hc)
{
	struct tool_drop drops[] = {
		{ "skipped_by_kernel",
		  "retransmits the kernel did not run tcpretrans's program for (perf's count of "
		  "the tracepoint's hits is higher): neither shown nor counted",
		  hc->skipped },
		{ "owner_unknown",
		  "retransmits not matched by -p/--mntns: their socket's owner is not known (the "
		  "socket is older than tcpretrans, or its listening port had several owners)",
		  skel->bss->owner_unknown },
		{ "missed_events", TOOL_MISSED_WHAT,
		  env->count ? bpfobj__missed_runs(skel->obj) : 0 },
	};

	tool__report_drops(env->c.json, drops, 3);
	report_uncounted(skel);
	if (skel->bss->owners_full)
		p_warn("%llu sockets have no known owner: there was no room to record it (the "
		       "table holds %u sockets)", (unsigned long long)skel->bss->owners_full,
		       bpf_map__max_entries(skel->maps.owner_hash));
}

int main(int argc, char **argv)
{
	struct env env = { 0 };
	struct argp_child children[] = { cli__child(CLI_PID | CLI_UID | CLI_CGROUP_LONG | CLI_CONTAINERS | CLI_DURATION,
						    &env.c),
					 inet__family_child(&env.family), {} };
	const struct argp argp = { .options = options, .parser = parse_arg, .doc = doc,
				   .children = children };
	static const char *const tlp_funcs[] = { "tcp_send_loss_probe", NULL };
	const struct attach_point retrans_point = { .tp_category = "tcp",
						    .tp_name = "tcp_retransmit_skb" };
	const struct attach_point tlp_point = { .funcs = tlp_funcs };
	const struct attach_point synack_point = { .tp_category = "tcp",
						   .tp_name = "tcp_retransmit_synack" };
	const struct attach_point state_point = { .tp_category = "sock",
						  .tp_name = "inet_sock_set_state" };
	bool synack, owners, sk_store = false, owner_filter;
	static const enum attach_kind retrans_order[] = { ATTACH_RAW_TP, ATTACH_TP_BTF,
							  ATTACH_TRACEPOINT, ATTACH_AUTO };
	enum attach_kind kind, tlp_kind = ATTACH_AUTO;
	bool tlp_forced;
	struct tcpretrans_bpf *skel = NULL;
	struct out *o = NULL;
	struct ctx ctx = { 0 };
	struct om_ctx om = { 0 };
	char why[160], tlp_why[2][160];
	int i, err;

	cli__parse(&argp, argc, argv, &env);
	err = tool__init("tcpretrans", &env.c);
	if (err)
		return 1;
	/* -p and --mntns (also --container where only a mount namespace names it) select
	 * sockets by their owner. */
	owner_filter = env.c.pid || env.c.mntns;

	/* --attach fentry/kprobe picks how -l's loss probes are traced: retransmits have
	 * tracepoints only. */
	tlp_forced = env.attach == ATTACH_FENTRY || env.attach == ATTACH_KPROBE;
	if (tlp_forced && !env.loss_probes)
		cli__usage_error("--attach %s is for tail loss probes: it needs -l",
				 attach__name(env.attach));
	if (env.loss_probes && tlp_forced) {
		tlp_kind = attach__pick(env.attach, NULL, &tlp_point);
		if (tlp_kind == ATTACH_AUTO)
			return 1;
	} else if (env.loss_probes) {
		/* No kernel has a tail loss probe tracepoint: only fentry or a kprobe on the
		 * function that sends them will do, and it is all or nothing for -l. */
		if (attach__possible(ATTACH_FENTRY, &tlp_point, tlp_why[0], sizeof(tlp_why[0])))
			tlp_kind = ATTACH_FENTRY;
		else if (attach__possible(ATTACH_KPROBE, &tlp_point, tlp_why[1],
					  sizeof(tlp_why[1])))
			tlp_kind = ATTACH_KPROBE;
		if (tlp_kind == ATTACH_AUTO) {
			p_err("-l: tail loss probes cannot be traced on this kernel: there is no "
			      "tracepoint for them, %s, and %s",
			      tlp_why[0], tlp_why[1]);
			return 1;
		}
	}
	/* Owners on the socket itself (SK_STORAGE) need BTF-typed programs everywhere a socket
	 * is looked up: tp_btf, and fentry for -l. Those make libbpf 1.1 read the whole kernel
	 * BTF (~10 MB more peak memory), so by default owners go into a table by socket
	 * address with raw tracepoints; on the socket with --attach tp_btf, or when -l traces
	 * with fentry (which reads that BTF anyway). */
	if ((env.attach == ATTACH_TP_BTF || tlp_forced ||
	     (env.attach == ATTACH_AUTO && env.loss_probes)) &&
	    (!env.loss_probes || tlp_kind == ATTACH_FENTRY) &&
	    attach__possible(ATTACH_TP_BTF, &retrans_point, why, sizeof(why)) &&
	    attach__possible(ATTACH_TP_BTF, &state_point, why, sizeof(why)) &&
	    probe__sk_storage_tracing("inet_sock_set_state"))
		sk_store = true;
	kind = sk_store ? ATTACH_TP_BTF
			: attach__pick(tlp_forced ? ATTACH_AUTO : env.attach, retrans_order,
				       &retrans_point);
	if (kind == ATTACH_AUTO && env.attach != ATTACH_AUTO && !tlp_forced)
		return 1;
	if (kind == ATTACH_AUTO) {
		attach__possible(ATTACH_TRACEPOINT, &retrans_point, why, sizeof(why));
		p_err("cannot trace retransmits on this kernel: %s (tcp:tcp_retransmit_skb needs "
		      "Linux 4.16+)",
		      why);
		return 1;
	}
	p_info("retransmits: %s tcp:tcp_retransmit_skb", attach__name(kind));
	/* Added with tcp_retransmit_skb (4.16): missing only where BTF or tracefs lacks it. */
	synack = attach__possible(kind, &synack_point, why, sizeof(why));
	if (synack)
		p_info("SYN-ACK retransmits: %s tcp:tcp_retransmit_synack", attach__name(kind));
	else
		p_warn("SYN-ACK retransmits are not traced: %s", why);
	owners = sk_store || attach__possible(kind, &state_point, why, sizeof(why));
	if (!owners && owner_filter) {
		p_err("%s: socket owners cannot be followed on this kernel (sock:inet_sock_set_state: "
		      "%s); filter by --cgroup instead",
		      env.c.pid ? "-p" : env.c.container ? "--container" : "--mntns", why);
		return 1;
	}
	if (owners)
		p_info("socket owners: %s sock:inet_sock_set_state, kept %s", attach__name(kind),
		       sk_store ? "on the socket (sk_storage)" : "in a table by socket address");
	else
		p_warn("socket owners are not followed (sock:inet_sock_set_state: %s): OWNER is "
		       "unknown", why);
	if (env.loss_probes)
		p_info("tail loss probes: %s tcp_send_loss_probe", attach__name(tlp_kind));

	LIBBPF_OPTS(bpf_object_open_opts, open_opts,
		    .btf_custom_path = TOOL_CORE_BTF(&env.c, tcpretrans_bpf));
	skel = tcpretrans_bpf__open_opts(&open_opts);
	if (!skel) {
		err = -errno;
		p_bpf_err("opening BPF object", err);
		goto cleanup;
	}
	skel->rodata->count_mode = env.count;
	skel->rodata->filter_family = env.family;
	bpf_program__set_autoload(skel->progs.retrans_raw, kind == ATTACH_RAW_TP);
	bpf_program__set_autoload(skel->progs.retrans_btf_sk, sk_store);
	bpf_program__set_autoload(skel->progs.retrans_btf, !sk_store && kind == ATTACH_TP_BTF);
	bpf_program__set_autoload(skel->progs.retrans_tp, kind == ATTACH_TRACEPOINT);
	bpf_program__set_autoload(skel->progs.synack_raw, synack && kind == ATTACH_RAW_TP);
	bpf_program__set_autoload(skel->progs.synack_btf_sk, synack && sk_store);
	bpf_program__set_autoload(skel->progs.synack_btf,
				  synack && !sk_store && kind == ATTACH_TP_BTF);
	bpf_program__set_autoload(skel->progs.synack_tp, synack && kind == ATTACH_TRACEPOINT);
	bpf_program__set_autoload(skel->progs.tlp_fentry_sk, sk_store && tlp_kind == ATTACH_FENTRY);
	bpf_program__set_autoload(skel->progs.tlp_fentry, !sk_store && tlp_kind == ATTACH_FENTRY);
	bpf_program__set_autoload(skel->progs.tlp_kprobe, tlp_kind == ATTACH_KPROBE);
	bpf_program__set_autoload(skel->progs.state_btf_sk, owners && sk_store);
	bpf_program__set_autoload(skel->progs.state_btf,
				  owners && !sk_store && kind == ATTACH_TP_BTF);
	bpf_program__set_autoload(skel->progs.state_raw, owners && kind == ATTACH_RAW_TP);
	bpf_program__set_autoload(skel->progs.state_tp, owners && kind == ATTACH_TRACEPOINT);
	/* Only one way of keeping owners is used: the other's tables stay minimal. */
	if (sk_store || !owners) {
		bpf_map__set_max_entries(skel->maps.owner_hash, 1);
		bpf_map__set_max_entries(skel->maps.listeners, 1);
	}
	err = tool__load(skel->skeleton, &env.c,
			 env.count ? TCPRETRANS_COUNT_RING_BYTES : TCPRETRANS_RING_BYTES);
	if (err)
		goto cleanup;
	hits_open(&ctx.hits, skel);

	if (env.family == AF_INET) {
		columns[COL_LOCAL].width = columns[COL_REMOTE].width = INET_ENDPOINT4_WIDTH;
		count_columns[CCOL_LOCAL].width = INET_ENDPOINT4_WIDTH;
		count_columns[CCOL_REMOTE].width = INET_ENDPOINT4_WIDTH;
	}
	if (!env.loss_probes)
		count_columns[CCOL_TLP].flags |= OUT_HIDE;
	ctx.idn = identity__new(&env.c, env.count ? count_columns : columns,
				env.count ? CCOL_NSPID : COL_NSPID);
	if (!ctx.idn) {
		err = -errno;
		p_err("out of memory");
		goto cleanup;
	}
	if (!env.count) {
		err = tool__run_events(&(struct tool_events){
			.skeleton = skel->skeleton, .columns = columns, .ncols = NCOLS,
			.json = env.c.json, .out = &ctx.out, .handler = handle_event, .ctx = &ctx,
			.what = env.loss_probes ? "TCP retransmits and tail loss probes"
						: "TCP retransmits",
			.duration_ms = env.c.duration_ms,
			.attached = hits_start, .detaching = hits_stop });
		if (!err)
			report_not_counted(skel, &env, &ctx.hits);
		goto cleanup;
	}

	o = out__new(stdout, env.c.json, count_columns, NCCOLS);
	if (!o) {
		err = -ENOMEM;
		p_err("out of memory");
		goto cleanup;
	}
	err = tcpretrans_bpf__attach(skel);
	if (err) {
		p_bpf_err("attaching BPF programs", err);
		goto cleanup;
	}
	hits_start(&ctx);
	om.env = &env;
	om.counts = (const void *)skel->bss->state_counts;
	om.hits = &ctx.hits;
	/* An empty exposition first: a bad path fails before tracing starts. */
	err = count_tick(&om);
	if (err)
		goto cleanup;
	tool__ready(env.loss_probes ? "TCP retransmits and tail loss probes, counting per flow"
				    : "TCP retransmits, counting per flow");
	/* Without --openmetrics one tick at the end: after -d, or at the signal (final_tick);
	 * with it, one a second and the last at the end. */
	err = loop__interval(env.om_path ? OM_WRITE_MS
			     : env.c.duration_ms ? env.c.duration_ms : 366ull * 86400 * 1000,
			     env.om_path ? 0 : 1, env.c.duration_ms, true, count_tick, &om);
	hits_stop(&ctx);
	/* The exposition's last word has the exact count. */
	if (!err && ctx.hits.skipped)
		err = count_tick(&om);
	if (!err)
		err = print_counts(skel, o, ctx.idn);
	if (!err)
		report_not_counted(skel, &env, &ctx.hits);
	loop__flush();

cleanup:
	for (i = 0; i < TCPRETRANS_HIT_KINDS; i++)
		tp_count__close(&ctx.hits.tc[i]);
	out__free(o);
	tcpretrans_bpf__destroy(skel);
	identity__free(ctx.idn);
	return err ? 1 : 0;
}
