/* Histogram library: slot math shared with BPF, BCC-compatible text, JSON, OpenMetrics, the
 * atomic file writer, and loss-free delta reading. The map test needs the bpf syscall and
 * skips itself without privileges. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hist.h"
#include "json.h"
#include "openmetrics.h"
#include "testhelp.h"

struct membuf {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *mem_open(struct membuf *m)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
	return m->f;
}

/* Closes the stream; the caller frees m->buf. */
static const char *mem_text(struct membuf *m)
{
	fclose(m->f);
	return m->buf;
}

static void test_log2_slots(void)
{
	CHECK_INT(hist_log2_slot(0), 0);
	CHECK_INT(hist_log2_slot(1), 0);
	CHECK_INT(hist_log2_slot(2), 1);
	CHECK_INT(hist_log2_slot(3), 1);
	CHECK_INT(hist_log2_slot(4), 2);
	CHECK_INT(hist_log2_slot(7), 2);
	CHECK_INT(hist_log2_slot(8), 3);
	CHECK_INT(hist_log2_slot(0xffffffffULL), 31);
	CHECK_INT(hist_log2_slot(0x100000000ULL), 32);
	CHECK_INT(hist_log2_slot(1ULL << 63), 63);
	CHECK_INT(hist_log2_slot(UINT64_MAX), 63);
	CHECK_INT(log2_u64(0), 0);
	CHECK_INT(log2_u64((1ULL << 63) - 1), 62);
	for (int i = 1; i < 64; i++) {
		CHECK_INT(log2_u64(1ULL << i), i);
		CHECK_INT(log2_u64((1ULL << i) - 1), i - 1);
	}
}

static void test_linear_slots(void)
{
	CHECK_INT(hist_linear_slot(5, 10, 5), 0);
	CHECK_INT(hist_linear_slot(10, 10, 5), 0);
	CHECK_INT(hist_linear_slot(14, 10, 5), 0);
	CHECK_INT(hist_linear_slot(15, 10, 5), 1);
	CHECK_INT(hist_linear_slot(10 + 63 * 5, 10, 5), 63);
	CHECK_INT(hist_linear_slot(UINT64_MAX, 10, 5), 63);
	CHECK_INT(hist_linear_slot(1000, 0, 0), 0);
}

static void test_total_and_empty(void)
{
	struct hist h = {0};

	CHECK(hist__is_empty(&h));
	h.slots[63] = 1ULL << 40;
	h.slots[0] = 2;
	h.count = 7; /* deliberately out of step: totals come from the slots */
	CHECK(!hist__is_empty(&h));
	CHECK_INT(hist__total(&h), (1LL << 40) + 2);
}

static void test_print_log2_small(void)
{
	struct hist h = {.slots = {1, 0, 4, 2}};
	struct membuf m;

	mem_open(&m);
	CHECK_INT(hist__print_log2(m.f, &h, "usecs"), 0);
	CHECK_STR(mem_text(&m),
		  "     usecs               : count    distribution\n"
		  "         0 -> 1          : 1        |**********                              |\n"
		  "         2 -> 3          : 0        |                                        |\n"
		  "         4 -> 7          : 4        |****************************************|\n"
		  "         8 -> 15         : 2        |********************                    |\n");
	free(m.buf);
}

static void test_print_empty(void)
{
	struct hist h = {0};
	struct membuf m;

	h.sum = 5; /* no slot set: still empty, as BCC prints nothing */
	mem_open(&m);
	CHECK_INT(hist__print_log2(m.f, &h, "usecs"), 0);
	CHECK_INT(hist__print_linear(m.f, &h, 0, 1, "usecs"), 0);
	CHECK_STR(mem_text(&m), "");
	free(m.buf);
}

