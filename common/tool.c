#include "tool.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "bpfobj.h"
#include "btfmin.h"
#include "check.h"
#include "evbuf.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "out.h"
#include "probe.h"

/* Start-up timer (-v): the start of tool__init, the last phase mark, and the probe time
 * already reported. */
static uint64_t phase_start_ns, phase_last_ns, phase_probe_ns;

/* The peak resident size so far (VmHWM), in kB; 0 if unknown. */
static unsigned long peak_kb(void)
{
	char line[128];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %lu", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

void tool__phase(const char *what)
{
	uint64_t now = loop__now_mono_ns();

	if (log__verbose() && phase_start_ns)
		p_info("phase %s: %.2f ms (%.2f ms since start, peak %lu kB)", what,
		       (now - phase_last_ns) / 1e6, (now - phase_start_ns) / 1e6, peak_kb());
	phase_last_ns = now;
}

/* The probes run between the tool's other steps: their time is reported as a phase of its
 * own and left out of the step that asked them. */
static void phase_with_probes(const char *what)
{
	uint64_t now = loop__now_mono_ns(), probes;
	unsigned n;

	probes = probe__elapsed_ns(&n) - phase_probe_ns;
	phase_probe_ns += probes;
	if (log__verbose() && phase_start_ns) {
		if (probes)
			p_info("phase probes (%u in all): %.2f ms", n, probes / 1e6);
		p_info("phase %s: %.2f ms (%.2f ms since start, peak %lu kB)", what,
		       (now - phase_last_ns - probes) / 1e6, (now - phase_start_ns) / 1e6,
		       peak_kb());
	}
	phase_last_ns = now;
}

/* With -v: how long the tool took from the stop signal to exit (detaching, the last
 * drain, the summary). */
static void report_stop_time(void)
{
	uint64_t sig = loop__stop_requested_ns();

	if (sig)
		p_info("stop: %.2f ms from the signal to exit", (loop__now_mono_ns() - sig) / 1e6);
}

/* With -v, after a stop signal: the time each step of the stop took ("stop phase drain:
 * X ms", from the signal for the first). */
static void stop_phase(const char *what)
{
	static uint64_t last;
	uint64_t now = loop__now_mono_ns(), sig = loop__stop_requested_ns();

	if (!sig || !log__verbose())
		return;
	p_info("stop phase %s: %.2f ms", what, (now - (last ? last : sig)) / 1e6);
	last = now;
}

int tool__init(const char *name, const struct cli_common *c)
{
	int err;

	phase_start_ns = phase_last_ns = loop__now_mono_ns();
	log__init(name, c->verbose, c->json);
	loop__init();
	if (c->check)
		check__begin(name, c->json);
	if (c->verbose)
		atexit(report_stop_time);
	err = bpfobj__check_env(c->btf_path);
	phase_with_probes("init");
	return err;
}

const char *tool__core_btf(const struct cli_common *c, const void *elf, size_t size)
{
	const char *path;

	if (c->btf_path)
		return c->btf_path;
	phase_with_probes("options");
	path = btfmin__path(elf, size);
	tool__phase("minimal kernel BTF");
	return path;
}

/* The tool's object, for --check's report of the programs it chose. */
static struct bpf_object *tool_obj;

int tool__before_load(struct bpf_object *obj, const struct cli_common *c, size_t ring_bytes)
{
	int err = bpfobj__apply_filters(obj, c);

	tool_obj = obj;
	if (!err)
		err = bpfobj__prealloc_where_needed(obj) < 0 ? -EINVAL : 0;
	if (err) {
		p_err("setting filters: %s", strerror(-err));
		return err;
	}
	if (ring_bytes) {
		err = evbuf__prepare(obj, ring_bytes);
		if (err) {
			p_err("setting up the event buffer: %s", strerror(-err));
			return err;
		}
	}
	return 0;
}

int tool__after_load(struct bpf_object *obj, const struct cli_common *c)
{
	return bpfobj__apply_cgroup(obj, c);
}

int tool__load(struct bpf_object_skeleton *skeleton, const struct cli_common *c,
	       size_t ring_bytes)
{
	struct bpf_object *obj = *skeleton->obj;
	int err;

	phase_with_probes("open and choose programs");
	err = tool__before_load(obj, c, ring_bytes);
	if (err)
		return err;
	/* The probes are done: free their BTF before libbpf parses its own copy. */
	probe__release();
	malloc_trim(0);
	phase_with_probes("filters and event buffer");
	err = bpf_object__load_skeleton(skeleton);
	probe__release();
	btfmin__release();
	/* Loading parsed the kernel's BTF (libbpf and our probes, tens of MiB, now freed):
	 * give that heap back so the tool's resident size is what it needs to run. */
	malloc_trim(0);
	if (err) {
		p_bpf_err("loading BPF programs", err);
		return err;
	}
	tool__phase("load (kernel BTF, relocation, verifier)");
	err = tool__after_load(obj, c);
	if (!err && c->cgroup)
		tool__phase("cgroup filter");
	return err;
}

void tool__ready(const char *what)
{
	phase_with_probes("attach");
	if (check__active())
		check__ready(tool_obj);
	fprintf(stderr, "Tracing %s... Hit Ctrl-C to end.\n", what);
}

/* One count at exit: "PROG: N WHAT" on stderr and {"KEY":N} as a JSON line. */
static void report_count(uint64_t n, const char *what, const char *key, struct out *o)
{
	if (!n)
		return;
	fprintf(stderr, "%s: %llu %s\n", log_prog_name, (unsigned long long)n, what);
	if (o && out__is_json(o)) {
		struct json_writer *w = out__json(o);

		json_obj_begin(w);
		json_key(w, key);
		json_u64(w, n);
		json_obj_end(w);
		json_writer__endl(w);
	}
}

void tool__report_unread(uint64_t unread, struct out *o)
{
	report_count(unread, "events arrived after the stop and were not printed",
		     "unread_events", o);
}

uint64_t tool__report_lost(struct evbuf *eb, struct out *o)
{
	uint64_t lost = eb ? evbuf__lost(eb) : 0;

	report_count(lost, "events lost (the consumer fell behind)", "lost_events", o);
	return lost;
}

uint64_t tool__report_drops(bool json, const struct tool_drop *drops, int n)
{
	struct json_writer w;
	uint64_t sum = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (!drops[i].n)
			continue;
		p_warn("%llu %s", (unsigned long long)drops[i].n, drops[i].what);
		sum += drops[i].n;
	}
	if (!sum || !json)
		return sum;
	json_writer__init(&w, stdout);
	json_obj_begin(&w);
	json_key(&w, "not_counted");
	json_obj_begin(&w);
	for (i = 0; i < n; i++) {
		if (!drops[i].n)
			continue;
		json_key(&w, drops[i].key);
		json_u64(&w, drops[i].n);
	}
	json_obj_end(&w);
	json_obj_end(&w);
	json_writer__endl(&w);
	return sum;
}

