/* hostkey.c — host keys fail closed: checked against an OpenSSH
 * known_hosts file (plain and hashed names, the "[host]:port" form),
 * with fingerprints as `ssh-keygen -l` prints them, and pinned by
 * `runbook trust` only.
 *
 * The file is read line by line rather than with
 * libssh2_knownhost_readfile(): that one gives up at the first line it
 * does not understand (a certificate authority, a security-key type),
 * and a user's known_hosts often has one.  Such lines are skipped;
 * @revoked and @cert-authority markers are not supported. */
#include "ssh.h"

#include "hash.h"
#include "rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(struct sbuf *sb, const unsigned char *p, size_t n, bool pad)
{
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		sbuf_addc(sb, b64[v >> 18 & 63]);
		sbuf_addc(sb, b64[v >> 12 & 63]);
		if (i + 1 < n)
			sbuf_addc(sb, b64[v >> 6 & 63]);
		else if (pad)
			sbuf_addc(sb, '=');
		if (i + 2 < n)
			sbuf_addc(sb, b64[v & 63]);
		else if (pad)
			sbuf_addc(sb, '=');
	}
}

/* Decodes base64 (padding optional); NULL on a bad character. */
static unsigned char *b64_decode(const char *s, size_t *n)
{
	size_t len = strlen(s);
	unsigned char *out = xmalloc(len / 4 * 3 + 3);
	unsigned v = 0;
	int bits = 0;
	*n = 0;
	for (; *s && *s != '='; s++) {
		const char *c = strchr(b64, *s);
		if (!c || !*s) {
			free(out);
			return NULL;
		}
		v = v << 6 | (unsigned)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[(*n)++] = (unsigned char)(v >> bits);
		}
	}
	return out;
}

void hostkey_fingerprint(const void *blob, size_t len, char fp[64])
{
	struct sha256 s;
	unsigned char d[32];
	sha256_init(&s);
	sha256_update(&s, blob, len);
	sha256_final(&s, d);
	struct sbuf sb = {0};
	sbuf_adds(&sb, "SHA256:");
	b64_encode(&sb, d, sizeof(d), false);
	snprintf(fp, 64, "%s", sbuf_str(&sb));
	sbuf_release(&sb);
}

char *hostkey_name(const char *address, int port)
{
	return port == 22 ? xstrdup(address) : xasprintf("[%s]:%d", address, port);
}

/* Every parsable line of file in a collection (NULL when the file cannot
 * be read; a missing file is an empty collection). */
static LIBSSH2_KNOWNHOSTS *load(LIBSSH2_SESSION *s, const char *file, char **why)
{
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s);
	if (!kh) {
		*why = xstrdup("cannot set up the known hosts check");
		return NULL;
	}
	char *text;
	size_t n;
	if (read_file(file, &text, &n) < 0) {
		if (errno == ENOENT)
			return kh;
		*why = xasprintf("cannot read %s: %s", file, strerror(errno));
		libssh2_knownhost_free(kh);
		return NULL;
	}
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#' || *line == '@')
			continue;
		libssh2_knownhost_readline(kh, line, strlen(line), LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	}
	free(text);
	return kh;
}

/* libssh2 needs a session only to report errors through it. */
static LIBSSH2_SESSION *scratch_session(void)
{
	static LIBSSH2_SESSION *s;
	if (!s)
		s = libssh2_session_init();
	return s;
}

