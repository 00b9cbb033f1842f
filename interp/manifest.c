/* manifest.c — see manifest.h.  Values are cut out of the stream one at a
 * time (a brace and string scanner) and each is parsed by the journal's
 * strict JSON reader, so a manifest of a million entries never sits in
 * memory whole. */
#include "manifest.h"

#include "json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUE (1 << 20)

static const char *const type_names[] = {"file", "dir", "symlink", "hardlink", "char", "block", "fifo", "socket"};

const char *mf_type_name(enum mf_type t)
{
	return type_names[t];
}

void mf_entry_release(struct mf_entry *e)
{
	free(e->path);
	free(e->link);
	free(e->user);
	free(e->group);
	memset(e, 0, sizeof(*e));
}

char *mf_path_for(const char *archive)
{
	return xasprintf("%s.manifest.json", archive);
}

/* --- writing --------------------------------------------------------------- */

static void kstr(struct sbuf *sb, const char *key, const char *val, bool comma)
{
	sbuf_addf(sb, "%s\"%s\": ", comma ? ", " : "", key);
	json_quote_exact(sb, val ? val : "");
}

void mf_write_begin(FILE *f, const struct mf_head *h)
{
	struct sbuf sb = {0};
	sbuf_adds(&sb, "{\"manifest\": \"runbook-archive\", \"version\": 1");
	kstr(&sb, "format", h->format, true);
	kstr(&sb, "archive", h->archive, true);
	kstr(&sb, "host", h->host, true);
	kstr(&sb, "source", h->source, true);
	kstr(&sb, "created", h->created, true);
	sbuf_addf(&sb, ",\n\"count\": %lld, \"bytes\": %lld, \"archive_bytes\": %lld, \"archive_sha256\": \"%s\"",
		  h->count, h->bytes, h->archive_bytes, h->archive_sha256);
	sbuf_adds(&sb, ",\n\"entries\": [\n");
	fputs(sbuf_str(&sb), f);
	sbuf_release(&sb);
}

void mf_entry_line(struct sbuf *sb, const struct mf_entry *e, bool first)
{
	if (!first)
		sbuf_adds(sb, ",\n");
	sbuf_adds(sb, "{");
	kstr(sb, "path", e->path, false);
	kstr(sb, "type", type_names[e->type], true);
	if (e->type == MF_FILE)
		sbuf_addf(sb, ", \"size\": %lld", e->size);
	sbuf_addf(sb, ", \"mode\": \"%04o\"", e->mode);
	if (e->type == MF_FILE)
		kstr(sb, "sha256", e->sha256, true);
	if (e->link)
		kstr(sb, "link", e->link, true);
	if (e->sparse)
		sbuf_adds(sb, ", \"sparse\": true");
	if (e->mtime >= 0)
		sbuf_addf(sb, ", \"mtime\": %lld", e->mtime);
	if (e->uid >= 0)
		sbuf_addf(sb, ", \"uid\": %lld, \"gid\": %lld", e->uid, e->gid);
	if (e->user)
		kstr(sb, "user", e->user, true);
	if (e->group)
		kstr(sb, "group", e->group, true);
	sbuf_adds(sb, "}");
}

void mf_write_entry(FILE *f, const struct mf_entry *e, bool first)
{
	struct sbuf sb = {0};
	mf_entry_line(&sb, e, first);
	fputs(sbuf_str(&sb), f);
	sbuf_release(&sb);
}

void mf_write_end(FILE *f)
{
	fputs("\n]}\n", f);
}

/* --- reading ----------------------------------------------------------------- */

struct mf_reader {
	FILE *f;
	char *path;
	int line, col;           /* of the next character */
	int vline, vcol;         /* where the value being read starts */
	struct mf_head head;
	bool in_entries, done;
	long long nread;         /* entries read so far */
	bool seen_entries, seen_tail[4];
	bool seen_magic;         /* "manifest": "runbook-archive" */
	struct sbuf val;
};

static int next_char(struct mf_reader *r)
{
	int c = getc_unlocked(r->f);
	if (c == '\n') {
		r->line++;
		r->col = 1;
	} else if (c != EOF) {
		r->col++;
	}
	return c;
}

