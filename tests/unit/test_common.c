/* Unit tests for the command line, escaping, JSON, column output and path helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "btfmin.h"
#include "cli.h"
#include "escape.h"
#include "htab.h"
#include "json.h"
#include "out.h"
#include "pathbuf.h"
#include "testhelp.h"

static void test_parse_u64_strict(void)
{
	uint64_t v = 7;

	CHECK_INT(parse_u64("0", 0, 10, &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(parse_u64("10", 0, 10, &v), 0);
	CHECK_INT(v, 10);
	CHECK_INT(parse_u64("0x1f", 0, 100, &v), 0);
	CHECK_INT(v, 31);
	CHECK_INT(parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_INT(parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	CHECK_INT(parse_u64("11", 0, 10, &v), -ERANGE);
	CHECK_INT(parse_u64("0", 1, 10, &v), -ERANGE);
	CHECK_INT(parse_u64("abc", 0, 10, &v), -EINVAL);
	CHECK_INT(parse_u64("", 0, 10, &v), -EINVAL);
	CHECK_INT(parse_u64("-5", 0, 10, &v), -EINVAL);
	CHECK_INT(parse_u64(" 5", 0, 10, &v), -EINVAL);
	CHECK_INT(parse_u64("5 ", 0, 10, &v), -EINVAL);
	CHECK_INT(parse_u64("5x", 0, 10, &v), -EINVAL);
	CHECK_INT(parse_u64("+5", 0, 10, &v), -EINVAL);
	CHECK_INT(parse_u64("0x", 0, 10, &v), -EINVAL);
	CHECK_INT(parse_u64(NULL, 0, 10, &v), -EINVAL);
}

/* Runs fn in a child (cli__* exit on bad input); returns its exit status and stderr. */
static int child_status(void (*fn)(void *), void *arg, char *err, size_t size)
{
	int pipefd[2], status = -1;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		fn(arg);
		exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], err, size - 1);
	err[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void seconds_bad(void *arg)
{
	cli__seconds_ms(arg, "duration", 1, 10000);
}

static void test_cli_seconds(void)
{
	char err[512];

	CHECK_INT(cli__seconds_ms("1.5", "d", 1, 10000), 1500);
	CHECK_INT(cli__seconds_ms("2", "d", 1, 10000), 2000);
	CHECK_INT(cli__seconds_ms("0.001", "d", 1, 10000), 1);
	CHECK_INT(child_status(seconds_bad, "abc", err, sizeof(err)), 2);
	CHECK(strstr(err, "invalid duration 'abc'") != NULL);
	CHECK(strchr(err, '\n') == err + strlen(err) - 1);
	CHECK_INT(child_status(seconds_bad, "1.", err, sizeof(err)), 2);
	CHECK_INT(child_status(seconds_bad, "-1", err, sizeof(err)), 2);
	CHECK_INT(child_status(seconds_bad, "0", err, sizeof(err)), 2);
	CHECK_INT(child_status(seconds_bad, "11", err, sizeof(err)), 2);
	CHECK(strstr(err, "between") != NULL);
}

static void u64_bad(void *arg)
{
	cli__u64(arg, "PID", 1, 100);
}

static void test_cli_u64_errors_escaped(void)
{
	char err[512];

	CHECK_INT(child_status(u64_bad, "\x1b[31m", err, sizeof(err)), 2);
	CHECK(strchr(err, '\x1b') == NULL);
	CHECK(strstr(err, "invalid PID '\\x1b[31m'") != NULL);
	CHECK_INT(child_status(u64_bad, "101", err, sizeof(err)), 2);
	CHECK(strstr(err, "between 1 and 100") != NULL);
}

static const char *esc(const char *s, size_t len, unsigned flags)
{
	static char buf[256];

	escape_text(buf, sizeof(buf), s, len, flags);
	return buf;
}

static void test_escape_text(void)
{
	char small[6];

	CHECK_STR(esc("plain text", 10, 0), "plain text");
	CHECK_STR(esc("a b", 3, ESCAPE_SPACE), "a\\x20b");
	CHECK_STR(esc("a\nb\tc\rd", 7, 0), "a\\nb\\tc\\rd");
	CHECK_STR(esc("\x1b[2J", 4, 0), "\\x1b[2J");
	CHECK_STR(esc("back\\slash", 10, 0), "back\\\\slash");
	CHECK_STR(esc("\x7f", 1, 0), "\\x7f");
	CHECK_STR(esc("caf\xc3\xa9", 5, 0), "caf\xc3\xa9");           /* valid UTF-8 */
	CHECK_STR(esc("\xe2\x82\xac", 3, 0), "\xe2\x82\xac");          /* euro sign */
	CHECK_STR(esc("\xff\xfe", 2, 0), "\\xff\\xfe");                  /* invalid */
	CHECK_STR(esc("\xc3", 1, 0), "\\xc3");                            /* cut sequence */
	CHECK_STR(esc("\xc0\xaf", 2, 0), "\\xc0\\xaf");                  /* overlong */
	CHECK_STR(esc("\xed\xa0\x80", 3, 0), "\\xed\\xa0\\x80");        /* surrogate */
	CHECK_STR(esc("\xc2\x9b", 2, 0), "\\xc2\\x9b");                  /* C1 CSI */
	CHECK_STR(esc("\xe2\x80\xa8", 3, 0), "\\xe2\\x80\\xa8");        /* line separator */
	CHECK_STR(esc("a\0b", 3, 0), "a\\x00b");
	/* Truncation never cuts an escape in half, and reports the full length. */
	CHECK_INT(escape_text(small, sizeof(small), "ab\x1b", 3, 0), 6);
	CHECK_STR(small, "ab");
}

static char *json_of(void (*fn)(struct json_writer *))
{
	static char out[1024];
	FILE *f = fmemopen(out, sizeof(out), "w");
	struct json_writer w;

	json_writer__init(&w, f);
	fn(&w);
	fclose(f);
	return out;
}

static void json_record(struct json_writer *w)
{
	json_obj_begin(w);
	json_key(w, "s");
	json_str(w, "q\"b\\n\n\x01");
	json_key(w, "bad");
	json_strn(w, "\xff" "a", 2);
	json_key(w, "n");
	json_s64(w, -3);
	json_key(w, "u");
	json_u64(w, UINT64_MAX);
	json_key(w, "arr");
	json_arr_begin(w);
	json_u64(w, 1);
	json_obj_begin(w);
	json_key(w, "x");
	json_null(w);
	json_obj_end(w);
	json_bool(w, true);
	json_arr_end(w);
	json_key(w, "d");
	json_double(w, 1.5);
	json_key(w, "utf8");
	json_str(w, "\xc3\xa9\xe2\x80\xa8");
	json_obj_end(w);
	json_writer__endl(w);
}

static void test_json_writer(void)
{
	CHECK_STR(json_of(json_record),
		  "{\"s\":\"q\\\"b\\\\n\\n\\u0001\",\"bad\":\"\\udcffa\",\"n\":-3,"
		  "\"u\":18446744073709551615,\"arr\":[1,{\"x\":null},true],\"d\":1.5,"
		  "\"utf8\":\"\xc3\xa9\\u2028\"}\n");
}

static struct out_col cols[] = {
	{ "PID", "pid", 5, 0 },
	{ "COMM", "comm", 6, OUT_LEFT },
	{ "UID", "uid", 4, OUT_HIDE_TEXT },
	{ "GONE", "gone", 4, OUT_HIDE },
	{ "PATH", "path", 0, OUT_LEFT },
};

static void out_rows(struct out *o)
{
	out__header(o);
	out__begin(o);
	out__u64(o, 0, 42);
	out__cstr(o, 1, "a b");
	out__u64(o, 2, 1000);
	out__u64(o, 3, 9);
	out__cstr(o, 4, "/tmp/x y\n");
	out__end(o);
}

static void test_out_text_and_json(void)
{
	char text[512], json[512];
	FILE *f;
	struct out *o;

	f = fmemopen(text, sizeof(text), "w");
	o = out__new(f, false, cols, 5);
	out_rows(o);
	out__free(o);
	fclose(f);
	CHECK_STR(text, "  PID COMM   PATH\n"
			"   42 a\\x20b /tmp/x y\\n\n");

	f = fmemopen(json, sizeof(json), "w");
	o = out__new(f, true, cols, 5);
	out_rows(o);
	out__free(o);
	fclose(f);
	CHECK_STR(json, "{\"pid\":42,\"comm\":\"a b\",\"uid\":1000,\"path\":\"/tmp/x y\\n\"}\n");
}

static void test_pathbuf(void)
{
	char buf[64];
	/* leaf first: c, b, a */
	static const char comps[] = "c\0b\0a";

	CHECK_INT(pathbuf__join(buf, sizeof(buf), comps, sizeof(comps), 3, false), 6);
	CHECK_STR(buf, "/a/b/c");
	CHECK_INT(pathbuf__join(buf, sizeof(buf), "", 0, 0, false), 1);
	CHECK_STR(buf, "/");
	CHECK_INT(pathbuf__join(buf, 4, comps, sizeof(comps), 3, false), -ENAMETOOLONG);
	/* A walk that stopped before the root: the marker stands for what is above. */
	CHECK_INT(pathbuf__join(buf, sizeof(buf), comps, 4, 2, true), 7);
	CHECK_STR(buf, ".../b/c");
	CHECK_INT(pathbuf__join(buf, sizeof(buf), "", 0, 0, true), 3);
	CHECK_STR(buf, "...");
	CHECK_INT(pathbuf__join(buf, 6, comps, sizeof(comps), 3, true), -ENAMETOOLONG);
	CHECK_STR(buf, ".../a");
	strcpy(buf, ".../a/b");
	pathbuf__append(buf, sizeof(buf), "../../../c/./d");
	pathbuf__canonicalize(buf);
	CHECK_STR(buf, ".../c/d");
	strcpy(buf, "...");
	pathbuf__canonicalize(buf);
	CHECK_STR(buf, "...");

	strcpy(buf, "/a/b");
	pathbuf__append(buf, sizeof(buf), "../c/./d/");
	pathbuf__canonicalize(buf);
	CHECK_STR(buf, "/a/c/d");
	strcpy(buf, "/");
	pathbuf__append(buf, sizeof(buf), "x");
	pathbuf__canonicalize(buf);
	CHECK_STR(buf, "/x");
	strcpy(buf, "/a");
	pathbuf__append(buf, sizeof(buf), "/abs//p");
	pathbuf__canonicalize(buf);
	CHECK_STR(buf, "/abs/p");
	strcpy(buf, "/../../..");
	pathbuf__canonicalize(buf);
	CHECK_STR(buf, "/");
	strcpy(buf, "/a/..b/...");
	pathbuf__canonicalize(buf);
	CHECK_STR(buf, "/a/..b/...");
}

/* Deletion moves later entries of a probe run back: every survivor must still be found. */
static void test_htab(void)
{
	struct htab t = {0};
	struct htab_ent *e;
	uint32_t k = 0;
	size_t seen = 0;

	CHECK(htab__get(&t, &k, sizeof(k), false) == NULL);
	CHECK(htab__next(&t, NULL) == NULL);
	for (k = 0; k < 5000; k++) {
		e = htab__get(&t, &k, sizeof(k), true);
		CHECK(e && e->val.u64 == 0);
		if (e)
			e->val.u64 = k + 1;
	}
	CHECK_INT(t.n, 5000);
	for (k = 0; k < 5000; k += 3)
		htab__del(&t, htab__get(&t, &k, sizeof(k), false));
	for (k = 0; k < 5000; k++) {
		e = htab__get(&t, &k, sizeof(k), false);
		if (k % 3 == 0)
			CHECK(e == NULL);
		else
			CHECK(e && e->val.u64 == k + 1);
	}
	for (e = NULL; (e = htab__next(&t, e));)
		seen++;
	CHECK_INT(seen, t.n);
	CHECK(htab__get(&t, "", 0, true) != NULL);
	CHECK(htab__get(&t, "", 0, false) != NULL);
	htab__free(&t);
	CHECK_INT(t.n, 0);
}

/* A file in dir, its mtime `age` seconds ago. */
static void make_aged(const char *dir, const char *name, time_t age)
{
	char path[512];
	struct timespec ts[2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, "x", 1) == 1);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	CHECK_INT(futimens(fd, ts), 0);
	close(fd);
}

