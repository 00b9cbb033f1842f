/* Shell quoting primitives: exact output, and a round trip through
 * /bin/sh proving that every hostile value comes back byte for byte. */
#include "unit.h"
#include "template.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void test_quote(void);

static char *word(const char *v)
{
	struct sbuf sb = {0};
	shell_quote_word(&sb, v);
	return sbuf_detach(&sb);
}

static char *dq(const char *v)
{
	struct sbuf sb = {0};
	shell_quote_dq(&sb, v);
	return sbuf_detach(&sb);
}

/* Runs `/bin/sh -c cmd` (stdin /dev/null) in a scratch folder and returns
 * what it printed (malloc'ed), or NULL when it could not run. */
static char *sh_out(const char *cmd, const char *dir)
{
	int fds[2];
	if (pipe(fds) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0)
		return NULL;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (chdir(dir) < 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	struct sbuf sb = {0};
	char buf[4096];
	ssize_t r;
	while ((r = read(fds[0], buf, sizeof(buf))) > 0)
		sbuf_add(&sb, buf, (size_t)r);
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	return sbuf_detach(&sb);
}

static const char *const hostile[] = {
	"",
	"plain",
	"two words",
	"tab\there",
	"it's",
	"'",
	"''",
	"'\\''",
	"\"",
	"\"$(touch PWNED)\"",
	"$(touch PWNED)",
	"`touch PWNED`",
	"; touch PWNED",
	"&& touch PWNED",
	"| touch PWNED",
	"a\ntouch PWNED",
	"*",
	"?",
	"[a-z]*",
	"-n",
	"--help",
	"\\",
	"\\\\",
	"back\\slash\\",
	"$HOME",
	"${IFS}",
	"$IFS$()",
	"\\$HOME",
	"\\\"",
	"!",
	"#comment",
	"~",
	"~root",
	"a=b",
	"}{",
	"(",
	")",
	"<x >y",
	"caf\xc3\xa9 \xe2\x98\x83",
	"\xff\xfe bytes",
	"\x01\x1f\x7f",
	"\r\n",
};

void test_quote(void)
{
	char *s;

	/* exact forms */
	s = word("abc");
	CHECK_STR(s, "'abc'", "word: plain");
	free(s);
	s = word("");
	CHECK_STR(s, "''", "word: empty is an empty word, not nothing");
	free(s);
	s = word("it's");
	CHECK_STR(s, "'it'\\''s'", "word: single quote closed, escaped, reopened");
	free(s);
	s = word("'");
	CHECK_STR(s, "''\\'''", "word: lone single quote");
	free(s);
	s = word("$(id) `id` \"x\" \\ ;|&*?\n");
	CHECK_STR(s, "'$(id) `id` \"x\" \\ ;|&*?\n'", "word: everything else is literal inside '…'");
	free(s);

	s = dq("abc def");
	CHECK_STR(s, "abc def", "dq: plain text unchanged (no quotes added)");
	free(s);
	s = dq("$HOME `id` \"q\" \\");
	CHECK_STR(s, "\\$HOME \\`id\\` \\\"q\\\" \\\\", "dq: $ ` \" \\ escaped");
	free(s);
	s = dq("it's *?;|&\n!");
	CHECK_STR(s, "it's *?;|&\n!", "dq: ' * ? ; | & newline ! left alone");
	free(s);
	s = dq("");
	CHECK_STR(s, "", "dq: empty");
	free(s);

	/* round trip through the real shell, in a folder where globs match */
	char dir[] = "/tmp/rbunit.XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	static const char *const files[] = {"a", "b", "x", "-n", "PWNEDX"};
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *p = xasprintf("%s/%s", dir, files[i]);
		int fd = open(p, O_WRONLY | O_CREAT, 0600);
		if (fd >= 0)
			close(fd);
		free(p);
	}
	int word_ok = 0, dq_ok = 0, sub_ok = 0;
	for (size_t i = 0; i < ARRAY_LEN(hostile); i++) {
		const char *v = hostile[i];
		struct sbuf cmd = {0};
		sbuf_adds(&cmd, "printf '%s' ");
		shell_quote_word(&cmd, v);
		char *got = sh_out(sbuf_str(&cmd), dir);
		if (got && strcmp(got, v) == 0)
			word_ok++;
		else
			printf("# word round trip failed for [%s]: got [%s] from [%s]\n", v, got ? got : "(null)",
			       sbuf_str(&cmd));
		free(got);

		sbuf_reset(&cmd);
		sbuf_adds(&cmd, "printf '%s' \"");
		shell_quote_dq(&cmd, v);
		sbuf_adds(&cmd, "\"");
		got = sh_out(sbuf_str(&cmd), dir);
		if (got && strcmp(got, v) == 0)
			dq_ok++;
		else
			printf("# dq round trip failed for [%s]: got [%s] from [%s]\n", v, got ? got : "(null)",
			       sbuf_str(&cmd));
		free(got);

		/* inside "$(…)" nested in double quotes, a word quote is needed */
		sbuf_reset(&cmd);
		sbuf_adds(&cmd, "printf '%s' \"$(printf '%s' ");
		shell_quote_word(&cmd, v);
		sbuf_adds(&cmd, "; echo .)\"");
		got = sh_out(sbuf_str(&cmd), dir);
		char *want = xasprintf("%s.", v); /* $(…) strips trailing newlines; the '.' keeps them */
		if (got && strcmp(got, want) == 0)
			sub_ok++;
		else
			printf("# $(…) round trip failed for [%s]: got [%s]\n", v, got ? got : "(null)");
		free(want);
		free(got);
		sbuf_release(&cmd);
	}
	CHECK(word_ok == (int)ARRAY_LEN(hostile), "every hostile value round-trips as one word");
	CHECK(dq_ok == (int)ARRAY_LEN(hostile), "every hostile value round-trips inside \"…\"");
	CHECK(sub_ok == (int)ARRAY_LEN(hostile), "every hostile value round-trips as a word inside \"$(…)\"");
	char *pw = xasprintf("%s/PWNED", dir);
	CHECK(access(pw, F_OK) != 0, "no hostile value ran a command");
	free(pw);
	char *rm = xasprintf("rm -rf -- '%s'", dir);
	free(sh_out(rm, "/"));
	free(rm);
}
