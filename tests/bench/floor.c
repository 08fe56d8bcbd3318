/* The benchmark's floor: attaches empty BPF programs (tests/bench/floor.bpf.c) to the hooks
 * named on the command line and waits for SIGINT, speaking the tools' start protocol (a
 * "Hit Ctrl-C to end." line on stderr once attached).
 *
 *   floor OBJ HOOK...     HOOK: tp:CATEGORY:NAME | tp_btf:NAME | raw_tp:NAME | ring:NAME
 *                                 | nr:SYSCALL_NUMBER | record:BYTES
 *
 * ring:NAME attaches the raw tracepoint program that also sends one ring buffer record of
 * record:BYTES per event (consumed here and counted, as a tool would read it); nr:N adds a
 * syscall number the sys_exit programs select.
 * A classic tracepoint that does not exist on this kernel (open(2) on arm64) is skipped, as
 * the tools skip it. Exit status 0 after SIGINT, 1 on any failure. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#define MAX_LINKS 64

/* tests/bench/floor.bpf.c's floor_cfg, the only variable in its .rodata. */
struct floor_cfg {
	long long nr[10];
	unsigned long long record;
	unsigned long long wakeup;
};

static unsigned long long records;

static int count_record(void *ctx, void *data, size_t size)
{
	records++;
	return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int tracepoint_exists(const char *category, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/%s/id", category, name);
	if (access(path, R_OK) == 0)
		return 1;
	snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/%s/%s/id", category, name);
	return access(path, R_OK) == 0;
}

int main(int argc, char **argv)
{
	struct bpf_link *links[MAX_LINKS];
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct ring_buffer *rb = NULL;
	struct floor_cfg cfg;
	struct bpf_map *rodata;
	int nlinks = 0, err = 0, i, nnr = 0, use_ring = 0;
	size_t cfg_size;
	char name[128];

	if (argc < 3) {
		fprintf(stderr, "usage: floor OBJ HOOK...\n");
		return 2;
	}
	libbpf_set_print(silent);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "floor: opening %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, false);
	rodata = bpf_object__find_map_by_name(obj, ".rodata");
	if (!rodata || !bpf_map__initial_value(rodata, &cfg_size) || cfg_size < sizeof(cfg)) {
		fprintf(stderr, "floor: %s has no floor_cfg in .rodata\n", argv[1]);
		return 1;
	}
	memcpy(&cfg, bpf_map__initial_value(rodata, &cfg_size), sizeof(cfg));
	for (i = 2; i < argc; i++) {
		const char *hook = argv[i];

		if (strncmp(hook, "nr:", 3) == 0 || strncmp(hook, "record:", 7) == 0) {
			if (hook[0] == 'n' && nnr < 10)
				cfg.nr[nnr++] = atoll(hook + 3);
			else if (hook[0] == 'r')
				cfg.record = atoll(hook + 7);
			continue;
		}
		if (strncmp(hook, "tp:", 3) == 0) {
			prog = bpf_object__find_program_by_name(obj, "empty_tp");
		} else if (strncmp(hook, "tp_btf:", 7) == 0) {
			snprintf(name, sizeof(name), "btf_%s", hook + 7);
			prog = bpf_object__find_program_by_name(obj, name);
		} else if (strncmp(hook, "raw_tp:", 7) == 0) {
			snprintf(name, sizeof(name), "raw_%s", hook + 7);
			prog = bpf_object__find_program_by_name(obj, name);
		} else if (strncmp(hook, "ring:", 5) == 0) {
			snprintf(name, sizeof(name), "ring_%s", hook + 5);
			prog = bpf_object__find_program_by_name(obj, name);
			use_ring = 1;
		} else {
			prog = NULL;
		}
		if (!prog) {
			fprintf(stderr, "floor: no program for hook %s\n", hook);
			return 1;
		}
		bpf_program__set_autoload(prog, true);
	}
	/* Written over the object's initial .rodata (its size is the variable's). */
	memcpy((void *)bpf_map__initial_value(rodata, &cfg_size), &cfg, sizeof(cfg));
	if (!use_ring)
		bpf_map__set_autocreate(bpf_object__find_map_by_name(obj, "ring"), false);
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "floor: loading: %s\n", strerror(-err));
		goto out;
	}
	if (use_ring) {
		rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "ring")),
				      count_record, NULL, NULL);
		if (!rb) {
			err = -errno;
			fprintf(stderr, "floor: ring buffer: %s\n", strerror(errno));
			goto out;
		}
	}
	for (i = 2; i < argc && nlinks < MAX_LINKS; i++) {
		const char *hook = argv[i];
		struct bpf_link *link;

		if (strncmp(hook, "nr:", 3) == 0 || strncmp(hook, "record:", 7) == 0)
			continue;
		if (strncmp(hook, "tp:", 3) == 0) {
			char category[64], *tp;

			snprintf(category, sizeof(category), "%s", hook + 3);
			tp = strchr(category, ':');
			if (!tp) {
				fprintf(stderr, "floor: bad hook %s\n", hook);
				err = -EINVAL;
				goto out;
			}
			*tp++ = '\0';
			if (!tracepoint_exists(category, tp))
				continue;
			prog = bpf_object__find_program_by_name(obj, "empty_tp");
			link = bpf_program__attach_tracepoint(prog, category, tp);
		} else {
			snprintf(name, sizeof(name), "%s_%s",
				 hook[0] == 't' ? "btf" : hook[1] == 'i' ? "ring" : "raw",
				 strchr(hook, ':') + 1);
			prog = bpf_object__find_program_by_name(obj, name);
			if (hook[0] == 't')
				link = bpf_program__attach(prog);
			else
				link = bpf_program__attach_raw_tracepoint(prog, strchr(hook, ':') + 1);
		}
		if (!link) {
			err = -errno;
			fprintf(stderr, "floor: attaching %s: %s\n", hook, strerror(errno));
			goto out;
		}
		links[nlinks++] = link;
	}
	fprintf(stderr, "floor: %d empty programs attached. Hit Ctrl-C to end.\n", nlinks);
	/* A tool's consumer: woken by the producers' forced wakeups, else every 100 ms. */
	while (!stop) {
		if (rb) {
			if (ring_buffer__poll(rb, 100) >= 0)
				ring_buffer__consume(rb);
		} else
			pause();
	}
	if (rb)
		ring_buffer__consume(rb);
out:
	ring_buffer__free(rb);
	if (use_ring)
		fprintf(stderr, "floor: %llu records\n", records);
	while (nlinks > 0)
		bpf_link__destroy(links[--nlinks]);
	bpf_object__close(obj);
	return err ? 1 : 0;
}
