#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "htab.h"
#include "identity.h"
#include "json.h"
#include "stackfmt.h"

static void put_text(FILE *f, const char *s)
{
	fput_escaped(f, s, strlen(s), 0);
}

/* A folded line is "frame;frame;... count": a ';' inside a name (a JIT's Java signature,
 * a comm) would split it, so it becomes "\x3b" (a backslash in a name is "\\"). */
static void put_folded(FILE *f, const char *s, size_t len)
{
	const char *semi;

	while ((semi = memchr(s, ';', len))) {
		fput_escaped(f, s, semi - s, 0);
		fputs("\\x3b", f);
		len -= semi - s + 1;
		s = semi + 1;
	}
	fput_escaped(f, s, len, 0);
}

static bool both_stacks(const struct stack_key *k)
{
	return k->kstate == STACK_FRAMES && k->ustate == STACK_FRAMES && k->ks && k->us && k->ks->n &&
	       k->us->n;
}

/* BCC's layout: kernel frames, user frames (each leaf first), "-  comm (pid)", count. */
void stackfmt__text(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *rec)
{
	const struct stack_key *k = rec->k;
	size_t i;

	if (!o->user_only) {
		if (k->kstate == STACK_MISSED) {
			fputs("    [Missed Kernel Stack]\n", f);
		} else if (k->kstate == STACK_FRAMES) {
			for (i = 0; i < k->ks->n; i++) {
				fputs("    ", f);
				put_text(f, k->ks->f[i]->name);
				fputs(o->annotations ? "_[k]\n" : "\n", f);
			}
		}
	}
	if (!o->kernel_only) {
		if (o->delimited && both_stacks(k))
			fputs("    --\n", f);
		if (k->ustate == STACK_MISSED) {
			fputs("    [Missed User Stack]\n", f);
		} else if (k->ustate == STACK_FRAMES) {
			for (i = 0; i < k->us->n; i++) {
				fputs("    ", f);
				put_text(f, k->us->f[i]->name);
				fputc('\n', f);
			}
		}
	}
	fprintf(f, "    %-16s ", "-");
	put_text(f, k->comm);
	fprintf(f, " (%u)", k->pid);
	if (o->containers && k->idr && k->idr->label) {
		fputs(" container=", f);
		put_text(f, k->idr->label);
		if (k->idr->id.ns_pid && k->idr->id.ns_pid != k->pid)
			fprintf(f, " ns_pid=%u", k->idr->id.ns_pid);
	}
	fprintf(f, "\n        %llu\n\n", (unsigned long long)rec->count);
}

/* comm;user frames;kernel frames count, root first, as flamegraph.pl reads it. */
void stackfmt__folded(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *rec)
{
	const struct stack_key *k = rec->k;
	size_t i;

	if (o->containers && k->idr) {
		const char *root = k->idr->label ? k->idr->label : "[host]";

		put_folded(f, root, strlen(root));
		fputc(';', f);
	}
	put_folded(f, k->comm, strlen(k->comm));
	if (!o->kernel_only) {
		if (k->ustate == STACK_MISSED) {
			fputs(";[Missed User Stack]", f);
		} else if (k->ustate == STACK_FRAMES) {
			for (i = k->us->n; i-- > 0;) {
				fputc(';', f);
				put_folded(f, k->us->f[i]->name, strlen(k->us->f[i]->name));
			}
		}
	}
	if (!o->user_only) {
		if (o->delimited && both_stacks(k))
			fputs(";-", f);
		if (k->kstate == STACK_MISSED) {
			fputs(";[Missed Kernel Stack]", f);
		} else if (k->kstate == STACK_FRAMES) {
			for (i = k->ks->n; i-- > 0;) {
				fputc(';', f);
				put_folded(f, k->ks->f[i]->name, strlen(k->ks->f[i]->name));
				if (o->annotations)
					fputs("_[k]", f);
			}
		}
	}
	fprintf(f, " %llu\n", (unsigned long long)rec->count);
}

struct folded_line {
	char *text;  /* the line without its count */
	size_t len;
	uint64_t count;
	size_t first;  /* order of first sight: ties keep the records' order */
};

static int folded_cmp(const void *a, const void *b)
{
	const struct folded_line *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

int stackfmt__folded_all(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *recs,
			 size_t n)
{
	struct folded_line *lines = calloc(n ? n : 1, sizeof(*lines));
	struct htab seen = { 0 };
	size_t i, nlines = 0;
	int err = 0;

	if (!lines)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		struct stack_rec one = { .k = recs[i].k, .count = 0 };
		struct htab_ent *e;
		char *text = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&text, &len);

		if (!m) {
			err = -ENOMEM;
			break;
		}
		stackfmt__folded(m, o, &one);
		if (fclose(m) != 0 || len < 3) {
			free(text);
			err = -ENOMEM;
			break;
		}
		len -= 3; /* " 0\n" */
		e = htab__get(&seen, text, len, true);
		if (!e) {
			free(text);
			err = -ENOMEM;
			break;
		}
		if (e->val.u64) {
			lines[e->val.u64 - 1].count += recs[i].count;
			free(text);
			continue;
		}
		lines[nlines] = (struct folded_line){ text, len, recs[i].count, nlines };
		e->val.u64 = ++nlines;
	}
	htab__free(&seen);
	qsort(lines, nlines, sizeof(*lines), folded_cmp);
	for (i = 0; i < nlines; i++) {
		if (!err) {
			fwrite(lines[i].text, 1, lines[i].len, f);
			fprintf(f, " %llu\n", (unsigned long long)lines[i].count);
		}
		free(lines[i].text);
	}
	free(lines);
	if (!err && ferror(f))
		err = -EIO;
	return err;
}

static void json_stack(struct json_writer *w, const char *name, uint32_t state,
		       const struct stack *st)
{
	size_t i;
	char key[32];

	json_key(w, name);
	json_arr_begin(w);
	for (i = 0; state == STACK_FRAMES && st && i < st->n; i++)
		json_str(w, st->f[i]->name);
	json_arr_end(w);
	snprintf(key, sizeof(key), "%s_missed", name);
	json_key(w, key);
	json_bool(w, state == STACK_MISSED);
}

void stackfmt__json(FILE *f, const struct stackfmt_opts *o, const struct stack_rec *rec)
{
	const struct stack_key *k = rec->k;
	struct json_writer w;

	json_writer__init(&w, f);
	json_obj_begin(&w);
	json_key(&w, "pid");
	json_u64(&w, k->pid);
	json_key(&w, "comm");
	json_str(&w, k->comm);
	json_key(&w, "count");
	json_u64(&w, rec->count);
	if (!o->user_only)
		json_stack(&w, "kernel_stack", k->kstate, k->ks);
	if (!o->kernel_only)
		json_stack(&w, "user_stack", k->ustate, k->us);
	if (k->idr)
		identity__json(&w, k->idr);
	json_obj_end(&w);
	json_writer__endl(&w);
}

int stackfmt__create(const char *path)
{
	struct stat st;
	int fd;

	/* A path in a directory others can write (/tmp) may hold a planted link or FIFO. */
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || ftruncate(fd, 0)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}
