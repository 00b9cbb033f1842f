/* search.c — see search.h and runbook.h (runbook_find, runbook_each). */
#include "search.h"

#include "runbook.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *bindir;

void search_set_argv0(const char *argv0)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
	} else if (strchr(argv0, '/') && realpath(argv0, buf)) {
		/* fine */
	} else {
		return;
	}
	char *slash = strrchr(buf, '/');
	if (slash) {
		*slash = '\0';
		free(bindir);
		bindir = xstrdup(buf);
	}
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *try_dir(const char *dir, const char *name)
{
	static const char *const exts[] = {".yml", ".yaml"};
	for (size_t i = 0; i < ARRAY_LEN(exts); i++) {
		char *p = xasprintf("%s/%s%s", dir, name, exts[i]);
		if (is_file(p))
			return p;
		free(p);
	}
	return NULL;
}

/* Calls fn on each folder of the search list until it returns non-NULL. */
typedef char *(*dir_fn)(const char *dir, void *ctx);

static char *each_path_dir(const char *sub, dir_fn fn, void *ctx)
{
	const char *rp = getenv("RUNBOOK_PATH");
	char *r = NULL;
	if (rp && *rp) {
		char *dup = xstrdup(rp), *save = NULL;
		for (char *d = strtok_r(dup, ":", &save); d && !r; d = strtok_r(NULL, ":", &save)) {
			r = fn(d, ctx);
			if (!r && sub) {
				char *p = xasprintf("%s/%s", d, sub);
				r = fn(p, ctx);
				free(p);
			}
		}
		free(dup);
	}
	return r;
}

static char *find_in(const char *dir, void *name)
{
	return try_dir(dir, name);
}

char *module_find(const char *name, const char *fromdir)
{
	char *r = each_path_dir(NULL, find_in, (void *)name);
	if (r)
		return r;
	if (fromdir) {
		char *d = xasprintf("%s/modules", fromdir);
		r = try_dir(d, name);
		free(d);
		if (r)
			return r;
		if ((r = try_dir(fromdir, name)))
			return r;
		d = xasprintf("%s/../stdlib", fromdir);
		r = try_dir(d, name);
		free(d);
		if (r)
			return r;
	}
	if (bindir) {
		char *d = xasprintf("%s/../stdlib", bindir);
		r = try_dir(d, name);
		free(d);
		if (r)
			return r;
	}
	return try_dir(RUNBOOK_DATADIR "/stdlib", name);
}

/* The fixed folders searched for runbooks after RUNBOOK_PATH. */
static void runbook_dirs(char **out, size_t *n)
{
	*n = 0;
	out[(*n)++] = xstrdup("runbooks");
	if (bindir)
		out[(*n)++] = xasprintf("%s/../runbooks", bindir);
	out[(*n)++] = xstrdup(RUNBOOK_DATADIR "/runbooks");
}

char *runbook_find(const char *arg)
{
	if (strchr(arg, '/') || str_has_suffix(arg, ".yml") || str_has_suffix(arg, ".yaml"))
		return is_file(arg) ? xstrdup(arg) : NULL;
	char *r = each_path_dir("runbooks", find_in, (void *)arg);
	if (r)
		return r;
	char *dirs[4];
	size_t n;
	runbook_dirs(dirs, &n);
	for (size_t i = 0; i < n; i++) {
		if (!r)
			r = try_dir(dirs[i], arg);
		free(dirs[i]);
	}
	if (!r && is_file(arg))
		r = xstrdup(arg);
	return r;
}

struct each_ctx {
	void (*fn)(void *ctx, const char *name, const char *path);
	void *ctx;
	char **seen;
	size_t nseen, cap;
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(struct each_ctx *ec, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	while ((e = readdir(d))) {
		const char *ext = strrchr(e->d_name, '.');
		if (!ext || e->d_name[0] == '.' || (strcmp(ext, ".yml") && strcmp(ext, ".yaml")))
			continue;
		VEC_PUSH(names, n, cap, xstrdup(e->d_name));
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(char *), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char *name = xstrndup(names[i], (size_t)(strrchr(names[i], '.') - names[i]));
		bool dup = false;
		for (size_t j = 0; j < ec->nseen; j++)
			if (!strcmp(ec->seen[j], name))
				dup = true;
		if (!dup) {
			char *path = xasprintf("%s/%s", dir, names[i]);
			ec->fn(ec->ctx, name, path);
			free(path);
			VEC_PUSH(ec->seen, ec->nseen, ec->cap, name);
		} else {
			free(name);
		}
		free(names[i]);
	}
	free(names);
}

static char *list_cb(const char *dir, void *ctx)
{
	list_dir(ctx, dir);
	return NULL;
}

void runbook_each(void (*fn)(void *ctx, const char *name, const char *path), void *ctx)
{
	struct each_ctx ec = {fn, ctx, NULL, 0, 0};
	each_path_dir("runbooks", list_cb, &ec);
	char *dirs[4];
	size_t n;
	runbook_dirs(dirs, &n);
	for (size_t i = 0; i < n; i++) {
		list_dir(&ec, dirs[i]);
		free(dirs[i]);
	}
	for (size_t i = 0; i < ec.nseen; i++)
		free(ec.seen[i]);
	free(ec.seen);
}
