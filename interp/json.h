/* json.h — JSON for events, the journal and `--format json`: writing
 * objects one key at a time, and a small reader (json_parse) for the
 * journal's replay.  The journal writes strings "exact": bytes that are
 * not UTF-8 become lone surrogates \udcXX, which the reader turns back
 * into the same bytes, so captured values survive a resume unchanged. */
#ifndef RB_JSON_H
#define RB_JSON_H

#include "util.h"

struct json {
	struct sbuf sb;
	bool first;      /* nothing added yet */
	bool array;      /* [ … ] rather than { … } */
	bool exact;      /* strings keep every byte (see above) */
};

void json_begin(struct json *j);
/* An array instead: add its items with json_add_str / json_add_raw. */
void json_begin_array(struct json *j);
void json_add_str(struct json *j, const char *val);
void json_add_raw(struct json *j, const char *raw);  /* already JSON */
void json_kstr(struct json *j, const char *key, const char *val); /* NULL → null */
void json_kint(struct json *j, const char *key, long long val);
void json_kbool(struct json *j, const char *key, bool val);
void json_kraw(struct json *j, const char *key, const char *raw);  /* already JSON */
/* Closes the object (or array) and returns its text (owned by j until json_release). */
const char *json_end(struct json *j);
void json_release(struct json *j);

/* Appends s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
void json_quote(struct sbuf *sb, const char *s);
/* The same, keeping such bytes as \udcXX. */
void json_quote_exact(struct sbuf *sb, const char *s);
/* Appends the inside of a JSON string (no quotes) for n bytes that may
 * hold NULs; with more, a UTF-8 sequence cut at the end is left for the
 * next call.  Returns the bytes consumed. */
size_t json_quote_bytes(struct sbuf *sb, const char *s, size_t n, bool more);

/* --- reading --- */

enum jv_type { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

/* A parsed value.  The tree is owned by its root (jv_free). */
struct jv {
	enum jv_type t;
	bool b;
	double num;
	char *s;            /* JV_STR: NUL-terminated (a \u0000 ends it early) */
	struct jv *v;       /* JV_ARR items, JV_OBJ values */
	char **k;           /* JV_OBJ keys */
	size_t n;
};

/* Parses exactly one value filling text[0..n).  Returns the tree, or NULL
 * with *err set to a message naming the byte offset (caller frees). */
struct jv *json_parse(const char *text, size_t n, char **err);
void jv_free(struct jv *v);
/* Object members; NULL when absent or of another type. */
const struct jv *jv_get(const struct jv *obj, const char *key);
const char *jv_str(const struct jv *obj, const char *key);
/* An integer member, or def when absent or not a number. */
long long jv_int(const struct jv *obj, const char *key, long long def);
bool jv_bool(const struct jv *obj, const char *key);

#endif
