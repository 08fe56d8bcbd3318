/* What a block I/O request does, in one fixed encoding shared by the BPF programs and user
 * space. The kernel's own encoding (REQ_OP_* in the low bits of cmd_flags, REQ_* flags
 * above) is not stable: 5.18 removed REQ_OP_WRITE_SAME, the zone operations have been
 * renumbered since, and flag bits come and go. So the BPF side translates cmd_flags into this
 * with CO-RE (bpf/block.bpf.h), and user space decodes it without knowing the kernel. */
#ifndef BPF_BLOCK_H
#define BPF_BLOCK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* The operation, in bits 0-7. */
#define BLK_OP_READ 0
#define BLK_OP_WRITE 1
#define BLK_OP_FLUSH 2
#define BLK_OP_DISCARD 3
#define BLK_OP_SECURE_ERASE 4
#define BLK_OP_WRITE_SAME 5
#define BLK_OP_WRITE_ZEROES 6
#define BLK_OP_ZONE_OPEN 7
#define BLK_OP_ZONE_CLOSE 8
#define BLK_OP_ZONE_FINISH 9
#define BLK_OP_ZONE_APPEND 10
#define BLK_OP_ZONE_RESET 11
#define BLK_OP_ZONE_RESET_ALL 12
#define BLK_OP_SCSI_IN 13
#define BLK_OP_SCSI_OUT 14
#define BLK_OP_DRV_IN 15
#define BLK_OP_DRV_OUT 16
#define BLK_OP_UNKNOWN 17 /* an operation this encoding does not name */
#define BLK_OP_NR 18
#define BLK_OP_MASK 0xffu

/* The request flags BCC's tools decode, in bits 8 and up. Other kernel flags (FAILFAST_*,
 * NOUNMAP, ...) are dropped, so two requests with the same decoded name never count as two
 * kinds. */
#define BLK_F_SYNC (1u << 8)
#define BLK_F_META (1u << 9)
#define BLK_F_PRIO (1u << 10)
#define BLK_F_NOMERGE (1u << 11)
#define BLK_F_IDLE (1u << 12)
#define BLK_F_INTEGRITY (1u << 13)
#define BLK_F_FUA (1u << 14)
#define BLK_F_PREFLUSH (1u << 15)
#define BLK_F_RAHEAD (1u << 16)
#define BLK_F_BACKGROUND (1u << 17)
#define BLK_F_NOWAIT (1u << 18)

/* A disk as the kernel numbers it internally and in block tracepoints: MAJOR << 20 | MINOR
 * (not glibc's makedev() layout). */
#define BLK_DEV_MINORBITS 20
#define BLK_DEV(major, minor) (((__u32)(major) << BLK_DEV_MINORBITS) | (__u32)(minor))
#define BLK_DEV_MAJOR(dev) ((__u32)(dev) >> BLK_DEV_MINORBITS)
#define BLK_DEV_MINOR(dev) ((__u32)(dev) & ((1u << BLK_DEV_MINORBITS) - 1))

#endif
