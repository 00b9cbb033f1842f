/* snapshot.c — see snapshot.h.
 *
 * Writing: entries come from libarchive's disk reader (a local folder) or
 * its tar reader (a stream from a remote tar); each is named relative to
 * the archived folder, filtered by the exclusions, written to the archive
 * with its content hashed on the way, and described in a manifest.  The
 * archive and the manifest are temporary files beside the destination
 * until the archive has been read back and found equal to its manifest.
 *
 * Reading: its entries and the manifest's in step, header by header and
 * hash by hash, and the archive's own SHA-256 — taken while a tar is
 * parsed (one pass over its bytes), before a zip is (it is read by
 * seeking).  An extract reads twice: the proof, then the writing, where
 * the archive's hash alone shows it is still the file that was proven. */
#include "snapshot.h"

#include "glob.h"
#include "hash.h"
#include "journal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK (1 << 20)
#define MAX_NOTES 50

static const struct {
	const char *name;
	enum snap_format f;
	int lo, hi;
} formats[] = {
	{"tar.zst", SNAP_TAR_ZST, 1, 19},
	{"tar.gz", SNAP_TAR_GZ, 1, 9},
	{"tar", SNAP_TAR, 0, -1},
	{"zip", SNAP_ZIP, 0, 9},
};

const char *snap_format_name(enum snap_format f)
{
	return formats[f].name;
}

int snap_format_parse(const char *s, enum snap_format *f)
{
	for (size_t i = 0; i < ARRAY_LEN(formats); i++)
		if (!strcmp(s, formats[i].name)) {
			*f = formats[i].f;
			return 0;
		}
	return -1;
}

int snap_format_of_path(const char *path, enum snap_format *f)
{
	static const struct {
		const char *suffix;
		enum snap_format f;
	} sfx[] = {{".tar.zst", SNAP_TAR_ZST}, {".tzst", SNAP_TAR_ZST}, {".tar.gz", SNAP_TAR_GZ},
		   {".tgz", SNAP_TAR_GZ},      {".tar", SNAP_TAR},       {".zip", SNAP_ZIP}};
	for (size_t i = 0; i < ARRAY_LEN(sfx); i++)
		if (str_has_suffix(path, sfx[i].suffix)) {
			*f = sfx[i].f;
			return 0;
		}
	return -1;
}

bool snap_format_levels(enum snap_format f, int *lo, int *hi)
{
	*lo = formats[f].lo;
	*hi = formats[f].hi;
	return *hi >= *lo;
}

static bool is_tar(enum snap_format f)
{
	return f != SNAP_ZIP;
}

static char *stopped(const struct snap_stop *stop)
{
	return stop && stop->check ? stop->check(stop->ctx) : NULL;
}

/* --- entries --------------------------------------------------------------- */

/* A name as the manifest and the checks see it: components joined by one
 * '/', without "." components — "./a//b/./c/" is "a/b/c", "./" is "." —
 * so that the same path has one spelling.  ".." is kept, and so is a
 * leading '/' of a name that did not start at root (the archive's own
 * absolute name): both are refused by snap_unsafe_path.  With root (the
 * disk reader's folder), names under it are made relative to it. */
static char *relative_name(const char *name, const char *root)
{
	bool absolute = name[0] == '/';
	if (root) {
		size_t n = strlen(root);
		if (!strncmp(name, root, n) && (name[n] == '/' || !name[n] || (n && root[n - 1] == '/'))) {
			name += n;
			absolute = false;
		}
	}
	struct sbuf sb = {0};
	if (absolute)
		sbuf_addc(&sb, '/');
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");
		if (n && !(n == 1 && p[0] == '.')) {
			if (sb.len && sb.buf[sb.len - 1] != '/')
				sbuf_addc(&sb, '/');
			sbuf_add(&sb, p, n);
		}
		p += n;
		while (*p == '/')
			p++;
	}
	if (!sb.len)
		sbuf_addc(&sb, '.');
	return sbuf_detach(&sb);
}

static enum mf_type entry_type(struct archive_entry *e)
{
	if (archive_entry_hardlink(e))
		return MF_HARDLINK;
	switch (archive_entry_filetype(e)) {
	case AE_IFDIR:
		return MF_DIR;
	case AE_IFLNK:
		return MF_SYMLINK;
	case AE_IFCHR:
		return MF_CHAR;
	case AE_IFBLK:
		return MF_BLOCK;
	case AE_IFIFO:
		return MF_FIFO;
	case AE_IFSOCK:
		return MF_SOCKET;
	default:
		return MF_FILE;
	}
}

