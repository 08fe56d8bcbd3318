#include "identity.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "container.h"
#include "json.h"

struct identity {
	struct container_resolver *r;
	int col;
};

struct identity *identity__new(const struct cli_common *c, struct out_col *cols, int col)
{
	struct identity *idn = calloc(1, sizeof(*idn));

	if (!idn)
		return NULL;
	idn->r = container_resolver__new(NULL);
	if (!idn->r) {
		free(idn);
		return NULL;
	}
	idn->col = col;
	if (c->containers) {
		cols[col].flags &= ~OUT_HIDE_TEXT;
		cols[col + 1].flags &= ~OUT_HIDE_TEXT;
	}
	return idn;
}

void identity__free(struct identity *idn)
{
	if (!idn)
		return;
	container_resolver__free(idn->r);
	free(idn);
}

static void key_str_or_null(struct json_writer *w, const char *key, const char *s)
{
	json_key(w, key);
	if (s && *s)
		json_str(w, s);
	else
		json_null(w);
}

void identity__print(struct identity *idn, struct out *o, const struct ident *id, uint32_t pid,
		     uint64_t ts_ns)
{
	const struct container_info *ci =
		container_resolver__get(idn->r, id->cgroup_id, id->mntns, pid);
	bool in_ctr = ci->source != CONTAINER_SRC_NONE;
	struct json_writer *w = out__json(o);

	/* NSPID: in text only where it differs from the host's PID. */
	if (id->ns_pid && (w || id->ns_pid != pid))
		out__u64(o, idn->col, id->ns_pid);
	else
		out__none(o, idn->col);
	if (!in_ctr)
		out__none(o, idn->col + 1);
	else if (w || strlen(ci->ref.id) != 64)
		out__cstr(o, idn->col + 1, ci->ref.id);
	else
		out__str(o, idn->col + 1, ci->ref.id, 12); /* as `docker ps` shows it */
	if (!w)
		return;
	key_str_or_null(w, "container_runtime", in_ctr ? ci->ref.runtime : NULL);
	key_str_or_null(w, "pod_uid", in_ctr ? ci->ref.pod_uid : NULL);
	key_str_or_null(w, "container_source", in_ctr ? (ci->source == CONTAINER_SRC_CGROUP2
								 ? "cgroup2" : "cgroup1") : NULL);
	json_key(w, "cgroup_id");
	json_u64(w, id->cgroup_id);
	key_str_or_null(w, "cgroup", ci->cgroup);
	json_key(w, "mntns");
	if (id->mntns)
		json_u64(w, id->mntns);
	else
		json_null(w);
	json_key(w, "ns_tid");
	if (id->ns_tid)
		json_u64(w, id->ns_tid);
	else
		json_null(w);
	if (ts_ns) {
		char ts[48];

		out__rfc3339(ts, sizeof(ts), ts_ns);
		json_key(w, "timestamp");
		json_str(w, ts);
	}
}
