#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/perf_event.h>

#include <bpf/libbpf.h>

#include "check.h"
#include "log.h"
#include "loop.h"
#include "perfevent.h"
#include "probe.h"

/* /sys/devices/system/cpu/online ("0-3,5"); every possible CPU when it cannot be read. */
static void online_cpus(bool *online, int ncpus)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	char buf[4096], *p = buf;
	int i;

	if (!f || !fgets(buf, sizeof(buf), f)) {
		for (i = 0; i < ncpus; i++)
			online[i] = true;
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	while (*p >= '0' && *p <= '9') {
		long a = strtol(p, &p, 10), b = a;

		if (*p == '-')
			b = strtol(p + 1, &p, 10);
		for (i = (int)a; i <= b && i < ncpus; i++)
			online[i] = true;
		if (*p != ',')
			break;
		p++;
	}
}

static int perf_open(const struct sampling *sm, int cpu, bool hw)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	/* Enabled once the program is attached: every sample the event takes is then one the
	 * program should see, which makes the skipped ones countable. */
	attr.disabled = 1;
	attr.type = hw ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
	attr.config = hw ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK;
	if (sm->period) {
		attr.sample_period = sm->period;
	} else {
		attr.freq = 1;
		attr.sample_freq = sm->freq;
	}
	return (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

int sampling__open(struct sampling *sm, int cpu_only, uint64_t freq, uint64_t period)
{
	int ncpus = libbpf_num_possible_cpus();
	int hw_err = 0, n, cpu, fd, err = 0;
	const char *forced = sm->event;
	bool *online, hw = !forced || strcmp(forced, "cycles") == 0;

	sm->freq = freq;
	sm->period = period;
	sm->event = "cpu-clock";
	if (ncpus < 1) {
		p_err("cannot count the CPUs: %s", strerror(-ncpus));
		return ncpus < 0 ? ncpus : -EINVAL;
	}
	online = calloc(ncpus, sizeof(*online));
	sm->fds = calloc(ncpus, sizeof(*sm->fds));
	sm->links = calloc(ncpus, sizeof(*sm->links));
	if (!online || !sm->fds || !sm->links) {
		free(online);
		p_err("out of memory");
		return -ENOMEM;
	}
	online_cpus(online, ncpus);
	if (cpu_only >= 0 && (cpu_only >= ncpus || !online[cpu_only])) {
		p_err("CPU %d is offline", cpu_only);
		free(online);
		return -ENODEV;
	}
again:
	n = 0;
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (!online[cpu] || (cpu_only >= 0 && cpu != cpu_only))
			continue;
		fd = perf_open(sm, cpu, hw);
		if (fd < 0) {
			err = -errno;
			/* Gone offline since we looked. */
			if (err == -ENODEV && cpu_only < 0)
				continue;
			while (n > 0)
				close(sm->fds[--n]);
			if (hw && forced) {
				p_err("--event cycles: not possible here: no CPU cycles event (%s)",
				      strerror(-err));
				free(online);
				return err;
			}
			if (hw) {
				hw_err = err;
				hw = false;
				goto again;
			}
			p_err("opening the cpu-clock perf event on CPU %d: %s%s", cpu, strerror(-err),
			      err == -EACCES || err == -EPERM
				      ? " (needs root or CAP_PERFMON; see kernel.perf_event_paranoid)"
				      : "");
			free(online);
			return err;
		}
		sm->fds[n++] = fd;
	}
	free(online);
	if (n == 0) {
		p_err("no online CPU to sample");
		return -ENODEV;
	}
	sm->event = hw ? "cycles" : "cpu-clock";
	sm->ncpus = n;
	if (!hw && forced)
		p_info("sampling cpu-clock (--event)");
	else if (!hw)
		p_info("sampling cpu-clock: no CPU cycles event (%s)", strerror(-hw_err));
	else
		p_info("sampling CPU cycles");
	return 0;
}

int sampling__start(struct sampling *sm, struct bpf_program *prog)
{
	int i, err;

	for (i = 0; i < sm->ncpus; i++) {
		sm->links[i] = bpf_program__attach_perf_event(prog, sm->fds[i]);
		if (!sm->links[i]) {
			err = -errno;
			p_bpf_err("attaching to the perf event", err);
			return err;
		}
	}
	sm->start_ns = loop__now_mono_ns();
	for (i = 0; i < sm->ncpus; i++) {
		if (ioctl(sm->fds[i], PERF_EVENT_IOC_ENABLE, 0)) {
			err = -errno;
			p_err("enabling the perf event: %s", strerror(errno));
			return err;
		}
	}
	check__attach_note("perf event %s on %d CPU%s", sm->event, sm->ncpus,
			   sm->ncpus == 1 ? "" : "s");
	return 0;
}

void sampling__pause(struct sampling *sm)
{
	int i;

	for (i = 0; i < sm->ncpus; i++)
		ioctl(sm->fds[i], PERF_EVENT_IOC_DISABLE, 0);
}

