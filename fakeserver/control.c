/* control.c - placeholder until the control API lands. */
#include <stdio.h>

#include "control.h"

int fs_control_start(fs_server *s, int port, char *err, size_t errlen)
{
    s->control_port = 0;
    snprintf(err, errlen, "the control port is not built yet");
    return -1;
}

void fs_control_stop(fs_server *s) {}

int fs_control_apply_json(fs_faults *f, const char *json, size_t len, char *err, size_t errlen)
{
    snprintf(err, errlen, "not built yet");
    return -1;
}
