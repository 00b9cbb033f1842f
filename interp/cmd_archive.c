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
	if (snap_read(file, NULL, NULL, &stop, 0, &t, &why) < 0) {
		char *w = snap_printable(why);
		fprintf(stderr, "runbook: %s does not verify: %s\n", file, w);
		free(w);
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
	char *o = snap_printable(owner), *p = snap_printable(m->path), *ln = snap_printable(m->link ? m->link : "");
	printf("%s %-16s %12lld %s %s%s%s%s\n", mode, o, m->size, when, p,
	       m->type == MF_SYMLINK ? " -> " : m->type == MF_HARDLINK ? " link to " : "", ln, m->sparse ? " (sparse)" : "");
	free(o);
	free(p);
	free(ln);
}

static int archive_list(const char *file, bool json)
{
	struct lister l = {json, true};
	struct snap_totals t;
	char *why = NULL;
	struct snap_stop stop = {interrupted, NULL};
	if (snap_scan(file, list_one, &l, &stop, &t, &why) < 0) {
		fflush(stdout);
		char *w = snap_printable(why);
		fprintf(stderr, "runbook: %s: %s\n", file, w);
		free(w);
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
