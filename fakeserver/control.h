/* control.h - the control port: a small HTTP/JSON API on the dispatcher's loop.
 *
 *   GET /faults            {"generation": G, "faults": {...}}
 *   PUT /faults            replace every fault (fields not given take their defaults)
 *   PATCH /faults          merge the fields given
 *   DELETE /faults         reset to defaults (also POST /faults/reset)
 *   GET /counters          requests, responses by status, faults by kind
 * Return convention: 0, or -1 with a one-line reason in err. Runs on the dispatcher thread.
 */
#ifndef FS_CONTROL_H
#define FS_CONTROL_H

#include <stddef.h>

#include "server.h"

/* Binds host:port (host NULL: 127.0.0.1; port 0: ephemeral), sets s->control_port. */
int fs_control_start(fs_server *s, const char *host, int port, char *err, size_t errlen);
void fs_control_stop(fs_server *s);

/* Applies a JSON object of faults to f (merge: fields absent keep their value). Pure apart
 * from f. Returns 0, or -1 with the reason. */
int fs_control_apply_json(fs_faults *f, const char *json, size_t len, char *err, size_t errlen);

#endif
