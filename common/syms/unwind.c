/* User stacks by call-frame information, unwound in user space from a copy of the stack.
 *
 * Why here and not in the kernel. The other known design walks unwinding tables that user
 * space compiles into BPF maps, in the kernel at each sample (the OpenTelemetry eBPF
 * profiler): it sends only addresses, but needs every executable's tables in kernel memory
 * (tens of MB for a desktop's libraries, against the 4 MB this tool allows itself), a
 * table compiler per architecture, and bounded loops that kernels before 5.3 reject.
 * Copying the stack instead costs, measured here (docs/performance.md, profile): the copy
 * of up to PROFILE_STACK_BYTES per sample in the kernel (a few microseconds; most user
 * stacks end, at the top of their mapping, well before that), the ring buffer bytes (at
 * 49 Hz on 2 CPUs, under 2 MB/s), and this file's work in user space, a few microseconds
 * per frame through libdw's call-frame lookup. At the default rate that is far below 1 % of
 * a CPU, with nothing in the kernel that grows with the programs profiled.
 *
 * Frame pointers still serve where they are the only thing there is: code without
 * call-frame information (JIT code) is stepped by its frame pointer, and a sample whose
 * registers are unknown (in kernel mode on kernels before 5.15) keeps the kernel's frame
 * pointer walk (tools/profile.c). Where both exist, the call-frame information wins: a
 * frame pointer chain through code built without them is valid-looking and wrong (it
 * skips the callers of every function that does not keep a frame).
 *
 * Files are read with ELF_C_READ (pread, not mmap): a file truncated under us is an error,
 * not a SIGBUS. They are opened through /proc/PID/map_files (the very file mapped, even if
 * deleted or replaced since) or the process's root, never following a final link, never
 * blocking, and only if they are the regular file the mapping names. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>

#include "elfsyms.h"
#include "procmaps.h"
#include "unwind.h"
#include "util.h"

/* DWARF register numbers (the psABIs' tables). */
#if defined(__x86_64__)
#define REG_FP 6   /* rbp */
#define REG_SP 7   /* rsp */
#define REG_PC 16  /* the return address column */
#define REG_LR -1
#define CALLER_RA_ADJUST 1
#elif defined(__aarch64__)
#define REG_FP 29
#define REG_LR 30  /* also the return address column */
#define REG_SP 31
#define REG_PC -1
#define CALLER_RA_ADJUST 4
#else
#error "unwind.c: add this architecture's DWARF register numbers"
#endif

/* Files no process image maps any more, kept open with their parsed tables: a compiler
 * driver runs its back end as one short process after another, and reading libLLVM's
 * call-frame tables again for each costs 0.1-1 s. */
#define MAX_UNUSED_FILES 32
#define REFRESH_NS 100000000ull  /* addresses in no mapping are rare: new libraries */
#define EXPR_STACK 8

struct ufile {
	struct ufile *next;
	dev_t dev;
	ino_t ino;
	int fd;               /* -1 for the vdso */
	Elf *elf;
	Dwarf_CFI *eh;        /* .eh_frame, or NULL; read on first use (it can take 100 ms) */
	bool eh_tried;
	Dwarf *dw;            /* for .debug_frame, opened when .eh_frame has nothing */
	Dwarf_CFI *dbg;
	bool dbg_tried;
	int dbg_fd;           /* the separate debug file's, whose .debug_frame dw reads: -1 */
	Elf *dbg_elf;
	uint64_t plt_lo, plt_hi;  /* .plt's addresses, where it has one */
	bool plt_tried;
	unsigned int refs;
	uint64_t unused_since;  /* when refs fell to 0: kept for the next process of it */
	uint64_t id;            /* unique: names the file in the rule cache */
};

/* A frame's rules in the simple forms nearly all compiled code uses (the CFA a register
 * plus an offset, registers saved at the CFA plus an offset, or unchanged), cached by file
 * and address: libdw finds and runs a function's call-frame program at each lookup (a few
 * microseconds), the cache makes a step a table lookup. */
enum crule { CR_NONE, CR_SAME, CR_UNDEF, CR_OFFSET };

