/* check.c — from a YAML document to a checked struct runbook.
 *
 * Two passes.  The schema pass walks the nodes, refuses unknown keys (with
 * a suggestion), wrong types and bad values, parses templates, patterns,
 * durations and `when` expressions, and loads the modules that `uses`
 * names.  The names pass then walks the steps in execution order and
 * checks that every name a template or condition reads exists at that
 * point: a capture or `steps.ID` must come from an earlier step.  Both
 * passes go on after a problem so that one run reports all of them. */
#include "glob.h"
#include "runbook.h"
#include "search.h"
#include "snapshot.h"
#include "steps.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct loader {
	struct rb_error *err;
	const struct doc *doc; /* the file being parsed, to locate positions */
	struct runbook *rb; /* owns every module loaded */
	int step_counter;   /* for default ids sN */
	/* the chain of module actions being checked, to name a cycle */
	struct module *stack_mod[32];
	struct action_def *stack_act[32];
	int depth;
};

/* --- small helpers ------------------------------------------------------- */

static bool is_scalar(struct loader *L, struct node *n, const char *what)
{
	if (n->kind == NODE_SCALAR)
		return true;
	rb_error_at(L->err, n->pos, "'%s' must be a string, not %s", what, node_kind_name(n));
	return false;
}

static bool is_map(struct loader *L, struct node *n, const char *what)
{
	if (n->kind == NODE_MAP)
		return true;
	rb_error_at(L->err, n->pos, "'%s' must be a mapping, not %s", what, node_kind_name(n));
	return false;
}

static bool is_seq(struct loader *L, struct node *n, const char *what)
{
	if (n->kind == NODE_SEQ)
		return true;
	rb_error_at(L->err, n->pos, "'%s' must be a list, not %s", what, node_kind_name(n));
	return false;
}

static bool nonempty_text(struct loader *L, struct node *n, const char *what)
{
	if (!is_scalar(L, n, what))
		return false;
	if (strlen(n->str) != n->len) {
		rb_error_at(L->err, n->pos, "'%s' holds a NUL byte", what);
		return false;
	}
	if (n->len == 0) {
		rb_error_at(L->err, n->pos, "'%s' is empty", what);
		return false;
	}
	return true;
}

/* Is one of map's unknown keys a typo of want?  Then "missing 'want'" would
 * only repeat the did-you-mean. */
static bool typo_of(struct node *map, const char *want, const char *const *allowed, size_t n)
{
	for (size_t i = 0; map && map->kind == NODE_MAP && i < map->n; i += 2) {
		const char *k = map->items[i]->str;
		bool known = false;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(allowed[j], k))
				known = true;
		const char *s = known ? NULL : did_you_mean(k, allowed, n);
		if (s && !strcmp(s, want))
			return true;
	}
	return false;
}

/* Refuses unknown and duplicate keys.  Returns false if any was found. */
static bool check_keys(struct loader *L, struct node *map, const char *const *allowed, size_t n,
		       const char *where)
{
	bool ok = true;
	for (size_t i = 0; i < map->n; i += 2) {
		struct node *k = map->items[i];
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(map->items[j]->str, k->str)) {
				rb_error_at(L->err, k->pos, "duplicate key '%s' (first at line %d)", k->str,
					    map->items[j]->pos.line);
				ok = false;
			}
		bool found = false;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(allowed[j], k->str))
				found = true;
		if (!found) {
			struct sbuf sb = {0};
			sbuf_addf(&sb, "unknown key '%s' in %s", k->str, where);
			sbuf_add_suggestion(&sb, k->str, allowed, n);
			rb_error_at(L->err, k->pos, "%s", sbuf_str(&sb));
			sbuf_release(&sb);
			ok = false;
		}
	}
	return ok;
}

static bool valid_ident(const char *s, bool dash)
{
	if (!*s)
		return false;
	for (const char *p = s; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
			  (dash && *p == '-');
		if (!ok)
			return false;
	}
	return true;
}

/* Does text that is shown or used as written (a step's name, a param's
 * default) hold what reads like a template, "{{ name }}" or
 * "{{ a.b | raw }}"?  Other double braces, such as docker's
 * "{{.Names}}", are left alone: they are meant literally. */
static bool reads_a_name(const char *s)
{
	for (const char *p = strstr(s, "{{"); p; p = strstr(p + 2, "{{")) {
		const char *end = strstr(p + 2, "}}");
		if (!end)
			break;
		/* the name before a filter, spaces trimmed */
		const char *a = p + 2, *b = end, *bar = memchr(a, '|', (size_t)(end - a));
		if (bar)
			b = bar;
		while (a < b && *a == ' ')
			a++;
		while (b > a && b[-1] == ' ')
			b--;
		char *name = xstrndup(a, (size_t)(b - a));
		bool is = tmpl_valid_name(name);
		free(name);
		if (is)
			return true;
	}
	return false;
}

static bool valid_param_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_'))
			return false;
	return true;
}

/* What sudo -u accepts from us: a POSIX-ish user name or #uid. */
bool valid_user_name(const char *s)
{
	if (s[0] == '#') {
		long long v;
		return parse_uint(s + 1, &v) == 0;
	}
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-' || *p == '.' || (*p == '$' && !p[1])))
			return false;
	return strlen(s) <= 64;
}

static bool valid_env_name(const char *s)
{
	return valid_param_name(s);
}

struct locator {
	const struct doc *doc;
	const struct node *n;
};

static struct pos locate_placeholder(void *ctx, size_t nth)
{
	struct locator *lc = ctx;
	return doc_locate(lc->doc, lc->n, "{{", nth);
}

/* Parses a scalar as a template, placeholders located where written. */
static struct tmpl *tmpl_of(struct loader *L, struct node *n, enum tmpl_mode mode)
{
	struct locator lc = {L->doc, n};
	return tmpl_parse_at(n->str, n->pos, mode, L->err, locate_placeholder, &lc);
}

static struct tmpl *parse_tmpl(struct loader *L, struct node *n, const char *what, enum tmpl_mode mode)
{
	if (!is_scalar(L, n, what))
		return NULL;
	if (strlen(n->str) != n->len) {
		rb_error_at(L->err, n->pos, "'%s' holds a NUL byte", what);
		return NULL;
	}
	return tmpl_of(L, n, mode);
}

static int parse_bool(struct loader *L, struct node *n, const char *what, bool *out)
{
	if (node_bool(n, out) == 0)
		return 0;
	rb_error_at(L->err, n->pos, "'%s' must be true or false, not '%s'", what,
		    n->kind == NODE_SCALAR ? n->str : node_kind_name(n));
	return -1;
}

static int parse_dur(struct loader *L, struct node *n, const char *what, long long *ms)
{
	if (!is_scalar(L, n, what))
		return -1;
	if (parse_duration(n->str, ms) == 0)
		return 0;
	rb_error_at(L->err, n->pos,
		    "invalid duration '%s' for '%s' (write e.g. 90s, 10m, 1h30m, 500ms)", n->str, what);
	return -1;
}

/* Compiles a regex node; constant patterns are compiled now, templated ones
 * are compiled with every value empty to catch syntax errors early. */
static struct pattern *parse_pattern(struct loader *L, struct node *n, const char *what)
{
	if (!nonempty_text(L, n, what))
		return NULL;
	struct tmpl *t = tmpl_of(L, n, TMPL_REGEX);
	if (!t)
		return NULL;
	struct pattern *p = xcalloc(1, sizeof(*p));
	p->t = t;
	p->pos = n->pos;
	struct sbuf sb = {0};
	for (size_t i = 0; i < t->n; i++)
		if (!t->segs[i].is_name)
			sbuf_adds(&sb, t->segs[i].text);
	char *msg;
	size_t off;
	struct regex *re = regex_compile(sbuf_str(&sb), false, &msg, &off);
	if (!re) {
		struct pos at = n->pos;
		if (tmpl_is_constant(t) && (n->style == 'p' || n->style == '\'' || n->style == '"'))
			at.col += (int)off + (n->plain ? 0 : 1);
		else if (tmpl_is_constant(t))
			at = doc_locate_offset(L->doc, n, off);
		rb_error_at(L->err, at, "bad regular expression in %s: %s", what, msg);
		free(msg);
		/* keep the pattern: its capture name must still be known, or
		 * every later use would be reported as an unknown name too */
		p->bad = true;
	} else if (tmpl_is_constant(t)) {
		p->re = re;
		re = NULL;
	} else {
		p->shape = re; /* for the names of its groups */
		re = NULL;
	}
	regex_free(re);
	sbuf_release(&sb);
	return p;
}

static void pattern_release(struct pattern *p)
{
	tmpl_free(p->t);
	regex_free(p->re);
	regex_free(p->shape);
}

static void pattern_free(struct pattern *p)
{
	if (!p)
		return;
	pattern_release(p);
	free(p);
}

/* --- params -------------------------------------------------------------- */

static const char *const param_keys[] = {"required", "default", "pattern", "choices", "secret", "env", "doc"};

char *param_violation(const struct param_def *p, const char *value)
{
	if (p->pattern && regex_match(p->pattern, value, strlen(value)) != 1)
		return xasprintf("does not match the pattern '%s'", p->pattern_src);
	if (p->nchoices) {
		for (size_t i = 0; i < p->nchoices; i++)
			if (!strcmp(p->choices[i], value))
				return NULL;
		struct sbuf sb = {0};
		sbuf_adds(&sb, "is not one of");
		for (size_t i = 0; i < p->nchoices; i++)
			sbuf_addf(&sb, "%s '%s'", i ? "," : "", p->choices[i]);
		return sbuf_detach(&sb);
	}
	return NULL;
}

