/* The bytes each snoop tool sends per event in the benchmark's workloads, for the floor's
 * ring records: the fixed part of each event (the variable part is added by bench.py). */
#include <stddef.h>
#include <stdio.h>

#include "execsnoop.h"
#include "opensnoop.h"
#include "tcpconnlat.h"

int main(void)
{
	printf("open=%zu exec=%zu connect=%zu\n", offsetof(struct open_event, fname),
	       offsetof(struct exec_event, args), sizeof(struct tcpconnlat_event));
	return 0;
}