struct cached_rule {
	uint64_t file_id;  /* 0: empty */
	uint64_t vaddr;
	int32_t cfa_off, ra_off, fp_off;
	uint8_t cfa_fp;    /* the CFA is the frame pointer plus cfa_off (else the stack pointer) */
	uint8_t ra, fp;    /* enum crule */
};

#define RULE_CACHE 8192  /* entries, direct-mapped: 256 KiB */

struct umap {
	uint64_t start, end;
	uint64_t bias;        /* address - ELF virtual address */
	struct ufile *file;   /* NULL: code without a file (JIT) */
};

struct unwind_proc {
	struct unwinder *uw;
	pid_t pid;
	bool frozen;
	uint64_t read_ns;
	struct umap *maps;
	size_t n;
};

struct unwinder {
	/* The files and their counts: a process image is prepared in one thread and unwound
	 * (re-reading its maps when a library appears) in another. */
	pthread_mutex_t lock;
	struct ufile *files;
	struct ufile *vdso;
	unsigned int unused;
	uint64_t unused_seq, next_id;
	struct cached_rule *rules;  /* used by the unwinding thread only */
	struct unwinder_stats st;
	char *debug_dir;  /* NULL: the default; "": none */
};

static const char *const end_names[UNWIND_NR_ENDS] = {
	[UNWIND_END_OUTERMOST] = "outermost",
	[UNWIND_END_COPY] = "stack_copy_end",
	[UNWIND_END_NO_MAP] = "no_mapping",
	[UNWIND_END_NO_CFI] = "no_frame_info",
	[UNWIND_END_BAD] = "bad_frame",
	[UNWIND_END_DEPTH] = "depth",
};

