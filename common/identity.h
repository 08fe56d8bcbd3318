/* The identity part of every record, the same on every tool: which container (and cgroup,
 * pod, mount namespace) an event came from, its PID inside the container, and when it
 * happened in wall-clock time. A tool adds two columns to its table, IDENTITY_COL_NSPID at
 * index col and IDENTITY_COL_CONTAINER after it (shown in text with --containers), and for each record
 * calls identity__print() where those columns are. JSON always carries them, and the keys
 * timestamp, cgroup_id, cgroup, container_runtime, pod_uid, mntns and ns_tid; the
 * container's keys are null for host processes. */
#ifndef COMMON_IDENTITY_H
#define COMMON_IDENTITY_H

#include <stdint.h>

#include "ident.h"
#include "out.h"

struct cli_common;

#define IDENTITY_COL_CONTAINER { "CONTAINER", "container_id", 12, OUT_LEFT | OUT_HIDE_TEXT }
#define IDENTITY_COL_NSPID { "NSPID", "ns_pid", 7, OUT_HIDE_TEXT }

struct identity;

/* Shows the two columns at cols[col] (NSPID) and cols[col + 1] (CONTAINER) in text when --containers was
 * given. Returns NULL with errno set on allocation failure. */
struct identity *identity__new(const struct cli_common *c, struct out_col *cols, int col);
void identity__free(struct identity *idn);

/* The NSPID and CONTAINER cells of an event of host process pid (0 when it has none, such
 * as a socket's owner), in JSON with the other identity keys; ts_ns is the event's
 * CLOCK_MONOTONIC time (0: none). */
void identity__print(struct identity *idn, struct out *o, const struct ident *id, uint32_t pid,
		     uint64_t ts_ns);

#endif
