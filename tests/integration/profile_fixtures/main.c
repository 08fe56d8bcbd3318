/* profile's test program: a known call chain main -> level_a -> level_b -> hot_spin (in a
 * shared library, 3/4 of the work) and -> warm_spin (in this PIE, 1/4), built by the test
 * with frame pointers so the kernel can walk user stacks.
 *
 *   main [-w] spin SECONDS       main -> level_a -> level_b -> hot_spin/warm_spin
 *   main [-w] exec SECONDS       spin, then exec itself as "after SECONDS"
 *   main [-w] after SECONDS      spin in post_exec_spin (a different chain, same binary)
 *   main [-w] syscalls SECONDS   read /dev/zero in a loop: mostly kernel time
 *   main [-w] threads SECONDS    two threads in thread_one_spin and thread_two_spin; prints
 *                                their thread IDs
 *   main [-w] comm NAME SECONDS  set the thread name to NAME, then spin in odd_named
 *
 * -w: print "ready" and wait for a line on stdin before starting.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"

#define UNIT 20000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) unsigned long warm_spin(unsigned long n)
{
	unsigned long i, acc = 0;

	for (i = 0; i < n; i++) {
		acc += i * 7 + (acc >> 3);
		fixture_sink = acc;
	}
	fixture_tick();
	return acc;
}

__attribute__((noinline)) unsigned long level_b(unsigned long n)
{
	unsigned long r = hot_spin(3 * n);

	r += warm_spin(n);
	return r + 1; /* work after the calls: no tail call hides this frame */
}

__attribute__((noinline)) unsigned long level_a(unsigned long n)
{
	return level_b(n) + 1;
}

__attribute__((noinline)) unsigned long post_exec_spin(unsigned long n)
{
	return warm_spin(n) + hot_spin(0) + 1;
}

/* A name no compiler makes: a ';' that would split a folded line, and a control byte. */
__attribute__((noinline)) unsigned long odd_named(unsigned long n) __asm__("\"odd;name\x1b[7m\"");
__attribute__((noinline)) unsigned long odd_named(unsigned long n)
{
	return warm_spin(n) + 1;
}

static void spin(double seconds, unsigned long (*fn)(unsigned long))
{
	double end = now() + seconds;

	while (now() < end)
		fn(UNIT);
}

static void syscalls(double seconds)
{
	static char buf[1 << 16];
	int fd = open("/dev/zero", O_RDONLY);
	double end = now() + seconds;

	while (now() < end)
		if (read(fd, buf, sizeof(buf)) < 0)
			break;
	close(fd);
}

__attribute__((noinline)) unsigned long thread_one_spin(unsigned long n)
{
	return warm_spin(n) + 1;
}

__attribute__((noinline)) unsigned long thread_two_spin(unsigned long n)
{
	return warm_spin(n) + 2;
}

static double thread_seconds;

static void *thread_two(void *arg)
{
	printf("%ld\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	spin(thread_seconds, thread_two_spin);
	return arg;
}

int main(int argc, char **argv)
{
	bool wait_for_go = argc > 1 && strcmp(argv[1], "-w") == 0;
	const char *mode;
	double seconds, end;
	char line[16];
	void *jit_code = NULL;

	/* Executable memory without a file, as a JIT has: profile then looks for
	 * /tmp/perf-PID.map. Mapped before "ready": profile reads a process's maps when it
	 * first samples it, and code that never runs here gives it no reason to read them
	 * again. */
	if (argc > 1 + wait_for_go && strcmp(argv[1 + wait_for_go], "jitmap") == 0) {
		jit_code = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
		if (jit_code == MAP_FAILED)
			return 1;
	}
	/* -w: print "ready" and wait for a line on stdin first, so a test can start its
	 * profilers before any work is done. */
	if (wait_for_go) {
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
		argv++;
		argc--;
	}
	if (argc < 3)
		return 2;
	mode = argv[1];
	seconds = atof(argv[argc - 1]);
	if (strcmp(mode, "spin") == 0) {
		/* Here, not in spin(): main calls level_a itself. */
		end = now() + seconds;
		while (now() < end)
			level_a(UNIT);
	} else if (strcmp(mode, "exec") == 0) {
		spin(seconds, level_a);
		execl("/proc/self/exe", argv[0], "after", argv[2], (char *)NULL);
		return 1;
	} else if (strcmp(mode, "after") == 0) {
		spin(seconds, post_exec_spin);
	} else if (strcmp(mode, "jitmap") == 0) {
		end = now() + seconds;
		while (now() < end)
			level_a(UNIT);
	} else if (strcmp(mode, "syscalls") == 0) {
		syscalls(seconds);
	} else if (strcmp(mode, "threads") == 0) {
		pthread_t t;

		thread_seconds = seconds;
		printf("%ld\n", (long)syscall(SYS_gettid));
		fflush(stdout);
		pthread_create(&t, NULL, thread_two, NULL);
		spin(seconds, thread_one_spin);
		pthread_join(t, NULL);
	} else if (strcmp(mode, "comm") == 0 && argc == 4) {
		prctl(PR_SET_NAME, argv[2]);
		spin(seconds, odd_named);
	} else {
		return 2;
	}
	return 0;
}
