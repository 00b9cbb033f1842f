/* tests/unit/test_archive.c — the pure parts of archives: exclusion globs,
 * the manifest's streaming reader, extraction paths. */
#include "glob.h"
#include "manifest.h"
#include "snapshot.h"
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

void test_archive(void);

static void globs(void)
{
	CHECK(glob_excludes("*.log", "a.log", false), "*.log matches at the top");
	CHECK(glob_excludes("*.log", "x/y/a.log", false), "*.log matches at any depth");
	CHECK(!glob_excludes("*.log", "a.log.gz", false), "*.log does not match a.log.gz");
	CHECK(glob_excludes("cache", "x/cache/f", false), "a folder name takes its contents along");
	CHECK(glob_excludes("cache/", "cache", true), "trailing '/': a folder");
	CHECK(!glob_excludes("cache/", "cache", false), "trailing '/': not a file");
	CHECK(glob_excludes("cache/", "cache/a/b", false), "trailing '/': its contents");
	CHECK(glob_excludes("a/tmp", "a/tmp/f", false), "a path with '/' is anchored");
	CHECK(!glob_excludes("a/tmp", "x/a/tmp", false), "...and only at the top");
	CHECK(glob_excludes("/top", "top", false), "a leading '/' anchors");
	CHECK(!glob_excludes("/top", "x/top", false), "...and only the top");
	CHECK(glob_excludes("a/*", "a/b/c", false), "a/* excludes a/b, so its contents");
	CHECK(glob_excludes("a/**/tmp", "a/tmp", true), "** matches no folder");
	CHECK(glob_excludes("a/**/tmp", "a/x/y/tmp", true), "** matches several folders");
	CHECK(!glob_excludes("a/**/tmp", "b/x/tmp", true), "** stays under a/");
	CHECK(glob_excludes("**/*.o", "x/y.o", false), "**/*.o at any depth");
	CHECK(glob_excludes("f?le[0-9]", "file7", false), "? and a range");
	CHECK(!glob_excludes("f?le[!0-9]", "file7", false), "a negated range");
	CHECK(!glob_excludes("*", ".", true), "the archived folder itself ('.') is never excluded");
	CHECK(glob_excludes("sp ace", "dir/sp ace", false), "names with spaces");
	CHECK(glob_invalid("[abc") != NULL, "an unclosed [ is refused");
	CHECK(glob_invalid("") != NULL, "an empty pattern is refused");
	CHECK(glob_invalid("a\\[b") == NULL, "an escaped [ is fine");
}

static void paths(void)
{
	CHECK(snap_unsafe_path("a/b") == NULL, "a relative path is safe");
	CHECK(snap_unsafe_path("/etc/passwd") != NULL, "an absolute path is not");
	CHECK(snap_unsafe_path("a/../../x") != NULL, "a '..' is not");
	CHECK(snap_unsafe_path("..") != NULL, "'..' alone is not");
	CHECK(snap_unsafe_path("a/..b/c") == NULL, "'..b' is a name");
	CHECK_STR(snap_strip("a/b/c", 1), "b/c", "strip 1");
	CHECK_STR(snap_strip("a/b/c", 2), "c", "strip 2");
	CHECK(snap_strip("a", 1) == NULL, "strip past the end: nothing");
	CHECK(snap_strip(".", 1) == NULL, "the root stripped: nothing");
	CHECK_STR(snap_strip(".", 0), ".", "the root kept");
	enum snap_format f;
	CHECK(snap_format_of_path("x.tgz", &f) == 0 && f == SNAP_TAR_GZ, ".tgz is tar.gz");
	CHECK(snap_format_of_path("x.tar.zst", &f) == 0 && f == SNAP_TAR_ZST, ".tar.zst");
	CHECK(snap_format_of_path("x.tar.bz2", &f) < 0, ".tar.bz2 is not written");
}

static char *write_tmp(const char *text)
{
	char *p = xstrdup("/tmp/rb-unit-manifest-XXXXXX");
	int fd = mkstemp(p);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("write");
		close(fd);
	}
	return p;
}

static const char good[] =
	"{\"manifest\": \"runbook-archive\", \"version\": 1, \"format\": \"tar\", \"archive\": \"a.tar\",\n"
	"\"host\": \"local\", \"source\": \"/x\", \"created\": \"2026\", \"count\": 2, \"bytes\": 3,\n"
	"\"archive_bytes\": 10, \"archive_sha256\": \"" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "\",\n"
	"\"entries\": [\n"
	"{\"path\": \".\", \"type\": \"dir\", \"mode\": \"0755\"},\n"
	"{\"path\": \"a\\nb \\udcff\", \"type\": \"file\", \"size\": 3, \"mode\": \"0644\", \"sha256\": "
	"\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\", \"mtime\": 5, \"uid\": 0, \"gid\": 0}\n"
	"]}\n";

static void manifest(void)
{
	char *p = write_tmp(good);
	char *why = NULL;
	struct mf_reader *r = mf_open(p, &why);
	CHECK(r != NULL, "a manifest opens");
	if (r) {
		const struct mf_head *h = mf_head(r);
		CHECK(h->has_archive && h->archive_bytes == 10 && h->count == 2, "its head is read first");
		struct mf_entry e;
		CHECK(mf_next(r, &e, &why) == 1 && !strcmp(e.path, ".") && e.type == MF_DIR, "the first entry");
		mf_entry_release(&e);
		CHECK(mf_next(r, &e, &why) == 1 && !strcmp(e.path, "a\nb \xff") && e.size == 3 && e.mode == 0644,
		      "the second, its name byte for byte");
		mf_entry_release(&e);
		CHECK(mf_next(r, &e, &why) == 0, "then the end");
		mf_close(r);
	}
	unlink(p);
	free(p);
	free(why);

	/* damaged ones: a clear message with the line */
	struct {
		const char *from, *to, *msg;
	} bad[] = {
		{"\"type\": \"file\", \"size\": 3", "\"type\": \"fil\", \"size\": 3", ":6:"},
		{"\"mode\": \"0644\"", "\"mode\": \"rw\"", "'mode'"},
		{"ba7816bf", "BA7816bf", "'sha256'"},
		{"\"version\": 1", "\"version\": 2", "version 2"},
		{"\n]}\n", "\n", "ends early, after 2 entries"},
		{"\"uid\": 0,", "\"uid\": 0, \"evil\": 1,", "unknown entry member 'evil'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sbuf sb = {0};
		const char *at = strstr(good, bad[i].from);
		sbuf_add(&sb, good, (size_t)(at - good));
		sbuf_adds(&sb, bad[i].to);
		sbuf_adds(&sb, at + strlen(bad[i].from));
		char *q = write_tmp(sbuf_str(&sb));
		why = NULL;
		int rc = 0;
		struct mf_reader *rr = mf_open(q, &why);
		if (rr) {
			struct mf_entry e;
			while ((rc = mf_next(rr, &e, &why)) == 1)
				mf_entry_release(&e);
			mf_close(rr);
		} else {
			rc = -1;
		}
		char what[128];
		snprintf(what, sizeof(what), "a damaged manifest is refused: %s", bad[i].msg);
		CHECK(rc < 0 && why && strstr(why, bad[i].msg) && strstr(why, q), what);
		if (rc >= 0 || !why || !strstr(why, bad[i].msg))
			printf("#   %s\n", why ? why : "(no message)");
		free(why);
		unlink(q);
		free(q);
		sbuf_release(&sb);
	}
}

void test_archive(void)
{
	globs();
	paths();
	manifest();
}
