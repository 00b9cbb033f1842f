/* fault.c — see fault.h.  Empty unless built with -DRUNBOOK_FAULTS. */
#include "fault.h"

#ifdef RUNBOOK_FAULTS
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"journal-write", "journal-sync", "log-write", "file-write", "rename", "spawn"};

static int errno_of(const char *s, size_t n)
{
	static const struct {
		const char *name;
		int e;
	} v[] = {{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM},
		 {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"EACCES", EACCES}, {"EXDEV", EXDEV},
		 {"SHORT", FAULT_SHORT}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (strlen(v[i].name) == n && !strncmp(s, v[i].name, n))
			return v[i].e;
	int e = atoi(s);
	return e > 0 ? e : EIO;
}

int fault_hit(enum fault_point p)
{
	static long calls[sizeof(names) / sizeof(names[0])];
	const char *spec = getenv("RUNBOOK_FAULT");
	if (!spec)
		return 0;
	long k = ++calls[p];
	size_t len = strlen(names[p]);
	/* a comma-separated list; the first item that names p and hits wins */
	for (const char *s = spec; *s; s += strcspn(s, ","), s += *s == ',') {
		if (strncmp(s, names[p], len) || s[len] != ':')
			continue;
		char *end;
		long n = strtol(s + len + 1, &end, 10);
		bool after = *end == '+';
		if (after)
			end++;
		if (k != n && !(after && k > n))
			continue;
		int e = *end == ':' ? errno_of(end + 1, strcspn(end + 1, ",")) : EIO;
		/* only a write can be short */
		bool writes = p == FP_JOURNAL_WRITE || p == FP_LOG_WRITE || p == FP_FILE_WRITE;
		return e == FAULT_SHORT && !writes ? EIO : e;
	}
	return 0;
}
#else
/* an empty translation unit is not ISO C */
typedef int fault_unused;
#endif
