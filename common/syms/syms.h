/* Symbolization of kernel and user-space addresses, for tools that print stacks (profile, ...).
 *
 * Kernel: ksyms__load() parses /proc/kallsyms once into one sorted array; lookups are a binary
 * search.
 *
 * User space: a syms_cache maps a pid to a struct syms (that process's executable mappings)
 * and shares one symbol table per ELF file (keyed by device, inode, size and mtime) between
 * all processes, so 1,000 processes of one binary cost one table. Tables are parsed lazily,
 * on the first lookup that needs them. syms_cache__prepare() captures, while the process is
 * alive, what its later lookups need (its maps, an open handle on each new file, its root and
 * its JIT perf map), so the frames of a process that exits before stacks are printed still
 * resolve.
 *
 * Nothing here is thread-safe: use one cache per thread, or hold a lock around every call.
 * Functions returning int return 0 or a negative errno; constructors return NULL and set
 * errno. Returned strings and struct sym pointers stay valid until the object that produced
 * them is freed (for a syms, until its cache is freed or the pid is forgotten).
 *
 * This is the symbolizer's one public header. Its parts, each depending only on those before
 * it: util.h (file reads, parsing helpers), symtab.h (sorted function tables), perfmap.h,
 * procmaps.h, elfsyms.h (one ELF file and its debug file), then ksyms.c and syms.c behind
 * this header. Tests and fuzz targets include the inner headers directly. unwind.h, on
 * procmaps.h, unwinds user stacks by call-frame information (the addresses this header
 * then names).
 */
#ifndef COMMON_SYMS_SYMS_H
#define COMMON_SYMS_SYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sym;

/* ---- Kernel symbols (/proc/kallsyms) ------------------------------------------------- */

/* module is NULL for vmlinux symbols, else the name inside "[...]" ("ext4", "bpf",
 * "__builtin__ftrace"). */
struct ksym {
	uint64_t addr;
	const char *name;
	const char *module;
};

struct ksyms;

/* Parses /proc/kallsyms. Lines with address 0 are skipped: if every address is 0 (the
 * reader lacks CAP_SYSLOG, or kernel.kptr_restrict=2) it returns NULL with errno EPERM, so
 * the caller can say "run as root or lower kernel.kptr_restrict". ENODATA: no symbols. */
struct ksyms *ksyms__load(void);

/* Same as ksyms__load() on another file in kallsyms format (tests, saved copies). */
struct ksyms *ksyms__load_file(const char *path);

/* Same on text in memory (need not be NUL-terminated). Input order does not matter. */
struct ksyms *ksyms__parse(const char *buf, size_t len);

void ksyms__free(struct ksyms *ksyms);

/* The symbol at or before addr (kallsyms has no sizes: an address past the last symbol of a
 * region still maps to that symbol). Sets *offset (if not NULL) to addr - symbol address.
 * Of several symbols at one address, a global text symbol without a leading '_' is
 * preferred. NULL if addr is below the first symbol. */
const struct ksym *ksyms__map_addr(const struct ksyms *ksyms, uint64_t addr, uint64_t *offset);

/* First symbol with this exact name, or NULL. A linear scan: for setup, not per event. */
const struct ksym *ksyms__get_symbol(const struct ksyms *ksyms, const char *name);

size_t ksyms__count(const struct ksyms *ksyms);

/* ---- Per-process symbolization -------------------------------------------------------- */

struct syms_cache_opts {
	size_t sz;  /* sizeof(struct syms_cache_opts): LIBBPF_OPTS(syms_cache_opts, o, ...) */
	/* Root of separate debug files. NULL: "/usr/lib/debug"; "": none. */
	const char *debug_dir;
	/* Files held open so they can be read after their process exits or they are deleted.
	 * Past this, a file that can be reopened by path is closed and reopened when needed, and
	 * one that cannot is parsed at once. 0: 64 (at most a quarter of RLIMIT_NOFILE). */
	unsigned int max_open_files;
	/* Symbol tables no process uses any more, kept in case the binary runs again. Past
	 * this, the least recently released are freed. 0: 64. */
	unsigned int max_unused_files;
	size_t :0;
};

struct syms_cache;
struct syms;

/* opts may be NULL. */
struct syms_cache *syms_cache__new(const struct syms_cache_opts *opts);
void syms_cache__free(struct syms_cache *cache);

