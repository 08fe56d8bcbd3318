#include "identity.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "container.h"
#include "htab.h"
#include "json.h"

struct identity {
	struct container_resolver *r;
	int col;
	struct htab kept;  /* identity__keep: key -> struct identity_rec, one allocation each */
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
	if (c->containers && cols) {
		cols[col].flags &= ~OUT_HIDE_TEXT;
		cols[col + 1].flags &= ~OUT_HIDE_TEXT;
	}
	return idn;
}

void identity__free(struct identity *idn)
{
	struct htab_ent *e;

	if (!idn)
		return;
	for (e = NULL; (e = htab__next(&idn->kept, e));)
		free(e->val.ptr);
	htab__free(&idn->kept);
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

static void key_u64_or_null(struct json_writer *w, const char *key, uint64_t v)
{
	json_key(w, key);
	if (v)
		json_u64(w, v);
	else
		json_null(w);
}

static const char *source_name(const struct container_info *ci)
{
	switch (ci->source) {
	case CONTAINER_SRC_CGROUP2:
		return "cgroup2";
	case CONTAINER_SRC_CGROUP1:
		return "cgroup1";
	default:
		return NULL;
	}
}

/* How many bytes of a container id the CONTAINER column shows: 12 of a 64-digit id, as
 * `docker ps` does; a name whole. */
static size_t label_len(const char *id)
{
	return strlen(id) == 64 ? 12 : strlen(id);
}

/* The keys after ns_pid and container_id, the same for events and kept records. */
static void json_rest(struct json_writer *w, const char *runtime, const char *pod_uid,
		      const char *source, const struct ident *id, const char *cgroup)
{
	key_str_or_null(w, "container_runtime", runtime);
	key_str_or_null(w, "pod_uid", pod_uid);
	key_str_or_null(w, "container_source", source);
	json_key(w, "cgroup_id");
	json_u64(w, id->cgroup_id);
	key_str_or_null(w, "cgroup", cgroup);
	key_u64_or_null(w, "mntns", id->mntns);
	key_u64_or_null(w, "ns_tid", id->ns_tid);
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
	else if (w)
		out__cstr(o, idn->col + 1, ci->ref.id);
	else
		out__str(o, idn->col + 1, ci->ref.id, label_len(ci->ref.id));
	if (!w)
		return;
	json_rest(w, in_ctr ? ci->ref.runtime : NULL, in_ctr ? ci->ref.pod_uid : NULL,
		  source_name(ci), id, ci->cgroup);
	if (ts_ns) {
		char ts[48];

		out__rfc3339(ts, sizeof(ts), ts_ns);
		json_key(w, "timestamp");
		json_str(w, ts);
	}
}

/* Appends s (NULL stays NULL) to a kept record's strings at *p. */
static const char *put(char **p, const char *s, size_t len)
{
	char *d = *p;

	if (!s)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	*p += len + 1;
	return d;
}

const struct identity_rec *identity__keep(struct identity *idn, const struct ident *id,
					  uint32_t pid, bool by_container)
{
	const struct container_info *ci =
		container_resolver__get(idn->r, id->cgroup_id, id->mntns, pid);
	bool in_ctr = ci->source != CONTAINER_SRC_NONE;
	const char *ctr = in_ctr ? ci->ref.id : NULL;
	const char *pod = in_ctr && ci->ref.pod_uid[0] ? ci->ref.pod_uid : NULL;
	const char *cgroup = by_container ? NULL : ci->cgroup;
	/* The key: the ids kept, then the container's id (the resolver's answer for the same
	 * ids may change when its cache is emptied and the cgroup is gone). */
	struct {
		struct ident id;
		uint32_t by_container;
		char ctr[CONTAINER_ID_MAX];
	} key;
	size_t klen, need;
	struct identity_rec *rec;
	struct htab_ent *e;
	char *p;

	memset(&key, 0, sizeof(key));
	if (!by_container) {
		key.id = *id;
		key.id.ns_tid = 0;
		key.id.pad = 0;
	}
	key.by_container = by_container;
	if (ctr)
		snprintf(key.ctr, sizeof(key.ctr), "%s", ctr);
	klen = offsetof(typeof(key), ctr) + strlen(key.ctr) + 1;
	e = htab__get(&idn->kept, &key, klen, false);
	if (e)
		return e->val.ptr;
	need = sizeof(*rec) + (ctr ? 2 * (strlen(ctr) + 1) : 0) + (pod ? strlen(pod) + 1 : 0) +
	       (cgroup ? strlen(cgroup) + 1 : 0);
	rec = calloc(1, need);
	if (!rec)
		return NULL;
	rec->id = key.id;
	p = (char *)(rec + 1);
	rec->container = put(&p, ctr, ctr ? strlen(ctr) : 0);
	rec->label = put(&p, ctr, ctr ? label_len(ctr) : 0);
	rec->pod_uid = put(&p, pod, pod ? strlen(pod) : 0);
	rec->cgroup = put(&p, cgroup, cgroup ? strlen(cgroup) : 0);
	rec->runtime = in_ctr ? ci->ref.runtime : NULL;
	rec->source = source_name(ci);
	e = htab__get(&idn->kept, &key, klen, true);
	if (!e) {
		free(rec);
		errno = ENOMEM;
		return NULL;
	}
	e->val.ptr = rec;
	return rec;
}

void identity__json(struct json_writer *w, const struct identity_rec *rec)
{
	key_u64_or_null(w, "ns_pid", rec->id.ns_pid);
	key_str_or_null(w, "container_id", rec->container);
	json_rest(w, rec->runtime, rec->pod_uid, rec->source, &rec->id, rec->cgroup);
}
