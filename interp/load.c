/* load.c — libyaml's event stream into a tree of struct node.
 *
 * We build the tree ourselves from events rather than with libyaml's
 * document API so that every node keeps the mark where it starts, and so
 * that aliases can be refused before anything is expanded. */
#include "node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Deeper nesting than this is no runbook: refuse rather than recurse. */
#define MAX_DEPTH 64

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	_Alignas(max_align_t) unsigned char data[];
};

static void *arena_alloc(struct doc *d, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena_chunk *c = d->chunks;
	if (!c || c->size - c->used < n) {
		size_t size = n > 32768 ? n : 32768;
		c = xmalloc(sizeof(*c) + size);
		c->size = size;
		c->used = 0;
		c->next = d->chunks;
		d->chunks = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

static char *arena_strndup(struct doc *d, const char *s, size_t n)
{
	char *p = arena_alloc(d, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

struct builder {
	struct doc *doc;
	yaml_parser_t parser;
	struct rb_error *err;
	int depth;
};

static struct pos mark_pos(struct builder *b, yaml_mark_t m)
{
	struct pos p = {b->doc->path, (int)m.line + 1, (int)m.column + 1};
	return p;
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
	if (yaml_parser_parse(&b->parser, ev))
		return 0;
	struct pos p = mark_pos(b, b->parser.problem_mark);
	if (b->parser.context)
		rb_error_at(b->err, p, "invalid YAML: %s %s", b->parser.problem, b->parser.context);
	else
		rb_error_at(b->err, p, "invalid YAML: %s", b->parser.problem ? b->parser.problem : "unreadable");
	return -1;
}

static int check_props(struct builder *b, yaml_event_t *ev, const yaml_char_t *anchor,
		       const yaml_char_t *tag, bool implicit)
{
	struct pos p = mark_pos(b, ev->start_mark);
	if (anchor) {
		rb_error_at(b->err, p, "YAML anchors ('&%s') are not supported: write the value out", anchor);
		return -1;
	}
	if (tag && !implicit) {
		rb_error_at(b->err, p, "YAML tags ('%s') are not supported", tag);
		return -1;
	}
	return 0;
}

/* Parses the node whose first event is *ev (consumed). */
static struct node *build(struct builder *b, yaml_event_t *ev)
{
	struct node *n = arena_alloc(b->doc, sizeof(*n));
	memset(n, 0, sizeof(*n));
	n->pos = mark_pos(b, ev->start_mark);
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (check_props(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag,
				ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit) < 0)
			return NULL;
		n->kind = NODE_SCALAR;
		n->str = arena_strndup(b->doc, (const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		switch (ev->data.scalar.style) {
		case YAML_SINGLE_QUOTED_SCALAR_STYLE: n->style = '\''; break;
		case YAML_DOUBLE_QUOTED_SCALAR_STYLE: n->style = '"'; break;
		case YAML_LITERAL_SCALAR_STYLE: n->style = '|'; break;
		case YAML_FOLDED_SCALAR_STYLE: n->style = '>'; break;
		default: n->style = 'p'; break;
		}
		return n;
	case YAML_ALIAS_EVENT:
		rb_error_at(b->err, n->pos, "YAML aliases ('*%s') are not supported: write the value out",
			    ev->data.alias.anchor);
		return NULL;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
		if (seq ? check_props(b, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag,
				      ev->data.sequence_start.implicit)
			: check_props(b, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag,
				      ev->data.mapping_start.implicit))
			return NULL;
		if (++b->depth > MAX_DEPTH) {
			rb_error_at(b->err, n->pos, "nesting deeper than %d levels", MAX_DEPTH);
			return NULL;
		}
		n->kind = seq ? NODE_SEQ : NODE_MAP;
		struct node **items = NULL;
		size_t cnt = 0, cap = 0;
		for (;;) {
			yaml_event_t sub;
			if (next_event(b, &sub) < 0) {
				free(items);
				return NULL;
			}
			if (sub.type == YAML_SEQUENCE_END_EVENT || sub.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&sub);
				break;
			}
			struct node *child = build(b, &sub);
			yaml_event_delete(&sub);
			if (!child) {
				free(items);
				return NULL;
			}
			VEC_PUSH(items, cnt, cap, child);
		}
		b->depth--;
		n->n = cnt;
		n->items = arena_alloc(b->doc, (cnt ? cnt : 1) * sizeof(*items));
		if (cnt)
			memcpy(n->items, items, cnt * sizeof(*items));
		free(items);
		/* Keys of a mapping must be plain text. */
		if (!seq)
			for (size_t i = 0; i < cnt; i += 2)
				if (n->items[i]->kind != NODE_SCALAR) {
					rb_error_at(b->err, n->items[i]->pos, "a mapping key must be a plain string");
					return NULL;
				}
		return n;
	}
	default:
		rb_error_at(b->err, n->pos, "unexpected YAML event");
		return NULL;
	}
}

struct doc *doc_parse(const char *name, const char *bytes, size_t nbytes, struct rb_error *err)
{
	struct doc *d = xcalloc(1, sizeof(*d));
	d->path = xstrdup(name);
	d->bytes = xmalloc(nbytes + 1);
	memcpy(d->bytes, bytes, nbytes);
	d->bytes[nbytes] = '\0';
	d->nbytes = nbytes;

	struct builder b = {.doc = d, .err = err};
	if (!yaml_parser_initialize(&b.parser)) {
		rb_error_add(err, "%s: cannot initialise the YAML parser", name);
		doc_free(d);
		return NULL;
	}
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)d->bytes, nbytes);
	int ok = 0, docs = 0;
	for (;;) {
		yaml_event_t ev;
		if (next_event(&b, &ev) < 0)
			break;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			ok = 1;
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			rb_error_at(err, mark_pos(&b, ev.start_mark), "a runbook file holds one YAML document");
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_START_EVENT ||
		    ev.type == YAML_DOCUMENT_END_EVENT) {
			yaml_event_delete(&ev);
			continue;
		}
		struct node *root = build(&b, &ev);
		yaml_event_delete(&ev);
		if (!root)
			break;
		d->root = root;
	}
	yaml_parser_delete(&b.parser);
	if (!ok) {
		doc_free(d);
		return NULL;
	}
	size_t cap = 0;
	VEC_PUSH(d->line_starts, d->nlines, cap, 0);
	for (size_t i = 0; i < nbytes; i++)
		if (d->bytes[i] == '\n')
			VEC_PUSH(d->line_starts, d->nlines, cap, i + 1);
	return d;
}

