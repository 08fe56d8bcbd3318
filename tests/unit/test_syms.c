/* Symbolizer: the maps, kallsyms and perf-map parsers on literal text; ELF fixtures built
 * here with cc/objcopy (PIE, non-PIE, shared object, stripped with a debug file found by
 * build-id and by .gnu_debuglink); live processes (shared libraries, deleted binaries, exit
 * before lookup, vdso, JIT perf maps). Needs no root; needs cc, objcopy, nm, readelf. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syms/syms.h"
#include "syms/elfsyms.h"
#include "syms/perfmap.h"
#include "syms/procmaps.h"
#include "syms/symtab.h"
#include "syms/util.h"
#include "testhelp.h"

/* ---- fixtures ---- */

static const char fixture_lib[] =
	"#include <stdint.h>\n"
	"__attribute__((noinline)) int symfix_lib_func(int x) { return x * 7 + 3; }\n"
	"static __attribute__((noinline)) int symfix_lib_static(int x) { return x - 11; }\n"
	/* Taken inside the library: a non-PIE executable would see a PLT stub instead. */
	/* Local aliases like glibc's __memmove_avx_unaligned_erms = __memcpy_avx_unaligned_erms,
	 * one pair defined long-name first, the other short-name first. */
	"__attribute__((noinline, used)) static int __symfix_movelong(int x) { return x + 5; }\n"
	"static int __symfix_cpy(int) __attribute__((alias(\"__symfix_movelong\"), used));\n"
	"__attribute__((noinline, used)) static int __symfix_cpy2(int x) { return x + 6; }\n"
	"static int __symfix_movelong2(int) __attribute__((alias(\"__symfix_cpy2\"), used));\n"
	"__attribute__((noinline, used)) static int __symfix_under(int x) { return x + 8; }\n"
	"static int symfix_under(int) __attribute__((alias(\"__symfix_under\"), used));\n"
	"uintptr_t symfix_lib_addrs(uintptr_t *st)\n"
	"{ *st = (uintptr_t)&symfix_lib_static; return (uintptr_t)&symfix_lib_func; }\n";

static const char fixture_main[] =
	"#include <stdint.h>\n"
	"#include <stdio.h>\n"
	"#include <unistd.h>\n"
	"uintptr_t symfix_lib_addrs(uintptr_t *st);\n"
	"__attribute__((noinline)) int symfix_exe_func(int x) { return x * 3 + 1; }\n"
	"static __attribute__((noinline)) int symfix_exe_static(int x) { return x ^ 0x55; }\n"
	"int main(void)\n"
	"{\n"
	"	uintptr_t lib_static, lib = symfix_lib_addrs(&lib_static);\n"
	"	char c;\n"
	"	printf(\"%lx %lx %lx %lx\\n\", (unsigned long)(uintptr_t)&symfix_exe_func,\n"
	"	       (unsigned long)(uintptr_t)&symfix_exe_static, (unsigned long)lib,\n"
	"	       (unsigned long)lib_static);\n"
	"	fflush(stdout);\n"
	"	while (read(0, &c, 1) > 0)\n"
	"		;\n"
	"	return symfix_exe_func(1) + symfix_exe_static(2) > 0 ? 0 : 1;\n"
	"}\n";

/* Versioned definitions: GNU ld names them "symfix_ver@VER_1" and "symfix_ver@@VER_2" in
 * .symtab. */
static const char fixture_ver[] =
	"__attribute__((noinline)) int symfix_v1(int x) { return x + 1; }\n"
	"__attribute__((noinline)) int symfix_v2(int x) { return x + 2; }\n"
	"__asm__(\".symver symfix_v1, symfix_ver@VER_1\");\n"
	"__asm__(\".symver symfix_v2, symfix_ver@@VER_2\");\n";

static const char fixture_ver_map[] =
	"VER_1 { global: symfix_ver; local: *; };\n"
	"VER_2 { global: symfix_ver; } VER_1;\n";

struct fixtures {
	bool ok;
	char dir[128];
	char dbgroot[160];
	char bid_debug[320];  /* the build-id debug file, relative to dir */
};

static struct fixtures fx;

static char *fmt_path(char *buf, size_t sz, const char *name)
{
	snprintf(buf, sz, "%s/%s", fx.dir, name);
	return buf;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "  command failed (%d): %s\n", rc, cmd);
	return rc;
}

static bool write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f)
		return false;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}

/* Builds every fixture once; a missing cc/objcopy fails the tests that need them. */
static bool build_fixtures(void)
{
	static bool tried;
	const char *d = fx.dir;
	char p[PATH_MAX + 32], id[256] = "";
	FILE *f;
	int rc = 0;

	if (tried)
		return fx.ok;
	tried = true;
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_syms.XXXXXX");
	if (!mkdtemp(fx.dir)) {
		perror("mkdtemp");
		return false;
	}
	snprintf(fx.dbgroot, sizeof(fx.dbgroot), "%s/dbgroot", d);
	if (!write_file(fmt_path(p, sizeof(p), "lib.c"), fixture_lib) ||
	    !write_file(fmt_path(p, sizeof(p), "main.c"), fixture_main) ||
	    !write_file(fmt_path(p, sizeof(p), "ver.c"), fixture_ver) ||
	    !write_file(fmt_path(p, sizeof(p), "ver.map"), fixture_ver_map))
		return false;
#define CC_MAIN "cc -O1 -o %s/%s %s/main.c -L%s -lsymfix -Wl,-rpath,%s"
	rc |= sh("cc -O1 -fPIC -shared -Wl,--build-id -o %s/libsymfix.so %s/lib.c", d, d);
	rc |= sh(CC_MAIN " -fPIE -pie", d, "pie", d, d, d);
	rc |= sh(CC_MAIN " -fno-pie -no-pie", d, "nopie", d, d, d);
	/* Stripped, debug file under the debug root by build-id. */
	rc |= sh(CC_MAIN " -Wl,--build-id=sha1", d, "bid", d, d, d);
	rc |= sh("objcopy --only-keep-debug %s/bid %s/bid.debug && objcopy --strip-all %s/bid",
		 d, d, d);
	/* Stripped, no build-id, debug file by .gnu_debuglink in .debug/. */
	rc |= sh(CC_MAIN " -Wl,--build-id=none", d, "dl", d, d, d);
	rc |= sh("mkdir -p %s/.debug && objcopy --only-keep-debug %s/dl %s/.debug/dl.debug && "
		 "objcopy --strip-all --add-gnu-debuglink=%s/.debug/dl.debug %s/dl", d, d, d, d, d);
	/* Same, but the debug file changed afterwards: its CRC no longer matches. */
	rc |= sh(CC_MAIN " -Wl,--build-id=none", d, "dlbad", d, d, d);
	rc |= sh("objcopy --only-keep-debug %s/dlbad %s/dlbad.debug && "
		 "objcopy --strip-all --add-gnu-debuglink=%s/dlbad.debug %s/dlbad && "
		 "printf x >> %s/dlbad.debug", d, d, d, d, d);
	/* Stripped shared object, debug file by debuglink under <debug root><dir>/. */
	rc |= sh("cc -O1 -fPIC -shared -Wl,--build-id=none -o %s/libdl.so %s/lib.c && "
		 "objcopy --only-keep-debug %s/libdl.so %s/libdl.so.debug && "
		 "objcopy --strip-all --add-gnu-debuglink=%s/libdl.so.debug %s/libdl.so && "
		 "mkdir -p %s%s && mv %s/libdl.so.debug %s%s/", d, d, d, d, d, d, fx.dbgroot, d, d,
		 fx.dbgroot, d);
	rc |= sh("cc -O1 -fPIC -shared -Wl,--version-script=%s/ver.map -o %s/libver.so %s/ver.c",
		 d, d, d);
#undef CC_MAIN
	if (rc)
		return false;
	/* The build-id, read by readelf rather than by the code under test. */
	snprintf(p, sizeof(p), "readelf -n %s/bid", d);
	f = popen(p, "r");
	if (f) {
		char line[512];

		while (fgets(line, sizeof(line), f))
			if (sscanf(line, " Build ID: %255s", id) == 1)
				break;
		pclose(f);
	}
	if (strlen(id) < 4)
		return false;
	if (sh("mkdir -p %s/.build-id/%.2s && mv %s/bid.debug %s/.build-id/%.2s/%s.debug",
	       fx.dbgroot, id, d, fx.dbgroot, id, id + 2))
		return false;
	snprintf(fx.bid_debug, sizeof(fx.bid_debug), "dbgroot/.build-id/%.2s/%s.debug", id, id + 2);
	fx.ok = true;
	return true;
}