static void test_print_log2_64bit_counts(void)
{
	struct hist h = {.slots = {5000000000ULL, 2500000000ULL}};
	struct membuf m;
	const char *t;

	mem_open(&m);
	CHECK_INT(hist__print_log2(m.f, &h, "usecs"), 0);
	CHECK_STR(mem_text(&m),
		  "     usecs               : count    distribution\n"
		  "         0 -> 1          : 5000000000 |****************************************|\n"
		  "         2 -> 3          : 2500000000 |********************                    |\n");
	free(m.buf);

	/* Counts near 2^64 must not overflow the bar arithmetic. */
	h.slots[0] = UINT64_MAX;
	h.slots[1] = UINT64_MAX / 2;
	mem_open(&m);
	CHECK_INT(hist__print_log2(m.f, &h, "usecs"), 0);
	t = mem_text(&m);
	CHECK(strstr(t, ": 18446744073709551615 |****************************************|\n"));
	CHECK(strstr(t, ": 9223372036854775807 |*******************                     |\n"));
	free(m.buf);
}

static void test_print_log2_wide(void)
{
	struct hist h = {0};
	struct membuf m;
	static const char wide_head[] =
		"               msecs                         : count    distribution\n"
		"                   0 -> 1                    : 2        |********************|\n";
	const char *t, *line;
	int lines = 0;

	h.slots[0] = 2;
	h.slots[33] = 1;
	mem_open(&m);
	CHECK_INT(hist__print_log2(m.f, &h, "msecs"), 0);
	t = mem_text(&m);
	for (line = t; (line = strchr(line, '\n')); line++)
		lines++;
	CHECK_INT(lines, 35); /* header + slots 0..33 */
	CHECK(!strncmp(t, wide_head, strlen(wide_head)));
	CHECK(strstr(t, "          8589934592 -> 17179869183          "
			": 1        |**********          |\n"));
	free(m.buf);

	/* The last slot's range ends at UINT64_MAX, printed unsigned. */
	memset(&h, 0, sizeof(h));
	h.slots[2] = 3;
	h.slots[63] = 1;
	mem_open(&m);
	CHECK_INT(hist__print_log2(m.f, &h, "nsecs"), 0);
	t = mem_text(&m);
	CHECK(strstr(t, " 9223372036854775808 -> 18446744073709551615 "
			": 1        |******              |\n"));
	free(m.buf);

	/* Slot 32 alone keeps the narrow layout (BCC switches only past 32). */
	memset(&h, 0, sizeof(h));
	h.slots[32] = 1;
	mem_open(&m);
	CHECK_INT(hist__print_log2(m.f, &h, "usecs"), 0);
	t = mem_text(&m);
	CHECK(strstr(t, "4294967296 -> 8589934591 "
			": 1        |****************************************|\n"));
	free(m.buf);
}

static void test_print_linear(void)
{
	struct hist h = {.slots = {5, 0, 10}};
	struct membuf m;

	mem_open(&m);
	CHECK_INT(hist__print_linear(m.f, &h, 10, 5, "usecs"), 0);
	CHECK_STR(mem_text(&m),
		  "     usecs         : count     distribution\n"
		  "        10         : 5        |********************                    |\n"
		  "        20         : 10       |****************************************|\n");
	free(m.buf);
}

static void test_json(void)
{
	struct hist h = {.slots = {1, 0, 3}, .sum = 17, .count = 4};
	struct json_writer w;
	struct membuf m;

	mem_open(&m);
	json_writer__init(&w, m.f);
	json_obj_begin(&w);
	json_key(&w, "disk");
	json_str(&w, "vda");
	hist__json(&w, &h, "usecs");
	json_obj_end(&w);
	json_writer__endl(&w);

	memset(&h, 0, sizeof(h));
	json_obj_begin(&w);
	hist__json(&w, &h, "msecs");
	json_obj_end(&w);
	json_writer__endl(&w);

	h.slots[0] = 2;
	h.slots[1] = 1;
	h.sum = 33;
	json_obj_begin(&w);
	hist__json_linear(&w, &h, 10, 5, "usecs");
	json_obj_end(&w);
	json_writer__endl(&w);
	CHECK_STR(mem_text(&m),
		  "{\"disk\":\"vda\",\"unit\":\"usecs\",\"buckets\":["
		  "{\"low\":0,\"high\":1,\"count\":1},"
		  "{\"low\":2,\"high\":3,\"count\":0},"
		  "{\"low\":4,\"high\":7,\"count\":3}],\"count\":4,\"sum\":17}\n"
		  "{\"unit\":\"msecs\",\"buckets\":[],\"count\":0,\"sum\":0}\n"
		  "{\"unit\":\"usecs\",\"buckets\":["
		  "{\"low\":10,\"high\":14,\"count\":2},"
		  "{\"low\":15,\"high\":19,\"count\":1}],\"count\":3,\"sum\":33}\n");
	free(m.buf);
}

