/* ssh.h — the SSH transport (ssh.c, libssh2) and what it needs: the
 * operator's ~/.ssh/config (sshconfig.c) and host keys (hostkey.c).
 *
 * One session per host for the whole run, one channel per command, the
 * session non-blocking: every wait goes through co_poll(), so hosts of a
 * `parallel` step progress together in one thread. */
#ifndef RB_SSH_H
#define RB_SSH_H

#include "plan.h"
#include "transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* --- ~/.ssh/config ------------------------------------------------------- */

struct ssh_conf {
	char *hostname, *user;
	int port;                 /* 0: not given */
	char **identities;        /* IdentityFile, in order, ~ and %-tokens expanded */
	size_t nidentities, idcap;
};

/* Fills c from the Host blocks of path that match alias (fields already
 * set are kept: the first value wins).  0, or -1 when path cannot be
 * read (c untouched). */
int ssh_config_lookup(const char *path, const char *alias, struct ssh_conf *c);
void ssh_conf_release(struct ssh_conf *c);

/* --- where a host is, once the inventory and ssh config are read --------- */

/* Completes an SSH host from its inventory entry d: what the entry leaves
 * out comes from ~/.ssh/config (or $RUNBOOK_SSH_CONFIG) for the entry's
 * address (or name), then the defaults: port 22, the local user name,
 * ~/.ssh/id_ed25519, id_ecdsa and id_rsa, ~/.ssh/known_hosts. */
void ssh_host_resolve(struct host *h, const struct host_def *d);

/* --- host keys (hostkey.c) ---------------------------------------------- */

struct hostkey {
	const char *type;         /* "ED25519", "RSA", "ECDSA" … */
	int kh_type;              /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *blob;         /* the raw key (borrowed from the session) */
	size_t len;
	char fp[64];              /* "SHA256:…" as OpenSSH prints it */
};

/* The key types pinned for address:port in file (a libssh2 host key
 * method preference list, most wanted first, malloc'ed) — so that the
 * server is asked for a key of a type we can check.  NULL: none pinned. */
char *hostkey_methods(const char *file, const char *address, int port);

enum hostkey_verdict { HOSTKEY_OK, HOSTKEY_UNKNOWN, HOSTKEY_CHANGED, HOSTKEY_ERROR };

/* Checks key against file.  On HOSTKEY_CHANGED *pinned receives the
 * pinned key's fingerprint (malloc'ed); on HOSTKEY_ERROR *pinned holds
 * why (malloc'ed). */
enum hostkey_verdict hostkey_check(const char *file, const char *address, int port, const struct hostkey *key,
				   char **pinned);

/* Appends address:port's key to file (made 0600, its folder 0700).  0, or
 * -1 with *why set (malloc'ed). */
int hostkey_pin(const char *file, const char *address, int port, const struct hostkey *key, char **why);

/* The SHA256 fingerprint of a raw key, "SHA256:" + unpadded base64. */
void hostkey_fingerprint(const void *blob, size_t len, char fp[64]);

/* The name known_hosts uses: "addr", or "[addr]:port" off port 22. */
char *hostkey_name(const char *address, int port);

/* --- the transport ------------------------------------------------------- */

/* Connects without checking the host key and returns it, for `runbook
 * trust`.  0, or -1 with err set. */
int ssh_offered_key(const struct host *h, struct hostkey *key, char **blob_owned, struct rb_error *err);

/* Small file operations over the session's SFTP channel, for the remote
 * lock and the journal mirror (remote.c).  Paths are absolute or
 * relative to the login directory.  0, or -1 with *why set (malloc'ed);
 * ssh_mkdir gives errno-like EEXIST through *exists. */
int ssh_mkdir(struct transport *t, const char *path, int mode, bool *exists, char **why);
int ssh_put_bytes(struct transport *t, const char *path, const char *buf, size_t n, int mode, bool append,
		  char **why);
/* Reads a whole (small) file: *out malloc'ed and NUL-terminated. */
int ssh_get_bytes(struct transport *t, const char *path, char **out, size_t *n, char **why);
int ssh_unlink(struct transport *t, const char *path, char **why);
int ssh_rmdir(struct transport *t, const char *path, char **why);
int ssh_chmod(struct transport *t, const char *path, int mode, char **why);
/* The owner and mode (with the file type bits) of path, not following a
 * symbolic link. */
int ssh_lstat(struct transport *t, const char *path, unsigned long *uid, unsigned long *mode, char **why);
/* A file kept open for appending (the journal mirror): the bytes reach
 * the host before anything started on it after the append (one ordered
 * stream); closing waits until they are all written there. */
struct ssh_file;
struct ssh_file *ssh_append_open(struct transport *t, const char *path, int mode, char **why);
int ssh_append(struct ssh_file *f, const char *buf, size_t n, char **why);
void ssh_append_close(struct ssh_file *f);
/* The names in a folder (not . and ..), malloc'ed each and the array. */
int ssh_list(struct transport *t, const char *path, char ***names, size_t *n, char **why);
/* Runs a command and keeps its stdout (bounded to 1 MiB); *rc its exit
 * status.  0, or -1 with *why set when it could not run. */
int ssh_capture(struct transport *t, const char *cmd, char **out, int *rc, char **why);

/* Is the connection known to be lost? */
bool ssh_lost(const struct transport *t);
/* A lost connection made again (a host back from a reboot): the host key
 * is checked and the user authenticated as at the start; the transport
 * keeps its identity.  Open handles of the lost session (ssh_file) fail
 * from then on.  0 (also when nothing was lost), or -1 with *why. */
int ssh_reconnect(struct transport *t, char **why);

#endif