/* The address nm gives a symbol in file, or 0. */
static uint64_t nm_addr(const char *file, const char *name)
{
	char cmd[PATH_MAX + 64], line[512], sym[256];
	unsigned long long addr;
	uint64_t found = 0;
	char type;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nm --defined-only %s", file);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %255s", &addr, &type, sym) == 3 && strcmp(sym, name) == 0)
			found = addr;
	pclose(f);
	return found;
}

struct child {
	pid_t pid;
	int in_fd;  /* the child exits when this closes */
	uint64_t exe_func, exe_static, lib_func, lib_static;
};

/* Runs a fixture (name in the fixture dir), or a shell command that ends by exec'ing one
 * (so the pid is the fixture's), and reads the addresses it prints. */
static bool spawn_how(const char *name, const char *shell_cmd, struct child *c)
{
	int in[2], out[2];
	char path[PATH_MAX + 32], line[256];
	unsigned long a[4];
	ssize_t n, len = 0;

	memset(c, 0, sizeof(*c));
	fmt_path(path, sizeof(path), name);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return false;
	c->pid = fork();
	if (c->pid < 0)
		return false;
	if (c->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (shell_cmd)
			execl("/bin/sh", "sh", "-c", shell_cmd, (char *)NULL);
		else
			execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in_fd = in[1];
	while (len < (ssize_t)sizeof(line) - 1 && (n = read(out[0], line + len, 1)) == 1) {
		if (line[len++] == '\n')
			break;
	}
	close(out[0]);
	line[len] = '\0';
	if (sscanf(line, "%lx %lx %lx %lx", &a[0], &a[1], &a[2], &a[3]) != 4) {
		fprintf(stderr, "  %s printed \"%s\"\n", name, line);
		return false;
	}
	c->exe_func = a[0];
	c->exe_static = a[1];
	c->lib_func = a[2];
	c->lib_static = a[3];
	return true;
}

/* Ends the child; c->pid stays set: lookups after exit are the point of some tests. */
static bool spawn(const char *name, struct child *c)
{
	return spawn_how(name, NULL, c);
}

static void reap(struct child *c)
{
	int status;

	if (c->in_fd <= 0)
		return;
	close(c->in_fd);
	c->in_fd = -1;
	if (c->pid > 0)
		waitpid(c->pid, &status, 0);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = s ? strlen(s) : 0, lx = strlen(suffix);

	return s && ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static struct syms_cache *new_cache(void)
{
	struct syms_cache_opts o = {.sz = sizeof(o), .debug_dir = fx.dbgroot};

	return syms_cache__new(&o);
}

/* ---- /proc/PID/maps ---- */

static const char maps_text[] =
	"55d0c8a00000-55d0c8a02000 r--p 00000000 fe:00 247498                     /usr/bin/head\n"
	"7f0000000000-7f0000001000 r-xp 00001000 08:11 1234   /opt/my app/bin/a b (deleted)\n"
	"7ffd1c3f2000-7ffd1c3f4000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7f1000000000-7f1000100000 rw-p 00000000 00:00 0 \n"
	"7f1000100000-7f1000200000 rwxp 00000000 00:00 0\n"
	"7f2000000000-7f2000001000 r-xp 00000000 00:00 0                          [anon:jit code]\n"
	"7f3000000000-7f3000001000 r-xs 00000000 00:05 1027                       /memfd:jit (deleted)\n"
	"7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";

struct maps_seen {
	struct procmap m[16];
	char paths[16][64];
	int n;
};

static int maps_collect(const struct procmap *m, void *ctx)
{
	struct maps_seen *s = ctx;

	if (s->n >= 16)
		return -E2BIG;
	s->m[s->n] = *m;
	snprintf(s->paths[s->n], sizeof(s->paths[0]), "%.*s", (int)m->path_len, m->path);
	s->n++;
	return 0;
}

static void check_maps_seen(const struct maps_seen *s)
{
	CHECK_INT(s->n, 9);
	if (s->n != 9)
		return;
	CHECK(s->m[0].start == 0x55d0c8a00000ull && s->m[0].end == 0x55d0c8a02000ull);
	CHECK_INT(s->m[0].flags, PROCMAP_READ | PROCMAP_FILE);
	CHECK_INT(s->m[0].dev_major, 0xfe);
	CHECK_INT(s->m[0].dev_minor, 0);
	CHECK_INT(s->m[0].inode, 247498);
	CHECK_STR(s->paths[0], "/usr/bin/head");

	CHECK_STR(s->paths[1], "/opt/my app/bin/a b");
	CHECK_INT(s->m[1].flags, PROCMAP_READ | PROCMAP_EXEC | PROCMAP_FILE | PROCMAP_DELETED);
	CHECK_INT(s->m[1].offset, 0x1000);
	CHECK_INT(s->m[1].dev_major, 8);
	CHECK_INT(s->m[1].dev_minor, 0x11);

	CHECK_STR(s->paths[2], "[vdso]");
	CHECK_INT(s->m[2].flags, PROCMAP_READ | PROCMAP_EXEC | PROCMAP_PSEUDO | PROCMAP_VDSO);

	CHECK_STR(s->paths[3], "");
	CHECK_INT(s->m[3].flags, PROCMAP_READ | PROCMAP_WRITE | PROCMAP_ANON);
	CHECK_INT(s->m[4].flags, PROCMAP_READ | PROCMAP_WRITE | PROCMAP_EXEC | PROCMAP_ANON);

	CHECK_STR(s->paths[5], "[anon:jit code]");
	CHECK_INT(s->m[5].flags, PROCMAP_READ | PROCMAP_EXEC | PROCMAP_PSEUDO | PROCMAP_ANON);

	CHECK_STR(s->paths[6], "/memfd:jit");
	CHECK_INT(s->m[6].flags, PROCMAP_READ | PROCMAP_EXEC | PROCMAP_SHARED | PROCMAP_FILE |
					 PROCMAP_DELETED);

	CHECK_INT(s->m[7].flags, PROCMAP_READ | PROCMAP_WRITE | PROCMAP_PSEUDO | PROCMAP_ANON);
	CHECK(s->m[8].start == 0xffffffffff600000ull);
	CHECK_INT(s->m[8].flags, PROCMAP_EXEC | PROCMAP_PSEUDO);
	CHECK_STR(s->paths[8], "[vsyscall]");
}

static void test_procmaps_parse(void)
{
	struct maps_seen s = {0};

	CHECK_INT(procmaps__parse(maps_text, strlen(maps_text), maps_collect, &s), 0);
	check_maps_seen(&s);
}

static void test_procmaps_file(void)
{
	struct maps_seen s = {0};
	FILE *f = fmemopen((void *)maps_text, strlen(maps_text), "r");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(procmaps__parse_file(f, maps_collect, &s), 0);
	fclose(f);
	check_maps_seen(&s);
}

static int stop_at_second(const struct procmap *m, void *ctx)
{
	int *n = ctx;

	(void)m;
	return ++*n == 2 ? 42 : 0;
}

static void test_procmaps_errors(void)
{
	static const char *bad[] = {
		"garbage\n",
		"1000-2000 r-xp\n",
		"1000-2000 r-xp 00000000 fe:00\n",
		"1000-2000 r-xp 00000000 fe00 12 /x\n",
		"2000-1000 r-xp 00000000 fe:00 12 /x\n",
		"1000-2000 r-xp 00000000 fe:00 12x /x\n",
	};
	const char two[] = "1000-2000 r-xp 0 00:00 0\n3000-4000 r-xp 0 00:00 0\n";
	struct procmap m;
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (procmap__parse_line(bad[i], strlen(bad[i]), &m) != -EINVAL)
			TEST_FAIL_AT("accepted \"%s\"", bad[i]);
	CHECK_INT(procmaps__parse(two, sizeof(two) - 1, stop_at_second, &n), 42);
	CHECK_INT(procmaps__parse("", 0, stop_at_second, &n), 0);
}

/* ---- kallsyms ---- */

static const char kallsyms_unsorted[] =
	"ffffffff81000300 T global_func\n"
	"ffffffff81000100 T _stext\n"
	"ffffffffc0001000 t mod_func\t[mymod]\n"
	"ffffffff81000100 T srso_alias_untrain_ret\n"
	"0000000000000000 A fixed_percpu_data\n"
	"ffffffff81000000 T _text\n"
	"ffffffffc0002000 t other_mod_func\t[othermod]\n"
	"ffffffff81000200 t local_func\n"
	"ffffffffc0001100 T mod_func2\t[mymod]\n"
	"ffffffff81000100 t __pfx_x\n"
	"ffffffff81000400 D some_data";  /* no final newline */

static void check_kallsyms(const struct ksyms *ks)
{
	const struct ksym *s;
	uint64_t off = 1;

	CHECK_INT(ksyms__count(ks), 10);
	CHECK(ksyms__map_addr(ks, 0xffffffff80ffffffull, &off) == NULL);
	s = ksyms__map_addr(ks, 0xffffffff81000250ull, &off);
	CHECK(s && strcmp(s->name, "local_func") == 0 && off == 0x50 && !s->module);
	s = ksyms__map_addr(ks, 0xffffffff81000100ull, &off);
	CHECK(s && strcmp(s->name, "srso_alias_untrain_ret") == 0 && off == 0);
	s = ksyms__map_addr(ks, 0xffffffff81000000ull, &off);
	CHECK(s && strcmp(s->name, "_text") == 0);
	s = ksyms__map_addr(ks, 0xffffffffc0001050ull, &off);
	CHECK(s && strcmp(s->name, "mod_func") == 0 && off == 0x50);
	CHECK(s && s->module && strcmp(s->module, "mymod") == 0);
	s = ksyms__map_addr(ks, 0xffffffffc0001100ull, NULL);
	CHECK(s && strcmp(s->name, "mod_func2") == 0 && s->module && !strcmp(s->module, "mymod"));
	s = ksyms__map_addr(ks, 0xffffffffc0002010ull, NULL);
	CHECK(s && s->module && strcmp(s->module, "othermod") == 0);
	s = ksyms__get_symbol(ks, "global_func");
	CHECK(s && s->addr == 0xffffffff81000300ull);
	s = ksyms__get_symbol(ks, "_stext");
	CHECK(s && s->addr == 0xffffffff81000100ull);
	CHECK(ksyms__get_symbol(ks, "fixed_percpu_data") == NULL);
	s = ksyms__get_symbol(ks, "some_data");
	CHECK(s && s->addr == 0xffffffff81000400ull);
}

static void test_ksyms_parse(void)
{
	static const char sorted[] = "ffffffff81000000 T a\nffffffff81000010 t b\n"
				     "ffffffff81000020 T c\tmalformed-module\n";
	struct ksyms *ks = ksyms__parse(kallsyms_unsorted, strlen(kallsyms_unsorted));
	const struct ksym *s;

	CHECK(ks != NULL);
	if (ks)
		check_kallsyms(ks);
	ksyms__free(ks);

	ks = ksyms__parse(sorted, strlen(sorted));
	CHECK(ks != NULL);
	if (ks) {
		s = ksyms__map_addr(ks, 0xffffffff8100001full, NULL);
		CHECK(s && strcmp(s->name, "b") == 0);
		s = ksyms__map_addr(ks, 0xffffffff81000fffull, NULL);
		CHECK(s && strcmp(s->name, "c") == 0 && s->module == NULL);
	}
	ksyms__free(ks);
}

/* The shape of a live kallsyms: long sorted, a short unsorted tail (BPF programs), one of
 * them an alias of a sorted symbol that must win on rank. */
static void test_ksyms_sorted_with_tail(void)
{
	char text[4096], name[32];
	const struct ksym *s;
	size_t len = 0;
	struct ksyms *ks;
	int i;

	for (i = 0; i < 40; i++)
		len += snprintf(text + len, sizeof(text) - len, "ffffffff8100%04x %c f%d\n",
				i * 0x10, i == 20 ? 'D' : 't', i);
	len += snprintf(text + len, sizeof(text) - len,
			"ffffffffc0002000 t bpf_b\t[bpf]\n"
			"ffffffff81000008 t bpf_a\t[bpf]\n"
			"ffffffff81000140 T tail_alias\t[bpf]\n");
	ks = ksyms__parse(text, len);
	CHECK(ks != NULL);
	if (!ks)
		return;
	CHECK_INT(ksyms__count(ks), 43);
	for (i = 0; i < 40; i++) {
		if (i == 20)
			continue;
		snprintf(name, sizeof(name), "f%d", i);
		s = ksyms__map_addr(ks, 0xffffffff81000000ull + i * 0x10 + 1, NULL);
		if (!s || strcmp(s->name, name) != 0)
			TEST_FAIL_AT("%#x: %s, want %s", i * 0x10 + 1, s ? s->name : "(none)", name);
	}
	s = ksyms__map_addr(ks, 0xffffffff81000141ull, NULL);
	CHECK(s && strcmp(s->name, "tail_alias") == 0 && strcmp(s->module, "bpf") == 0);
	s = ksyms__map_addr(ks, 0xffffffff8100000aull, NULL);
	CHECK(s && strcmp(s->name, "bpf_a") == 0);
	s = ksyms__map_addr(ks, 0xffffffffc0002fffull, NULL);
	CHECK(s && strcmp(s->name, "bpf_b") == 0);
	s = ksyms__map_addr(ks, 0xffffffff8100023full, NULL);
	CHECK(s && strcmp(s->name, "f35") == 0);
	ksyms__free(ks);
}

static void test_ksyms_errors(void)
{
	static const char zeros[] = "0000000000000000 T _text\n0000000000000000 t foo\t[m]\n";

	errno = 0;
	CHECK(ksyms__parse(zeros, strlen(zeros)) == NULL);
	CHECK_INT(errno, EPERM);
	errno = 0;
	CHECK(ksyms__parse("", 0) == NULL);
	CHECK_INT(errno, ENODATA);
	errno = 0;
	CHECK(ksyms__load_file("/nonexistent/kallsyms") == NULL);
	CHECK_INT(errno, ENOENT);
}

static void test_ksyms_file(void)
{
	char path[] = "/tmp/test_syms_kallsyms.XXXXXX";
	int fd = mkstemp(path);
	struct ksyms *ks;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, kallsyms_unsorted, strlen(kallsyms_unsorted)) ==
	      (ssize_t)strlen(kallsyms_unsorted));
	close(fd);
	ks = ksyms__load_file(path);
	unlink(path);
	CHECK(ks != NULL);
	if (ks)
		check_kallsyms(ks);
	ksyms__free(ks);
}

