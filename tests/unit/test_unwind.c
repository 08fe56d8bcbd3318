/* common/unwind: this test's own stack, unwound by call-frame information through
 * functions built without frame pointers (the unit tests build -O2) and through libc; and
 * the splice with a frame pointer walk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testhelp.h"
#include "syms/unwind.h"

#define STACK_COPY (64 * 1024)

static uint8_t copy[STACK_COPY];
static size_t copy_len;
static struct unwind_regs regs;
static uint64_t stack_top;
static volatile int sink;

/* Other frames' bytes, which ASan poisons between locals. */
static __attribute__((noinline, no_sanitize_address)) void copy_stack(const volatile uint8_t *src,
								  size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		copy[i] = src[i];
}

/* The registers at one instruction of this function, and the stack from there up, as the
 * kernel gives them to profile. */
static __attribute__((noinline)) void capture(void)
{
#if defined(__x86_64__)
	__asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
			 : "=r"(regs.ip), "=r"(regs.sp), "=r"(regs.fp));
#elif defined(__aarch64__)
	__asm__ volatile("adr %0, .\n\tmov %1, sp\n\tmov %2, x29\n\tmov %3, x30"
			 : "=r"(regs.ip), "=r"(regs.sp), "=r"(regs.fp), "=r"(regs.lr));
#endif
	copy_len = stack_top - regs.sp < STACK_COPY ? stack_top - regs.sp : STACK_COPY;
	copy_stack((const volatile uint8_t *)(uintptr_t)regs.sp, copy_len);
	sink++;
}

static __attribute__((noinline)) void level_two(void)
{
	capture();
	sink++;
}

static __attribute__((noinline)) void level_one(void)
{
	level_two();
	sink++;
}

/* The end of this thread's stack mapping. */
static uint64_t find_stack_top(void)
{
	char line[512];
	unsigned long long lo, hi, top = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[stack]") && sscanf(line, "%llx-%llx", &lo, &hi) == 2)
			top = hi;
	if (f)
		fclose(f);
	return top;
}

/* A return address into fn: after its start, within its few bytes (more under ASan). */
static int returns_into(uint64_t ip, void (*fn)(void))
{
	uint64_t start = (uint64_t)(uintptr_t)fn;

	return ip > start && ip < start + 4096;
}

static void test_own_stack(void)
{
	struct unwinder *uw = unwinder__new("");
	struct unwind_proc *p;
	struct unwinder_stats st;
	enum unwind_end end;
	uint64_t ips[64];
	int n;

	stack_top = find_stack_top();
	CHECK(stack_top != 0);
	level_one();
	CHECK(uw != NULL);
	p = unwinder__prepare(uw, getpid());
	CHECK(p != NULL);
	if (!uw || !p)
		return;
	n = unwind_proc__unwind(p, &regs, copy, copy_len, ips, 64, &end);
	CHECK(n >= 5);
	CHECK_INT(end, UNWIND_END_OUTERMOST);
	CHECK(ips[0] == regs.ip);
	CHECK(returns_into(ips[1], level_two));
	CHECK(returns_into(ips[2], level_one));
	CHECK(returns_into(ips[3], test_own_stack));
	unwinder__stats(uw, &st);
	CHECK(st.frames_cfi >= (uint64_t)n - 1);

	/* A copy too short to hold the first return address: the unwind stops there, and
	 * says why. */
	n = unwind_proc__unwind(p, &regs, copy, 4, ips, 64, &end);
	CHECK_INT(n, 1);
	CHECK_INT(end, UNWIND_END_COPY);
	/* No room: the depth limit. */
	n = unwind_proc__unwind(p, &regs, copy, copy_len, ips, 2, &end);
	CHECK_INT(n, 2);
	CHECK_INT(end, UNWIND_END_DEPTH);
	unwind_proc__free(p);
	unwinder__free(uw);
}

static void test_gone_process(void)
{
	struct unwinder *uw = unwinder__new("");

	CHECK(unwinder__prepare(uw, 4194304 + 1) == NULL);
	unwinder__free(uw);
}

static void test_splice(void)
{
	uint64_t ips[8] = { 10, 20, 30 };
	const uint64_t fp[] = { 10, 30, 40, 50 };
	const uint64_t other[] = { 10, 99, 98 };

	/* The last unwound frame (30) is the walk's second: its callers follow. */
	CHECK_INT(unwind__splice(ips, 3, 8, fp, 4), 5);
	CHECK(ips[3] == 40 && ips[4] == 50);
	/* Bounded by max. */
	CHECK_INT(unwind__splice(ips, 3, 4, fp, 4), 4);
	/* No common frame: nothing added. The walk's leaf is never a match. */
	CHECK_INT(unwind__splice(ips, 3, 8, other, 3), 3);
	ips[2] = 10;
	CHECK_INT(unwind__splice(ips, 3, 8, other, 3), 3);
	CHECK_INT(unwind__splice(ips, 1, 8, fp, 4), 1);
}

static void test_end_names(void)
{
	CHECK_STR(unwind_end__name(UNWIND_END_OUTERMOST), "outermost");
	CHECK_STR(unwind_end__name(UNWIND_NR_ENDS), "?");
}

int main(void)
{
	TEST_RUN(test_own_stack);
	TEST_RUN(test_gone_process);
	TEST_RUN(test_splice);
	TEST_RUN(test_end_names);
	return TEST_REPORT();
}