static void test_openmetrics_small(void)
{
	static const char *const names[] = {"disk", "flags"};
	static const char *const values[] = {"vd\"a\\b\nc\xff", "Read"};
	struct hist h = {.slots = {1, 2, 0, 3, 0, 4}, .sum = 200, .count = 10};
	struct hist empty = {0};
	struct om_writer *w;
	struct membuf m;

	mem_open(&m);
	w = om__begin(m.f, "corescope_biolatency", "Block I/O \"latency\" \\ per\ndisk.");
	CHECK(w);
	if (!w)
		return;
	CHECK_INT(om__set_slots(w, 4), 0);
	CHECK_INT(om__hist(w, names, values, 2, &h, HIST_UNIT_USECS), 0);
	CHECK_INT(om__hist(w, NULL, NULL, 0, &empty, HIST_UNIT_MSECS), 0);
	CHECK_INT(om__family(w, "corescope_other_seconds", NULL), 0);
	CHECK_INT(om__set_slots(w, 1), 0);
	CHECK_INT(om__hist(w, names + 1, values + 1, 1, &h, HIST_UNIT_NSECS), 0);
	CHECK_INT(om__end(w), 0);
	CHECK_STR(mem_text(&m),
		  "# TYPE corescope_biolatency_seconds histogram\n"
		  "# UNIT corescope_biolatency_seconds seconds\n"
		  "# HELP corescope_biolatency_seconds Block I/O 'latency' \\\\ per\\ndisk.\n"
		  "corescope_biolatency_seconds_bucket{disk=\"vd\\\"a\\\\b\\nc\xef\xbf\xbd\","
		  "flags=\"Read\",le=\"1e-06\"} 1\n"
		  "corescope_biolatency_seconds_bucket{disk=\"vd\\\"a\\\\b\\nc\xef\xbf\xbd\","
		  "flags=\"Read\",le=\"3e-06\"} 3\n"
		  "corescope_biolatency_seconds_bucket{disk=\"vd\\\"a\\\\b\\nc\xef\xbf\xbd\","
		  "flags=\"Read\",le=\"7e-06\"} 3\n"
		  "corescope_biolatency_seconds_bucket{disk=\"vd\\\"a\\\\b\\nc\xef\xbf\xbd\","
		  "flags=\"Read\",le=\"1.5e-05\"} 6\n"
		  "corescope_biolatency_seconds_bucket{disk=\"vd\\\"a\\\\b\\nc\xef\xbf\xbd\","
		  "flags=\"Read\",le=\"+Inf\"} 10\n"
		  "corescope_biolatency_seconds_sum{disk=\"vd\\\"a\\\\b\\nc\xef\xbf\xbd\","
		  "flags=\"Read\"} 0.0002\n"
		  "corescope_biolatency_seconds_count{disk=\"vd\\\"a\\\\b\\nc\xef\xbf\xbd\","
		  "flags=\"Read\"} 10\n"
		  "corescope_biolatency_seconds_bucket{le=\"0.001\"} 0\n"
		  "corescope_biolatency_seconds_bucket{le=\"0.003\"} 0\n"
		  "corescope_biolatency_seconds_bucket{le=\"0.007\"} 0\n"
		  "corescope_biolatency_seconds_bucket{le=\"0.015\"} 0\n"
		  "corescope_biolatency_seconds_bucket{le=\"+Inf\"} 0\n"
		  "corescope_biolatency_seconds_sum 0.0\n"
		  "corescope_biolatency_seconds_count 0\n"
		  "# TYPE corescope_other_seconds histogram\n"
		  "# UNIT corescope_other_seconds seconds\n"
		  "corescope_other_seconds_bucket{flags=\"Read\",le=\"1e-09\"} 1\n"
		  "corescope_other_seconds_bucket{flags=\"Read\",le=\"+Inf\"} 10\n"
		  "corescope_other_seconds_sum{flags=\"Read\"} 2e-07\n"
		  "corescope_other_seconds_count{flags=\"Read\"} 10\n"
		  "# EOF\n");
	free(m.buf);
}

