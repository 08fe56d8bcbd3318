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
 */
#ifndef COMMON_SYMS_H
#define COMMON_SYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- Symbols ------------------------------------------------------------------------- */

/* One function. addr is the ELF virtual address (absolute for ET_EXEC, load-relative for PIE
 * and shared objects; the absolute address for perf-map entries). A symbol without a size in
 * the file extends to the next symbol or the end of its section, whichever comes first; if
 * neither is known, size is 0 and only addr itself matches. */
struct sym {
	const char *name;
	uint64_t addr;
	uint64_t size;
};

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

/* ---- /proc/PID/maps parser ----------------------------------------------------------- */

enum procmap_flags {
	PROCMAP_READ    = 1u << 0,
	PROCMAP_WRITE   = 1u << 1,
	PROCMAP_EXEC    = 1u << 2,
	PROCMAP_SHARED  = 1u << 3,  /* 's' in perms; 'p' (private) otherwise */
	PROCMAP_FILE    = 1u << 4,  /* path names a file ("/..."), including /memfd: files */
	PROCMAP_DELETED = 1u << 5,  /* a " (deleted)" suffix was removed from path */
	PROCMAP_ANON    = 1u << 6,  /* no file: no path, [heap], [stack...], [anon:...] */
	PROCMAP_VDSO    = 1u << 7,  /* [vdso] */
	PROCMAP_PSEUDO  = 1u << 8,  /* any "[...]" name the kernel gives (vdso, vvar, heap, ...) */
};

/* One line of /proc/PID/maps. path is not NUL-terminated: it points into the parsed text,
 * path_len bytes long, without the " (deleted)" suffix; "" (length 0) for anonymous memory.
 * The kernel escapes a newline in a file name as "\012"; path keeps that spelling. */
struct procmap {
	uint64_t start, end;
	uint64_t offset;       /* file offset of start */
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	uint32_t flags;        /* enum procmap_flags */
	const char *path;
	size_t path_len;
};

/* Parses one line (a trailing '\n' is allowed). -EINVAL if it is not a maps line. */
int procmap__parse_line(const char *line, size_t len, struct procmap *map);

/* Called for each mapping; a non-zero return stops the walk and is returned. */
typedef int (*procmap_cb)(const struct procmap *map, void *ctx);

/* Parses every line of buf[0..len). Returns 0, cb's non-zero value, or -EINVAL at the first
 * malformed line. Pure: no I/O. */
int procmaps__parse(const char *buf, size_t len, procmap_cb cb, void *ctx);

/* Same, reading f to its end. -errno on a read error. */
int procmaps__parse_file(FILE *f, procmap_cb cb, void *ctx);

/* ---- One ELF file's symbol table ------------------------------------------------------ */

enum elf_syms_source {
	ELF_SYMS_NONE,     /* no function symbols found */
	ELF_SYMS_SYMTAB,   /* the file's own .symtab */
	ELF_SYMS_DEBUG,    /* .symtab of a separate debug file (build-id or .gnu_debuglink) */
	ELF_SYMS_DYNSYM,   /* .dynsym only (stripped binary, no debug file found) */
};

struct elf_syms_opts {
	size_t sz;  /* sizeof(struct elf_syms_opts): LIBBPF_OPTS(elf_syms_opts, o, ...) */
	/* Root of separate debug files. NULL: "/usr/lib/debug"; "": do not look for debug files. */
	const char *debug_dir;
	/* The file's path as its process sees it: the directory .gnu_debuglink is searched in.
	 * elf_syms__open() uses its path argument when this is NULL. */
	const char *path;
	/* Prefix for that directory (e.g. "/proc/1234/root" for a process in a container). */
	const char *root;
	size_t :0;
};

struct elf_syms;

