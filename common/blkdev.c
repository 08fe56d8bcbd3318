#include "blkdev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Long enough for any kernel disk name (DISK_NAME_LEN is 32). */
#define BLKDEV_NAME_MAX 64

struct blkdev_entry {
	__u32 dev;
	char name[BLKDEV_NAME_MAX];
};

struct blkdev_table {
	size_t n;
	struct blkdev_entry *e;
};

/* Appends major:minor as name; 0, or -1 when out of memory. Numbers that do not fit the
 * kernel's dev_t are skipped: no device has them. */
static int add(struct blkdev_table *t, size_t *cap, unsigned major, unsigned minor,
	       const char *name)
{
	if (major >= (1u << (32 - BLK_DEV_MINORBITS)) || minor >= (1u << BLK_DEV_MINORBITS))
		return 0;
	if (t->n == *cap) {
		size_t want = *cap ? 2 * *cap : 32;
		struct blkdev_entry *p = realloc(t->e, want * sizeof(*p));

		if (!p)
			return -1;
		t->e = p;
		*cap = want;
	}
	t->e[t->n].dev = BLK_DEV(major, minor);
	snprintf(t->e[t->n].name, sizeof(t->e[t->n].name), "%s", name);
	t->n++;
	return 0;
}

/* Disks the kernel keeps out of /proc/partitions (GENHD_FL_SUPPRESS_PARTITION_INFO, e.g.
 * null_blk's) are still in /sys/class/block, which lists every block device with its
 * "MAJ:MIN". Without sysfs the table is /proc/partitions alone. Returns 0 or an errno. */
static int add_hidden_disks(struct blkdev_table *t, size_t *cap)
{
	DIR *d = opendir("/sys/class/block");
	struct dirent *de;
	unsigned major, minor;
	char rel[BLKDEV_NAME_MAX + 8], buf[32];
	__u32 dev;
	int fd, err = 0;
	ssize_t n;

	if (!d)
		return 0;
	while (!err && (de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= BLKDEV_NAME_MAX)
			continue;
		snprintf(rel, sizeof(rel), "%s/dev", de->d_name);
		fd = openat(dirfd(d), rel, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (sscanf(buf, "%u:%u", &major, &minor) != 2)
			continue;
		dev = BLK_DEV(major, minor);
		if (!blkdev_table__name(t, dev) && add(t, cap, major, minor, de->d_name))
			err = ENOMEM;
	}
	closedir(d);
	return err;
}

struct blkdev_table *blkdev_table__load(const char *path)
{
	struct blkdev_table *t;
	unsigned major, minor;
	unsigned long long blocks;
	char line[256], name[BLKDEV_NAME_MAX];
	size_t cap = 0;
	FILE *f;
	int err = 0;

	f = fopen(path ? path : "/proc/partitions", "re");
	if (!f)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		fclose(f);
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%u %u %llu %63s", &major, &minor, &blocks, name) != 4)
			continue;
		if (add(t, &cap, major, minor, name)) {
			err = ENOMEM;
			break;
		}
	}
	if (!err && ferror(f))
		err = EIO;
	fclose(f);
	if (!err && !path)
		err = add_hidden_disks(t, &cap);
	if (err) {
		blkdev_table__free(t);
		errno = err;
		return NULL;
	}
	return t;
}

void blkdev_table__free(struct blkdev_table *t)
{
	if (!t)
		return;
	free(t->e);
	free(t);
}

const char *blkdev_table__name(const struct blkdev_table *t, __u32 dev)
{
	size_t i;

	for (i = 0; t && i < t->n; i++)
		if (t->e[i].dev == dev)
			return t->e[i].name;
	return NULL;
}

int blkdev_table__dev(const struct blkdev_table *t, const char *name, __u32 *dev)
{
	size_t i;

	for (i = 0; t && i < t->n; i++) {
		if (!strcmp(t->e[i].name, name)) {
			*dev = t->e[i].dev;
			return 0;
		}
	}
	return -ENOENT;
}

int blkdev__resolve(const struct blkdev_table *t, const char *arg, __u32 *dev)
{
	struct stat st;

	/* A bare name is looked up, never opened: "sda" in the working directory is not meant. */
	if (!strchr(arg, '/'))
		return blkdev_table__dev(t, arg, dev);
	if (stat(arg, &st) != 0)
		return -ENOENT;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	*dev = BLK_DEV(major(st.st_rdev), minor(st.st_rdev));
	return 0;
}

bool blkdev__is_partition(__u32 dev)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", BLK_DEV_MAJOR(dev),
		 BLK_DEV_MINOR(dev));
	return access(path, F_OK) == 0;
}

/* BCC's order and spelling: the flags, then the operation. */
static const struct {
	__u32 bit;
	const char *name;
} blk_flag_names[] = {
	{ BLK_F_NOWAIT, "NoWait" },	    { BLK_F_BACKGROUND, "Background" },
	{ BLK_F_RAHEAD, "ReadAhead" },	    { BLK_F_PREFLUSH, "PreFlush" },
	{ BLK_F_FUA, "FUA" },		    { BLK_F_INTEGRITY, "Integrity" },
	{ BLK_F_IDLE, "Idle" },		    { BLK_F_NOMERGE, "NoMerge" },
	{ BLK_F_PRIO, "Priority" },	    { BLK_F_META, "Metadata" },
	{ BLK_F_SYNC, "Sync" },
};

static const char *const blk_op_names[BLK_OP_NR] = {
	[BLK_OP_READ] = "Read",
	[BLK_OP_WRITE] = "Write",
	[BLK_OP_FLUSH] = "Flush",
	[BLK_OP_DISCARD] = "Discard",
	[BLK_OP_SECURE_ERASE] = "SecureErase",
	[BLK_OP_WRITE_SAME] = "WriteSame",
	[BLK_OP_WRITE_ZEROES] = "WriteZeroes",
	[BLK_OP_ZONE_OPEN] = "ZoneOpen",
	[BLK_OP_ZONE_CLOSE] = "ZoneClose",
	[BLK_OP_ZONE_FINISH] = "ZoneFinish",
	[BLK_OP_ZONE_APPEND] = "ZoneAppend",
	[BLK_OP_ZONE_RESET] = "ZoneReset",
	[BLK_OP_ZONE_RESET_ALL] = "ZoneResetAll",
	[BLK_OP_SCSI_IN] = "SCSIIn",
	[BLK_OP_SCSI_OUT] = "SCSIOut",
	[BLK_OP_DRV_IN] = "DrvIn",
	[BLK_OP_DRV_OUT] = "DrvOut",
	[BLK_OP_UNKNOWN] = "Unknown",
};

/* snprintf at offset n of buf without forming a pointer past it (buf may be NULL). */
static size_t append(char *buf, size_t size, size_t n, const char *s, const char *sep)
{
	int len = n < size ? snprintf(buf + n, size - n, "%s%s", s, sep)
			   : snprintf(NULL, 0, "%s%s", s, sep);

	return n + (len > 0 ? (size_t)len : 0);
}

size_t blk_kind__name(__u32 kind, char *buf, size_t size)
{
	__u32 op = kind & BLK_OP_MASK;
	size_t n = 0, i;

	if (size)
		buf[0] = '\0';
	for (i = 0; i < sizeof(blk_flag_names) / sizeof(blk_flag_names[0]); i++)
		if (kind & blk_flag_names[i].bit)
			n = append(buf, size, n, blk_flag_names[i].name, "-");
	return append(buf, size, n, op < BLK_OP_NR ? blk_op_names[op] : "Unknown", "");
}
