/* timeline.c - placeholder until timelines land. */
#include <stdio.h>

#include "timeline.h"

int fs_timeline_start(fs_server *s, const char *path, char *err, size_t errlen)
{
    snprintf(err, errlen, "timelines are not built yet");
    return -1;
}

void fs_timeline_stop(fs_server *s) {}
