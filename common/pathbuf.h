/* Paths gathered in the kernel (bpf/path.h layout) made into strings, and lexical
 * canonicalization for names the kernel never resolved (a failed open). */
#ifndef COMMON_PATHBUF_H
#define COMMON_PATHBUF_H

#include <stdbool.h>
#include <stddef.h>

/* What a cut path starts with in place of the part above the components found (a walk that
 * stopped before the root): ".../b/c". An absolute path never starts with it. */
#define PATHBUF_CUT "..."

/* Joins depth leaf-first NUL-terminated components from comps[0..len) into "/a/b/c" (root
 * first; "/" for zero components), or with cut into ".../a/b/c" ("..." for zero
 * components). Returns the string length, or -ENAMETOOLONG when dst is too small (dst then
 * holds the root or the marker and the components that fit, root side first). len + 4
 * bytes are always enough. */
int pathbuf__join(char *dst, size_t size, const char *comps, size_t len, unsigned depth,
		  bool cut);

/* Appends rel to the absolute directory in dst ("/a" + "b/../c" = "/a/b/../c"); an absolute
 * rel replaces dst. Returns the length or -ENAMETOOLONG. */
int pathbuf__append(char *dst, size_t size, const char *rel);

/* Canonicalizes an absolute path in place without touching the file system: collapses
 * repeated slashes, drops "." and resolves ".." (never above "/"), no trailing slash. A cut
 * path (PATHBUF_CUT first) keeps its marker and the rest is canonicalized under it: what
 * ".." leaves of an unknown prefix is still an unknown prefix. */
void pathbuf__canonicalize(char *path);

#endif
