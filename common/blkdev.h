/* Block devices for the block I/O tools: disk names by the kernel's device number (BLK_DEV in
 * bpf/block.h, what BPF programs and block tracepoints see) from /proc/partitions, the disk a
 * command-line argument names, and the names of request kinds ("Sync-Write").
 *
 * Errors are negative errno values; constructors return NULL and set errno. */
#ifndef COMMON_BLKDEV_H
#define COMMON_BLKDEV_H

#include <stdbool.h>
#include <stddef.h>

#include "../bpf/block.h"

struct blkdev_table;

/* Reads a /proc/partitions-format file. Lines that are not "major minor blocks name" are
 * skipped. path NULL: /proc/partitions, plus the disks it does not list (null_blk's) from
 * /sys/class/block. NULL with errno on a read or allocation failure. */
struct blkdev_table *blkdev_table__load(const char *path);

void blkdev_table__free(struct blkdev_table *t);

/* The name of dev ("vda", "loop3"), or NULL when the table does not list it. */
const char *blkdev_table__name(const struct blkdev_table *t, __u32 dev);

/* The device number of a name the table lists. Returns 0 or -ENOENT. */
int blkdev_table__dev(const struct blkdev_table *t, const char *name, __u32 *dev);

/* The device a user named: a name the table lists ("sda", "nvme0n1") or the path of a
 * block device node ("/dev/sda", "/dev/mapper/root"). Returns 0 with *dev set, -ENOENT when
 * there is no such name or file, or -ENOTBLK for a file that is not a block device. */
int blkdev__resolve(const struct blkdev_table *t, const char *arg, __u32 *dev);

/* Is dev a partition rather than a whole disk (/sys/dev/block/MAJ:MIN/partition)? */
bool blkdev__is_partition(__u32 dev);

/* Writes the name of a request kind (BLK_OP_* | BLK_F_*) the way BCC's biolatency -F prints
 * it: flags in BCC's order, each followed by '-', then the operation ("Sync-Write",
 * "ReadAhead-Read", "PreFlush-Flush"; "Unknown" for an operation without a name). Returns the
 * length the full name needs, as snprintf does. */
size_t blk_kind__name(__u32 kind, char *buf, size_t size);

#endif