/* The real /proc/kallsyms: without privileges every address reads 0, which must say EPERM. */
static void test_ksyms_live(void)
{
	struct ksyms *ks = ksyms__load();
	const struct ksym *s, *m;

	if (!ks) {
		CHECK_INT(errno, EPERM);
		printf("     (kallsyms addresses hidden: EPERM as expected without privileges)\n");
		return;
	}
	CHECK(ksyms__count(ks) > 1000);
	s = ksyms__get_symbol(ks, "schedule");
	CHECK(s != NULL);
	if (s) {
		m = ksyms__map_addr(ks, s->addr + 1, NULL);
		CHECK(m && m->addr == s->addr);
	}
	ksyms__free(ks);
}

/* ---- perf maps ---- */

static void test_perf_map_parse(void)
{
	static const char text[] = "7f0000001000 100 jit_a\n"
				   "0x7f0000002000 0x80 Lfoo::bar(int, char) [interp]\n"
				   "bogus line\n"
				   "7f0000005000\n"
				   "7f0000001000 40 jit_a_v2\n"
				   "7f0000003000 0 zero_size\n"
				   "7f0000004000 10 crlf\r\n"
				   "7f0000006000 20 no_newline";
	struct perf_map *pm = perf_map__parse(text, sizeof(text) - 1);
	const struct sym *s;
	uint64_t off = 0;

	CHECK(pm != NULL);
	if (!pm)
		return;
	CHECK_INT(perf_map__count(pm), 4);
	s = perf_map__map_addr(pm, 0x7f0000001010ull, &off);
	CHECK(s && strcmp(s->name, "jit_a_v2") == 0 && off == 0x10);
	s = perf_map__map_addr(pm, 0x7f000000207full, &off);
	CHECK(s && strcmp(s->name, "Lfoo::bar(int, char) [interp]") == 0 && off == 0x7f);
	CHECK(perf_map__map_addr(pm, 0x7f0000002080ull, NULL) == NULL);
	CHECK(perf_map__map_addr(pm, 0x7f0000003000ull, NULL) == NULL);
	CHECK(perf_map__map_addr(pm, 0x7f0000000fffull, NULL) == NULL);
	s = perf_map__map_addr(pm, 0x7f0000004000ull, NULL);
	CHECK(s && strcmp(s->name, "crlf") == 0);
	s = perf_map__map_addr(pm, 0x7f000000601full, NULL);
	CHECK(s && strcmp(s->name, "no_newline") == 0);
	perf_map__free(pm);
}

