/* One ELF file's function symbols, with separate debug files. */
#ifndef COMMON_SYMS_ELFSYMS_H
#define COMMON_SYMS_ELFSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symtab.h"

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

enum elf_syms_source elf_syms__source(const struct elf_syms *es);

/* Path of the separate debug file the symbols came from, or NULL. */
const char *elf_syms__debug_file(const struct elf_syms *es);

/* Sets *id to the NT_GNU_BUILD_ID bytes and returns their length; 0 if the file has none. */
size_t elf_syms__build_id(const struct elf_syms *es, const unsigned char **id);

/* The separate debug file of ELF file e (libelf's Elf *) found by its build-id under
 * debug_dir (NULL: "/usr/lib/debug"; "": none), opened as elf_syms__open() does and checked
 * to carry the same build-id: a read-only descriptor, or -ENOENT (or another -errno). */
struct Elf;
int elf_debug_file__open_by_build_id(struct Elf *e, const char *debug_dir);

/* The addresses [*lo, *hi) of ELF file e's .plt; false if it has none. */
bool elf_plt_range(struct Elf *e, uint64_t *lo, uint64_t *hi);

/* ---- .gnu_debuglink (inner parts, for tests and fuzzing) ---- */

/* The name and CRC32 a .gnu_debuglink section holds (data[0..size), in the file's byte
 * order). -EINVAL unless the name is a plain file name: not empty, at most NAME_MAX bytes,
 * NUL-terminated inside the section, no '/', not "." or "..". */
int elf_debuglink__parse(const void *data, size_t size, bool big_endian, const char **name,
			 uint32_t *crc);

/* Looks for debuglink name, as gdb does: in the directory of path (the binary as its
 * process sees it, under root), in its .debug/ subdirectory, and under debug_dir plus that
 * directory (debug_dir NULL: not there). A candidate is opened as untrusted (no link
 * followed in the binary's directories, no blocking, a regular file of bounded size), read
 * (not mapped) for its CRC32, which must equal crc, and then offered to accept (NULL: any),
 * which takes the descriptor either way and says whether it will do. Returns the
 * descriptor (accept's, when given) and sets *found to the malloc'd path; -ENOENT. */
int elf_debuglink__open(const char *name, uint32_t crc, const char *path, const char *root,
			const char *debug_dir, bool (*accept)(int fd, void *ctx), void *ctx,
			char **found);

#endif
