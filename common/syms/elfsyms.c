/* Function symbols of one ELF file, with separate debug files found by build-id or
 * .gnu_debuglink, and the PT_LOAD layout that turns file offsets into virtual addresses. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "elfsyms.h"
#include "syms.h"
#include "util.h"

#ifndef NT_GNU_BUILD_ID
#define NT_GNU_BUILD_ID 3
#endif

/* SHA-1 build-ids are 20 bytes; lld's --build-id=sha256 gives 32. */
#define BUILD_ID_MAX 64

struct elf_seg {
	uint64_t offset, vaddr, filesz, memsz;
};

struct elf_syms {
	struct symtab tab;
	struct elf_seg *segs;
	size_t nsegs;
	unsigned char build_id[BUILD_ID_MAX];
	size_t build_id_len;
	char *debug_file;
	enum elf_syms_source source;
};

/* What one pass over the section headers finds; pointers are into e's data. */
struct elf_scan {
	GElf_Ehdr ehdr;
	Elf_Scn *symtab, *dynsym;
	/* Lazy-binding stubs: .rela.plt (or .rel.plt) names the function of each slot. */
	Elf_Scn *plt_relocs, *plt, *plt_sec;
	const char *debuglink;
	uint32_t debuglink_crc;
	unsigned char build_id[BUILD_ID_MAX];
	size_t build_id_len;
};

static void note_build_id(Elf_Data *d, struct elf_scan *s)
{
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	while (off < d->d_size && (next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && nh.n_descsz > 0 &&
		    memcmp((const char *)d->d_buf + name_off, "GNU", 4) == 0) {
			s->build_id_len = nh.n_descsz < BUILD_ID_MAX ? nh.n_descsz : BUILD_ID_MAX;
			memcpy(s->build_id, (const char *)d->d_buf + desc_off, s->build_id_len);
			return;
		}
		off = next;
	}
}

int elf_debuglink__parse(const void *data, size_t size, bool big_endian, const char **name,
			 uint32_t *crc)
{
	const char *p = data;
	size_t len, crc_off;
	const unsigned char *c;

	if (!p || size < 6)
		return -EINVAL;
	len = strnlen(p, size);
	crc_off = (len + 4) & ~(size_t)3;  /* NUL, then padding to 4 */
	if (len == 0 || len > NAME_MAX || crc_off + 4 > size)
		return -EINVAL;
	/* The name is joined to directories: a path ("../../etc/x", "/x") or a dot name would
	 * lead elsewhere. gdb and binutils write a plain file name. */
	if (memchr(p, '/', len) || strcmp(p, ".") == 0 || strcmp(p, "..") == 0)
		return -EINVAL;
	c = (const unsigned char *)p + crc_off;
	/* The CRC is stored in the file's byte order. */
	if (big_endian)
		*crc = (uint32_t)c[0] << 24 | c[1] << 16 | c[2] << 8 | c[3];
	else
		*crc = (uint32_t)c[3] << 24 | c[2] << 16 | c[1] << 8 | c[0];
	*name = p;
	return 0;
}

static void read_debuglink(Elf_Data *d, struct elf_scan *s)
{
	if (elf_debuglink__parse(d->d_buf, d->d_size, s->ehdr.e_ident[EI_DATA] == ELFDATA2MSB,
				 &s->debuglink, &s->debuglink_crc))
		s->debuglink = NULL;
}

