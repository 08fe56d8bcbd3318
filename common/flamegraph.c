/* An interactive flame graph as one self-contained SVG file, since Debian packages no flame
 * graph tool: the stacks merged into a tree (root: all samples, then the container with
 * --containers, the command, the user frames outermost first, the kernel frames), each
 * frame a box as wide as its share of the samples, children sorted by name (as flamegraph.pl does), kernel and user frames in
 * different colours. Its script shows a frame and its share on hover, zooms into a frame
 * on click (the bottom frame resets), and highlights the frames a search matches with the
 * share they cover. Boxes narrower than a tenth of a pixel are left out (their samples stay
 * in their parent's width). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"
#include "htab.h"
#include "identity.h"
#include "stackfmt.h"

#define FG_WIDTH 1200
#define FG_PAD 10
#define FG_FRAME_H 16
#define FG_TOP 60     /* title, details and buttons */
#define FG_BOTTOM 30
#define FG_MIN_PX 0.1

enum node_kind { NODE_ROOT, NODE_COMM, NODE_USER, NODE_KERNEL };

struct node {
	const char *name;  /* owned */
	uint32_t kind;
	uint64_t count;
	struct node *child, *next;
	size_t nchild;
};

struct tree {
	struct node root;
	struct htab idx;  /* (parent, kind, name) -> child */
	int depth;
	int err;
};

static struct node *child(struct tree *t, struct node *p, uint32_t kind, const char *name,
			  bool annotate)
{
	char key[4096 + 32];
	size_t len;
	struct htab_ent *e;
	struct node *n;
	int w;

	memcpy(key, &p, sizeof(p));
	memcpy(key + sizeof(p), &kind, sizeof(kind));
	w = snprintf(key + sizeof(p) + sizeof(kind), sizeof(key) - sizeof(p) - sizeof(kind),
		     "%s%s", name, annotate && kind == NODE_KERNEL ? "_[k]" : "");
	if (w < 0)
		w = 0;
	len = sizeof(p) + sizeof(kind) + strnlen(key + sizeof(p) + sizeof(kind),
						  sizeof(key) - sizeof(p) - sizeof(kind));
	e = htab__get(&t->idx, key, len, true);
	if (!e) {
		t->err = -ENOMEM;
		return NULL;
	}
	if (e->val.ptr)
		return e->val.ptr;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(key + sizeof(p) + sizeof(kind)))) {
		free(n);
		t->err = -ENOMEM;
		return NULL;
	}
	n->kind = kind;
	n->next = p->child;
	p->child = n;
	p->nchild++;
	e->val.ptr = n;
	return n;
}

static void add(struct tree *t, const struct stackfmt_opts *o, const struct stack_rec *rec)
{
	const struct stack_key *k = rec->k;
	struct node *n = &t->root;
	int depth = 1;
	size_t i;

	t->root.count += rec->count;
	/* The container: a frame of its own below the command's, coloured as a command. */
	if (o->containers && k->idr) {
		n = child(t, n, NODE_COMM, k->idr->label ? k->idr->label : "[host]", false);
		if (n) {
			n->count += rec->count;
			depth++;
		}
	}
	if (n)
		n = child(t, n, NODE_COMM, k->comm, false);
#define STEP(kind, name)                                              \
	do {                                                          \
		if (n && (n = child(t, n, kind, name, o->annotations))) { \
			n->count += rec->count;                       \
			depth++;                                      \
		}                                                     \
	} while (0)
	if (n)
		n->count += rec->count;
	if (!o->kernel_only) {
		if (k->ustate == STACK_MISSED)
			STEP(NODE_USER, "[Missed User Stack]");
		else if (k->ustate == STACK_FRAMES && k->us)
			for (i = k->us->n; i-- > 0;)
				STEP(NODE_USER, k->us->f[i]->name);
	}
	if (!o->user_only) {
		if (k->kstate == STACK_MISSED)
			STEP(NODE_KERNEL, "[Missed Kernel Stack]");
		else if (k->kstate == STACK_FRAMES && k->ks)
			for (i = k->ks->n; i-- > 0;)
				STEP(NODE_KERNEL, k->ks->f[i]->name);
	}
#undef STEP
	if (depth + 1 > t->depth)
		t->depth = depth + 1;
}

static int cmp_name(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;

	return strcmp(x->name, y->name);
}

/* Escaped for a terminal first (control bytes, bad UTF-8), then for XML. */
static void put_xml(FILE *f, const char *s)
{
	char buf[4096 * 4 + 1];
	const char *p;

	escape_text(buf, sizeof(buf), s, strlen(s), 0);
	for (p = buf; *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*p, f);
		}
	}
}

/* A colour from the name, so a function keeps its colour across graphs: warm (red to
 * yellow) for user frames, cool (blue to cyan) for kernel frames, grey for the rest. */
