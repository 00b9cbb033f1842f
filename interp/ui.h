/* ui.h — what the operator sees: progress lines, step output indented
 * beneath, hints and the final summary; and `--events FILE`, one JSON
 * object per line for tools.  Callers pass text already masked. */
#ifndef RB_UI_H
#define RB_UI_H

#include "json.h"
#include "util.h"

#include <stdio.h>

struct ui_opts {
	bool color;     /* ANSI colour (a TTY without NO_COLOR) */
	int verbosity;  /* -1 quiet, 0 normal, 1 -v */
	const char *events_path;
};

/* Colour by default: stdout is a terminal and NO_COLOR is unset or
 * empty (no-color.org). */
bool ui_color_default(void);

/* 0, or -1 with err set (events file cannot be opened). */
int ui_init(const struct ui_opts *o, struct rb_error *err);
void ui_close(void);
int ui_verbosity(void);

void ui_title(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "[3/12] stop core @pryv" — the line a step begins with. */
void ui_step_begin(int number, int total, const char *title, const char *host, int depth);
/* One line of step output (no newline). */
void ui_step_line(int stream, const char *line, size_t n, const char *host, int depth);
/* Pushes buffered output to the terminal (once per chunk of step output). */
void ui_flush(void);
/* Ends the step line: status is ok, failed, skipped…, detail optional. */
void ui_step_end(int number, int total, const char *title, const char *host, const char *status,
		 long long ms, const char *detail, int depth);
/* An indented remark under the current step: hints, reasons, commands. */
void ui_note(int depth, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A group or module header. */
void ui_group(const char *title, int depth);
/* Plain message to stderr, not indented. */
void ui_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads one answer line from the terminal into buf (without the
 * newline); -1 when interrupted or at end of input. */
int ui_read_answer(char *buf, size_t n);
/* Is an answer read that way a yes (y, Y or yes)? */
bool ui_answer_yes(const char *ans);

/* Events: begin an object with time/event set, add fields, then emit. */
struct json *ui_event_begin(const char *event);
void ui_event_emit(void);

/* Colour helpers: empty strings when colour is off. */
const char *ui_c(const char *what); /* "ok", "fail", "dim", "bold", "warn", "reset" */

#endif