static bool exists_in(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* The BTF cache keeps the most recently used files, removes stale temporary ones, and
 * touches nothing that is not named like its own files (a link is removed, never followed). */
static void test_btfmin_prune(void)
{
	char dir[] = "/tmp/corescope-btfcache-XXXXXX", other[] = "/tmp/corescope-target-XXXXXX";
	char name[128], path[512];
	const char *id = "0123456789abcdef0123456789abcdef01234567";
	int i, fd;

	if (!mkdtemp(dir)) {
		TEST_SKIP("mkdtemp: %s", strerror(errno));
		return;
	}
	fd = mkstemp(other);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	setenv("CORESCOPE_CACHE_DIR", dir, 1);
	/* Files used i seconds ago, i = 1..10: the 4 newest stay. */
	for (i = 1; i <= 10; i++) {
		snprintf(name, sizeof(name), "%016x-%s.btf", i, id);
		make_aged(dir, name, i * 10);
	}
	make_aged(dir, "notes.txt", 1000);                       /* not the cache's */
	make_aged(dir, "00000000000000aa-xyz.btf", 1000);         /* not hex */
	make_aged(dir, ".000000000000000b-abcd.btf.123", 7200);  /* stale temporary */
	make_aged(dir, ".000000000000000c-abcd.btf.124", 5);     /* being written */
	snprintf(path, sizeof(path), "%s/00000000000000dd-%s.btf", dir, id);
	CHECK_INT(mkdir(path, 0700), 0);                          /* a directory: stays */
	snprintf(path, sizeof(path), "%s/00000000000000ee-%s.btf", dir, id);
	CHECK_INT(symlink(other, path), 0);                       /* a link: oldest, removed */
	{
		struct timespec ts[2] = { { .tv_sec = 1 }, { .tv_sec = 1 } };

		utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
	}
	CHECK_INT(btfmin__prune_cache(4), 8);
	for (i = 1; i <= 10; i++) {
		snprintf(name, sizeof(name), "%016x-%s.btf", i, id);
		CHECK(exists_in(dir, name) == (i <= 4));
	}
	CHECK(exists_in(dir, "notes.txt"));
	CHECK(exists_in(dir, "00000000000000aa-xyz.btf"));
	CHECK(!exists_in(dir, ".000000000000000b-abcd.btf.123"));
	CHECK(exists_in(dir, ".000000000000000c-abcd.btf.124"));
	snprintf(name, sizeof(name), "00000000000000dd-%s.btf", id);
	CHECK(exists_in(dir, name));
	snprintf(name, sizeof(name), "00000000000000ee-%s.btf", id);
	CHECK(!exists_in(dir, name));
	CHECK(access(other, F_OK) == 0); /* the link's target is untouched */
	CHECK_INT(btfmin__prune_cache(4), 0);

	/* A directory others may write is not used, so not pruned either. */
	CHECK_INT(chmod(dir, 0777), 0);
	CHECK_INT(btfmin__prune_cache(0), -EPERM);
	snprintf(name, sizeof(name), "%016x-%s.btf", 1, id);
	CHECK(exists_in(dir, name));

	unsetenv("CORESCOPE_CACHE_DIR");
	snprintf(path, sizeof(path), "rm -rf '%s' '%s'", dir, other);
	CHECK_INT(system(path), 0);
}

int main(void)
{
	TEST_RUN(test_htab);
	TEST_RUN(test_parse_u64_strict);
	TEST_RUN(test_cli_seconds);
	TEST_RUN(test_cli_u64_errors_escaped);
	TEST_RUN(test_escape_text);
	TEST_RUN(test_json_writer);
	TEST_RUN(test_out_text_and_json);
	TEST_RUN(test_pathbuf);
	TEST_RUN(test_btfmin_prune);
	return TEST_REPORT();
}