const char *unwind_end__name(enum unwind_end end)
{
	return end < UNWIND_NR_ENDS ? end_names[end] : "?";
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct unwinder *unwinder__new(const char *debug_dir)
{
	struct unwinder *uw = calloc(1, sizeof(*uw));

	if (!uw)
		return NULL;
	if (debug_dir && !(uw->debug_dir = strdup(debug_dir))) {
		free(uw);
		return NULL;
	}
	elf_version(EV_CURRENT);
	pthread_mutex_init(&uw->lock, NULL);
	return uw;
}

static void ufile_free(struct ufile *f)
{
	if (f->dbg || f->dw)
		dwarf_end(f->dw);  /* frees its CFI too */
	if (f->eh)
		dwarf_cfi_end(f->eh);
	elf_end(f->dbg_elf);
	if (f->dbg_fd >= 0)
		close(f->dbg_fd);
	elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

void unwinder__free(struct unwinder *uw)
{
	struct ufile *f, *next;

	if (!uw)
		return;
	for (f = uw->files; f; f = next) {
		next = f->next;
		ufile_free(f);
	}
	pthread_mutex_destroy(&uw->lock);
	free(uw->rules);
	free(uw->debug_dir);
	free(uw);
}

void unwinder__stats(const struct unwinder *uw, struct unwinder_stats *stats)
{
	*stats = uw->st;
}

/* Frees f (refs 0) or, while there are few such, keeps it for later. */
static void ufile_unused(struct unwinder *uw, struct ufile *f)
{
	struct ufile **pp, *old = NULL;

	f->unused_since = ++uw->unused_seq;
	if (++uw->unused <= MAX_UNUSED_FILES)
		return;
	for (pp = &uw->files; *pp; pp = &(*pp)->next)
		if (!(*pp)->refs && (!old || (*pp)->unused_since < old->unused_since))
			old = *pp;
	f = old;
	uw->unused--;
	for (pp = &uw->files; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	if (uw->vdso == f)
		uw->vdso = NULL;
	uw->st.files--;
	ufile_free(f);
}

static void ufile_put(struct unwinder *uw, struct ufile *f)
{
	if (f && --f->refs == 0)
		ufile_unused(uw, f);
}

static void ufile_get(struct unwinder *uw, struct ufile *f)
{
	if (f->refs++ == 0)
		uw->unused--;
}

static struct ufile *ufile_add(struct unwinder *uw, int fd, Elf *elf, dev_t dev, ino_t ino)
{
	struct ufile *f = calloc(1, sizeof(*f));

	if (!f) {
		elf_end(elf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	f->fd = fd;
	f->dbg_fd = -1;
	f->id = ++uw->next_id;
	f->elf = elf;
	f->dev = dev;
	f->ino = ino;
	f->refs = 1;
	f->next = uw->files;
	uw->files = f;
	uw->st.files++;
	return f;
}

/* This process's own vdso: the same kernel's, so the same code as every process's. */
static struct ufile *vdso_file(struct unwinder *uw)
{
	const unsigned char *img = (const void *)getauxval(AT_SYSINFO_EHDR);
	const Elf64_Ehdr *eh = (const void *)img;
	size_t size;
	Elf *elf;

	if (uw->vdso) {
		ufile_get(uw, uw->vdso);
		return uw->vdso;
	}
	if (!img || memcmp(img, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return NULL;
	size = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	if (size < sizeof(*eh) || size > (1u << 20))
		return NULL;
	elf = elf_memory((char *)img, size);
	if (!elf)
		return NULL;
	uw->vdso = ufile_add(uw, -1, elf, 0, 0);
	return uw->vdso;
}

/* The file a mapping names, opened as a hostile file would be. */
static int open_mapped(pid_t pid, const struct procmap *pm, struct stat *st)
{
	char path[PATH_MAX];
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid,
		 (unsigned long long)pm->start, (unsigned long long)pm->end);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && pm->path_len && pm->path[0] == '/' && !(pm->flags & PROCMAP_DELETED)) {
		n = snprintf(path, sizeof(path), "/proc/%d/root%.*s", (int)pid,
			     (int)pm->path_len, pm->path);
		if (n > 0 && (size_t)n < sizeof(path))
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	}
	if (fd < 0)
		return -1;
	if (fstat(fd, st) || !S_ISREG(st->st_mode) ||
	    !syms_same_file(NULL, fd, st, pm->dev_major, pm->dev_minor, pm->inode)) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct ufile *file_for(struct unwinder *uw, pid_t pid, const struct procmap *pm)
{
	struct ufile *f;
	struct stat st;
	Elf *elf;
	int fd;

	for (f = uw->files; f; f = f->next) {
		if (f->fd >= 0 && f->ino == pm->inode &&
		    f->dev == makedev(pm->dev_major, pm->dev_minor)) {
			ufile_get(uw, f);
			return f;
		}
	}
	fd = open_mapped(pid, pm, &st);
	if (fd < 0)
		return NULL;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		close(fd);
		return NULL;
	}
	return ufile_add(uw, fd, elf, st.st_dev, st.st_ino);
}

/* address - ELF virtual address for a mapping of file offset pgoff at start: through the
 * PT_LOAD segment the mapping holds (the executable one, when several share a page). */
static bool load_bias(Elf *elf, uint64_t start, uint64_t pgoff, uint64_t *bias)
{
	size_t i, n;
	bool found = false;

	if (elf_getphdrnum(elf, &n))
		return false;
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (pgoff < (ph.p_offset & ~4095ull) || pgoff >= ph.p_offset + ph.p_filesz)
			continue;
		*bias = start - pgoff + ph.p_offset - ph.p_vaddr;
		found = true;
		if (ph.p_flags & PF_X)
			break;
	}
	return found;
}

struct collect {
	struct unwind_proc *p;
	struct umap *v;
	size_t n, cap;
};

static int collect_exec(const struct procmap *pm, void *vctx)
{
	struct collect *c = vctx;
	struct unwinder *uw = c->p->uw;
	struct umap m = { .start = pm->start, .end = pm->end };

	if (!(pm->flags & PROCMAP_EXEC))
		return 0;
	if (pm->flags & PROCMAP_VDSO)
		m.file = vdso_file(uw);
	else if ((pm->flags & PROCMAP_FILE) && pm->inode)
		m.file = file_for(uw, c->p->pid, pm);
	else if (pm->flags & PROCMAP_PSEUDO)
		return 0;  /* [vsyscall] */
	if (m.file && !load_bias(m.file->elf, pm->start,
				 (pm->flags & PROCMAP_VDSO) ? 0 : pm->offset, &m.bias)) {
		ufile_put(uw, m.file);
		m.file = NULL;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 32;
		struct umap *nv = realloc(c->v, ncap * sizeof(*nv));

		if (!nv) {
			ufile_put(uw, m.file);
			return -ENOMEM;
		}
		c->v = nv;
		c->cap = ncap;
	}
	c->v[c->n++] = m;
	return 0;
}

static void maps_put(struct unwinder *uw, struct umap *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ufile_put(uw, v[i].file);
	free(v);
}

/* (Re)reads the process's maps; the old ones stay if it cannot. */
static int read_maps(struct unwind_proc *p)
{
	struct collect c = { .p = p };
	char path[32];
	FILE *f;
	int err;

	p->read_ns = now_ns();
	__atomic_add_fetch(&p->uw->st.map_reads, 1, __ATOMIC_RELAXED);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)p->pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	pthread_mutex_lock(&p->uw->lock);
	err = procmaps__parse_file(f, collect_exec, &c);
	fclose(f);
	if (err) {
		maps_put(p->uw, c.v, c.n);
	} else {
		/* /proc/PID/maps lists mappings in address order. */
		maps_put(p->uw, p->maps, p->n);
		p->maps = c.v;
		p->n = c.n;
	}
	pthread_mutex_unlock(&p->uw->lock);
	return err;
}

struct unwind_proc *unwinder__prepare(struct unwinder *uw, pid_t pid)
{
	struct unwind_proc *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return NULL;
	p->uw = uw;
	p->pid = pid;
	err = read_maps(p);
	if (err) {
		free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

void unwind_proc__freeze(struct unwind_proc *p)
{
	if (p)
		__atomic_store_n(&p->frozen, true, __ATOMIC_RELAXED);
}

void unwind_proc__free(struct unwind_proc *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->uw->lock);
	maps_put(p->uw, p->maps, p->n);
	pthread_mutex_unlock(&p->uw->lock);
	free(p);
}

static const struct umap *find_map(const struct umap *v, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < v[mid].start)
			hi = mid;
		else if (addr >= v[mid].end)
			lo = mid + 1;
		else
			return &v[mid];
	}
	return NULL;
}

static const struct umap *lookup_map(struct unwind_proc *p, uint64_t addr)
{
	const struct umap *m = find_map(p->maps, p->n, addr);

	/* A library loaded since the maps were read (dlopen), while the process runs. */
	if (!m && !__atomic_load_n(&p->frozen, __ATOMIC_RELAXED) &&
	    now_ns() - p->read_ns >= REFRESH_NS &&
	    kill(p->pid, 0) == 0 && read_maps(p) == 0)
		m = find_map(p->maps, p->n, addr);
	return m;
}

/* The frame's state: the registers unwinding tracks, and the copied stack. */
struct state {
	uint64_t pc, sp, fp, lr, cfa;
	bool ra_in_lr;  /* the last step's return address was the link register's value */
	const uint8_t *stack;
	uint64_t stack_lo, stack_hi;  /* addresses the copy covers */
};

static bool mem_read(const struct state *s, uint64_t addr, uint64_t *val)
{
	if (addr < s->stack_lo || addr > s->stack_hi - 8 || s->stack_hi - s->stack_lo < 8)
		return false;
	memcpy(val, s->stack + (addr - s->stack_lo), 8);
	return true;
}

static bool reg_value(const struct state *s, int reg, uint64_t *val)
{
	if (reg == REG_SP)
		*val = s->sp;
	else if (reg == REG_FP)
		*val = s->fp;
	else if (reg == REG_PC)
		*val = s->pc;
	else if (reg == REG_LR)
		*val = s->lr;
	else
		return false;
	return true;
}

/* Evaluates a DWARF expression of the kinds call-frame information uses (register plus
 * offset, the CFA, arithmetic, memory reads: what compilers emit for PLT entries, realigned
 * stacks and signal frames). *is_value: it ended in DW_OP_stack_value (a value, not the
 * address of one). */
static bool eval(const struct state *s, const Dwarf_Op *ops, size_t nops, uint64_t *out,
		 bool *is_value)
{
	uint64_t st[EXPR_STACK], v;
	size_t sp = 0, i;

	*is_value = false;
	for (i = 0; i < nops; i++) {
		uint8_t op = ops[i].atom;

		if (sp >= EXPR_STACK)
			return false;
		if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
			st[sp++] = op - DW_OP_lit0;
		} else if (op >= DW_OP_breg0 && op <= DW_OP_breg31) {
			if (!reg_value(s, op - DW_OP_breg0, &v))
				return false;
			st[sp++] = v + ops[i].number;
		} else if (op == DW_OP_bregx) {
			if (!reg_value(s, (int)ops[i].number, &v))
				return false;
			st[sp++] = v + ops[i].number2;
		} else if (op >= DW_OP_reg0 && op <= DW_OP_reg31 && nops == 1) {
			/* The value is in that register. */
			*is_value = true;
			return reg_value(s, op - DW_OP_reg0, out);
		} else if (op == DW_OP_call_frame_cfa) {
			st[sp++] = s->cfa;
		} else if (op == DW_OP_const1u || op == DW_OP_const2u || op == DW_OP_const4u ||
			   op == DW_OP_const8u || op == DW_OP_const1s || op == DW_OP_const2s ||
			   op == DW_OP_const4s || op == DW_OP_const8s || op == DW_OP_constu ||
			   op == DW_OP_consts) {
			st[sp++] = ops[i].number;
		} else if (op == DW_OP_plus_uconst) {
			if (!sp)
				return false;
			st[sp - 1] += ops[i].number;
		} else if (op == DW_OP_deref) {
			if (!sp || !mem_read(s, st[sp - 1], &st[sp - 1]))
				return false;
		} else if (op == DW_OP_stack_value) {
			*is_value = true;
			break;
		} else if (op == DW_OP_plus || op == DW_OP_minus || op == DW_OP_and ||
			   op == DW_OP_or || op == DW_OP_shl || op == DW_OP_shr ||
			   op == DW_OP_ge || op == DW_OP_gt || op == DW_OP_le || op == DW_OP_lt ||
			   op == DW_OP_eq || op == DW_OP_ne || op == DW_OP_mul) {
			uint64_t b, a;

			if (sp < 2)
				return false;
			b = st[--sp];
			a = st[sp - 1];
			switch (op) {
			case DW_OP_plus: a += b; break;
			case DW_OP_minus: a -= b; break;
			case DW_OP_and: a &= b; break;
			case DW_OP_or: a |= b; break;
			case DW_OP_mul: a *= b; break;
			case DW_OP_shl: a = b < 64 ? a << b : 0; break;
			case DW_OP_shr: a = b < 64 ? a >> b : 0; break;
			case DW_OP_ge: a = (int64_t)a >= (int64_t)b; break;
			case DW_OP_gt: a = (int64_t)a > (int64_t)b; break;
			case DW_OP_le: a = (int64_t)a <= (int64_t)b; break;
			case DW_OP_lt: a = (int64_t)a < (int64_t)b; break;
			case DW_OP_eq: a = a == b; break;
			default: a = a != b; break;
			}
			st[sp - 1] = a;
		} else {
			return false;
		}
	}
	if (!sp)
		return false;
	*out = st[sp - 1];
	return true;
}

enum rule { RULE_VALUE, RULE_SAME, RULE_UNDEFINED, RULE_FAIL };

/* The caller's value of register reg in frame. */
static enum rule caller_reg(const struct state *s, Dwarf_Frame *frame, int reg, uint64_t *val)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;
	bool is_value;
	uint64_t v;

	if (reg < 0 || dwarf_frame_register(frame, reg, mem, &ops, &nops))
		return RULE_FAIL;
	if (nops == 0)
		return ops ? RULE_UNDEFINED : RULE_SAME;
	if (!eval(s, ops, nops, &v, &is_value))
		return RULE_FAIL;
	if (!is_value && !mem_read(s, v, &v))
		return RULE_FAIL;
	*val = v;
	return RULE_VALUE;
}