void parse_params(struct node *map, struct param_def **out, size_t *n, struct rb_error *err)
{
	struct loader L0 = {.err = err}, *L = &L0;
	size_t cap = 0;
	if (!is_map(L, map, "params"))
		return;
	for (size_t i = 0; i < map->n; i += 2) {
		struct node *k = map->items[i], *v = map->items[i + 1];
		struct param_def p = {0};
		p.name = xstrdup(k->str);
		p.pos = k->pos;
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(map->items[j]->str, k->str))
				rb_error_at(err, k->pos, "duplicate param '%s'", k->str);
		if (!valid_param_name(k->str))
			rb_error_at(err, k->pos, "invalid param name '%s' (letters, digits and _)", k->str);
		if (v->kind == NODE_SCALAR && v->len == 0) {
			/* `name:` alone: an optional param without default */
		} else if (is_map(L, v, k->str)) {
			check_keys(L, v, param_keys, ARRAY_LEN(param_keys), "a param");
			struct node *x;
			if ((x = node_get(v, "required")))
				parse_bool(L, x, "required", &p.required);
			if ((x = node_get(v, "secret")))
				parse_bool(L, x, "secret", &p.secret);
			if ((x = node_get(v, "default")) && is_scalar(L, x, "default")) {
				if (reads_a_name(x->str))
					rb_error_at(L->err, x->pos, "the default of param '%s' is a plain value, not a "
								    "template: derive the value in vars",
						    k->str);
				p.def = xstrdup(x->str);
				p.has_default = true;
			}
			if ((x = node_get(v, "env")) && nonempty_text(L, x, "env")) {
				if (!valid_env_name(x->str))
					rb_error_at(err, x->pos, "invalid environment variable name '%s'", x->str);
				p.env = xstrdup(x->str);
			}
			if ((x = node_get(v, "doc")) && is_scalar(L, x, "doc"))
				p.doc = xstrdup(x->str);
			if ((x = node_get(v, "pattern")) && nonempty_text(L, x, "pattern")) {
				char *msg;
				size_t off;
				p.pattern = regex_compile(x->str, true, &msg, &off);
				p.pattern_src = xstrdup(x->str);
				if (!p.pattern) {
					struct pos at = x->pos;
					if (x->style == 'p' || x->style == '\'' || x->style == '"')
						at.col += (int)off + (x->plain ? 0 : 1);
					rb_error_at(err, at, "bad regular expression in the pattern of param '%s': %s", k->str, msg);
					free(msg);
				}
			}
			if ((x = node_get(v, "choices")) && is_seq(L, x, "choices")) {
				size_t ccap = 0;
				for (size_t c = 0; c < x->n; c++)
					if (is_scalar(L, x->items[c], "choices"))
						VEC_PUSH(p.choices, p.nchoices, ccap, xstrdup(x->items[c]->str));
				if (!x->n)
					rb_error_at(err, x->pos, "'choices' is empty");
			}
			if (p.required && p.has_default)
				rb_error_at(err, k->pos, "param '%s' is required and has a default: choose one", k->str);
			if (p.has_default && p.def[0]) {
				char *why = param_violation(&p, p.def);
				if (why) {
					rb_error_at(err, node_get(v, "default")->pos, "the default of param '%s' %s",
						    k->str, why);
					free(why);
				}
			}
		}
		VEC_PUSH(*out, *n, cap, p);
	}
}

static void params_free(struct param_def *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].def);
		free(p[i].env);
		free(p[i].doc);
		regex_free(p[i].pattern);
		free(p[i].pattern_src);
		for (size_t c = 0; c < p[i].nchoices; c++)
			free(p[i].choices[c]);
		free(p[i].choices);
	}
	free(p);
}

/* --- env maps and hosts -------------------------------------------------- */

static void parse_env(struct loader *L, struct node *map, struct kv **out, size_t *n, bool templated)
{
	size_t cap = 0;
	if (!is_map(L, map, "env"))
		return;
	for (size_t i = 0; i < map->n; i += 2) {
		struct node *k = map->items[i], *v = map->items[i + 1];
		if (!valid_env_name(k->str)) {
			rb_error_at(L->err, k->pos, "invalid environment variable name '%s'", k->str);
			continue;
		}
		if (!is_scalar(L, v, k->str))
			continue;
		/* host env is not templated: its text is one literal */
		struct tmpl *t = templated ? parse_tmpl(L, v, k->str, TMPL_TEXT) : tmpl_literal(v->str, v->pos);
		if (!t)
			continue;
		struct kv e = {xstrdup(k->str), k->pos, t};
		VEC_PUSH(*out, *n, cap, e);
	}
}

static void kv_free(struct kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		tmpl_free(kv[i].val);
	}
	free(kv);
}

static const char *const host_keys[] = {"address", "user", "port", "identity", "known_hosts",
					"transport", "sudo", "env", "state_dir"};

int parse_host_def(struct node *v, const char *name, struct pos pos, struct host_def *h, struct rb_error *err)
{
	struct loader L0 = {.err = err}, *L = &L0;
	size_t before = err->n;
	memset(h, 0, sizeof(*h));
	h->name = xstrdup(name);
	h->pos = pos;
	if (!valid_ident(name, true) && !valid_param_name(name))
		rb_error_at(err, pos, "invalid host name '%s'", name);
	if (!strcmp(name, "local"))
		rb_error_at(err, pos, "'local' is the operator's machine and cannot be redefined");
	if (!is_map(L, v, name))
		return -1;
	check_keys(L, v, host_keys, ARRAY_LEN(host_keys), "a host");
	struct node *x;
	if ((x = node_get(v, "address")) && nonempty_text(L, x, "address"))
		h->address = xstrdup(x->str);
	if ((x = node_get(v, "user")) && nonempty_text(L, x, "user"))
		h->user = xstrdup(x->str);
	if ((x = node_get(v, "identity")) && nonempty_text(L, x, "identity"))
		h->identity = xstrdup(x->str);
	if ((x = node_get(v, "known_hosts")) && nonempty_text(L, x, "known_hosts"))
		h->known_hosts = xstrdup(x->str);
	if ((x = node_get(v, "state_dir")) && nonempty_text(L, x, "state_dir")) {
		if (x->str[0] != '/')
			rb_error_at(err, x->pos, "'state_dir' must be an absolute path on the host");
		h->state_dir = xstrdup(x->str);
	}
	if ((x = node_get(v, "port")) && is_scalar(L, x, "port")) {
		long long p;
		if (parse_uint(x->str, &p) < 0 || p < 1 || p > 65535)
			rb_error_at(err, x->pos, "invalid port '%s' (1 to 65535)", x->str);
		else
			h->port = (int)p;
	}
	if ((x = node_get(v, "sudo")))
		parse_bool(L, x, "sudo", &h->sudo);
	h->local = h->address == NULL;
	if ((x = node_get(v, "transport")) && is_scalar(L, x, "transport")) {
		if (!strcmp(x->str, "local"))
			h->local = true;
		else if (!strcmp(x->str, "ssh")) {
			/* no address: the name is one (an ~/.ssh/config alias) */
			h->local = false;
		} else {
			static const char *const tr[] = {"local", "ssh"};
			struct sbuf sb = {0};
			sbuf_addf(&sb, "unknown transport '%s' (local or ssh)", x->str);
			sbuf_add_suggestion(&sb, x->str, tr, 2);
			rb_error_at(err, x->pos, "%s", sbuf_str(&sb));
			sbuf_release(&sb);
		}
	}
	if ((x = node_get(v, "env")))
		parse_env(L, x, &h->env, &h->nenv, false);
	return err->n == before ? 0 : -1;
}

void host_def_release(struct host_def *h)
{
	free(h->name);
	free(h->address);
	free(h->user);
	free(h->identity);
	free(h->known_hosts);
	free(h->state_dir);
	kv_free(h->env, h->nenv);
	memset(h, 0, sizeof(*h));
}

/* --- steps --------------------------------------------------------------- */

static const struct {
	const char *key;
	unsigned bit;
} modifier_keys[] = {
	{"id", MOD_ID},           {"name", MOD_NAME},         {"on", MOD_ON},
	{"when", MOD_WHEN},       {"sudo", MOD_SUDO},         {"env", MOD_ENV},
	{"cwd", MOD_CWD},         {"timeout", MOD_TIMEOUT},   {"retry", MOD_RETRY},
	{"expect", MOD_EXPECT},   {"capture", MOD_CAPTURE},   {"diagnose", MOD_DIAGNOSE},
	{"check", MOD_CHECK},     {"undo", MOD_UNDO},         {"allow_failure", MOD_ALLOW_FAILURE},
	{"probe", MOD_PROBE},     {"with", MOD_WITH},         {"steps", MOD_STEPS},
	{"hint", MOD_HINT},       {"parallel", MOD_PARALLEL},
};

/* upload {src, dest, mode}, download {src, dest}, write {path, content,
 * mode}: plain text templates (no shell is involved). */