/* The manifest's description of e (its content hash filled in later). */
static void describe(struct archive_entry *e, const char *rel, const char *link, struct mf_entry *m)
{
	memset(m, 0, sizeof(*m));
	m->path = xstrdup(rel);
	m->type = entry_type(e);
	m->size = m->type == MF_FILE ? (long long)archive_entry_size(e) : 0;
	m->mode = (int)(archive_entry_perm(e) & 07777);
	if (link)
		m->link = xstrdup(link);
	m->mtime = archive_entry_mtime_is_set(e) ? (long long)archive_entry_mtime(e) : -1;
	m->uid = archive_entry_uid(e);
	m->gid = archive_entry_gid(e);
	if (archive_entry_uname(e) && *archive_entry_uname(e))
		m->user = xstrdup(archive_entry_uname(e));
	if (archive_entry_gname(e) && *archive_entry_gname(e))
		m->group = xstrdup(archive_entry_gname(e));
	m->sparse = m->type == MF_FILE && archive_entry_sparse_count(e) > 0;
}

/* An entry read from an archive, as its manifest describes it: its name
 * and its hard link's spelled as the manifest spells them. */
static void describe_read(struct archive_entry *e, struct mf_entry *m)
{
	char *rel = relative_name(archive_entry_pathname(e), NULL);
	const char *link = archive_entry_hardlink(e) ? archive_entry_hardlink(e) : archive_entry_symlink(e);
	char *hl = archive_entry_hardlink(e) ? relative_name(link, NULL) : NULL;
	describe(e, rel, hl ? hl : link, m);
	free(hl);
	free(rel);
}

static const char zeros[65536];

/* Hashes n zero bytes (a hole: it may be terabytes).  0, or -1 when
 * stopped, with *why. */
static int hash_zeros(struct sha256 *h, long long n, const struct snap_stop *stop, char **why)
{
	for (unsigned i = 1; n > 0; i++) {
		size_t k = n > (long long)sizeof(zeros) ? sizeof(zeros) : (size_t)n;
		sha256_update(h, zeros, k);
		n -= (long long)k;
		if (!(i & 1023) && (*why = stopped(stop)))
			return -1;
	}
	return 0;
}

/* --- writing --------------------------------------------------------------- */

struct snap_writer {
	struct snap_spec sp;
	struct archive *a;
	int fd;                        /* the archive's temporary file */
	char *tmp;                     /* ...its name */
	struct sha256 hash;            /* of the bytes written to it */
	long long written;
	int werr;                      /* errno of a failed write */
	bool aborting;                 /* being freed unfinished: writes fail */
	FILE *entries;                 /* the manifest's entries (unlinked file) */
	struct snap_totals t;
	struct sbuf notes;
	long long nnotes;
	struct archive_entry_linkresolver *lr;
	bool finished;
};

static void note(struct snap_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct snap_writer *w, const char *fmt, ...)
{
	if (w->nnotes++ == MAX_NOTES) {
		sbuf_adds(&w->notes, "… (more in the manifest)\n");
		return;
	}
	if (w->nnotes > MAX_NOTES)
		return;
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&w->notes, fmt, ap);
	va_end(ap);
	sbuf_addc(&w->notes, '\n');
}

const char *snap_writer_notes(struct snap_writer *w)
{
	return sbuf_str(&w->notes);
}

static la_ssize_t write_cb(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct snap_writer *w = ctx;
	if (w->aborting) {
		archive_set_error(a, ECANCELED, "abandoned");
		return -1;
	}
	if (write_full(w->fd, buf, n, FP_FILE_WRITE) < 0) {
		w->werr = errno;
		archive_set_error(a, errno, "cannot write %s: %s", w->tmp, strerror(errno));
		return -1;
	}
	sha256_update(&w->hash, buf, n);
	w->written += (long long)n;
	return (la_ssize_t)n;
}

static int set_option(struct snap_writer *w, const char *mod, const char *opt, const char *val, char **why)
{
	if (archive_write_set_option(w->a, mod, opt, val) < ARCHIVE_WARN) {
		*why = xasprintf("cannot set %s %s=%s: %s", mod, opt, val, archive_error_string(w->a));
		return -1;
	}
	return 0;
}