/* Counters and gauges, and the naming guide's rules the writer enforces. */
static void test_openmetrics_counters(void)
{
	static const char *const names[] = {"ip", "state"};
	static const char *const values[] = {"4", "ESTABLISHED"};
	static const char *const bad_le[] = {"le"};
	struct hist h = {0};
	struct om_writer *w;
	struct membuf m;

	mem_open(&m);
	w = om__new(m.f);
	CHECK(w);
	if (!w)
		return;
	CHECK_INT(om__u64(w, NULL, NULL, 0, 1), -EINVAL); /* no family yet */
	CHECK_INT(om__metric(w, "corescope_x_retransmits", OM_COUNTER, NULL, NULL), -EINVAL);
	CHECK_INT(om__metric(w, "corescope_x_bytes", OM_COUNTER, "bytes", NULL), -EINVAL);
	CHECK_INT(om__metric(w, "corescope_x_total", OM_COUNTER, "bytes", NULL), -EINVAL);
	CHECK_INT(om__metric(w, "corescope_x_ms", OM_HISTOGRAM, "ms", NULL), -EINVAL);
	CHECK_INT(om__metric(w, "corescope_x", OM_HISTOGRAM, NULL, NULL), -EINVAL);
	CHECK_INT(om__metric(w, "corescope_x_total", (enum om_type)7, NULL, NULL), -EINVAL);
	CHECK_INT(om__metric(w, "corescope_x_retransmits_total", OM_COUNTER, NULL,
			     "Packets \"retransmitted\"."), 0);
	CHECK_INT(om__u64(w, names, values, 2, 18446744073709551615ull), 0);
	CHECK_INT(om__u64(w, bad_le, values, 1, 1), -EINVAL);
	CHECK_INT(om__hist(w, NULL, NULL, 0, &h, HIST_UNIT_USECS), -EINVAL);
	CHECK_INT(om__double(w, NULL, NULL, 0, -1), -EINVAL);
	CHECK_INT(om__metric(w, "corescope_x_read_bytes_total", OM_COUNTER, "bytes", NULL), 0);
	CHECK_INT(om__u64(w, NULL, NULL, 0, 0), 0);
	CHECK_INT(om__metric(w, "corescope_x_files", OM_GAUGE, NULL, "Files."), 0);
	CHECK_INT(om__double(w, names, values, 1, 2.5), 0);
	CHECK_INT(om__double(w, NULL, NULL, 0, -0.25), 0);
	CHECK_INT(om__double(w, NULL, NULL, 0, 1.0 / 0.0), -EINVAL);
	CHECK_INT(om__end(w), 0);
	CHECK_STR(mem_text(&m),
		  "# TYPE corescope_x_retransmits_total counter\n"
		  "# HELP corescope_x_retransmits_total Packets 'retransmitted'.\n"
		  "corescope_x_retransmits_total{ip=\"4\",state=\"ESTABLISHED\"} "
		  "18446744073709551615\n"
		  "# TYPE corescope_x_read_bytes_total counter\n"
		  "# UNIT corescope_x_read_bytes_total bytes\n"
		  "corescope_x_read_bytes_total 0\n"
		  "# TYPE corescope_x_files gauge\n"
		  "# HELP corescope_x_files Files.\n"
		  "corescope_x_files{ip=\"4\"} 2.5\n"
		  "corescope_x_files -0.25\n"
		  "# EOF\n");
	free(m.buf);
}

