/* ssh.c — the SSH transport: libssh2, one session per host for the whole
 * run, one channel per command, SFTP for files.
 *
 * The session is non-blocking and every wait is a co_poll() on its
 * socket, so the hosts of a `parallel` step progress together.  libssh2
 * insists that a call which returned EAGAIN is called again before any
 * other call that sends on the same session; the only way two callers
 * can meet on one session is the journal mirror (remote.c) written from
 * another host's task, so a session whose last call blocked on sending
 * is marked busy and other tasks wait for it (conn_enter).
 *
 * How a command runs on the host (wrap()): the login shell gets
 *   exec /bin/sh -c 'printf "\036rb-pgid %s\n" "$$" >&2; cd …; export …; exec [sudo -n …] /bin/sh -c CMD'
 * sshd makes the login shell a session (and group) leader, and each
 * `exec` keeps its pid, so $$ is the command's process group: the first
 * line of stderr tells it, and a timeout or Ctrl-C signals the whole
 * group through a second channel (`kill -TERM -- -PGID`), because
 * closing a channel does not end the command.  The environment is set by
 * the shell, not by the SSH "env" request that servers refuse unless
 * AcceptEnv lists the names. */
#include "ssh.h"

#include "co.h"
#include "journal.h"
#include "sig.h"
#include "template.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#define PGID_MARK "\036rb-pgid "
/* SSH_DO's answer when our own deadline passed: the connection is fine,
 * but the call was abandoned half-way (see sftp_abandon). */
#define RB_DEADLINE (-10000)
#define CHUNK 32768

struct conn {
	const struct host *h;
	int sock;
	LIBSSH2_SESSION *s;
	LIBSSH2_SFTP *sftp;
	bool sftp_dead;       /* its channel ended: started afresh when needed */
	char *where;          /* user@address:port */
	unsigned gen;         /* bumped by each reconnect: handles of an older
			       * session (ssh_file) are stale */
	bool lost;
	char *lost_why;
	enum login_shell { SHELL_OTHER, SHELL_POSIX, SHELL_SH } shell;
	void *busy;           /* the task whose call blocked on sending */
	bool busy_set;
	/* tasks waiting on the socket: a call by another task may read what
	 * they wait for into libssh2's buffers, leaving the socket quiet */
	void *waiters[8];
	int nwaiters;
};

static struct conn *conn_of(const struct transport *t)
{
	return t->impl;
}

static const char *ssh_where(const struct transport *t)
{
	return conn_of(t) ? conn_of(t)->where : t->host->name;
}

bool ssh_lost(const struct transport *t)
{
	return conn_of(t) && conn_of(t)->lost;
}

/* --- where the host is ---------------------------------------------------- */

static char *home_path(const char *rest)
{
	const char *home = getenv("HOME");
	return xasprintf("%s/%s", home ? home : "", rest);
}

/* ~ expanded; a relative path is taken from the folder of the file that
 * names it (an identity beside the inventory). */
static char *path_from(const char *p, const char *file)
{
	if (p[0] == '~' && (p[1] == '/' || !p[1]))
		return home_path(p[1] ? p + 2 : "");
	if (p[0] == '/' || !file || !strchr(file, '/'))
		return xstrdup(p);
	const char *slash = strrchr(file, '/');
	return xasprintf("%.*s/%s", (int)(slash - file), file, p);
}

void ssh_host_resolve(struct host *h, const struct host_def *d)
{
	struct ssh_conf c = {0};
	const char *alias = d->address ? d->address : d->name;
	const char *cfg = getenv("RUNBOOK_SSH_CONFIG");
	char *cpath = cfg && *cfg ? xstrdup(cfg) : home_path(".ssh/config");
	ssh_config_lookup(cpath, alias, &c);
	free(cpath);
	free(h->address);
	h->address = xstrdup(c.hostname ? c.hostname : alias);
	h->port = d->port ? d->port : c.port ? c.port : 22;
	if (!h->user)
		h->user = xstrdup(c.user ? c.user : user_name());
	if (d->identity) {
		h->identities = xcalloc(1, sizeof(char *));
		h->identities[h->nidentities++] = path_from(d->identity, d->pos.file);
		h->identity_given = true;
	} else if (c.nidentities) {
		h->identities = c.identities;
		h->nidentities = c.nidentities;
		c.identities = NULL;
		c.nidentities = 0;
	} else {
		static const char *const defaults[] = {".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa"};
		h->identities = xcalloc(ARRAY_LEN(defaults), sizeof(char *));
		for (size_t i = 0; i < ARRAY_LEN(defaults); i++)
			h->identities[h->nidentities++] = home_path(defaults[i]);
	}
	h->known_hosts = d->known_hosts ? path_from(d->known_hosts, d->pos.file) : home_path(".ssh/known_hosts");
	h->state_dir = xstrdup(d->state_dir ? d->state_dir : "/var/tmp/runbook");
	ssh_conf_release(&c);
}

/* --- waiting on the session ---------------------------------------------- */

/* Other tasks wait while a call of another task is half sent. */
static void conn_enter(struct conn *c)
{
	while (c->busy_set && c->busy != co_self())
		co_poll(NULL, 0, 2);
}

/* Waits until the socket can do what libssh2 blocked on, a signal
 * arrives, or deadline (0: none) passes.  (No SSH keepalives: a
 * keepalive that blocks half-sent would break the next call of whoever
 * uses the session; the socket's TCP keepalives and user timeout find a
 * peer that vanished.)
 * -1 when the deadline has passed. */
static int conn_wait(struct conn *c, long long deadline)
{
	int dir = libssh2_session_block_directions(c->s);
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) {
		c->busy = co_self();
		c->busy_set = true;
	} else if (c->busy_set && c->busy == co_self()) {
		c->busy_set = false; /* what was half sent went out */
	}
	long long now = now_ms();
	if (deadline && now >= deadline)
		return -1;
	struct pollfd pf[2] = {{c->sock, 0, 0}, {sig_fd(), POLLIN, 0}};
	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		pf[0].events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pf[0].events |= POLLOUT;
	if (!pf[0].events)
		pf[0].events = POLLIN;
	long long until = deadline;
	int wait = until ? (until > now ? (int)(until - now) : 0) : -1;
	/* another task waits on this session too: a call of its may take
	 * our data without completing (EAGAIN), so look again soon */
	if (c->nwaiters && (wait < 0 || wait > 50))
		wait = 50;
	bool listed = c->nwaiters < (int)ARRAY_LEN(c->waiters);
	if (listed)
		c->waiters[c->nwaiters++] = co_self();
	co_poll(pf, 2, wait);
	if (listed) {
		for (int i = 0; i < c->nwaiters; i++)
			if (c->waiters[i] == co_self()) {
				c->waiters[i] = c->waiters[--c->nwaiters];
				break;
			}
	}
	if (pf[1].revents)
		sig_drain();
	return 0;
}

static void conn_done(struct conn *c)
{
	if (c->busy_set && c->busy == co_self())
		c->busy_set = false;
	/* a call went through: whatever it read for the others is theirs to
	 * look at now */
	void *me = co_self();
	for (int i = 0; i < c->nwaiters; i++)
		if (c->waiters[i] != me)
			co_wake(c->waiters[i]);
}

/* libssh2's last error as text (malloc'ed). */
static char *ssh_err(struct conn *c, const char *what)
{
	char *msg = NULL;
	int len = 0;
	int code = libssh2_session_last_error(c->s, &msg, &len, 0);
	return xasprintf("%s: %s (libssh2 %d)", what, msg && *msg ? msg : "error", code);
}

/* Is this error the connection's end? */
static bool is_fatal(int rc)
{
	return rc == LIBSSH2_ERROR_SOCKET_SEND || rc == LIBSSH2_ERROR_SOCKET_RECV ||
	       rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_TIMEOUT ||
	       rc == LIBSSH2_ERROR_TIMEOUT || rc == LIBSSH2_ERROR_KEX_FAILURE || rc == LIBSSH2_ERROR_DECRYPT ||
	       rc == LIBSSH2_ERROR_BANNER_RECV || rc == LIBSSH2_ERROR_BANNER_SEND;
}