/* .debug_frame: the file's own, else its separate debug file's (by build-id), where
 * code built without unwind tables (-fno-asynchronous-unwind-tables) keeps its call-frame
 * information once the file is stripped. */
static Dwarf_CFI *debug_cfi(const struct unwinder *uw, struct ufile *f)
{
	if (f->dbg_tried)
		return f->dbg;
	f->dbg_tried = true;
	f->dw = dwarf_begin_elf(f->elf, DWARF_C_READ, NULL);
	f->dbg = f->dw ? dwarf_getcfi(f->dw) : NULL;
	if (f->dbg || f->fd < 0)
		return f->dbg;
	if (f->dw) {
		dwarf_end(f->dw);
		f->dw = NULL;
	}
	f->dbg_fd = elf_debug_file__open_by_build_id(f->elf, uw->debug_dir);
	if (f->dbg_fd < 0)
		return NULL;
	f->dbg_elf = elf_begin(f->dbg_fd, ELF_C_READ, NULL);
	f->dw = f->dbg_elf ? dwarf_begin_elf(f->dbg_elf, DWARF_C_READ, NULL) : NULL;
	f->dbg = f->dw ? dwarf_getcfi(f->dw) : NULL;
	return f->dbg;
}

static Dwarf_Frame *frame_at(const struct unwinder *uw, struct ufile *f, uint64_t vaddr)
{
	Dwarf_Frame *frame = NULL;
	Dwarf_CFI *dbg;

	if (!f->eh_tried) {
		f->eh_tried = true;
		f->eh = dwarf_getcfi_elf(f->elf);
	}
	if (f->eh && dwarf_cfi_addrframe(f->eh, vaddr, &frame) == 0)
		return frame;
	dbg = debug_cfi(uw, f);
	if (dbg && dwarf_cfi_addrframe(dbg, vaddr, &frame) == 0)
		return frame;
	return NULL;
}

