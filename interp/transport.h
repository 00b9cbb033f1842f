/* transport.h — how a command reaches a host.  The local transport
 * (local.c) forks a shell; the SSH transport will implement the same
 * operations, so the engine never knows which one it talks to. */
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
};

/* Output arrives in chunks as it is read; stream is 1 or 2. */
struct exec_sink {
	void (*data)(void *ctx, int stream, const char *buf, size_t n);
	void *ctx;
	/* Once the command runs: its process group (local) — so that a run
	 * resumed after runbook itself was killed can wait for a command
	 * that outlived it.  May be NULL. */
	void (*started)(void *ctx, long pgid);
};

struct exec_result {
	int rc;            /* exit status, or 128+signal like a shell */
	int signal;        /* the terminating signal, or 0 */
	bool timed_out;    /* killed because of timeout */
	bool interrupted;  /* killed because the operator interrupted */
	char *error;       /* could not run at all (owned), rc is then 127 */
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
};

struct transport {
	const struct transport_ops *ops;
	const struct host *host;
	void *impl;
};

/* Returns the transport for host (caller frees with transport_free). */
struct transport *transport_for(const struct host *h);
void transport_free(struct transport *t);
void exec_result_release(struct exec_result *r);

extern const struct transport_ops local_transport;

#endif