/* A JIT's anonymous executable memory in this process, named by /tmp/perf-PID.map, including
 * entries appended after the first lookup. */
static void test_perf_map_process(void)
{
	size_t len = 0x4000;
	void *code = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t base = (uint64_t)(uintptr_t)code;
	char path[64], line[128];
	struct syms_cache *cache = NULL;
	struct sym_info info;
	struct syms *syms;
	FILE *f;

	CHECK(code != MAP_FAILED);
	if (code == MAP_FAILED)
		return;
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		goto out;
	fprintf(f, "%llx 100 jit_one\n", (unsigned long long)base);
	fclose(f);
	cache = syms_cache__new(NULL);
	syms = cache ? syms_cache__get_syms(cache, getpid()) : NULL;
	CHECK(syms != NULL);
	if (!syms)
		goto out;
	CHECK_INT(syms__map_addr_info(syms, base + 0x10, &info), 0);
	CHECK_STR(info.name, "jit_one");
	CHECK_INT(info.sym_offset, 0x10);
	CHECK_STR(info.module, path);
	snprintf(line, sizeof(line), "%llx 40 jit_two\n", (unsigned long long)base + 0x1000);
	f = fopen(path, "a");
	if (f) {
		fputs(line, f);
		fclose(f);
	}
	/* A grown map is re-read at most once a second. */
	sleep(1);
	CHECK_INT(syms__map_addr_info(syms, base + 0x1004, &info), 0);
	CHECK_STR(info.name, "jit_two");
	CHECK_INT(info.sym_offset, 4);
	CHECK_INT(syms__map_addr_info(syms, base + 0x2000, &info), -ENOENT);
out:
	syms_cache__free(cache);
	unlink(path);
	munmap(code, len);
}

/* ---- ELF files ---- */

static void check_file_sym(const struct elf_syms *es, const char *file, const char *name,
			   const char *nm_file)
{
	char path[PATH_MAX + 32];
	uint64_t vaddr, off = 99;
	const struct sym *s;

	vaddr = nm_addr(fmt_path(path, sizeof(path), nm_file ? nm_file : file), name);
	if (!vaddr) {
		TEST_FAIL_AT("nm found no %s in %s", name, nm_file ? nm_file : file);
		return;
	}
	s = elf_syms__map_vaddr(es, vaddr, &off);
	if (!s || strcmp(s->name, name) != 0 || off != 0) {
		TEST_FAIL_AT("%s: %#llx is %s+%llu, want %s", file, (unsigned long long)vaddr,
			     s ? s->name : "(none)", (unsigned long long)off, name);
		return;
	}
	s = elf_syms__map_vaddr(es, vaddr + 2, &off);
	CHECK(s && strcmp(s->name, name) == 0 && off == 2);
	s = elf_syms__find(es, name);
	CHECK(s && s->addr == vaddr && s->size > 0);
}

static struct elf_syms *open_fixture(const char *name, const char *debug_dir)
{
	struct elf_syms_opts o = {.sz = sizeof(o), .debug_dir = debug_dir};
	char path[PATH_MAX + 32];
	struct elf_syms *es = elf_syms__open(fmt_path(path, sizeof(path), name), &o);

	if (!es)
		TEST_FAIL_AT("elf_syms__open(%s): %s", path, strerror(errno));
	return es;
}

static void test_elf_pie_nopie_so(void)
{
	static const char *exes[] = {"pie", "nopie"};
	struct elf_syms *es;
	size_t i;

	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures (cc, objcopy, readelf needed)");
		return;
	}
	for (i = 0; i < 2; i++) {
		es = open_fixture(exes[i], "");
		if (!es)
			continue;
		CHECK_INT(elf_syms__source(es), ELF_SYMS_SYMTAB);
		CHECK(elf_syms__debug_file(es) == NULL);
		check_file_sym(es, exes[i], "symfix_exe_func", NULL);
		check_file_sym(es, exes[i], "symfix_exe_static", NULL);
		check_file_sym(es, exes[i], "main", NULL);
		elf_syms__free(es);
	}
	es = open_fixture("libsymfix.so", "");
	if (es) {
		const unsigned char *id;

		CHECK_INT(elf_syms__source(es), ELF_SYMS_SYMTAB);
		check_file_sym(es, "libsymfix.so", "symfix_lib_func", NULL);
		check_file_sym(es, "libsymfix.so", "symfix_lib_static", NULL);
		CHECK_INT(elf_syms__build_id(es, &id), 20);
		elf_syms__free(es);
	}
}