/* Is vaddr in the file's .plt? arm64's linker writes no call-frame information for its
 * stubs (x86-64's does): a stub makes no frame and leaves the return address in lr. */
static bool in_plt(struct ufile *f, uint64_t vaddr)
{
	if (!f->plt_tried) {
		f->plt_tried = true;
		if (!elf_plt_range(f->elf, &f->plt_lo, &f->plt_hi))
			f->plt_lo = f->plt_hi = 0;
	}
	return vaddr >= f->plt_lo && vaddr < f->plt_hi;
}

static uint64_t strip_ra(uint64_t ra)
{
#if defined(__aarch64__)
	/* Pointer authentication signs saved return addresses in their top bits; user
	 * addresses have at most 48 significant bits where it is enabled. */
	ra &= (1ull << 48) - 1;
#endif
	return ra;
}

/* A step that found the caller (not an end). */
#define STEP_OK UNWIND_NR_ENDS

/* One step by call-frame information: the caller's pc, sp, fp (and lr). */
static enum unwind_end step_cfi(struct state *s, Dwarf_Frame *frame, bool *signal)
{
	Dwarf_Op *ops;
	size_t nops;
	bool is_value;
	uint64_t ra = 0, fp = s->fp, lr = s->lr;
	int ra_reg;
	enum rule r;

