/* timeline.h - scheduled fault changes read from a file (format in fakeserver/README.md).
 *
 * Each line: "at MS name=value ...", "after N name=value ..." (N requests seen) or
 * "reset" forms; '#' starts a comment. Steps run on the dispatcher's loop.
 * Return convention: 0, or -1 with a one-line reason in err.
 */
#ifndef FS_TIMELINE_H
#define FS_TIMELINE_H

#include <stddef.h>

#include "server.h"

int fs_timeline_start(fs_server *s, const char *path, char *err, size_t errlen);
void fs_timeline_stop(fs_server *s);

#endif
