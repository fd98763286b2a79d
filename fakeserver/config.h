/* config.h - the fakeserver command line as one struct.
 *
 *   fakeserver PORT [-N threads] [-l logfile] [-L] [-e errors] [-t total] [long options]
 *
 * Options may stand anywhere. Long options take "--name VALUE" or "--name=VALUE"; boolean
 * faults may stand alone ("--refuse"). Return convention: 0, or -1 with a one-line reason
 * in err. Strings in fs_config point into argv (owned by the caller).
 */
#ifndef FS_CONFIG_H
#define FS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faults.h"

#define FS_MAX_THREADS 1024

struct fs_conn_mode;

typedef struct fs_config {
    int port;
    int threads;
    const char *log_path;   /* -l */
    bool log_count;         /* -L */
    uint64_t errors, total; /* -e, -t */
    const char *root;       /* --root, default "." */
    int control_port;       /* --control-port, -1 when off */
    const char *timeline;   /* --timeline FILE */
    const char *identify;   /* --identify NAME */
    bool ready;             /* --ready: print the READY line (implied by PORT 0) */
    bool error_bodies;      /* --error-bodies: "Not Found\n" instead of an empty body */
    bool send_continue;     /* --send-continue: answer Expect: 100-continue with 100 */
    bool help;
    fs_faults faults;
    const struct fs_conn_mode *mode; /* NULL: the fakeserver's own connections (conn.c) */
} fs_config;

int fs_config_parse(fs_config *c, int argc, char **argv, char *err, size_t errlen);
void fs_config_usage(void *stream);

#endif