static void parse_transfer(struct loader *L, struct node *v, struct step *s)
{
	const char *k = s->kind->key;
	static const char *const up[] = {"src", "dest", "mode"}, *const down[] = {"src", "dest"},
				  *const wr[] = {"path", "content", "mode"};
	const char *const *keys = !strcmp(k, "upload") ? up : !strcmp(k, "download") ? down : wr;
	size_t nk = !strcmp(k, "download") ? 2 : 3;
	s->xmode = -1;
	if (v->kind != NODE_MAP) {
		rb_error_at(L->err, v->pos, "'%s' takes a mapping: %s", k,
			    !strcmp(k, "upload")     ? "{src: FILE_HERE, dest: PATH_ON_HOST, mode: '0644'}"
			    : !strcmp(k, "download") ? "{src: PATH_ON_HOST, dest: FILE_HERE}"
						     : "{path: PATH_ON_HOST, content: TEXT, mode: '0644'}");
		return;
	}
	char where[32];
	snprintf(where, sizeof(where), "'%s'", k);
	check_keys(L, v, keys, nk, where);
	struct node *x;
	bool write = !strcmp(k, "write");
	const char *dkey = write ? "path" : "dest";
	if (!write) {
		if (!(x = node_get(v, "src")))
			rb_error_at(L->err, v->pos, "'%s' needs 'src'", k);
		else if (nonempty_text(L, x, "src"))
			s->xsrc = parse_tmpl(L, x, "src", TMPL_TEXT);
	}
	if (!(x = node_get(v, dkey)))
		rb_error_at(L->err, v->pos, "'%s' needs '%s'", k, dkey);
	else if (nonempty_text(L, x, dkey))
		s->xdest = parse_tmpl(L, x, dkey, TMPL_TEXT);
	if (write) {
		if (!(x = node_get(v, "content")))
			rb_error_at(L->err, v->pos, "'write' needs 'content' (an empty file: content: \"\")");
		else
			s->xcontent = parse_tmpl(L, x, "content", TMPL_TEXT);
	}
	if ((x = node_get(v, "mode")) && is_scalar(L, x, "mode")) {
		const char *m = x->str;
		size_t len = strlen(m);
		bool ok = len >= 3 && len <= 4 && strspn(m, "01234567") == len;
		if (!ok)
			rb_error_at(L->err, x->pos, "'mode' is octal permission bits such as '0644' or '0755' (quote it), "
						    "not '%s'", m);
		else
			s->xmode = (int)strtol(m, NULL, 8);
	}
}

/* archive {path, to, format, exclude, level}. */
static void parse_archive(struct loader *L, struct node *v, struct step *s)
{
	static const char *const keys[] = {"path", "to", "format", "exclude", "level"};
	if (v->kind != NODE_MAP) {
		rb_error_at(L->err, v->pos, "'archive' takes a mapping: {path: FOLDER_ON_HOST, to: ARCHIVE_HERE, "
					    "format: tar.zst, exclude: [GLOB…]}");
		return;
	}
	check_keys(L, v, keys, ARRAY_LEN(keys), "'archive'");
	struct node *x;
	if (!(x = node_get(v, "path")))
		rb_error_at(L->err, v->pos, "'archive' needs 'path' (the folder to archive)");
	else if (nonempty_text(L, x, "path"))
		s->xsrc = parse_tmpl(L, x, "path", TMPL_TEXT);
	struct node *to = node_get(v, "to");
	if (!to)
		rb_error_at(L->err, v->pos, "'archive' needs 'to' (the archive file, on this machine)");
	else if (nonempty_text(L, to, "to"))
		s->xdest = parse_tmpl(L, to, "to", TMPL_TEXT);
	enum snap_format f;
	if ((x = node_get(v, "format")) && is_scalar(L, x, "format")) {
		if (snap_format_parse(x->str, &f) < 0)
			rb_error_at(L->err, x->pos, "unknown archive format '%s' (tar.zst, tar.gz, tar or zip)", x->str);
		else
			s->xformat = (int)f;
	} else if (!x && s->xdest && tmpl_is_constant(s->xdest)) {
		if (snap_format_of_path(to->str, &f) < 0)
			rb_error_at(L->err, to->pos, "cannot tell the format from '%s': end it in .tar.zst, .tar.gz, .tar "
						     "or .zip, or give 'format'", to->str);
		else
			s->xformat = (int)f;
	}
	if ((x = node_get(v, "level")) && is_scalar(L, x, "level")) {
		long long lv;
		int lo, hi;
		if (parse_uint(x->str, &lv) < 0 || lv > 99)
			rb_error_at(L->err, x->pos, "'level' is a compression level, a small number, not '%s'", x->str);
		else if (s->xformat >= 0 && !snap_format_levels((enum snap_format)s->xformat, &lo, &hi))
			rb_error_at(L->err, x->pos, "a %s archive takes no 'level'", snap_format_name((enum snap_format)s->xformat));
		else if (s->xformat >= 0 && (lv < lo || lv > hi))
			rb_error_at(L->err, x->pos, "'level' of a %s archive is %d to %d, not %lld",
				    snap_format_name((enum snap_format)s->xformat), lo, hi, lv);
		else
			s->xlevel = (int)lv;
	}
	if ((x = node_get(v, "exclude"))) {
		/* one pattern, or a list of them */
		bool one = x->kind == NODE_SCALAR;
		size_t cap = 0, n = one ? 1 : is_seq(L, x, "exclude") ? x->n : 0;
		for (size_t i = 0; i < n; i++) {
			struct node *g = one ? x : x->items[i];
			if (!nonempty_text(L, g, one ? "exclude" : "an exclude pattern"))
				continue;
			const char *bad = glob_invalid(g->str);
			if (bad)
				rb_error_at(L->err, g->pos, "'exclude' pattern '%s': %s", g->str, bad);
			VEC_PUSH(s->xexcl, s->nxexcl, cap, xstrdup(g->str));
		}
	}

	/* what later steps read: archive.entries, archive.bytes, archive.sha256 */
	static const char *const caps[] = {"archive.entries", "archive.bytes", "archive.sha256"};
	s->caps = xcalloc(ARRAY_LEN(caps), sizeof(*s->caps));
	for (size_t i = 0; i < ARRAY_LEN(caps); i++) {
		s->caps[i].name = xstrdup(caps[i]);
		s->caps[i].pat.pos = v->pos;
	}
	s->ncaps = ARRAY_LEN(caps);
}

/* extract {from, to, strip, overwrite}, and the undo that puts back what
 * `to` held (unless the step writes its own). */
static void parse_extract(struct loader *L, struct node *n, struct node *v, struct step *s)
{
	static const char *const keys[] = {"from", "to", "strip", "overwrite"};
	if (v->kind != NODE_MAP) {
		rb_error_at(L->err, v->pos, "'extract' takes a mapping: {from: ARCHIVE_HERE, to: FOLDER_ON_HOST, "
					    "overwrite: false}");
		return;
	}
	check_keys(L, v, keys, ARRAY_LEN(keys), "'extract'");
	struct node *x, *from = node_get(v, "from"), *to = node_get(v, "to");
	if (!from)
		rb_error_at(L->err, v->pos, "'extract' needs 'from' (the archive, on this machine)");
	else if (nonempty_text(L, from, "from"))
		s->xsrc = parse_tmpl(L, from, "from", TMPL_TEXT);
	if (!to)
		rb_error_at(L->err, v->pos, "'extract' needs 'to' (the folder to restore into)");
	else if (nonempty_text(L, to, "to"))
		s->xdest = parse_tmpl(L, to, "to", TMPL_TEXT);
	if ((x = node_get(v, "strip")) && is_scalar(L, x, "strip")) {
		long long k;
		if (parse_uint(x->str, &k) < 0 || k > 64)
			rb_error_at(L->err, x->pos, "'strip' is how many leading folders to drop, a number, not '%s'", x->str);
		else
			s->xstrip = (int)k;
	}
	if ((x = node_get(v, "overwrite")))
		parse_bool(L, x, "overwrite", &s->xoverwrite);
	if (!node_get(n, "undo") && s->xsrc && s->xdest) {
		struct step *u = xcalloc(1, sizeof(*u));
		u->pos = s->pos;
		u->kind = &extract_undo_kind;
		u->attempts = 1;
		u->backoff = 1.0;
		u->rcs = xmalloc(sizeof(int));
		u->rcs[0] = 0;
		u->nrcs = 1;
		u->xmode = u->xformat = u->xlevel = -1;
		u->xsrc = parse_tmpl(L, from, "from", TMPL_TEXT);
		u->xdest = parse_tmpl(L, to, "to", TMPL_TEXT);
		u->name = xstrdup("put back what the extract replaced");
		s->undo = u;
		s->nundo = 1;
	}
}

enum step_ctx { SC_STEP, SC_PRE, SC_UNDO };

/* Keys other tools use for an action, and ours. */
static const struct {
	const char *alias, *key;
} action_aliases[] = {
	{"command", "run"}, {"cmd", "run"},      {"shell", "run"},   {"script", "run"},  {"exec", "run"},
	{"sh", "run"},      {"message", "note"}, {"echo", "note"},   {"prompt", "confirm"},
	{"ask", "confirm"}, {"pause", "confirm"}, {"include", "uses"}, {"module", "uses"}, {"block", "group"},
};

/* The action key meant by k: an alias, or a typo of one ("comand"). */
static const char *action_alias(const char *k)
{
	const char *names[ARRAY_LEN(action_aliases)];
	for (size_t i = 0; i < ARRAY_LEN(action_aliases); i++) {
		if (!strcmp(action_aliases[i].alias, k))
			return action_aliases[i].key;
		names[i] = action_aliases[i].alias;
	}
	const char *near = strlen(k) >= 4 ? did_you_mean(k, names, ARRAY_LEN(names)) : NULL;
	for (size_t i = 0; near && i < ARRAY_LEN(action_aliases); i++)
		if (!strcmp(action_aliases[i].alias, near))
			return action_aliases[i].key;
	return NULL;
}

static void parse_steps(struct loader *L, struct node *seq, const char *what, struct step **out, size_t *n,
			enum step_ctx ctx);
static void steps_free(struct step *s, size_t n);