/* Over all 64 default buckets: canonical le text, strictly increasing le, monotone counts,
 * +Inf == _count. */
static void test_openmetrics_full(void)
{
	static const char *const names[] = {"disk"};
	static const char *const values[] = {"sda"};
	struct hist h = {0};
	unsigned long long cnt, prev_cnt = 0, count = 0;
	double le, prev_le = -1;
	int buckets = 0, inf = 0;
	struct om_writer *w;
	struct membuf m;
	char *line, *save, *p;

	for (int i = 0; i < HIST_MAX_SLOTS; i++)
		h.slots[i] = i % 3;
	h.slots[63] = 1ULL << 62;
	h.sum = 123456789;
	mem_open(&m);
	w = om__begin(m.f, "corescope_test", "Test.");
	CHECK(w);
	if (!w)
		return;
	CHECK_INT(om__hist(w, names, values, 1, &h, HIST_UNIT_USECS), 0);
	CHECK_INT(om__end(w), 0);
	mem_text(&m);
	CHECK(strstr(m.buf, "le=\"0.001023\"} "));
	CHECK(strstr(m.buf, "le=\"0.131071\"} "));
	CHECK(strstr(m.buf, "le=\"1.048575\"} "));
	CHECK(strstr(m.buf, "le=\"1.844674407370955e+13\"} "));
	CHECK(strstr(m.buf, "corescope_test_seconds_sum{disk=\"sda\"} 123.456789\n"));
	for (line = strtok_r(m.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if ((p = strstr(line, "le=\"+Inf\"} "))) {
			inf = 1;
			cnt = strtoull(p + 11, NULL, 10);
			CHECK(cnt >= prev_cnt);
			prev_cnt = cnt;
		} else if ((p = strstr(line, "le=\""))) {
			le = strtod(p + 4, NULL);
			CHECK(le > prev_le);
			prev_le = le;
			cnt = strtoull(strstr(p, "} ") + 2, NULL, 10);
			CHECK(cnt >= prev_cnt);
			prev_cnt = cnt;
			buckets++;
		} else if ((p = strstr(line, "_count{"))) {
			count = strtoull(strstr(p, "} ") + 2, NULL, 10);
		}
	}
	CHECK_INT(buckets, HIST_MAX_SLOTS);
	CHECK(inf);
	CHECK(count == hist__total(&h));
	CHECK(prev_cnt == count);
	free(m.buf);
}

static void test_openmetrics_invalid(void)
{
	static const char *const bad_le[] = {"le"};
	static const char *const bad_start[] = {"1disk"};
	static const char *const bad_under[] = {"_disk"};
	static const char *const dup[] = {"disk", "disk"};
	static const char *const vals[] = {"a", "b"};
	struct hist h = {0};
	struct om_writer *w;
	struct membuf m;

	mem_open(&m);
	errno = 0;
	CHECK(!om__begin(m.f, "9lives", "x"));
	CHECK_INT(errno, EINVAL);
	CHECK(!om__begin(m.f, "has-dash", "x"));
	CHECK(!om__begin(m.f, "", "x"));
	w = om__begin(m.f, "ok_seconds", NULL);
	CHECK(w);
	if (!w)
		return;
	CHECK_INT(om__hist(w, bad_le, vals, 1, &h, HIST_UNIT_USECS), -EINVAL);
	CHECK_INT(om__hist(w, bad_start, vals, 1, &h, HIST_UNIT_USECS), -EINVAL);
	CHECK_INT(om__hist(w, bad_under, vals, 1, &h, HIST_UNIT_USECS), -EINVAL);
	CHECK_INT(om__hist(w, dup, vals, 2, &h, HIST_UNIT_USECS), -EINVAL);
	CHECK_INT(om__hist(w, NULL, NULL, 0, &h, (enum hist_unit)42), -EINVAL);
	CHECK_INT(om__set_slots(w, 0), -EINVAL);
	CHECK_INT(om__set_slots(w, HIST_MAX_SLOTS + 1), -EINVAL);
	CHECK_INT(om__end(w), 0);
	/* Only the valid family's header and EOF were written; no suffix doubling. */
	CHECK_STR(mem_text(&m), "# TYPE ok_seconds histogram\n# UNIT ok_seconds seconds\n# EOF\n");
	free(m.buf);
}

struct om_job {
	const struct hist *h;
	int fail; /* negative errno to fail with after writing */
};

static int write_metrics(FILE *f, void *ctx)
{
	const struct om_job *job = ctx;
	static const char *const names[] = {"disk"};
	static const char *const values[] = {"vda"};
	struct om_writer *w;
	int err;

	w = om__begin(f, "corescope_biolatency", "Block I/O latency.");
	if (!w)
		return -errno;
	om__set_slots(w, 2);
	err = om__hist(w, names, values, 1, job->h, HIST_UNIT_USECS);
	if (err || job->fail) {
		om__free(w);
		return err ? err : job->fail;
	}
	return om__end(w);
}

static int count_dir_entries(const char *dir)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_atomic_write(void)
{
	char dir[] = "/tmp/test_hist.XXXXXX", path[64];
	struct hist h = {.slots = {1, 1}, .sum = 3};
	struct om_job job = {.h = &h};
	struct stat st;
	FILE *f;

	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/biolatency.prom", dir);

	f = fopen(path, "w");
	CHECK(f);
	if (f) {
		fputs("old\n", f);
		fclose(f);
	}
	CHECK_INT(om__write_file_atomic(path, write_metrics, &job), 0);
	CHECK_STR(slurp(path), "# TYPE corescope_biolatency_seconds histogram\n"
			       "# UNIT corescope_biolatency_seconds seconds\n"
			       "# HELP corescope_biolatency_seconds Block I/O latency.\n"
			       "corescope_biolatency_seconds_bucket{disk=\"vda\",le=\"1e-06\"} 1\n"
			       "corescope_biolatency_seconds_bucket{disk=\"vda\",le=\"3e-06\"} 2\n"
			       "corescope_biolatency_seconds_bucket{disk=\"vda\",le=\"+Inf\"} 2\n"
			       "corescope_biolatency_seconds_sum{disk=\"vda\"} 3e-06\n"
			       "corescope_biolatency_seconds_count{disk=\"vda\"} 2\n"
			       "# EOF\n");
	CHECK_INT(count_dir_entries(dir), 1);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);

	/* A failing writer leaves the previous file and no temporary behind. */
	job.fail = -ENOSPC;
	CHECK_INT(om__write_file_atomic(path, write_metrics, &job), -ENOSPC);
	CHECK(strstr(slurp(path), "# EOF\n") != NULL);
	CHECK_INT(count_dir_entries(dir), 1);

	CHECK_INT(om__write_file_atomic("/nonexistent-corescope-dir/x.prom", write_metrics, &job),
		  -ENOENT);
	CHECK_INT(om__write_file_atomic("/tmp/", write_metrics, &job), -EINVAL);

	unlink(path);
	CHECK_INT(rmdir(dir), 0);
}