/* Reads the function symbols (STT_FUNC, STT_GNU_IFUNC, defined, non-zero address) of an ELF
 * file: its .symtab; if it has none, the .symtab of its debug file, found under debug_dir by
 * build-id (.build-id/xx/yyyy.debug, checked against the file's NT_GNU_BUILD_ID) or by
 * .gnu_debuglink (in the file's directory, its .debug/ subdirectory, and debug_dir plus the
 * directory; checked by CRC32); else its .dynsym. Also keeps the PT_LOAD program headers for
 * elf_syms__offset_to_vaddr(). The file is closed before it returns. opts may be NULL.
 * ENOEXEC: not an ELF file. */
struct elf_syms *elf_syms__open(const char *path, const struct elf_syms_opts *opts);

/* Same from an open file descriptor (not closed; its offset is not used). */
struct elf_syms *elf_syms__open_fd(int fd, const struct elf_syms_opts *opts);

/* Same from an ELF image in memory (a vdso); the image is not referenced after it returns.
 * No debug files are searched. */
struct elf_syms *elf_syms__open_mem(const void *image, size_t size);

void elf_syms__free(struct elf_syms *es);

/* Converts a file offset (a mapping's offset plus the distance into it) to the ELF virtual
 * address through the PT_LOAD segment holding it. -ENOENT if no segment holds it. */
int elf_syms__offset_to_vaddr(const struct elf_syms *es, uint64_t file_offset, uint64_t *vaddr);

/* The function containing ELF virtual address vaddr, or NULL. Sets *offset (if not NULL) to
 * vaddr - sym->addr. Of aliases at one address, a sized, global, non-'_' name is preferred. */
const struct sym *elf_syms__map_vaddr(const struct elf_syms *es, uint64_t vaddr, uint64_t *offset);

/* The lowest-addressed function with this exact name, or NULL. Only the preferred alias at
 * each address is kept, so another alias's name is not found. Version suffixes ("@@V") are
 * removed from names. A linear scan. */
const struct sym *elf_syms__find(const struct elf_syms *es, const char *name);

size_t elf_syms__count(const struct elf_syms *es);
enum elf_syms_source elf_syms__source(const struct elf_syms *es);

/* Path of the separate debug file the symbols came from, or NULL. */
const char *elf_syms__debug_file(const struct elf_syms *es);

/* Sets *id to the NT_GNU_BUILD_ID bytes and returns their length; 0 if the file has none. */
size_t elf_syms__build_id(const struct elf_syms *es, const unsigned char **id);

/* ---- JIT perf maps (/tmp/perf-PID.map) ------------------------------------------------ */

struct perf_map;

/* Parses a perf map: lines "START SIZE name" with START and SIZE in hex (an optional 0x),
 * name to the end of the line (may hold spaces). Malformed lines are skipped. When entries
 * overlap at one start address the later line wins (a JIT reusing memory appends). */
struct perf_map *perf_map__load(const char *path);
struct perf_map *perf_map__parse(const char *buf, size_t len);
void perf_map__free(struct perf_map *pm);

/* The entry containing addr, or NULL; *offset (if not NULL) = addr - sym->addr. */
const struct sym *perf_map__map_addr(const struct perf_map *pm, uint64_t addr, uint64_t *offset);
size_t perf_map__count(const struct perf_map *pm);

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
};

/* Symbolizes a user-space address of the process. Parses the needed symbol table on first
 * use. If addr is in no known mapping and the process still runs, re-reads its maps (at most
 * once a second) to find libraries loaded since prepare. Addresses in memory without an ELF
 * file (anonymous, memfd) are looked up in the process's perf map (/tmp/perf-<pid>.map in
 * its root, named by its pid in its own namespace; only a regular file owned by the
 * process's user), re-read when it grew, at most once a second. Returns 0 when a symbol
 * was found; -ENOENT otherwise, with info->module and module_offset still set when known. */
int syms__map_addr_info(struct syms *syms, uint64_t addr, struct sym_info *info);

/* The short form: the symbol or NULL. *module (if not NULL) is set as in sym_info; *offset (if
 * not NULL) is the offset into the symbol, or, when there is none, the module offset. */
const struct sym *syms__map_addr(struct syms *syms, uint64_t addr, const char **module,
				 uint64_t *offset);

pid_t syms__pid(const struct syms *syms);

#endif
