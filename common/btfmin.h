/* A minimal kernel BTF for one BPF object's CO-RE relocations, generated on first use in a
 * child process and cached per kernel build id (see btfmin.c for why and what is kept). */
#ifndef COMMON_BTFMIN_H
#define COMMON_BTFMIN_H

#include <stddef.h>

struct btf;

/* Builds in *out the types of kern that the CO-RE relocations of the BPF ELF object
 * (elf, size) can reach. Returns 0 or a negative errno. */
int btfmin__build(const void *elf, size_t size, const struct btf *kern, struct btf **out);

/* A path for bpf_object_open_opts.btf_custom_path with the object's minimal BTF for the
 * running kernel: from the cache ($CORESCOPE_CACHE_DIR, default /var/cache/corescope) or
 * made now and cached (in memory only when the cache cannot be used). NULL when none could be
 * made (libbpf then reads the full BTF, as without this), or with CORESCOPE_FULL_BTF set.
 * The file stays open until btfmin__release(), after load. */
const char *btfmin__path(const void *elf, size_t size);
void btfmin__release(void);

/* Files the cache keeps: one per object and kernel, so a few builds of the seven tools on a
 * few kernels. Each use marks a file used (its mtime); each file written prunes the cache to
 * the BTFMIN_CACHE_KEEP most recently used. */
#define BTFMIN_CACHE_KEEP 64

/* Prunes the cache directory (if it is one only this user may write) to the keep most
 * recently used cache files, and removes temporary files a writer left an hour ago or more.
 * Only file names of the cache's own shape are removed, never followed. Returns how many
 * were removed, or -EPERM when the directory is not safe to use. */
int btfmin__prune_cache(unsigned keep);

#endif
