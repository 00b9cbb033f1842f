/* snapshot.h — archives with libarchive: a folder (or a tar stream of
 * one) into an archive and its manifest, and an archive read back entry
 * by entry, each checked against the manifest as it streams.
 *
 * Nothing here knows about steps, hosts or the terminal: archive_step.c
 * drives it, and `runbook archive` uses the reading side.  The writing
 * side may run on a thread of its own (a remote tree arrives through a
 * pipe); it then touches only what it was given. */
#ifndef RB_SNAPSHOT_H
#define RB_SNAPSHOT_H

#include "manifest.h"

#include <stdbool.h>

struct archive;
struct archive_entry;

enum snap_format { SNAP_TAR_ZST, SNAP_TAR_GZ, SNAP_TAR, SNAP_ZIP };

const char *snap_format_name(enum snap_format f);
/* "tar.zst", "tar.gz", "tar", "zip": 0, else -1. */
int snap_format_parse(const char *s, enum snap_format *f);
/* From an archive's name (.tar.zst/.tzst, .tar.gz/.tgz, .tar, .zip). */
int snap_format_of_path(const char *path, enum snap_format *f);
/* Compression levels the format takes: [*lo, *hi]; false when none. */
bool snap_format_levels(enum snap_format f, int *lo, int *hi);

/* Asked between blocks: a malloc'ed reason stops the work. */
struct snap_stop {
	char *(*check)(void *ctx);
	void *ctx;
};

struct snap_totals {
	long long entries, bytes;      /* entries, and their content bytes */
	long long archive_bytes;
	char sha256[65];               /* of the archive file */
	long long skipped;             /* left out: sockets, what the format cannot hold */
	long long specials;            /* devices and fifos kept */
	long long excluded;            /* matched an exclusion */
};

/* --- writing --------------------------------------------------------------- */

struct snap_spec {
	const char *to;                /* the archive's final path */
	enum snap_format format;
	int level;                     /* -1: the format's default */
	char *const *excludes;         /* glob.h patterns */
	size_t nexcludes;
	const char *host, *source;     /* recorded in the manifest */
};

struct snap_writer;
/* Opens temporary files beside sp->to (nothing else is touched until
 * snap_writer_finish).  NULL with *why set. */
struct snap_writer *snap_writer_new(const struct snap_spec *sp, char **why);
/* Adds the folder dir and everything under it (symlinks not followed). */
int snap_add_disk(struct snap_writer *w, const char *dir, const struct snap_stop *stop, char **why);
/* Adds every entry of the tar stream read from fd (a remote tar). */
int snap_add_tar(struct snap_writer *w, int fd, const struct snap_stop *stop, char **why);
/* Closes the archive, writes the manifest, reads the archive back against
 * it, then renames both into place (manifest first: an archive under its
 * final name always has its manifest).  0 with *t filled, or -1. */
int snap_writer_finish(struct snap_writer *w, const struct snap_stop *stop, struct snap_totals *t, char **why);
/* Frees w; unfinished, its temporary files are removed. */
void snap_writer_free(struct snap_writer *w);
/* What was left out or kept as a special file, one line each (bounded). */
const char *snap_writer_notes(struct snap_writer *w);

/* Entry content written through libarchive as it is read: holes (the gaps
 * between blocks) become zeros, which a pax writer with the entry's
 * sparse map drops again.  at: the bytes of the entry written so far. */
struct snap_out {
	struct archive *a;
	long long at;
	const struct snap_stop *stop;
};
int snap_out_bytes(struct snap_out *o, const void *buf, size_t n, char **why);
/* Zeros up to offset upto. */
int snap_out_fill(struct snap_out *o, long long upto, char **why);
/* A snap_visit.data callback (ctx: a struct snap_out). */
int snap_out_block(void *ctx, const void *buf, size_t n, long long off, char **why);

/* --- reading ----------------------------------------------------------------- */

/* Called for each entry once its header matched the manifest: entry may
 * return 1 to skip delivering its data (it is still verified); data gets
 * the content at offsets (holes are never delivered); done follows once
 * the content's SHA-256 matched.  Any of them may be NULL; -1 stops. */
struct snap_visit {
	int (*entry)(void *ctx, struct archive_entry *ae, const struct mf_entry *m, char **why);
	int (*data)(void *ctx, const void *buf, size_t n, long long off, char **why);
	int (*done)(void *ctx, const struct mf_entry *m, char **why);
	void *ctx;
};

/* Reads archive against manifest (NULL: NAME.manifest.json): every
 * entry's header and content in order, and the archive's own size and
 * SHA-256 (a zip's first, a tar's as it is read).  0 when everything
 * matched, else -1 with *why naming the first difference.
 * SNAP_AGAIN: the archive was verified so a moment ago (an extract's
 * second pass): the entries' contents are not hashed again — the
 * archive's own SHA-256 proves it is still the same file. */
enum { SNAP_AGAIN = 1 };
int snap_read(const char *archive, const char *manifest, const struct snap_visit *v, const struct snap_stop *stop,
	      int flags, struct snap_totals *t, char **why);

/* Reads an archive on its own (no manifest): fn gets each entry as a
 * manifest would describe it, content hash included.  0, or -1. */
int snap_scan(const char *archive, void (*fn)(void *ctx, const struct mf_entry *m), void *ctx,
	      const struct snap_stop *stop, struct snap_totals *t, char **why);

/* s as a terminal may show it (an entry's name comes from whoever made
 * the archive): control characters and bytes that are not UTF-8 escaped
 * as `ls -b` does.  Malloc'ed. */
char *snap_printable(const char *s);

/* Is an entry's path safe to create under a folder?  NULL, or why not
 * (static text).  For a hard link, its target is checked the same way. */
const char *snap_unsafe_path(const char *path);
/* Drops n leading components of path ("a/b/c", 1 → "b/c"); NULL when
 * nothing is left.  Returns a pointer into path. */
const char *snap_strip(const char *path, int n);

#endif