	ra_reg = dwarf_frame_info(frame, NULL, NULL, signal);
	if (ra_reg < 0 || dwarf_frame_cfa(frame, &ops, &nops) || nops == 0 ||
	    !eval(s, ops, nops, &s->cfa, &is_value))
		return UNWIND_END_BAD;
	r = caller_reg(s, frame, ra_reg, &ra);
	if (r == RULE_UNDEFINED)
		return UNWIND_END_OUTERMOST;
	if (r == RULE_SAME && !reg_value(s, ra_reg, &ra))
		return UNWIND_END_BAD;
	if (r == RULE_FAIL)
		return UNWIND_END_COPY;
	s->ra_in_lr = r == RULE_SAME && ra_reg == REG_LR;
	if (caller_reg(s, frame, REG_FP, &fp) == RULE_FAIL)
		fp = 0;  /* unknown from here on: a later frame that needs it stops */
	if (REG_LR >= 0 && ra_reg != REG_LR)
		caller_reg(s, frame, REG_LR, &lr);
	else
		lr = ra;
	s->pc = strip_ra(ra);
	s->lr = lr;
	s->fp = fp;
	s->sp = s->cfa;
	return s->pc ? STEP_OK : UNWIND_END_OUTERMOST;
}

static enum crule simple_reg(Dwarf_Frame *frame, int reg, int32_t *off)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;
	int64_t v;

	if (reg < 0 || dwarf_frame_register(frame, reg, mem, &ops, &nops))
		return CR_NONE;
	if (nops == 0)
		return ops ? CR_UNDEF : CR_SAME;
	if (ops[0].atom != DW_OP_call_frame_cfa || nops > 2)
		return CR_NONE;
	if (nops == 1) {
		*off = 0;
		return CR_OFFSET;
	}
	v = (int64_t)ops[1].number;
	if (ops[1].atom != DW_OP_plus_uconst || v < INT32_MIN || v > INT32_MAX)
		return CR_NONE;
	*off = (int32_t)v;
	return CR_OFFSET;
}

