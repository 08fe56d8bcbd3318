/* A tiny unit-test harness: no root, no BPF. Each tests/unit/test_*.c is one binary whose
 * main() calls TEST_RUN() for every case and returns TEST_REPORT(). tests/run.py reads the
 * summary line "unit: N passed, N failed, N skipped" that TEST_REPORT() prints. A case that
 * cannot run here calls TEST_SKIP() and returns: it is reported as a skip, never as a pass,
 * and tests/run.py fails it under CI=true. */
#ifndef TESTHELP_H
#define TESTHELP_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_skipped, test_case_failed, test_case_skipped;
static const char *test_case_name;

#define TEST_FAIL_AT(fmt, ...)                                                        \
	do {                                                                          \
		fprintf(stderr, "  %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__); \
		test_case_failed = 1;                                                 \
	} while (0)

/* The case cannot run on this machine (a missing privilege or kernel feature): say why. */
#define TEST_SKIP(fmt, ...)                                                           \
	do {                                                                          \
		printf("     (skipped: " fmt ")\n", ##__VA_ARGS__);                      \
		test_case_skipped = 1;                                                \
	} while (0)

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond))                                                          \
			TEST_FAIL_AT("CHECK(%s) failed", #cond);                      \
	} while (0)

#define CHECK_INT(got, want)                                                          \
	do {                                                                          \
		long long got_ = (long long)(got), want_ = (long long)(want);         \
		if (got_ != want_)                                                    \
			TEST_FAIL_AT("%s == %lld, want %lld", #got, got_, want_);     \
	} while (0)

#define CHECK_STR(got, want)                                                          \
	do {                                                                          \
		const char *got_ = (got), *want_ = (want);                            \
		if (!got_ || strcmp(got_, want_) != 0)                                \
			TEST_FAIL_AT("%s == \"%s\", want \"%s\"", #got,               \
				     got_ ? got_ : "(null)", want_);                  \
	} while (0)

#define TEST_RUN(fn)                                                                  \
	do {                                                                          \
		test_case_failed = 0;                                                 \
		test_case_skipped = 0;                                                \
		test_case_name = #fn;                                                 \
		fn();                                                                 \
		if (test_case_failed) {                                               \
			test_failed++;                                                \
			printf("FAIL %s\n", test_case_name);                          \
		} else if (test_case_skipped) {                                       \
			test_skipped++;                                               \
			printf("skip %s\n", test_case_name);                          \
		} else {                                                              \
			test_passed++;                                                \
			printf("ok   %s\n", test_case_name);                          \
		}                                                                     \
	} while (0)

#define TEST_REPORT()                                                                 \
	(printf("unit: %d passed, %d failed, %d skipped\n", test_passed, test_failed,        \
		test_skipped),                                                        \
	 test_failed ? 1 : 0)

#endif