/* Call when a pid is first seen (an event from it, a new stack id), while it still runs:
 * reads /proc/PID/maps, finds each executable file through /proc/PID/root (or, when deleted
 * or replaced, /proc/PID/map_files/<start>-<end>, or /proc/PID/exe), and keeps what a later
 * lookup needs. Cheap: no symbol table is parsed (unless the open-file budget is spent).
 * Does nothing if the pid is already known. -ESRCH: the process is gone; -EACCES/-EPERM:
 * no permission to read its maps. */
int syms_cache__prepare(struct syms_cache *cache, pid_t pid);

/* The pid's syms, prepared now if not yet known; NULL with errno as for prepare. */
struct syms *syms_cache__get_syms(struct syms_cache *cache, pid_t pid);

/* Drops what is known about pid (call on exit, or on exec: a new image needs a new
 * prepare). Symbol tables other processes use stay. */
void syms_cache__forget(struct syms_cache *cache, pid_t pid);

/* Like forget, for a pid whose earlier addresses still need its earlier image (it ran
 * exec, or was replaced by another process with the same pid, and stacks from before are
 * not symbolized yet): the next prepare or get_syms of pid reads it afresh, while a struct
 * syms obtained before keeps resolving addresses as the process was. Its maps are frozen:
 * no more re-reads of /proc/PID/maps or of its perf map, which now describe another image.
 * A retired syms lives until syms_cache__release() or the cache is freed. Does nothing if
 * the pid is not known. */
void syms_cache__retire(struct syms_cache *cache, pid_t pid);

/* Frees syms, which this cache returned: a retired one, or the pid's current one (the pid
 * is then forgotten, as by forget). For a caller done with a process image. NULL: no-op. */
void syms_cache__release(struct syms_cache *cache, struct syms *syms);

struct syms_cache_stats {
	size_t pids;        /* processes known (retired ones not counted) */
	size_t files;       /* distinct ELF files (and vdso images) known */
	size_t loaded;      /* of those, symbol tables parsed */
	size_t open_files;  /* file descriptors held for lazy loading */
	/* Files refused as a user could have planted them: a link where a file was expected,
	 * not a regular file (a FIFO), larger than the limit (4 GiB for ELF files, 64 MiB for
	 * perf maps), or a perf map owned by another user. Their frames show module+offset. */
	size_t refused;
};
void syms_cache__stats(const struct syms_cache *cache, struct syms_cache_stats *stats);

/* What an address is. When name is NULL the caller prints "[unknown]" and, if module is
 * set, "module+0x<module_offset>". */
struct sym_info {
	const char *name;        /* function name, or NULL */
	uint64_t sym_offset;     /* addr - start of the function */
	const char *module;      /* the mapped file's path as the process saw it, "[vdso]", the
				  * perf map's path for JIT code; NULL outside any mapping */
	uint64_t module_offset;  /* offset of addr in the mapped file (address for perf maps) */
	const struct sym *sym;   /* the symbol itself (its addr is an ELF virtual address) */
	const unsigned char *build_id;  /* the mapped ELF file's GNU build-id, when it has one */
	size_t build_id_len;
};

/* Symbolizes a user-space address of the process. Parses the needed symbol table on first
 * use. If addr is in no known mapping and the process still runs, re-reads its maps (at most
 * once a second) to find libraries loaded since prepare. Addresses in memory without an ELF
 * file (anonymous, memfd) are looked up in the process's perf map (/tmp/perf-<pid>.map in
 * its root, named by its pid in its own namespace; only a regular file owned by the
 * process's user), re-read when it grew, at most once a second. Returns 0 when a symbol
 * was found; -ENOENT otherwise, with info->module and module_offset still set when known. */
int syms__map_addr_info(struct syms *syms, uint64_t addr, struct sym_info *info);


/* What a lazy-binding stub's name ends with, after its target's name ("memset@plt"). */
#define SYMS_PLT_SUFFIX "@plt"

/* The demangled form of a C++ ("_Z...") or Rust ("_ZN...17h<hash>E", "_R...") function name,
 * or of a stub's target, suffix kept; malloc'd; NULL when the name is not mangled or cannot
 * be demangled. */
char *syms__demangle(const char *name);

#endif
