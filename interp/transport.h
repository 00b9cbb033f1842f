/* transport.h — how a command reaches a host.  The local transport
 * (local.c) spawns a shell; the SSH transport (ssh.c) opens a channel on
 * the host's one session.  Both implement the same operations, so the
 * engine never knows which one it talks to. */
#ifndef RB_TRANSPORT_H
#define RB_TRANSPORT_H

#include "util.h"

struct host;

struct exec_req {
	const char *cmd;          /* shell text for /bin/sh -c */
	char *const *env;         /* extra "K=V" entries (host, then step) */
	size_t nenv;
	const char *cwd;          /* NULL: the default directory */
	bool sudo;
	const char *sudo_user;    /* NULL: root */
	long long timeout_ms;     /* 0: none */
	long long grace_ms;       /* TERM → KILL delay on timeout/interrupt */
	int in_fd;                /* > 0: the command's stdin is read from it
				   * (not owned); else it reads nothing */
};

/* Output arrives in chunks as it is read; stream is 1 or 2. */
struct exec_sink {
	void (*data)(void *ctx, int stream, const char *buf, size_t n);
	void *ctx;
	/* Once the command runs: its process group (local) — so that a run
	 * resumed after runbook itself was killed can wait for a command
	 * that outlived it.  May be NULL. */
	void (*started)(void *ctx, long pgid);
	/* Set to true by whoever consumes the output (may be NULL): the
	 * command is stopped as at a timeout, and res->cancelled is set. */
	const bool *cancel;
};

struct exec_result {
	int rc;            /* exit status, or 128+signal like a shell */
	int signal;        /* the terminating signal, or 0 */
	bool timed_out;    /* killed because of timeout */
	bool cancelled;    /* stopped because the sink asked (exec_sink.cancel) */
	bool interrupted;  /* killed because the operator interrupted */
	bool lost;         /* the connection to the host was lost: the
			    * command's fate is unknown (error says why) */
	char *error;       /* could not run at all (owned), rc is then 127 */
	bool short_of;     /* … for want of processes, memory or files (fork
			    * EAGAIN, ENOMEM, EMFILE): another try may work */
};

/* A file to put on a host, atomically: written beside dest under a
 * temporary name, given its mode, then renamed over dest. */
struct put_req {
	const char *dest;
	int src_fd;               /* read from it (not owned) … */
	const char *buf;          /* … or, when src_fd < 0, these bytes */
	size_t len;
	int mode;                 /* permission bits of the result */
	long long deadline;       /* now_ms() limit, 0: none */
};

/* A file to fetch from a host into dst_fd. */
struct get_req {
	const char *src;
	int dst_fd;               /* written to (not owned) */
	const char *dst;          /* what dst_fd becomes, for errors */
	int mode;                 /* out: the source's permission bits */
	long long size;           /* out: bytes copied */
	long long deadline;
};

struct transport;

struct transport_ops {
	const char *name;
	/* Opens the connection (no-op for local).  0, or -1 with err set. */
	int (*open)(struct transport *t, struct rb_error *err);
	/* Runs one command to completion, streaming its output to sink. */
	int (*exec)(struct transport *t, const struct exec_req *req, struct exec_sink *sink,
		    struct exec_result *res);
	void (*close)(struct transport *t);
	/* File transfers as the login user.  0, or -1 with *why set
	 * (malloc'ed); *lost tells that the connection went away. */
	int (*put)(struct transport *t, const struct put_req *r, char **why, bool *lost);
	int (*get)(struct transport *t, struct get_req *r, char **why, bool *lost);
};

struct transport {
	const struct transport_ops *ops;
	const struct host *host;
	void *impl;
};

/* Returns the transport for host (caller frees with transport_free). */
struct transport *transport_for(const struct host *h);
void transport_free(struct transport *t);
/* Opens h->tr unless it is open: 0, or -1 with err set and h->tr NULL. */
int host_connect(struct host *h, struct rb_error *err);
void exec_result_release(struct exec_result *r);

extern const struct transport_ops local_transport;
/* transfer.c: the local transport's transfers, plain file operations */
int local_put(struct transport *t, const struct put_req *r, char **why, bool *lost);
int local_get(struct transport *t, struct get_req *r, char **why, bool *lost);
extern const struct transport_ops ssh_transport;

#endif