static int elf_scan(Elf *e, struct elf_scan *s)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx = 0, nph = 0, i;
	GElf_Shdr sh;

	memset(s, 0, sizeof(*s));
	if (elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &s->ehdr))
		return -ENOEXEC;
	if (elf_getshdrstrndx(e, &shstrndx))
		shstrndx = 0;
	while ((scn = elf_nextscn(e, scn))) {
		const char *name;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			continue;
		switch (sh.sh_type) {
		case SHT_SYMTAB:
			if (!s->symtab && sh.sh_size)
				s->symtab = scn;
			break;
		case SHT_DYNSYM:
			if (!s->dynsym && sh.sh_size)
				s->dynsym = scn;
			break;
		case SHT_NOTE:
			if (!s->build_id_len && (d = elf_getdata(scn, NULL)))
				note_build_id(d, s);
			break;
		case SHT_PROGBITS:
			name = shstrndx ? elf_strptr(e, shstrndx, sh.sh_name) : NULL;
			if (!name)
				break;
			if (strcmp(name, ".gnu_debuglink") == 0 && (d = elf_getdata(scn, NULL)))
				read_debuglink(d, s);
			else if (strcmp(name, ".plt") == 0)
				s->plt = scn;
			else if (strcmp(name, ".plt.sec") == 0)
				s->plt_sec = scn;
			break;
		case SHT_RELA:
		case SHT_REL:
			name = shstrndx ? elf_strptr(e, shstrndx, sh.sh_name) : NULL;
			if (name && (strcmp(name, ".rela.plt") == 0 || strcmp(name, ".rel.plt") == 0))
				s->plt_relocs = scn;
			break;
		}
	}
	/* A file without section headers (some vdsos, hand-made images) may still have notes. */
	if (!s->build_id_len && elf_getphdrnum(e, &nph) == 0) {
		for (i = 0; i < nph && !s->build_id_len; i++) {
			GElf_Phdr ph;
			Elf_Data *d;

			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_NOTE &&
			    (d = elf_getdata_rawchunk(e, ph.p_offset, ph.p_filesz, ELF_T_NHDR)))
				note_build_id(d, s);
		}
	}
	return 0;
}

static int read_segments(Elf *e, struct elf_syms *es)
{
	size_t nph, i;

	if (elf_getphdrnum(e, &nph) || nph == 0)
		return 0;
	es->segs = calloc(nph, sizeof(*es->segs));
	if (!es->segs)
		return -ENOMEM;
	for (i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		es->segs[es->nsegs].offset = ph.p_offset;
		es->segs[es->nsegs].vaddr = ph.p_vaddr;
		es->segs[es->nsegs].filesz = ph.p_filesz;
		es->segs[es->nsegs].memsz = ph.p_memsz;
		es->nsegs++;
	}
	return 0;
}

/* Higher is preferred among aliases, in perf's order (so both name a sample alike): sized,
 * then global, weak, local, then fewer leading '_' (clock_nanosleep over
 * __GI___clock_nanosleep is what a reader recognises), then the default symbol version
 * ("name@@V") over an old one ("name@V"), then the longer name (__memmove_avx_unaligned_erms
 * over its alias __memcpy_avx_unaligned_erms, as perf report shows it). */
static uint32_t sym_rank(const GElf_Sym *sym, const char *name, size_t len, bool old_version)
{
	uint32_t r = sym->st_size ? 1u << 31 : 0;
	size_t underscores = strspn(name, "_");

	switch (GELF_ST_BIND(sym->st_info)) {
	case STB_GLOBAL:
		r |= 2u << 29;
		break;
	case STB_WEAK:
		r |= 1u << 29;
		break;
	}
	r |= (uint32_t)(31 - (underscores < 31 ? underscores : 31)) << 24;
	r |= (uint32_t)!old_version << 23;
	return r | (uint32_t)(len < 0x7fffff ? len : 0x7fffff);
}

