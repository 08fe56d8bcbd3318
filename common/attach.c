#include "attach.h"

#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "cli.h"
#include "escape.h"
#include "log.h"
#include "probe.h"

static const char *const kind_names[ATTACH__NR] = {
	[ATTACH_AUTO] = "auto",
	[ATTACH_RAW_TP] = "raw_tp",
	[ATTACH_TP_BTF] = "tp_btf",
	[ATTACH_TRACEPOINT] = "tracepoint",
	[ATTACH_FENTRY] = "fentry",
	[ATTACH_KPROBE] = "kprobe",
};

const char *attach__name(enum attach_kind kind)
{
	return kind < ATTACH__NR ? kind_names[kind] : "?";
}

enum attach_kind attach__parse(const char *arg, unsigned allowed)
{
	char accepted[128] = "auto", shown[128];
	size_t n = strlen(accepted);
	int k;

	for (k = ATTACH_AUTO; k < ATTACH__NR; k++)
		if (strcmp(arg, kind_names[k]) == 0 &&
		    (k == ATTACH_AUTO || (allowed & ATTACH_MASK(k))))
			return k;
	for (k = ATTACH_AUTO + 1; k < ATTACH__NR; k++)
		if (allowed & ATTACH_MASK(k))
			n += snprintf(accepted + n, n < sizeof(accepted) ? sizeof(accepted) - n : 0,
				      ", %s", kind_names[k]);
	escape_text(shown, sizeof(shown), arg, strlen(arg), 0);
	cli__usage_error("invalid attach kind '%s': must be one of %s", shown, accepted);
}

/* Every function of the fentry/kprobe fallback is in the kernel's BTF (not inlined away or
 * renamed in this version). */
static bool funcs_exist(const struct attach_point *p, char *why, size_t why_size)
{
	const char *const *f;

	if (!p->funcs || !p->funcs[0]) {
		snprintf(why, why_size, "no kernel function to attach to");
		return false;
	}
	for (f = p->funcs; *f; f++) {
		if (!probe__btf_type(*f)) {
			snprintf(why, why_size, "no kernel function %s", *f);
			return false;
		}
	}
	return true;
}

bool attach__possible(enum attach_kind kind, const struct attach_point *p, char *why,
		      size_t why_size)
{
	const char *const *f;
	char dummy[1];

	if (!why) {
		why = dummy;
		why_size = sizeof(dummy);
	}
	switch (kind) {
	case ATTACH_TP_BTF:
		if (p->tp_name && probe__tp_btf(p->tp_name))
			return true;
		snprintf(why, why_size, "no BTF-typed tracepoint %s (needs Linux 5.5+ with BTF)",
			 p->tp_name ? p->tp_name : "for this");
		return false;
	case ATTACH_RAW_TP:
		if (p->tp_name && probe__raw_tp(p->tp_name))
			return true;
		snprintf(why, why_size, "no raw tracepoint %s (needs Linux 4.17+)",
			 p->tp_name ? p->tp_name : "for this");
		return false;
	case ATTACH_TRACEPOINT:
		if (p->tp_name && probe__tracepoint(p->tp_category, p->tp_name))
			return true;
		if (p->tp_name && !probe__tracefs())
			snprintf(why, why_size, "tracefs is not mounted and could not be mounted");
		else
			snprintf(why, why_size, "no tracepoint %s:%s on this kernel",
				 p->tp_category ? p->tp_category : "?",
				 p->tp_name ? p->tp_name : "?");
		return false;
	case ATTACH_FENTRY:
		if (!funcs_exist(p, why, why_size))
			return false;
		for (f = p->funcs; *f; f++) {
			if (!probe__fentry(*f)) {
				snprintf(why, why_size, "fentry on %s is refused by this kernel",
					 *f);
				return false;
			}
		}
		return true;
	case ATTACH_KPROBE:
		if (!funcs_exist(p, why, why_size))
			return false;
		if (!probe__kprobes()) {
			snprintf(why, why_size, "kprobes are not available (CONFIG_KPROBES)");
			return false;
		}
		return true;
	default:
		snprintf(why, why_size, "no attach kind chosen");
		return false;
	}
}

enum attach_kind attach__pick(enum attach_kind forced, const enum attach_kind *order,
			      const struct attach_point *p)
{
	char why[160];

	if (forced != ATTACH_AUTO) {
		if (attach__possible(forced, p, why, sizeof(why)))
			return forced;
		p_err("--attach %s: not possible here: %s", attach__name(forced), why);
		return ATTACH_AUTO;
	}
	for (; *order != ATTACH_AUTO; order++)
		if (attach__possible(*order, p, NULL, 0))
			return *order;
	return ATTACH_AUTO;
}

void attach__select(const struct attach_prog *progs, size_t n, enum attach_kind kind)
{
	size_t i;

	for (i = 0; i < n; i++)
		bpf_program__set_autoload(progs[i].prog, progs[i].kind == kind);
}
