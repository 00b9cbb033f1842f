/* ui.c — see ui.h.  Progress goes to stdout; errors to stderr.  On a TTY
 * the step line is left open and closed with its status when the step
 * printed nothing, so a quiet runbook reads as one line per step. */
#include "ui.h"
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct ui_opts opts;
static FILE *events;
static struct json ev;
static bool line_open; /* a "[n/N] title …" line awaits its status */

bool ui_color_default(void)
{
	const char *nc = getenv("NO_COLOR");
	return isatty(1) && !(nc && *nc);
}

int ui_init(const struct ui_opts *o, struct rb_error *err)
{
	opts = *o;
	/* step output is flushed once per chunk read (ui_flush), not per line */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (o->events_path) {
		int fd = open(o->events_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0 || !(events = fdopen(fd, "a"))) {
			rb_error_add(err, "cannot open the events file '%s': %s", o->events_path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
	}
	return 0;
}

void ui_close(void)
{
	if (events)
		fclose(events);
	events = NULL;
	json_release(&ev);
}

int ui_verbosity(void)
{
	return opts.verbosity;
}

const char *ui_c(const char *what)
{
	if (!opts.color)
		return "";
	if (!strcmp(what, "ok"))
		return "\033[32m";
	if (!strcmp(what, "fail"))
		return "\033[31m";
	if (!strcmp(what, "warn"))
		return "\033[33m";
	if (!strcmp(what, "dim"))
		return "\033[2m";
	if (!strcmp(what, "bold"))
		return "\033[1m";
	return "\033[0m";
}

static void close_line(void)
{
	if (line_open) {
		fputc('\n', stdout);
		line_open = false;
	}
}

static void indent(int depth)
{
	for (int i = 0; i < depth; i++)
		fputs("  ", stdout);
}

void ui_title(const char *fmt, ...)
{
	if (opts.verbosity < 0)
		return;
	close_line();
	va_list ap;
	va_start(ap, fmt);
	fputs(ui_c("bold"), stdout);
	vfprintf(stdout, fmt, ap);
	fputs(ui_c("reset"), stdout);
	fputc('\n', stdout);
	va_end(ap);
	fflush(stdout);
}

void ui_group(const char *title, int depth)
{
	if (opts.verbosity < 0)
		return;
	close_line();
	indent(depth);
	printf("%s== %s%s\n", ui_c("bold"), title, ui_c("reset"));
	fflush(stdout);
}

static void step_head(int number, int total, const char *title, const char *host, int depth)
{
	indent(depth);
	if (number > 0)
		printf("[%d/%d] ", number, total);
	fputs(title, stdout);
	if (host && strcmp(host, "local") != 0)
		printf(" %s@%s%s", ui_c("dim"), host, ui_c("reset"));
}

void ui_step_begin(int number, int total, const char *title, const char *host, int depth)
{
	if (opts.verbosity < 0)
		return;
	close_line();
	step_head(number, total, title, host, depth);
	fputs(" \xe2\x80\xa6", stdout);
	line_open = true;
	fflush(stdout);
}

void ui_step_line(int stream, const char *line, size_t n, const char *host, int depth)
{
	if (opts.verbosity < 0)
		return;
	close_line();
	indent(depth + 2);
	/* a step on several hosts: whose line it is */
	if (host)
		printf("%s%s |%s ", ui_c("dim"), host, ui_c("reset"));
	if (stream == 2)
		fputs(ui_c("dim"), stdout);
	fwrite(line, 1, n, stdout);
	if (stream == 2)
		fputs(ui_c("reset"), stdout);
	fputc('\n', stdout);
}

void ui_flush(void)
{
	fflush(stdout);
}

void ui_step_end(int number, int total, const char *title, const char *host, const char *status,
		 long long ms, const char *detail, int depth)
{
	bool bad = !strcmp(status, "failed") || !strcmp(status, "interrupted") || !strcmp(status, "timed out");
	if (opts.verbosity < 0 && !bad)
		return;
	if (!line_open) {
		step_head(number, total, title, host, depth);
		fputs(" \xe2\x80\xa6", stdout);
	}
	line_open = false;
	const char *c = bad ? ui_c("fail") : !strcmp(status, "ok") ? ui_c("ok") : ui_c("warn");
	printf(" %s%s%s", c, status, ui_c("reset"));
	if (ms >= 0) {
		char d[32];
		format_duration(d, sizeof(d), ms);
		printf(" %s", d);
	}
	if (detail && *detail)
		printf(" (%s)", detail);
	fputc('\n', stdout);
	fflush(stdout);
}

void ui_note(int depth, const char *kind, const char *fmt, ...)
{
	bool important = !strcmp(kind, "hint") || !strcmp(kind, "error") || !strcmp(kind, "log");
	if (opts.verbosity < 0 && !important)
		return;
	if (!strcmp(kind, "cmd") && opts.verbosity < 1)
		return;
	close_line();
	indent(depth + 1);
	const char *c = !strcmp(kind, "hint") ? ui_c("warn") : !strcmp(kind, "error") ? ui_c("fail") : ui_c("dim");
	printf("%s%s: ", c, kind);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("%s\n", ui_c("reset"));
	fflush(stdout);
}

void ui_error(const char *fmt, ...)
{
	close_line();
	fflush(stdout);
	va_list ap;
	va_start(ap, fmt);
	fputs("runbook: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

struct json *ui_event_begin(const char *event)
{
	json_begin(&ev);
	char full[40];
	iso_time_now(full, sizeof(full));
	json_kstr(&ev, "time", full);
	json_kstr(&ev, "event", event);
	return &ev;
}

void ui_event_emit(void)
{
	const char *s = json_end(&ev);
	if (events) {
		fputs(s, events);
		fputc('\n', events);
		fflush(events);
	}
}

int ui_read_answer(char *buf, size_t n)
{
	size_t len = 0;
	for (;;) {
		char c;
		ssize_t r = read(0, &c, 1);
		if (r < 0 && errno == EINTR) {
			if (sig_interrupted())
				return -1;
			continue;
		}
		if (r <= 0) {
			buf[len] = '\0';
			return len ? 0 : -1;
		}
		if (c == '\n')
			break;
		if (len + 1 < n)
			buf[len++] = c;
	}
	buf[len] = '\0';
	return 0;
}

bool ui_answer_yes(const char *ans)
{
	return !strcmp(ans, "y") || !strcmp(ans, "Y") || !strcmp(ans, "yes");
}

