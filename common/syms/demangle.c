/* Demangling through libiberty (Debian's libiberty-dev), the demangler of binutils and gdb:
 * one library for C++ (Itanium ABI) and both Rust schemes (legacy, which wraps the C++ one
 * with a hash suffix it drops, and v0). */
#include <stdlib.h>
#include <string.h>
#include <libiberty/demangle.h>

#include "syms.h"

#define PLT_SUFFIX "@plt"

char *syms__demangle(const char *name)
{
	size_t len = strlen(name), suffix = sizeof(PLT_SUFFIX) - 1;
	char *base, *plain, *out;

	/* Only what these two languages produce: libiberty would also try Java, Ada and D
	 * spellings, which C names can match by accident. */
	if (name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return NULL;
	/* Arguments and qualifiers as c++filt and perf show them. */
	if (len <= suffix || strcmp(name + len - suffix, PLT_SUFFIX) != 0)
		return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
	/* A lazy-binding stub is named after its target (elfsyms.c): demangle the target and
	 * keep the suffix, as perf does ("std::chrono::_V2::steady_clock::now()@plt"). */
	base = strndup(name, len - suffix);
	if (!base)
		return NULL;
	plain = cplus_demangle(base, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
	free(base);
	if (!plain)
		return NULL;
	out = malloc(strlen(plain) + suffix + 1);
	if (out) {
		strcpy(out, plain);
		strcat(out, PLT_SUFFIX);
	}
	free(plain);
	return out;
}
