/* manifest.h — NAME.manifest.json, written beside every archive: what the
 * archive holds, entry by entry, and the SHA-256 of the archive itself.
 *
 *   {"manifest": "runbook-archive", "version": 1, "format": "tar.zst",
 *    "archive": "pryv.tar.zst", "host": "app1", "source": "/var/pryv",
 *    "created": "2026-11-22T10:00:00.000Z", "count": 2, "bytes": 4096,
 *    "archive_bytes": 1234, "archive_sha256": "…",
 *    "entries": [
 *     {"path": ".", "type": "dir", "mode": "0755", …},
 *     {"path": "data/a.db", "type": "file", "size": 4096, "mode": "0640",
 *      "sha256": "…", "mtime": 1763805600, "uid": 0, "gid": 0,
 *      "user": "root", "group": "root"},
 *     …]}
 *
 * The archive's own size and hash come first, so that a reader knows
 * them before the entries.  One entry per line, in the archive's
 * order, so both sides of a verification stream: memory stays flat whatever the archive holds.  The
 * reader does not depend on that layout, only on the order of entries.
 * Names that are not UTF-8 are kept byte for byte as \udcXX escapes, as
 * the journal keeps them. */
#ifndef RB_MANIFEST_H
#define RB_MANIFEST_H

#include "util.h"

#include <stdio.h>

enum mf_type { MF_FILE, MF_DIR, MF_SYMLINK, MF_HARDLINK, MF_CHAR, MF_BLOCK, MF_FIFO, MF_SOCKET };

struct mf_entry {
	char *path;        /* relative to the archived folder; "." is itself */
	enum mf_type type;
	long long size;    /* files: content bytes, holes included */
	int mode;          /* permission bits, 07777 */
	char sha256[65];   /* files: of the content; else "" */
	char *link;        /* symlink target, hard link's first path, or NULL */
	long long mtime;   /* seconds since the epoch */
	long long uid, gid;/* -1: not recorded (zip) */
	char *user, *group;/* NULL: not recorded */
	bool sparse;       /* had holes, which the archive keeps */
};

void mf_entry_release(struct mf_entry *e);
const char *mf_type_name(enum mf_type t);

/* The manifest's members other than its entries. */
struct mf_head {
	char *format, *archive, *host, *source, *created;
	long long count, bytes;       /* entries, and their content bytes */
	long long archive_bytes;
	char archive_sha256[65];
	bool has_archive;             /* archive_bytes and archive_sha256 were read */
};

/* --- writing: the head (the archive is complete by then), an entry at a
 * time, the end; f is the caller's --- */
void mf_write_begin(FILE *f, const struct mf_head *h);
void mf_write_end(FILE *f);
/* An entry's line (first: no ',' before it) into sb. */
void mf_entry_line(struct sbuf *sb, const struct mf_entry *e, bool first);
void mf_write_entry(FILE *f, const struct mf_entry *e, bool first);

/* --- reading, as a stream --- */
struct mf_reader;
/* Opens path and reads up to the first entry (the head).  NULL with *why set
 * ("FILE:LINE:COL: …", malloc'ed). */
struct mf_reader *mf_open(const char *path, char **why);
const struct mf_head *mf_head(const struct mf_reader *r);
/* The next entry into e (released by the caller): 1; 0 after the last
 * (the rest of the manifest is then read); -1 with *why set. */
int mf_next(struct mf_reader *r, struct mf_entry *e, char **why);
void mf_close(struct mf_reader *r);

/* The manifest's path for an archive: NAME.manifest.json (malloc'ed). */
char *mf_path_for(const char *archive);

#endif
