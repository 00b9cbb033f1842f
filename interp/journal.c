/* journal.c — see journal.h. */
#include "journal.h"

#include "fault.h"

#include "hash.h"
#include "rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ",\"crc\":\"xxxxxxxx\"}" ends every record */
#define CRC_TAIL 18

static uint32_t seed_of(const char *nonce)
{
	return crc32_update(0, nonce, strlen(nonce));
}

const char *machine_name(void)
{
	static char name[256];
	if (!name[0] && gethostname(name, sizeof(name) - 1) < 0)
		strcpy(name, "unknown");
	return name;
}

const char *boot_id(void)
{
	static char id[64];
	if (!id[0]) {
		char *s = NULL;
		size_t n;
		if (read_file("/proc/sys/kernel/random/boot_id", &s, &n) == 0) {
			snprintf(id, sizeof(id), "%.*s", (int)strcspn(s, "\n"), s);
			free(s);
		}
		if (!id[0])
			strcpy(id, "unknown");
	}
	return id;
}

const char *user_name(void)
{
	static char name[128];
	if (!name[0]) {
		struct passwd *pw = getpwuid(geteuid());
		const char *u = pw ? pw->pw_name : getenv("USER");
		snprintf(name, sizeof(name), "%s", u && *u ? u : "unknown");
	}
	return name;
}

int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int fsync_parent(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int rc = fsync_dir(dir);
	free(dir);
	return rc;
}

/* --- writing ------------------------------------------------------------- */

int journal_create(struct journal *jn, const char *run_dir, struct rb_error *err)
{
	memset(jn, 0, sizeof(*jn));
	jn->path = xasprintf("%s/journal.jsonl", run_dir);
	jn->fd = open(jn->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (jn->fd < 0) {
		rb_error_add(err, "cannot create the journal %s: %s", jn->path, strerror(errno));
		free(jn->path);
		jn->path = NULL;
		return -1;
	}
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		long long t = now_ms() ^ (long long)getpid() << 20;
		memcpy(rnd, &t, sizeof(rnd));
	}
	for (int i = 0; i < 8; i++)
		snprintf(jn->nonce + 2 * i, 3, "%02x", rnd[i]);
	jn->seed = seed_of(jn->nonce);
	jn->rec.exact = true;
	return 0;
}

