/* sig.c — see sig.h. */
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int pipefd[2] = {-1, -1};
static volatile sig_atomic_t interrupted;

static void handler(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;
	if ((sig == SIGINT || sig == SIGTERM || sig == SIGHUP) && !interrupted)
		interrupted = sig;
	ssize_t r = write(pipefd[1], &c, 1); /* a full pipe already wakes the loop */
	(void)r;
	errno = saved;
}

void sig_init(void)
{
	if (pipefd[0] >= 0)
		return;
	if (pipe(pipefd) == 0) {
		for (int i = 0; i < 2; i++) {
			fcntl(pipefd[i], F_SETFL, fcntl(pipefd[i], F_GETFL) | O_NONBLOCK);
			fcntl(pipefd[i], F_SETFD, FD_CLOEXEC);
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART for interrupts: a blocked prompt read must wake up. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	/* A closed output pipe is an error on write, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
}

int sig_fd(void)
{
	return pipefd[0];
}

int sig_drain(void)
{
	unsigned char buf[64];
	int chld = 0;
	ssize_t n;
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == SIGCHLD)
				chld = 1;
	return chld;
}

int sig_interrupted(void)
{
	return interrupted;
}

const char *sig_interrupt_text(void)
{
	switch (interrupted) {
	case SIGINT:
		return "SIGINT (Ctrl-C)";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP (a hangup, as when the terminal is closed)";
	default:
		return "a signal";
	}
}

void sig_clear(void)
{
	interrupted = 0;
}

void sig_child_defaults(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGPIPE);
	sigaddset(set, SIGQUIT);
}
