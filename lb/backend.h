/* backend.h - the backend table: addresses, health, counters and idle connection pools.
 *
 * The table is an array in the order the backends were named (that order breaks ties).
 * Ownership: the table owns its array; pooled connections are owned by the proxy and only
 * linked here (lb_backend.pool is an intrusive list head the proxy maintains).
 */
#ifndef LB_BACKEND_H
#define LB_BACKEND_H

#include <stdint.h>

#include "config.h"
#include "net.h"

struct lb_upstream;

typedef struct lb_backend {
    int index;
    lb_addr addr;
    char name[LB_HOST_MAX + 8]; /* "host:port" as written; also the health-check Host */
    int up;                     /* 1 healthy, 0 marked down */
    uint64_t total, errors;     /* last reported by the backend's /healthcheck */
    uint64_t sent_since;        /* requests sent since that report */
    uint64_t sent_at_probe;     /* sent_since when the last probe was written */
    int in_flight;              /* requests on it now */
    uint64_t forwarded;         /* requests sent to it in all */
    uint64_t failures;          /* connect failures, timeouts, resets, bad answers */
    int consecutive_failures;   /* for passive ejection; reset by a good answer */
    uint64_t checks_ok, checks_failed;
    int64_t last_check_ms;    /* monotonic time of the last judged probe (0: never) */
    int64_t last_check_wall;  /* wall-clock seconds of the same */
    int checked;              /* at least one probe judged */
    struct lb_upstream *pool; /* idle keep-alive connections (proxy-owned) */
    int pool_len;
} lb_backend;

typedef struct lb_backend_table {
    lb_backend *v;
    int n;
} lb_backend_table;

/* Builds the table from cfg, resolving every host. Returns 0, or -1 with a one-line reason
 * in err (nothing allocated then). Backends start down until the first health check. */
int lb_backend_table_init(lb_backend_table *t, const lb_config *cfg, char *err, size_t errlen);
void lb_backend_table_free(lb_backend_table *t);

/* The load the fewest-total rule compares: last TOTAL plus requests sent since. */
static inline uint64_t lb_backend_load(const lb_backend *b)
{
    return b->total + b->sent_since;
}

/* Records a judged health probe: healthy with its counts, or not. */
void lb_backend_probe_result(lb_backend *b, int healthy, uint64_t errors, uint64_t total,
                             int64_t now_ms);
/* Marks a backend down after a failed request (connect refused, timeout, reset). */
void lb_backend_mark_down(lb_backend *b);
/* Records a request failure; returns 1 if it made the backend down by ejection. */
int lb_backend_note_failure(lb_backend *b, int eject_after);
/* Records a good answer from the backend (resets the consecutive-failure count). */
void lb_backend_note_success(lb_backend *b);
/* Records one request sent to the backend. */
void lb_backend_note_sent(lb_backend *b);

#endif
