/* Block layer facts that moved between kernels, read the CO-RE way: a request's disk, its
 * operation and flags (in the fixed encoding of bpf/block.h), and the fields of the classic
 * block_rq_* tracepoints. Include after "vmlinux.h". */
#ifndef BPF_BLOCK_BPF_H
#define BPF_BLOCK_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "block.h"

/* The request's disk. Commit f3fa33acca9f ("block: remove the ->rq_disk field in struct
 * request", 5.17) left only request->q->disk, which commit d152c682f03c ("block: add an
 * explicit ->disk backpointer to the request_queue", 5.15) had added; both exist in 5.15 and
 * 5.16, and the tracepoints of those kernels still read rq_disk, so it is preferred. */
struct request___rq_disk {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

/* request_queue->disk as a local flavour too: headers generated from kernels before 5.15 do not
 * have it (those kernels take the rq_disk branch). */
struct request_queue___disk {
	struct gendisk *disk;
} __attribute__((preserve_access_index));

/* BLK_DEV(major, first_minor) of the whole disk the request is for (what block tracepoints
 * report as "dev" and /proc/partitions lists), or 0 for a request without one. */
static __always_inline __u32 blk_rq_dev(struct request *rq)
{
	struct request___rq_disk *old = (void *)rq;
	struct request_queue___disk *q;
	struct gendisk *disk;

	if (bpf_core_field_exists(old->rq_disk)) {
		disk = BPF_CORE_READ(old, rq_disk);
	} else {
		q = (void *)BPF_CORE_READ(rq, q);
		disk = BPF_CORE_READ(q, disk);
	}
	if (!disk)
		return 0;
	return BLK_DEV(BPF_CORE_READ(disk, major), BPF_CORE_READ(disk, first_minor));
}

/* The operations, under both names the kernel's enum has had: req_op___new matches
 * `enum req_op` (6.0+), req_opf___old matches `enum req_opf` (4.10 until commit ff07a02e9e8e,
 * "treewide: Rename enum req_opf into enum req_op"). CO-RE matches type and value names
 * without their ___suffix and relocates each value to the running kernel's; a name the kernel
 * lacks is guarded by bpf_core_enum_value_exists, which the loader resolves to 0. The values
 * below are placeholders. */
enum req_op___new {
	REQ_OP_READ___new, REQ_OP_WRITE___new, REQ_OP_FLUSH___new, REQ_OP_DISCARD___new,
	REQ_OP_SECURE_ERASE___new, REQ_OP_WRITE_SAME___new, REQ_OP_WRITE_ZEROES___new,
	REQ_OP_ZONE_OPEN___new, REQ_OP_ZONE_CLOSE___new, REQ_OP_ZONE_FINISH___new,
	REQ_OP_ZONE_APPEND___new, REQ_OP_ZONE_RESET___new, REQ_OP_ZONE_RESET_ALL___new,
	REQ_OP_SCSI_IN___new, REQ_OP_SCSI_OUT___new, REQ_OP_DRV_IN___new, REQ_OP_DRV_OUT___new,
};

enum req_opf___old {
	REQ_OP_READ___old, REQ_OP_WRITE___old, REQ_OP_FLUSH___old, REQ_OP_DISCARD___old,
	REQ_OP_SECURE_ERASE___old, REQ_OP_WRITE_SAME___old, REQ_OP_WRITE_ZEROES___old,
	REQ_OP_ZONE_OPEN___old, REQ_OP_ZONE_CLOSE___old, REQ_OP_ZONE_FINISH___old,
	REQ_OP_ZONE_APPEND___old, REQ_OP_ZONE_RESET___old, REQ_OP_ZONE_RESET_ALL___old,
	REQ_OP_SCSI_IN___old, REQ_OP_SCSI_OUT___old, REQ_OP_DRV_IN___old, REQ_OP_DRV_OUT___old,
};

/* The operation is the low REQ_OP_BITS (8) of cmd_flags since 4.10; raw tracepoints and BTF
 * came later, so every kernel these programs load on has that layout. */
#define BLK_REQ_OP_MASK 0xffu

#define BLK_OP_IS(op, NAME)                                                                \
	((bpf_core_enum_value_exists(enum req_op___new, REQ_OP_##NAME##___new) &&           \
	  (op) == bpf_core_enum_value(enum req_op___new, REQ_OP_##NAME##___new)) ||          \
	 (bpf_core_enum_value_exists(enum req_opf___old, REQ_OP_##NAME##___old) &&          \
	  (op) == bpf_core_enum_value(enum req_opf___old, REQ_OP_##NAME##___old)))

static __always_inline __u32 blk_op_of(__u32 op)
{
	if (BLK_OP_IS(op, READ))
		return BLK_OP_READ;
	if (BLK_OP_IS(op, WRITE))
		return BLK_OP_WRITE;
	if (BLK_OP_IS(op, FLUSH))
		return BLK_OP_FLUSH;
	if (BLK_OP_IS(op, DISCARD))
		return BLK_OP_DISCARD;
	if (BLK_OP_IS(op, SECURE_ERASE))
		return BLK_OP_SECURE_ERASE;
	if (BLK_OP_IS(op, WRITE_SAME))
		return BLK_OP_WRITE_SAME;
	if (BLK_OP_IS(op, WRITE_ZEROES))
		return BLK_OP_WRITE_ZEROES;
	if (BLK_OP_IS(op, ZONE_OPEN))
		return BLK_OP_ZONE_OPEN;
	if (BLK_OP_IS(op, ZONE_CLOSE))
		return BLK_OP_ZONE_CLOSE;
	if (BLK_OP_IS(op, ZONE_FINISH))
		return BLK_OP_ZONE_FINISH;
	if (BLK_OP_IS(op, ZONE_APPEND))
		return BLK_OP_ZONE_APPEND;
	if (BLK_OP_IS(op, ZONE_RESET))
		return BLK_OP_ZONE_RESET;
	if (BLK_OP_IS(op, ZONE_RESET_ALL))
		return BLK_OP_ZONE_RESET_ALL;
	if (BLK_OP_IS(op, SCSI_IN))
		return BLK_OP_SCSI_IN;
	if (BLK_OP_IS(op, SCSI_OUT))
		return BLK_OP_SCSI_OUT;
	if (BLK_OP_IS(op, DRV_IN))
		return BLK_OP_DRV_IN;
	if (BLK_OP_IS(op, DRV_OUT))
		return BLK_OP_DRV_OUT;
	return BLK_OP_UNKNOWN;
}

/* enum req_flag_bits has had this name since 4.10; bits the kernel lacks are skipped. */
#define BLK_FLAG(opf, NAME, out)                                                           \
	((bpf_core_enum_value_exists(enum req_flag_bits, __REQ_##NAME) &&                   \
	  (((opf) >> bpf_core_enum_value(enum req_flag_bits, __REQ_##NAME)) & 1)) ? (out) : 0)

/* cmd_flags (a request's or a bio's opf) in the encoding of bpf/block.h. */
static __always_inline __u32 blk_kind_of(__u32 opf)
{
	return blk_op_of(opf & BLK_REQ_OP_MASK) | BLK_FLAG(opf, SYNC, BLK_F_SYNC) |
	       BLK_FLAG(opf, META, BLK_F_META) | BLK_FLAG(opf, PRIO, BLK_F_PRIO) |
	       BLK_FLAG(opf, NOMERGE, BLK_F_NOMERGE) | BLK_FLAG(opf, IDLE, BLK_F_IDLE) |
	       BLK_FLAG(opf, INTEGRITY, BLK_F_INTEGRITY) | BLK_FLAG(opf, FUA, BLK_F_FUA) |
	       BLK_FLAG(opf, PREFLUSH, BLK_F_PREFLUSH) | BLK_FLAG(opf, RAHEAD, BLK_F_RAHEAD) |
	       BLK_FLAG(opf, BACKGROUND, BLK_F_BACKGROUND) | BLK_FLAG(opf, NOWAIT, BLK_F_NOWAIT);
}

static __always_inline __u32 blk_rq_kind(struct request *rq)
{
	return blk_kind_of(BPF_CORE_READ(rq, cmd_flags));
}

/* The classic tracepoints only carry the kernel's "rwbs" summary of the flags (as blktrace
 * prints it): an optional 'F' for a preflush, the operation ('R', 'W', 'D', "DE" for secure
 * erase, 'F' for flush, 'N' or others for the rest), then 'F' (FUA), 'A' (readahead),
 * 'S' (sync) and 'M' (meta). Fewer flags than cmd_flags, but the same encoding. */
static __always_inline bool blk_rwbs_is_op(char c)
{
	return c == 'R' || c == 'W' || c == 'D' || c == 'F' || c == 'N' || c == 'Z';
}

/* rwbs is char[8] or char[10] depending on the kernel: 8 bytes are read (a NUL ends it
 * sooner), as one integer. Byte i is taken with shifts, never an index into a stack array:
 * clang turns a variable index into an OR on the frame pointer, which the verifier rejects. */
#define BLK_RWBS_READ 8

static __always_inline char blk_rwbs_at(__u64 rwbs, __u32 i)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (char)(rwbs >> (8 * i));
#else
	return (char)(rwbs >> (56 - 8 * i));
#endif
}

static __always_inline __u32 blk_kind_of_rwbs(__u64 rwbs)
{
	__u32 kind = 0, i = 0;
	char op, c;

	if (blk_rwbs_at(rwbs, 0) == 'F' && blk_rwbs_is_op(blk_rwbs_at(rwbs, 1))) {
		kind |= BLK_F_PREFLUSH;
		i = 1;
	}
	op = blk_rwbs_at(rwbs, i);
	if (op == 'R') {
		kind |= BLK_OP_READ;
	} else if (op == 'W') {
		kind |= BLK_OP_WRITE;
	} else if (op == 'F') {
		kind |= BLK_OP_FLUSH;
	} else if (op == 'D' && blk_rwbs_at(rwbs, i + 1) == 'E') {
		kind |= BLK_OP_SECURE_ERASE;
		i++;
	} else if (op == 'D') {
		kind |= BLK_OP_DISCARD;
	} else {
		kind |= BLK_OP_UNKNOWN;
	}
	for (i++; i < BLK_RWBS_READ; i++) {
		c = blk_rwbs_at(rwbs, i);
		if (!c)
			break;
		if (c == 'F')
			kind |= BLK_F_FUA;
		else if (c == 'A')
			kind |= BLK_F_RAHEAD;
		else if (c == 'S')
			kind |= BLK_F_SYNC;
		else if (c == 'M')
			kind |= BLK_F_META;
	}
	return kind;
}

/* The classic tracepoints' records. block_rq_insert, _issue and _merge share the block_rq
 * class; block_rq_complete's record was trace_event_raw_block_rq_complete until commit
 * d5869fdc189f ("block: introduce block_rq_error tracepoint", 5.18) made it a class,
 * block_rq_completion. */
struct trace_event_raw_block_rq___cs {
	dev_t dev;
	sector_t sector;
	char rwbs[BLK_RWBS_READ];
} __attribute__((preserve_access_index));

struct trace_event_raw_block_rq_completion___cs {
	dev_t dev;
	sector_t sector;
	char rwbs[BLK_RWBS_READ];
} __attribute__((preserve_access_index));

struct trace_event_raw_block_rq_complete___cs {
	dev_t dev;
	sector_t sector;
	char rwbs[BLK_RWBS_READ];
} __attribute__((preserve_access_index));

/* One classic block_rq_* record: which disk, where, what. */
struct blk_tp_rq {
	__u32 dev;
	__u64 sector;
	__u32 kind;
};

static __always_inline void blk_tp_rq_read(void *ctx, struct blk_tp_rq *r)
{
	struct trace_event_raw_block_rq___cs *e = ctx;
	__u64 rwbs = 0;

	r->dev = BPF_CORE_READ(e, dev);
	r->sector = BPF_CORE_READ(e, sector);
	bpf_core_read(&rwbs, sizeof(rwbs), &e->rwbs);
	r->kind = blk_kind_of_rwbs(rwbs);
}

static __always_inline void blk_tp_completion_read(void *ctx, struct blk_tp_rq *r)
{
	__u64 rwbs = 0;

	if (bpf_core_type_exists(struct trace_event_raw_block_rq_completion___cs)) {
		struct trace_event_raw_block_rq_completion___cs *e = ctx;

		r->dev = BPF_CORE_READ(e, dev);
		r->sector = BPF_CORE_READ(e, sector);
		bpf_core_read(&rwbs, sizeof(rwbs), &e->rwbs);
	} else {
		struct trace_event_raw_block_rq_complete___cs *e = ctx;

		r->dev = BPF_CORE_READ(e, dev);
		r->sector = BPF_CORE_READ(e, sector);
		bpf_core_read(&rwbs, sizeof(rwbs), &e->rwbs);
	}
	r->kind = blk_kind_of_rwbs(rwbs);
}

#endif
