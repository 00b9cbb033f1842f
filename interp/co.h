/* co.h — cooperative tasks, so that one step runs on many hosts at once
 * (`parallel: N`) in one process and one thread.
 *
 * Each host's run of a step is a task with a stack of its own.  Whatever
 * would block — a local command's pipes, an SSH socket, a retry delay —
 * waits through co_poll(), which inside a task hands control back to the
 * scheduler; the scheduler polls what every waiting task waits for in
 * one poll() and resumes the tasks whose descriptors are ready or whose
 * timeout passed.  Outside a task co_poll() is plain poll(), so code
 * written for one host runs unchanged for many.
 *
 * Why tasks and not a state machine per step: a step's run is long and
 * linear (journal, command, retries, check, captures, journal again);
 * written as a state machine it would be unreadable, and threads would
 * need locks around the journal, the terminal and the plan's scopes.
 * Tasks only switch inside co_poll(), so everything between two waits is
 * atomic with respect to the other hosts. */
#ifndef RB_CO_H
#define RB_CO_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

/* poll(2), but inside a task the other tasks run while this one waits.
 * timeout_ms < 0: no timeout.  Returns as poll() does (EINTR never). */
int co_poll(struct pollfd *pf, nfds_t n, int timeout_ms);

/* The calling task (an identity to compare), NULL in the main flow. */
void *co_self(void);
/* Ends the wait of task (from co_self) now, as if its timeout passed:
 * its co_poll returns 0.  For a waiter whose data another task may have
 * taken into a library's buffers (a shared SSH session). */
void co_wake(void *task);

/* Runs fn(ctx, i) for i = 0..n-1 as tasks, at most `parallel` at once
 * (0 or 1: one after another, without tasks).  Before starting task i it
 * asks more(ctx) (may be NULL): false starts no further task, and the
 * running ones finish.  Returns when every started task has returned.
 * Not reentrant: a task must not call co_run. */
void co_run(size_t n, size_t parallel, void (*fn)(void *ctx, size_t i), bool (*more)(void *ctx), void *ctx);

#endif