static const struct {
	int kh;
	const char *methods;
} kinds[] = {
	{LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519"},
	{LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256"},
	{LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384"},
	{LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521"},
	{LIBSSH2_KNOWNHOST_KEY_SSHRSA, "rsa-sha2-512,rsa-sha2-256,ssh-rsa"},
};

char *hostkey_methods(const char *file, const char *address, int port)
{
	char *why = NULL;
	LIBSSH2_KNOWNHOSTS *kh = load(scratch_session(), file, &why);
	free(why);
	if (!kh)
		return NULL;
	/* A check with a key that cannot match tells, for hashed names too,
	 * whether a key of that type is pinned: MISMATCH means one is. */
	struct sbuf pinned = {0};
	static const char dummy[] = "\0\0\0\0";
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
		int r = libssh2_knownhost_checkp(kh, address, port, dummy, 4,
						 LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | kinds[i].kh,
						 NULL);
		if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH || r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
			sbuf_addf(&pinned, "%s%s", pinned.len ? "," : "", kinds[i].methods);
	}
	libssh2_knownhost_free(kh);
	return pinned.len ? sbuf_detach(&pinned) : NULL;
}

/* The fingerprint of a pinned entry (malloc'ed); with other_type, said
 * to be a key of that other type. */
static char *pinned_fingerprint(const struct libssh2_knownhost *found, const char *other_type)
{
	size_t n = 0;
	unsigned char *old = found && found->key ? b64_decode(found->key, &n) : NULL;
	char fp[64] = "an unreadable key";
	if (old)
		hostkey_fingerprint(old, n, fp);
	free(old);
	return other_type ? xasprintf("%s (a key of another type: %s)", fp, other_type) : xstrdup(fp);
}

enum hostkey_verdict hostkey_check(const char *file, const char *address, int port, const struct hostkey *key,
				   char **pinned)
{
	*pinned = NULL;
	LIBSSH2_KNOWNHOSTS *kh = load(scratch_session(), file, pinned);
	if (!kh)
		return HOSTKEY_ERROR;
	struct libssh2_knownhost *found = NULL;
	int r = libssh2_knownhost_checkp(kh, address, port, key->blob, key->len,
					 LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | key->kh_type, &found);
	enum hostkey_verdict v = HOSTKEY_UNKNOWN;
	if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
		v = HOSTKEY_OK;
	else if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
		v = HOSTKEY_CHANGED;
		*pinned = pinned_fingerprint(found, NULL);
	} else if (r == LIBSSH2_KNOWNHOST_CHECK_FAILURE) {
		v = HOSTKEY_ERROR;
		*pinned = xasprintf("cannot check the key against %s", file);
	} else {
		/* no key of this type is pinned, but one of another type is:
		 * the host was asked for that type first, so offering another
		 * one is a change too, not a stranger to trust */
		static const char dummy[] = "\0\0\0\0";
		for (size_t i = 0; i < ARRAY_LEN(kinds) && v == HOSTKEY_UNKNOWN; i++) {
			if (kinds[i].kh == key->kh_type)
				continue;
			int o = libssh2_knownhost_checkp(kh, address, port, dummy, 4,
							 LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
								 kinds[i].kh,
							 &found);
			if (o == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
				v = HOSTKEY_CHANGED;
				*pinned = pinned_fingerprint(found, kinds[i].methods);
			}
		}
	}
	libssh2_knownhost_free(kh);
	return v;
}

/* The algorithm name at the start of a key blob ("ssh-ed25519"…). */
static char *blob_algo(const unsigned char *b, size_t n)
{
	if (n < 4)
		return NULL;
	size_t l = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
	if (l == 0 || l > 64 || l > n - 4)
		return NULL;
	return xstrndup((const char *)b + 4, l);
}

int hostkey_pin(const char *file, const char *address, int port, const struct hostkey *key, char **why)
{
	char *algo = blob_algo((const unsigned char *)key->blob, key->len);
	if (!algo) {
		*why = xstrdup("the host offered a key that cannot be written down");
		return -1;
	}
	char *dir = xstrdup(file);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir_p(dir, 0700) < 0) {
			*why = xasprintf("cannot create %s: %s", dir, strerror(errno));
			free(dir);
			free(algo);
			return -1;
		}
	}
	free(dir);
	char *name = hostkey_name(address, port);
	struct sbuf line = {0};
	sbuf_addf(&line, "%s %s ", name, algo);
	b64_encode(&line, (const unsigned char *)key->blob, key->len, true);
	sbuf_addc(&line, '\n');
	free(name);
	free(algo);
	int rc = -1;
	int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		*why = xasprintf("cannot open %s: %s", file, strerror(errno));
		goto out;
	}
	/* a file that does not end with a newline would glue our line to its
	 * last one */
	off_t end = lseek(fd, 0, SEEK_END);
	char last = '\n';
	if (end > 0) {
		int rfd = open(file, O_RDONLY | O_CLOEXEC);
		if (rfd >= 0) {
			if (pread(rfd, &last, 1, end - 1) != 1)
				last = '\n';
			close(rfd);
		}
	}
	if ((last != '\n' && write_full(fd, "\n", 1, FP_FILE_WRITE) < 0) ||
	    write_full(fd, line.buf, line.len, FP_FILE_WRITE) < 0 || fsync(fd) < 0) {
		*why = xasprintf("cannot write %s: %s", file, strerror(errno));
		close(fd);
		goto out;
	}
	rc = close(fd);
	if (rc < 0)
		*why = xasprintf("cannot write %s: %s", file, strerror(errno));
out:
	sbuf_release(&line);
	return rc;
}
