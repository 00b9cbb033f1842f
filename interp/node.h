/* node.h — a loaded YAML document: scalars, sequences and mappings, each
 * with its 1-based position.  The whole tree lives in the document's arena
 * and is immutable once loaded; doc_free releases everything at once. */
#ifndef RB_NODE_H
#define RB_NODE_H

#include "util.h"

enum node_kind { NODE_SCALAR, NODE_SEQ, NODE_MAP };

struct node {
	enum node_kind kind;
	struct pos pos;
	bool plain;   /* scalar written without quotes (so `true` is a boolean) */
	char style;   /* scalars: 'p' plain, '\'' or '"' quoted, '|' or '>' block */
	char *str;    /* scalar text, NUL-terminated */
	size_t len;   /* scalar length (may hold NUL bytes: refused by users) */
	struct node **items; /* seq: items; map: key, value, key, value… */
	size_t n;            /* number of items (map: 2 × pairs) */
};

struct arena_chunk;
struct doc {
	char *path;          /* owned; node positions point at it */
	char *bytes;         /* the exact file contents, owned */
	size_t nbytes;
	struct node *root;   /* NULL for an empty document */
	size_t *line_starts; /* byte offset of each line, for doc_locate */
	size_t nlines;
	struct arena_chunk *chunks;
};

/* Loads and parses path.  Returns a new doc (caller frees with doc_free), or
 * NULL with the problem added to err.  Anchors, aliases and tags are refused:
 * they make runbooks harder to review and aliases allow "billion laughs". */
struct doc *doc_load(const char *path, struct rb_error *err);
/* The same from a buffer (takes a copy); name is used in positions. */
struct doc *doc_parse(const char *name, const char *bytes, size_t n, struct rb_error *err);
void doc_free(struct doc *d);

/* The position of the nth (0-based) occurrence of needle in the source
 * text of scalar n, so that a placeholder inside a quoted or block scalar
 * is reported where it is written.  Falls back to the scalar's position. */
struct pos doc_locate(const struct doc *d, const struct node *n, const char *needle, size_t nth);

/* The position of byte off of the value of a block scalar (| or >):
 * lines are counted after the indicator and their indentation skipped. */
struct pos doc_locate_offset(const struct doc *d, const struct node *n, size_t off);

/* Mapping helpers: the value of key, or NULL. */
struct node *node_get(const struct node *map, const char *key);
const char *node_kind_name(const struct node *n);
/* A plain scalar true/false (also yes/no are NOT booleans here: YAML 1.2). */
int node_bool(const struct node *n, bool *out);

#endif