static void test_diff(void)
{
	struct hist live = {0}, prev = {0}, delta, reported = {0};
	int i;

	/* Interval 1: 3 events, read. */
	live.slots[0] = 3;
	live.sum = 3;
	live.count = 3;
	CHECK_INT(hist__diff(&live, &prev, &delta), 0);
	CHECK(delta.slots[0] == 3 && delta.count == 3 && delta.sum == 3);
	reported.slots[0] += delta.slots[0];

	/* Events land right after the read: a read-then-delete would lose them here. */
	live.slots[0] += 2;
	live.slots[5] += 1;
	live.sum += 2 + 40;
	live.count += 3;
	CHECK_INT(hist__diff(&live, &prev, &delta), 0);
	CHECK(delta.slots[0] == 2 && delta.slots[5] == 1 && delta.count == 3 && delta.sum == 42);
	for (i = 0; i < HIST_MAX_SLOTS; i++)
		reported.slots[i] += delta.slots[i];
	CHECK(!memcmp(reported.slots, live.slots, sizeof(live.slots)));

	/* Nothing new: an empty delta. */
	CHECK_INT(hist__diff(&live, &prev, &delta), 0);
	CHECK(hist__is_empty(&delta) && delta.sum == 0 && delta.count == 0);

	/* Re-created element (values went down): all of it is new. */
	memset(&live, 0, sizeof(live));
	live.slots[1] = 1;
	live.count = 1;
	live.sum = 2;
	CHECK_INT(hist__diff(&live, &prev, &delta), 1);
	CHECK(!memcmp(&delta, &live, sizeof(live)));
	CHECK(!memcmp(&prev, &live, sizeof(live)));

	/* delta may alias now. */
	live.slots[1] = 4;
	CHECK_INT(hist__diff(&live, &prev, &live), 0);
	CHECK(live.slots[1] == 3 && prev.slots[1] == 4);
}

