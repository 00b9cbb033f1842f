/* cmd_inspect.c — looking at runs without changing them: `runbook status`
 * (recent runs, or one run step by step with what resume would do next),
 * `runbook log` (the steps' output) and `runbook lock` (who holds a
 * target, and --break).  Everything here reads the journal and the run
 * folder; secrets were never written there, so nothing needs masking. */
#include "cli.h"
#include "engine.h"
#include "inventory.h"
#include "json.h"
#include "lock.h"
#include "remote.h"
#include "runs.h"
#include "rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool want_json(const struct opts *o)
{
	return o->format && !strcmp(o->format, "json");
}

static void local_time(long long ms, char *buf, size_t n)
{
	if (!ms) {
		snprintf(buf, n, "?");
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static long long run_duration(const struct run_state *rs)
{
	return rs->last_ms && rs->epoch_ms && rs->last_ms >= rs->epoch_ms ? rs->last_ms - rs->epoch_ms : 0;
}

/* --- what resume would do ------------------------------------------------- */

/* Did a step with an undo complete?  (Then going back is an option.) */
static bool undoable(const struct run_state *rs)
{
	for (size_t k = 0; k < rs->nplan; k++)
		for (size_t h = 0; rs->plan[k].undo && h < rs->plan[k].hosts->n; h++) {
			const struct jv *hv = &rs->plan[k].hosts->v[h];
			const struct step_state *s = run_state_step(rs, rs->plan[k].id, hv->t == JV_STR ? hv->s : "");
			if (s && !strcmp(s->status, "ok"))
				return true;
		}
	return false;
}

/* One sentence: the first step resume would act on, and how.  Written
 * from the recorded plan, so it needs neither the runbook nor secrets. */
static char *next_action(const struct run_info *ri)
{
	const struct run_state *rs = &ri->rs;
	bool can_undo = undoable(rs);
	if (ri->live)
		return xstrdup("nothing: the run is still going (see 'runbook lock')");
	if (!strcmp(ri->state, "rolled back"))
		return xstrdup("nothing: the run was rolled back");
	if (rs->rollback == RB_DONE)
		return xasprintf("finish the finally steps ('runbook resume %s'): the rollback is done", ri->id);
	if (!strcmp(ri->state, "succeeded"))
		return can_undo ? xasprintf("nothing: the run succeeded ('runbook rollback %s' would undo it)", ri->id)
				: xstrdup("nothing: the run succeeded");
	if (rs->rollback == RB_OPEN) {
		for (size_t i = rs->nundos; i-- > 0;) {
			const struct step_state *u = &rs->undos[i];
			if (!strcmp(u->status, "failed"))
				return xasprintf("retry the undo %s of %s, which failed, then undo the rest ('runbook resume "
						 "%s' or 'runbook rollback %s')", u->id, u->of, ri->id, ri->id);
			if (!strcmp(u->status, "started") || !strcmp(u->status, "interrupted"))
				return xasprintf("go on with the rollback ('runbook resume %s'): the undo %s of %s was "
						 "interrupted, and its check (if it has one) decides whether it runs again",
						 ri->id, u->id, u->of);
			if (!strcmp(u->status, "paused"))
				return xasprintf("go on with the rollback ('runbook resume %s'): ask the confirmation "
						 "of %s again", ri->id, u->id);
		}
		return xasprintf("go on with the rollback ('runbook resume %s'), never forward", ri->id);
	}
	if (!rs->pre_passed)
		return xstrdup("check the preconditions again, then run the steps from the first");
	int todo = 0;
	const struct jplan *first = NULL;
	const char *how = NULL, *host = NULL;
	for (size_t k = 0; k < rs->nplan; k++) {
		const struct jplan *e = &rs->plan[k];
		if (e->phase != 1)
			continue;
		for (size_t h = 0; h < e->hosts->n; h++) {
			const char *hn = e->hosts->v[h].t == JV_STR ? e->hosts->v[h].s : "";
			const struct step_state *s = run_state_step(rs, e->id, hn);
			if (step_state_done(s))
				continue;
			todo++;
			if (first)
				continue;
			first = e;
			host = e->hosts->n > 1 ? hn : NULL;
			if (!s)
				how = "run it";
			else if (!strcmp(s->status, "failed"))
				how = "retry it (it failed)";
			else if (!strcmp(s->status, "paused"))
				how = "ask its confirmation again";
			else if (strcmp(e->kind ? e->kind : "", "run"))
				how = "run it again (it was interrupted)";
			else if (e->check)
				how = "it was interrupted: its check decides whether it runs again";
			else
				how = "it was interrupted and has no check: resume asks whether to run it again "
				      "(or --rerun-interrupted)";
		}
	}
	if (!first)
		return xstrdup(rs->finally_open ? "finish the finally steps" : "run the finally steps and end the run");
	char more[48] = "";
	if (todo > 1)
		snprintf(more, sizeof(more), "; then %d more", todo - 1);
	/* killed between a failure and its rollback: resume rolls back (the
	 * journals of older versions name no on_failure: the default) */
	const char *onf = jv_str(rs->start, "on_failure");
	if (can_undo && !strcmp(how, "retry it (it failed)") && !(onf && !strcmp(onf, "stop")))
		return xasprintf("roll back ('runbook resume %s'): step %d (%s) failed and its rollback (on_failure: "
				 "rollback) never began", ri->id, first->number, first->id);
	return xasprintf("step %d (%s)%s%s: %s%s%s%s", first->number, first->id, host ? " @" : "", host ? host : "",
			 how, more, can_undo ? " \xe2\x80\x94 or undo what was done: runbook rollback " : "",
			 can_undo ? ri->id : "");
}

/* --- status ------------------------------------------------------------------ */

/* A step started and never ended is running while its run lives, and
 * was interrupted otherwise. */
static const char *step_state_name(const struct run_info *ri, const struct step_state *s)
{
	if (!s)
		return "not run";
	if (!strcmp(s->status, "started"))
		return ri->live ? "running" : "interrupted";
	return s->status;
}

/* What the rollback did about forward step e on host: "" when no
 * rollback began or the step had not completed. */
static const char *undo_state_name(const struct run_info *ri, const struct jplan *e, const char *host,
				   const struct step_state *s)
{
	const struct run_state *rs = &ri->rs;
	if (rs->rollback == RB_NONE || e->phase != 1 || !s || strcmp(s->status, "ok"))
		return "";
	if (!e->undo)
		return "no undo";
	bool any = false, failed = false, running = false, paused = false, all_done = true;
	for (size_t i = 0; i < rs->nundos; i++) {
		const struct step_state *u = &rs->undos[i];
		if (strcmp(u->of, e->undo) || strcmp(u->for_host, host))
			continue;
		any = true;
		failed |= !strcmp(u->status, "failed");
		running |= !strcmp(u->status, "started") || !strcmp(u->status, "interrupted");
		paused |= !strcmp(u->status, "paused");
		all_done &= step_state_done(u);
	}
	if (!any)
		return rs->rollback == RB_DONE ? "not undone" : "to undo";
	if (failed)
		return "undo failed";
	if (running)
		return ri->live ? "undoing" : "interrupted";
	if (paused)
		return "paused";
	return all_done ? "undone" : "undoing";
}

static void json_run_summary(struct json *j, const struct run_info *ri)
{
	json_kstr(j, "run", ri->id);
	json_kstr(j, "state", ri->state);
	if (!ri->replayed) {
		json_kstr(j, "error", ri->error);
		return;
	}
	const struct run_state *rs = &ri->rs;
	json_kstr(j, "runbook", rs->runbook);
	json_kstr(j, "target", rs->target);
	json_kint(j, "started_ms", rs->epoch_ms);
	json_kint(j, "duration_ms", run_duration(rs));
	json_kstr(j, "user", rs->user);
	json_kstr(j, "machine", rs->machine);
	json_kint(j, "resumes", rs->resumes);
	if (rs->end)
		json_kint(j, "exit", rs->exit_code);
}

static int status_list(const struct opts *o, const char *state)
{
	struct run_info *v;
	size_t n = runs_list(state, &v);
	size_t shown = o->all || n < 20 ? n : 20;
	if (want_json(o)) {
		struct json doc = {0}, runs = {0};
		json_begin_array(&runs);
		for (size_t i = 0; i < shown; i++) {
			struct json j = {0};
			json_begin(&j);
			json_run_summary(&j, &v[i]);
			json_add_raw(&runs, json_end(&j));
			json_release(&j);
		}
		json_begin(&doc);
		json_kraw(&doc, "runs", json_end(&runs));
		json_kint(&doc, "total", (long long)n);
		printf("%s\n", json_end(&doc));
		json_release(&runs);
		json_release(&doc);
	} else if (!n) {
		printf("no runs recorded in %s\n", state);
	} else {
		printf("%-44s %-20s %-12s %-19s %-19s %s\n", "RUN", "RUNBOOK", "TARGET", "STATE", "STARTED",
		       "DURATION");
		for (size_t i = 0; i < shown; i++) {
			const struct run_info *ri = &v[i];
			char when[32] = "?", dur[32] = "";
			if (ri->replayed) {
				local_time(ri->rs.epoch_ms, when, sizeof(when));
				format_duration(dur, sizeof(dur), run_duration(&ri->rs));
			}
			printf("%-44s %-20s %-12s %-19s %-19s %s\n", ri->id, ri->replayed ? ri->rs.runbook : "?",
			       ri->replayed ? ri->rs.target : "?", ri->state, when, dur);
		}
		if (shown < n)
			printf("(%zu older runs not shown: --all lists them)\n", n - shown);
	}
	runs_free(v, n);
	return 0;
}

static void captures_text(const struct step_state *s, struct sbuf *sb)
{
	const struct jv *c = s && s->end ? jv_get(s->end, "captures") : NULL;
	for (size_t i = 0; c && c->t == JV_OBJ && i < c->n; i++)
		if (c->v[i].t == JV_STR)
			sbuf_addf(sb, "%s%s=%s", sb->len ? " " : "", c->k[i], c->v[i].s);
}

static int status_one(const struct opts *o, const char *state, const char *arg)
{
	struct rb_error err = {0};
	struct run_info ri = {0};
	char *id = run_find(state, arg, &err);
	if (!id || run_open(state, id, &ri, &err) < 0) {
		rb_error_print(&err, "runbook");
		rb_error_release(&err);
		free(id);
		run_info_release(&ri);
		return EXIT_BAD;
	}
	const struct run_state *rs = &ri.rs;
	char *next = next_action(&ri);
	const struct jv *params = jv_get(rs->start, "params");
	if (want_json(o)) {
		struct json j = {0};
		json_begin(&j);
		json_run_summary(&j, &ri);
		json_kstr(&j, "path", jv_str(rs->start, "path"));
		json_kstr(&j, "journal", rs->path);
		json_kint(&j, "pid", rs->pid);
		/* params: as recorded (secret ones have no value) */
		struct json ps = {0};
		json_begin_array(&ps);
		for (size_t i = 0; params && params->t == JV_ARR && i < params->n; i++) {
			struct json p = {0};
			json_begin(&p);
			json_kstr(&p, "name", jv_str(&params->v[i], "name"));
			if (jv_bool(&params->v[i], "secret"))
				json_kbool(&p, "secret", true);
			else
				json_kstr(&p, "value", jv_str(&params->v[i], "value"));
			json_kstr(&p, "source", jv_str(&params->v[i], "source"));
			json_add_raw(&ps, json_end(&p));
			json_release(&p);
		}
		json_kraw(&j, "params", json_end(&ps));
		json_release(&ps);
		struct json st = {0};
		json_begin_array(&st);
		for (size_t k = 0; k < rs->nplan; k++) {
			const struct jplan *e = &rs->plan[k];
			for (size_t h = 0; h < e->hosts->n; h++) {
				const char *hn = e->hosts->v[h].t == JV_STR ? e->hosts->v[h].s : "";
				const struct step_state *s = run_state_step(rs, e->id, hn);
				struct json sj = {0};
				json_begin(&sj);
				json_kstr(&sj, "id", e->id);
				json_kstr(&sj, "title", e->title);
				json_kint(&sj, "number", e->number);
				json_kstr(&sj, "phase", e->phase == 0 ? "preconditions" : e->phase == 2 ? "finally" : "steps");
				json_kstr(&sj, "host", hn);
				json_kstr(&sj, "state", step_state_name(&ri, s));
				if (*undo_state_name(&ri, e, hn, s))
					json_kstr(&sj, "undo", undo_state_name(&ri, e, hn, s));
				if (s) {
					json_kint(&sj, "attempts", s->attempts);
					json_kint(&sj, "duration_ms", s->ms);
					if (s->end && jv_get(s->end, "rc"))
						json_kint(&sj, "rc", s->rc);
					if (s->settled)
						json_kstr(&sj, "settled", s->settled);
					const struct jv *c = s->end ? jv_get(s->end, "captures") : NULL;
					if (c && c->t == JV_OBJ) {
						struct json cj = {0};
						json_begin(&cj);
						for (size_t i = 0; i < c->n; i++)
							if (c->v[i].t == JV_STR)
								json_kstr(&cj, c->k[i], c->v[i].s);
						json_kraw(&sj, "captures", json_end(&cj));
						json_release(&cj);
					}
					if (s->end && jv_str(s->end, "reason"))
						json_kstr(&sj, "reason", jv_str(s->end, "reason"));
				}
				json_add_raw(&st, json_end(&sj));
				json_release(&sj);
			}
		}
		json_kraw(&j, "steps", json_end(&st));
		json_release(&st);
		if (rs->rollback != RB_NONE) {
			struct json rb = {0}, us = {0};
			json_begin(&rb);
			json_kstr(&rb, "state", rs->rollback == RB_DONE ? "done" : rs->rollback_failed ? "failed" : "open");
			json_kstr(&rb, "trigger", rs->rollback_trigger);
			if (rs->rollback_step)
				json_kstr(&rb, "step", rs->rollback_step);
			json_begin_array(&us);
			for (size_t i = 0; i < rs->nundos; i++) {
				const struct step_state *u = &rs->undos[i];
				struct json uj = {0};
				json_begin(&uj);
				json_kstr(&uj, "id", u->id);
				json_kstr(&uj, "of", u->of);
				json_kstr(&uj, "host", u->host);
				json_kstr(&uj, "for", u->for_host);
				json_kstr(&uj, "state", step_state_name(&ri, u));
				json_kint(&uj, "attempts", u->attempts);
				json_kint(&uj, "duration_ms", u->ms);
				if (u->end && jv_str(u->end, "reason"))
					json_kstr(&uj, "reason", jv_str(u->end, "reason"));
				json_add_raw(&us, json_end(&uj));
				json_release(&uj);
			}
			json_kraw(&rb, "undos", json_end(&us));
			json_release(&us);
			json_kraw(&j, "rollback", json_end(&rb));
			json_release(&rb);
		}
		json_kstr(&j, "next", next);
		printf("%s\n", json_end(&j));
		json_release(&j);
	} else {
		char when[32], dur[32];
		local_time(rs->epoch_ms, when, sizeof(when));
		format_duration(dur, sizeof(dur), run_duration(rs));
		printf("run %s\n", ri.id);
		printf("  runbook   %s (%s)\n", rs->runbook, jv_str(rs->start, "path") ? jv_str(rs->start, "path") : "?");
		printf("  target    %s\n", rs->target);
		printf("  state     %s%s\n", ri.state,
		       !rs->end && !ri.live ? " (no end recorded: the process was killed or the machine stopped)" : "");
		printf("  started   %s by %s@%s, pid %lld; %s recorded%s", when, rs->user ? rs->user : "?",
		       rs->machine ? rs->machine : "?", rs->pid, dur, rs->resumes ? "" : "\n");
		if (rs->resumes)
			printf("; resumed %d time%s\n", rs->resumes, rs->resumes > 1 ? "s" : "");
		struct sbuf pl = {0};
		for (size_t i = 0; params && params->t == JV_ARR && i < params->n; i++) {
			const struct jv *p = &params->v[i];
			if (!jv_str(p, "name"))
				continue;
			if (jv_bool(p, "secret"))
				sbuf_addf(&pl, "%s%s=*** (%s)", pl.len ? ", " : "", jv_str(p, "name"),
					  jv_str(p, "source") ? jv_str(p, "source") : "?");
			else if (jv_str(p, "value"))
				sbuf_addf(&pl, "%s%s=%s", pl.len ? ", " : "", jv_str(p, "name"), jv_str(p, "value"));
		}
		if (pl.len)
			printf("  params    %s\n", sbuf_str(&pl));
		sbuf_release(&pl);
		printf("  journal   %s (%zu records%s)\n\n", rs->path, rs->nrecs,
		       rs->torn_line ? ", a torn last record ignored" : "");
		bool rb = rs->rollback != RB_NONE;
		/* after a rollback, what became of each step beside its state */
		if (rb)
			printf("  %-8s %-28s %-12s %-17s %-12s %8s %9s  %s\n", "STEP", "ID", "HOST", "STATE", "UNDO",
			       "ATTEMPTS", "DURATION", "CAPTURES");
		else
			printf("  %-8s %-28s %-12s %-17s %8s %9s  %s\n", "STEP", "ID", "HOST", "STATE", "ATTEMPTS",
			       "DURATION", "CAPTURES");
		for (size_t k = 0; k < rs->nplan; k++) {
			const struct jplan *e = &rs->plan[k];
			for (size_t h = 0; h < e->hosts->n; h++) {
				const char *hn = e->hosts->v[h].t == JV_STR ? e->hosts->v[h].s : "";
				const struct step_state *s = run_state_step(rs, e->id, hn);
				char num[24], d[32] = "", att[16] = "";
				if (e->phase == 0)
					snprintf(num, sizeof(num), "pre");
				else
					snprintf(num, sizeof(num), "%s%d", e->phase == 2 ? "fin " : "", e->number);
				if (s && s->end && !!strcmp(s->status, "skipped"))
					format_duration(d, sizeof(d), s->ms);
				if (s && s->attempts)
					snprintf(att, sizeof(att), "%d", s->attempts);
				struct sbuf caps = {0};
				captures_text(s, &caps);
				const char *stname = step_state_name(&ri, s);
				if (s && s->settled)
					sbuf_addf(&caps, "%s(settled by its %s)", caps.len ? " " : "",
						  !strcmp(s->settled, "check") ? "check" : "operator");
				if (rb)
					printf("  %-8s %-28s %-12s %-17s %-12s %8s %9s  %s\n", num, e->id, hn, stname,
					       undo_state_name(&ri, e, hn, s), att, d, sbuf_str(&caps));
				else
					printf("  %-8s %-28s %-12s %-17s %8s %9s  %s\n", num, e->id, hn, stname, att, d,
					       sbuf_str(&caps));
				const char *why = s && s->end ? jv_str(s->end, "reason") : NULL;
				if (why && strcmp(stname, "ok") && strcmp(stname, "skipped"))
					printf("  %-8s %s\n", "", why);
				sbuf_release(&caps);
			}
		}
		if (rb) {
			bool by_op = rs->rollback_trigger && !strcmp(rs->rollback_trigger, "operator");
			printf("\n  rollback  %s%s%s%s; %s\n", by_op ? "asked by the operator" : "after the failure",
			       rs->rollback_step ? (by_op ? " (the run had failed at " : " of ") : "",
			       rs->rollback_step ? rs->rollback_step : "", rs->rollback_step && by_op ? ")" : "",
			       rs->rollback == RB_DONE ? "done"
			       : rs->rollback_failed ? "an undo FAILED: needs a human"
			       : ri.live ? "in progress" : "not finished");
			if (rs->nundos)
				printf("  %-8s %-28s %-12s %-17s %-12s %8s %9s\n", "", "UNDO", "HOST", "STATE", "OF", "ATTEMPTS",
				       "DURATION");
			for (size_t i = 0; i < rs->nundos; i++) {
				const struct step_state *u = &rs->undos[i];
				char d[32] = "", att[16] = "";
				if (u->end && strcmp(u->status, "skipped"))
					format_duration(d, sizeof(d), u->ms);
				if (u->attempts)
					snprintf(att, sizeof(att), "%d", u->attempts);
				printf("  %-8s %-28s %-12s %-17s %-12s %8s %9s\n", "", u->id, u->host, step_state_name(&ri, u),
				       u->of, att, d);
				const char *why = u->end ? jv_str(u->end, "reason") : NULL;
				if (why && strcmp(u->status, "ok") && strcmp(u->status, "skipped"))
					printf("  %-8s %s\n", "", why);
			}
		}
		printf("\nnext: %s\n", next);
	}
	free(next);
	free(id);
	run_info_release(&ri);
	rb_error_release(&err);
	return 0;
}

int cmd_status(struct opts *o)
{
	if (o->nargs > 2)
		return bad_usage("'status' takes at most one run id");
	if (o->format && !strcmp(o->format, "markdown"))
		return bad_usage("'status' writes text or json, not markdown");
	char *state = state_dir_path(o->state_dir);
	int rc = o->nargs == 2 ? status_one(o, state, o->args[1]) : status_list(o, state);
	free(state);
	return rc;
}

/* --- log ------------------------------------------------------------------------ */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* NN-ID.log or NN-ID@HOST.log: does it belong to step (an id or a number)? */
static bool log_matches(const char *file, const char *step)
{
	const char *dash = strchr(file, '-');
	if (!dash)
		return false;
	if (!step)
		return true;
	char *end;
	long n = strtol(step, &end, 10);
	if (*step && !*end)
		return strtol(file, NULL, 10) == n && dash != file;
	const char *id = dash + 1;
	size_t len = strcspn(id, "@");
	if (!id[len])
		len = strlen(id) - 4; /* ".log" */
	return strlen(step) == len && !strncmp(id, step, len);
}

static void json_stream_file(FILE *out, int fd)
{
	/* bytes go out as they are read: memory stays flat for big logs */
	char buf[65536 + 4];
	size_t carry = 0;
	ssize_t r;
	fputc('"', out);
	while ((r = read(fd, buf + carry, 65536)) > 0 || carry) {
		size_t n = carry + (size_t)(r > 0 ? r : 0);
		struct sbuf sb = {0};
		size_t used = json_quote_bytes(&sb, buf, n, r > 0);
		fwrite(sb.buf ? sb.buf : "", 1, sb.len, out);
		sbuf_release(&sb);
		carry = n - used;
		memmove(buf, buf + used, carry);
		if (r <= 0)
			break;
	}
	fputc('"', out);
}

int cmd_log(struct opts *o)
{
	if (o->nargs < 2 || o->nargs > 3)
		return bad_usage("usage: runbook log RUN [STEP]");
	if (o->format && !strcmp(o->format, "markdown"))
		return bad_usage("'log' writes text or json, not markdown");
	struct rb_error err = {0};
	char *state = state_dir_path(o->state_dir);
	char *id = run_find(state, o->args[1], &err);
	int code = EXIT_BAD;
	char **files = NULL;
	size_t n = 0, cap = 0;
	char *dir = NULL;
	if (!id)
		goto out;
	dir = xasprintf("%s/runs/%s/logs", state, id);
	DIR *d = opendir(dir);
	if (!d) {
		rb_error_add(&err, "cannot read %s: %s", dir, strerror(errno));
		goto out;
	}
	const char *step = o->nargs == 3 ? o->args[2] : NULL;
	struct dirent *e;
	while ((e = readdir(d)))
		if (str_has_suffix(e->d_name, ".log") && log_matches(e->d_name, step))
			VEC_PUSH(files, n, cap, xstrdup(e->d_name));
	closedir(d);
	if (n)
		qsort(files, n, sizeof(char *), cmp_names);
	if (!n) {
		rb_error_add(&err, step ? "run %s has no log for step '%s' (steps that never started have none)"
				       : "run %s has no step logs yet%s",
			     id, step ? step : "");
		goto out;
	}
	if (want_json(o))
		printf("{\"run\":\"%s\",\"logs\":[", id);
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, files[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rb_error_add(&err, "cannot read %s: %s", path, strerror(errno));
			free(path);
			continue;
		}
		if (want_json(o)) {
			struct sbuf sb = {0};
			sbuf_adds(&sb, i ? "," : "");
			sbuf_adds(&sb, "{\"file\":");
			json_quote(&sb, files[i]);
			sbuf_adds(&sb, ",\"text\":");
			fputs(sbuf_str(&sb), stdout);
			sbuf_release(&sb);
			json_stream_file(stdout, fd);
			fputc('}', stdout);
		} else {
			if (n > 1)
				printf("%s==> %s <==\n", i ? "\n" : "", files[i]);
			fflush(stdout);
			char buf[65536];
			ssize_t r;
			while ((r = read(fd, buf, sizeof(buf))) > 0)
				if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r)
					break;
		}
		close(fd);
		free(path);
	}
	if (want_json(o))
		printf("]}\n");
	code = fflush(stdout) == 0 && !err.n ? 0 : EXIT_FAILED;
out:
	if (err.n)
		rb_error_print(&err, "runbook");
	rb_error_release(&err);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	free(dir);
	free(id);
	free(state);
	return code;
}