static int skip_ws(struct mf_reader *r)
{
	int c;
	do
		c = next_char(r);
	while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
	return c;
}

static int failf(struct mf_reader *r, char **why, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int failf(struct mf_reader *r, char **why, int line, int col, const char *fmt, ...)
{
	if (*why)
		return -1;
	struct sbuf sb = {0};
	sbuf_addf(&sb, "%s:%d:%d: ", r->path, line, col);
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	*why = sbuf_detach(&sb);
	return -1;
}

/* Cuts the next JSON value (first character c, already read) into
 * r->val.  0, or -1. */
static int cut_value(struct mf_reader *r, int c, char **why)
{
	sbuf_reset(&r->val);
	r->vline = r->line;
	r->vcol = r->col - 1;
	if (c == EOF)
		return failf(r, why, r->line, r->col, "the manifest ends early");
	int depth = 0;
	bool str = false;
	for (;;) {
		/* an entry is a few hundred bytes: a hostile file does not get
		 * to fill memory with one value */
		if (r->val.len > MAX_VALUE)
			return failf(r, why, r->vline, r->vcol, "a value longer than %d bytes", MAX_VALUE);
		sbuf_addc(&r->val, (char)c);
		if (str) {
			if (c == '\\') {
				int d = next_char(r);
				if (d == EOF)
					return failf(r, why, r->line, r->col, "the manifest ends inside a string");
				sbuf_addc(&r->val, (char)d);
			} else if (c == '"') {
				str = false;
				if (!depth)
					return 0;
			}
		} else if (c == '"') {
			str = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth <= 0)
				return depth < 0 ? failf(r, why, r->line, r->col, "unexpected '%c'", c) : 0;
		}
		if (!depth && !str) {
			/* a number, true, false or null: up to a delimiter */
			int d = getc_unlocked(r->f);
			if (d == EOF || strchr(",]} \t\r\n", d)) {
				if (d != EOF)
					ungetc(d, r->f);
				return 0;
			}
			c = d;
			r->col++;
			continue;
		}
		c = next_char(r);
		if (c == EOF)
			return failf(r, why, r->line, r->col, "the manifest ends early");
	}
}

static struct jv *parse_value(struct mf_reader *r, int c, char **why)
{
	if (cut_value(r, c, why) < 0)
		return NULL;
	char *err = NULL;
	struct jv *v = json_parse(r->val.buf, r->val.len, &err);
	if (!v) {
		failf(r, why, r->vline, r->vcol, "not JSON: %s", err);
		free(err);
	}
	return v;
}

static bool hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static bool int_member(const struct jv *o, const char *k, long long *out)
{
	const struct jv *v = jv_get(o, k);
	if (!v || v->t != JV_NUM || !(v->num >= 0 && v->num <= 9007199254740992.0) || v->num != (double)(long long)v->num)
		return false;
	*out = (long long)v->num;
	return true;
}

/* A top-level member other than "entries". */
static int top_member(struct mf_reader *r, const char *key, struct jv *v, char **why)
{
	static const char *const heads[] = {"format", "archive", "host", "source", "created"};
	for (size_t i = 0; i < ARRAY_LEN(heads); i++)
		if (!strcmp(key, heads[i])) {
			char **slot[] = {&r->head.format, &r->head.archive, &r->head.host, &r->head.source,
					 &r->head.created};
			if (v->t != JV_STR)
				return failf(r, why, r->vline, r->vcol, "'%s' must be a string", key);
			free(*slot[i]);
			*slot[i] = xstrdup(v->s);
			return 0;
		}
	if (!strcmp(key, "manifest")) {
		r->seen_magic = true;
		return v->t == JV_STR && !strcmp(v->s, "runbook-archive")
			       ? 0
			       : failf(r, why, r->vline, r->vcol, "not a runbook archive manifest");
	}
	if (!strcmp(key, "version")) {
		if (v->t != JV_NUM || v->num != 1)
			return failf(r, why, r->vline, r->vcol, "manifest version %s: this runbook reads version 1",
				     r->val.buf);
		return 0;
	}
	static const char *const tails[] = {"count", "bytes", "archive_bytes", "archive_sha256"};
	for (size_t i = 0; i < ARRAY_LEN(tails); i++)
		if (!strcmp(key, tails[i])) {
			r->seen_tail[i] = true;
			r->head.has_archive = r->seen_tail[2] && r->seen_tail[3];
			if (i == 3) {
				if (v->t != JV_STR || !hex64(v->s))
					return failf(r, why, r->vline, r->vcol, "'archive_sha256' must be 64 hex digits");
				memcpy(r->head.archive_sha256, v->s, 65);
				return 0;
			}
			long long *slot[] = {&r->head.count, &r->head.bytes, &r->head.archive_bytes};
			if (v->t != JV_NUM || !(v->num >= 0 && v->num <= 9007199254740992.0) ||
			    v->num != (double)(long long)v->num)
				return failf(r, why, r->vline, r->vcol, "'%s' must be a count", key);
			*slot[i] = (long long)v->num;
			return 0;
		}
	return failf(r, why, r->vline, r->vcol, "unknown member '%s'", key);
}