static void test_track_update(void)
{
	struct hist_track *t;
	struct hist a = {0}, b = {0}, delta;
	__u32 ka = 7, kb = 3;

	errno = 0;
	CHECK(!hist_track__new(0));
	CHECK_INT(errno, EINVAL);
	t = hist_track__new(sizeof(__u32));
	CHECK(t);
	if (!t)
		return;
	a.slots[2] = 5;
	b.slots[4] = 1;
	CHECK_INT(hist_track__update(t, &ka, &a, &delta), 0);
	CHECK(delta.slots[2] == 5);
	CHECK_INT(hist_track__update(t, &kb, &b, &delta), 0);
	CHECK(delta.slots[4] == 1);
	/* Keys keep separate baselines. */
	a.slots[2] = 8;
	CHECK_INT(hist_track__update(t, &ka, &a, &delta), 0);
	CHECK(delta.slots[2] == 3 && hist__total(&delta) == 3);
	CHECK_INT(hist_track__update(t, &kb, &b, &delta), 0);
	CHECK(hist__is_empty(&delta));
	/* Many keys: sorted insertion and growth. */
	for (__u32 k = 200; k > 100; k--) {
		struct hist v = {.slots = {k}};

		CHECK_INT(hist_track__update(t, &k, &v, &delta), 0);
	}
	a.slots[2] = 9;
	CHECK_INT(hist_track__update(t, &ka, &a, &delta), 0);
	CHECK(delta.slots[2] == 1 && hist__total(&delta) == 1);
	hist_track__free(t);
}

struct seen {
	int calls;
	__u64 got[8]; /* delta totals by key */
	__u64 cum[8]; /* cumulative totals by key */
	int stop_after;
};

static int on_key(const void *key, const struct hist *now, const struct hist *delta, void *ctx)
{
	struct seen *s = ctx;
	__u32 k = *(const __u32 *)key;

	s->calls++;
	if (k < 8) {
		s->got[k] += hist__total(delta);
		s->cum[k] = hist__total(now);
	}
	return s->stop_after && s->calls >= s->stop_after ? 99 : 0;
}

