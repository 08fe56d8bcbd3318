/* The benchmark's workloads (tests/bench/bench.py): one operation per iteration, run as fast
 * as the machine allows, so a tracer's cost per event shows in the loop's elapsed time.
 *
 *   workload open    N PATH      openat(PATH, O_RDONLY) + close          1 event per iteration
 *   workload exec    N MARKER PIDFILE   fork + execve(self, "nop", MARKER) + wait   1 exec;
 *                                the children's pids go to PIDFILE, one a line, at the end
 *   workload connect N           loopback connect + accept + close       1 connect
 *   workload rw      N PATH      pwrite 64 B + pread 64 B at offset 0    2 calls
 *   workload dio     N DEV       4 KiB O_DIRECT pread from the block device DEV   1 I/O
 *   workload spin    N           arithmetic only (for a sampling profiler's cost)
 *   workload nop     [...]       exits at once (the program exec runs)
 *
 * Each mode first runs N/10 untimed iterations (page cache, TLB, slab warm), then N timed
 * ones, and prints one line: "mode=M warmup=W iters=N events=E elapsed_ns=T cpu_ns=C", where
 * E counts the events of warmup and timed iterations together (what a tracer running
 * throughout sees) and C is the CPU time of the timed part, this process's and its waited-for
 * children's (exec), user and system: unlike T it leaves out time spent waiting for a CPU
 * that other processes held, so it is the steadier measure on a shared machine, but it also
 * leaves out work done for the loop in other contexts (a kworker, a softirq elsewhere).
 * Exit status 0, or 1 with a message on stderr when an operation failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIO_BLOCK 4096

static const char *self;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage own, children;

	getrusage(RUSAGE_SELF, &own);
	getrusage(RUSAGE_CHILDREN, &children);
	return ((uint64_t)own.ru_utime.tv_sec + own.ru_stime.tv_sec + children.ru_utime.tv_sec +
		children.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)own.ru_utime.tv_usec + own.ru_stime.tv_usec + children.ru_utime.tv_usec +
		children.ru_stime.tv_usec) * 1000ull;
}

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned long parse_n(const char *s)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || n == 0) {
		fprintf(stderr, "workload: invalid N '%s'\n", s);
		exit(2);
	}
	return n;
}

/* ---- open ---- */

static const char *open_path;

static void do_open(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, open_path, O_RDONLY);

		if (fd < 0)
			die(open_path);
		close(fd);
	}
}

/* ---- exec ---- */

static const char *exec_marker;
static pid_t *exec_pids;
static unsigned long exec_npids;

static void do_exec(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		char *const argv[] = { "workload", "nop", (char *)exec_marker, NULL };
		char *const envp[] = { NULL };
		int status;
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execve(self, argv, envp);
			_exit(127);
		}
		exec_pids[exec_npids++] = pid;
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "workload: exec of %s failed (status %d)\n", self, status);
			exit(1);
		}
	}
}

/* ---- connect ---- */

static int listen_fd;
static struct sockaddr_in listen_addr;

static void connect_setup(void)
{
	socklen_t len = sizeof(listen_addr);
	int one = 1;

	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (listen_fd < 0)
		die("socket");
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&listen_addr, 0, sizeof(listen_addr));
	listen_addr.sin_family = AF_INET;
	listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listen_fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0)
		die("bind");
	if (listen(listen_fd, 128) < 0)
		die("listen");
	if (getsockname(listen_fd, (struct sockaddr *)&listen_addr, &len) < 0)
		die("getsockname");
}

/* On loopback the handshake completes inside connect(), so one thread connects and accepts
 * in lock step (the accept queue never overflows). The client closes with a reset (linger
 * 0): no TIME_WAIT, so hundreds of thousands of connects never run out of local ports. */
static void do_connect(unsigned long n)
{
	const struct linger lin = { .l_onoff = 1, .l_linger = 0 };

	for (unsigned long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0), a;

		if (c < 0)
			die("socket");
		if (connect(c, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0)
			die("connect");
		a = accept(listen_fd, NULL, NULL);
		if (a < 0)
			die("accept");
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
		close(c);
		close(a);
	}
}

/* ---- rw ---- */

static int rw_fd;