static int writer_setup(struct snap_writer *w, char **why)
{
	const struct snap_spec *sp = &w->sp;
	char lv[16];
	snprintf(lv, sizeof(lv), "%d", sp->level);
	w->a = archive_write_new();
	if (is_tar(sp->format)) {
		archive_write_set_format_pax_restricted(w->a);
		/* names are bytes: kept as they are, whatever the locale */
		if (set_option(w, "pax", "hdrcharset", "BINARY", why) < 0)
			return -1;
	} else {
		archive_write_set_format_zip(w->a);
		if (sp->level >= 0 && set_option(w, "zip", "compression-level", lv, why) < 0)
			return -1;
	}
	if (sp->format == SNAP_TAR_ZST) {
		archive_write_add_filter_zstd(w->a);
		/* each zstd worker holds its jobs' buffers (tens of MB at level 3):
		 * at most 4, so that memory stays bounded on a big machine */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		char th[24];
		snprintf(th, sizeof(th), "%ld", cpus < 1 ? 1 : cpus > 4 ? 4 : cpus);
		if (set_option(w, "zstd", "threads", th, why) < 0 ||
		    (sp->level >= 0 && set_option(w, "zstd", "compression-level", lv, why) < 0))
			return -1;
	} else if (sp->format == SNAP_TAR_GZ) {
		archive_write_add_filter_gzip(w->a);
		if (sp->level >= 0 && set_option(w, "gzip", "compression-level", lv, why) < 0)
			return -1;
	}
	archive_write_set_bytes_in_last_block(w->a, 1);
	if (archive_write_open2(w->a, w, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
		*why = xasprintf("cannot start the archive: %s", archive_error_string(w->a));
		return -1;
	}
	if (is_tar(sp->format)) {
		w->lr = archive_entry_linkresolver_new();
		archive_entry_linkresolver_set_strategy(w->lr, archive_format(w->a));
	}
	return 0;
}

struct snap_writer *snap_writer_new(const struct snap_spec *sp, char **why)
{
	struct snap_writer *w = xcalloc(1, sizeof(*w));
	w->sp = *sp;
	w->fd = -1;
	w->tmp = xasprintf("%s.rb-tmp-XXXXXX", sp->to);
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		*why = xasprintf("cannot create a file beside %s: %s", sp->to, strerror(errno));
		free(w->tmp);
		w->tmp = NULL;
		snap_writer_free(w);
		return NULL;
	}
	/* the entries wait in an unlinked file beside it: memory stays flat */
	char *etmp = xasprintf("%s.rb-tmp-XXXXXX", sp->to);
	int efd = mkostemp(etmp, O_CLOEXEC);
	if (efd >= 0)
		unlink(etmp);
	free(etmp);
	if (efd < 0 || !(w->entries = fdopen(efd, "w+"))) {
		*why = xasprintf("cannot create a file beside %s: %s", sp->to, strerror(errno));
		if (efd >= 0)
			close(efd);
		snap_writer_free(w);
		return NULL;
	}
	sha256_init(&w->hash);
	if (writer_setup(w, why) < 0) {
		snap_writer_free(w);
		return NULL;
	}
	return w;
}

void snap_writer_free(struct snap_writer *w)
{
	if (!w)
		return;
	/* unfinished: whatever the compressor still flushes goes nowhere
	 * (archive_write_fail would skip the flush, but leaks the filters in
	 * libarchive 3.6).  Closed first: after a failed write libarchive is
	 * in its FATAL state, where archive_write_free() skips the close that
	 * frees the output buffer (libarchive issue #1568) */
	w->aborting = !w->finished;
	if (w->a && w->aborting)
		archive_write_close(w->a);
	if (w->a)
		archive_write_free(w->a);
	if (w->lr)
		archive_entry_linkresolver_free(w->lr);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp && !w->finished)
		unlink(w->tmp);
	free(w->tmp);
	if (w->entries)
		fclose(w->entries);
	if (w->hash.ctx)
		sha256_release(&w->hash);
	sbuf_release(&w->notes);
	free(w);
}

static bool excluded(struct snap_writer *w, const char *rel, bool dir)
{
	if (!strcmp(rel, "."))
		return false;
	for (size_t i = 0; i < w->sp.nexcludes; i++)
		if (glob_excludes(w->sp.excludes[i], rel, dir))
			return true;
	return false;
}

static int read_content(struct archive *a, const char *archive, const struct mf_entry *m,
			int (*data)(void *ctx, const void *buf, size_t n, long long off, char **why), void *ctx,
			const struct snap_stop *stop, char hex[65], char **why);

int snap_out_bytes(struct snap_out *o, const void *buf, size_t n, char **why)
{
	const char *c = buf;
	while (n) {
		la_ssize_t k = archive_write_data(o->a, c, n);
		if (k <= 0) {
			*why = xasprintf("cannot write the archive: %s", archive_error_string(o->a));
			return -1;
		}
		c += k;
		n -= (size_t)k;
		o->at += k;
	}
	return 0;
}

int snap_out_fill(struct snap_out *o, long long upto, char **why)
{
	for (unsigned i = 1; o->at < upto; i++) {
		size_t k = upto - o->at > (long long)sizeof(zeros) ? sizeof(zeros) : (size_t)(upto - o->at);
		if (snap_out_bytes(o, zeros, k, why) < 0)
			return -1;
		if (!(i & 1023) && (*why = stopped(o->stop)))
			return -1;
	}
	return 0;
}

int snap_out_block(void *ctx, const void *buf, size_t n, long long off, char **why)
{
	struct snap_out *o = ctx;
	if (snap_out_fill(o, off, why) < 0)
		return -1;
	return snap_out_bytes(o, buf, n, why);
}

/* One entry of the source `in`, already renamed: its header, its content
 * (holes written as zeros, which a pax archive with the entry's sparse
 * map drops again), and its line in the manifest. */
