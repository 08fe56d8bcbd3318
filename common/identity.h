/* The identity part of every record, the same on every tool: which container (and cgroup,
 * pod, mount namespace) an event came from, its PID inside the container, and when it
 * happened in wall-clock time. A tool adds two columns to its table, IDENTITY_COL_NSPID at
 * index col and IDENTITY_COL_CONTAINER after it (shown in text with --containers), and for each record
 * calls identity__print() where those columns are. JSON always carries them, and the keys
 * timestamp, cgroup_id, cgroup, container_runtime, pod_uid, mntns and ns_tid; the
 * container's keys are null for host processes. */
#ifndef COMMON_IDENTITY_H
#define COMMON_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include "ident.h"
#include "out.h"

struct cli_common;
struct json_writer;

#define IDENTITY_COL_CONTAINER { "CONTAINER", "container_id", 12, OUT_LEFT | OUT_HIDE_TEXT }
#define IDENTITY_COL_NSPID { "NSPID", "ns_pid", 7, OUT_HIDE_TEXT }

struct identity;

/* Shows the two columns at cols[col] (NSPID) and cols[col + 1] (CONTAINER) in text when --containers was
 * given (cols NULL: a tool without those columns, which only keeps records). Returns NULL
 * with errno set on allocation failure. */
struct identity *identity__new(const struct cli_common *c, struct out_col *cols, int col);
void identity__free(struct identity *idn);

/* The NSPID and CONTAINER cells of an event of host process pid (0 when it has none, such
 * as a socket's owner), in JSON with the other identity keys; ts_ns is the event's
 * CLOCK_MONOTONIC time (0: none). */
void identity__print(struct identity *idn, struct out *o, const struct ident *id, uint32_t pid,
		     uint64_t ts_ns);

/* An identity resolved once and kept to the end of the run, for records that outlive their
 * events (profile's stack counts): named while the process still runs, and never evicted
 * (the resolver's own cache may be). Kept records are interned: one per distinct identity,
 * compared by pointer, valid until identity__free(). */
struct identity_rec {
	struct ident id;       /* ns_tid 0: a record of a process, not of one thread */
	const char *cgroup;    /* cgroup v2 path, NULL when unknown */
	const char *container; /* the container's id or name, NULL on the host */
	const char *label;     /* container as the CONTAINER column shows it, NULL on the host */
	const char *runtime;   /* NULL on the host */
	const char *pod_uid;   /* NULL when none */
	const char *source;    /* "cgroup2", "cgroup1", NULL on the host */
};

/* The kept identity of process pid (0: none to ask) with ids *id. by_container: only the
 * container (every id zero, no cgroup), so that records of one container merge whatever
 * cgroup or namespace they came from. NULL with errno set on allocation failure. */
const struct identity_rec *identity__keep(struct identity *idn, const struct ident *id,
					  uint32_t pid, bool by_container);

/* A kept record's identity keys, the same as identity__print() writes: ns_pid,
 * container_id, container_runtime, pod_uid, container_source, cgroup_id, cgroup, mntns,
 * ns_tid (null). */
void identity__json(struct json_writer *w, const struct identity_rec *rec);

#endif