static void parse_retry(struct loader *L, struct node *v, struct step *s)
{
	static const char *const keys[] = {"attempts", "delay", "backoff"};
	if (!is_map(L, v, "retry"))
		return;
	check_keys(L, v, keys, ARRAY_LEN(keys), "'retry'");
	struct node *x;
	if ((x = node_get(v, "attempts")) && is_scalar(L, x, "attempts")) {
		long long a;
		if (parse_uint(x->str, &a) < 0 || a < 1 || a > 10000)
			rb_error_at(L->err, x->pos, "'attempts' must be a whole number from 1 to 10000, not '%s'",
				    x->str);
		else
			s->attempts = (int)a;
	} else if (!x) {
		rb_error_at(L->err, v->pos, "'retry' needs 'attempts'");
	}
	if ((x = node_get(v, "delay")))
		parse_dur(L, x, "delay", &s->delay_ms);
	if ((x = node_get(v, "backoff")) && is_scalar(L, x, "backoff")) {
		char *end;
		double b = strtod(x->str, &end);
		if (*end || end == x->str || !(b >= 1.0 && b <= 100.0))
			rb_error_at(L->err, x->pos, "'backoff' must be a number from 1 to 100, not '%s'", x->str);
		else
			s->backoff = b;
	}
}

static int parse_rc(struct loader *L, struct node *x, int *out)
{
	long long v;
	if (x->kind != NODE_SCALAR || parse_uint(x->str, &v) < 0 || v > 255) {
		rb_error_at(L->err, x->pos, "'rc' must be an exit code from 0 to 255, a list of them, or 'any'");
		return -1;
	}
	*out = (int)v;
	return 0;
}

static void parse_expect(struct loader *L, struct node *v, struct step *s)
{
	static const char *const keys[] = {"rc", "stdout", "stderr"};
	if (!is_map(L, v, "expect"))
		return;
	check_keys(L, v, keys, ARRAY_LEN(keys), "'expect'");
	struct node *x;
	if ((x = node_get(v, "rc"))) {
		s->nrcs = 0;
		if (x->kind == NODE_SCALAR && !strcmp(x->str, "any")) {
			s->rc_any = true;
		} else if (x->kind == NODE_SEQ) {
			if (!x->n)
				rb_error_at(L->err, x->pos, "'rc' lists no exit code");
			s->rcs = xrealloc(s->rcs, (x->n ? x->n : 1) * sizeof(int));
			for (size_t i = 0; i < x->n; i++)
				if (parse_rc(L, x->items[i], &s->rcs[s->nrcs]) == 0)
					s->nrcs++;
		} else {
			if (parse_rc(L, x, &s->rcs[0]) == 0)
				s->nrcs = 1;
		}
	}
	if ((x = node_get(v, "stdout")))
		s->expect_out = parse_pattern(L, x, "'expect.stdout'");
	if ((x = node_get(v, "stderr")))
		s->expect_err = parse_pattern(L, x, "'expect.stderr'");
}

static void parse_captures(struct loader *L, struct node *v, struct step *s)
{
	size_t cap = 0;
	if (!is_map(L, v, "capture"))
		return;
	for (size_t i = 0; i < v->n; i += 2) {
		struct node *k = v->items[i], *p = v->items[i + 1];
		if (!valid_param_name(k->str)) {
			rb_error_at(L->err, k->pos, "invalid capture name '%s' (letters, digits and _)", k->str);
			continue;
		}
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(v->items[j]->str, k->str))
				rb_error_at(L->err, k->pos, "duplicate capture '%s'", k->str);
		char *label = xasprintf("capture '%s'", k->str);
		struct pattern *pat = parse_pattern(L, p, label);
		free(label);
		if (!pat)
			continue;
		struct capture_def c = {xstrdup(k->str), *pat};
		free(pat);
		VEC_PUSH(s->caps, s->ncaps, cap, c);
	}
}

static void parse_diagnose(struct loader *L, struct node *v, struct step *s)
{
	static const char *const keys[] = {"match", "hint", "fail"};
	size_t cap = 0;
	if (!is_seq(L, v, "diagnose"))
		return;
	for (size_t i = 0; i < v->n; i++) {
		struct node *d = v->items[i];
		if (!is_map(L, d, "diagnose"))
			continue;
		check_keys(L, d, keys, ARRAY_LEN(keys), "a diagnose entry");
		struct node *m = node_get(d, "match"), *h = node_get(d, "hint"), *f = node_get(d, "fail");
		if (!m) {
			rb_error_at(L->err, d->pos, "a diagnose entry needs 'match'");
			continue;
		}
		struct diagnose_def dd = {0};
		dd.fail = true;
		struct pattern *pat = parse_pattern(L, m, "'diagnose.match'");
		if (!pat)
			continue;
		dd.pat = *pat;
		free(pat);
		if (h)
			dd.hint = parse_tmpl(L, h, "hint", TMPL_TEXT);
		if (f)
			parse_bool(L, f, "fail", &dd.fail);
		VEC_PUSH(s->diags, s->ndiags, cap, dd);
	}
}

static void parse_uses(struct loader *L, struct node *v, struct step *s)
{
	if (!nonempty_text(L, v, "uses"))
		return;
	const char *dot = strchr(v->str, '.');
	s->uses_pos = v->pos;
	if (!dot || dot == v->str || !dot[1] || strchr(dot + 1, '.')) {
		rb_error_at(L->err, v->pos, "'uses' must be MODULE.ACTION, not '%s'", v->str);
		return;
	}
	s->mod = xstrndup(v->str, (size_t)(dot - v->str));
	s->action = xstrdup(dot + 1);
}

static void parse_with(struct loader *L, struct node *v, struct step *s)
{
	size_t cap = 0;
	if (!is_map(L, v, "with"))
		return;
	for (size_t i = 0; i < v->n; i += 2) {
		struct node *k = v->items[i], *x = v->items[i + 1];
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(v->items[j]->str, k->str))
				rb_error_at(L->err, k->pos, "duplicate argument '%s'", k->str);
		struct tmpl *t = parse_tmpl(L, x, k->str, TMPL_TEXT);
		if (!t)
			continue;
		struct kv e = {xstrdup(k->str), k->pos, t};
		VEC_PUSH(s->with, s->nwith, cap, e);
	}
}