static int put_entry(struct snap_writer *w, struct archive *in, struct archive_entry *e, const char *rel,
		     const struct snap_stop *stop, char **why)
{
	enum mf_type type = entry_type(e);
	if (type == MF_SOCKET) {
		note(w, "left out %s: a socket (no archive format holds one)", rel);
		w->t.skipped++;
		return 0;
	}
	struct archive_entry *sparse = NULL;
	if (w->lr && type != MF_DIR)
		archive_entry_linkify(w->lr, &e, &sparse);
	type = entry_type(e);
	int r = archive_write_header(w->a, e);
	if (r == ARCHIVE_FAILED) {
		/* zip holds no devices or fifos: say so, go on */
		note(w, "left out %s: %s", rel, archive_error_string(w->a));
		w->t.skipped++;
		return 0;
	}
	if (r < ARCHIVE_WARN) {
		*why = xasprintf("cannot write the archive (%s): %s", rel, archive_error_string(w->a));
		return -1;
	}
	if (type == MF_CHAR || type == MF_BLOCK || type == MF_FIFO) {
		note(w, "kept %s: a %s (its node, no content)", rel, mf_type_name(type));
		w->t.specials++;
	}
	struct mf_entry m;
	const char *link = type == MF_HARDLINK ? archive_entry_hardlink(e) : type == MF_SYMLINK ? archive_entry_symlink(e) : NULL;
	describe(e, rel, link, &m);
	if (type == MF_FILE) {
		struct snap_out p = {w->a, 0, stop};
		int rc = read_content(in, w->sp.source ? w->sp.source : "the folder", &m, snap_out_block, &p, stop, m.sha256,
				      why);
		/* a short file with no holes in its map shrank as it was read:
		 * zeros would stand for data that was there (as tar, refuse) */
		if (rc == 0 && p.at < m.size && !archive_entry_sparse_count(e)) {
			*why = xasprintf("'%s' shrank while it was read (%lld of %lld bytes): a live file — stop what writes "
					 "it, or exclude it", rel, p.at, m.size);
			rc = -1;
		}
		if (rc < 0 || snap_out_fill(&p, m.size, why) < 0) {
			mf_entry_release(&m);
			return -1;
		}
		w->t.bytes += m.size;
	}
	mf_write_entry(w->entries, &m, w->t.entries == 0);
	w->t.entries++;
	mf_entry_release(&m);
	return 0;
}

/* The next entry of a reader: 1, 0 at the end, -1 with *why (what: how
 * the source is named in messages). */
static int next_entry(struct archive *a, const char *what, struct archive_entry **e, char **why)
{
	int r = archive_read_next_header(a, e);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN) {
		*why = xasprintf("%s is damaged: %s", what, archive_error_string(a));
		return -1;
	}
	if (!archive_entry_pathname(*e)) {
		*why = xasprintf("%s is damaged: an entry has no name", what);
		return -1;
	}
	return 1;
}

int snap_add_disk(struct snap_writer *w, const char *dir, const struct snap_stop *stop, char **why)
{
	char *root = xstrdup(dir);
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		root[--n] = '\0';
	struct stat st;
	errno = 0;
	memset(&st, 0, sizeof(st));
	if (lstat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*why = xasprintf("cannot archive %s: %s", root, S_ISLNK(st.st_mode) ? "a symlink, not a folder (archive "
			"what it points to)" : errno ? strerror(errno) : "not a folder");
		free(root);
		return -1;
	}
	struct archive *d = archive_read_disk_new();
	archive_read_disk_set_standard_lookup(d);
	archive_read_disk_set_symlink_physical(d);
	int rc = 0;
	if (archive_read_disk_open(d, root) != ARCHIVE_OK) {
		*why = xasprintf("cannot archive %s: %s", root, archive_error_string(d));
		rc = -1;
	}
	struct archive_entry *e = archive_entry_new();
	while (rc == 0) {
		char *s = stopped(stop);
		if (s) {
			*why = s;
			rc = -1;
			break;
		}
		archive_entry_clear(e);
		int r = archive_read_next_header2(d, e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			*why = xasprintf("cannot read %s: %s", root, archive_error_string(d));
			rc = -1;
			break;
		}
		char *rel = relative_name(archive_entry_pathname(e), root);
		bool isdir = archive_entry_filetype(e) == AE_IFDIR;
		if (excluded(w, rel, isdir)) {
			w->t.excluded++;
			free(rel);
			continue;
		}
		if (isdir)
			archive_read_disk_descend(d);
		if (r == ARCHIVE_WARN && archive_errno(d) == EACCES) {
			*why = xasprintf("cannot read %s: %s", archive_entry_pathname(e), archive_error_string(d));
			free(rel);
			rc = -1;
			break;
		}
		archive_entry_set_pathname(e, rel);
		rc = put_entry(w, d, e, rel, stop, why);
		free(rel);
	}
	archive_entry_free(e);
	archive_read_free(d);
	free(root);
	return rc;
}

