/* search.h — where runbooks and modules are found.
 *
 * Modules: each RUNBOOK_PATH folder, the runbook's modules/ and folder,
 * its ../stdlib, then the installed share/runbook/stdlib.
 * Runbooks by name: each RUNBOOK_PATH folder (and its runbooks/),
 * ./runbooks, the runbooks/ beside the binary's ../, then the installed
 * share/runbook/runbooks. */
#ifndef RB_SEARCH_H
#define RB_SEARCH_H

#ifndef RUNBOOK_DATADIR
#define RUNBOOK_DATADIR "/usr/local/share/runbook"
#endif

/* Returns a malloc'ed path to NAME.yml (or .yaml), or NULL. */
char *module_find(const char *name, const char *fromdir);

/* Remembers where the binary is (argv[0]), for the in-tree search. */
void search_set_argv0(const char *argv0);

#endif
