/* fault.c — see fault.h.  Empty unless built with -DRUNBOOK_FAULTS. */
#include "fault.h"

#ifdef RUNBOOK_FAULTS
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"journal-write", "journal-sync", "log-write", "rename", "spawn"};

static int errno_of(const char *s)
{
	static const struct {
		const char *name;
		int e;
	} v[] = {{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM},
		 {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"EACCES", EACCES}, {"EXDEV", EXDEV}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (!strcmp(s, v[i].name))
			return v[i].e;
	int e = atoi(s);
	return e > 0 ? e : EIO;
}

int fault_hit(enum fault_point p)
{
	static long calls[sizeof(names) / sizeof(names[0])];
	const char *spec = getenv("RUNBOOK_FAULT");
	size_t len = strlen(names[p]);
	if (!spec || strncmp(spec, names[p], len) || spec[len] != ':')
		return 0;
	char *end;
	long n = strtol(spec + len + 1, &end, 10);
	bool after = *end == '+';
	if (after)
		end++;
	long k = ++calls[p];
	if (k != n && !(after && k > n))
		return 0;
	return *end == ':' ? errno_of(end + 1) : EIO;
}
#else
/* an empty translation unit is not ISO C */
typedef int fault_unused;
#endif