static void mark_lost(struct conn *c, int rc)
{
	if (c->lost)
		return;
	c->lost = true;
	char *msg = NULL;
	int len = 0;
	libssh2_session_last_error(c->s, &msg, &len, 0);
	c->lost_why = xasprintf("lost the connection to %s (%s, libssh2 %d)", c->where,
				msg && *msg ? msg : "the socket failed", rc);
}

/* SFTP calls also stop when the SFTP channel ended (an sftp-server that
 * died answers nothing, and the session lives on): the subsystem is then
 * started afresh by the next call (sftp_of). */
static bool sftp_dead(struct conn *c)
{
	if (c->sftp && !c->sftp_dead && libssh2_channel_eof(libssh2_sftp_get_channel(c->sftp)))
		c->sftp_dead = true;
	return c->sftp_dead;
}

/* After a call said EAGAIN: waits, then 0 to call again, or the rc to
 * give up with — RB_DEADLINE, or for an SFTP call whose channel ended
 * LIBSSH2_ERROR_CHANNEL_CLOSED.  An SFTP call abandoned half-way leaves
 * the subsystem unusable: it is marked dead. */
static int call_wait(struct conn *c, long long deadline, bool sftp)
{
	if (sftp && sftp_dead(c))
		return LIBSSH2_ERROR_CHANNEL_CLOSED;
	if (conn_wait(c, deadline) == 0)
		return 0;
	if (sftp)
		c->sftp_dead = true;
	return RB_DEADLINE;
}

/* Calls an int-returning libssh2 function until it stops saying EAGAIN;
 * SSH_DO for the session's calls, SFTP_DO for the SFTP subsystem's. */
#define CALL_LOOP(c, rc, call, deadline, sftp)                               \
	do {                                                                 \
		int why_;                                                    \
		conn_enter(c);                                               \
		while (((rc) = (call)) == LIBSSH2_ERROR_EAGAIN)               \
			if ((why_ = call_wait((c), (deadline), (sftp)))) {    \
				(rc) = why_;                                  \
				break;                                        \
			}                                                    \
		conn_done(c);                                                \
		if ((rc) < 0 && is_fatal(rc))                                \
			mark_lost((c), (rc));                                \
	} while (0)

/* The same for functions that return a pointer (NULL + last_errno). */
#define PTR_LOOP(c, p, call, deadline, sftp)                                         \
	do {                                                                         \
		conn_enter(c);                                                       \
		while (!((p) = (call)) &&                                            \
		       libssh2_session_last_errno((c)->s) == LIBSSH2_ERROR_EAGAIN)    \
			if (call_wait((c), (deadline), (sftp)))                       \
				break;                                                \
		conn_done(c);                                                        \
		if (!(p) && is_fatal(libssh2_session_last_errno((c)->s)))            \
			mark_lost((c), libssh2_session_last_errno((c)->s));          \
	} while (0)

#define SSH_DO(c, rc, call, deadline) CALL_LOOP(c, rc, call, deadline, false)
#define SSH_PTR(c, p, call, deadline) PTR_LOOP(c, p, call, deadline, false)
#define SFTP_DO(c, rc, call, deadline) CALL_LOOP(c, rc, call, deadline, true)
#define SFTP_PTR(c, p, call, deadline) PTR_LOOP(c, p, call, deadline, true)

/* --- connecting ----------------------------------------------------------- */

static long long connect_timeout_ms(void)
{
	long long ms = 10000;
	const char *v = getenv("RUNBOOK_SSH_CONNECT_TIMEOUT");
	if (v && *v && parse_duration(v, &ms) < 0)
		ms = 10000;
	return ms;
}

/* A TCP connection to address:port within timeout; keepalives on, so a
 * peer that vanished without a word is noticed.  fd or -1 with *why. */
static int tcp_connect(const char *address, int port, long long timeout, char **why)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	char ps[16];
	snprintf(ps, sizeof(ps), "%d", port);
	int g = getaddrinfo(address, ps, &hints, &res);
	if (g) {
		*why = xasprintf("cannot resolve %s: %s", address, gai_strerror(g));
		return -1;
	}
	int fd = -1, last = 0;
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			last = errno;
			close(fd);
			fd = -1;
			continue;
		}
		long long end = now_ms() + timeout;
		int soerr = 0;
		for (;;) {
			struct pollfd pf[2] = {{fd, POLLOUT, 0}, {sig_fd(), POLLIN, 0}};
			long long left = end - now_ms();
			if (left <= 0 || sig_interrupted()) {
				soerr = sig_interrupted() ? EINTR : ETIMEDOUT;
				break;
			}
			co_poll(pf, 2, (int)left);
			if (pf[1].revents)
				sig_drain();
			if (pf[0].revents) {
				socklen_t sl = sizeof(soerr);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				break;
			}
		}
		if (soerr) {
			last = soerr;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		*why = last == ETIMEDOUT ? xasprintf("no answer from %s port %d within %llds", address, port,
						     timeout / 1000)
					 : xasprintf("cannot connect to %s port %d: %s", address, port, strerror(last));
		return -1;
	}
	int one = 1, idle = 15, intvl = 5, cnt = 3;
	unsigned user_to = 30000;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_to, sizeof(user_to));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static const char *key_type_name(int t, int *kh)
{
	switch (t) {
	case LIBSSH2_HOSTKEY_TYPE_RSA: *kh = LIBSSH2_KNOWNHOST_KEY_SSHRSA; return "RSA";
	case LIBSSH2_HOSTKEY_TYPE_DSS: *kh = LIBSSH2_KNOWNHOST_KEY_SSHDSS; return "DSA";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: *kh = LIBSSH2_KNOWNHOST_KEY_ECDSA_256; return "ECDSA";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: *kh = LIBSSH2_KNOWNHOST_KEY_ECDSA_384; return "ECDSA";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: *kh = LIBSSH2_KNOWNHOST_KEY_ECDSA_521; return "ECDSA";
	case LIBSSH2_HOSTKEY_TYPE_ED25519: *kh = LIBSSH2_KNOWNHOST_KEY_ED25519; return "ED25519";
	default: *kh = LIBSSH2_KNOWNHOST_KEY_UNKNOWN; return "unknown";
	}
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	if (c->sftp && !c->lost) {
		int rc;
		SSH_DO(c, rc, libssh2_sftp_shutdown(c->sftp), now_ms() + 2000);
	} else if (c->sftp) {
		libssh2_sftp_shutdown(c->sftp);
	}
	if (c->s) {
		if (!c->lost) {
			int rc;
			SSH_DO(c, rc, libssh2_session_disconnect(c->s, "runbook: done"), now_ms() + 2000);
		}
		libssh2_session_free(c->s);
	}
	if (c->sock >= 0)
		close(c->sock);
	free(c->where);
	free(c->lost_why);
	free(c);
}

/* Appends the comma-separated names of csv to list, skipping those
 * already in it and those this libssh2 does not know: libssh2 1.10
 * prunes such a list with an overlapping memcpy. */
static void add_methods(struct sbuf *list, const char *csv, const char **known, int nknown)
{
	while (csv && *csv) {
		size_t n = strcspn(csv, ",");
		bool seen = false, ok = false;
		const char *l = sbuf_str(list);
		while (*l && !seen) {
			size_t m = strcspn(l, ",");
			seen = m == n && !strncmp(l, csv, n);
			l += m + (l[m] == ',');
		}
		for (int i = 0; i < nknown && !ok; i++)
			ok = strlen(known[i]) == n && !strncmp(known[i], csv, n);
		if (!seen && ok && n)
			sbuf_addf(list, "%s%.*s", list->len ? "," : "", (int)n, csv);
		csv += n + (csv[n] == ',');
	}
}

/* Sets the preference for a method type from lists in order. */
static void set_methods(LIBSSH2_SESSION *s, int type, const char *first, const char *then)
{
	const char **known = NULL;
	int nknown = libssh2_session_supported_algs(s, type, &known);
	if (nknown <= 0)
		return;
	struct sbuf list = {0};
	add_methods(&list, first, known, nknown);
	add_methods(&list, then, known, nknown);
	if (list.len)
		libssh2_session_method_pref(s, type, list.buf);
	sbuf_release(&list);
	libssh2_free(s, (void *)known);
}

/* TCP, then the SSH handshake asking for key types the pins can check.
 * The connection, or NULL with *why set. */