static void parse_step(struct loader *L, struct node *n, struct step *s, enum step_ctx ctx)
{
	memset(s, 0, sizeof(*s));
	s->pos = n->pos;
	s->xmode = s->xformat = s->xlevel = -1;
	s->attempts = 1;
	s->backoff = 1.0;
	s->rcs = xmalloc(sizeof(int));
	s->rcs[0] = 0;
	s->nrcs = 1;

	/* A bare string is a `run` step: `- systemctl stop nginx`. */
	if (n->kind == NODE_SCALAR) {
		s->kind = step_kind_find("run");
		if (nonempty_text(L, n, "run"))
			s->text = tmpl_of(L, n, TMPL_SHELL);
		return;
	}
	if (!is_map(L, n, "a step"))
		return;
	/* The action: exactly one key of the kind table. */
	struct node *action_key = NULL;
	bool other_action = false; /* an action a precondition cannot take */
	for (size_t i = 0; i < n->n; i += 2) {
		const struct step_kind *k = step_kind_find(n->items[i]->str);
		if (!k)
			continue;
		if (ctx == SC_PRE && k->action != ACT_RUN) {
			rb_error_at(L->err, n->items[i]->pos, "a precondition is a 'run' command, not '%s'",
				    k->key);
			other_action = true;
			continue;
		}
		if (s->kind) {
			rb_error_at(L->err, n->items[i]->pos,
				    "a step has exactly one action: '%s' and '%s' (line %d) both given",
				    k->key, action_key->str, action_key->pos.line);
			continue;
		}
		s->kind = k;
		action_key = n->items[i];
	}
	/* An unknown key that means an action gets its own did-you-mean: do
	 * not also say the action is missing. */
	bool alias_seen = false;
	for (size_t i = 0; i < n->n; i += 2) {
		const char *k = n->items[i]->str;
		bool modifier = false;
		for (size_t j = 0; j < ARRAY_LEN(modifier_keys); j++)
			if (!strcmp(modifier_keys[j].key, k))
				modifier = true;
		if (!modifier && !step_kind_find(k) &&
		    (action_alias(k) ||
		     did_you_mean(k, (const char *const[]){"run", "uses", "confirm", "note", "group"}, 5)))
			alias_seen = true;
	}
	if (!s->kind && !other_action && !alias_seen) {
		rb_error_at(L->err, n->pos,
			    ctx == SC_PRE ? "a precondition needs 'run'"
					  : "a step needs an action: run, uses, confirm, note or group");
	}
	unsigned allowed = s->kind ? s->kind->mods : ~0u;
	if (ctx == SC_PRE)
		allowed = MOD_ID | MOD_NAME | MOD_ON | MOD_WHEN | MOD_SUDO | MOD_ENV | MOD_CWD | MOD_TIMEOUT |
			  MOD_EXPECT | MOD_HINT;
	/* Unknown keys and modifiers the kind does not take. */
	const char *cands[ARRAY_LEN(modifier_keys) + 16];
	size_t nc = 0;
	for (size_t i = 0; i < step_kinds_count; i++)
		cands[nc++] = step_kinds[i].key;
	for (size_t i = 0; i < ARRAY_LEN(modifier_keys); i++)
		cands[nc++] = modifier_keys[i].key;
	for (size_t i = 0; i < n->n; i += 2) {
		struct node *k = n->items[i];
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(n->items[j]->str, k->str))
				rb_error_at(L->err, k->pos, "duplicate key '%s' (first at line %d)", k->str,
					    n->items[j]->pos.line);
		if (step_kind_find(k->str))
			continue;
		unsigned bit = 0;
		for (size_t j = 0; j < ARRAY_LEN(modifier_keys); j++)
			if (!strcmp(modifier_keys[j].key, k->str))
				bit = modifier_keys[j].bit;
		if (!bit) {
			struct sbuf sb = {0};
			sbuf_addf(&sb, "unknown key '%s' in %s", k->str, ctx == SC_PRE ? "a precondition" : "a step");
			if (did_you_mean(k->str, cands, nc))
				sbuf_add_suggestion(&sb, k->str, cands, nc);
			else if (action_alias(k->str))
				sbuf_addf(&sb, " \xe2\x80\x94 did you mean '%s'?", action_alias(k->str));
			rb_error_at(L->err, k->pos, "%s", sbuf_str(&sb));
			sbuf_release(&sb);
		} else if (!(allowed & bit) && s->kind) {
			if (ctx == SC_PRE)
				rb_error_at(L->err, k->pos, "'%s' does not apply to a precondition", k->str);
			else
				rb_error_at(L->err, k->pos, "'%s' does not apply to a '%s' step", k->str, s->kind->key);
		}
	}
	if (!s->kind)
		return;
	struct node *v = n->items[0], *x;
	for (size_t i = 0; i < n->n; i += 2)
		if (n->items[i] == action_key)
			v = n->items[i + 1];
	switch (s->kind->action) {
	case ACT_RUN:
	case ACT_CONFIRM:
	case ACT_NOTE:
		if (nonempty_text(L, v, s->kind->key))
			s->text = parse_tmpl(L, v, s->kind->key, s->kind->mode);
		break;
	case ACT_GROUP:
		if (ctx == SC_UNDO) {
			rb_error_at(L->err, action_key->pos,
				    "an undo is a command or a list of steps, not a group (list the steps)");
			break;
		}
		if (nonempty_text(L, v, "group"))
			s->text = parse_tmpl(L, v, "group", TMPL_TEXT);
		if (!(x = node_get(n, "steps")))
			rb_error_at(L->err, n->pos, "a group needs 'steps'");
		else {
			parse_steps(L, x, "steps", &s->steps, &s->nsteps, ctx);
			if (x->kind == NODE_SEQ && !x->n)
				rb_error_at(L->err, x->pos, "the group's 'steps' is empty");
		}
		break;
	case ACT_USES:
		parse_uses(L, v, s);
		if ((x = node_get(n, "with")))
			parse_with(L, x, s);
		break;
	case ACT_TRANSFER:
		if (!strcmp(s->kind->key, "archive"))
			parse_archive(L, v, s);
		else if (!strcmp(s->kind->key, "extract"))
			parse_extract(L, n, v, s);
		else
			parse_transfer(L, v, s);
		break;
	}
	if ((x = node_get(n, "id")) && (allowed & MOD_ID) && is_scalar(L, x, "id")) {
		if (!valid_ident(x->str, true))
			rb_error_at(L->err, x->pos, "invalid id '%s' (lowercase letters, digits, _ and -)", x->str);
		s->id = xstrdup(x->str);
		s->id_given = true;
	}
	if ((x = node_get(n, "name")) && (allowed & MOD_NAME) && nonempty_text(L, x, "name")) {
		/* a name is shown before the values it could read exist (the
		 * summary, plan rows): shown as written, so a template in it
		 * would be printed braces and all */
		if (reads_a_name(x->str))
			rb_error_at(L->err, x->pos, "a step's name is shown as written, not a template: move "
						    "'{{ ... }}' into a note or the command");
		s->name = xstrdup(x->str);
	}
	if ((x = node_get(n, "on")) && (allowed & MOD_ON) && nonempty_text(L, x, "on")) {
		s->on = xstrdup(x->str);
		s->on_pos = x->pos;
	}
	if ((x = node_get(n, "when")) && (allowed & MOD_WHEN)) {
		if (x->kind == NODE_SCALAR && x->plain && (!strcmp(x->str, "true") || !strcmp(x->str, "false")))
			s->when = expr_parse(x->str, x->pos, L->err);
		else if (nonempty_text(L, x, "when")) {
			struct pos at = x->pos;
			if (!x->plain && !strchr(x->str, '\n'))
				at.col++;
			s->when = expr_parse(x->str, at, L->err);
		}
		if (s->when)
			s->when_src = xstrdup(x->str);
	}
	if ((x = node_get(n, "sudo")) && (allowed & MOD_SUDO)) {
		bool b;
		s->sudo_set = true;
		if (node_bool(x, &b) == 0)
			s->sudo = b;
		else if (nonempty_text(L, x, "sudo")) {
			s->sudo = true;
			s->sudo_user = parse_tmpl(L, x, "sudo", TMPL_TEXT);
			if (s->sudo_user && tmpl_is_constant(s->sudo_user) && !valid_user_name(x->str))
				rb_error_at(L->err, x->pos, "invalid sudo user '%s' (write true, false or a user name)",
					    x->str);
		}
	}
	if ((x = node_get(n, "env")) && (allowed & MOD_ENV))
		parse_env(L, x, &s->env, &s->nenv, true);
	if ((x = node_get(n, "cwd")) && (allowed & MOD_CWD) && nonempty_text(L, x, "cwd"))
		s->cwd = parse_tmpl(L, x, "cwd", TMPL_TEXT);
	if ((x = node_get(n, "timeout")) && (allowed & MOD_TIMEOUT)) {
		if (parse_dur(L, x, "timeout", &s->timeout_ms) == 0 && s->timeout_ms == 0)
			rb_error_at(L->err, x->pos, "'timeout' must be longer than 0");
	}
	if ((x = node_get(n, "parallel")) && (allowed & MOD_PARALLEL) && is_scalar(L, x, "parallel")) {
		long long np;
		if (parse_uint(x->str, &np) < 0 || np < 1 || np > 1000)
			rb_error_at(L->err, x->pos, "'parallel' is how many hosts at once: a number from 1 to 1000, not '%s'",
				    x->str);
		else
			s->parallel = (int)np;
	}
	if ((x = node_get(n, "retry")) && (allowed & MOD_RETRY))
		parse_retry(L, x, s);
	if ((x = node_get(n, "expect")) && (allowed & MOD_EXPECT))
		parse_expect(L, x, s);
	if ((x = node_get(n, "capture")) && (allowed & MOD_CAPTURE))
		parse_captures(L, x, s);
	if ((x = node_get(n, "diagnose")) && (allowed & MOD_DIAGNOSE))
		parse_diagnose(L, x, s);
	if ((x = node_get(n, "check")) && (allowed & MOD_CHECK) && nonempty_text(L, x, "check"))
		s->check = parse_tmpl(L, x, "check", TMPL_SHELL);
	if ((x = node_get(n, "hint")) && (allowed & MOD_HINT))
		s->hint = parse_tmpl(L, x, "hint", TMPL_TEXT);
	if ((x = node_get(n, "allow_failure")) && (allowed & MOD_ALLOW_FAILURE))
		parse_bool(L, x, "allow_failure", &s->allow_failure);
	if ((x = node_get(n, "probe")) && (allowed & MOD_PROBE))
		parse_bool(L, x, "probe", &s->probe);
	if ((x = node_get(n, "undo")) && (allowed & MOD_UNDO) && ctx != SC_UNDO) {
		if (x->kind == NODE_SEQ) {
			parse_steps(L, x, "undo", &s->undo, &s->nundo, SC_UNDO);
			if (!x->n)
				rb_error_at(L->err, x->pos, "'undo' lists no step");
		} else {
			s->undo = xcalloc(1, sizeof(*s->undo));
			s->nundo = 1;
			parse_step(L, x, s->undo, SC_UNDO);
		}
	} else if (x && ctx == SC_UNDO) {
		rb_error_at(L->err, x->pos, "an undo step cannot have its own 'undo'");
	}
	if (s->probe && s->kind->action != ACT_RUN)
		rb_error_at(L->err, n->pos, "'probe' applies to 'run' steps only");
	if (s->probe && s->nundo)
		rb_error_at(L->err, node_get(n, "undo")->pos, "a 'probe' step only reads: it has nothing to undo");
}

/* finally is never rolled back: an undo written there would never run */
static void refuse_undo_in_finally(struct loader *L, const struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i].nundo)
			rb_error_at(L->err, s[i].undo[0].pos,
				    "'undo' does not apply to a finally step (finally is not rolled back)");
		refuse_undo_in_finally(L, s[i].steps, s[i].nsteps);
	}
}

static void parse_steps(struct loader *L, struct node *seq, const char *what, struct step **out, size_t *n,
			enum step_ctx ctx)
{
	if (!is_seq(L, seq, what))
		return;
	*out = xcalloc(seq->n ? seq->n : 1, sizeof(**out));
	for (size_t i = 0; i < seq->n; i++)
		parse_step(L, seq->items[i], &(*out)[i], ctx);
	*n = seq->n;
}

static void step_release(struct step *s)
{
	free(s->id);
	free(s->name);
	tmpl_free(s->text);
	tmpl_free(s->xsrc);
	tmpl_free(s->xdest);
	tmpl_free(s->xcontent);
	for (size_t i = 0; i < s->nxexcl; i++)
		free(s->xexcl[i]);
	free(s->xexcl);
	free(s->mod);
	free(s->action);
	kv_free(s->with, s->nwith);
	steps_free(s->steps, s->nsteps);
	steps_free(s->undo, s->nundo);
	free(s->on);
	expr_free(s->when);
	free(s->when_src);
	tmpl_free(s->sudo_user);
	kv_free(s->env, s->nenv);
	tmpl_free(s->cwd);
	free(s->rcs);
	pattern_free(s->expect_out);
	pattern_free(s->expect_err);
	for (size_t i = 0; i < s->ncaps; i++) {
		free(s->caps[i].name);
		pattern_release(&s->caps[i].pat);
	}
	free(s->caps);
	for (size_t i = 0; i < s->ndiags; i++) {
		pattern_release(&s->diags[i].pat);
		tmpl_free(s->diags[i].hint);
	}
	free(s->diags);
	tmpl_free(s->check);
	tmpl_free(s->hint);
}

static void steps_free(struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		step_release(&s[i]);
	free(s);
}

/* --- ids ----------------------------------------------------------------- */