/* Of aliases at one address, the name perf report shows: fewer leading '_', then the longer
 * name, whichever the symbol table lists first. */
static void test_elf_alias_choice(void)
{
	char path[PATH_MAX + 32];
	struct elf_syms *es;
	const struct sym *s;
	uint64_t a, b, c;

	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures (cc, objcopy, readelf needed)");
		return;
	}
	fmt_path(path, sizeof(path), "libsymfix.so");
	a = nm_addr(path, "__symfix_cpy");
	b = nm_addr(path, "__symfix_cpy2");
	c = nm_addr(path, "__symfix_under");
	CHECK(a && a == nm_addr(path, "__symfix_movelong"));
	CHECK(b && b == nm_addr(path, "__symfix_movelong2"));
	CHECK(c && c == nm_addr(path, "symfix_under"));
	es = open_fixture("libsymfix.so", "");
	if (!es)
		return;
	s = elf_syms__map_vaddr(es, a, NULL);
	CHECK(s && strcmp(s->name, "__symfix_movelong") == 0);
	s = elf_syms__map_vaddr(es, b, NULL);
	CHECK(s && strcmp(s->name, "__symfix_movelong2") == 0);
	s = elf_syms__map_vaddr(es, c, NULL);
	CHECK(s && strcmp(s->name, "symfix_under") == 0);
	elf_syms__free(es);
}

/* Lazy-binding stubs are named after their target as objdump names them ("read@plt"),
 * checked against objdump's own labels for every stub of both executables. */
static void test_elf_plt_stubs(void)
{
	static const char *exes[] = {"pie", "nopie"};
	size_t i;

	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures (cc, objcopy, readelf needed)");
		return;
	}
	for (i = 0; i < 2; i++) {
		char cmd[PATH_MAX + 96], line[512], want[256];
		struct elf_syms *es = open_fixture(exes[i], "");
		unsigned long long addr;
		int stubs = 0;
		FILE *f;

		if (!es)
			continue;
		snprintf(cmd, sizeof(cmd), "objdump -d -j .plt -j .plt.sec %s/%s 2>/dev/null",
			 fx.dir, exes[i]);
		f = popen(cmd, "r");
		while (f && fgets(line, sizeof(line), f)) {
			const struct sym *s;
			uint64_t off = 99;

			/* "printf@plt-0x10" is objdump's name for the resolver's header stub. */
			if (sscanf(line, "%llx <%255[^>]>:", &addr, want) != 2 ||
			    !strstr(want, "@plt") || strpbrk(want, "+-"))
				continue;
			stubs++;
			s = elf_syms__map_vaddr(es, addr + 4, &off);
			if (!s || strcmp(s->name, want) != 0 || off != 4)
				TEST_FAIL_AT("%s: %#llx+4 is %s+%llu, want %s+4", exes[i], addr,
					     s ? s->name : "(none)", (unsigned long long)off, want);
		}
		if (f)
			pclose(f);
		/* printf, fflush, read and the library's function at least. */
		CHECK(stubs >= 4);
		elf_syms__free(es);
	}
}

static void check_demangled(const char *name, const char *want)
{
	char *got = syms__demangle(name);

	if (want)
		CHECK_STR(got ? got : "(null)", want);
	else
		CHECK(got == NULL);
	free(got);
}

/* Lazy-binding stubs keep their "@plt" suffix after the target's name is demangled (a
 * sample in a C++ program's stub showed the mangled name once, in CI). */
static void test_demangle(void)
{
	check_demangled("_ZNSt6chrono3_V212steady_clock3nowEv",
			"std::chrono::_V2::steady_clock::now()");
	check_demangled("_ZNSt6chrono3_V212steady_clock3nowEv@plt",
			"std::chrono::_V2::steady_clock::now()@plt");
	check_demangled("_ZN8demangle6shapes7Spinner4spin17h0123456789abcdefE",
			"demangle::shapes::Spinner::spin");
	check_demangled("main", NULL);
	check_demangled("memset@plt", NULL);
	check_demangled("_Z@plt", NULL);
	check_demangled("@plt", NULL);
	check_demangled("_Zgarbage@plt", NULL);
}

static void test_elf_versioned_names(void)
{
	char path[PATH_MAX + 32];
	struct elf_syms *es;
	const struct sym *s;
	uint64_t v1, v2;

	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures (cc, objcopy, readelf needed)");
		return;
	}
	fmt_path(path, sizeof(path), "libver.so");
	v1 = nm_addr(path, "symfix_v1");
	v2 = nm_addr(path, "symfix_v2");
	CHECK(v1 && v2);
	es = open_fixture("libver.so", "");
	if (!es)
		return;
	s = elf_syms__map_vaddr(es, v2, NULL);
	CHECK(s && strcmp(s->name, "symfix_ver") == 0);
	s = elf_syms__map_vaddr(es, v1, NULL);
	CHECK(s && strcmp(s->name, "symfix_ver") == 0);
	s = elf_syms__find(es, "symfix_ver");
	CHECK(s && (s->addr == v1 || s->addr == v2));
	elf_syms__free(es);
}

static void test_elf_debug_files(void)
{
	char want[PATH_MAX];
	struct elf_syms *es;

	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures (cc, objcopy, readelf needed)");
		return;
	}
	/* build-id */
	es = open_fixture("bid", fx.dbgroot);
	if (es) {
		CHECK_INT(elf_syms__source(es), ELF_SYMS_DEBUG);
		CHECK(elf_syms__debug_file(es) && strstr(elf_syms__debug_file(es), "/.build-id/"));
		check_file_sym(es, "bid", "symfix_exe_static", fx.bid_debug);
		check_file_sym(es, "bid", "symfix_exe_func", fx.bid_debug);
		elf_syms__free(es);
	}
	es = open_fixture("bid", "");
	if (es) {
		CHECK(elf_syms__source(es) != ELF_SYMS_DEBUG);
		CHECK(elf_syms__find(es, "symfix_exe_static") == NULL);
		elf_syms__free(es);
	}
	/* .gnu_debuglink in .debug/ */
	es = open_fixture("dl", fx.dbgroot);
	if (es) {
		CHECK_INT(elf_syms__source(es), ELF_SYMS_DEBUG);
		snprintf(want, sizeof(want), "%s/.debug/dl.debug", fx.dir);
		CHECK_STR(elf_syms__debug_file(es), want);
		check_file_sym(es, "dl", "symfix_exe_static", ".debug/dl.debug");
		check_file_sym(es, "dl", "symfix_exe_func", ".debug/dl.debug");
		elf_syms__free(es);
	}
	/* A debuglink whose CRC does not match is not used. */
	es = open_fixture("dlbad", fx.dbgroot);
	if (es) {
		CHECK(elf_syms__source(es) != ELF_SYMS_DEBUG);
		CHECK(elf_syms__debug_file(es) == NULL);
		CHECK(elf_syms__find(es, "symfix_exe_static") == NULL);
		elf_syms__free(es);
	}
	/* Shared object: debuglink under <debug root><dir>/, else .dynsym. */
	es = open_fixture("libdl.so", fx.dbgroot);
	if (es) {
		CHECK_INT(elf_syms__source(es), ELF_SYMS_DEBUG);
		snprintf(want, sizeof(want), "%s%s/libdl.so.debug", fx.dbgroot, fx.dir);
		CHECK_STR(elf_syms__debug_file(es), want);
		check_file_sym(es, "libdl.so", "symfix_lib_static", "libsymfix.so");
		elf_syms__free(es);
	}
	es = open_fixture("libdl.so", "");
	if (es) {
		CHECK_INT(elf_syms__source(es), ELF_SYMS_DYNSYM);
		check_file_sym(es, "libdl.so", "symfix_lib_func", "libsymfix.so");
		CHECK(elf_syms__find(es, "symfix_lib_static") == NULL);
		elf_syms__free(es);
	}
}