/* libyaml columns count characters: step over UTF-8 continuation bytes. */
static size_t col_to_byte(const struct doc *d, size_t line_start, int col)
{
	size_t at = line_start;
	for (int c = 1; c < col && at < d->nbytes && d->bytes[at] != '\n'; c++) {
		at++;
		while (at < d->nbytes && ((unsigned char)d->bytes[at] & 0xc0) == 0x80)
			at++;
	}
	return at;
}

struct pos doc_locate(const struct doc *d, const struct node *n, const char *needle, size_t nth)
{
	struct pos p = n->pos;
	if (!d || !d->line_starts || n->pos.line < 1 || (size_t)n->pos.line > d->nlines)
		return p;
	size_t at = col_to_byte(d, d->line_starts[n->pos.line - 1], n->pos.col);
	size_t nl = strlen(needle);
	const char *hit = NULL;
	for (size_t k = 0; k <= nth; k++) {
		hit = at < d->nbytes ? strstr(d->bytes + at, needle) : NULL;
		if (!hit)
			return p;
		at = (size_t)(hit - d->bytes) + nl;
	}
	size_t off = (size_t)(hit - d->bytes);
	size_t line = 0;
	while (line + 1 < d->nlines && d->line_starts[line + 1] <= off)
		line++;
	int col = 1;
	for (size_t i = d->line_starts[line]; i < off; i++)
		if (((unsigned char)d->bytes[i] & 0xc0) != 0x80)
			col++;
	p.line = (int)line + 1;
	p.col = col;
	return p;
}

struct doc *doc_load(const char *path, struct rb_error *err)
{
	char *bytes;
	size_t n;
	if (read_file(path, &bytes, &n) < 0) {
		rb_error_add(err, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	struct doc *d = doc_parse(path, bytes, n, err);
	free(bytes);
	return d;
}

void doc_free(struct doc *d)
{
	if (!d)
		return;
	struct arena_chunk *c = d->chunks;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(d->path);
	free(d->bytes);
	free(d->line_starts);
	free(d);
}

struct node *node_get(const struct node *map, const char *key)
{
	if (!map || map->kind != NODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i += 2)
		if (strcmp(map->items[i]->str, key) == 0)
			return map->items[i + 1];
	return NULL;
}

const char *node_kind_name(const struct node *n)
{
	switch (n->kind) {
	case NODE_SCALAR:
		return "a string";
	case NODE_SEQ:
		return "a list";
	case NODE_MAP:
		return "a mapping";
	}
	return "?";
}

int node_bool(const struct node *n, bool *out)
{
	if (n->kind != NODE_SCALAR || !n->plain)
		return -1;
	if (!strcmp(n->str, "true") || !strcmp(n->str, "True") || !strcmp(n->str, "TRUE")) {
		*out = true;
		return 0;
	}
	if (!strcmp(n->str, "false") || !strcmp(n->str, "False") || !strcmp(n->str, "FALSE")) {
		*out = false;
		return 0;
	}
	return -1;
}

struct pos doc_locate_offset(const struct doc *d, const struct node *n, size_t off)
{
	struct pos p = n->pos;
	if (!d || !d->line_starts || (n->style != '|' && n->style != '>') || n->pos.line < 1)
		return p;
	size_t line = (size_t)n->pos.line; /* 0-based index of the line after the indicator */
	if (line >= d->nlines)
		return p;
	/* the indentation of the first line that is not blank */
	size_t indent = 0;
	for (size_t l = line; l < d->nlines; l++) {
		const char *s = d->bytes + d->line_starts[l];
		size_t k = 0;
		while (s[k] == ' ')
			k++;
		if (s[k] != '\n' && s[k] != '\0') {
			indent = k;
			break;
		}
	}
	size_t left = off;
	for (size_t l = line; l < d->nlines; l++) {
		size_t start = d->line_starts[l], end = l + 1 < d->nlines ? d->line_starts[l + 1] - 1 : d->nbytes;
		size_t len = end > start + indent ? end - start - indent : 0;
		if (left <= len) {
			int col = (int)indent + 1;
			for (size_t i = start + indent; i < start + indent + left; i++)
				if (((unsigned char)d->bytes[i] & 0xc0) != 0x80)
					col++;
			p.line = (int)l + 1;
			p.col = col;
			return p;
		}
		left -= len + 1; /* the line's newline is one character of the value */
	}
	return p;
}
