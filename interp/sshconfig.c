/* sshconfig.c — the part of ssh_config(5) an inventory leans on: Host
 * blocks with their patterns (`*`, `?`, `!negation`), and HostName,
 * Port, User and IdentityFile in them, the first value obtained winning
 * as OpenSSH does.  Match blocks are skipped (their conditions need the
 * whole of ssh to evaluate) and Include is not followed: both are said
 * in the README. */
#include "ssh.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Next whitespace-separated word of *s (double quotes group), or NULL. */
static char *word(char **s)
{
	char *p = *s;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return NULL;
	char *w = p, *o = p;
	bool q = false;
	for (; *p && (q || (*p != ' ' && *p != '\t')); p++) {
		if (*p == '"')
			q = !q;
		else
			*o++ = *p;
	}
	if (*p)
		p++;
	*o = '\0';
	*s = p;
	return w;
}

/* Does alias match the patterns of a Host line (the rest of the line)? */
static bool host_matches(char *rest, const char *alias)
{
	bool yes = false;
	char *w;
	while ((w = word(&rest))) {
		bool neg = *w == '!';
		if (fnmatch(neg ? w + 1 : w, alias, 0) == 0) {
			if (neg)
				return false;
			yes = true;
		}
	}
	return yes;
}

/* ~ and the %-tokens of IdentityFile (OpenSSH's TOKENS). */
static char *expand_path(const char *v, const char *alias, const struct ssh_conf *c)
{
	struct sbuf sb = {0};
	const char *home = getenv("HOME");
	if (v[0] == '~' && v[1] == '/') {
		sbuf_adds(&sb, home ? home : "");
		v++;
	}
	for (; *v; v++) {
		if (*v != '%' || !v[1]) {
			sbuf_addc(&sb, *v);
			continue;
		}
		v++;
		switch (*v) {
		case '%': sbuf_addc(&sb, '%'); break;
		case 'd': sbuf_adds(&sb, home ? home : ""); break;
		case 'h': sbuf_adds(&sb, c->hostname ? c->hostname : alias); break;
		case 'n': sbuf_adds(&sb, alias); break;
		case 'r': sbuf_adds(&sb, c->user ? c->user : ""); break;
		case 'u': sbuf_adds(&sb, getenv("USER") ? getenv("USER") : ""); break;
		default: sbuf_addc(&sb, '%'); sbuf_addc(&sb, *v); break;
		}
	}
	return sbuf_detach(&sb);
}

int ssh_config_lookup(const char *path, const char *alias, struct ssh_conf *c)
{
	char *text;
	size_t n;
	if (read_file(path, &text, &n) < 0)
		return -1;
	bool active = true; /* lines before the first Host apply to all */
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		/* "Key value", "Key=value" or "Key = value" */
		char *k = p;
		while (*p && !isspace((unsigned char)*p) && *p != '=')
			p++;
		char *kend = p;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '=')
			p++;
		*kend = '\0';
		size_t len = strlen(p);
		while (len && isspace((unsigned char)p[len - 1]))
			p[--len] = '\0';
		if (!strcasecmp(k, "Host")) {
			active = host_matches(p, alias);
			continue;
		}
		if (!strcasecmp(k, "Match")) {
			active = false;
			continue;
		}
		if (!active)
			continue;
		char *rest = p;
		char *v = word(&rest);
		if (!v)
			continue;
		if (!strcasecmp(k, "HostName") && !c->hostname)
			c->hostname = xstrdup(v);
		else if (!strcasecmp(k, "User") && !c->user)
			c->user = xstrdup(v);
		else if (!strcasecmp(k, "Port") && !c->port) {
			long long port;
			if (parse_uint(v, &port) == 0 && port > 0 && port < 65536)
				c->port = (int)port;
		} else if (!strcasecmp(k, "IdentityFile")) {
			char *e = expand_path(v, alias, c);
			VEC_PUSH(c->identities, c->nidentities, c->idcap, e);
		}
	}
	free(text);
	return 0;
}

void ssh_conf_release(struct ssh_conf *c)
{
	free(c->hostname);
	free(c->user);
	for (size_t i = 0; i < c->nidentities; i++)
		free(c->identities[i]);
	free(c->identities);
	memset(c, 0, sizeof(*c));
}