int sampling__resume(struct sampling *sm)
{
	int i, err = 0;

	for (i = 0; i < sm->ncpus; i++)
		if (ioctl(sm->fds[i], PERF_EVENT_IOC_ENABLE, 0) && !err)
			err = -errno;
	return err;
}

void sampling__stop(struct sampling *sm)
{
	bool timer = strcmp(sm->event, "cpu-clock") == 0;
	uint64_t period, count;
	int i;

	sampling__pause(sm);
	sm->end_ns = loop__now_mono_ns();
	if (timer || sm->period) {
		/* The kernel's own arithmetic: NSEC_PER_SEC / frequency, and cpu-clock's 10 us
		 * floor (perf_swevent_init_hrtimer, perf_swevent_start_hrtimer). */
		period = sm->period ? sm->period : 1000000000ull / sm->freq;
		if (timer && period < 10000)
			period = 10000;
		sm->taken = 0;
		for (i = 0; i < sm->ncpus; i++) {
			if (read(sm->fds[i], &count, sizeof(count)) != sizeof(count))
				break;
			sm->taken += count / period;
		}
		sm->taken_known = i == sm->ncpus;
	}
	/* A link closes its event. */
	for (i = 0; i < sm->ncpus; i++) {
		if (sm->links[i]) {
			bpf_link__destroy(sm->links[i]);
			sm->links[i] = NULL;
			sm->fds[i] = -1;
		}
	}
}

/* An hrtimer that fires late skips whole periods (perf_swevent_hrtimer forwards past them):
 * seen on an idle vCPU of a busy host, for perf record as well. And the kernel skips a perf
 * event's program when the interrupt arrives while other BPF code runs on that CPU
 * (bpf_prog_active: a tracing program, a map operation from a syscall) and says nothing. At
 * most one sample per CPU is off by timing. */
uint64_t sampling__skipped(const struct sampling *sm, uint64_t runs)
{
	if (!sm->taken_known || sm->taken <= runs + (uint64_t)sm->ncpus)
		return 0;
	return sm->taken - runs;
}

void sampling__close(struct sampling *sm)
{
	int i;

	for (i = 0; sm->fds && i < sm->ncpus; i++) {
		/* A link closes its event itself. */
		if (sm->links[i])
			bpf_link__destroy(sm->links[i]);
		else if (sm->fds[i] >= 0)
			close(sm->fds[i]);
	}
	free(sm->fds);
	free(sm->links);
	memset(sm, 0, sizeof(*sm));
}

int tp_count__open(struct tp_count *tc, const char *category, const char *name)
{
	int ncpus = libbpf_num_possible_cpus(), cpu, fd, err = 0;
	const char *tracefs = probe__tracefs();
	struct perf_event_attr attr;
	unsigned long long id;
	char path[PATH_MAX];
	bool *online;
	FILE *f;

	memset(tc, 0, sizeof(*tc));
	if (!tracefs)
		return -ENOENT;
	if (ncpus < 1)
		return ncpus < 0 ? ncpus : -EINVAL;
	snprintf(path, sizeof(path), "%s/events/%s/%s/id", tracefs, category, name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%llu", &id) != 1)
		err = -EINVAL;
	fclose(f);
	if (err)
		return err;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.config = id;
	attr.disabled = 1;
	online = calloc(ncpus, sizeof(*online));
	tc->fds = calloc(ncpus, sizeof(*tc->fds));
	if (!online || !tc->fds) {
		free(online);
		tp_count__close(tc);
		return -ENOMEM;
	}
	online_cpus(online, ncpus);
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (!online[cpu])
			continue;
		fd = (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0 && errno == ENODEV)
			continue;  /* gone offline since we looked */
		if (fd < 0) {
			err = -errno;
			break;
		}
		tc->fds[tc->n++] = fd;
	}
	free(online);
	if (!err && !tc->n)
		err = -ENODEV;
	if (err)
		tp_count__close(tc);
	return err;
}

int tp_count__enable(struct tp_count *tc)
{
	int i;

	for (i = 0; i < tc->n; i++)
		if (ioctl(tc->fds[i], PERF_EVENT_IOC_ENABLE, 0))
			return -errno;
	return 0;
}

void tp_count__disable(struct tp_count *tc)
{
	int i;

	for (i = 0; i < tc->n; i++)
		ioctl(tc->fds[i], PERF_EVENT_IOC_DISABLE, 0);
}

bool tp_count__read(const struct tp_count *tc, uint64_t *hits)
{
	uint64_t count;
	int i;

	*hits = 0;
	for (i = 0; i < tc->n; i++) {
		if (read(tc->fds[i], &count, sizeof(count)) != sizeof(count))
			return false;
		*hits += count;
	}
	return tc->n > 0;
}

void tp_count__close(struct tp_count *tc)
{
	int i;

	for (i = 0; tc->fds && i < tc->n; i++)
		close(tc->fds[i]);
	free(tc->fds);
	memset(tc, 0, sizeof(*tc));
}