struct idset {
	const char **v;
	struct pos *pos;
	size_t n, cap, pcap;
};

static bool idset_has(const struct idset *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], id))
			return true;
	return false;
}

static void idset_add(struct idset *s, const char *id, struct pos p)
{
	VEC_PUSH(s->pos, s->n, s->pcap, p);
	s->n--;
	VEC_PUSH(s->v, s->n, s->cap, id);
}

static void collect_given_ids(struct loader *L, struct step *s, size_t n, struct idset *ids)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i].id_given) {
			for (size_t j = 0; j < ids->n; j++)
				if (!strcmp(ids->v[j], s[i].id))
					rb_error_at(L->err, s[i].pos, "duplicate id '%s' (first at line %d)", s[i].id,
						    ids->pos[j].line);
			idset_add(ids, s[i].id, s[i].pos);
		}
		collect_given_ids(L, s[i].steps, s[i].nsteps, ids);
		/* an undo's id names its journal records: unique too */
		collect_given_ids(L, s[i].undo, s[i].nundo, ids);
	}
}

/* Default ids are sN by position in document order, skipping ids written. */
static void assign_ids(struct loader *L, struct step *s, size_t n, struct idset *ids, const char *prefix)
{
	for (size_t i = 0; i < n; i++) {
		L->step_counter++;
		if (!s[i].id) {
			char buf[64];
			int k = L->step_counter;
			do
				snprintf(buf, sizeof(buf), "%s%d", prefix, k++);
			while (idset_has(ids, buf));
			s[i].id = xstrdup(buf);
			idset_add(ids, s[i].id, s[i].pos);
		}
		assign_ids(L, s[i].steps, s[i].nsteps, ids, prefix);
		/* undo steps are named after their step: ID.undo, ID.undo2 */
		for (size_t u = 0; u < s[i].nundo; u++)
			if (!s[i].undo[u].id)
				s[i].undo[u].id = u ? xasprintf("%s.undo%zu", s[i].id, u + 1)
						    : xasprintf("%s.undo", s[i].id);
	}
}

/* --- modules ------------------------------------------------------------- */

static const char *const module_keys[] = {"module", "description", "actions"};
static const char *const action_keys[] = {"description", "params", "steps"};

static void module_free(struct module *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nactions; i++) {
		struct action_def *a = &m->actions[i];
		free(a->name);
		free(a->description);
		params_free(a->params, a->nparams);
		steps_free(a->steps, a->nsteps);
	}
	free(m->actions);
	free(m->name);
	free(m->path);
	free(m->description);
	doc_free(m->doc);
	free(m);
}

struct action_def *module_action(const struct module *m, const char *name)
{
	for (size_t i = 0; i < m->nactions; i++)
		if (!strcmp(m->actions[i].name, name))
			return &m->actions[i];
	return NULL;
}

static void resolve_uses(struct loader *L, struct step *s, size_t n, const char *fromdir);
static void module_parse(struct loader *L, struct module *m, struct doc *d);

static struct module *module_get(struct loader *L, const char *name, struct pos at, const char *fromdir)
{
	for (size_t i = 0; i < L->rb->nmodules; i++)
		if (!strcmp(L->rb->modules[i]->name, name))
			return L->rb->modules[i];
	char *path = module_find(name, fromdir);
	if (!path) {
		rb_error_at(L->err, at,
			    "module '%s' not found (looked for %s.yml in RUNBOOK_PATH, beside the runbook in modules/ "
			    "and ., in ../stdlib, and in the installed stdlib)",
			    name, name);
		return NULL;
	}
	struct doc *d = doc_load(path, L->err);
	struct module *m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(name);
	m->path = path;
	m->doc = d;
	/* Register before parsing its steps so that a cycle finds it. */
	VEC_PUSH(L->rb->modules, L->rb->nmodules, L->rb->modcap, m);
	if (d) {
		const struct doc *saved = L->doc;
		L->doc = d;
		module_parse(L, m, d);
		L->doc = saved;
	}
	return m;
}

static void module_parse(struct loader *L, struct module *m, struct doc *d)
{
	const char *name = m->name, *path = m->path;
	size_t before = L->err->n;
	struct node *root = d->root;
	if (!root || root->kind != NODE_MAP) {
		struct pos p = {d->path, 1, 1};
		rb_error_at(L->err, p, "a module file is a mapping with 'module' and 'actions'");
		return;
	}
	check_keys(L, root, module_keys, ARRAY_LEN(module_keys), "a module");
	struct node *x;
	if (!(x = node_get(root, "module"))) {
		struct pos p = {d->path, 1, 1};
		rb_error_at(L->err, p, "missing 'module: %s'", name);
	} else if (is_scalar(L, x, "module") && strcmp(x->str, name) != 0) {
		rb_error_at(L->err, x->pos, "this file defines module '%s', but it was loaded as '%s'", x->str, name);
	}
	if ((x = node_get(root, "description")) && is_scalar(L, x, "description"))
		m->description = xstrdup(x->str);
	struct node *acts = node_get(root, "actions");
	if (!acts) {
		struct pos p = {d->path, 1, 1};
		rb_error_at(L->err, p, "module '%s' has no 'actions'", name);
		return;
	}
	if (!is_map(L, acts, "actions"))
		return;
	m->actions = xcalloc(acts->n / 2 + 1, sizeof(*m->actions));
	for (size_t i = 0; i < acts->n; i += 2) {
		struct node *k = acts->items[i], *v = acts->items[i + 1];
		struct action_def *a = &m->actions[m->nactions++];
		a->name = xstrdup(k->str);
		a->pos = k->pos;
		if (!valid_ident(k->str, true))
			rb_error_at(L->err, k->pos, "invalid action name '%s'", k->str);
		if (!is_map(L, v, k->str))
			continue;
		check_keys(L, v, action_keys, ARRAY_LEN(action_keys), "an action");
		if ((x = node_get(v, "description")) && is_scalar(L, x, "description"))
			a->description = xstrdup(x->str);
		if ((x = node_get(v, "params")))
			parse_params(x, &a->params, &a->nparams, L->err);
		if (!(x = node_get(v, "steps")))
			rb_error_at(L->err, k->pos, "action '%s' has no 'steps'", k->str);
		else {
			parse_steps(L, x, "steps", &a->steps, &a->nsteps, SC_STEP);
			struct idset ids = {0};
			collect_given_ids(L, a->steps, a->nsteps, &ids);
			int saved = L->step_counter;
			L->step_counter = 0;
			assign_ids(L, a->steps, a->nsteps, &ids, "s");
			L->step_counter = saved;
			free(ids.v);
			free(ids.pos);
		}
	}
	if (L->err->n == before) {
		char *dup = xstrdup(path);
		for (size_t i = 0; i < m->nactions; i++)
			resolve_uses(L, m->actions[i].steps, m->actions[i].nsteps, dirname(dup));
		free(dup);
	}
}

/* Loads the modules named by `uses` and checks `with` against the action. */
static void resolve_uses(struct loader *L, struct step *s, size_t n, const char *fromdir)
{
	for (size_t i = 0; i < n; i++) {
		resolve_uses(L, s[i].steps, s[i].nsteps, fromdir);
		resolve_uses(L, s[i].undo, s[i].nundo, fromdir);
		if (!s[i].kind || s[i].kind->action != ACT_USES || !s[i].mod)
			continue;
		struct module *m = module_get(L, s[i].mod, s[i].uses_pos, fromdir);
		if (!m || !m->doc)
			continue;
		struct action_def *a = module_action(m, s[i].action);
		if (!a) {
			const char **names = xcalloc(m->nactions + 1, sizeof(char *));
			for (size_t j = 0; j < m->nactions; j++)
				names[j] = m->actions[j].name;
			struct sbuf sb = {0};
			sbuf_addf(&sb, "module '%s' has no action '%s'", s[i].mod, s[i].action);
			sbuf_add_suggestion(&sb, s[i].action, names, m->nactions);
			rb_error_at(L->err, s[i].uses_pos, "%s", sbuf_str(&sb));
			sbuf_release(&sb);
			free(names);
			continue;
		}
		s[i].module = m;
		s[i].adef = a;
		const char **pnames = xcalloc(a->nparams + 1, sizeof(char *));
		for (size_t j = 0; j < a->nparams; j++)
			pnames[j] = a->params[j].name;
		for (size_t w = 0; w < s[i].nwith; w++) {
			bool found = false;
			for (size_t j = 0; j < a->nparams; j++)
				if (!strcmp(a->params[j].name, s[i].with[w].key))
					found = true;
			if (!found) {
				struct sbuf sb = {0};
				sbuf_addf(&sb, "action '%s.%s' has no param '%s'", s[i].mod, s[i].action,
					  s[i].with[w].key);
				sbuf_add_suggestion(&sb, s[i].with[w].key, pnames, a->nparams);
				rb_error_at(L->err, s[i].with[w].pos, "%s", sbuf_str(&sb));
				sbuf_release(&sb);
			}
		}
		for (size_t j = 0; j < a->nparams; j++) {
			if (!a->params[j].required)
				continue;
			bool given = false;
			for (size_t w = 0; w < s[i].nwith; w++)
				if (!strcmp(a->params[j].name, s[i].with[w].key))
					given = true;
			if (!given)
				rb_error_at(L->err, s[i].uses_pos, "'%s.%s' needs param '%s' in 'with'", s[i].mod,
					    s[i].action, a->params[j].name);
		}
		/* Constant arguments are checked against the action's rules now. */
		for (size_t w = 0; w < s[i].nwith; w++) {
			const struct tmpl *t = s[i].with[w].val;
			if (!tmpl_is_constant(t))
				continue;
			for (size_t j = 0; j < a->nparams; j++) {
				if (strcmp(a->params[j].name, s[i].with[w].key) != 0)
					continue;
				char *why = param_violation(&a->params[j], t->src);
				if (why) {
					rb_error_at(L->err, s[i].with[w].pos, "argument '%s' of '%s.%s' %s",
						    s[i].with[w].key, s[i].mod, s[i].action, why);
					free(why);
				}
			}
		}
		free(pnames);
	}
}