static void test_elf_not_elf(void)
{
	char path[] = "/tmp/test_syms_notelf.XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, "#!/bin/sh\necho hi\n", 18) == 18);
	close(fd);
	errno = 0;
	CHECK(elf_syms__open(path, NULL) == NULL);
	CHECK_INT(errno, ENOEXEC);
	unlink(path);
	errno = 0;
	CHECK(elf_syms__open("/nonexistent/x", NULL) == NULL);
	CHECK_INT(errno, ENOENT);
}

/* ---- processes ---- */

static void check_addr(struct syms *syms, uint64_t addr, const char *name, const char *module)
{
	struct sym_info info;
	int err = syms__map_addr_info(syms, addr + 1, &info);

	if (err || !info.name || strcmp(info.name, name) != 0 || info.sym_offset != 1) {
		TEST_FAIL_AT("%#llx: %s+%llu in %s (err %d), want %s+1",
			     (unsigned long long)addr + 1, info.name ? info.name : "[unknown]",
			     (unsigned long long)info.sym_offset,
			     info.module ? info.module : "?", err, name);
		return;
	}
	if (!ends_with(info.module, module))
		TEST_FAIL_AT("%s is in %s, want .../%s", name, info.module ? info.module : "(null)",
			     module);
}

static void run_fixture(const char *exe, bool statics)
{
	struct syms_cache *cache = new_cache();
	struct syms *syms;
	struct child c;

	if (!spawn(exe, &c)) {
		TEST_FAIL_AT("could not run fixture %s", exe);
		syms_cache__free(cache);
		reap(&c);
		return;
	}
	syms = cache ? syms_cache__get_syms(cache, c.pid) : NULL;
	CHECK(syms != NULL);
	if (syms) {
		check_addr(syms, c.exe_func, "symfix_exe_func", exe);
		if (statics)
			check_addr(syms, c.exe_static, "symfix_exe_static", exe);
		check_addr(syms, c.lib_func, "symfix_lib_func", "/libsymfix.so");
		check_addr(syms, c.lib_static, "symfix_lib_static", "/libsymfix.so");
	}
	reap(&c);
	syms_cache__free(cache);
}

static void test_process_pie_nopie(void)
{
	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures");
		return;
	}
	run_fixture("pie", true);
	run_fixture("nopie", true);
}

static void test_process_debug_files(void)
{
	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures");
		return;
	}
	run_fixture("bid", true);
	run_fixture("dl", true);
}

/* 1,000 processes of one binary must cost one symbol table: two share every file. */
static void test_process_shared_tables(void)
{
	struct syms_cache_stats st1, st2;
	struct syms_cache *cache;
	struct child a, b;

	if (!build_fixtures() || !spawn("pie", &a)) {
		TEST_FAIL_AT("could not run fixture");
		return;
	}
	if (!spawn("pie", &b)) {
		TEST_FAIL_AT("could not run fixture");
		reap(&a);
		return;
	}
	cache = new_cache();
	CHECK_INT(syms_cache__prepare(cache, a.pid), 0);
	syms_cache__stats(cache, &st1);
	CHECK_INT(st1.pids, 1);
	CHECK(st1.files >= 3);  /* pie, libsymfix.so, libc, ld.so, vdso */
	CHECK(st1.loaded <= 1);  /* only the vdso, parsed eagerly; files wait for a lookup */
	CHECK_INT(syms_cache__prepare(cache, b.pid), 0);
	CHECK_INT(syms_cache__prepare(cache, b.pid), 0);
	syms_cache__stats(cache, &st2);
	CHECK_INT(st2.pids, 2);
	CHECK_INT(st2.files, st1.files);
	check_addr(syms_cache__get_syms(cache, a.pid), a.exe_func, "symfix_exe_func", "/pie");
	check_addr(syms_cache__get_syms(cache, b.pid), b.exe_func, "symfix_exe_func", "/pie");
	syms_cache__stats(cache, &st2);
	CHECK_INT(st2.loaded, st1.loaded + 1);
	syms_cache__forget(cache, a.pid);
	syms_cache__stats(cache, &st2);
	CHECK_INT(st2.pids, 1);
	CHECK_INT(st2.files, st1.files);
	/* still usable by b */
	check_addr(syms_cache__get_syms(cache, b.pid), b.exe_static, "symfix_exe_static", "/pie");
	reap(&a);
	reap(&b);
	syms_cache__free(cache);
}

/* Prepared while alive, looked up after exit, with the binary deleted in between. */
static void test_process_exit_and_delete(void)
{
	char src[PATH_MAX + 32], dst[PATH_MAX + 32];
	struct syms_cache *cache;
	struct sym_info info;
	struct syms *syms;
	struct child c;

	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures");
		return;
	}
	if (sh("cp %s %s", fmt_path(src, sizeof(src), "pie"), fmt_path(dst, sizeof(dst), "gone")) ||
	    !spawn("gone", &c)) {
		TEST_FAIL_AT("could not run fixture");
		return;
	}
	cache = new_cache();
	CHECK_INT(syms_cache__prepare(cache, c.pid), 0);
	reap(&c);
	unlink(dst);
	syms = syms_cache__get_syms(cache, c.pid);
	CHECK(syms != NULL);
	if (syms) {
		check_addr(syms, c.exe_func, "symfix_exe_func", "/gone");
		check_addr(syms, c.lib_static, "symfix_lib_static", "/libsymfix.so");
	}
	syms_cache__free(cache);
	cache = new_cache();
	CHECK_INT(syms_cache__prepare(cache, c.pid), -ESRCH);
	syms_cache__free(cache);

	/* Deleted while it runs: maps says "(deleted)"; map_files or exe reach it. */
	if (sh("cp %s %s", src, dst) || !spawn("gone", &c)) {
		TEST_FAIL_AT("could not run fixture");
		return;
	}
	unlink(dst);
	cache = new_cache();
	syms = syms_cache__get_syms(cache, c.pid);
	CHECK(syms != NULL);
	if (syms) {
		check_addr(syms, c.exe_static, "symfix_exe_static", "/gone");
		CHECK_INT(syms__map_addr_info(syms, 8, &info), -ENOENT);
		CHECK(info.module == NULL && info.name == NULL);
	}
	reap(&c);
	syms_cache__free(cache);
}

/* An exec (or a reused pid) retires the old image: its syms keep resolving old addresses,
 * the pid gets a fresh one, and release frees the retired one. */
static void test_process_retire_release(void)
{
	struct syms *old, *fresh;
	struct syms_cache *cache;
	struct syms_cache_stats st;
	struct child c;

	if (!build_fixtures() || !spawn("pie", &c)) {
		TEST_FAIL_AT("could not run fixture");
		return;
	}
	cache = new_cache();
	CHECK_INT(syms_cache__prepare(cache, c.pid), 0);
	old = syms_cache__get_syms(cache, c.pid);
	CHECK(old != NULL);
	syms_cache__retire(cache, c.pid);
	syms_cache__stats(cache, &st);
	CHECK_INT(st.pids, 0);
	if (old)
		check_addr(old, c.exe_func, "symfix_exe_func", "/pie");
	fresh = syms_cache__get_syms(cache, c.pid);
	CHECK(fresh != NULL && fresh != old);
	if (fresh)
		check_addr(fresh, c.exe_func, "symfix_exe_func", "/pie");
	syms_cache__release(cache, old);
	syms_cache__release(cache, fresh);
	syms_cache__stats(cache, &st);
	CHECK_INT(st.pids, 0);
	syms_cache__retire(cache, 999999999); /* unknown pid: nothing happens */
	syms_cache__release(cache, NULL);
	reap(&c);
	syms_cache__free(cache);
}