/* Reads members until "entries" opens or the object closes (after_entries:
 * a ',' comes before the first).  0, or -1. */
static int read_members(struct mf_reader *r, bool after_entries, char **why)
{
	for (;;) {
		int c = skip_ws(r);
		if (after_entries) {
			/* after the entries' ']': ',' and more members, or '}' */
			if (c == '}')
				return 0;
			if (c != ',')
				return failf(r, why, r->line, r->col - 1, "expected ',' or '}'");
			c = skip_ws(r);
		}
		after_entries = true;
		if (c != '"')
			return failf(r, why, r->line, r->col - 1, "expected a member name");
		struct jv *k = parse_value(r, c, why);
		if (!k)
			return -1;
		int kl = r->vline, kc = r->vcol;
		c = skip_ws(r);
		if (c != ':') {
			jv_free(k);
			return failf(r, why, r->line, r->col - 1, "expected ':'");
		}
		if (!strcmp(k->s, "entries")) {
			jv_free(k);
			if (r->seen_entries)
				return failf(r, why, kl, kc, "'entries' given twice");
			if (!r->seen_magic)
				return failf(r, why, kl, kc, "not a runbook archive manifest (no \"manifest\": "
							     "\"runbook-archive\" before the entries)");
			if (skip_ws(r) != '[')
				return failf(r, why, r->line, r->col - 1, "'entries' must be a list");
			r->seen_entries = r->in_entries = true;
			return 0;
		}
		struct jv *v = parse_value(r, skip_ws(r), why);
		if (!v) {
			jv_free(k);
			return -1;
		}
		int rc = top_member(r, k->s, v, why);
		jv_free(k);
		jv_free(v);
		if (rc < 0)
			return -1;
	}
}

struct mf_reader *mf_open(const char *path, char **why)
{
	*why = NULL;
	FILE *f = fopen(path, "re");
	if (!f) {
		*why = xasprintf("cannot read the manifest %s: %s", path, strerror(errno));
		return NULL;
	}
	struct mf_reader *r = xcalloc(1, sizeof(*r));
	r->f = f;
	r->path = xstrdup(path);
	r->line = r->col = 1;
	if (skip_ws(r) != '{') {
		failf(r, why, r->line, r->col > 1 ? r->col - 1 : 1, "not a runbook archive manifest (no JSON object)");
		mf_close(r);
		return NULL;
	}
	int rc = read_members(r, false, why);
	if (rc == 0 && !r->in_entries)
		rc = failf(r, why, r->line, r->col, "the manifest has no entries");
	if (rc < 0) {
		mf_close(r);
		return NULL;
	}
	return r;
}

const struct mf_head *mf_head(const struct mf_reader *r)
{
	return &r->head;
}