/* Caches frame's rules for (f, vaddr) if they have the simple forms. */
static void rule_fill(struct unwinder *uw, const struct ufile *f, uint64_t vaddr,
		      Dwarf_Frame *frame)
{
	struct cached_rule c = { .file_id = f->id, .vaddr = vaddr };
	Dwarf_Op *ops;
	size_t nops;
	bool signal;
	int ra_reg, base;

	ra_reg = dwarf_frame_info(frame, NULL, NULL, &signal);
	if (ra_reg < 0 || signal || dwarf_frame_cfa(frame, &ops, &nops) || nops != 1)
		return;
	base = ops[0].atom == DW_OP_bregx ? (int)ops[0].number : ops[0].atom - DW_OP_breg0;
	if ((ops[0].atom < DW_OP_breg0 || ops[0].atom > DW_OP_breg31) &&
	    ops[0].atom != DW_OP_bregx)
		return;
	if ((base != REG_SP && base != REG_FP) ||
	    (int64_t)(ops[0].atom == DW_OP_bregx ? ops[0].number2 : ops[0].number) < INT32_MIN ||
	    (int64_t)(ops[0].atom == DW_OP_bregx ? ops[0].number2 : ops[0].number) > INT32_MAX)
		return;
	c.cfa_fp = base == REG_FP;
	c.cfa_off = (int32_t)(int64_t)(ops[0].atom == DW_OP_bregx ? ops[0].number2
								   : ops[0].number);
	c.ra = simple_reg(frame, ra_reg, &c.ra_off);
	/* The return address unchanged: only where it is a register we track (arm64's lr). */
	if (c.ra == CR_NONE || (c.ra == CR_SAME && ra_reg != REG_LR))
		return;
	c.fp = simple_reg(frame, REG_FP, &c.fp_off);
	if (c.fp == CR_NONE)
		return;
	if (!uw->rules && !(uw->rules = calloc(RULE_CACHE, sizeof(*uw->rules))))
		return;
	uw->rules[(vaddr ^ (vaddr >> 13) ^ f->id * 0x9e3779b97f4a7c15ull) % RULE_CACHE] = c;
}

static const struct cached_rule *rule_get(const struct unwinder *uw, const struct ufile *f,
					  uint64_t vaddr)
{
	const struct cached_rule *c;

	if (!uw->rules)
		return NULL;
	c = &uw->rules[(vaddr ^ (vaddr >> 13) ^ f->id * 0x9e3779b97f4a7c15ull) % RULE_CACHE];
	return c->file_id == f->id && c->vaddr == vaddr ? c : NULL;
}

/* step_cfi() with cached rules. */
static enum unwind_end step_cached(struct state *s, const struct cached_rule *c)
{
	uint64_t ra, fp = s->fp;

	s->cfa = (c->cfa_fp ? s->fp : s->sp) + (int64_t)c->cfa_off;
	if (c->ra == CR_UNDEF)
		return UNWIND_END_OUTERMOST;
	s->ra_in_lr = c->ra == CR_SAME;
	if (c->ra == CR_SAME)
		ra = s->lr;
	else if (!mem_read(s, s->cfa + (int64_t)c->ra_off, &ra))
		return UNWIND_END_COPY;
	if (c->fp == CR_OFFSET && !mem_read(s, s->cfa + (int64_t)c->fp_off, &fp))
		fp = 0;
	s->pc = strip_ra(ra);
	s->lr = ra;
	s->fp = fp;
	s->sp = s->cfa;
	return s->pc ? STEP_OK : UNWIND_END_OUTERMOST;
}

/* A step out of a function that made no frame and keeps its return address in the link
 * register: the sampled pc only (once it calls, lr is no longer its return address). */