struct find_map_ctx {
	uint64_t addr;
	struct procmap m;
	bool found;
};

static int find_map_cb(const struct procmap *m, void *ctx)
{
	struct find_map_ctx *f = ctx;

	if (f->addr >= m->start && f->addr < m->end) {
		f->m = *m;
		f->found = true;
	}
	return 0;
}

/* Without symbols the caller still gets module+offset. */
static void test_process_unknown(void)
{
	struct find_map_ctx f = {0};
	struct syms_cache *cache;
	char path[64];
	struct sym_info info;
	struct syms *syms;
	struct child c;
	FILE *mf;

	if (!build_fixtures() || !spawn("dlbad", &c)) {
		TEST_FAIL_AT("could not run fixture");
		return;
	}
	cache = new_cache();
	syms = syms_cache__get_syms(cache, c.pid);
	CHECK(syms != NULL);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)c.pid);
	mf = fopen(path, "r");
	f.addr = c.exe_static;
	if (mf) {
		procmaps__parse_file(mf, find_map_cb, &f);
		fclose(mf);
	}
	CHECK(f.found);
	if (syms && f.found) {
		CHECK_INT(syms__map_addr_info(syms, c.exe_static, &info), -ENOENT);
		CHECK(info.name == NULL && info.sym == NULL);
		CHECK(ends_with(info.module, "/dlbad"));
		CHECK_INT(info.module_offset, c.exe_static - f.m.start + f.m.offset);
	}
	reap(&c);
	syms_cache__free(cache);
}

struct vdso_ctx {
	uint64_t start, end;
};

static int vdso_cb(const struct procmap *m, void *ctx)
{
	struct vdso_ctx *v = ctx;

	if (m->flags & PROCMAP_VDSO) {
		v->start = m->start;
		v->end = m->end;
	}
	return 0;
}

/* The vdso of a child, read by the test through /proc/PID/mem, and of this process. */
/* A .gnu_debuglink name is joined to directories: only a plain file name is taken. */
static void test_debuglink_names(void)
{
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{ "prog.debug", true }, { "..", false }, { ".", false }, { "../x", false },
		{ "/etc/passwd", false }, { "a/b", false }, { "", false }, { "...", true },
	};
	unsigned char sec[64];
	const char *name;
	uint32_t crc;
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(sec, 0, sizeof(sec));
		n = strlen(cases[i].name);
		memcpy(sec, cases[i].name, n);
		n = ((n + 4) & ~(size_t)3);
		sec[n] = 0x78, sec[n + 1] = 0x56, sec[n + 2] = 0x34, sec[n + 3] = 0x12;
		name = NULL;
		crc = 0;
		if (elf_debuglink__parse(sec, n + 4, false, &name, &crc) != (cases[i].ok ? 0 : -EINVAL))
			TEST_FAIL_AT("debuglink '%s': accepted %d", cases[i].name, !cases[i].ok);
		if (cases[i].ok) {
			CHECK_STR(name, cases[i].name);
			CHECK_INT(crc, 0x12345678);
		}
	}
	/* No NUL inside the section: not a name. */
	memset(sec, 'a', sizeof(sec));
	CHECK_INT(elf_debuglink__parse(sec, sizeof(sec), false, &name, &crc), -EINVAL);
}

/* A FIFO, a link and a directory where a file is expected: refused, never waited on. */
static void test_open_untrusted(void)
{
	char dir[] = "/tmp/cs-test-open-XXXXXX", path[128], link[128];
	struct stat st;
	int fd;

	if (!mkdtemp(dir)) {
		TEST_FAIL_AT("mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/fifo", dir);
	CHECK_INT(mkfifo(path, 0600), 0);
	CHECK_INT(syms_open_file(path, 0, 1 << 20, NULL), -EINVAL);
	unlink(path);
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && ftruncate(fd, 4096) == 0);
	close(fd);
	fd = syms_open_file(path, SYMS_OPEN_NOFOLLOW, 4096, &st);
	CHECK(fd >= 0 && st.st_size == 4096);
	if (fd >= 0)
		close(fd);
	CHECK_INT(syms_open_file(path, 0, 4095, NULL), -EFBIG);
	snprintf(link, sizeof(link), "%s/link", dir);
	CHECK_INT(symlink(path, link), 0);
	CHECK_INT(syms_open_file(link, SYMS_OPEN_NOFOLLOW, 4096, NULL), -ELOOP);
	fd = syms_open_file(link, 0, 4096, NULL);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_INT(syms_open_file(dir, 0, 1 << 20, NULL), -EINVAL);
	unlink(link);
	unlink(path);
	rmdir(dir);
}

static void test_process_vdso(void)
{
	struct vdso_ctx v = {0};
	struct syms_cache *cache;
	struct elf_syms *es = NULL;
	const struct sym *s;
	struct sym_info info;
	char path[64];
	unsigned char *img = NULL;
	struct syms *syms;
	struct child c;
	FILE *mf;
	int fd;

	if (!build_fixtures() || !spawn("pie", &c)) {
		TEST_FAIL_AT("could not run fixture");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)c.pid);
	mf = fopen(path, "r");
	if (mf) {
		procmaps__parse_file(mf, vdso_cb, &v);
		fclose(mf);
	}
	CHECK(v.start && v.end > v.start);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)c.pid);
	fd = open(path, O_RDONLY);
	if (v.start && fd >= 0 && (img = malloc(v.end - v.start)) &&
	    pread(fd, img, v.end - v.start, (off_t)v.start) == (ssize_t)(v.end - v.start))
		es = elf_syms__open_mem(img, v.end - v.start);
	if (fd >= 0)
		close(fd);
	CHECK(es != NULL);
	s = es ? elf_syms__find(es, "__vdso_clock_gettime") : NULL;
	CHECK(s != NULL);
	cache = new_cache();
	syms = syms_cache__get_syms(cache, c.pid);
	CHECK(syms != NULL);
	if (s && syms) {
		/* The vdso's only PT_LOAD maps offset 0 at its start. */
		uint64_t addr, vaddr = 0;

		CHECK_INT(elf_syms__offset_to_vaddr(es, s->addr, &vaddr), 0);
		CHECK_INT(vaddr, s->addr);
		addr = v.start + s->addr;
		CHECK_INT(syms__map_addr_info(syms, addr + 3, &info), 0);
		CHECK(info.name && strstr(info.name, "clock_gettime"));
		CHECK_INT(info.sym_offset, 3);
		CHECK_STR(info.module, "[vdso]");
	}
	reap(&c);
	elf_syms__free(es);
	free(img);

	/* This process: the shared image from getauxval(AT_SYSINFO_EHDR). valgrind hides it. */
	if (getauxval(AT_SYSINFO_EHDR)) {
		void *h = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
		void *fn = h ? dlsym(h, "__vdso_gettimeofday") : NULL;

		CHECK(fn != NULL);
		syms = syms_cache__get_syms(cache, getpid());
		if (fn && syms) {
			CHECK_INT(syms__map_addr_info(syms, (uint64_t)(uintptr_t)fn, &info), 0);
			CHECK(info.name && strstr(info.name, "gettimeofday"));
			CHECK_STR(info.module, "[vdso]");
		}
		if (h)
			dlclose(h);
	}
	syms_cache__free(cache);
}

