/* The hot function of profile's test program, in a shared library: its frames resolve
 * through the library's own mapping. */
#include "fixture.h"

volatile unsigned long fixture_sink;

/* Called once per spin: a function that calls another gets a frame pointer, which GCC
 * leaves out of leaf functions even with -fno-omit-frame-pointer; without it a sample in
 * the spin loop would skip its caller's frame. noipa: the call stays although it is empty. */
__attribute__((noipa)) void fixture_tick(void)
{
}

/* Busy work proportional to n, the same per unit in every spin function, so the callers'
 * arguments set the share of samples each gets. */
__attribute__((noinline)) unsigned long hot_spin(unsigned long n)
{
	unsigned long i, acc = 0;

	for (i = 0; i < n; i++) {
		acc += i * 7 + (acc >> 3);
		fixture_sink = acc;
	}
	fixture_tick();
	return acc;
}
