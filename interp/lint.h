/* lint.h — `runbook lint`: what a careful reviewer of a runbook or a
 * module would point out, beyond the errors loading already reports
 * (check.c).  Needs no param values: it reads the checked AST only.
 * Each warning is added to err with its file:line:col (rb_warn_at). */
#ifndef RB_LINT_H
#define RB_LINT_H

#include "runbook.h"

void lint_runbook(const struct runbook *rb, struct rb_error *err);
void lint_module(const struct module *m, struct rb_error *err);

#endif
