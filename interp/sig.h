/* sig.h — signals as file descriptor events (the self-pipe trick), so the
 * poll loops that run steps see SIGINT/SIGTERM/SIGHUP and child exits
 * without races. */
#ifndef RB_SIG_H
#define RB_SIG_H

#include <signal.h>

/* Installs the handlers.  Call once, before any child is started. */
void sig_init(void);
/* Readable when a signal arrived; read it with sig_drain. */
int sig_fd(void);
/* Empties the pipe.  Returns true if a SIGCHLD was among what it read. */
int sig_drain(void);
/* The first interrupting signal received (SIGINT, SIGTERM, SIGHUP), or 0. */
int sig_interrupted(void);
/* What interrupted the run, for the operator and the journal:
 * "SIGINT (Ctrl-C)", "SIGTERM", "SIGHUP (a hangup, as when the terminal
 * is closed)". */
const char *sig_interrupt_text(void);
/* Clears the interrupt state (after it has been handled). */
void sig_clear(void);
/* Signals whose disposition a child must get back to default. */
void sig_child_defaults(sigset_t *set);

#endif
