/* Demangling through libiberty (Debian's libiberty-dev), the demangler of binutils and gdb:
 * one library for C++ (Itanium ABI) and both Rust schemes (legacy, which wraps the C++ one
 * with a hash suffix it drops, and v0). */
#include <stdlib.h>
#include <libiberty/demangle.h>

#include "syms.h"

char *syms__demangle(const char *name)
{
	/* Only what these two languages produce: libiberty would also try Java, Ada and D
	 * spellings, which C names can match by accident. */
	if (name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return NULL;
	/* Arguments and qualifiers as c++filt and perf show them. */
	return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
}
