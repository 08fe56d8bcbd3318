/* Demangling through libiberty (Debian's libiberty-dev), the demangler of binutils and gdb:
 * one library for C++ (Itanium ABI) and both Rust schemes (legacy, which wraps the C++ one
 * with a hash suffix it drops, and v0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libiberty/demangle.h>

#include "syms.h"

/* Arguments and qualifiers as c++filt and perf show them. */
#define DEMANGLE_OPTIONS (DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO)

char *syms__demangle(const char *name)
{
	size_t len = strlen(name), suffix = sizeof(SYMS_PLT_SUFFIX) - 1;
	char *target, *plain, *out;

	/* Only what these two languages produce: libiberty would also try Java, Ada and D
	 * spellings, which C names can match by accident. */
	if (name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return NULL;
	if (len <= suffix || strcmp(name + len - suffix, SYMS_PLT_SUFFIX) != 0)
		return cplus_demangle(name, DEMANGLE_OPTIONS);
	/* A lazy-binding stub (named in elfsyms.c): its target demangled, the suffix kept, as
	 * perf shows it ("std::chrono::_V2::steady_clock::now()@plt"). */
	target = strndup(name, len - suffix);
	plain = target ? cplus_demangle(target, DEMANGLE_OPTIONS) : NULL;
	free(target);
	if (!plain || asprintf(&out, "%s" SYMS_PLT_SUFFIX, plain) < 0)
		out = NULL;
	free(plain);
	return out;
}
