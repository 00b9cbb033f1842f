/* json.h — writing JSON objects one key at a time (events; the journal). */
#ifndef RB_JSON_H
#define RB_JSON_H

#include "util.h"

struct json {
	struct sbuf sb;
	bool first;
};

void json_begin(struct json *j);
void json_kstr(struct json *j, const char *key, const char *val); /* NULL → null */
void json_kint(struct json *j, const char *key, long long val);
void json_kbool(struct json *j, const char *key, bool val);
void json_kraw(struct json *j, const char *key, const char *raw);  /* already JSON */
/* Closes the object and returns its text (owned by j until json_release). */
const char *json_end(struct json *j);
void json_release(struct json *j);

/* Appends s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
void json_quote(struct sbuf *sb, const char *s);

#endif