/* --- the names pass ------------------------------------------------------ */

struct scopecheck {
	struct loader *L;
	const char **known;  /* names readable here */
	size_t nknown, cap;
	struct idset done;   /* step ids that ran before this point */
	struct idset all;    /* every step id of this scope */
	const char **later;  /* captures produced anywhere in this scope */
	size_t nlater, lcap;
	bool allow_host;
	const struct regex *groups; /* diagnose: the pattern's named groups */
	const char *where;   /* "vars" etc. for messages */
	const char *current; /* the id of the step being checked */
	struct module *mod;  /* checking a module action */
};

static bool known_has(struct scopecheck *sc, const char *name)
{
	for (size_t i = 0; i < sc->nknown; i++)
		if (!strcmp(sc->known[i], name))
			return true;
	return false;
}

static void check_name(struct scopecheck *sc, const char *name, struct pos at)
{
	struct rb_error *err = sc->L->err;
	const char *dot = strchr(name, '.');
	if (sc->groups && !dot && regex_has_group(sc->groups, name))
		return;
	if (dot) {
		size_t plen = (size_t)(dot - name);
		const char *rest = dot + 1;
		if (plen == 4 && !strncmp(name, "host", 4)) {
			static const char *const f[] = {"name", "address", "user"};
			if (!sc->allow_host)
				rb_error_at(err, at, "'%s' is not known in %s (hosts are chosen per step)", name, sc->where);
			else if (strcmp(rest, "name") && strcmp(rest, "address") && strcmp(rest, "user")) {
				struct sbuf sb = {0};
				sbuf_addf(&sb, "unknown name '%s' (host.name, host.address or host.user)", name);
				sbuf_add_suggestion(&sb, rest, f, 3);
				rb_error_at(err, at, "%s", sbuf_str(&sb));
				sbuf_release(&sb);
			}
			return;
		}
		if (plen == 7 && !strncmp(name, "archive", 7)) {
			static const char *const f[] = {"entries", "bytes", "sha256"};
			if (strcmp(rest, "entries") && strcmp(rest, "bytes") && strcmp(rest, "sha256")) {
				struct sbuf sb = {0};
				sbuf_addf(&sb, "unknown name '%s' (archive.entries, archive.bytes or archive.sha256)", name);
				sbuf_add_suggestion(&sb, rest, f, 3);
				rb_error_at(err, at, "%s", sbuf_str(&sb));
				sbuf_release(&sb);
			} else if (!known_has(sc, name)) {
				rb_error_at(err, at, "'%s' is set by an archive step, and none runs before this point", name);
			}
			return;
		}
		if (plen == 3 && !strncmp(name, "run", 3)) {
			if (strcmp(rest, "id") && strcmp(rest, "dir") && strcmp(rest, "started"))
				rb_error_at(err, at, "unknown name '%s' (run.id, run.dir or run.started)", name);
			return;
		}
		if (plen == 3 && !strncmp(name, "env", 3)) {
			if (strchr(rest, '.') || !valid_env_name(rest))
				rb_error_at(err, at, "invalid environment variable name in '%s'", name);
			return;
		}
		if (plen == 5 && !strncmp(name, "steps", 5)) {
			const char *d2 = strrchr(rest, '.');
			if (!d2 || (strcmp(d2 + 1, "rc") && strcmp(d2 + 1, "stdout") && strcmp(d2 + 1, "stderr"))) {
				rb_error_at(err, at, "'%s' must be steps.ID.rc, steps.ID.stdout or steps.ID.stderr", name);
				return;
			}
			char *id = xstrndup(rest, (size_t)(d2 - rest));
			if (!idset_has(&sc->done, id)) {
				if (sc->current && !strcmp(sc->current, id))
					rb_error_at(err, at, "'%s': a step cannot read its own results (only its 'check' and 'undo' can)",
						    name);
				else if (idset_has(&sc->all, id))
					rb_error_at(err, at, "'%s' reads step '%s', which runs after this point", name, id);
				else {
					struct sbuf sb = {0};
					sbuf_addf(&sb, "'%s': no step has id '%s'", name, id);
					sbuf_add_suggestion(&sb, id, sc->done.v, sc->done.n);
					rb_error_at(err, at, "%s", sbuf_str(&sb));
					sbuf_release(&sb);
				}
			}
			free(id);
			return;
		}
		rb_error_at(err, at, "unknown name '%s'", name);
		return;
	}
	if (known_has(sc, name))
		return;
	for (size_t i = 0; i < sc->nlater; i++)
		if (!strcmp(sc->later[i], name)) {
			rb_error_at(err, at, "'%s' is captured by a step that runs after this point", name);
			return;
		}
	struct sbuf sb = {0};
	sbuf_addf(&sb, "unknown name '%s'", name);
	sbuf_add_suggestion(&sb, name, sc->known, sc->nknown);
	rb_error_at(err, at, "%s", sbuf_str(&sb));
	sbuf_release(&sb);
}

static void expr_name_cb(void *ctx, const char *name, struct pos at)
{
	check_name(ctx, name, at);
}

static void check_tmpl(struct scopecheck *sc, const struct tmpl *t)
{
	tmpl_each_name(t, expr_name_cb, sc);
}

static void collect_all(struct scopecheck *sc, const struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		idset_add(&sc->all, s[i].id, s[i].pos);
		for (size_t c = 0; c < s[i].ncaps; c++)
			VEC_PUSH(sc->later, sc->nlater, sc->lcap, s[i].caps[c].name);
		collect_all(sc, s[i].steps, s[i].nsteps);
	}
}

static void add_known(struct scopecheck *sc, const char *name, struct pos at, const char *what)
{
	if (known_has(sc, name)) {
		rb_error_at(sc->L->err, at, "%s '%s' reuses a name already defined", what, name);
		return;
	}
	VEC_PUSH(sc->known, sc->nknown, sc->cap, name);
}

static void check_action_names(struct loader *L, struct module *m, struct action_def *a);

static void check_step_names(struct scopecheck *sc, struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct step *st = &s[i];
		if (!st->kind)
			continue;
		const char *saved = sc->current;
		sc->current = st->id;
		expr_each_name(st->when, expr_name_cb, sc);
		check_tmpl(sc, st->sudo_user);
		check_tmpl(sc, st->cwd);
		for (size_t e = 0; e < st->nenv; e++)
			check_tmpl(sc, st->env[e].val);
		check_tmpl(sc, st->text);
		for (size_t w = 0; w < st->nwith; w++)
			check_tmpl(sc, st->with[w].val);
		if (st->expect_out)
			check_tmpl(sc, st->expect_out->t);
		if (st->expect_err)
			check_tmpl(sc, st->expect_err->t);
		for (size_t c = 0; c < st->ncaps; c++)
			check_tmpl(sc, st->caps[c].pat.t);
		for (size_t d = 0; d < st->ndiags; d++) {
			check_tmpl(sc, st->diags[d].pat.t);
			/* a pattern that did not compile has no known groups: its
			 * error is enough */
			if (st->diags[d].pat.bad)
				continue;
			sc->groups = st->diags[d].pat.re ? st->diags[d].pat.re : st->diags[d].pat.shape;
			check_tmpl(sc, st->diags[d].hint);
			sc->groups = NULL;
		}
		check_tmpl(sc, st->hint);
		check_step_names(sc, st->steps, st->nsteps);
		/* the step's own check, captures and undo see its captures */
		for (size_t c = 0; c < st->ncaps; c++) {
			/* archive.* : the latest archive step's */
			if (!st->caps[c].pat.t && known_has(sc, st->caps[c].name))
				continue;
			add_known(sc, st->caps[c].name, st->caps[c].pat.pos, "capture");
		}
		idset_add(&sc->done, st->id, st->pos);
		check_tmpl(sc, st->check);
		sc->current = saved;
		/* undos see what the forward step saw, its own results included;
		 * what they capture or produce exists only during a rollback, so
		 * the forward steps after this one must not see it */
		size_t nknown = sc->nknown, ndone = sc->done.n;
		check_step_names(sc, st->undo, st->nundo);
		sc->nknown = nknown;
		sc->done.n = ndone;
		if (st->adef)
			check_action_names(sc->L, st->module, st->adef);
	}
}

static void scope_release(struct scopecheck *sc)
{
	free(sc->known);
	free(sc->done.v);
	free(sc->done.pos);
	free(sc->all.v);
	free(sc->all.pos);
	free(sc->later);
}

/* Module actions are checked once each; `visiting` catches cycles. */
static void check_action_names(struct loader *L, struct module *m, struct action_def *a)
{
	if (a->state == 2)
		return;
	if (a->state == 1) {
		struct sbuf sb = {0};
		sbuf_adds(&sb, "module cycle: ");
		for (int j = 0; j < L->depth; j++)
			sbuf_addf(&sb, "%s.%s \xe2\x86\x92 ", L->stack_mod[j]->name, L->stack_act[j]->name);
		sbuf_addf(&sb, "%s.%s", m->name, a->name);
		rb_error_at(L->err, a->pos, "%s", sbuf_str(&sb));
		sbuf_release(&sb);
		return;
	}
	if (L->depth >= (int)ARRAY_LEN(L->stack_act)) {
		rb_error_at(L->err, a->pos, "modules nested more than %d deep", L->depth);
		return;
	}
	a->state = 1;
	L->stack_mod[L->depth] = m;
	L->stack_act[L->depth++] = a;
	struct scopecheck sc = {.L = L, .allow_host = true, .where = "a module", .mod = m};
	for (size_t i = 0; i < a->nparams; i++)
		add_known(&sc, a->params[i].name, a->params[i].pos, "param");
	collect_all(&sc, a->steps, a->nsteps);
	check_step_names(&sc, a->steps, a->nsteps);
	scope_release(&sc);
	L->depth--;
	a->state = 2;
}