static int entry_of(struct mf_reader *r, const struct jv *o, struct mf_entry *e, char **why)
{
	memset(e, 0, sizeof(*e));
	e->uid = e->gid = -1;
	int l = r->vline, c = r->vcol;
	if (o->t != JV_OBJ)
		return failf(r, why, l, c, "an entry must be an object");
	static const char *const keys[] = {"path",  "type", "size", "mode", "sha256", "link",
					   "sparse", "mtime", "uid",  "gid",  "user",   "group"};
	for (size_t i = 0; i < o->n; i++) {
		size_t k = 0;
		while (k < ARRAY_LEN(keys) && strcmp(keys[k], o->k[i]))
			k++;
		if (k == ARRAY_LEN(keys))
			return failf(r, why, l, c, "unknown entry member '%s'", o->k[i]);
	}
	const char *p = jv_str(o, "path"), *t = jv_str(o, "type"), *m = jv_str(o, "mode");
	if (!p || !*p)
		return failf(r, why, l, c, "an entry without a 'path'");
	e->path = xstrdup(p);
	size_t ti = 0;
	while (t && ti < ARRAY_LEN(type_names) && strcmp(type_names[ti], t))
		ti++;
	if (!t || ti == ARRAY_LEN(type_names))
		return failf(r, why, l, c, "entry '%s': 'type' must be one of file, dir, symlink, hardlink, char, "
					   "block, fifo, socket", p);
	e->type = (enum mf_type)ti;
	if (!m || strlen(m) < 3 || strlen(m) > 5 || strspn(m, "01234567") != strlen(m))
		return failf(r, why, l, c, "entry '%s': 'mode' must be octal digits such as \"0644\"", p);
	e->mode = (int)strtol(m, NULL, 8) & 07777;
	if (e->type == MF_FILE) {
		const char *h = jv_str(o, "sha256");
		if (!hex64(h))
			return failf(r, why, l, c, "entry '%s': 'sha256' must be 64 lowercase hex digits", p);
		memcpy(e->sha256, h, 65);
		if (!int_member(o, "size", &e->size))
			return failf(r, why, l, c, "entry '%s': 'size' must be a byte count", p);
	}
	const char *ln = jv_str(o, "link");
	if (e->type == MF_SYMLINK || e->type == MF_HARDLINK) {
		if (!ln || !*ln)
			return failf(r, why, l, c, "entry '%s': a %s needs its 'link'", p, t);
		e->link = xstrdup(ln);
	}
	e->sparse = jv_bool(o, "sparse");
	if (!int_member(o, "mtime", &e->mtime))
		e->mtime = -1;
	if (jv_get(o, "uid") && (!int_member(o, "uid", &e->uid) || !int_member(o, "gid", &e->gid)))
		return failf(r, why, l, c, "entry '%s': 'uid' and 'gid' must be numbers", p);
	if (jv_str(o, "user"))
		e->user = xstrdup(jv_str(o, "user"));
	if (jv_str(o, "group"))
		e->group = xstrdup(jv_str(o, "group"));
	return 0;
}

int mf_next(struct mf_reader *r, struct mf_entry *e, char **why)
{
	*why = NULL;
	memset(e, 0, sizeof(*e));
	if (r->done || !r->in_entries)
		return 0;
	int c = skip_ws(r);
	if (c == EOF)
		return failf(r, why, r->line, r->col, "the manifest ends early, after %lld entries", r->nread);
	if (c == ']') {
		r->in_entries = false;
		r->done = true;
		if (read_members(r, true, why) < 0)
			return -1;
		static const char *const tails[] = {"count", "bytes", "archive_bytes", "archive_sha256"};
		for (size_t i = 0; i < ARRAY_LEN(tails); i++)
			if (!r->seen_tail[i])
				return failf(r, why, r->line, r->col, "the manifest has no '%s'", tails[i]);
		if (skip_ws(r) != EOF)
			return failf(r, why, r->line, r->col - 1, "text after the manifest");
		return 0;
	}
	if (r->nread) {
		if (c != ',')
			return failf(r, why, r->line, r->col - 1, "expected ',' or ']' after an entry");
		c = skip_ws(r);
	}
	if (c != '{')
		return failf(r, why, r->line, r->col > 1 ? r->col - 1 : 1, "expected an entry");
	struct jv *v = parse_value(r, c, why);
	if (!v)
		return -1;
	int rc = entry_of(r, v, e, why);
	jv_free(v);
	if (rc < 0) {
		mf_entry_release(e);
		return -1;
	}
	r->nread++;
	return 1;
}

void mf_close(struct mf_reader *r)
{
	if (!r)
		return;
	fclose(r->f);
	free(r->path);
	free(r->head.format);
	free(r->head.archive);
	free(r->head.host);
	free(r->head.source);
	free(r->head.created);
	sbuf_release(&r->val);
	free(r);
}
