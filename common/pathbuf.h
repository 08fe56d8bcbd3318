/* Paths gathered in the kernel (bpf/path.h layout) made into strings, and lexical
 * canonicalization for names the kernel never resolved (a failed open). */
#ifndef COMMON_PATHBUF_H
#define COMMON_PATHBUF_H

#include <stddef.h>

/* Joins depth leaf-first NUL-terminated components from comps[0..len) into "/a/b/c" (root
 * first). Returns the string length, or -ENAMETOOLONG when dst is too small (dst then holds
 * a truncated path). "/" for zero components. */
int pathbuf__join(char *dst, size_t size, const char *comps, size_t len, unsigned depth);

/* Appends rel to the absolute directory in dst ("/a" + "b/../c" = "/a/b/../c"); an absolute
 * rel replaces dst. Returns the length or -ENAMETOOLONG. */
int pathbuf__append(char *dst, size_t size, const char *rel);

/* Canonicalizes an absolute path in place without touching the file system: collapses
 * repeated slashes, drops "." and resolves ".." (never above "/"), no trailing slash. */
void pathbuf__canonicalize(char *path);

#endif
