/* tests/fuzz/fuzz_template.c — templates and shell quoting.
 *
 * The input is a template source, a NUL, then a value.  The template is
 * parsed in each mode (text, shell, regex) and rendered with every name
 * bound to the value.  Then the oracle: the value quoted as one word
 * (shell_quote_word) and inside double quotes (shell_quote_dq), given to
 * a real /bin/sh as `printf %s WORD` and `printf %s "DQ"`, must come back
 * byte for byte — whatever the value holds, it never runs as syntax. */
#include "fuzz.h"

#include "template.h"
#include "util.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static const char *lookup(void *ctx, const char *name, bool *secret)
{
	*secret = strlen(name) % 3 == 0;
	return ctx;
}

/* What /bin/sh -c CMD prints on stdout (malloc'ed, *n bytes). */
static char *sh_output(const char *cmd, size_t *n)
{
	int p[2];
	if (pipe(p) < 0)
		abort();
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL};
	pid_t pid;
	if (posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ) != 0)
		abort();
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	struct sbuf out = {0};
	char buf[4096];
	ssize_t r;
	/* libFuzzer's -timeout is a SIGALRM every second: EINTR is not the end */
	while ((r = read(p[0], buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			sbuf_add(&out, buf, (size_t)r);
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*n = out.len;
	return sbuf_detach(&out);
}

static void oracle(const char *value, bool dq)
{
	struct sbuf cmd = {0};
	sbuf_adds(&cmd, "printf %s ");
	if (dq) {
		sbuf_adds(&cmd, "\"");
		shell_quote_dq(&cmd, value);
		sbuf_adds(&cmd, "\"");
	} else {
		shell_quote_word(&cmd, value);
	}
	size_t n;
	char *got = sh_output(sbuf_str(&cmd), &n);
	if (n != strlen(value) || memcmp(got, value, n) != 0) {
		fprintf(stderr, "quoting oracle: %s gave back %zu bytes for a %zu-byte value\ncommand: %s\n",
			dq ? "shell_quote_dq" : "shell_quote_word", n, strlen(value), sbuf_str(&cmd));
		abort();
	}
	free(got);
	sbuf_release(&cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, 0, size);
	size_t slen = nul ? (size_t)((const uint8_t *)nul - data) : size;
	char *src = xstrndup((const char *)data, slen);
	/* the value: after the NUL, up to the next one (argv holds no NUL) */
	char *value = nul ? xstrndup(nul + 1, size - slen - 1) : xstrdup("");
	static const enum tmpl_mode modes[] = {TMPL_TEXT, TMPL_SHELL, TMPL_REGEX};
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct rb_error err = {0};
		struct pos at = {"fuzz", 1, 1};
		struct tmpl *t = tmpl_parse(src, at, modes[m], &err);
		if (t) {
			struct sbuf out = {0};
			const char *bad = NULL;
			tmpl_render(t, lookup, value, 0, &out, &bad);
			sbuf_release(&out);
			tmpl_render(t, lookup, value, RENDER_MASK, &out, &bad);
			sbuf_release(&out);
			tmpl_free(t);
		}
		rb_error_release(&err);
	}
	oracle(value, false);
	oracle(value, true);
	free(src);
	free(value);
	return 0;
}
