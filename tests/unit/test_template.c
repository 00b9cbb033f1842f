/* Templates: parsing, errors with positions, quoting chosen by the shell
 * position of each placeholder, masking. */
#include "unit.h"
#include "template.h"

#include <stdlib.h>

void test_template(void);

static const struct {
	const char *name, *val;
	bool secret;
} vars[] = {
	{"v", "a b", false},
	{"q", "it's", false},
	{"d", "$x\"`\\", false},
	{"pw", "s3cr3t", true},
	{"n", "5", false},
	{"steps.s1.rc", "0", false},
	{"env.HOME", "/home/op", false},
	{"empty", "", false},
};

static int lookups;

static const char *lookup(void *ctx, const char *name, bool *secret)
{
	(void)ctx;
	lookups++;
	for (size_t i = 0; i < ARRAY_LEN(vars); i++)
		if (strcmp(vars[i].name, name) == 0) {
			*secret = vars[i].secret;
			return vars[i].val;
		}
	return NULL;
}

static const struct pos AT = {"t.yml", 1, 1};

/* The rendering of src, or "!" followed by every error (one a line). */
static char *R(const char *src, enum tmpl_mode mode, int flags)
{
	struct rb_error err = {0};
	struct sbuf out = {0};
	struct tmpl *t = tmpl_parse(src, AT, mode, &err);
	if (!t) {
		sbuf_addc(&out, '!');
		for (size_t i = 0; i < err.n; i++)
			sbuf_addf(&out, "%s%s", i ? "\n" : "", err.msgs[i]);
		if (err.n == 0)
			sbuf_adds(&out, "(NULL without an error)");
	} else {
		const char *bad = NULL;
		if (tmpl_render(t, lookup, NULL, flags, &out, &bad) < 0) {
			sbuf_reset(&out);
			sbuf_addf(&out, "?%s", bad ? bad : "(null)");
		}
		if (err.n)
			sbuf_adds(&out, " (+errors with a template)");
	}
	tmpl_free(t);
	rb_error_release(&err);
	return sbuf_detach(&out);
}

/* Parses in shell mode at pos `at`; returns the errors joined by '\n' or
 * "(parsed)" when it succeeded. */
static char *E(const char *src, struct pos at)
{
	struct rb_error err = {0};
	struct tmpl *t = tmpl_parse(src, at, TMPL_SHELL, &err);
	struct sbuf out = {0};
	if (t)
		sbuf_adds(&out, "(parsed)");
	for (size_t i = 0; i < err.n; i++)
		sbuf_addf(&out, "%s%s", i ? "\n" : "", err.msgs[i]);
	tmpl_free(t);
	rb_error_release(&err);
	return sbuf_detach(&out);
}

#define SH(src, want, what)                                  \
	do {                                                 \
		char *got_ = R(src, TMPL_SHELL, 0);          \
		CHECK_STR(got_, want, what);                 \
		free(got_);                                  \
	} while (0)

#define REFUSED(src, why, what)                                                                  \
	do {                                                                                     \
		char *got_ = R(src, TMPL_SHELL, 0);                                              \
		const char *w_ = (why);                                                          \
		bool ok_ = got_[0] == '!' && strstr(got_, "cannot be quoted safely") && strstr(got_, w_); \
		CHECK(ok_, what);                                                                \
		if (!ok_)                                                                        \
			printf("#   got: [%s]\n", got_);                                     \
		free(got_);                                                                      \
	} while (0)