static struct conn *conn_start(const struct host *h, char **why)
{
	static bool inited;
	if (!inited) {
		libssh2_init(0);
		inited = true;
	}
	struct conn *c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->sock = -1;
	c->where = xasprintf("%s@%s:%d", h->user, h->address, h->port);
	long long to = connect_timeout_ms();
	c->sock = tcp_connect(h->address, h->port, to, why);
	if (c->sock < 0) {
		conn_free(c);
		return NULL;
	}
	c->s = libssh2_session_init();
	if (!c->s) {
		*why = xstrdup("cannot start an SSH session (out of memory)");
		conn_free(c);
		return NULL;
	}
	libssh2_session_set_blocking(c->s, 0);
	char *pref = hostkey_methods(h->known_hosts, h->address, h->port);
	/* what is pinned first, then the strongest of the rest */
	set_methods(c->s, LIBSSH2_METHOD_HOSTKEY, pref,
		    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,"
		    "rsa-sha2-256,ssh-rsa");
	/* elliptic curves first: a group exchange makes the server pick a
	 * large prime, tens of milliseconds per connection */
	set_methods(c->s, LIBSSH2_METHOD_KEX,
		    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
		    "ecdh-sha2-nistp521",
		    "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,"
		    "diffie-hellman-group-exchange-sha256");
	free(pref);
	int rc;
	SSH_DO(c, rc, libssh2_session_handshake(c->s, c->sock), now_ms() + to);
	if (rc) {
		char *e = ssh_err(c, "handshake failed");
		*why = rc == RB_DEADLINE ? xasprintf("%s port %d accepted the connection but did not speak SSH "
							       "within %llds", h->address, h->port, to / 1000)
						   : xasprintf("%s port %d: %s", h->address, h->port, e);
		free(e);
		conn_free(c);
		return NULL;
	}
	return c;
}

static int offered(struct conn *c, struct hostkey *k)
{
	size_t len;
	int type;
	const char *blob = libssh2_session_hostkey(c->s, &len, &type);
	if (!blob)
		return -1;
	k->blob = blob;
	k->len = len;
	k->type = key_type_name(type, &k->kh_type);
	hostkey_fingerprint(blob, len, k->fp);
	return 0;
}

/* Host keys fail closed: an unknown or changed key ends the connection
 * with both fingerprints and what to do. */
static int verify_host(struct conn *c, struct rb_error *err)
{
	const struct host *h = c->h;
	struct hostkey k;
	if (offered(c, &k) < 0) {
		rb_error_add(err, "host '%s' (%s:%d) offered no host key", h->name, h->address, h->port);
		return -1;
	}
	char *pinned = NULL;
	enum hostkey_verdict v = hostkey_check(h->known_hosts, h->address, h->port, &k, &pinned);
	char *name = hostkey_name(h->address, h->port);
	int rc = -1;
	switch (v) {
	case HOSTKEY_OK:
		rc = 0;
		break;
	case HOSTKEY_UNKNOWN:
		rb_error_add(err,
			     "host '%s' (%s) is not known: it offers the %s key %s, which %s does not pin.\n"
			     "  If that is the host's key (compare with `ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub` "
			     "run on it), pin it with: runbook trust %s",
			     h->name, name, k.type, k.fp, h->known_hosts,
			     !strcmp(k.type, "ED25519") ? "ed25519" : !strcmp(k.type, "ECDSA") ? "ecdsa" : "rsa", h->name);
		break;
	case HOSTKEY_CHANGED:
		rb_error_add(err,
			     "host '%s' (%s) offers a DIFFERENT %s key than %s pins:\n"
			     "  offered %s\n  pinned  %s\n"
			     "  Someone may be intercepting the connection, or the host was reinstalled. Nothing was "
			     "run. If the change is expected, remove the old key with: ssh-keygen -f '%s' -R '%s', then "
			     "pin the new one with: runbook trust %s",
			     h->name, name, k.type, h->known_hosts, k.fp, pinned, h->known_hosts, name, h->name);
		break;
	case HOSTKEY_ERROR:
		rb_error_add(err, "host '%s' (%s): %s", h->name, name, pinned);
		break;
	}
	free(pinned);
	free(name);
	return rc;
}

/* --- authentication ------------------------------------------------------- */

/* Reads a passphrase from the terminal without echo.  malloc'ed or NULL. */
static char *ask_passphrase(const char *path)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct termios old, quiet;
	bool tio = tcgetattr(fd, &old) == 0;
	if (tio) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	char *prompt = xasprintf("Passphrase for %s: ", path);
	ssize_t w = write(fd, prompt, strlen(prompt));
	(void)w;
	free(prompt);
	struct sbuf sb = {0};
	char ch;
	bool ok = false;
	for (;;) {
		ssize_t r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR && !sig_interrupted())
			continue;
		if (r <= 0)
			break;
		if (ch == '\n') {
			ok = true;
			break;
		}
		sbuf_addc(&sb, ch);
	}
	if (tio)
		tcsetattr(fd, TCSAFLUSH, &old);
	w = write(fd, "\n", 1);
	close(fd);
	if (!ok) {
		if (sb.buf)
			memset(sb.buf, 0, sb.len);
		sbuf_release(&sb);
		return NULL;
	}
	return sbuf_detach(&sb);
}

static void wipe_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

static int try_agent(struct conn *c, const char *user, struct sbuf *tried)
{
	if (!getenv("SSH_AUTH_SOCK"))
		return -1;
	LIBSSH2_AGENT *a = libssh2_agent_init(c->s);
	if (!a)
		return -1;
	int ok = -1, n = 0;
	if (libssh2_agent_connect(a) == 0 && libssh2_agent_list_identities(a) == 0) {
		struct libssh2_agent_publickey *id = NULL, *prev = NULL;
		while (ok < 0 && libssh2_agent_get_identity(a, &id, prev) == 0) {
			int rc;
			n++;
			SSH_DO(c, rc, libssh2_agent_userauth(a, user, id), now_ms() + connect_timeout_ms());
			if (rc == 0)
				ok = 0;
			if (c->lost)
				break;
			prev = id;
		}
		libssh2_agent_disconnect(a);
	}
	libssh2_agent_free(a);
	sbuf_addf(tried, "%sthe ssh-agent (%d key%s)", tried->len ? ", " : "", n, n == 1 ? "" : "s");
	return ok;
}

static int try_key(struct conn *c, const char *user, const char *path, bool given, struct sbuf *tried,
		   char **why)
{
	if (access(path, R_OK) < 0) {
		if (given) {
			*why = xasprintf("cannot read the identity %s: %s", path, strerror(errno));
			return -2;
		}
		return -1;
	}
	int rc;
	SSH_DO(c, rc, libssh2_userauth_publickey_fromfile_ex(c->s, user, (unsigned)strlen(user), NULL, path, ""),
	       now_ms() + connect_timeout_ms());
	if (rc == 0)
		return 0;
	if (rc == LIBSSH2_ERROR_FILE && !c->lost) {
		/* most likely protected by a passphrase */
		const char *env = getenv("RUNBOOK_SSH_PASSPHRASE");
		char *pass = env ? xstrdup(env) : isatty(0) ? ask_passphrase(path) : NULL;
		if (!pass) {
			sbuf_addf(tried, "%s%s (needs a passphrase: set RUNBOOK_SSH_PASSPHRASE, or run from a terminal)",
				  tried->len ? ", " : "", path);
			return -1;
		}
		SSH_DO(c, rc,
		       libssh2_userauth_publickey_fromfile_ex(c->s, user, (unsigned)strlen(user), NULL, path, pass),
		       now_ms() + connect_timeout_ms());
		wipe_free(pass);
		if (rc == 0)
			return 0;
		if (rc == LIBSSH2_ERROR_FILE) {
			sbuf_addf(tried, "%s%s (the passphrase does not open it)", tried->len ? ", " : "", path);
			return -1;
		}
	}
	sbuf_addf(tried, "%s%s (refused)", tried->len ? ", " : "", path);
	return -1;
}