int journal_reopen(struct journal *jn, const struct run_state *rs, struct rb_error *err)
{
	memset(jn, 0, sizeof(*jn));
	jn->path = xstrdup(rs->path);
	jn->fd = open(jn->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (jn->fd < 0) {
		rb_error_add(err, "cannot open the journal %s: %s", jn->path, strerror(errno));
		free(jn->path);
		jn->path = NULL;
		return -1;
	}
	/* The file must be what was replayed: another writer would make our
	 * sequence numbers (and the cut below) wrong. */
	struct stat st;
	if (fstat(jn->fd, &st) < 0 || st.st_size != rs->good_len + (off_t)rs->torn_bytes) {
		rb_error_add(err, "%s changed since it was read (another process is writing it?)", jn->path);
		journal_close(jn);
		return -1;
	}
	/* A torn tail would sit in the middle once we append: cut it off. */
	if (rs->torn_line && (ftruncate(jn->fd, rs->good_len) < 0 || fdatasync(jn->fd) < 0)) {
		rb_error_add(err, "cannot cut the torn last record off %s: %s", jn->path, strerror(errno));
		journal_close(jn);
		return -1;
	}
	memcpy(jn->nonce, rs->nonce, sizeof(jn->nonce));
	jn->seed = seed_of(jn->nonce);
	jn->seq = rs->nrecs ? rs->recs[rs->nrecs - 1].seq : 0;
	jn->rec.exact = true;
	return 0;
}

struct json *journal_begin(struct journal *jn, const char *event)
{
	char t[40];
	iso_time_now(t, sizeof(t));
	json_begin(&jn->rec);
	json_kint(&jn->rec, "seq", jn->seq + 1);
	json_kstr(&jn->rec, "time", t);
	json_kstr(&jn->rec, "event", event);
	if (!strcmp(event, "run_start"))
		json_kstr(&jn->rec, "nonce", jn->nonce);
	return &jn->rec;
}

int journal_commit(struct journal *jn, bool sync)
{
	if (jn->off)
		return 0;
	if (jn->fd < 0 || jn->error) {
		if (!jn->error)
			jn->error = EBADF;
		return -1;
	}
	/* the CRC covers the record up to its last member */
	struct sbuf *sb = &jn->rec.sb;
	uint32_t crc = crc32_update(jn->seed, sb->buf, sb->len);
	sbuf_addf(sb, ",\"crc\":\"%08x\"}\n", crc);
	/* a failed write may leave part of the record: replay drops a torn
	 * last line, and nothing more is appended after it */
	if (write_full(jn->fd, sb->buf, sb->len, FP_JOURNAL_WRITE) < 0) {
		jn->error = errno;
		return -1;
	}
	if (sync && (fdatasync(jn->fd) < 0 || (errno = fault_hit(FP_JOURNAL_SYNC)) != 0)) {
		jn->error = errno;
		return -1;
	}
	jn->seq++;
	if (jn->mirror)
		jn->mirror(jn->mirror_ctx, sb->buf, sb->len);
	return 0;
}

void journal_close(struct journal *jn)
{
	if (jn->fd >= 0)
		close(jn->fd);
	jn->fd = -1;
	free(jn->path);
	jn->path = NULL;
	json_release(&jn->rec);
}

/* --- replay -------------------------------------------------------------- */

/* Checks one line (without its newline): CRC, JSON, sequence.  Returns
 * the parsed record or NULL with *why set (malloc'ed). */
static struct jv *check_line(struct run_state *rs, const char *s, size_t n, long long want_seq, char **why)
{
	if (n < CRC_TAIL + 2 || memcmp(s + n - CRC_TAIL, ",\"crc\":\"", 8) || memcmp(s + n - 2, "\"}", 2)) {
		*why = xstrdup("no CRC at the end of the line");
		return NULL;
	}
	char *perr = NULL;
	struct jv *v = json_parse(s, n, &perr);
	if (!v) {
		*why = xasprintf("not JSON (%s)", perr);
		free(perr);
		return NULL;
	}
	if (v->t != JV_OBJ) {
		*why = xstrdup("not a JSON object");
		jv_free(v);
		return NULL;
	}
	if (want_seq == 1) {
		const char *nonce = jv_str(v, "nonce");
		if (!nonce || strlen(nonce) != 16) {
			*why = xstrdup("the first record has no nonce");
			jv_free(v);
			return NULL;
		}
		memcpy(rs->nonce, nonce, 17);
	}
	char hex[9];
	memcpy(hex, s + n - 10, 8);
	hex[8] = '\0';
	uint32_t crc = crc32_update(seed_of(rs->nonce), s, n - CRC_TAIL);
	char want[9];
	snprintf(want, sizeof(want), "%08x", crc);
	if (strcmp(hex, want)) {
		*why = xasprintf("CRC mismatch (recorded %s, computed %s)", hex, want);
		jv_free(v);
		return NULL;
	}
	long long seq = jv_int(v, "seq", -1);
	if (seq != want_seq) {
		*why = xasprintf("sequence number %lld where %lld was expected", seq, want_seq);
		jv_free(v);
		return NULL;
	}
	if (!jv_str(v, "event")) {
		*why = xstrdup("the record has no event");
		jv_free(v);
		return NULL;
	}
	return v;
}

struct step_state *run_state_step(const struct run_state *rs, const char *id, const char *host)
{
	for (size_t i = rs->nsteps; i-- > 0;)
		if (!strcmp(rs->steps[i].id, id) && (!host || !strcmp(rs->steps[i].host, host)))
			return &rs->steps[i];
	return NULL;
}

bool step_state_done(const struct step_state *s)
{
	return s && (!strcmp(s->status, "ok") || !strcmp(s->status, "failed (allowed)") || !strcmp(s->status, "skipped"));
}

struct step_state *run_state_undo(const struct run_state *rs, const char *id, const char *host,
				  const char *for_host)
{
	for (size_t i = rs->nundos; i-- > 0;)
		if (!strcmp(rs->undos[i].id, id) && !strcmp(rs->undos[i].host, host) &&
		    !strcmp(rs->undos[i].for_host, for_host))
			return &rs->undos[i];
	return NULL;
}

static struct step_state *step_of(struct run_state *rs, const char *id, const char *host, size_t *cap)
{
	struct step_state *s = run_state_step(rs, id, host);
	if (s)
		return s;
	struct step_state ns = {.id = xstrdup(id), .host = xstrdup(host), .status = "started"};
	VEC_PUSH(rs->steps, rs->nsteps, *cap, ns);
	return &rs->steps[rs->nsteps - 1];
}

static struct step_state *undo_of(struct run_state *rs, const char *id, const char *host, const char *of,
				  const char *for_host, size_t *cap)
{
	struct step_state *s = run_state_undo(rs, id, host, for_host);
	if (s)
		return s;
	struct step_state ns = {.id = xstrdup(id), .host = xstrdup(host), .status = "started", .of = of,
				.for_host = for_host};
	VEC_PUSH(rs->undos, rs->nundos, *cap, ns);
	return &rs->undos[rs->nundos - 1];
}

/* step_start/_pid/_end/_skip and their undo_ twins: what the record
 * (named by its suffix) says about s. */
static void apply_leaf_record(struct step_state *s, const char *what, const struct jv *v, int phase)
{
	if (!strcmp(what, "start")) {
		s->phase = phase;
		s->status = "started";
		s->attempts = (int)jv_int(v, "attempt", 1);
		s->pgid = 0;
		s->end = NULL;
		s->settled = NULL;
	} else if (!strcmp(what, "pid")) {
		s->pgid = jv_int(v, "pgid", 0);
	} else if (!strcmp(what, "end")) {
		const char *st = jv_str(v, "status");
		static const char *const known[] = {"ok", "failed", "failed (allowed)", "interrupted", "paused"};
		s->status = "failed";
		for (size_t k = 0; st && k < ARRAY_LEN(known); k++)
			if (!strcmp(st, known[k]))
				s->status = known[k];
		s->phase = phase;
		s->rc = (int)jv_int(v, "rc", -1);
		s->attempts = (int)jv_int(v, "attempts", s->attempts);
		s->ms = jv_int(v, "duration_ms", 0);
		s->end = v;
		s->settled = jv_str(v, "settled");
	} else if (!strcmp(what, "skip")) {
		s->phase = phase;
		s->status = "skipped";
		s->group = jv_bool(v, "group");
		s->end = v;
	}
}

static void take_files(struct run_state *rs, const struct jv *files)
{
	if (!files || files->t != JV_ARR)
		return;
	free(rs->files);
	rs->files = xcalloc(files->n + 1, sizeof(*rs->files));
	rs->nfiles = 0;
	for (size_t i = 0; i < files->n; i++) {
		const struct jv *f = &files->v[i];
		struct jfile jf = {jv_str(f, "role"), jv_str(f, "name"), jv_str(f, "path"), jv_str(f, "sha256"),
				   jv_str(f, "copy")};
		if (jf.role && jf.path && jf.sha256)
			rs->files[rs->nfiles++] = jf;
	}
}

static void take_plan(struct run_state *rs, const struct jv *plan)
{
	if (!plan || plan->t != JV_ARR)
		return;
	free(rs->plan);
	rs->plan = xcalloc(plan->n + 1, sizeof(*rs->plan));
	rs->nplan = 0;
	for (size_t i = 0; i < plan->n; i++) {
		const struct jv *e = &plan->v[i];
		struct jplan jp = {jv_str(e, "id"), jv_str(e, "title"), jv_str(e, "kind"),
				   (int)jv_int(e, "number", 0), (int)jv_int(e, "phase", 1), jv_bool(e, "check"),
				   jv_get(e, "hosts"), jv_str(e, "undo")};
		if (jp.id && jp.hosts && jp.hosts->t == JV_ARR)
			rs->plan[rs->nplan++] = jp;
	}
}

static long long epoch_of(const char *iso)
{
	struct tm tm = {0};
	int ms = 0;
	if (!iso || sscanf(iso, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
			   &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000 + ms;
}

/* Folds the records into the state.  0, or -1 with err set. */
static int fold(struct run_state *rs, struct rb_error *err)
{
	size_t cap = 0, ucap = 0;
	int phase = 0;
	for (size_t i = 0; i < rs->nrecs; i++) {
		struct jrec *r = &rs->recs[i];
		const struct jv *v = r->v;
		const char *ev = r->event;
		rs->last_ms = epoch_of(jv_str(v, "time"));
		if (i == 0) {
			if (strcmp(ev, "run_start")) {
				rb_error_add(err, "%s:%d: the first record is '%s', not run_start", rs->path, r->line, ev);
				return -1;
			}
			rs->start = v;
			rs->run_id = jv_str(v, "run");
			rs->runbook = jv_str(v, "runbook");
			rs->target = jv_str(v, "target");
			rs->user = rs->last_machine = NULL;
			rs->user = jv_str(v, "user");
			rs->machine = rs->last_machine = jv_str(v, "machine");
			rs->boot_id = rs->last_boot = jv_str(v, "boot_id");
			rs->pid = rs->last_pid = jv_int(v, "pid", 0);
			rs->epoch_ms = jv_int(v, "epoch_ms", 0);
			take_files(rs, jv_get(v, "files"));
			take_plan(rs, jv_get(v, "plan"));
			if (!rs->run_id || !rs->runbook || !rs->target) {
				rb_error_add(err, "%s:%d: run_start lacks run, runbook or target", rs->path, r->line);
				return -1;
			}
			continue;
		}
		if (!strcmp(ev, "run_start")) {
			rb_error_add(err, "%s:%d: a second run_start record", rs->path, r->line);
			return -1;
		}
		if (!strcmp(ev, "resume")) {
			rs->resumes++;
			rs->end = NULL;
			rs->exit_code = -1;
			rs->last_pid = jv_int(v, "pid", 0);
			rs->last_machine = jv_str(v, "machine");
			rs->last_boot = jv_str(v, "boot_id");
			take_files(rs, jv_get(v, "files"));
			take_plan(rs, jv_get(v, "plan"));
			phase = rs->pre_passed ? 1 : 0;
			continue;
		}
		if (!strcmp(ev, "run_end")) {
			rs->end = v;
			rs->exit_code = (int)jv_int(v, "exit", 1);
			/* a run paused or interrupted inside finally has not ended:
			 * its finally steps keep their state */
			if (rs->exit_code != 4 && rs->exit_code != 130)
				rs->finally_open = false;
			continue;
		}
		if (!strcmp(ev, "phase")) {
			const char *ph = jv_str(v, "phase");
			if (ph && !strcmp(ph, "steps")) {
				rs->pre_passed = true;
				phase = 1;
			} else if (ph && !strcmp(ph, "finally")) {
				rs->finally_open = true;
				phase = 2;
			} else if (ph && !strcmp(ph, "rollback")) {
				if (rs->rollback == RB_NONE) {
					rs->rollback_trigger = jv_str(v, "trigger");
					rs->rollback_step = jv_str(v, "step");
				}
				rs->rollback = RB_OPEN;
				rs->rollback_failed = false;
				phase = 3;
			}
			continue;
		}
		if (!strcmp(ev, "rollback_end")) {
			const char *st = jv_str(v, "status");
			if (st && !strcmp(st, "done"))
				rs->rollback = RB_DONE;
			else
				rs->rollback_failed = true;
			continue;
		}
		const char *step = jv_str(v, "step");
		if (!strcmp(ev, "precondition") || !strncmp(ev, "step_", 5) || !strncmp(ev, "confirm_", 8) ||
		    !strcmp(ev, "group_enter") || !strncmp(ev, "undo_", 5)) {
			if (!step) {
				rb_error_add(err, "%s:%d: a %s record without its step", rs->path, r->line, ev);
				return -1;
			}
		}
		const char *host = jv_str(v, "host");
		if (!host)
			host = "";
		if (!strcmp(ev, "precondition")) {
			struct step_state *s = step_of(rs, step, host, &cap);
			s->phase = 0;
			s->status = !strcmp(jv_str(v, "status") ? jv_str(v, "status") : "", "ok") ? "ok" : "failed";
		} else if (!strncmp(ev, "step_", 5)) {
			apply_leaf_record(step_of(rs, step, host, &cap), ev + 5, v, phase);
		} else if (!strncmp(ev, "undo_", 5)) {
			const char *of = jv_str(v, "of"), *for_host = jv_str(v, "for");
			if (!of || !for_host) {
				rb_error_add(err, "%s:%d: an %s record without of/for", rs->path, r->line, ev);
				return -1;
			}
			apply_leaf_record(undo_of(rs, step, host, of, for_host, &ucap), ev + 5, v, 3);
		} else if (!strcmp(ev, "group_enter")) {
			struct step_state *s = step_of(rs, step, "", &cap);
			s->phase = phase;
			s->status = "entered";
			s->group = true;
		}
		/* confirm_ask/confirm_answer are for the reader; the step's own
		 * start and end carry its state */
	}
	return 0;
}

int journal_replay(const char *path, struct run_state *rs, struct rb_error *err)
{
	memset(rs, 0, sizeof(*rs));
	rs->path = xstrdup(path);
	rs->exit_code = -1;
	char *buf;
	size_t len;
	if (read_file(path, &buf, &len) < 0) {
		rb_error_add(err, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 0, off = 0;
	int line = 0;
	int rc = 0;
	while (off < len) {
		line++;
		const char *s = buf + off;
		const char *nl = memchr(s, '\n', len - off);
		size_t n = nl ? (size_t)(nl - s) : len - off;
		bool last = !nl || off + n + 1 >= len;
		char *why = NULL;
		struct jv *v = NULL;
		if (nl)
			v = check_line(rs, s, n, (long long)rs->nrecs + 1, &why);
		else
			why = xstrdup("the line is not complete");
		/* A torn write leaves a line without its newline, or (power lost
		 * while the pages were half on disk) one with NUL bytes in it.
		 * A complete line that fails is damage, not a torn write. */
		if (!v && last && nl && !memchr(s, '\0', n))
			last = false;
		if (!v) {
			if (last) {
				/* the write that made this line never finished */
				rs->torn_line = line;
				rs->torn_bytes = len - off;
				free(why);
				break;
			}
			rb_error_add(err, "%s:%d: corrupt journal record: %s; the records after it cannot be trusted", path,
				     line, why);
			free(why);
			rc = -1;
			break;
		}
		struct jrec r = {jv_int(v, "seq", 0), jv_str(v, "event"), v, line};
		VEC_PUSH(rs->recs, rs->nrecs, cap, r);
		off += n + 1;
		rs->good_len = (off_t)off;
	}
	free(buf);
	if (rc == 0 && rs->nrecs == 0) {
		rb_error_add(err, "%s: the journal holds no complete record (the run never started)", path);
		rc = -1;
	}
	if (rc == 0)
		rc = fold(rs, err);
	return rc;
}

void run_state_release(struct run_state *rs)
{
	for (size_t i = 0; i < rs->nrecs; i++)
		jv_free(rs->recs[i].v);
	free(rs->recs);
	for (size_t i = 0; i < rs->nsteps; i++) {
		free(rs->steps[i].id);
		free(rs->steps[i].host);
	}
	free(rs->steps);
	for (size_t i = 0; i < rs->nundos; i++) {
		free(rs->undos[i].id);
		free(rs->undos[i].host);
	}
	free(rs->undos);
	free(rs->files);
	free(rs->plan);
	free(rs->path);
	memset(rs, 0, sizeof(*rs));
}

/* Does the environment of process pid hold every one of tags ("K=V")?
 * 1 yes, 0 no, -1 unreadable (gone, or another user's: sudo). */
static int environ_has(const char *pid, const char *const *tags, size_t ntags)
{
	char path[300];
	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct sbuf sb = {0};
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0 && sb.len < (1u << 20))
		sbuf_add(&sb, buf, (size_t)n);
	close(fd);
	size_t found = 0;
	for (size_t t = 0; t < ntags; t++) {
		size_t tl = strlen(tags[t]);
		for (size_t off = 0; off < sb.len; off += strlen(sb.buf + off) + 1)
			if (sb.len - off > tl && !memcmp(sb.buf + off, tags[t], tl) && sb.buf[off + tl] == '\0') {
				found++;
				break;
			}
	}
	sbuf_release(&sb);
	return found == ntags;
}

bool step_running(const struct run_state *rs, const char *step, long long pgid)
{
	if (!rs->last_machine || strcmp(rs->last_machine, machine_name()) || !rs->last_boot ||
	    strcmp(rs->last_boot, boot_id()))
		return false;
	char *tags[2] = {xasprintf("RUNBOOK_RUN_ID=%s", rs->run_id), xasprintf("RUNBOOK_STEP_ID=%s", step)};
	DIR *d = opendir("/proc");
	bool live = false;
	struct dirent *e;
	while (d && !live && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* "pid (comm) S ppid pgrp ...": comm may hold spaces and ')';
		 * a zombie is over, whether or not anyone reaps it (some
		 * containers' init never does) */
		char *r = strrchr(buf, ')');
		char state;
		long long ppid, pgrp;
		if (!r || sscanf(r + 1, " %c %lld %lld", &state, &ppid, &pgrp) != 3 || state == 'Z')
			continue;
		/* ours: it is in the recorded process group and carries the
		 * step's tags, or its environment cannot be read (sudo) — a
		 * readable one without the tags is a recycled pgid.  A process
		 * that left the group (a daemon the step started: setsid,
		 * pg_ctl start) carries the tags too, but the command is over
		 * without it: waiting for it would wait forever. */
		int tagged = environ_has(e->d_name, (const char *const *)tags, 2);
		bool in_group = pgid > 1 && pgrp == pgid;
		if ((tagged == 1 && (pgid <= 1 || in_group)) || (tagged < 0 && in_group))
			live = true;
	}
	if (d)
		closedir(d);
	free(tags[0]);
	free(tags[1]);
	return live;
}
