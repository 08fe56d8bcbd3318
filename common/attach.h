/* Choosing between a tool's alternative attach points at run time: the same facts traced
 * through a BTF-typed tracepoint, a raw or classic tracepoint, fentry or a kprobe, whichever
 * this kernel offers (best first), or the one the user forced with --attach KIND. */
#ifndef COMMON_ATTACH_H
#define COMMON_ATTACH_H

#include <stdbool.h>
#include <stddef.h>

struct bpf_program;

/* In order of preference: a raw tracepoint needs neither tracefs nor the kernel's BTF in
 * the tool's memory (libbpf 1.1 reads and copies all 5.5 MB of it to attach tp_btf, most of
 * a tool's peak memory) and detaches at once; tp_btf reads arguments directly but costs that
 * memory; a classic tracepoint needs tracefs and detaches in an RCU grace period; fentry and
 * kprobes follow kernel functions that may change. */
enum attach_kind {
	ATTACH_AUTO = 0, /* not chosen yet / nothing possible */
	ATTACH_RAW_TP,
	ATTACH_TP_BTF,
	ATTACH_TRACEPOINT,
	ATTACH_FENTRY,
	ATTACH_KPROBE,
	ATTACH__NR,
};

#define ATTACH_MASK(kind) (1u << (kind))

/* "raw_tp", "tp_btf", "tracepoint", "fentry", "kprobe" ("auto" for ATTACH_AUTO). */
const char *attach__name(enum attach_kind kind);

/* The value of --attach: "auto" or a kind in `allowed` (a mask of ATTACH_MASK bits). Anything
 * else is a usage error (one line, exit 2) that lists the accepted kinds. */
enum attach_kind attach__parse(const char *arg, unsigned allowed);

/* What one tool traces, named for each kind: the tracepoint CATEGORY:NAME (tp_btf and raw_tp
 * use NAME) and the kernel functions of its fentry/kprobe fallback (NULL-terminated; all are
 * needed). */
struct attach_point {
	const char *tp_category;
	const char *tp_name;
	const char *const *funcs;
};

/* Can programs of this kind attach to this point on the running kernel? When not, and why is
 * given, a short reason goes there ("kprobes are not available (CONFIG_KPROBES)"). May mount
 * tracefs (classic tracepoints) and loads trivial programs (tp_btf, fentry). */
bool attach__possible(enum attach_kind kind, const struct attach_point *p, char *why,
		      size_t why_size);

/* The kind to use. With `forced` (--attach; not ATTACH_AUTO): that kind if it is possible
 * here, else ATTACH_AUTO after one line on stderr: "--attach KIND: not possible here: WHY".
 * Without: the first kind of `order` (ended by ATTACH_AUTO) possible here, or ATTACH_AUTO
 * with nothing said (the tool explains what it needed). */
enum attach_kind attach__pick(enum attach_kind forced, const enum attach_kind *order,
			      const struct attach_point *p);

/* One program of a tool and the kind of attach point it is written for. */
struct attach_prog {
	struct bpf_program *prog;
	enum attach_kind kind;
};

/* Before load: only the programs of `kind` load (and so attach); the others are skipped. */
void attach__select(const struct attach_prog *progs, size_t n, enum attach_kind kind);

#endif