/* A library loaded after prepare is found by re-reading maps on a miss. */
static void test_process_self_dlopen(void)
{
	char path[PATH_MAX + 32];
	struct syms_cache *cache;
	struct sym_info info;
	struct syms *syms;
	void *h, *fn;

	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures");
		return;
	}
	cache = new_cache();
	CHECK_INT(syms_cache__prepare(cache, getpid()), 0);
	h = dlopen(fmt_path(path, sizeof(path), "libdl.so"), RTLD_NOW);
	fn = h ? dlsym(h, "symfix_lib_func") : NULL;
	CHECK(fn != NULL);
	syms = syms_cache__get_syms(cache, getpid());
	if (fn && syms) {
		/* Maps are re-read at most once a second. */
		sleep(1);
		CHECK_INT(syms__map_addr_info(syms, (uint64_t)(uintptr_t)fn + 1, &info), 0);
		CHECK_STR(info.name, "symfix_lib_func");
		CHECK(ends_with(info.module, "/libdl.so"));
		/* And this test's own code. */
		CHECK_INT(syms__map_addr_info(syms, (uint64_t)(uintptr_t)&test_process_self_dlopen,
					      &info), 0);
		CHECK_STR(info.name, "test_process_self_dlopen");
	}
	if (h)
		dlclose(h);
	syms_cache__free(cache);
}

/* A process in its own mount namespace runs a binary from a tmpfs only it sees: the file is
 * reached through /proc/PID/root, kept open, and read after the process is gone. Needs
 * unprivileged user namespaces (or root); skipped without them. */
static void test_process_mount_ns(void)
{
	char cmd[4 * PATH_MAX];
	struct syms_cache *cache;
	struct child c;

	if (!build_fixtures()) {
		TEST_FAIL_AT("could not build ELF fixtures");
		return;
	}
	if (system("unshare -rm true 2>/dev/null") != 0) {
		TEST_SKIP("cannot create user+mount namespaces here");
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/ns && exec unshare -rm sh -c 'mount -t tmpfs none %s/ns && "
		 "cp %s/pie %s/libsymfix.so %s/ns/ && LD_LIBRARY_PATH=%s/ns exec %s/ns/pie'",
		 fx.dir, fx.dir, fx.dir, fx.dir, fx.dir, fx.dir, fx.dir);
	if (!spawn_how("", cmd, &c)) {
		TEST_FAIL_AT("could not run fixture in a mount namespace");
		reap(&c);
		return;
	}
	cache = new_cache();
	CHECK_INT(syms_cache__prepare(cache, c.pid), 0);
	reap(&c);
	check_addr(syms_cache__get_syms(cache, c.pid), c.exe_static, "symfix_exe_static",
		   "/ns/pie");
	/* Not the main executable: /proc/PID/exe cannot stand in for it. */
	check_addr(syms_cache__get_syms(cache, c.pid), c.lib_static, "symfix_lib_static",
		   "/ns/libsymfix.so");
	syms_cache__free(cache);
}

/* A budget of one open file: the rest are reopened by path or parsed at once. */
static void test_process_fd_budget(void)
{
	struct syms_cache_opts o = {.sz = sizeof(o), .max_open_files = 1, .max_unused_files = 1};
	struct syms_cache_stats st;
	struct syms_cache *cache;
	struct child c;

	if (!build_fixtures() || !spawn("pie", &c)) {
		TEST_FAIL_AT("could not run fixture");
		return;
	}
	o.debug_dir = fx.dbgroot;
	cache = syms_cache__new(&o);
	CHECK_INT(syms_cache__prepare(cache, c.pid), 0);
	syms_cache__stats(cache, &st);
	CHECK(st.open_files <= 1);
	reap(&c);
	check_addr(syms_cache__get_syms(cache, c.pid), c.lib_static, "symfix_lib_static",
		   "/libsymfix.so");
	check_addr(syms_cache__get_syms(cache, c.pid), c.exe_func, "symfix_exe_func", "/pie");
	syms_cache__forget(cache, c.pid);
	syms_cache__stats(cache, &st);
	CHECK_INT(st.pids, 0);
	CHECK(st.files <= 1);
	CHECK(st.open_files <= 1);
	syms_cache__free(cache);
}

/* A file nobody uses gives up its descriptor; the next process to map it brings its own: here
 * a deleted binary, which only that process's descriptor still reaches after it exits. */
static void test_process_handle_handover(void)
{
	struct syms_cache_opts o = {.sz = sizeof(o), .max_open_files = 1};
	char src[PATH_MAX + 32], dst[PATH_MAX + 32];
	struct syms_cache_stats st;
	struct syms_cache *cache;
	struct child a, b;

	if (!build_fixtures() ||
	    sh("cp %s %s", fmt_path(src, sizeof(src), "pie"), fmt_path(dst, sizeof(dst), "again")) ||
	    !spawn("again", &a)) {
		TEST_FAIL_AT("could not run fixture");
		return;
	}
	o.debug_dir = fx.dbgroot;
	cache = syms_cache__new(&o);
	CHECK_INT(syms_cache__prepare(cache, a.pid), 0);
	syms_cache__stats(cache, &st);
	CHECK_INT(st.open_files, 1);
	syms_cache__forget(cache, a.pid);
	syms_cache__stats(cache, &st);
	CHECK_INT(st.open_files, 0);
	CHECK(spawn("again", &b));
	unlink(dst);
	CHECK_INT(syms_cache__prepare(cache, b.pid), 0);
	reap(&a);
	reap(&b);
	check_addr(syms_cache__get_syms(cache, b.pid), b.exe_func, "symfix_exe_func", "/again");
	syms_cache__free(cache);
}

int main(void)
{
	TEST_RUN(test_procmaps_parse);
	TEST_RUN(test_procmaps_file);
	TEST_RUN(test_procmaps_errors);
	TEST_RUN(test_ksyms_parse);
	TEST_RUN(test_ksyms_sorted_with_tail);
	TEST_RUN(test_ksyms_errors);
	TEST_RUN(test_ksyms_file);
	TEST_RUN(test_ksyms_live);
	TEST_RUN(test_perf_map_parse);
	TEST_RUN(test_perf_map_process);
	TEST_RUN(test_elf_not_elf);
	TEST_RUN(test_elf_pie_nopie_so);
	TEST_RUN(test_elf_plt_stubs);
	TEST_RUN(test_elf_versioned_names);
	TEST_RUN(test_demangle);
	TEST_RUN(test_elf_alias_choice);
	TEST_RUN(test_elf_debug_files);
	TEST_RUN(test_process_pie_nopie);
	TEST_RUN(test_process_debug_files);
	TEST_RUN(test_process_shared_tables);
	TEST_RUN(test_process_exit_and_delete);
	TEST_RUN(test_process_retire_release);
	TEST_RUN(test_process_unknown);
	TEST_RUN(test_debuglink_names);
	TEST_RUN(test_open_untrusted);
	TEST_RUN(test_process_vdso);
	TEST_RUN(test_process_self_dlopen);
	TEST_RUN(test_process_mount_ns);
	TEST_RUN(test_process_fd_budget);
	TEST_RUN(test_process_handle_handover);
	if (fx.dir[0])
		sh("rm -rf %s", fx.dir);
	return TEST_REPORT();
}