static int add_symbols(Elf *e, const struct elf_scan *s, Elf_Scn *scn, struct symtab_builder *b)
{
	uint64_t *sec_end = NULL;
	size_t shnum = 0, n, i, strsz;
	Elf_Data *d, *sd;
	Elf_Scn *strscn;
	const char *strs;
	GElf_Shdr sh;
	int err = 0;

	if (!gelf_getshdr(scn, &sh) || sh.sh_entsize == 0)
		return 0;
	d = elf_getdata(scn, NULL);
	strscn = elf_getscn(e, sh.sh_link);
	sd = strscn ? elf_getdata(strscn, NULL) : NULL;
	if (!d || !sd || !sd->d_buf)
		return 0;
	strs = sd->d_buf;
	strsz = sd->d_size;
	n = sh.sh_size / sh.sh_entsize;
	for (i = 1; i < n; i++) {
		uint64_t value, end_hint = 0;
		const char *name, *at;
		bool old_version;
		size_t nlen;
		GElf_Sym sym;
		int type;

		if (!gelf_getsym(d, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
		    sym.st_value == 0 || sym.st_name >= strsz)
			continue;
		name = strs + sym.st_name;
		nlen = strnlen(name, strsz - sym.st_name);
		if (nlen == 0 || nlen == strsz - sym.st_name)
			continue;
		/* GNU ld writes versioned definitions into .symtab as "name@@V" or "name@V":
		 * the version is noise in a stack. */
		at = memchr(name + 1, '@', nlen - 1);
		old_version = at && at[1] != '@';
		if (at)
			nlen = at - name;
		value = sym.st_value;
		/* The low bit of an ARM function address selects Thumb mode; it is not code. */
		if (s->ehdr.e_machine == EM_ARM)
			value &= ~(uint64_t)1;
		if (sym.st_size == 0 && sym.st_shndx < SHN_LORESERVE) {
			/* Only unsized symbols need their section's end: compute the table once. */
			if (!sec_end && elf_getshdrnum(e, &shnum) == 0 && shnum) {
				size_t k;

				sec_end = calloc(shnum, sizeof(*sec_end));
				if (!sec_end) {
					err = -ENOMEM;
					break;
				}
				for (k = 0; k < shnum; k++) {
					Elf_Scn *x = elf_getscn(e, k);
					GElf_Shdr xs;

					if (x && gelf_getshdr(x, &xs))
						sec_end[k] = xs.sh_addr + xs.sh_size;
				}
			}
			if (sec_end && sym.st_shndx < shnum)
				end_hint = sec_end[sym.st_shndx];
		}
		err = symtab_builder__add(b, name, nlen, value, sym.st_size, end_hint,
					  sym_rank(&sym, name, nlen, old_version));
		if (err)
			break;
	}
	free(sec_end);
	return err;
}

/* Where the stub of PLT slot 0 starts and how far apart the stubs are, from the psABI
 * layouts: x86 has a 16-byte header stub before the slots, or with IBT (-z ibt, .plt.sec)
 * one 16-byte stub per slot in .plt.sec; AArch64 a 32-byte header. 0: unknown layout. */
static uint64_t plt_first_stub(const struct elf_scan *s, uint64_t *stride)
{
	GElf_Shdr sh;

	*stride = 16;
	switch (s->ehdr.e_machine) {
	case EM_X86_64:
	case EM_386:
		if (s->plt_sec && gelf_getshdr(s->plt_sec, &sh))
			return sh.sh_addr;
		return s->plt && gelf_getshdr(s->plt, &sh) ? sh.sh_addr + 16 : 0;
	case EM_AARCH64:
		return s->plt && gelf_getshdr(s->plt, &sh) ? sh.sh_addr + 32 : 0;
	}
	return 0;
}

/* A sample in a lazy-binding stub is a real frame with no symbol of its own; like perf,
 * name it after its target ("fixture_tick@plt"). The names are built in *names (freed by
 * the caller after symtab_builder__finish, which copies them). */
static int add_plt_symbols(Elf *e, const struct elf_scan *s, struct symtab_builder *b,
			   char **names)
{
	uint64_t first, stride;
	size_t n, i, strsz, cap = 0, used = 0;
	Elf_Data *d, *symd, *strd;
	Elf_Scn *symscn, *strscn;
	GElf_Shdr sh, symsh;
	char *buf = NULL;
	struct {
		size_t off, len;
		uint64_t addr;
	} *slots = NULL;
	size_t nslots = 0;
	int err = 0;

	*names = NULL;
	if (!s->plt_relocs || !gelf_getshdr(s->plt_relocs, &sh) || sh.sh_entsize == 0)
		return 0;
	first = plt_first_stub(s, &stride);
	symscn = elf_getscn(e, sh.sh_link);
	if (!first || !symscn || !gelf_getshdr(symscn, &symsh))
		return 0;
	strscn = elf_getscn(e, symsh.sh_link);
	d = elf_getdata(s->plt_relocs, NULL);
	symd = elf_getdata(symscn, NULL);
	strd = strscn ? elf_getdata(strscn, NULL) : NULL;
	if (!d || !symd || !strd || !strd->d_buf)
		return 0;
	strsz = strd->d_size;
	n = sh.sh_size / sh.sh_entsize;
	slots = calloc(n ? n : 1, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const char *name;
		size_t symi, len;
		GElf_Sym sym;

		if (sh.sh_type == SHT_RELA) {
			GElf_Rela r;

			if (!gelf_getrela(d, (int)i, &r))
				break;
			symi = GELF_R_SYM(r.r_info);
		} else {
			GElf_Rel r;

			if (!gelf_getrel(d, (int)i, &r))
				break;
			symi = GELF_R_SYM(r.r_info);
		}
		/* IRELATIVE slots have no symbol: their stub stays unnamed. */
		if (symi == 0 || !gelf_getsym(symd, (int)symi, &sym) || sym.st_name >= strsz)
			continue;
		name = (const char *)strd->d_buf + sym.st_name;
		len = strnlen(name, strsz - sym.st_name);
		if (len == 0 || len == strsz - sym.st_name)
			continue;
		if (used + len + sizeof(SYMS_PLT_SUFFIX) > cap) {
			size_t ncap = (cap ? cap * 2 : 1024) + len + sizeof(SYMS_PLT_SUFFIX);
			char *nbuf = realloc(buf, ncap);

			if (!nbuf) {
				err = -ENOMEM;
				goto out;
			}
			buf = nbuf;
			cap = ncap;
		}
		memcpy(buf + used, name, len);
		memcpy(buf + used + len, SYMS_PLT_SUFFIX, sizeof(SYMS_PLT_SUFFIX));
		slots[nslots].off = used;
		slots[nslots].len = len + sizeof(SYMS_PLT_SUFFIX) - 1;
		slots[nslots].addr = first + i * stride;
		nslots++;
		used += len + sizeof(SYMS_PLT_SUFFIX);
	}
	/* Added once buf stops moving; rank 0: a real symbol at the same address wins. */
	for (i = 0; i < nslots && !err; i++)
		err = symtab_builder__add(b, buf + slots[i].off, slots[i].len, slots[i].addr,
					  stride, 0, 0);
out:
	free(slots);
	if (err) {
		free(buf);
		return err;
	}
	*names = buf;
	return 0;
}

/* Read, not mapped: the file may be truncated while we read it. */
static int file_crc32(int fd, uint32_t *crc)
{
	uLong c = crc32(0L, Z_NULL, 0);
	unsigned char *buf;
	off_t off = 0;
	ssize_t n;

	buf = malloc(1u << 16);
	if (!buf)
		return -ENOMEM;
	while ((n = pread(fd, buf, 1u << 16, off)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		c = crc32(c, buf, (uInt)n);
		off += n;
	}
	free(buf);
	*crc = (uint32_t)c;
	return 0;
}

/* An open candidate debug file; valid when it has a .symtab and matches what the binary
 * asks for (its build-id, or its debuglink CRC). */
struct debug_file {
	int fd;
	Elf *e;
	struct elf_scan scan;
};

static void debug_file_close(struct debug_file *df)
{
	if (df->e)
		elf_end(df->e);
	if (df->fd >= 0)
		close(df->fd);
	df->e = NULL;
	df->fd = -1;
}

/* Takes fd: valid when the file is an ELF file with a .symtab and, unless want is NULL (a
 * CRC already matched), the build-id want asks for. */
static bool debug_file_take(struct debug_file *df, int fd, const struct elf_scan *want)
{
	df->fd = fd;
	/* ELF_C_READ reads with pread(): a file truncated meanwhile gives a read error, where a
	 * mapping would give SIGBUS. */
	df->e = elf_begin(df->fd, ELF_C_READ, NULL);
	if (!df->e || elf_scan(df->e, &df->scan) || !df->scan.symtab)
		goto bad;
	if (want && (df->scan.build_id_len != want->build_id_len ||
		     memcmp(df->scan.build_id, want->build_id, want->build_id_len) != 0))
		goto bad;
	return true;
bad:
	debug_file_close(df);
	return false;
}

struct debuglink_ctx {
	struct debug_file *df;
};

static bool debuglink_accept(int fd, void *ctx)
{
	struct debuglink_ctx *c = ctx;

	return debug_file_take(c->df, fd, NULL);
}

int elf_debuglink__open(const char *name, uint32_t crc, const char *path, const char *root,
			const char *debug_dir, bool (*accept)(int fd, void *ctx), void *ctx,
			char **found)
{
	char buf[PATH_MAX], dir[PATH_MAX];
	struct {
		const char *top, *sub;
		unsigned int flags;
	} where[3] = {
		/* The binary's directory may be anyone's (/tmp): a link there is not followed. */
		{ root ? root : "", "/", SYMS_OPEN_NOFOLLOW },
		{ root ? root : "", "/.debug/", SYMS_OPEN_NOFOLLOW },
		{ debug_dir, "/", 0 },
	};
	const char *slash;
	uint32_t got = 0;
	size_t i;
	int n, fd;

	*found = NULL;
	if (!path || !(slash = strrchr(path, '/')))
		return -ENOENT;
	n = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		if (!where[i].top)
			continue;
		n = snprintf(buf, sizeof(buf), "%s%s%s%s", where[i].top, dir, where[i].sub, name);
		if (n < 0 || (size_t)n >= sizeof(buf))
			continue;
		fd = syms_open_file(buf, where[i].flags, SYMS_MAX_ELF_SIZE, NULL);
		if (fd < 0)
			continue;
		if (file_crc32(fd, &got) || got != crc) {
			close(fd);
			continue;
		}
		if (accept && !accept(fd, ctx))
			continue;  /* accept took fd */
		*found = strdup(buf);
		if (!*found) {
			if (!accept)
				close(fd);
			return -ENOMEM;
		}
		return fd;
	}
	return -ENOENT;
}

bool elf_plt_range(Elf *e, uint64_t *lo, uint64_t *hi)
{
	struct elf_scan s;
	GElf_Shdr sh;

	if (elf_scan(e, &s) || !s.plt || !gelf_getshdr(s.plt, &sh))
		return false;
	*lo = sh.sh_addr;
	*hi = sh.sh_addr + sh.sh_size;
	return true;
}

/* debug_dir/.build-id/xx/yyyy.debug for the file's build-id; false if it has none. */
static bool build_id_path(char *buf, size_t size, const char *debug_dir,
			  const struct elf_scan *s)
{
	size_t i;
	int n;

	if (s->build_id_len < 2)
		return false;
	n = snprintf(buf, size, "%s/.build-id/%02x/", debug_dir, s->build_id[0]);
	for (i = 1; i < s->build_id_len && n > 0 && (size_t)n + 3 < size; i++)
		n += snprintf(buf + n, size - n, "%02x", s->build_id[i]);
	if (n <= 0 || (size_t)n + sizeof(".debug") > size)
		return false;
	memcpy(buf + n, ".debug", sizeof(".debug"));
	return true;
}

/* Under the debug root, which is root's: its links (Fedora's layout) are followed. */
static int open_build_id_file(const char *debug_dir, const struct elf_scan *s, char *buf,
			      size_t size)
{
	if (!build_id_path(buf, size, debug_dir, s))
		return -ENOENT;
	return syms_open_file(buf, 0, SYMS_MAX_ELF_SIZE, NULL);
}

int elf_debug_file__open_by_build_id(Elf *e, const char *debug_dir)
{
	struct elf_scan s, ds;
	char buf[PATH_MAX];
	bool same;
	Elf *de;
	int fd;

	if (!debug_dir)
		debug_dir = SYMS_DEFAULT_DEBUG_DIR;
	if (!debug_dir[0] || elf_scan(e, &s))
		return -ENOENT;
	fd = open_build_id_file(debug_dir, &s, buf, sizeof(buf));
	if (fd < 0)
		return fd;
	de = elf_begin(fd, ELF_C_READ, NULL);
	same = de && !elf_scan(de, &ds) && ds.build_id_len == s.build_id_len &&
	       memcmp(ds.build_id, s.build_id, s.build_id_len) == 0;
	elf_end(de);
	if (!same) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* Looks for the debug file the way gdb does: by build-id under the debug root, then by
 * debuglink name next to the binary, in its .debug/, and under the debug root. */
static char *find_debug_file(const struct elf_scan *s, const char *debug_dir, const char *path,
			     const char *root, struct debug_file *df)
{
	struct debuglink_ctx ctx = { df };
	char buf[PATH_MAX], *found = NULL;
	int fd;

	fd = open_build_id_file(debug_dir, s, buf, sizeof(buf));
	if (fd >= 0 && debug_file_take(df, fd, s))
		return strdup(buf);
	if (!s->debuglink)
		return NULL;
	elf_debuglink__open(s->debuglink, s->debuglink_crc, path, root, debug_dir,
			    debuglink_accept, &ctx, &found);
	return found;
}

static struct elf_syms *load(Elf *e, const char *debug_dir, const char *path, const char *root)
{
	/* The builder points at names in these files' data: both stay open until finish. */
	struct debug_file df = {.fd = -1};
	struct symtab_builder b = {0};
	char *plt_names = NULL;
	struct elf_syms *es;
	struct elf_scan s;
	int err;

	es = calloc(1, sizeof(*es));
	if (!es)
		return NULL;
	err = elf_scan(e, &s);
	if (!err)
		err = read_segments(e, es);
	if (err)
		goto fail;
	memcpy(es->build_id, s.build_id, s.build_id_len);
	es->build_id_len = s.build_id_len;
	if (s.symtab) {
		err = add_symbols(e, &s, s.symtab, &b);
		if (err)
			goto fail;
		if (b.nr)
			es->source = ELF_SYMS_SYMTAB;
	}
	if (!b.nr && debug_dir && debug_dir[0]) {
		es->debug_file = find_debug_file(&s, debug_dir, path, root, &df);
		if (df.e) {
			err = add_symbols(df.e, &df.scan, df.scan.symtab, &b);
			if (err)
				goto fail;
		}
		if (b.nr) {
			es->source = ELF_SYMS_DEBUG;
		} else {
			free(es->debug_file);
			es->debug_file = NULL;
		}
	}
	if (!b.nr && s.dynsym) {
		err = add_symbols(e, &s, s.dynsym, &b);
		if (err)
			goto fail;
		if (b.nr)
			es->source = ELF_SYMS_DYNSYM;
	}
	err = add_plt_symbols(e, &s, &b, &plt_names);
	if (err)
		goto fail;
	err = symtab_builder__finish(&b, &es->tab);
	if (err)
		goto fail;
	free(plt_names);
	debug_file_close(&df);
	return es;
fail:
	symtab_builder__free(&b);
	free(plt_names);
	debug_file_close(&df);
	elf_syms__free(es);
	errno = -err;
	return NULL;
}

static bool elf_ready(void)
{
	/* Idempotent and cheap; doing it here spares every caller a setup call. */
	return elf_version(EV_CURRENT) != EV_NONE;
}

struct elf_syms *elf_syms__open_fd(int fd, const struct elf_syms_opts *opts)
{
	const char *debug_dir = SYMS_OPT(opts, debug_dir, NULL);
	struct elf_syms *es;
	int err;
	Elf *e;

	if (!elf_ready()) {
		errno = EINVAL;
		return NULL;
	}
	err = syms_check_fd(fd, SYMS_MAX_ELF_SIZE, NULL);
	if (err) {
		errno = -err;
		return NULL;
	}
	/* Read, not mapped: see debug_file_take. */
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e) {
		errno = ENOEXEC;
		return NULL;
	}
	es = load(e, debug_dir ? debug_dir : SYMS_DEFAULT_DEBUG_DIR, SYMS_OPT(opts, path, NULL),
		  SYMS_OPT(opts, root, NULL));
	err = errno;
	elf_end(e);
	errno = err;
	return es;
}

struct elf_syms *elf_syms__open(const char *path, const struct elf_syms_opts *opts)
{
	struct elf_syms_opts o = {.sz = sizeof(o)};
	struct elf_syms *es;
	int fd, err;

	fd = syms_open_file(path, 0, SYMS_MAX_ELF_SIZE, NULL);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	o.debug_dir = SYMS_OPT(opts, debug_dir, NULL);
	o.root = SYMS_OPT(opts, root, NULL);
	o.path = SYMS_OPT(opts, path, NULL);
	if (!o.path)
		o.path = path;
	es = elf_syms__open_fd(fd, &o);
	err = errno;
	close(fd);
	errno = err;
	return es;
}

struct elf_syms *elf_syms__open_mem(const void *image, size_t size)
{
	struct elf_syms *es;
	char *copy;
	int err;
	Elf *e;

	if (!elf_ready()) {
		errno = EINVAL;
		return NULL;
	}
	/* elf_memory() takes a writable image; the caller's may be read-only (the vdso). */
	copy = malloc(size);
	if (!copy)
		return NULL;
	memcpy(copy, image, size);
	e = elf_memory(copy, size);
	if (!e) {
		free(copy);
		errno = ENOEXEC;
		return NULL;
	}
	es = load(e, "", NULL, NULL);
	err = errno;
	elf_end(e);
	free(copy);
	errno = err;
	return es;
}

void elf_syms__free(struct elf_syms *es)
{
	if (!es)
		return;
	symtab__free(&es->tab);
	free(es->segs);
	free(es->debug_file);
	free(es);
}

int elf_syms__offset_to_vaddr(const struct elf_syms *es, uint64_t off, uint64_t *vaddr)
{
	size_t i;

	for (i = 0; i < es->nsegs; i++) {
		const struct elf_seg *g = &es->segs[i];

		if (off >= g->offset && off - g->offset < g->filesz) {
			*vaddr = off - g->offset + g->vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

const struct sym *elf_syms__map_vaddr(const struct elf_syms *es, uint64_t vaddr, uint64_t *offset)
{
	const struct sym *s = symtab__lookup(&es->tab, vaddr);

	if (s && offset)
		*offset = vaddr - s->addr;
	return s;
}

const struct sym *elf_syms__find(const struct elf_syms *es, const char *name)
{
	return symtab__find_name(&es->tab, name);
}

enum elf_syms_source elf_syms__source(const struct elf_syms *es)
{
	return es->source;
}

const char *elf_syms__debug_file(const struct elf_syms *es)
{
	return es->debug_file;
}

size_t elf_syms__build_id(const struct elf_syms *es, const unsigned char **id)
{
	*id = es->build_id;
	return es->build_id_len;
}
