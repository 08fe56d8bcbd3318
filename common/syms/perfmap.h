/* JIT perf maps (/tmp/perf-PID.map). */
#ifndef COMMON_SYMS_PERFMAP_H
#define COMMON_SYMS_PERFMAP_H

#include <stddef.h>
#include <stdint.h>

#include "symtab.h"

/* Parses a perf map text into a table. */
int perf_map_parse_tab(const char *buf, size_t len, struct symtab *tab);

struct perf_map;

/* Parses a perf map: lines "START SIZE name" with START and SIZE in hex (an optional 0x),
 * name to the end of the line (may hold spaces). Malformed lines are skipped. When entries
 * overlap at one start address the later line wins (a JIT reusing memory appends). */
struct perf_map *perf_map__parse(const char *buf, size_t len);
void perf_map__free(struct perf_map *pm);

/* The entry containing addr, or NULL; *offset (if not NULL) = addr - sym->addr. */
const struct sym *perf_map__map_addr(const struct perf_map *pm, uint64_t addr, uint64_t *offset);
size_t perf_map__count(const struct perf_map *pm);

#endif
