/* Block device helpers: /proc/partitions parsing, name and device lookups, request kind
 * names; and the BTF lookup of tracepoint arguments the block tools rely on. No root
 * needed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blkdev.h"
#include "probe.h"
#include "testhelp.h"

static const char partitions[] =
	"major minor  #blocks  name\n"
	"\n"
	" 259        0  500107608 nvme0n1\n"
	" 259        1     524288 nvme0n1p1\n"
	"   7        3      16384 loop3\n"
	"garbage line\n"
	" 254       16 1048576 vdb\n"
	"4096 0 1 toobig\n";

static struct blkdev_table *load_fixture(void)
{
	char path[] = "/tmp/test_blkdev.XXXXXX";
	struct blkdev_table *t;
	int fd = mkstemp(path);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	fputs(partitions, f);
	fclose(f);
	t = blkdev_table__load(path);
	unlink(path);
	return t;
}

static void test_table(void)
{
	struct blkdev_table *t = load_fixture();
	__u32 dev = 0;

	CHECK(t != NULL);
	CHECK_STR(blkdev_table__name(t, BLK_DEV(259, 0)), "nvme0n1");
	CHECK_STR(blkdev_table__name(t, BLK_DEV(259, 1)), "nvme0n1p1");
	CHECK_STR(blkdev_table__name(t, BLK_DEV(7, 3)), "loop3");
	CHECK_STR(blkdev_table__name(t, BLK_DEV(254, 16)), "vdb");
	CHECK(blkdev_table__name(t, BLK_DEV(8, 0)) == NULL);
	CHECK_INT(blkdev_table__dev(t, "loop3", &dev), 0);
	CHECK_INT(dev, (7 << 20) | 3);
	CHECK_INT(blkdev_table__dev(t, "toobig", &dev), -ENOENT); /* major past 12 bits */
	CHECK_INT(blkdev_table__dev(t, "name", &dev), -ENOENT);	   /* the header */
	CHECK_INT(blkdev_table__dev(t, "loop", &dev), -ENOENT);
	CHECK_INT(BLK_DEV_MAJOR(BLK_DEV(259, 1)), 259);
	CHECK_INT(BLK_DEV_MINOR(BLK_DEV(259, 1)), 1);
	blkdev_table__free(t);
	CHECK(blkdev_table__load("/nonexistent/partitions") == NULL && errno == ENOENT);
	blkdev_table__free(NULL);
}

static void test_resolve(void)
{
	struct blkdev_table *t = load_fixture();
	__u32 dev = 0;

	CHECK_INT(blkdev__resolve(t, "vdb", &dev), 0);
	CHECK_INT(dev, BLK_DEV(254, 16));
	CHECK_INT(blkdev__resolve(t, "sdz", &dev), -ENOENT);
	CHECK_INT(blkdev__resolve(t, "/dev/null", &dev), -ENOTBLK);
	CHECK_INT(blkdev__resolve(t, "/nonexistent/sda", &dev), -ENOENT);
	/* A bare name is never a file: "partitions" in the working directory does not count. */
	CHECK_INT(blkdev__resolve(t, ".", &dev), -ENOENT);
	blkdev_table__free(t);
}

/* The running system's table names every block device sysfs has, listed in /proc/partitions
 * or not (null_blk's disks are not). */
static void test_system_table_has_every_sysfs_disk(void)
{
	struct blkdev_table *t = blkdev_table__load(NULL);
	unsigned major, minor, seen = 0;
	char path[300], name[64];
	struct dirent *de;
	__u32 dev;
	DIR *d;
	FILE *f;

	CHECK(t != NULL);
	d = opendir("/sys/class/block");
	if (!d) {
		TEST_SKIP("no /sys/class/block");
		blkdev_table__free(t);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(name))
			continue;
		snprintf(path, sizeof(path), "/sys/class/block/%s/dev", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%u:%u", &major, &minor) == 2) {
			CHECK_STR(blkdev_table__name(t, BLK_DEV(major, minor)), de->d_name);
			CHECK_INT(blkdev__resolve(t, de->d_name, &dev), 0);
			CHECK_INT(dev, BLK_DEV(major, minor));
			seen++;
		}
		fclose(f);
	}
	closedir(d);
	CHECK(seen > 0);
	blkdev_table__free(t);
}

