/* cmd_archive.c — `runbook archive verify FILE` and `runbook archive list
 * FILE`: what an operator checks before trusting a snapshot, by hand. */
#include "cli.h"

#include "engine.h"
#include "json.h"
#include "sig.h"
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *interrupted(void *ctx)
{
	return sig_interrupted() ? xstrdup("interrupted") : NULL;
}

static int archive_verify(const char *file)
{
	struct snap_totals t;
	char *why = NULL;
	struct snap_stop stop = {interrupted, NULL};
	if (snap_read(file, NULL, NULL, &stop, &t, &why) < 0) {
		fprintf(stderr, "runbook: %s does not verify: %s\n", file, why);
		free(why);
		return sig_interrupted() ? EXIT_INTR : EXIT_FAILED;
	}
	char *m = mf_path_for(file);
	printf("%s: verified against %s\n  %lld entries, %lld bytes of content; archive %lld bytes, sha256 %s\n", file,
	       m, t.entries, t.bytes, t.archive_bytes, t.sha256);
	free(m);
	return EXIT_OK;
}

static void mode_string(char *buf, const struct mf_entry *m)
{
	static const char types[] = {'-', 'd', 'l', 'h', 'c', 'b', 'p', 's'};
	buf[0] = types[m->type];
	const char *rwx = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		buf[1 + i] = m->mode & (0400 >> i) ? rwx[i] : '-';
	if (m->mode & 04000)
		buf[3] = buf[3] == 'x' ? 's' : 'S';
	if (m->mode & 02000)
		buf[6] = buf[6] == 'x' ? 's' : 'S';
	if (m->mode & 01000)
		buf[9] = buf[9] == 'x' ? 't' : 'T';
	buf[10] = '\0';
}

struct lister {
	bool json;
	bool first;
};

/* The length of the UTF-8 sequence at p, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n = *p >= 0xf0 && *p <= 0xf4 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 && *p < 0xe0 ? 2 : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A name as `ls -b` shows it: control characters and bytes that are not
 * UTF-8 escaped, so that one entry is one line. */
static const char *shown(struct sbuf *sb, const char *s)
{
	sbuf_reset(sb);
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		size_t u = *p >= 0x80 ? utf8_len(p) : 0;
		if (u) {
			sbuf_add(sb, p, u);
			p += u - 1;
		} else if (*p >= 0x80)
			sbuf_addf(sb, "\\%03o", *p);
		else if (*p == '\n')
			sbuf_adds(sb, "\\n");
		else if (*p == '\t')
			sbuf_adds(sb, "\\t");
		else if (*p == '\\')
			sbuf_adds(sb, "\\\\");
		else if (*p < 0x20 || *p == 0x7f)
			sbuf_addf(sb, "\\%03o", *p);
		else
			sbuf_addc(sb, (char)*p);
	}
	return sbuf_str(sb);
}

static void list_one(void *ctx, const struct mf_entry *m)
{
	struct lister *l = ctx;
	if (l->json) {
		struct sbuf sb = {0};
		mf_entry_line(&sb, m, true);
		printf("%s\n", sbuf_str(&sb));
		sbuf_release(&sb);
		return;
	}
	char mode[11], when[32] = "";
	mode_string(mode, m);
	time_t tt = (time_t)m->mtime;
	struct tm tm;
	if (m->mtime >= 0 && gmtime_r(&tt, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	char owner[96];
	if (m->user || m->uid >= 0)
		snprintf(owner, sizeof(owner), "%s/%s", m->user ? m->user : "?", m->group ? m->group : "?");
	else
		snprintf(owner, sizeof(owner), "-");
	if (m->user == NULL && m->uid >= 0)
		snprintf(owner, sizeof(owner), "%lld/%lld", m->uid, m->gid);
	struct sbuf a = {0}, b = {0};
	printf("%s %-16s %12lld %s %s%s%s%s\n", mode, owner, m->size, when, shown(&a, m->path),
	       m->type == MF_SYMLINK ? " -> " : m->type == MF_HARDLINK ? " link to " : "", shown(&b, m->link),
	       m->sparse ? " (sparse)" : "");
	sbuf_release(&a);
	sbuf_release(&b);
}

static int archive_list(const char *file, bool json)
{
	struct lister l = {json, true};
	struct snap_totals t;
	char *why = NULL;
	struct snap_stop stop = {interrupted, NULL};
	if (snap_scan(file, list_one, &l, &stop, &t, &why) < 0) {
		fflush(stdout);
		fprintf(stderr, "runbook: %s: %s\n", file, why);
		free(why);
		return sig_interrupted() ? EXIT_INTR : EXIT_FAILED;
	}
	if (!json)
		printf("%lld entries, %lld bytes of content; archive %lld bytes, sha256 %s\n", t.entries, t.bytes,
		       t.archive_bytes, t.sha256);
	return EXIT_OK;
}

int cmd_archive(struct opts *o)
{
	if (o->nargs < 2)
		return bad_usage("'archive' needs a subcommand: verify FILE or list FILE");
	const char *sub = o->args[1];
	if (strcmp(sub, "verify") && strcmp(sub, "list"))
		return bad_usage("unknown 'archive' subcommand '%s' (verify or list)", sub);
	if (o->nargs != 3)
		return bad_usage("usage: runbook archive %s FILE", sub);
	bool json = o->format && !strcmp(o->format, "json");
	if (o->format && !json && strcmp(o->format, "text"))
		return bad_usage("'archive list' prints text or json, not '%s'", o->format);
	if (!strcmp(sub, "verify")) {
		if (o->format)
			return bad_usage("'archive verify' has no --format");
		return archive_verify(o->args[2]);
	}
	return archive_list(o->args[2], json);
}