static int authenticate(struct conn *c, struct rb_error *err)
{
	const struct host *h = c->h;
	const char *user = h->user;
	struct sbuf tried = {0};
	char *why = NULL;
	int ok = -1;
	if (!h->identity_given)
		ok = try_agent(c, user, &tried);
	for (size_t i = 0; ok < 0 && !c->lost && i < h->nidentities; i++) {
		int r = try_key(c, user, h->identities[i], h->identity_given, &tried, &why);
		if (r == 0)
			ok = 0;
		else if (r == -2)
			break;
	}
	if (ok < 0) {
		if (why)
			rb_error_add(err, "host '%s' (%s): %s", h->name, c->where, why);
		else if (c->lost)
			rb_error_add(err, "host '%s' (%s): %s", h->name, c->where, c->lost_why);
		else
			rb_error_add(err,
				     "host '%s': %s does not accept any key runbook has: tried %s. Add the public key to "
				     "~%s/.ssh/authorized_keys on the host, load it in ssh-agent, or name it with "
				     "'identity:' in the inventory",
				     h->name, c->where, tried.len ? sbuf_str(&tried) : "no key (none found)", user);
	}
	free(why);
	sbuf_release(&tried);
	return ok;
}

static int run_small(struct conn *c, const char *cmd, struct sbuf *out, int *status, long long deadline);

/* Which shell sshd will hand commands to: a non-POSIX one (fish, csh)
 * rejects the assignment and gets the full wrapper. */
static void probe_shell(struct conn *c)
{
	struct sbuf out = {0};
	int status = -1;
	c->shell = SHELL_OTHER;
	if (run_small(c,
		      "rb_x=posix; [ \"$(readlink -f /proc/$$/exe 2>/dev/null)\" = \"$(readlink -f /bin/sh "
		      "2>/dev/null)\" ] && rb_x=sh; echo \"rb-$rb_x\"",
		      &out, &status, now_ms() + connect_timeout_ms()) == 0 && status == 0) {
		const char *o = sbuf_str(&out);
		c->shell = !strcmp(o, "rb-sh\n") ? SHELL_SH : !strcmp(o, "rb-posix\n") ? SHELL_POSIX : SHELL_OTHER;
	}
	sbuf_release(&out);
}

static int ssh_open(struct transport *t, struct rb_error *err)
{
	if (t->impl)
		return 0;
	char *why = NULL;
	struct conn *c = conn_start(t->host, &why);
	if (!c) {
		rb_error_add(err, "host '%s' cannot be reached: %s", t->host->name, why);
		free(why);
		return -1;
	}
	if (verify_host(c, err) < 0 || authenticate(c, err) < 0) {
		conn_free(c);
		return -1;
	}
	probe_shell(c);
	if (c->lost) {
		rb_error_add(err, "host '%s': %s", t->host->name, c->lost_why);
		conn_free(c);
		return -1;
	}
	t->impl = c;
	return 0;
}

int ssh_reconnect(struct transport *t, char **why)
{
	struct conn *c = conn_of(t);
	if (c && !c->lost)
		return 0;
	struct rb_error err = {0};
	if (!c) {
		if (ssh_open(t, &err) == 0)
			return 0;
		*why = xstrdup(err.n ? err.msgs[0] : "cannot connect");
		rb_error_release(&err);
		return -1;
	}
	/* a connection of its own first: the lost one stays as it was until
	 * the new one is known good (host key checked, user authenticated) */
	struct conn *n = conn_start(t->host, why);
	if (!n)
		return -1;
	if (verify_host(n, &err) < 0 || authenticate(n, &err) < 0) {
		*why = xstrdup(err.n ? err.msgs[0] : "cannot authenticate");
		rb_error_release(&err);
		conn_free(n);
		return -1;
	}
	probe_shell(n);
	if (n->lost) {
		*why = xstrdup(n->lost_why);
		conn_free(n);
		return -1;
	}
	/* another task still inside a call on the lost session (a mirror
	 * write for another host's step) would touch it once it is freed:
	 * such a call ends on its own, the socket being dead */
	for (long long until = now_ms() + 10000; c->nwaiters || c->busy_set;) {
		if (now_ms() >= until) {
			*why = xstrdup("the lost connection is still in use by another task");
			conn_free(n);
			return -1;
		}
		co_poll(NULL, 0, 5);
	}
	/* the new session takes the place of the lost one in the same
	 * struct conn, which the host's transport and the run's mirror point
	 * to; the lost session is freed with its channels (ssh_file knows its
	 * handle is stale by the generation) */
	if (c->sftp)
		libssh2_sftp_shutdown(c->sftp);
	libssh2_session_free(c->s);
	close(c->sock);
	free(c->lost_why);
	c->sock = n->sock;
	c->s = n->s;
	c->sftp = NULL;
	c->sftp_dead = false;
	c->lost = false;
	c->lost_why = NULL;
	c->shell = n->shell;
	c->busy_set = false;
	c->nwaiters = 0;
	c->gen++;
	free(n->where);
	free(n);
	return 0;
}

static void ssh_close(struct transport *t)
{
	conn_free(t->impl);
	t->impl = NULL;
}

int ssh_offered_key(const struct host *h, struct hostkey *key, char **blob_owned, struct rb_error *err)
{
	char *why = NULL;
	struct conn *c = conn_start(h, &why);
	if (!c) {
		rb_error_add(err, "host '%s' cannot be reached: %s", h->name, why);
		free(why);
		return -1;
	}
	int rc = offered(c, key);
	if (rc == 0) {
		*blob_owned = xmalloc(key->len);
		memcpy(*blob_owned, key->blob, key->len);
		key->blob = *blob_owned;
	} else {
		rb_error_add(err, "host '%s' (%s:%d) offered no host key", h->name, h->address, h->port);
	}
	conn_free(c);
	return rc;
}

/* --- commands ------------------------------------------------------------- */

/* The command line the login shell gets (see the top of the file).
 * Each shell started costs about half a millisecond on the host, a
 * quarter of a trivial step: a POSIX login shell runs the wrapper
 * itself, and when it is /bin/sh it also runs the command (eval), which
 * is then exactly `/bin/sh -c CMD`. */
static char *wrap(const struct conn *c, const struct exec_req *req)
{
	struct sbuf in = {0}, out = {0};
	sbuf_addf(&in, "printf '%s%%s\\n' \"$$\" >&2 || exit 127\n", PGID_MARK);
	if (req->cwd) {
		sbuf_adds(&in, "cd -- ");
		shell_quote_word(&in, req->cwd);
		sbuf_adds(&in, " || { echo \"runbook: cannot change to directory ");
		shell_quote_dq(&in, req->cwd);
		sbuf_adds(&in, "\" >&2; exit 127; }\n");
	}
	for (size_t i = 0; i < req->nenv; i++) {
		const char *eq = strchr(req->env[i], '=');
		if (!eq)
			continue;
		sbuf_addf(&in, "export %.*s=", (int)(eq - req->env[i]), req->env[i]);
		shell_quote_word(&in, eq + 1);
		sbuf_addc(&in, '\n');
	}
	if (!req->sudo && c->shell == SHELL_SH) {
		sbuf_adds(&in, "eval ");
		shell_quote_word(&in, req->cmd);
		return sbuf_detach(&in);
	}
	sbuf_adds(&in, "exec ");
	if (req->sudo) {
		/* sudo resets the environment: carry it through env(1) */
		sbuf_adds(&in, "sudo -n ");
		if (req->sudo_user) {
			sbuf_adds(&in, "-u ");
			shell_quote_word(&in, req->sudo_user);
			sbuf_addc(&in, ' ');
		}
		sbuf_adds(&in, "-- ");
		if (req->nenv) {
			sbuf_adds(&in, "env ");
			for (size_t i = 0; i < req->nenv; i++) {
				shell_quote_word(&in, req->env[i]);
				sbuf_addc(&in, ' ');
			}
		}
	}
	sbuf_adds(&in, "/bin/sh -c ");
	shell_quote_word(&in, req->cmd);
	if (c->shell != SHELL_OTHER)
		return sbuf_detach(&in);
	sbuf_adds(&out, "exec /bin/sh -c ");
	shell_quote_word(&out, sbuf_str(&in));
	sbuf_release(&in);
	return sbuf_detach(&out);
}

static LIBSSH2_CHANNEL *open_channel(struct conn *c, long long deadline)
{
	LIBSSH2_CHANNEL *ch;
	SSH_PTR(c, ch, libssh2_channel_open_session(c->s), deadline);
	return ch;
}