static enum unwind_end step_leaf(struct state *s)
{
	s->cfa = s->sp;
	s->ra_in_lr = true;
	s->pc = strip_ra(s->lr);
	return s->pc ? STEP_OK : UNWIND_END_OUTERMOST;
}

/* One step by the frame pointer, for code without call-frame information: on both
 * architectures it points at the saved frame pointer, with the return address above. */
static enum unwind_end step_fp(struct state *s)
{
	uint64_t fp, ra;

	if (s->fp < s->sp || (s->fp & 7))
		return UNWIND_END_NO_CFI;
	if (!mem_read(s, s->fp, &fp) || !mem_read(s, s->fp + 8, &ra))
		return UNWIND_END_COPY;
	s->ra_in_lr = false;
	s->sp = s->fp + 16;
	s->fp = fp;
	s->pc = strip_ra(ra);
	s->lr = s->pc;
	return s->pc ? STEP_OK : UNWIND_END_OUTERMOST;
}

int unwind_proc__unwind(struct unwind_proc *p, const struct unwind_regs *regs,
			const void *stack, size_t len, uint64_t *ips, int max,
			enum unwind_end *end)
{
	struct unwinder_stats *st = &p->uw->st;
	struct state s = { .pc = regs->ip, .sp = regs->sp, .fp = regs->fp, .lr = regs->lr,
			   .stack = stack, .stack_lo = regs->sp, .stack_hi = regs->sp + len };
	enum unwind_end e = UNWIND_END_DEPTH;
	bool exact = true;  /* the sampled pc, or the resumption point of a signal frame */
	int n = 0;

	st->unwinds++;
	if (s.stack_hi < s.stack_lo)
		s.stack_hi = s.stack_lo;
	while (n < max) {
		uint64_t look = exact ? s.pc : s.pc - CALLER_RA_ADJUST, prev_sp = s.sp;
		const struct umap *m;
		const struct cached_rule *cached;
		Dwarf_Frame *frame = NULL;
		bool signal = false;
		int r;

		ips[n++] = s.pc;
		m = lookup_map(p, look);
		if (!m) {
			e = UNWIND_END_NO_MAP;
			break;
		}
		cached = m->file ? rule_get(p->uw, m->file, look - m->bias) : NULL;
		if (!cached && m->file)
			frame = frame_at(p->uw, m->file, look - m->bias);
		if (cached) {
			r = step_cached(&s, cached);
			st->frames_cfi++;
		} else if (frame) {
			r = step_cfi(&s, frame, &signal);
			rule_fill(p->uw, m->file, look - m->bias, frame);
			free(frame);
			st->frames_cfi++;
		} else if (REG_LR >= 0 && n == 1 && m->file && in_plt(m->file, look - m->bias)) {
			/* The rule the stub's code implies, counted with the rules read. */
			r = step_leaf(&s);
			st->frames_cfi++;
		} else {
			r = step_fp(&s);
			st->frames_fp++;
		}
		if (r != STEP_OK) {
			e = r;
			break;
		}
		/* The stack grows down: a caller's frame is above its callee's (a signal frame
		 * may move anywhere: the handler may run on its own stack). The sampled function
		 * may have made no frame at all where calls leave the return address in a
		 * register (an arm64 leaf): the same stack pointer, once, for the first frame. */
		if (!signal && (s.sp < prev_sp || (s.sp == prev_sp && !(n == 1 && s.ra_in_lr)))) {
			e = UNWIND_END_BAD;
			break;
		}
		exact = signal;
	}
	st->ends[e]++;
	*end = e;
	return n;
}

int unwind__splice(uint64_t *ips, int n, int max, const uint64_t *fp, int nfp)
{
	int i;

	if (n < 2)
		return n;
	/* The walk's leaf is the sampled pc: a match from its second entry on is a return
	 * address. The first match: in a recursion, one that repeats a level rather than one
	 * that skips some. */
	for (i = 1; i < nfp; i++) {
		if (fp[i] == ips[n - 1])
			break;
	}
	if (i >= nfp)
		return n;
	for (i++; i < nfp && n < max; i++)
		ips[n++] = fp[i];
	return n;
}
