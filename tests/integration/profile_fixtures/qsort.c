/* profile's test program without frame pointers (built -O2 -fomit-frame-pointer): main ->
 * sort_rounds -> libc's qsort -> (libc's merge sort, recursively) -> by_key, a comparison
 * callback back in this program. Frame pointer walks break twice: in this program and in
 * Debian's libc, neither of which keeps one.
 *
 *   qsort SECONDS    sort for about SECONDS seconds of wall-clock time
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 200000

struct item {
	unsigned int key;
	unsigned int payload[3];
};

static volatile unsigned long sink;

__attribute__((noinline)) int by_key(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	unsigned int x = a->key ^ (a->key >> 7), y = b->key ^ (b->key >> 7);

	return x < y ? -1 : x > y;
}

__attribute__((noinline)) void sort_rounds(struct item *v, size_t n, double seconds)
{
	struct timespec t0, t;
	unsigned int seed = 1;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			v[i].key = seed;
		}
		qsort(v, n, sizeof(*v), by_key);
		sink += v[n / 2].key;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
}

int main(int argc, char **argv)
{
	struct item *v = calloc(N, sizeof(*v));

	if (argc != 2 || !v)
		return 2;
	sort_rounds(v, N, atof(argv[1]));
	free(v);
	return 0;
}
