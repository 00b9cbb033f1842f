/* glob.h — the exclusion patterns of `archive` (gitignore's shape, which
 * ops engineers already write):
 *
 *   *.log        no '/': matches the last component, at any depth
 *   cache/tmp    with a '/': the whole path from the archived folder
 *   /data        a leading '/' anchors too (it is dropped)
 *   logs/        a trailing '/': folders only
 *   *  ?  [a-z]  [!a-z]   never cross a '/';  **  crosses any number
 *
 * A folder that matches takes everything under it along. */
#ifndef RB_GLOB_H
#define RB_GLOB_H

#include <stdbool.h>

/* Does pattern exclude path (relative, no leading "./"; is_dir: it is a
 * folder)?  Its ancestors are tested too. */
bool glob_excludes(const char *pattern, const char *path, bool is_dir);
/* NULL when pattern is well formed, else why not (static text). */
const char *glob_invalid(const char *pattern);

#endif
