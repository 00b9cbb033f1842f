/* local.c — the local transport: /bin/sh -c in its own process group,
 * started with posix_spawn (vfork speed), pumped by one poll() loop over
 * stdout, stderr and the signal pipe, with a deadline. */
#include "transport.h"

#include "co.h"
#include "fault.h"
#include "plan.h"
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct transport *transport_for(const struct host *h)
{
	struct transport *t = xcalloc(1, sizeof(*t));
	t->ops = h->local ? &local_transport : &ssh_transport;
	t->host = h;
	return t;
}

int host_connect(struct host *h, struct rb_error *err)
{
	if (h->tr)
		return 0;
	h->tr = transport_for(h);
	if (h->tr->ops->open(h->tr, err) == 0)
		return 0;
	transport_free(h->tr);
	h->tr = NULL;
	return -1;
}

void transport_free(struct transport *t)
{
	if (!t)
		return;
	if (t->ops->close)
		t->ops->close(t);
	free(t);
}

void exec_result_release(struct exec_result *r)
{
	free(r->error);
	r->error = NULL;
}

static int local_open(struct transport *t, struct rb_error *err)
{
	return 0;
}

static void local_close(struct transport *t)
{
}

/* environ with the extra entries laid over it (same name: extra wins). */
static char **build_env(char *const *extra, size_t nextra)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = xcalloc(n + nextra + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		bool over = false;
		for (size_t j = 0; j < nextra; j++)
			if (!strncmp(extra[j], environ[i], len) && extra[j][len] == '=')
				over = true;
		if (!over)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < nextra; j++) {
		/* a later extra with the same name wins over an earlier one */
		const char *eq = strchr(extra[j], '=');
		size_t len = (size_t)(eq - extra[j]);
		bool later = false;
		for (size_t m = j + 1; m < nextra; m++)
			if (!strncmp(extra[m], extra[j], len) && extra[m][len] == '=')
				later = true;
		if (!later)
			env[k++] = extra[j];
	}
	env[k] = NULL;
	return env;
}

/* The child leads its own group (POSIX_SPAWN_SETPGROUP), so -pid reaches
 * everything it started.  Never fall back to the bare pid: once reaped it
 * may belong to an unrelated process. */
static void kill_group(pid_t pid, int sig)
{
	kill(-pid, sig);
}