int tool__run_events(const struct tool_events *te)
{
	struct evbuf *eb;
	struct out *o;
	int err;

	o = out__new(stdout, te->json, te->columns, te->ncols);
	if (!o) {
		p_err("out of memory");
		return -ENOMEM;
	}
	*te->out = o;
	eb = evbuf__new(te->skeleton->obj ? *te->skeleton->obj : NULL, te->handler, te->ctx);
	if (!eb) {
		err = -errno;
		p_err("setting up the event buffer: %s", strerror(errno));
		goto out;
	}
	err = bpf_object__attach_skeleton(te->skeleton);
	if (err) {
		p_bpf_err("attaching BPF programs", err);
		goto out;
	}
	if (te->attached)
		te->attached(te->ctx);
	p_info("events through the %s", evbuf__kind(eb));
	if (!check__active())
		out__header(o);
	err = loop__flush();
	if (err) {
		/* stdout is gone or failed (said so): nothing to trace for. */
		err = err == -EPIPE ? 0 : err;
		goto out;
	}
	tool__ready(te->what);
	err = loop__events_tick(eb, te->duration_ms, &te->tick);
	stop_phase("drain");
	if (te->detaching)
		te->detaching(te->ctx);
	/* Detached first, so what is left in the ring is a fixed number to count. */
	bpf_object__detach_skeleton(te->skeleton);
	stop_phase("detach");
	tool__report_unread(evbuf__count_unread(eb), o);
	tool__report_lost(eb, o);
	report_count(bpfobj__missed_runs(*te->skeleton->obj), TOOL_MISSED_WHAT, "missed_events", o);
	loop__flush();
	stop_phase("count the rest and flush");
out:
	evbuf__free(eb);
	out__free(o);
	*te->out = NULL;
	return err;
}
