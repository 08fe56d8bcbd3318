/* Diagnostics: one line on stderr per problem, a libbpf print hook that stays quiet unless
 * verbose. Every tool calls log__init() once, right after parsing options. */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdbool.h>
#include <stdio.h>

/* Program name used as the prefix of every message ("opensnoop: ..."). */
extern const char *log_prog_name;

/* Installs the libbpf print hook: libbpf warnings and information with verbose >= 1, its
 * debug log (a thousand lines per load) with verbose >= 2.
 * In JSON mode, p_err() also writes {"error": "..."} as one line on stdout so a consumer of
 * the stream sees why it ended. */
void log__init(const char *prog_name, int verbose, bool json);

bool log__verbose(void);

/* "prog: message" on stderr, newline added. */
void p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message of the last p_err(), or NULL (for --check's verdict). */
const char *log__last_error(void);
/* "prog: warning: message" on stderr. */
void p_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: message" on stderr, only with -v. */
void p_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a failed libbpf/syscall step with a hint for the usual causes (privileges, BTF).
 * err is a negative errno as libbpf returns it. Returns nothing; callers exit non-zero. */
void p_bpf_err(const char *what, int err);

#endif