static int local_exec(struct transport *t, const struct exec_req *req, struct exec_sink *sink,
		      struct exec_result *res)
{
	memset(res, 0, sizeof(*res));
	if (req->cwd) {
		struct stat st;
		if (stat(req->cwd, &st) < 0 || !S_ISDIR(st.st_mode)) {
			res->rc = 127;
			res->error = xasprintf("cannot change to directory '%s': %s", req->cwd,
					       errno ? strerror(errno) : "not a directory");
			return 0;
		}
	}
	int out[2], errp[2];
	if (pipe2(out, O_CLOEXEC) < 0) {
		res->rc = 127;
		res->short_of = true;
		res->error = xasprintf("cannot create a pipe: %s", strerror(errno));
		return 0;
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		res->rc = 127;
		res->short_of = true;
		res->error = xasprintf("cannot create a pipe: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		return 0;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	if (req->in_fd > 0)
		posix_spawn_file_actions_adddup2(&fa, req->in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (req->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, req->cwd);
	sigset_t none, defs;
	sigemptyset(&none);
	sig_child_defaults(&defs);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defs);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

	char **env = build_env(req->env, req->nenv);
	const char *argv[16 + 1];
	size_t ac = 0;
	char **argv_env = NULL;
	if (req->sudo) {
		/* sudo resets the environment: carry the extras through env(1) */
		argv_env = xcalloc(req->nenv + 16, sizeof(char *));
		size_t k = 0;
		argv_env[k++] = (char *)"sudo";
		argv_env[k++] = (char *)"-n";
		if (req->sudo_user) {
			argv_env[k++] = (char *)"-u";
			argv_env[k++] = (char *)req->sudo_user;
		}
		argv_env[k++] = (char *)"--";
		if (req->nenv) {
			argv_env[k++] = (char *)"env";
			for (size_t i = 0; i < req->nenv; i++)
				argv_env[k++] = req->env[i];
		}
		argv_env[k++] = (char *)"/bin/sh";
		argv_env[k++] = (char *)"-c";
		argv_env[k++] = (char *)req->cmd;
		argv_env[k] = NULL;
	} else {
		argv[ac++] = "/bin/sh";
		argv[ac++] = "-c";
		argv[ac++] = req->cmd;
		argv[ac] = NULL;
	}
	pid_t pid;
	int rc = fault_hit(FP_SPAWN);
	if (!rc)
		rc = req->sudo ? posix_spawnp(&pid, "sudo", &fa, &attr, argv_env, env)
			       : posix_spawn(&pid, "/bin/sh", &fa, &attr, (char *const *)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(env);
	free(argv_env);
	close(out[1]);
	close(errp[1]);
	if (rc != 0) {
		close(out[0]);
		close(errp[0]);
		res->rc = 127;
		res->short_of = rc == EAGAIN || rc == ENOMEM;
		res->error = xasprintf("cannot start %s: %s", req->sudo ? "sudo" : "/bin/sh", strerror(rc));
		return 0;
	}
	if (sink->started)
		sink->started(sink->ctx, (long)pid);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);

	int fds[2] = {out[0], errp[0]};
	bool exited = false;
	int status = 0;
	long long start = now_ms();
	long long deadline = req->timeout_ms ? start + req->timeout_ms : 0;
	long long kill_at = 0; /* when TERM was sent: KILL after the grace */
	char buf[65536];
	for (;;) {
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
		if (exited) {
			/* Drain what is already written; a background child that keeps
			 * the pipe open must not hold the step forever. */
			for (int i = 0; i < 2; i++) {
				while (fds[i] >= 0) {
					ssize_t r = read(fds[i], buf, sizeof(buf));
					if (r > 0) {
						sink->data(sink->ctx, i + 1, buf, (size_t)r);
						continue;
					}
					if (r < 0 && errno == EINTR)
						continue;
					close(fds[i]);
					fds[i] = -1;
				}
			}
			break;
		}
		long long now = now_ms();
		if (sig_interrupted() && !res->interrupted && !res->timed_out) {
			res->interrupted = true;
			kill_group(pid, SIGTERM);
			kill_at = now + req->grace_ms;
		}
		if (deadline && now >= deadline && !res->timed_out && !res->interrupted) {
			res->timed_out = true;
			kill_group(pid, SIGTERM);
			kill_at = now + req->grace_ms;
		}
		if (sink->cancel && *sink->cancel && !res->cancelled && !res->timed_out && !res->interrupted) {
			res->cancelled = true;
			kill_group(pid, SIGTERM);
			kill_at = now + req->grace_ms;
		}
		if (kill_at && now >= kill_at) {
			kill_group(pid, SIGKILL);
			kill_at = 0;
		}
		struct pollfd pf[3];
		int np = 0;
		int map[3];
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0) {
				pf[np].fd = fds[i];
				pf[np].events = POLLIN;
				map[np++] = i;
			}
		pf[np].fd = sig_fd();
		pf[np].events = POLLIN;
		map[np++] = -1;
		int wait = -1;
		long long next = 0;
		if (deadline && !res->timed_out && !res->interrupted)
			next = deadline;
		if (kill_at && (!next || kill_at < next))
			next = kill_at;
		if (next)
			wait = next > now ? (int)(next - now) : 0;
		/* With both pipes closed only SIGCHLD can wake us; poll the pid too
		 * in case the signal was consumed by an earlier loop. */
		if (fds[0] < 0 && fds[1] < 0 && (wait < 0 || wait > 100))
			wait = 100;
		int r = co_poll(pf, (nfds_t)np, wait);
		if (r < 0)
			break;
		for (int i = 0; r > 0 && i < np; i++) {
			if (!pf[i].revents)
				continue;
			if (map[i] < 0) {
				sig_drain();
				continue;
			}
			int s = map[i];
			ssize_t n = read(fds[s], buf, sizeof(buf));
			if (n > 0)
				sink->data(sink->ctx, s + 1, buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(fds[s]);
				fds[s] = -1;
			}
		}
		if (fds[0] < 0 && fds[1] < 0 && !exited) {
			/* both streams closed: the child is about to exit (never a
			 * blocking wait: other hosts' tasks must go on; SIGCHLD
			 * wakes the poll above) */
			if (waitpid(pid, &status, WNOHANG) == pid)
				exited = true;
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (!exited)
		waitpid(pid, &status, 0);
	if (WIFEXITED(status)) {
		res->rc = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
		res->rc = 128 + res->signal;
	}
	/* A timed-out or interrupted step may leave children in its group. */
	if (res->timed_out || res->interrupted)
		kill_group(pid, SIGKILL);
	return 0;
}

const struct transport_ops local_transport = {
	.name = "local",
	.open = local_open,
	.exec = local_exec,
	.close = local_close,
	.put = local_put,
	.get = local_get,
};
