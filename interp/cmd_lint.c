/* cmd_lint.c — `runbook lint FILE...`: each runbook or module loaded as a
 * run would load it, without params, then lint.c's warnings; every
 * problem printed the way compilers print them, so that editors and CI
 * annotate the lines.  Nothing runs and nothing is written. */
#include "cli.h"
#include "engine.h"
#include "lint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Is the file a module (a top-level `module:` key) rather than a runbook? */
static bool is_module_file(const char *path)
{
	struct rb_error err = {0};
	struct doc *d = doc_load(path, &err);
	bool mod = d && d->root && d->root->kind == NODE_MAP && node_get(d->root, "module") &&
		   !node_get(d->root, "runbook");
	doc_free(d);
	rb_error_release(&err);
	return mod;
}

int cmd_lint(struct opts *o)
{
	if (o->nargs < 2)
		return bad_usage("'lint' needs one or more files (runbooks or modules)");
	size_t errors = 0, warnings = 0;
	for (size_t i = 1; i < o->nargs; i++) {
		const char *path = o->args[i];
		if (access(path, R_OK) < 0) {
			fprintf(stderr, "runbook: error: %s: cannot read it: %s\n", path, strerror(errno));
			errors++;
			continue;
		}
		struct rb_error err = {0};
		bool mod = is_module_file(path);
		struct runbook *rb = mod ? module_load_file(path, &err) : runbook_load(path, &err);
		if (rb) {
			if (mod)
				lint_module(rb->modules[0], &err);
			else
				lint_runbook(rb, &err);
		}
		errors += err.n;
		warnings += err.nwarn;
		rb_error_print_located(&err);
		rb_error_release(&err);
		runbook_free(rb);
	}
	size_t nfiles = o->nargs - 1;
	bool fail = errors || (o->strict && warnings);
	fprintf(stderr, "%zu file%s: %zu error%s, %zu warning%s%s\n", nfiles, nfiles == 1 ? "" : "s", errors,
		errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s",
		o->strict && warnings && !errors ? " (--strict: warnings fail)" : "");
	return fail ? EXIT_BAD : EXIT_OK;
}