static void test_kind_names(void)
{
	char buf[128];

	CHECK_INT(blk_kind__name(BLK_OP_READ, buf, sizeof(buf)), 4);
	CHECK_STR(buf, "Read");
	blk_kind__name(BLK_OP_WRITE | BLK_F_SYNC, buf, sizeof(buf));
	CHECK_STR(buf, "Sync-Write");
	blk_kind__name(BLK_OP_WRITE | BLK_F_SYNC | BLK_F_IDLE, buf, sizeof(buf));
	CHECK_STR(buf, "Idle-Sync-Write");
	blk_kind__name(BLK_OP_READ | BLK_F_RAHEAD, buf, sizeof(buf));
	CHECK_STR(buf, "ReadAhead-Read");
	blk_kind__name(BLK_OP_FLUSH | BLK_F_PREFLUSH, buf, sizeof(buf));
	CHECK_STR(buf, "PreFlush-Flush");
	blk_kind__name(BLK_OP_READ | BLK_F_META | BLK_F_PRIO, buf, sizeof(buf));
	CHECK_STR(buf, "Priority-Metadata-Read");
	blk_kind__name(BLK_OP_UNKNOWN, buf, sizeof(buf));
	CHECK_STR(buf, "Unknown");
	blk_kind__name(200, buf, sizeof(buf));
	CHECK_STR(buf, "Unknown");
	blk_kind__name(BLK_OP_ZONE_RESET_ALL, buf, sizeof(buf));
	CHECK_STR(buf, "ZoneResetAll");
	/* Every flag, every operation: all named, and cut like snprintf. */
	CHECK_INT(blk_kind__name(BLK_OP_WRITE_ZEROES | 0x7ff00, buf, sizeof(buf)),
		  strlen("NoWait-Background-ReadAhead-PreFlush-FUA-Integrity-Idle-NoMerge-"
			 "Priority-Metadata-Sync-WriteZeroes"));
	CHECK_STR(buf, "NoWait-Background-ReadAhead-PreFlush-FUA-Integrity-Idle-NoMerge-"
		       "Priority-Metadata-Sync-WriteZeroes");
	CHECK_INT(blk_kind__name(BLK_OP_WRITE | BLK_F_SYNC, buf, 6), 10);
	CHECK_STR(buf, "Sync-");
	CHECK_INT(blk_kind__name(BLK_OP_WRITE | BLK_F_SYNC, NULL, 0), 10);
	for (__u32 op = 0; op < BLK_OP_NR; op++) {
		blk_kind__name(op, buf, sizeof(buf));
		CHECK(buf[0] >= 'A' && buf[0] <= 'Z');
	}
}

/* Needs only the kernel's BTF, readable by anyone; skipped without it. */
static void test_tp_arg_index(void)
{
	if (!probe__kernel_btf()) {
		TEST_SKIP("no kernel BTF");
		return;
	}
	/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
	CHECK_INT(probe__tp_arg_index("sched_process_exec", "task_struct"), 0);
	CHECK_INT(probe__tp_arg_index("sched_process_exec", "linux_binprm"), 2);
	CHECK_INT(probe__tp_arg_index("sched_process_exec", "request"), -ENOENT);
	CHECK_INT(probe__tp_arg_index("no_such_tracepoint_xyz", "request"), -ENOENT);
	/* block_rq_complete(struct request *rq, blk_status_t error, unsigned int nr_bytes) */
	CHECK_INT(probe__tp_arg_index("block_rq_complete", "request"), 0);
	CHECK(probe__tp_arg_index("block_rq_issue", "request") >= 0);
}

int main(void)
{
	TEST_RUN(test_table);
	TEST_RUN(test_resolve);
	TEST_RUN(test_system_table_has_every_sysfs_disk);
	TEST_RUN(test_kind_names);
	TEST_RUN(test_tp_arg_index);
	return TEST_REPORT();
}