/* Closes ch (the caller frees it, once it has read the exit status). */
static void close_channel(struct conn *c, LIBSSH2_CHANNEL *ch, long long deadline)
{
	int rc;
	if (!c->lost) {
		SSH_DO(c, rc, libssh2_channel_close(ch), deadline);
		if (!c->lost && rc == 0)
			SSH_DO(c, rc, libssh2_channel_wait_closed(ch), deadline);
	}
}

/* Runs cmd (shell text for the login shell) to completion on a channel
 * of its own, keeping its stdout.  Used to signal a command's group and
 * for the small jobs of the lock and mirror. */
static int run_small(struct conn *c, const char *cmd, struct sbuf *out, int *status, long long deadline)
{
	if (c->lost)
		return -1;
	LIBSSH2_CHANNEL *ch = open_channel(c, deadline);
	if (!ch)
		return -1;
	int rc;
	SSH_DO(c, rc, libssh2_channel_exec(ch, cmd), deadline);
	if (rc == 0)
		SSH_DO(c, rc, libssh2_channel_send_eof(ch), deadline);
	char buf[4096];
	while (rc == 0) {
		conn_enter(c);
		ssize_t o = libssh2_channel_read(ch, buf, sizeof(buf));
		if (o > 0) {
			conn_done(c);
			if (out && out->len < (1u << 20))
				sbuf_add(out, buf, (size_t)o);
			continue;
		}
		ssize_t e = o == 0 || o == LIBSSH2_ERROR_EAGAIN ? libssh2_channel_read_stderr(ch, buf, sizeof(buf)) : o;
		if (e > 0) {
			conn_done(c);
			continue;
		}
		if ((o < 0 && o != LIBSSH2_ERROR_EAGAIN) || (e < 0 && e != LIBSSH2_ERROR_EAGAIN)) {
			int bad = (int)(o < 0 && o != LIBSSH2_ERROR_EAGAIN ? o : e);
			conn_done(c);
			if (is_fatal(bad))
				mark_lost(c, bad);
			rc = -1;
			break;
		}
		if (libssh2_channel_eof(ch))
			break;
		if (conn_wait(c, deadline) < 0)
			rc = -1;
	}
	conn_done(c);
	close_channel(c, ch, deadline);
	if (status)
		*status = libssh2_channel_get_exit_status(ch);
	libssh2_channel_free(ch);
	return rc == 0 && !c->lost ? 0 : -1;
}

int ssh_capture(struct transport *t, const char *cmd, char **out, int *rc, char **why)
{
	struct conn *c = conn_of(t);
	struct sbuf sb = {0};
	if (!c || run_small(c, cmd, &sb, rc, now_ms() + 60000) < 0) {
		*why = c && c->lost ? xstrdup(c->lost_why) : xasprintf("cannot run a command on %s", ssh_where(t));
		sbuf_release(&sb);
		return -1;
	}
	*out = sbuf_detach(&sb);
	if (!*out)
		*out = xstrdup("");
	return 0;
}

/* Signals the command's process group on the host, as the user that runs
 * it (sudo when the command runs under sudo). */
static void signal_group(struct conn *c, const struct exec_req *req, long pgid, const char *sig)
{
	if (pgid <= 1)
		return;
	struct sbuf cmd = {0};
	if (req->sudo) {
		sbuf_adds(&cmd, "sudo -n ");
		if (req->sudo_user) {
			sbuf_adds(&cmd, "-u ");
			shell_quote_word(&cmd, req->sudo_user);
			sbuf_addc(&cmd, ' ');
		}
	}
	sbuf_addf(&cmd, "kill -%s -- -%ld 2>/dev/null", sig, pgid);
	run_small(c, sbuf_str(&cmd), NULL, NULL, now_ms() + 10000);
	sbuf_release(&cmd);
}

static int signal_number(const char *name)
{
	static const struct {
		const char *n;
		int s;
	} v[] = {{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL}, {"ABRT", SIGABRT},
		 {"FPE", SIGFPE}, {"KILL", SIGKILL}, {"SEGV", SIGSEGV}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
		 {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"BUS", SIGBUS}, {"TRAP", SIGTRAP}};
	for (size_t i = 0; i < ARRAY_LEN(v); i++)
		if (!strcmp(v[i].n, name))
			return v[i].s;
	return SIGTERM;
}

struct run {
	struct conn *c;
	LIBSSH2_CHANNEL *ch;
	struct exec_sink *sink;
	struct sbuf head;     /* stderr until the pgid line is complete */
	bool head_done;
	long pgid;
};

/* stderr: the first line is the wrapper's pgid mark, not the command's. */
static void deliver_err(struct run *r, const char *buf, size_t n)
{
	if (r->head_done) {
		r->sink->data(r->sink->ctx, 2, buf, n);
		return;
	}
	/* the mark may follow what the login shell's startup files printed */
	sbuf_add(&r->head, buf, n);
	size_t ml = strlen(PGID_MARK);
	const char *h = r->head.buf, *end = h + r->head.len;
	for (const char *l = h; l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		if (!nl)
			break;
		if ((size_t)(nl - l) >= ml && !memcmp(l, PGID_MARK, ml)) {
			r->pgid = strtol(l + ml, NULL, 10);
			r->head_done = true;
			if (l > h)
				r->sink->data(r->sink->ctx, 2, h, (size_t)(l - h));
			if (nl + 1 < end)
				r->sink->data(r->sink->ctx, 2, nl + 1, (size_t)(end - nl - 1));
			sbuf_release(&r->head);
			return;
		}
		l = nl + 1;
	}
	if (r->head.len > 8192 || !n) {
		/* no mark: pass it all on (the command cannot be signalled) */
		r->head_done = true;
		if (r->head.len)
			r->sink->data(r->sink->ctx, 2, r->head.buf, r->head.len);
		sbuf_release(&r->head);
	}
}