int snap_add_tar(struct snap_writer *w, int fd, const struct snap_stop *stop, char **why)
{
	struct archive *in = archive_read_new();
	archive_read_support_format_tar(in);
	archive_read_support_filter_none(in);
	archive_read_set_options(in, "hdrcharset=BINARY");
	int rc = 0;
	if (archive_read_open_fd(in, fd, BLOCK) != ARCHIVE_OK) {
		*why = xasprintf("cannot read the tar stream: %s", archive_error_string(in));
		rc = -1;
	}
	struct archive_entry *e;
	char *excl_dir = NULL; /* the last folder excluded */
	while (rc == 0) {
		char *s = stopped(stop);
		if (s) {
			*why = s;
			rc = -1;
			break;
		}
		int r = next_entry(in, "the tar stream", &e, why);
		if (r <= 0) {
			rc = r;
			break;
		}
		char *rel = relative_name(archive_entry_pathname(e), NULL);
		bool isdir = archive_entry_filetype(e) == AE_IFDIR;
		if (excluded(w, rel, isdir)) {
			/* counted as the disk reader counts: a folder, not what
			 * it holds */
			size_t dl = excl_dir ? strlen(excl_dir) : 0;
			if (!excl_dir || strncmp(rel, excl_dir, dl) || rel[dl] != '/') {
				w->t.excluded++;
				free(excl_dir);
				excl_dir = isdir ? xstrdup(rel) : NULL;
			}
			free(rel);
			continue;
		}
		archive_entry_set_pathname(e, rel);
		if (archive_entry_hardlink(e)) {
			char *hl = relative_name(archive_entry_hardlink(e), NULL);
			if (excluded(w, hl, false)) {
				/* its first name was left out: the content is lost, refuse */
				*why = xasprintf("%s is a hard link to %s, which is excluded: exclude both or neither", rel, hl);
				free(hl);
				free(rel);
				rc = -1;
				break;
			}
			archive_entry_set_hardlink(e, hl);
			free(hl);
		}
		rc = put_entry(w, in, e, rel, stop, why);
		free(rel);
	}
	free(excl_dir);
	archive_read_free(in);
	return rc;
}

/* Copies the entries file after the manifest's head, then its end. */
static int write_manifest(struct snap_writer *w, const char *path, char **why)
{
	FILE *f = fopen(path, "wxe");
	if (!f) {
		*why = xasprintf("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	fchmod(fileno(f), 0600);
	const char *slash = strrchr(w->sp.to, '/');
	char created[40];
	iso_time_now(created, sizeof(created));
	struct mf_head h = {.format = (char *)snap_format_name(w->sp.format),
			    .archive = (char *)(slash ? slash + 1 : w->sp.to),
			    .host = (char *)w->sp.host,
			    .source = (char *)w->sp.source,
			    .created = created,
			    .count = w->t.entries,
			    .bytes = w->t.bytes,
			    .archive_bytes = w->t.archive_bytes};
	memcpy(h.archive_sha256, w->t.sha256, 65);
	mf_write_begin(f, &h);
	fflush(w->entries);
	rewind(w->entries);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), w->entries)) > 0)
		fwrite(buf, 1, n, f);
	mf_write_end(f);
	int bad = ferror(w->entries) || ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
	int err = errno;
	if (fclose(f) != 0 && !bad) {
		bad = 1;
		err = errno;
	}
	if (bad) {
		*why = xasprintf("cannot write %s: %s", path, strerror(err));
		unlink(path);
		return -1;
	}
	return 0;
}

int snap_writer_finish(struct snap_writer *w, const struct snap_stop *stop, struct snap_totals *t, char **why)
{
	if (archive_write_close(w->a) != ARCHIVE_OK) {
		*why = xasprintf("cannot finish the archive: %s", archive_error_string(w->a));
		return -1;
	}
	if (fchmod(w->fd, 0600) < 0 || fsync(w->fd) < 0) {
		*why = xasprintf("cannot finish %s: %s", w->tmp, strerror(errno));
		return -1;
	}
	close(w->fd);
	w->fd = -1;
	w->t.archive_bytes = w->written;
	sha256_hex(&w->hash, w->t.sha256);
	char *mpath = mf_path_for(w->sp.to);
	char *mtmp = xasprintf("%s.rb-tmp-%ld", mpath, (long)getpid());
	unlink(mtmp);
	int rc = write_manifest(w, mtmp, why);
	/* the proof: the archive as it lies on disk, read back */
	struct snap_totals back;
	if (rc == 0 && snap_read(w->tmp, mtmp, NULL, stop, 0, &back, why) < 0) {
		char *v = *why;
		*why = xasprintf("the archive did not verify after writing: %s", v);
		free(v);
		rc = -1;
	}
	if (rc == 0 && (rename(mtmp, mpath) < 0 || rename(w->tmp, w->sp.to) < 0)) {
		*why = xasprintf("cannot put %s in place: %s", w->sp.to, strerror(errno));
		rc = -1;
	}
	if (rc < 0)
		unlink(mtmp);
	else {
		w->finished = true;
		fsync_parent(w->sp.to);
		*t = w->t;
	}
	free(mtmp);
	free(mpath);
	return rc;
}

