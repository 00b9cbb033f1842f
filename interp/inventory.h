/* inventory.h — `--inventory FILE`: hosts, groups and param values. */
#ifndef RB_INVENTORY_H
#define RB_INVENTORY_H

#include "runbook.h"

struct inv_group {
	char *name;
	struct pos pos;
	char **members;
	struct pos *mpos;
	size_t n;
};

struct inventory {
	struct doc *doc;
	struct host_def *hosts;
	size_t nhosts;
	struct inv_group *groups;
	size_t ngroups;
	char **vnames, **vvalues;
	size_t nvars;
};

/* Loads path.  Returns the inventory (caller frees with inventory_free) or
 * NULL with every problem added to err. */
struct inventory *inventory_load(const char *path, struct rb_error *err);
void inventory_free(struct inventory *inv);

/* `--params FILE`: a mapping of param names to scalar values.  Returns 0 and
 * fills parallel arrays (caller frees each string and the arrays), or -1. */
int params_file_load(const char *path, char ***names, char ***values, struct pos **pos, size_t *n,
		     struct rb_error *err);

#endif