static int ssh_exec(struct transport *t, const struct exec_req *req, struct exec_sink *sink, struct exec_result *res)
{
	struct conn *c = conn_of(t);
	memset(res, 0, sizeof(*res));
	if (!c || c->lost) {
		res->rc = 255;
		res->lost = true;
		res->error = xstrdup(c ? c->lost_why : "not connected");
		return 0;
	}
	long long start = now_ms();
	long long deadline = req->timeout_ms ? start + req->timeout_ms : 0;
	struct run r = {.c = c, .sink = sink};
	char *cmd = wrap(c, req);
	r.ch = open_channel(c, deadline);
	int rc = -1;
	if (r.ch)
		SSH_DO(c, rc, libssh2_channel_exec(r.ch, cmd), deadline);
	free(cmd);
	if (rc != 0) {
		res->rc = 255;
		if (c->lost) {
			res->lost = true;
			res->error = xstrdup(c->lost_why);
		} else if (deadline && now_ms() >= deadline) {
			res->timed_out = true;
		} else {
			res->rc = 127;
			res->error = ssh_err(c, "cannot start the command");
		}
		if (r.ch) {
			close_channel(c, r.ch, now_ms() + 5000);
			libssh2_channel_free(r.ch);
		}
		return 0;
	}
	bool in_open = req->in_fd > 0, eof_sent = false;
	char inbuf[CHUNK];
	size_t inlen = 0, inoff = 0;
	char buf[CHUNK];
	long long kill_at = 0, give_up = 0;
	bool eof[2] = {false, false};
	bool close_sent = false, closed = false;
	char *in_error = NULL;
	unsigned long last_queued = 0;
	while (!c->lost) {
		bool progress = false;
		/* stdin first, so a command waiting for input gets it */
		if (!eof_sent) {
			if (in_open && inoff == inlen) {
				ssize_t n = read(req->in_fd, inbuf, sizeof(inbuf));
				if (n > 0) {
					inlen = (size_t)n;
					inoff = 0;
				} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
					in_open = false;
				}
			}
			if (inoff < inlen) {
				conn_enter(c);
				ssize_t w = libssh2_channel_write(r.ch, inbuf + inoff, inlen - inoff);
				if (w > 0) {
					inoff += (size_t)w;
					progress = true;
				} else if (w != LIBSSH2_ERROR_EAGAIN) {
					conn_done(c);
					if (is_fatal((int)w)) {
						mark_lost(c, (int)w);
						break;
					}
					/* the command ended or stopped reading: no more
					 * input; any other error must not pass for the
					 * end of the input */
					if (w != LIBSSH2_ERROR_CHANNEL_CLOSED && !libssh2_channel_eof(r.ch) && !in_error)
						in_error = ssh_err(c, "cannot send the command's input");
					in_open = false;
					inoff = inlen;
				}
				if (w != LIBSSH2_ERROR_EAGAIN)
					conn_done(c);
			}
			if (!in_open && inoff == inlen) {
				conn_enter(c);
				int e = libssh2_channel_send_eof(r.ch);
				if (e != LIBSSH2_ERROR_EAGAIN) {
					conn_done(c);
					eof_sent = true;
					progress = true;
					if (e < 0 && is_fatal(e)) {
						mark_lost(c, e);
						break;
					}
				}
			}
		}
		for (int s = 0; s < 2; s++) {
			if (eof[s])
				continue;
			conn_enter(c);
			ssize_t n = libssh2_channel_read_ex(r.ch, s ? SSH_EXTENDED_DATA_STDERR : 0, buf, sizeof(buf));
			if (n == LIBSSH2_ERROR_EAGAIN)
				continue;
			conn_done(c);
			if (n > 0) {
				progress = true;
				if (s)
					deliver_err(&r, buf, (size_t)n);
				else
					sink->data(sink->ctx, 1, buf, (size_t)n);
			} else if (n == 0) {
				if (libssh2_channel_eof(r.ch))
					eof[s] = true;
			} else {
				if (is_fatal((int)n))
					mark_lost(c, (int)n);
				eof[s] = true;
			}
		}
		if (c->lost)
			break;
		if (!(eof[0] && eof[1]) && libssh2_channel_eof(r.ch) && !progress) {
			/* EOF came: what is buffered has been read above */
			eof[0] = eof[1] = true;
			continue;
		}
		if (eof[0] && eof[1]) {
			/* the output is closed, but the command may still run
			 * (`exec >log`): its end is the channel's close, which
			 * sshd sends once it has exited, after its status */
			int e = LIBSSH2_ERROR_EAGAIN;
			conn_enter(c);
			if (!close_sent && (e = libssh2_channel_close(r.ch)) != LIBSSH2_ERROR_EAGAIN)
				close_sent = true;
			if (close_sent && (e = libssh2_channel_wait_closed(r.ch)) != LIBSSH2_ERROR_EAGAIN) {
				conn_done(c);
				if (e < 0 && is_fatal(e))
					mark_lost(c, e);
				closed = e == 0;
				break;
			}
			if (e != LIBSSH2_ERROR_EAGAIN)
				conn_done(c);
		}
		long long now = now_ms();
		/* never while a write of ours is half sent: another channel's
		 * call would break it; signalling reads the socket on another
		 * channel, so what it read for this one is looked at before any
		 * wait */
		bool can_signal = !(libssh2_session_block_directions(c->s) & LIBSSH2_SESSION_BLOCK_OUTBOUND);
		if (can_signal && sig_interrupted() && !res->interrupted && !res->timed_out) {
			res->interrupted = true;
			signal_group(c, req, r.pgid, "TERM");
			kill_at = now_ms() + req->grace_ms;
			progress = true;
		}
		if (can_signal && deadline && now >= deadline && !res->timed_out && !res->interrupted) {
			res->timed_out = true;
			signal_group(c, req, r.pgid, "TERM");
			kill_at = now_ms() + req->grace_ms;
			progress = true;
		}
		if (can_signal && sink->cancel && *sink->cancel && !res->cancelled && !res->timed_out &&
		    !res->interrupted) {
			res->cancelled = true;
			signal_group(c, req, r.pgid, "TERM");
			kill_at = now_ms() + req->grace_ms;
			progress = true;
		}
		if (can_signal && kill_at && now_ms() >= kill_at) {
			signal_group(c, req, r.pgid, "KILL");
			kill_at = 0;
			/* a process outside the group may keep the output open */
			give_up = now_ms() + 5000;
			progress = true;
		}
		if (give_up && now_ms() >= give_up)
			break;
		if (progress)
			continue;
		/* reading one stream reads the socket for both: stdout's data
		 * may sit in libssh2's queue after stderr's read said EAGAIN.
		 * The socket then stays quiet — the host waits for the window
		 * our reading would reopen — so look in the queue, not at the
		 * socket. */
		unsigned long queued = 0;
		libssh2_channel_window_read_ex(r.ch, &queued, NULL);
		if (queued && queued != last_queued) {
			last_queued = queued; /* the same bytes twice: nothing to read, wait */
			continue;
		}
		last_queued = 0;
		long long until = kill_at ? kill_at : give_up;
		if (deadline && !res->timed_out && !res->interrupted && (!until || deadline < until))
			until = deadline;
		conn_wait(c, until);
	}
	conn_done(c);
	if (!r.head_done)
		deliver_err(&r, "", 0);
	sbuf_release(&r.head);
	if (c->lost) {
		res->lost = true;
		res->rc = 255;
		res->error = xstrdup(c->lost_why);
		libssh2_channel_free(r.ch);
		free(in_error);
		return 0;
	}
	if (!closed) {
		/* given up after the kill: the status never came */
		close_channel(c, r.ch, now_ms() + 2000);
		libssh2_channel_free(r.ch);
		res->rc = 255;
		if (!res->timed_out && !res->interrupted)
			res->error = xstrdup("the command's end was never seen");
		free(in_error);
		return 0;
	}
	if (in_error) {
		res->rc = 127;
		res->error = in_error;
		in_error = NULL;
	}
	char *signame = NULL;
	size_t slen = 0;
	if (libssh2_channel_get_exit_signal(r.ch, &signame, &slen, NULL, NULL, NULL, NULL) == 0 && signame) {
		res->signal = signal_number(signame);
		res->rc = 128 + res->signal;
		libssh2_free(c->s, signame);
	} else if (!res->error) {
		res->rc = libssh2_channel_get_exit_status(r.ch);
	}
	libssh2_channel_free(r.ch);
	return 0;
}

/* --- SFTP ------------------------------------------------------------------ */

static LIBSSH2_SFTP *sftp_of(struct conn *c, char **why)
{
	if (c->sftp && sftp_dead(c)) {
		/* its handles went with it (their owners skip closing them) */
		int rc;
		SSH_DO(c, rc, libssh2_sftp_shutdown(c->sftp), now_ms() + 2000);
		c->sftp = NULL;
		c->sftp_dead = false;
	}
	if (c->sftp)
		return c->sftp;
	if (c->lost) {
		*why = xstrdup(c->lost_why);
		return NULL;
	}
	SSH_PTR(c, c->sftp, libssh2_sftp_init(c->s), now_ms() + connect_timeout_ms());
	if (!c->sftp)
		*why = c->lost ? xstrdup(c->lost_why) : ssh_err(c, "cannot start SFTP (is the sftp subsystem enabled?)");
	return c->sftp;
}

static char *sftp_err(struct conn *c, const char *what, const char *path)
{
	if (c->lost)
		return xstrdup(c->lost_why);
	unsigned long e = c->sftp ? libssh2_sftp_last_error(c->sftp) : 0;
	const char *m = e == LIBSSH2_FX_NO_SUCH_FILE || e == LIBSSH2_FX_NO_SUCH_PATH ? "no such file or directory"
			: e == LIBSSH2_FX_PERMISSION_DENIED			    ? "permission denied"
			: e == LIBSSH2_FX_FILE_ALREADY_EXISTS			    ? "it already exists"
			: e == LIBSSH2_FX_FAILURE ? "failure (a full disk, or the path exists?)"
						  : NULL;
	if (sftp_dead(c))
		return xasprintf("cannot %s %s on %s: the SFTP subsystem ended", what, path, c->where);
	if (m)
		return xasprintf("cannot %s %s on %s: %s", what, path, c->where, m);
	char *s = ssh_err(c, "error");
	char *r = xasprintf("cannot %s %s on %s: %s", what, path, c->where, s);
	free(s);
	return r;
}