static void check_names(struct loader *L, struct runbook *rb)
{
	struct scopecheck sc = {.L = L, .where = "vars"};
	for (size_t i = 0; i < rb->nparams; i++)
		add_known(&sc, rb->params[i].name, rb->params[i].pos, "param");
	for (size_t i = 0; i < rb->nvars; i++) {
		check_tmpl(&sc, rb->vars[i].t);
		add_known(&sc, rb->vars[i].name, rb->vars[i].pos, "var");
	}
	sc.allow_host = true;
	sc.where = "preconditions";
	collect_all(&sc, rb->steps, rb->nsteps);
	collect_all(&sc, rb->fin, rb->nfin);
	for (size_t i = 0; i < rb->npre; i++) {
		struct step *p = &rb->pre[i];
		expr_each_name(p->when, expr_name_cb, &sc);
		check_tmpl(&sc, p->text);
		check_tmpl(&sc, p->hint);
		check_tmpl(&sc, p->cwd);
		check_tmpl(&sc, p->sudo_user);
		for (size_t e = 0; e < p->nenv; e++)
			check_tmpl(&sc, p->env[e].val);
		if (p->expect_out)
			check_tmpl(&sc, p->expect_out->t);
		if (p->expect_err)
			check_tmpl(&sc, p->expect_err->t);
	}
	sc.where = "steps";
	check_step_names(&sc, rb->steps, rb->nsteps);
	sc.where = "finally";
	check_step_names(&sc, rb->fin, rb->nfin);
	scope_release(&sc);
}

/* --- the runbook --------------------------------------------------------- */

static const char *const top_keys[] = {"runbook", "description", "params", "vars", "target", "hosts",
				       "use", "preconditions", "steps", "finally", "on_failure"};

struct runbook *runbook_load(const char *path, struct rb_error *err)
{
	size_t before = err->n;
	struct doc *d = doc_load(path, err);
	if (!d)
		return NULL;
	struct runbook *rb = xcalloc(1, sizeof(*rb));
	rb->doc = d;
	rb->path = xstrdup(path);
	char *dup = xstrdup(path);
	rb->dir = xstrdup(dirname(dup));
	free(dup);
	struct loader L0 = {.err = err, .rb = rb, .doc = d}, *L = &L0;
	struct node *root = d->root, *x;
	struct pos top = {d->path, 1, 1};
	if (!root || root->kind != NODE_MAP) {
		rb_error_at(err, root ? root->pos : top, "a runbook is a mapping with 'runbook' and 'steps'");
		goto out;
	}
	check_keys(L, root, top_keys, ARRAY_LEN(top_keys), "the runbook");
	if (!(x = node_get(root, "runbook"))) {
		if (!typo_of(root, "runbook", top_keys, ARRAY_LEN(top_keys)))
			rb_error_at(err, top, "missing 'runbook: NAME'");
	}
	else if (is_scalar(L, x, "runbook")) {
		const char *p = x->str;
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
		for (; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
				ok = false;
		if (!ok || x->len > 64)
			rb_error_at(err, x->pos, "invalid runbook name '%s' (lowercase letters, digits and -)", x->str);
		rb->name = xstrdup(x->str);
	}
	if ((x = node_get(root, "description")) && is_scalar(L, x, "description"))
		rb->description = xstrdup(x->str);
	if ((x = node_get(root, "params")))
		parse_params(x, &rb->params, &rb->nparams, err);
	if ((x = node_get(root, "vars")) && is_map(L, x, "vars")) {
		rb->vars = xcalloc(x->n / 2 + 1, sizeof(*rb->vars));
		for (size_t i = 0; i < x->n; i += 2) {
			struct node *k = x->items[i], *v = x->items[i + 1];
			if (!valid_param_name(k->str)) {
				rb_error_at(err, k->pos, "invalid var name '%s' (letters, digits and _)", k->str);
				continue;
			}
			struct tmpl *t = parse_tmpl(L, v, k->str, TMPL_TEXT);
			if (!t)
				continue;
			struct var_def *vd = &rb->vars[rb->nvars++];
			vd->name = xstrdup(k->str);
			vd->pos = k->pos;
			vd->t = t;
		}
	}
	if ((x = node_get(root, "target")) && nonempty_text(L, x, "target")) {
		rb->target = xstrdup(x->str);
		rb->target_pos = x->pos;
	}
	if ((x = node_get(root, "hosts")) && is_map(L, x, "hosts")) {
		rb->hosts = xcalloc(x->n / 2 + 1, sizeof(*rb->hosts));
		for (size_t i = 0; i < x->n; i += 2) {
			parse_host_def(x->items[i + 1], x->items[i]->str, x->items[i]->pos, &rb->hosts[rb->nhosts], err);
			rb->nhosts++;
		}
	}
	if ((x = node_get(root, "on_failure")) && is_scalar(L, x, "on_failure")) {
		if (!strcmp(x->str, "stop"))
			rb->on_failure_stop = true;
		else if (strcmp(x->str, "rollback") != 0)
			rb_error_at(err, x->pos, "'on_failure' must be 'rollback' or 'stop', not '%s'", x->str);
	}
	if ((x = node_get(root, "preconditions")))
		parse_steps(L, x, "preconditions", &rb->pre, &rb->npre, SC_PRE);
	if (!(x = node_get(root, "steps"))) {
		if (!typo_of(root, "steps", top_keys, ARRAY_LEN(top_keys)))
			rb_error_at(err, top, "missing 'steps'");
	}
	else {
		parse_steps(L, x, "steps", &rb->steps, &rb->nsteps, SC_STEP);
		if (x->kind == NODE_SEQ && !x->n)
			rb_error_at(err, x->pos, "'steps' is empty");
	}
	if ((x = node_get(root, "finally"))) {
		parse_steps(L, x, "finally", &rb->fin, &rb->nfin, SC_STEP);
		refuse_undo_in_finally(L, rb->fin, rb->nfin);
	}

	struct idset ids = {0};
	collect_given_ids(L, rb->steps, rb->nsteps, &ids);
	collect_given_ids(L, rb->fin, rb->nfin, &ids);
	collect_given_ids(L, rb->pre, rb->npre, &ids);
	assign_ids(L, rb->steps, rb->nsteps, &ids, "s");
	L->step_counter = 0;
	assign_ids(L, rb->fin, rb->nfin, &ids, "finally");
	L->step_counter = 0;
	assign_ids(L, rb->pre, rb->npre, &ids, "pre");
	free(ids.v);
	free(ids.pos);

	/* `use:` loads modules up front; `uses:` loads the rest on demand. */
	if ((x = node_get(root, "use"))) {
		if (x->kind == NODE_SCALAR && x->len)
			module_get(L, x->str, x->pos, rb->dir);
		else if (is_seq(L, x, "use"))
			for (size_t i = 0; i < x->n; i++)
				if (nonempty_text(L, x->items[i], "use"))
					module_get(L, x->items[i]->str, x->items[i]->pos, rb->dir);
	}
	resolve_uses(L, rb->pre, rb->npre, rb->dir);
	resolve_uses(L, rb->steps, rb->nsteps, rb->dir);
	resolve_uses(L, rb->fin, rb->nfin, rb->dir);
	check_names(L, rb);
out:
	if (err->n != before) {
		runbook_free(rb);
		return NULL;
	}
	return rb;
}

struct runbook *module_load_file(const char *path, struct rb_error *err)
{
	size_t before = err->n;
	struct doc *d = doc_load(path, err);
	if (!d)
		return NULL;
	struct runbook *rb = xcalloc(1, sizeof(*rb));
	rb->path = xstrdup(path);
	char *dup = xstrdup(path);
	rb->dir = xstrdup(dirname(dup));
	free(dup);
	struct loader L = {.err = err, .rb = rb, .doc = d};
	/* named as `uses` finds it: by its file name */
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t len = strlen(base);
	if (str_has_suffix(base, ".yml"))
		len -= 4;
	else if (str_has_suffix(base, ".yaml"))
		len -= 5;
	struct module *m = xcalloc(1, sizeof(*m));
	m->name = xstrndup(base, len);
	m->path = xstrdup(path);
	m->doc = d;
	VEC_PUSH(rb->modules, rb->nmodules, rb->modcap, m);
	module_parse(&L, m, d);
	for (size_t i = 0; err->n == before && i < m->nactions; i++)
		check_action_names(&L, m, &m->actions[i]);
	if (err->n != before) {
		runbook_free(rb);
		return NULL;
	}
	return rb;
}

void runbook_free(struct runbook *rb)
{
	if (!rb)
		return;
	for (size_t i = 0; i < rb->nmodules; i++)
		module_free(rb->modules[i]);
	free(rb->modules);
	params_free(rb->params, rb->nparams);
	for (size_t i = 0; i < rb->nvars; i++) {
		free(rb->vars[i].name);
		tmpl_free(rb->vars[i].t);
	}
	free(rb->vars);
	for (size_t i = 0; i < rb->nhosts; i++)
		host_def_release(&rb->hosts[i]);
	free(rb->hosts);
	steps_free(rb->pre, rb->npre);
	steps_free(rb->steps, rb->nsteps);
	steps_free(rb->fin, rb->nfin);
	free(rb->target);
	free(rb->name);
	free(rb->description);
	free(rb->path);
	free(rb->dir);
	doc_free(rb->doc);
	free(rb);
}
