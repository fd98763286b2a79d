/* timeline.h - scheduled fault changes read from a file (format in fakeserver/README.md).
 *
 *   # comment
 *   at 500ms delay=200 error-rate=0.5     (also "at 2s", "at 1500" = ms after start)
 *   after 10 refuse=1                     (once 10 requests have been seen)
 *   at 3s reset stall=0                   ("reset": defaults first, the seed kept)
 *
 * Time steps run on the dispatcher's loop; count steps are applied by the worker that sees
 * request N+1, under the faults lock, before that request's decision, so a sequential
 * client sees the change exactly from request N+1 on.
 * Return convention: 0, or -1 with a one-line reason (file:line) in err.
 */
#ifndef FS_TIMELINE_H
#define FS_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

int fs_timeline_start(fs_server *s, const char *path, char *err, size_t errlen);
void fs_timeline_stop(fs_server *s);
/* Worker side: applies count steps due before request seq. Cheap when none is due. */
void fs_timeline_on_request(fs_server *s, uint64_t seq);
#define FS_TIMELINE_LINE_MAX 1024

/* One parsed line of a timeline file. */
typedef struct fs_timeline_line {
    bool timed; /* "at TIME" (when in ms after start), else "after N" (when = N) */
    int64_t when;
    char text[FS_TIMELINE_LINE_MAX]; /* the action, checked: "reset a=1 b=2" */
} fs_timeline_line;

/* Parses one line of a timeline file (up to its first newline; longer than
 * FS_TIMELINE_LINE_MAX - 1 is cut). Returns 1 with out set, 0 for a blank or comment line,
 * or -1 with a one-line reason in err. Pure. */
int fs_timeline_parse_line(const char *line, fs_timeline_line *out, char *err, size_t errlen);
/* Parses one step's action text ("reset a=1 b=2") onto f. Returns 0 or -1. Pure but for f. */
int fs_timeline_apply_text(fs_faults *f, const char *text, char *err, size_t errlen);

#endif