/* --- lock ----------------------------------------------------------------------- */

int cmd_lock(struct opts *o)
{
	if (o->nargs != 2 || !o->args[1][0])
		return bad_usage("usage: runbook lock TARGET [--break]");
	const char *target = o->args[1];
	char *state = state_dir_path(o->state_dir);
	struct rb_error err = {0};
	const char **hosts = NULL;
	size_t n = 0, cap = 0;
	struct inventory *inv = NULL;
	if (o->inventory && !(inv = inventory_load(o->inventory, &err))) {
		rb_error_print(&err, "runbook");
		rb_error_release(&err);
		free(state);
		return EXIT_BAD;
	}
	for (size_t g = 0; inv && g < inv->ngroups; g++)
		if (!strcmp(inv->groups[g].name, target))
			for (size_t m = 0; m < inv->groups[g].n; m++)
				VEC_PUSH(hosts, n, cap, inv->groups[g].members[m]);
	if (!n)
		VEC_PUSH(hosts, n, cap, target);
	int code = 0;
	for (size_t i = 0; i < n; i++) {
		bool live;
		char *who = lock_describe(state, hosts[i], &live, NULL);
		if (!who)
			printf("%s: not locked\n", hosts[i]);
		else if (!o->brk)
			printf("%s: %s %s\n", hosts[i], live ? "locked by" : "stale lock (its process is gone; the next run takes it over), left by", who);
		if (o->brk && who) {
			if (lock_break(state, hosts[i]) < 0) {
				if (errno == EBUSY) {
					fprintf(stderr, "runbook: '%s' is held by %s, a process that is still running: a lock "
							"cannot be broken under it; stop that process (its lock goes with it), "
							"then resume its run\n", hosts[i], who);
					code = EXIT_BAD;
				} else {
					fprintf(stderr, "runbook: cannot break the lock on '%s': %s\n", hosts[i], strerror(errno));
					code = EXIT_FAILED;
				}
				free(who);
				continue;
			}
			printf("%s: lock broken (it was left by %s)\n", hosts[i], who);
		}
		free(who);
		/* an SSH host of the inventory: its lock on the host too */
		for (size_t k = 0; inv && k < inv->nhosts; k++) {
			if (strcmp(inv->hosts[k].name, hosts[i]) || inv->hosts[k].local)
				continue;
			struct host *h = host_new(&inv->hosts[k]);
			if (remote_lock_show(h, o->brk, &err) < 0) {
				rb_error_print(&err, "runbook");
				rb_error_release(&err);
				code = code ? code : EXIT_PRECOND;
			}
			host_free(h);
		}
	}
	free(hosts);
	inventory_free(inv);
	free(state);
	return code;
}