/* --- reading ----------------------------------------------------------------- */

static int hash_file(int fd, char hex[65], long long *size, const struct snap_stop *stop, char **why)
{
	struct sha256 h;
	sha256_init(&h);
	char *buf = xmalloc(BLOCK);
	*size = 0;
	int rc = 0;
	for (;;) {
		char *s = stopped(stop);
		if (s) {
			*why = s;
			rc = -1;
			break;
		}
		ssize_t n = read(fd, buf, BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = xasprintf("read failed: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		sha256_update(&h, buf, (size_t)n);
		*size += n;
	}
	free(buf);
	if (rc < 0) {
		sha256_release(&h);
		return -1;
	}
	sha256_hex(&h, hex);
	return 0;
}

/* An archive file read once, front to back, its SHA-256 taken on the way:
 * a tar needs no separate pass over its bytes.  (A zip is read from its
 * end, by seeking: it is hashed apart.) */
struct hashed_in {
	int fd;
	struct sha256 h;
	long long n;
	char *buf;
};

static la_ssize_t hashed_read(struct archive *a, void *ctx, const void **out)
{
	struct hashed_in *in = ctx;
	ssize_t n;
	while ((n = read(in->fd, in->buf, BLOCK)) < 0 && errno == EINTR)
		;
	if (n < 0) {
		if (a)
			archive_set_error(a, errno, "read failed: %s", strerror(errno));
		return -1;
	}
	if (n > 0)
		sha256_update(&in->h, in->buf, (size_t)n);
	in->n += n;
	*out = in->buf;
	return n;
}

/* The rest of the file (what libarchive did not need: padding), hashed;
 * then the digest.  0, or -1 with *why. */
static int hashed_finish(struct hashed_in *in, char hex[65], char **why)
{
	la_ssize_t n;
	const void *p;
	while ((n = hashed_read(NULL, in, &p)) > 0)
		;
	if (n < 0) {
		*why = xasprintf("read failed: %s", strerror(errno));
		sha256_release(&in->h);
		return -1;
	}
	sha256_hex(&in->h, hex);
	return 0;
}

static void setup_reader(struct archive *a)
{
	archive_read_support_format_tar(a);
	archive_read_support_format_zip(a);
	archive_read_support_filter_all(a);
	archive_read_set_options(a, "hdrcharset=BINARY");
}

static struct archive *reader_of(int fd, const char *archive, char **why)
{
	struct archive *a = archive_read_new();
	setup_reader(a);
	if (archive_read_open_fd(a, fd, BLOCK) != ARCHIVE_OK) {
		*why = xasprintf("%s is not an archive runbook can read: %s", archive, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* Reads the content of the current entry m: its SHA-256 into hex (holes
 * hashed as zeros, up to m->size), each block handed to data (when not
 * NULL).  0, or -1 with *why. */
static int read_content(struct archive *a, const char *archive, const struct mf_entry *m,
			int (*data)(void *ctx, const void *buf, size_t n, long long off, char **why), void *ctx,
			const struct snap_stop *stop, char hex[65], char **why)
{
	struct sha256 h = {0};
	if (hex)
		sha256_init(&h);
	long long at = 0;
	const void *buf;
	size_t n;
	la_int64_t off;
	int rc = 0;
	char *s;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &n, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			*why = xasprintf("%s: cannot read '%s': %s", archive, m->path, archive_error_string(a));
			rc = -1;
			break;
		}
		if (hex && off > at && hash_zeros(&h, off - at, stop, why) < 0) {
			rc = -1;
			break;
		}
		if (hex)
			sha256_update(&h, buf, n);
		at = off + (long long)n;
		if (n && data && data(ctx, buf, n, off, why) < 0) {
			rc = -1;
			break;
		}
		if ((s = stopped(stop))) {
			*why = s;
			rc = -1;
			break;
		}
	}
	if (rc == 0 && at > m->size) {
		*why = xasprintf("'%s' holds more than its %lld bytes (it grew while it was read?)", m->path, m->size);
		rc = -1;
	}
	if (!hex)
		return rc;
	if (rc < 0) {
		sha256_release(&h);
		return -1;
	}
	if (at < m->size && hash_zeros(&h, m->size - at, stop, why) < 0) {
		sha256_release(&h);
		return -1;
	}
	sha256_hex(&h, hex);
	return 0;
}

/* Is the archive not the one the manifest describes?  Then *why says so. */
static bool archive_differs(const char *archive, const struct snap_totals *t, const struct mf_head *h, char **why)
{
	if (t->archive_bytes != h->archive_bytes)
		*why = xasprintf("%s has %lld bytes, its manifest says %lld: the archive is damaged or not the one the "
				 "manifest describes", archive, t->archive_bytes, h->archive_bytes);
	else if (strcmp(t->sha256, h->archive_sha256))
		*why = xasprintf("the SHA-256 of %s is %s, its manifest says %s: the archive is damaged or not the one "
				 "the manifest describes", archive, t->sha256, h->archive_sha256);
	else
		return false;
	return true;
}

static bool same_str(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

/* Where the archive's entry differs from the manifest's, or NULL. */
static char *differs(const struct mf_entry *m, const struct mf_entry *a, bool tar)
{
	if (strcmp(m->path, a->path))
		return xasprintf("the archive holds '%s' where its manifest lists '%s'", a->path, m->path);
	if (m->type != a->type)
		return xasprintf("'%s' is a %s in the archive, a %s in its manifest", m->path, mf_type_name(a->type),
				 mf_type_name(m->type));
	if (m->type == MF_FILE && m->size != a->size)
		return xasprintf("'%s' has %lld bytes in the archive, %lld in its manifest", m->path, a->size, m->size);
	if (m->mode != a->mode)
		return xasprintf("'%s' has mode %04o in the archive, %04o in its manifest", m->path, a->mode, m->mode);
	if (!same_str(m->link, a->link))
		return xasprintf("'%s' links to '%s' in the archive, to '%s' in its manifest", m->path,
				 a->link ? a->link : "", m->link ? m->link : "");
	if (m->mtime >= 0 && a->mtime != m->mtime)
		return xasprintf("'%s' has mtime %lld in the archive, %lld in its manifest", m->path, a->mtime, m->mtime);
	if (tar && m->uid >= 0 && (a->uid != m->uid || a->gid != m->gid))
		return xasprintf("'%s' is owned by %lld:%lld in the archive, %lld:%lld in its manifest", m->path, a->uid,
				 a->gid, m->uid, m->gid);
	return NULL;
}

int snap_read(const char *archive, const char *manifest, const struct snap_visit *v, const struct snap_stop *stop,
	      int flags, struct snap_totals *t, char **why)
{
	*why = NULL;
	memset(t, 0, sizeof(*t));
	char *mpath = manifest ? xstrdup(manifest) : mf_path_for(archive);
	int fd = open(archive, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = xasprintf("cannot read %s: %s", archive, strerror(errno));
		free(mpath);
		return -1;
	}
	struct mf_reader *r = mf_open(mpath, why);
	if (!r) {
		if (access(mpath, F_OK) < 0 && errno == ENOENT) {
			free(*why);
			*why = xasprintf("%s has no manifest (%s): runbook only trusts archives it can verify", archive, mpath);
		}
		close(fd);
		free(mpath);
		return -1;
	}
	const struct mf_head *h = mf_head(r);
	int rc = 0;
	bool tar = h->format && strcmp(h->format, "zip");
	struct hashed_in hin = {.fd = fd};
	struct archive *a = NULL;
	if (!h->has_archive) {
		*why = xasprintf("%s: the manifest gives no 'archive_bytes' and 'archive_sha256' before its entries", mpath);
		rc = -1;
	} else if (!tar) {
		if (hash_file(fd, t->sha256, &t->archive_bytes, stop, why) < 0 || archive_differs(archive, t, h, why))
			rc = -1;
		else if (lseek(fd, 0, SEEK_SET) < 0 || !(a = reader_of(fd, archive, why)))
			rc = -1;
	} else {
		sha256_init(&hin.h);
		hin.buf = xmalloc(BLOCK);
		a = archive_read_new();
		setup_reader(a);
		if (archive_read_open(a, &hin, NULL, hashed_read, NULL) != ARCHIVE_OK) {
			*why = xasprintf("%s is not an archive runbook can read: %s", archive, archive_error_string(a));
			rc = -1;
		}
	}
	struct mf_entry m = {0}, got = {0};
	while (rc == 0) {
		char *s = stopped(stop);
		if (s) {
			*why = s;
			rc = -1;
			break;
		}
		struct archive_entry *e;
		char *awhy = NULL;
		int ar = next_entry(a, archive, &e, &awhy);
		int mr = mf_next(r, &m, why);
		if (mr < 0 || ar < 0) {
			if (mr >= 0)
				*why = awhy;
			else
				free(awhy);
			rc = -1;
			break;
		}
		if (ar == 0) {
			if (mr == 1) {
				*why = xasprintf("the archive ends before '%s', which its manifest lists", m.path);
				rc = -1;
			}
			break;
		}
		describe_read(e, &got);
		if (mr == 0) {
			*why = xasprintf("the archive holds '%s', which its manifest does not list", got.path);
			rc = -1;
			break;
		}
		if ((*why = differs(&m, &got, tar))) {
			rc = -1;
			break;
		}
		int skip = v && v->entry ? v->entry(v->ctx, e, &m, why) : 0;
		if (skip < 0) {
			rc = -1;
			break;
		}
		if (m.type == MF_FILE) {
			char hex[65];
			bool again = flags & SNAP_AGAIN;
			if (read_content(a, archive, &m, skip || !v ? NULL : v->data, v ? v->ctx : NULL, stop,
					 again ? NULL : hex, why) < 0)
				rc = -1;
			else if (!again && strcmp(hex, m.sha256)) {
				*why = xasprintf("the content of '%s' does not match its manifest (SHA-256 %s, expected %s)",
						 m.path, hex, m.sha256);
				rc = -1;
			}
			t->bytes += m.size;
		}
		if (rc == 0 && !skip && v && v->done && v->done(v->ctx, &m, why) < 0)
			rc = -1;
		t->entries++;
		mf_entry_release(&m);
		mf_entry_release(&got);
	}
	mf_entry_release(&m);
	mf_entry_release(&got);
	/* a tar was hashed as it was read: its bytes are proven last, and a
	 * difference there outranks whatever the entries said */
	if (tar && hin.buf) {
		char *st = rc < 0 ? stopped(stop) : NULL;
		if (st) {
			/* stopped: no time for the rest */
			sha256_release(&hin.h);
			free(st);
		} else {
			/* also after a failure: when the bytes differ, that is the
			 * clearer reason ("damaged or not the one …") */
			char *hwhy = NULL;
			if (hashed_finish(&hin, t->sha256, &hwhy) < 0) {
				if (rc == 0) {
					*why = hwhy;
					hwhy = NULL;
				}
				rc = -1;
			} else {
				t->archive_bytes = hin.n;
				char *d = NULL;
				if (archive_differs(archive, t, h, &d)) {
					free(*why);
					*why = d;
					rc = -1;
				}
			}
			free(hwhy);
		}
		free(hin.buf);
	}
	if (rc == 0 && (t->entries != h->count || t->bytes != h->bytes)) {
		*why = xasprintf("the manifest counts %lld entries and %lld bytes, the archive holds %lld and %lld",
				 h->count, h->bytes, t->entries, t->bytes);
		rc = -1;
	}
	if (a)
		archive_read_free(a);
	mf_close(r);
	close(fd);
	free(mpath);
	return rc;
}

int snap_scan(const char *archive, void (*fn)(void *ctx, const struct mf_entry *m), void *ctx,
	      const struct snap_stop *stop, struct snap_totals *t, char **why)
{
	*why = NULL;
	memset(t, 0, sizeof(*t));
	int fd = open(archive, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = xasprintf("cannot read %s: %s", archive, strerror(errno));
		return -1;
	}
	if (hash_file(fd, t->sha256, &t->archive_bytes, stop, why) < 0) {
		close(fd);
		return -1;
	}
	lseek(fd, 0, SEEK_SET);
	struct archive *a = reader_of(fd, archive, why);
	int rc = a ? 0 : -1;
	while (rc == 0) {
		struct archive_entry *e;
		int ar = next_entry(a, archive, &e, why);
		if (ar <= 0) {
			rc = ar;
			break;
		}
		struct mf_entry m;
		describe_read(e, &m);
		if (m.type == MF_FILE) {
			if (read_content(a, archive, &m, NULL, NULL, stop, m.sha256, why) < 0)
				rc = -1;
			t->bytes += m.size;
		}
		char *s = rc == 0 ? stopped(stop) : NULL;
		if (s) {
			*why = s;
			rc = -1;
		}
		if (rc == 0)
			fn(ctx, &m);
		t->entries++;
		mf_entry_release(&m);
	}
	if (a)
		archive_read_free(a);
	close(fd);
	return rc;
}

/* The length of the UTF-8 sequence at p, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n = *p >= 0xf0 && *p <= 0xf4 ? 4 : *p >= 0xe0 && *p < 0xf0 ? 3 : *p >= 0xc2 && *p < 0xe0 ? 2 : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

char *snap_printable(const char *s)
{
	struct sbuf sb = {0};
	sbuf_adds(&sb, "");
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		size_t u = *p >= 0x80 ? utf8_len(p) : 0;
		if (u) {
			sbuf_add(&sb, p, u);
			p += u - 1;
		} else if (*p == '\n') {
			sbuf_adds(&sb, "\\n");
		} else if (*p == '\t') {
			sbuf_adds(&sb, "\\t");
		} else if (*p == '\\') {
			sbuf_adds(&sb, "\\\\");
		} else if (*p < 0x20 || *p >= 0x7f) {
			sbuf_addf(&sb, "\\%03o", *p);
		} else {
			sbuf_addc(&sb, (char)*p);
		}
	}
	return sbuf_detach(&sb);
}

/* --- paths for extraction ------------------------------------------------------ */

const char *snap_unsafe_path(const char *path)
{
	if (!*path)
		return "an empty name";
	if (path[0] == '/')
		return "an absolute path";
	for (const char *p = path; *p;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "a '..' component";
		p += n;
		while (*p == '/')
			p++;
	}
	return NULL;
}

const char *snap_strip(const char *path, int n)
{
	if (!strcmp(path, "."))
		return n ? NULL : path;
	for (int i = 0; i < n; i++) {
		const char *slash = strchr(path, '/');
		if (!slash)
			return NULL;
		path = slash + 1;
		while (*path == '/')
			path++;
	}
	return *path ? path : NULL;
}
