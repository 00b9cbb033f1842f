/* glob.c — see glob.h.  A backtracking matcher: patterns are short and
 * written by people, and '**' is the only unbounded part. */
#include "glob.h"

#include <string.h>

/* A bracket expression at p ("[...]"): does it take c?  *end is set past
 * it; NULL when it is not closed. */
static bool bracket(const char *p, char c, const char **end)
{
	bool neg = false, hit = false;
	p++;
	if (*p == '!' || *p == '^') {
		neg = true;
		p++;
	}
	const char *first = p;
	for (; *p && (*p != ']' || p == first); p++) {
		if (p[1] == '-' && p[2] && p[2] != ']') {
			if ((unsigned char)c >= (unsigned char)p[0] && (unsigned char)c <= (unsigned char)p[2])
				hit = true;
			p += 2;
		} else if (*p == c) {
			hit = true;
		}
	}
	if (!*p) {
		*end = NULL;
		return false;
	}
	*end = p + 1;
	return hit != neg && c != '/';
}

static bool match(const char *p, const char *s)
{
	for (;;) {
		if (!*p)
			return !*s;
		if (p[0] == '*' && p[1] == '*') {
			p += 2;
			/* "**" + "/": zero or more whole folders */
			if (*p == '/') {
				if (match(p + 1, s))
					return true;
				for (; *s; s++)
					if (*s == '/' && match(p + 1, s + 1))
						return true;
				return false;
			}
			for (;; s++) {
				if (match(p, s))
					return true;
				if (!*s)
					return false;
			}
		}
		if (*p == '*') {
			p++;
			for (;; s++) {
				if (match(p, s))
					return true;
				if (!*s || *s == '/')
					return false;
			}
		}
		if (!*s)
			return false;
		if (*p == '?') {
			if (*s == '/')
				return false;
		} else if (*p == '[') {
			const char *end;
			if (!bracket(p, *s, &end))
				return false;
			p = end;
			s++;
			continue;
		} else if (*p == '\\' && p[1]) {
			if (*++p != *s)
				return false;
		} else if (*p != *s) {
			return false;
		}
		p++;
		s++;
	}
}

/* Does the pattern (its body in pat[0..n)) match this one path? */
static bool match_one(const char *pat, bool anchored, const char *path)
{
	if (anchored)
		return match(pat, path);
	const char *base = strrchr(path, '/');
	return match(pat, base ? base + 1 : path);
}

bool glob_excludes(const char *pattern, const char *path, bool is_dir)
{
	if (!strcmp(path, "."))
		return false; /* the archived folder itself */
	char pat[4096];
	size_t n = strlen(pattern);
	if (n >= sizeof(pat))
		return false;
	memcpy(pat, pattern, n + 1);
	bool dir_only = n > 1 && pat[n - 1] == '/';
	if (dir_only)
		pat[--n] = '\0';
	const char *body = pat;
	bool anchored = strchr(pat, '/') != NULL;
	if (*body == '/')
		body++;
	/* the path itself, then each folder above it */
	char buf[8192];
	size_t len = strlen(path);
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, path, len + 1);
	bool dir = is_dir;
	for (;;) {
		if ((!dir_only || dir) && match_one(body, anchored, buf))
			return true;
		char *slash = strrchr(buf, '/');
		if (!slash)
			return false;
		*slash = '\0';
		dir = true;
	}
}

const char *glob_invalid(const char *pattern)
{
	if (!*pattern || !strcmp(pattern, "/"))
		return "an empty pattern";
	for (const char *p = pattern; *p; p++) {
		if (*p == '[') {
			const char *end;
			bracket(p, 'a', &end);
			if (!end)
				return "a '[' without its ']'";
			p = end - 1;
		} else if (*p == '\\' && p[1]) {
			p++;
		}
	}
	return NULL;
}