static LIBSSH2_SFTP_HANDLE *sftp_open(struct conn *c, const char *path, unsigned long flags, long mode,
				      int type, long long deadline, char **why)
{
	LIBSSH2_SFTP *sf = sftp_of(c, why);
	if (!sf)
		return NULL;
	LIBSSH2_SFTP_HANDLE *fh;
	SFTP_PTR(c, fh, libssh2_sftp_open_ex(sf, path, (unsigned)strlen(path), flags, mode, type), deadline);
	if (!fh)
		*why = sftp_err(c, type == LIBSSH2_SFTP_OPENDIR ? "open the folder" : "open", path);
	return fh;
}

static void sftp_close(struct conn *c, LIBSSH2_SFTP_HANDLE *fh)
{
	int rc;
	if (c->lost || sftp_dead(c))
		return; /* the handle dies with the session or the subsystem */
	SFTP_DO(c, rc, libssh2_sftp_close_handle(fh), now_ms() + 10000);
}

/* Writes all of buf to fh.  0 or -1 with *why.  The deadline is looked
 * at between writes, never inside one: a call abandoned half-way would
 * leave the SFTP channel unusable (a stuck network is noticed by the
 * keepalives instead). */
static int sftp_write_all(struct conn *c, LIBSSH2_SFTP_HANDLE *fh, const char *buf, size_t n, long long deadline,
			  const char *path, char **why)
{
	while (n) {
		ssize_t w = RB_DEADLINE;
		if (!deadline || now_ms() < deadline)
			SFTP_DO(c, w, libssh2_sftp_write(fh, buf, n), 0);
		if (w <= 0) {
			*why = w == RB_DEADLINE ? xasprintf("writing %s on %s timed out", path, c->where)
							  : sftp_err(c, "write", path);
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int ssh_mkdir(struct transport *t, const char *path, int mode, bool *exists, char **why)
{
	struct conn *c = conn_of(t);
	LIBSSH2_SFTP *sf = sftp_of(c, why);
	*exists = false;
	if (!sf)
		return -1;
	int rc;
	SFTP_DO(c, rc, libssh2_sftp_mkdir_ex(sf, path, (unsigned)strlen(path), mode), now_ms() + 30000);
	if (rc == 0)
		return 0;
	unsigned long e = libssh2_sftp_last_error(sf);
	/* OpenSSH answers a plain failure when the folder exists */
	if (!c->lost && (e == LIBSSH2_FX_FILE_ALREADY_EXISTS || e == LIBSSH2_FX_FAILURE)) {
		LIBSSH2_SFTP_ATTRIBUTES a;
		int s;
		SFTP_DO(c, s, libssh2_sftp_stat_ex(sf, path, (unsigned)strlen(path), LIBSSH2_SFTP_STAT, &a), now_ms() + 30000);
		if (s == 0) {
			*exists = true;
			return -1;
		}
	}
	*why = sftp_err(c, "create the folder", path);
	return -1;
}

int ssh_put_bytes(struct transport *t, const char *path, const char *buf, size_t n, int mode, bool append,
		  char **why)
{
	struct conn *c = conn_of(t);
	long long deadline = now_ms() + 30000;
	unsigned long flags = LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | (append ? LIBSSH2_FXF_APPEND : LIBSSH2_FXF_TRUNC);
	LIBSSH2_SFTP_HANDLE *fh = sftp_open(c, path, flags, mode, LIBSSH2_SFTP_OPENFILE, deadline, why);
	if (!fh)
		return -1;
	int rc = sftp_write_all(c, fh, buf, n, deadline, path, why);
	sftp_close(c, fh);
	return rc;
}

int ssh_get_bytes(struct transport *t, const char *path, char **out, size_t *n, char **why)
{
	struct conn *c = conn_of(t);
	long long deadline = now_ms() + 60000;
	LIBSSH2_SFTP_HANDLE *fh = sftp_open(c, path, LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE, deadline, why);
	if (!fh)
		return -1;
	struct sbuf sb = {0};
	char buf[CHUNK];
	int rc = 0;
	for (;;) {
		ssize_t r;
		SFTP_DO(c, r, libssh2_sftp_read(fh, buf, sizeof(buf)), deadline);
		if (r == 0)
			break;
		if (r < 0) {
			*why = sftp_err(c, "read", path);
			rc = -1;
			break;
		}
		sbuf_add(&sb, buf, (size_t)r);
	}
	sftp_close(c, fh);
	if (rc < 0) {
		sbuf_release(&sb);
		return -1;
	}
	*n = sb.len;
	*out = sb.buf ? sbuf_detach(&sb) : xstrdup("");
	return 0;
}

int ssh_unlink(struct transport *t, const char *path, char **why)
{
	struct conn *c = conn_of(t);
	LIBSSH2_SFTP *sf = sftp_of(c, why);
	if (!sf)
		return -1;
	int rc;
	SFTP_DO(c, rc, libssh2_sftp_unlink_ex(sf, path, (unsigned)strlen(path)), now_ms() + 30000);
	if (rc) {
		*why = sftp_err(c, "remove", path);
		return -1;
	}
	return 0;
}

int ssh_rmdir(struct transport *t, const char *path, char **why)
{
	struct conn *c = conn_of(t);
	LIBSSH2_SFTP *sf = sftp_of(c, why);
	if (!sf)
		return -1;
	int rc;
	SFTP_DO(c, rc, libssh2_sftp_rmdir_ex(sf, path, (unsigned)strlen(path)), now_ms() + 30000);
	if (rc) {
		*why = sftp_err(c, "remove the folder", path);
		return -1;
	}
	return 0;
}

int ssh_list(struct transport *t, const char *path, char ***names, size_t *n, char **why)
{
	struct conn *c = conn_of(t);
	long long deadline = now_ms() + 30000;
	LIBSSH2_SFTP_HANDLE *dh = sftp_open(c, path, 0, 0, LIBSSH2_SFTP_OPENDIR, deadline, why);
	*names = NULL;
	*n = 0;
	if (!dh)
		return -1;
	size_t cap = 0;
	char name[1024];
	int rc = 0;
	for (;;) {
		LIBSSH2_SFTP_ATTRIBUTES a;
		int r;
		SFTP_DO(c, r, libssh2_sftp_readdir_ex(dh, name, sizeof(name), NULL, 0, &a), deadline);
		if (r == 0)
			break;
		if (r < 0) {
			*why = sftp_err(c, "list", path);
			rc = -1;
			break;
		}
		if (strcmp(name, ".") && strcmp(name, ".."))
			VEC_PUSH(*names, *n, cap, xstrndup(name, (size_t)r));
	}
	sftp_close(c, dh);
	return rc;
}

/* A temporary name beside path: same folder, so the rename is atomic. */
static char *temp_beside(const char *path)
{
	static unsigned seq;
	return xasprintf("%s.rb-tmp-%ld-%u", path, (long)getpid(), ++seq);
}

static int ssh_put(struct transport *t, const struct put_req *r, char **why, bool *lost)
{
	struct conn *c = conn_of(t);
	*lost = false;
	if (!c || c->lost) {
		*lost = true;
		*why = xstrdup(c ? c->lost_why : "not connected");
		return -1;
	}
	char *tmp = temp_beside(r->dest);
	LIBSSH2_SFTP_HANDLE *fh = sftp_open(c, tmp, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL,
					    0600, LIBSSH2_SFTP_OPENFILE, r->deadline, why);
	int rc = -1;
	if (!fh)
		goto out;
	if (r->src_fd >= 0) {
		/* streamed: memory stays flat whatever the size */
		char buf[CHUNK];
		for (;;) {
			ssize_t n = read(r->src_fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				*why = xasprintf("cannot read the file to upload: %s", strerror(errno));
				goto fail;
			}
			if (n == 0)
				break;
			if (sftp_write_all(c, fh, buf, (size_t)n, r->deadline, tmp, why) < 0)
				goto fail;
		}
	} else if (sftp_write_all(c, fh, r->buf, r->len, r->deadline, tmp, why) < 0) {
		goto fail;
	}
	/* the mode as asked, whatever the remote umask made of it */
	LIBSSH2_SFTP_ATTRIBUTES a = {.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS, .permissions = (unsigned long)r->mode};
	int s;
	SFTP_DO(c, s, libssh2_sftp_fsetstat(fh, &a), r->deadline);
	if (s) {
		*why = sftp_err(c, "set the mode of", tmp);
		goto fail;
	}
	/* durable before it replaces anything (servers without fsync@openssh.com: skipped) */
	SFTP_DO(c, s, libssh2_sftp_fsync(fh), r->deadline);
	sftp_close(c, fh);
	fh = NULL;
	/* SFTP's rename refuses an existing target on OpenSSH: mv -f is rename(2) */
	struct sbuf mv = {0};
	/* mv would put it inside a folder of that name: refuse instead */
	sbuf_adds(&mv, "if [ -d ");
	shell_quote_word(&mv, r->dest);
	sbuf_adds(&mv, " ]; then rm -f -- ");
	shell_quote_word(&mv, tmp);
	sbuf_adds(&mv, "; exit 3; fi; exec mv -f -- ");
	shell_quote_word(&mv, tmp);
	sbuf_addc(&mv, ' ');
	shell_quote_word(&mv, r->dest);
	struct sbuf out = {0};
	int status = -1;
	if (run_small(c, sbuf_str(&mv), &out, &status, r->deadline ? r->deadline : now_ms() + 60000) < 0 || status) {
		*why = c->lost	     ? xstrdup(c->lost_why)
		       : status == 3 ? xasprintf("%s on %s is a folder: give the file's full path", r->dest, c->where)
				     : xasprintf("cannot move the upload into place as %s on %s", r->dest, c->where);
		sbuf_release(&mv);
		sbuf_release(&out);
		goto fail;
	}
	sbuf_release(&mv);
	sbuf_release(&out);
	rc = 0;
	goto out;
fail:
	if (fh)
		sftp_close(c, fh);
	if (!c->lost) {
		char *ignored = NULL;
		ssh_unlink(t, tmp, &ignored);
		free(ignored);
	}
out:
	*lost = c->lost;
	free(tmp);
	return rc;
}

static int ssh_get(struct transport *t, struct get_req *r, char **why, bool *lost)
{
	struct conn *c = conn_of(t);
	*lost = false;
	if (!c || c->lost) {
		*lost = true;
		*why = xstrdup(c ? c->lost_why : "not connected");
		return -1;
	}
	LIBSSH2_SFTP_HANDLE *fh = sftp_open(c, r->src, LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE, r->deadline, why);
	if (!fh) {
		*lost = c->lost;
		return -1;
	}
	LIBSSH2_SFTP_ATTRIBUTES a;
	int s, rc = 0;
	SFTP_DO(c, s, libssh2_sftp_fstat(fh, &a), r->deadline);
	/* no setuid, setgid or sticky bit comes along */
	r->mode = s == 0 && (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) ? (int)(a.permissions & 0777) : 0644;
	r->size = 0;
	char buf[CHUNK];
	for (;;) {
		ssize_t n = RB_DEADLINE;
		if (!r->deadline || now_ms() < r->deadline)
			SFTP_DO(c, n, libssh2_sftp_read(fh, buf, sizeof(buf)), 0);
		if (n == 0)
			break;
		if (n < 0) {
			*why = n == RB_DEADLINE ? xasprintf("reading %s on %s timed out", r->src, c->where)
							  : sftp_err(c, "read", r->src);
			rc = -1;
			break;
		}
		if (write_full(r->dst_fd, buf, (size_t)n, FP_FILE_WRITE) < 0) {
			*why = xasprintf("cannot write %s: %s", r->dst, strerror(errno));
			rc = -1;
			break;
		}
		r->size += n;
	}
	sftp_close(c, fh);
	*lost = c->lost;
	return rc;
}

const struct transport_ops ssh_transport = {
	.name = "ssh",
	.open = ssh_open,
	.exec = ssh_exec,
	.close = ssh_close,
	.put = ssh_put,
	.get = ssh_get,
};

/* --- small remote files: the lock and the journal mirror ------------------ */

int ssh_lstat(struct transport *t, const char *path, unsigned long *uid, unsigned long *mode, char **why)
{
	struct conn *c = conn_of(t);
	LIBSSH2_SFTP *sf = sftp_of(c, why);
	if (!sf)
		return -1;
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc;
	SFTP_DO(c, rc, libssh2_sftp_stat_ex(sf, path, (unsigned)strlen(path), LIBSSH2_SFTP_LSTAT, &a), now_ms() + 30000);
	if (rc || !(a.flags & LIBSSH2_SFTP_ATTR_UIDGID) || !(a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS)) {
		*why = rc ? sftp_err(c, "look at", path) : xasprintf("%s on %s: no owner or mode", path, c->where);
		return -1;
	}
	*uid = a.uid;
	*mode = a.permissions;
	return 0;
}

int ssh_chmod(struct transport *t, const char *path, int mode, char **why)
{
	struct conn *c = conn_of(t);
	LIBSSH2_SFTP *sf = sftp_of(c, why);
	if (!sf)
		return -1;
	LIBSSH2_SFTP_ATTRIBUTES a = {.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS, .permissions = (unsigned long)mode};
	int rc;
	SFTP_DO(c, rc, libssh2_sftp_stat_ex(sf, path, (unsigned)strlen(path), LIBSSH2_SFTP_SETSTAT, &a),
	       now_ms() + 30000);
	if (rc) {
		*why = sftp_err(c, "change the mode of", path);
		return -1;
	}
	return 0;
}

/* The mirror's journal is appended through `cat >> FILE` on a channel
 * kept open for the run, not SFTP: an SFTP write waits for the server's
 * acknowledgement, a round trip per record, two per step.  A channel
 * write is queued on the session's one TCP stream, which sshd reads in
 * order: the record reaches the host before any command started on it
 * afterwards, without waiting.  A connection lost with records still in
 * flight is noticed at the next step, which cannot run either. */
struct ssh_file {
	struct conn *c;
	unsigned gen;        /* the session its channel belongs to */
	LIBSSH2_CHANNEL *ch;
	char *path;
};

struct ssh_file *ssh_append_open(struct transport *t, const char *path, int mode, char **why)
{
	struct conn *c = conn_of(t);
	long long deadline = now_ms() + 30000;
	LIBSSH2_CHANNEL *ch = c->lost ? NULL : open_channel(c, deadline);
	if (!ch) {
		*why = c->lost ? xstrdup(c->lost_why) : ssh_err(c, "cannot open a channel for the mirror");
		return NULL;
	}
	struct sbuf cmd = {0};
	sbuf_addf(&cmd, "umask %03o && exec cat >> ", ~mode & 0777);
	shell_quote_word(&cmd, path);
	int rc;
	SSH_DO(c, rc, libssh2_channel_exec(ch, sbuf_str(&cmd)), deadline);
	sbuf_release(&cmd);
	if (rc) {
		*why = c->lost ? xstrdup(c->lost_why) : ssh_err(c, "cannot start the mirror");
		close_channel(c, ch, deadline);
		libssh2_channel_free(ch);
		return NULL;
	}
	struct ssh_file *f = xcalloc(1, sizeof(*f));
	f->c = c;
	f->gen = c->gen;
	f->ch = ch;
	f->path = xstrdup(path);
	return f;
}

int ssh_append(struct ssh_file *f, const char *buf, size_t n, char **why)
{
	struct conn *c = f->c;
	if (f->gen != c->gen) {
		*why = xasprintf("the connection to %s was lost and made again", c->where);
		return -1;
	}
	long long deadline = now_ms() + 30000;
	while (n) {
		ssize_t w;
		SSH_DO(c, w, libssh2_channel_write(f->ch, buf, n), deadline);
		if (w <= 0 || libssh2_channel_eof(f->ch)) {
			*why = c->lost ? xstrdup(c->lost_why)
				       : xasprintf("cannot append to %s on %s (the writer ended)", f->path, c->where);
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

void ssh_append_close(struct ssh_file *f)
{
	if (!f)
		return;
	struct conn *c = f->c;
	if (f->gen != c->gen) {
		/* its channel went with the lost session */
		free(f->path);
		free(f);
		return;
	}
	if (!c->lost) {
		int rc;
		long long deadline = now_ms() + 10000;
		/* EOF, then wait for cat to have written everything */
		SSH_DO(c, rc, libssh2_channel_send_eof(f->ch), deadline);
		if (rc == 0)
			SSH_DO(c, rc, libssh2_channel_wait_eof(f->ch), deadline);
		close_channel(c, f->ch, deadline);
	}
	libssh2_channel_free(f->ch);
	free(f->path);
	free(f);
}