static void do_rw(unsigned long n)
{
	char buf[64];

	memset(buf, 'x', sizeof(buf));
	for (unsigned long i = 0; i < n; i++) {
		if (pwrite(rw_fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			die("pwrite");
		if (pread(rw_fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
			die("pread");
	}
}

/* ---- dio ---- */

static int dio_fd;
static unsigned long dio_blocks;
static void *dio_buf;
static unsigned long dio_next;

static void dio_setup(const char *dev)
{
	off_t size;

	dio_fd = open(dev, O_RDONLY | O_DIRECT);
	if (dio_fd < 0)
		die(dev);
	size = lseek(dio_fd, 0, SEEK_END);
	if (size < DIO_BLOCK)
		die("device size");
	dio_blocks = size / DIO_BLOCK;
	if (posix_memalign(&dio_buf, DIO_BLOCK, DIO_BLOCK))
		die("posix_memalign");
}

/* Sequential 4 KiB reads, wrapping at the end of the device: one request per read. */
static void do_dio(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		off_t off = (off_t)(dio_next++ % dio_blocks) * DIO_BLOCK;

		if (pread(dio_fd, dio_buf, DIO_BLOCK, off) != DIO_BLOCK)
			die("pread (O_DIRECT)");
	}
}

/* ---- spin ---- */

static volatile uint64_t spin_sink;

static void do_spin(unsigned long n)
{
	uint64_t x = 88172645463325252ull;

	for (unsigned long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	spin_sink = x;
}

int main(int argc, char **argv)
{
	void (*run)(unsigned long) = NULL;
	unsigned long n, warmup, per_iter = 1;
	const char *mode;
	uint64_t t0, t1, c0, c1;

	self = "/proc/self/exe";
	if (argc >= 2 && strcmp(argv[1], "nop") == 0)
		return 0;
	if (argc < 3) {
		fprintf(stderr, "usage: workload open|exec|connect|rw|dio|spin N [ARG]\n");
		return 2;
	}
	mode = argv[1];
	n = parse_n(argv[2]);
	if (strcmp(mode, "open") == 0 && argc == 4) {
		open_path = argv[3];
		run = do_open;
	} else if (strcmp(mode, "exec") == 0 && argc == 5) {
		static char path[4096];
		ssize_t len = readlink("/proc/self/exe", path, sizeof(path) - 1);

		if (len < 0)
			die("readlink /proc/self/exe");
		path[len] = '\0';
		self = path;
		exec_marker = argv[3];
		exec_pids = calloc(n + n / 10 + 1, sizeof(*exec_pids));
		if (!exec_pids)
			die("calloc");
		run = do_exec;
	} else if (strcmp(mode, "connect") == 0 && argc == 3) {
		connect_setup();
		run = do_connect;
	} else if (strcmp(mode, "rw") == 0 && argc == 4) {
		rw_fd = open(argv[3], O_RDWR | O_CREAT, 0644);
		if (rw_fd < 0)
			die(argv[3]);
		per_iter = 2;
		run = do_rw;
	} else if (strcmp(mode, "dio") == 0 && argc == 4) {
		dio_setup(argv[3]);
		run = do_dio;
	} else if (strcmp(mode, "spin") == 0 && argc == 3) {
		run = do_spin;
	} else {
		fprintf(stderr, "workload: unknown mode or wrong arguments: %s\n", mode);
		return 2;
	}
	warmup = n / 10 ? n / 10 : 1;
	if (run == do_spin)
		warmup = 0;
	run(warmup);
	c0 = cpu_ns();
	t0 = now_ns();
	run(n);
	t1 = now_ns();
	c1 = cpu_ns();
	if (run == do_exec) {
		FILE *f = fopen(argv[4], "w");

		if (!f)
			die(argv[4]);
		for (unsigned long i = 0; i < exec_npids; i++)
			fprintf(f, "%d\n", (int)exec_pids[i]);
		if (fclose(f) != 0)
			die(argv[4]);
	}
	printf("mode=%s warmup=%lu iters=%lu events=%lu elapsed_ns=%llu cpu_ns=%llu\n", mode, warmup,
	       n, (warmup + n) * per_iter, (unsigned long long)(t1 - t0),
	       (unsigned long long)(c1 - c0));
	return 0;
}
