/* The benchmark's floor: attaches empty BPF programs (tests/bench/floor.bpf.c) to the hooks
 * named on the command line and waits for SIGINT, speaking the tools' start protocol (a
 * "Hit Ctrl-C to end." line on stderr once attached).
 *
 *   floor OBJ HOOK...     HOOK: tp:CATEGORY:NAME | tp_btf:NAME | raw_tp:NAME
 *
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
	int nlinks = 0, err = 0, i;
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
	for (i = 2; i < argc; i++) {
		const char *hook = argv[i];

		if (strncmp(hook, "tp:", 3) == 0) {
			prog = bpf_object__find_program_by_name(obj, "empty_tp");
		} else if (strncmp(hook, "tp_btf:", 7) == 0) {
			snprintf(name, sizeof(name), "btf_%s", hook + 7);
			prog = bpf_object__find_program_by_name(obj, name);
		} else if (strncmp(hook, "raw_tp:", 7) == 0) {
			snprintf(name, sizeof(name), "raw_%s", hook + 7);
			prog = bpf_object__find_program_by_name(obj, name);
		} else {
			prog = NULL;
		}
		if (!prog) {
			fprintf(stderr, "floor: no program for hook %s\n", hook);
			return 1;
		}
		bpf_program__set_autoload(prog, true);
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "floor: loading: %s\n", strerror(-err));
		goto out;
	}
	for (i = 2; i < argc && nlinks < MAX_LINKS; i++) {
		const char *hook = argv[i];
		struct bpf_link *link;

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
			snprintf(name, sizeof(name), "%s_%s", hook[0] == 't' ? "btf" : "raw",
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
	while (!stop)
		pause();
out:
	while (nlinks > 0)
		bpf_link__destroy(links[--nlinks]);
	bpf_object__close(obj);
	return err ? 1 : 0;
}