void test_template(void)
{
	char *s;

	/* --- names ----------------------------------------------------------- */
	CHECK(tmpl_valid_name("v"), "valid name: v");
	CHECK(tmpl_valid_name("db_name"), "valid name: db_name");
	CHECK(tmpl_valid_name("steps.schema-diff.rc"), "valid name: steps.schema-diff.rc");
	CHECK(tmpl_valid_name("steps.1st.stdout"), "valid name: an id after a dot may start with a digit");
	CHECK(tmpl_valid_name("env.HOME"), "valid name: env.HOME");
	CHECK(!tmpl_valid_name(""), "invalid name: empty");
	CHECK(!tmpl_valid_name("1abc"), "invalid name: leading digit");
	CHECK(!tmpl_valid_name("a..b"), "invalid name: a..b");
	CHECK(!tmpl_valid_name("a."), "invalid name: trailing dot");
	CHECK(!tmpl_valid_name("a b"), "invalid name: space");
	CHECK(!tmpl_valid_name("-a"), "invalid name: leading dash");
	CHECK(!tmpl_valid_name("a$b"), "invalid name: a$b");

	/* --- text mode: verbatim ------------------------------------------- */
	s = R("{{ v }}/{{q}}-{{ d }}", TMPL_TEXT, 0);
	CHECK_STR(s, "a b/it's-$x\"`\\", "text mode inserts values verbatim");
	free(s);
	s = R("no placeholders at all", TMPL_TEXT, 0);
	CHECK_STR(s, "no placeholders at all", "constant text renders as itself");
	free(s);
	s = R("", TMPL_TEXT, 0);
	CHECK_STR(s, "", "empty template renders empty");
	free(s);
	s = R("{{ empty }}", TMPL_SHELL, 0);
	CHECK_STR(s, "''", "an empty value in shell text is still one (empty) word");
	free(s);
	s = R("x {{ env.HOME }} {{ steps.s1.rc }}", TMPL_TEXT, 0);
	CHECK_STR(s, "x /home/op 0", "dotted names look up");
	free(s);
	s = R("a { b } {c} }} {", TMPL_TEXT, 0);
	CHECK_STR(s, "a { b } {c} }} {", "lone braces are literal text");
	free(s);

	{
		struct rb_error err = {0};
		struct tmpl *t = tmpl_parse("echo hi", AT, TMPL_SHELL, &err);
		CHECK(t && tmpl_is_constant(t), "tmpl_is_constant: no placeholder");
		tmpl_free(t);
		t = tmpl_parse("echo {{ v }}", AT, TMPL_SHELL, &err);
		CHECK(t && !tmpl_is_constant(t), "tmpl_is_constant: one placeholder");
		tmpl_free(t);
		t = tmpl_parse("echo {{ \"lit\" }}", AT, TMPL_SHELL, &err);
		CHECK(t && tmpl_is_constant(t), "tmpl_is_constant: a {{ \"literal\" }} is constant");
		CHECK(t && t->src && strcmp(t->src, "echo {{ \"lit\" }}") == 0, "the source is kept as written");
		tmpl_free(t);
		CHECK(err.n == 0, "no errors for valid templates");
		rb_error_release(&err);
	}

	/* --- regex mode ------------------------------------------------------ */
	s = R("^v{{ v }}\\.x$", TMPL_REGEX, 0);
	CHECK_STR(s, "^va b\\.x$", "regex mode: spaces and letters stay");
	free(s);
	{
		struct rb_error err = {0};
		struct tmpl *t = tmpl_parse("^{{ d }}$", AT, TMPL_REGEX, &err);
		struct sbuf out = {0};
		const char *bad = NULL;
		CHECK(t && tmpl_render(t, lookup, NULL, 0, &out, &bad) == 0, "regex mode renders");
		CHECK_STR(sbuf_str(&out), "^\\$x\\\"\\`\\\\$", "regex mode: metacharacters escaped");
		sbuf_release(&out);
		tmpl_free(t);
		rb_error_release(&err);
	}
	s = R("{{ v | raw }}.*", TMPL_REGEX, 0);
	CHECK_STR(s, "a b.*", "regex mode: | raw is verbatim");
	free(s);

	/* --- quoting chosen by position ---------------------------------------- */
	SH("echo {{ v }}", "echo 'a b'", "unquoted -> one single-quoted word");
	SH("echo {{ q }}", "echo 'it'\\''s'", "unquoted, value with a quote");
	SH("echo {{ d }}", "echo '$x\"`\\'", "unquoted: $ \" ` \\ literal inside '…'");
	SH("echo \"{{ v }}\"", "echo \"a b\"", "inside \"…\": no added quotes");
	SH("echo \"{{ d }}\"", "echo \"\\$x\\\"\\`\\\\\"", "inside \"…\": $ \" ` \\ escaped");
	SH("echo \"[{{ q }}]\"", "echo \"[it's]\"", "inside \"…\": a single quote stays");
	SH("echo x{{ v }}y", "echo x'a b'y", "part of a word");
	SH("echo \"$(printf %s {{ v }})\"", "echo \"$(printf %s 'a b')\"",
	   "inside \"$(…)\" nested in \"…\": a word again");
	SH("echo \"$(printf %s \"{{ d }}\")\"", "echo \"$(printf %s \"\\$x\\\"\\`\\\\\")\"",
	   "inside \"…\" inside $(…) inside \"…\"");
	SH("echo \"$(echo \"$(echo {{ v }})\")\" {{ v }}", "echo \"$(echo \"$(echo 'a b')\")\" 'a b'",
	   "doubly nested $(…) and back to top level");
	SH("echo \"$(echo x) {{ v }}\"", "echo \"$(echo x) a b\"", "back in \"…\" after a closed $(…)");
	SH("echo $(echo {{ v }})", "echo $(echo 'a b')", "inside unquoted $(…)");
	SH("echo $( (echo {{ v }}) )", "echo $( (echo 'a b') )", "subshell parentheses inside $(…)");
	SH("echo \"$( (echo x) ) {{ v }}\"", "echo \"$( (echo x) ) a b\"", "after a balanced $( ( ) )");
	SH("echo \"${HOME}{{ v }}\"", "echo \"${HOME}a b\"", "inside \"…\" after ${…}");
	/* a quoted '}' inside ${…}: quote the value as a word, or refuse */
	s = R("echo ${x:-\"}\"} {{ v }}", TMPL_SHELL, 0);
	CHECK(strcmp(s, "echo ${x:-\"}\"} 'a b'") == 0 || (s[0] == '!' && strstr(s, "cannot be quoted safely")),
	      "after ${…} holding a quoted brace: a word or a refusal, never \"…\"-escaping");
	if (s[0] != '!' && strcmp(s, "echo ${x:-\"}\"} 'a b'") != 0)
		printf("#   got: [%s]\n", s);
	free(s);
	SH("echo '\"'{{ v }}", "echo '\"''a b'", "after '\"' (a double quote inside single quotes)");
	SH("echo \"'\"{{ v }}", "echo \"'\"'a b'", "after \"'\" (a single quote inside double quotes)");
	SH("echo '\\'{{ v }}", "echo '\\''a b'", "a backslash inside '…' escapes nothing");
	SH("echo \\\\{{ v }}", "echo \\\\'a b'", "after an escaped backslash");
	SH("echo a#{{ v }}", "echo a#'a b'", "a '#' inside a word is not a comment");
	SH("echo {{ v }}#x {{ v }}", "echo 'a b'#x 'a b'", "a '#' right after a value is not a comment");
	SH("echo x # c\necho {{ v }}", "echo x # c\necho 'a b'", "after a comment line ends");
	SH("cat <<EOF\nhello\nEOF\necho {{ v }}", "cat <<EOF\nhello\nEOF\necho 'a b'",
	   "after a here-document ends");
	SH("cat <<-'EOF'\n\thello\n\tEOF\necho {{ v }}", "cat <<-'EOF'\n\thello\n\tEOF\necho 'a b'",
	   "after a <<- here-document with a quoted delimiter");
	SH("cat <<EOF; echo {{ v }}\nbody\nEOF", "cat <<EOF; echo 'a b'\nbody\nEOF",
	   "on the << line itself, before the body");
	SH("echo {{ v }} \"{{ v }}\" '{{ \"x\" }}'", "echo 'a b' \"a b\" 'x'", "several positions in one line");
	SH("echo {{v}}{{q}}", "echo 'a b''it'\\''s'", "two placeholders touching, no spaces inside braces");
	SH("case x in (a) echo {{ v }};; esac", "case x in (a) echo 'a b';; esac", "case with (pattern)");
	/* The unbalanced ')' of a case pattern inside "$(…)" must not end the
	 * $(…): the value is still in command position, so it needs a word. */
	SH("echo \"$(case a in a) printf %s {{ v }};; esac)\"",
	   "echo \"$(case a in a) printf %s 'a b';; esac)\"",
	   "case pattern ')' inside \"$(…)\" does not close the substitution");

	/* "case" as an ordinary argument opens no case: the ')' still closes $(…) */
	SH("echo \"$(echo case x) {{ v }}\"", "echo \"$(echo case x) a b\"",
	   "the word 'case' as an argument does not hide the ')' of $(…)");
	SH("echo \"$(grep -c case f)\" {{ v }}", "echo \"$(grep -c case f)\" 'a b'",
	   "after \"$(grep case …)\" the value is at top level again");
	SH("echo $(case a in a) echo x;; esac) {{ v }}", "echo $(case a in a) echo x;; esac) 'a b'",
	   "after a case … esac inside $(…)");
	SH("cat <<< {{ v }}", "cat <<< 'a b'", "a here-string word is an ordinary word");

	/* After the ')' of a subshell a '#' starts a comment (the shell ignores
	 * the '"' after it): the next line is top level again. */
	s = R("(true)#\"\necho {{ v }}\n#\"", TMPL_SHELL, 0);
	CHECK(strcmp(s, "(true)#\"\necho 'a b'\n#\"") == 0 || (s[0] == '!' && strstr(s, "cannot be quoted safely")),
	      "a comment right after a subshell's ')': the value is quoted as a word (or refused)");
	if (s[0] != '!' && strcmp(s, "(true)#\"\necho 'a b'\n#\"") != 0)
		printf("#   got: [%s]\n", s);
	free(s);
	SH("echo $(true)#x {{ v }}", "echo $(true)#x 'a b'", "after $(…) a '#' is inside the word: no comment");

	/* | raw and literals */
	SH("echo {{ d | raw }}", "echo $x\"`\\", "| raw inserts verbatim");
	SH("echo {{ v|raw }}", "echo a b", "|raw without spaces");
	SH("echo '{{ v | raw }}'", "echo 'a b'", "| raw is allowed inside '…' (the author's choice)");
	SH("docker ps --format '{{ \"{{.Names}}\" }}'", "docker ps --format '{{.Names}}'",
	   "{{ \"literal\" }} inside '…' (docker's format)");
	SH("echo {{ '{{x}}' }}", "echo {{x}}", "{{ 'literal' }} with single quotes");
	SH("echo {{ \"\" }}end", "echo end", "an empty literal");
	SH("echo {{ \"'\" }}{{ v }}'", "!t.yml:1:15: template '{{ v }}' cannot be quoted safely inside '…' (single quotes): use \"…\" or "
	   "leave it unquoted",
	   "a literal is shell text: its quote opens a '…'");

	/* --- refusals ---------------------------------------------------------- */
	REFUSED("echo '{{ v }}'", "inside '…' (single quotes)", "refused inside '…'");
	REFUSED("echo 'a'\"b\"'c {{ v }}'", "inside '…' (single quotes)", "refused inside a later '…'");
	REFUSED("echo `echo {{ v }}`", "inside `…` (backquotes): use $(…)", "refused inside `…`");
	REFUSED("echo \"`echo {{ v }}`\"", "inside `…`", "refused inside `…` inside \"…\"");
	REFUSED("echo ${x:-{{ v }}}", "inside ${…}", "refused inside ${…}");
	REFUSED("echo \"${x:-{{ v }}}\"", "inside ${…}", "refused inside ${…} inside \"…\"");
	REFUSED("echo hi # {{ v }}", "inside a shell comment", "refused inside a comment");
	REFUSED("#{{ v }}", "inside a shell comment", "refused in a comment at the very start");
	REFUSED("echo $(echo a # {{ v }}\n)", "inside a shell comment", "refused in a comment inside $(…)");
	REFUSED("cat <<EOF\n{{ v }}\nEOF", "inside a here-document", "refused in a here-document body");
	REFUSED("cat <<'EOF'\nx {{ v }}\nEOF", "inside a here-document", "refused in a quoted here-document");
	REFUSED("cat <<-EOF\n\tx\n\t{{ v }}\n\tEOF", "inside a here-document", "refused in a <<- body");
	REFUSED("cat <<{{ v }}\nx\n", "inside a here-document", "refused as a here-document delimiter");
	REFUSED("echo \\{{ v }}", "right after a backslash", "refused after a backslash");
	REFUSED("echo \"\\{{ v }}\"", "right after a backslash", "refused after a backslash inside \"…\"");
	/* `$` right before a value: `$'…'` is ANSI-C quoting in bash (when
	 * /bin/sh is bash), where \' no longer ends the string. */
	REFUSED("echo ${{ v }}", "", "refused right after a bare '$'");

	/* exact message with position of the '{{' */
	s = E("echo '{{ v }}'", (struct pos){"f.yml", 7, 12});
	CHECK_STR(s,
		  "f.yml:7:18: template '{{ v }}' cannot be quoted safely inside '…' (single quotes): use \"…\" or leave "
		  "it unquoted",
		  "refusal: exact message, file:line:col of the '{{'");
	free(s);
	s = E("cat <<EOF\nab {{ v }}\nEOF", (struct pos){"f.yml", 3, 9});
	CHECK_STR(s,
		  "f.yml:4:4: template '{{ v }}' cannot be quoted safely inside a here-document: pass the value "
		  "as an argument or through env",
		  "refusal on a later line: line counted, column from the line start");
	free(s);

	/* --- parse errors ---------------------------------------------------- */
	s = E("echo {{ v | rwa }}", (struct pos){"f.yml", 3, 10});
	CHECK_STR(s, "f.yml:3:15: unknown filter 'rwa' in template \xe2\x80\x94 did you mean 'raw'?",
		  "unknown filter, with a suggestion");
	free(s);
	s = E("echo {{ v | upper }}", (struct pos){"f.yml", 3, 10});
	CHECK_STR(s, "f.yml:3:15: unknown filter 'upper' in template", "unknown filter, nothing close");
	free(s);
	s = E("echo {{ v", (struct pos){"f.yml", 2, 5});
	CHECK_STR(s, "f.yml:2:10: unterminated '{{' (no closing '}}')", "unterminated {{");
	free(s);
	s = E("echo {{ }}", (struct pos){"f.yml", 1, 1});
	CHECK_STR(s, "f.yml:1:6: empty template '{{ }}'", "empty {{ }}");
	free(s);
	s = E("echo {{ a b }}", (struct pos){"f.yml", 1, 1});
	CHECK_STR(s, "f.yml:1:6: invalid name 'a b' in template", "invalid name");
	free(s);
	s = E("echo {{ \"abc }}", (struct pos){"f.yml", 1, 1});
	CHECK_STR(s, "f.yml:1:6: unterminated string in template", "unterminated literal");
	free(s);
	s = E("echo {{ \"abc\" x }}", (struct pos){"f.yml", 1, 1});
	CHECK_STR(s, "f.yml:1:6: expected '}}' after the string in template", "junk after a literal");
	free(s);
	s = E("{{ 1x }} and\n  {{ v | nope }} {{ }}", (struct pos){"f.yml", 5, 3});
	CHECK_STR(s,
		  "f.yml:5:3: invalid name '1x' in template\n"
		  "f.yml:6:3: unknown filter 'nope' in template\n"
		  "f.yml:6:18: empty template '{{ }}'",
		  "every error of a template is reported, each at its own position");
	free(s);

	/* --- rendering errors, masking ------------------------------------------ */
	s = R("echo {{ v }} {{ nosuch }}", TMPL_SHELL, 0);
	CHECK_STR(s, "?nosuch", "an unknown name at render time is reported by name");
	free(s);

	s = R("login -p {{ pw }} \"{{ pw }}\" {{ v }}", TMPL_SHELL, RENDER_MASK);
	CHECK_STR(s, "login -p *** \"***\" 'a b'", "RENDER_MASK shows secrets as ***");
	free(s);
	s = R("login -p {{ pw }}", TMPL_SHELL, 0);
	CHECK_STR(s, "login -p 's3cr3t'", "without RENDER_MASK the secret is inserted (quoted)");
	free(s);
	s = R("{{ pw | raw }}", TMPL_TEXT, RENDER_MASK);
	CHECK_STR(s, "***", "| raw secrets are masked too");
	free(s);
	{
		struct rb_error err = {0};
		struct sbuf out = {0};
		bool used = false;
		const char *bad = NULL;
		struct tmpl *t = tmpl_parse("a {{ v }}", AT, TMPL_TEXT, &err);
		CHECK(t && tmpl_render_ex(t, lookup, NULL, 0, &out, &bad, &used) == 0 && !used,
		      "secret_used stays false without secrets");
		tmpl_free(t);
		sbuf_reset(&out);
		t = tmpl_parse("a {{ v }} {{ pw }}", AT, TMPL_TEXT, &err);
		CHECK(t && tmpl_render_ex(t, lookup, NULL, 0, &out, &bad, &used) == 0 && used,
		      "secret_used set when a secret is inserted");
		CHECK_STR(sbuf_str(&out), "a a b s3cr3t", "render_ex output");
		tmpl_free(t);
		sbuf_release(&out);
		rb_error_release(&err);
	}
}