static void test_track_map(void)
{
	struct hist_track *t;
	struct hist v = {0};
	struct seen s = {0};
	__u32 k1 = 1, k2 = 2;
	struct hist *pv;
	int fd, pfd, ncpus, c;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_hist", sizeof(__u32), sizeof(struct hist), 8,
			    NULL);
	if (fd < 0) {
		TEST_SKIP("bpf_map_create: %s", strerror(-fd));
		return;
	}
	t = hist_track__new(sizeof(__u32));
	CHECK(t);
	if (!t) {
		close(fd);
		return;
	}

	v.slots[0] = 10;
	CHECK_INT(bpf_map_update_elem(fd, &k1, &v, BPF_ANY), 0);
	CHECK_INT(hist_track__read_map(t, fd, on_key, &s), 0);
	CHECK(s.calls == 1 && s.got[1] == 10);

	/* Counts arriving after the read, and a new key, show up in the next read. */
	v.slots[0] = 13;
	v.slots[9] = 2;
	CHECK_INT(bpf_map_update_elem(fd, &k1, &v, BPF_ANY), 0);
	memset(&v, 0, sizeof(v));
	v.slots[1] = 4;
	CHECK_INT(bpf_map_update_elem(fd, &k2, &v, BPF_ANY), 0);
	CHECK_INT(hist_track__read_map(t, fd, on_key, &s), 0);
	CHECK_INT(s.calls, 3);
	CHECK(s.got[1] == 15 && s.cum[1] == 15); /* every event reported exactly once */
	CHECK(s.got[2] == 4);

	/* A deleted key is forgotten; re-created, it is reported from zero. */
	CHECK_INT(bpf_map_delete_elem(fd, &k1), 0);
	CHECK_INT(hist_track__read_map(t, fd, on_key, &s), 0);
	CHECK_INT(s.calls, 4);
	memset(&v, 0, sizeof(v));
	v.slots[0] = 1;
	CHECK_INT(bpf_map_update_elem(fd, &k1, &v, BPF_ANY), 0);
	CHECK_INT(hist_track__read_map(t, fd, on_key, &s), 0);
	CHECK(s.got[1] == 16 && s.got[2] == 4);

	/* The callback can stop the walk. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	CHECK_INT(hist_track__read_map(t, fd, on_key, &s), 99);
	hist_track__free(t);

	/* A wrong key size is refused. */
	t = hist_track__new(sizeof(__u64));
	CHECK_INT(hist_track__read_map(t, fd, on_key, &s), -EINVAL);
	hist_track__free(t);
	close(fd);

	/* A per-CPU map: each key's values summed over the CPUs, deltas as for a shared one. */
	pfd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "test_hist_pc", sizeof(__u32),
			     sizeof(struct hist), 8, NULL);
	ncpus = libbpf_num_possible_cpus();
	if (pfd < 0 || ncpus < 1) {
		TEST_SKIP("per-CPU map: %s", strerror(pfd < 0 ? -pfd : -ncpus));
		if (pfd >= 0)
			close(pfd);
		return;
	}
	pv = calloc(ncpus, sizeof(*pv));
	t = hist_track__new(sizeof(__u32));
	CHECK(pv && t);
	if (pv && t) {
		memset(&s, 0, sizeof(s));
		for (c = 0; c < ncpus; c++) {
			pv[c].slots[3] = c + 1;
			pv[c].count = c + 1;
		}
		CHECK_INT(bpf_map_update_elem(pfd, &k1, pv, BPF_ANY), 0);
		CHECK_INT(hist_track__read_map(t, pfd, on_key, &s), 0);
		CHECK(s.calls == 1 && s.got[1] == (__u64)ncpus * (ncpus + 1) / 2);
		pv[ncpus - 1].slots[3] += 2;
		CHECK_INT(bpf_map_update_elem(pfd, &k1, pv, BPF_ANY), 0);
		CHECK_INT(hist_track__read_map(t, pfd, on_key, &s), 0);
		CHECK(s.calls == 2 && s.got[1] == (__u64)ncpus * (ncpus + 1) / 2 + 2);
		CHECK(s.cum[1] == s.got[1]);
	}
	hist_track__free(t);
	free(pv);
	close(pfd);
}

int main(void)
{
	TEST_RUN(test_log2_slots);
	TEST_RUN(test_linear_slots);
	TEST_RUN(test_total_and_empty);
	TEST_RUN(test_print_log2_small);
	TEST_RUN(test_print_empty);
	TEST_RUN(test_print_log2_64bit_counts);
	TEST_RUN(test_print_log2_wide);
	TEST_RUN(test_print_linear);
	TEST_RUN(test_json);
	TEST_RUN(test_openmetrics_small);
	TEST_RUN(test_openmetrics_counters);
	TEST_RUN(test_openmetrics_full);
	TEST_RUN(test_openmetrics_invalid);
	TEST_RUN(test_atomic_write);
	TEST_RUN(test_diff);
	TEST_RUN(test_track_update);
	TEST_RUN(test_track_map);
	return TEST_REPORT();
}