static void colour(const struct node *n, int *r, int *g, int *b)
{
	uint32_t h = 2166136261u;
	const char *p;
	double v1, v2;

	for (p = n->name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	v1 = (h & 0xffff) / 65535.0;
	v2 = (h >> 16) / 65535.0;
	switch (n->kind) {
	case NODE_USER:
		*r = 205 + (int)(50 * v2), *g = (int)(230 * v1), *b = (int)(55 * v2);
		break;
	case NODE_KERNEL:
		*r = (int)(80 * v1), *g = 120 + (int)(110 * v2), *b = 200 + (int)(55 * v1);
		break;
	default:
		*r = *g = *b = 200 + (int)(30 * v1);
	}
}

static int emit(FILE *f, struct node *n, uint64_t x, int depth, uint64_t total, int height)
{
	static const char *const kinds[] = { "r", "c", "u", "k" };
	double px = FG_PAD + (double)x / total * (FG_WIDTH - 2 * FG_PAD);
	double pw = (double)n->count / total * (FG_WIDTH - 2 * FG_PAD);
	struct node **kids, *c;
	size_t i = 0;
	int r, g, b, err = 0;

	if (pw < FG_MIN_PX)
		return 0;
	colour(n, &r, &g, &b);
	fprintf(f, "<g class=\"f %s\" data-x=\"%llu\" data-w=\"%llu\" data-d=\"%d\" data-n=\"",
		kinds[n->kind], (unsigned long long)x, (unsigned long long)n->count, depth);
	put_xml(f, n->name);
	fputs("\"><title>", f);
	put_xml(f, n->name);
	fprintf(f, " (%llu samples, %.2f%%)</title><rect x=\"%.2f\" y=\"%d\" width=\"%.3f\" "
		"height=\"%d\" fill=\"rgb(%d,%d,%d)\" rx=\"2\"/><text x=\"%.2f\" y=\"%d\"></text></g>\n",
		(unsigned long long)n->count, 100.0 * n->count / total, px,
		height - FG_BOTTOM - (depth + 1) * FG_FRAME_H, pw, FG_FRAME_H - 1, r, g, b, px + 3,
		height - FG_BOTTOM - depth * FG_FRAME_H - 4);
	if (!n->nchild)
		return 0;
	kids = malloc(n->nchild * sizeof(*kids));
	if (!kids)
		return -ENOMEM;
	for (c = n->child; c; c = c->next)
		kids[i++] = c;
	qsort(kids, n->nchild, sizeof(*kids), cmp_name);
	for (i = 0; i < n->nchild && !err; i++) {
		err = emit(f, kids[i], x, depth + 1, total, height);
		x += kids[i]->count;
	}
	free(kids);
	return err;
}

static void free_nodes(struct node *n)
{
	struct node *c, *next;

	for (c = n->child; c; c = next) {
		next = c->next;
		free_nodes(c);
		free((char *)c->name);
		free(c);
	}
}

static const char script[] =
	"<script type=\"text/ecmascript\"><![CDATA[\n"
	"(function () {\n"
	"var svg = document.getElementById('flamegraph');\n"
	"var W = +svg.getAttribute('data-width'), PAD = +svg.getAttribute('data-pad');\n"
	"var total = +svg.getAttribute('data-total');\n"
	"var frames = Array.prototype.slice.call(svg.querySelectorAll('g.f'));\n"
	"var details = svg.querySelector('#details'), matched = svg.querySelector('#matched');\n"
	"var shown = [0, total], term = null;\n"
	"function pct(n) { return (100 * n / total).toFixed(2) + '%'; }\n"
	"function fit(g) {\n"
	"  var r = g.querySelector('rect'), t = g.querySelector('text'), name = g.getAttribute('data-n');\n"
	"  var max = Math.floor((+r.getAttribute('width') - 6) / 7);\n"
	"  t.textContent = max < 3 ? '' : name.length <= max ? name : name.slice(0, max - 2) + '..';\n"
	"}\n"
	"function layout(x0, w0) {\n"
	"  shown = [x0, w0];\n"
	"  frames.forEach(function (g) {\n"
	"    var x = +g.getAttribute('data-x'), w = +g.getAttribute('data-w');\n"
	"    var r = g.querySelector('rect'), t = g.querySelector('text');\n"
	"    if (x + w <= x0 || x >= x0 + w0) { g.style.display = 'none'; return; }\n"
	"    var a = Math.max(x, x0), b = Math.min(x + w, x0 + w0);\n"
	"    var px = PAD + (a - x0) / w0 * (W - 2 * PAD), pw = (b - a) / w0 * (W - 2 * PAD);\n"
	"    g.style.display = pw < 0.1 ? 'none' : '';\n"
	"    r.setAttribute('x', px.toFixed(2)); r.setAttribute('width', pw.toFixed(3));\n"
	"    t.setAttribute('x', (px + 3).toFixed(2)); fit(g);\n"
	"  });\n"
	"}\n"
	"function zoom(g) {\n"
	"  if (+g.getAttribute('data-d') === 0) layout(0, total);\n"
	"  else layout(+g.getAttribute('data-x'), +g.getAttribute('data-w'));\n"
	"}\n"
	"function search(re) {\n"
	"  term = re ? new RegExp(re) : null;\n"
	"  var spans = [];\n"
	"  frames.forEach(function (g) {\n"
	"    var r = g.querySelector('rect');\n"
	"    if (!r.hasAttribute('data-fill')) r.setAttribute('data-fill', r.getAttribute('fill'));\n"
	"    var hit = term && term.test(g.getAttribute('data-n'));\n"
	"    r.setAttribute('fill', hit ? 'rgb(230,0,230)' : r.getAttribute('data-fill'));\n"
	"    g.classList.toggle('hit', !!hit);\n"
	"    if (hit) spans.push([+g.getAttribute('data-x'), +g.getAttribute('data-x') + +g.getAttribute('data-w')]);\n"
	"  });\n"
	"  spans.sort(function (a, b) { return a[0] - b[0]; });\n"
	"  var sum = 0, end = -1;\n"
	"  spans.forEach(function (s) { if (s[1] <= end) return; sum += s[1] - Math.max(s[0], end); end = s[1]; });\n"
	"  matched.textContent = term ? 'Matched: ' + pct(sum) : '';\n"
	"  return sum;\n"
	"}\n"
	"frames.forEach(function (g) {\n"
	"  g.addEventListener('click', function () { zoom(g); });\n"
	"  g.addEventListener('mouseover', function () {\n"
	"    details.textContent = g.getAttribute('data-n') + ' (' + g.getAttribute('data-w') + ' samples, ' + pct(+g.getAttribute('data-w')) + ')';\n"
	"  });\n"
	"  g.addEventListener('mouseout', function () { details.textContent = ' '; });\n"
	"});\n"
	"svg.querySelector('#search').addEventListener('click', function () {\n"
	"  var re = prompt('Search (regular expression); empty to clear', term ? term.source : '');\n"
	"  if (re !== null) search(re);\n"
	"});\n"
	"svg.querySelector('#reset').addEventListener('click', function () { layout(0, total); });\n"
	"document.addEventListener('keydown', function (e) {\n"
	"  if ((e.ctrlKey || e.metaKey) && e.key === 'f') { e.preventDefault(); svg.querySelector('#search').dispatchEvent(new Event('click')); }\n"
	"});\n"
	"svg.flamegraph = { zoom: zoom, search: search, layout: layout };\n"
	"layout(0, total);\n"
	"})();\n"
	"]]></script>\n";

int stackfmt__flamegraph(const char *path, const struct stackfmt_opts *o,
			 const struct stack_rec *recs, size_t n, const char *title)
{
	struct tree t = { .root = { .name = "all", .kind = NODE_ROOT } };
	int height, fd, err = 0;
	FILE *f;
	size_t i;

	for (i = 0; i < n && !t.err; i++)
		add(&t, o, &recs[i]);
	htab__free(&t.idx);
	if (t.err) {
		free_nodes(&t.root);
		return t.err;
	}
	fd = stackfmt__create(path);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		err = fd < 0 ? fd : -errno;
		if (fd >= 0)
			close(fd);
		free_nodes(&t.root);
		return err;
	}
	height = FG_TOP + FG_BOTTOM + (t.depth + 1) * FG_FRAME_H;
	fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" id=\"flamegraph\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\" "
		"data-width=\"%d\" data-pad=\"%d\" data-total=\"%llu\">\n"
		"<style>text { font-family: monospace; font-size: 12px; fill: #000; } "
		"g.f { cursor: pointer; } g.f:hover rect { stroke: #000; stroke-width: 0.5; } "
		"#search, #reset { cursor: pointer; }</style>\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f8f8\"/>\n"
		"<text x=\"%d\" y=\"24\" style=\"font-size: 17px\">CPU flame graph (",
		FG_WIDTH, height, FG_WIDTH, height, FG_WIDTH, FG_PAD,
		(unsigned long long)t.root.count, FG_WIDTH / 2 - 150);
	put_xml(f, title ? title : "samples");
	fprintf(f, ", %llu samples): user frames warm, kernel frames blue</text>\n"
		"<text id=\"reset\" x=\"%d\" y=\"24\">Reset zoom</text>\n"
		"<text id=\"search\" x=\"%d\" y=\"24\">Search</text>\n"
		"<text id=\"matched\" x=\"%d\" y=\"%d\"></text>\n"
		"<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n",
		(unsigned long long)t.root.count, FG_PAD, FG_WIDTH - FG_PAD - 60,
		FG_WIDTH - FG_PAD - 160, height - 10, FG_PAD, height - 10);
	if (t.root.count)
		err = emit(f, &t.root, 0, 0, t.root.count, height);
	fputs(script, f);
	fputs("</svg>\n", f);
	if (ferror(f) && !err)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	free_nodes(&t.root);
	return err;
}
