/* backend.h - the backend table: addresses, health, counters and idle connection pools.
 *
 * The table is an array of slots in the order the backends were named (that order breaks
 * ties). Ownership: the table owns its array. Every field is read freely (selection,
 * stats), but state and counters change only through the functions below, each named for
 * the event it records: the data path (lb/exchange.c, lb/upstream.c) and the checker call
 * them; the slot fields (slot, gen, weight) change only through lb/admin.c.
 *
 * Backends changed while it runs (lb/admin.h): pointers into the array must stay valid for
 * as long as anything holds them (an exchange in flight, a pooled or tunnelling connection,
 * a health probe), so the array never moves: with the admin API or a backends file it is
 * allocated at its full capacity (LB_MAX_BACKENDS slots) up front, otherwise at exactly the
 * backends named. A slot is FREE, ACTIVE, DRAINING (no new request; health checks go on)
 * or REMOVING (no new request, no new probe). A REMOVING slot becomes FREE only once nothing
 * references it (no request in flight, no pooled connection, no probe running), and only
 * then may an added backend reuse it (with a new gen, so that stats never mix the two).
 * n is one past the highest slot not FREE: loops over [0, n) skip FREE slots.
 */
#ifndef LB_BACKEND_H
#define LB_BACKEND_H

#include <stdint.h>

#include "config.h"
#include "net.h"

typedef struct lb_backend {
    int index;
    int weight; /* `,weight=W` (1 when not given): policies divide load by it */
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
    int64_t last_check_ms;   /* monotonic time of the last judged probe (0: never) */
    int64_t last_check_wall; /* wall-clock seconds of the same */
    int checked;             /* at least one probe judged */
    int64_t revived_ms;      /* monotonic time it last came back up (0: never went down and
                              * up again); --slow-start ramps its share from then */
    int pool_len;            /* idle keep-alive connections to it (lb/upstream.c) */
    int slot;                /* LB_SLOT_*: whether the slot holds a backend taking requests */
    uint32_t gen;            /* which backend held the slot (new with each add) */
    int ramp;                /* added while running: --slow-start ramps from its first up */
} lb_backend;

/* ACTIVE is 0: a zeroed backend (a table built by hand, in unit tests) takes requests. */
enum { LB_SLOT_ACTIVE, LB_SLOT_DRAINING, LB_SLOT_REMOVING, LB_SLOT_FREE };

typedef struct lb_backend_table {
    lb_backend *v;
    int n;        /* slots in use: [0, n), some of them possibly FREE */
    int weighted; /* 1 if the weights differ: rr then runs smooth weighted round robin */
    int cap;      /* slots allocated (n <= cap) */
} lb_backend_table;

/* 1 if b may be given a new request: healthy and neither drained nor removed. */
static inline int lb_backend_usable(const lb_backend *b)
{
    return b->up && b->slot == LB_SLOT_ACTIVE;
}

/* 1 if b may take a request when none is usable (the panic rule): not drained nor removed. */
static inline int lb_backend_selectable(const lb_backend *b)
{
    return b->slot == LB_SLOT_ACTIVE;
}

/* Builds the table from cfg, resolving every host, with room for cap slots (at least
 * cfg->nbackends). Returns 0, or -1 with a one-line reason in err (nothing allocated then).
 * Backends start down until the first health check. */
int lb_backend_table_init(lb_backend_table *t, const lb_config *cfg, int cap, char *err,
                          size_t errlen);
/* Recomputes t->weighted over the slots not FREE (after a weight or the set changed). */
void lb_backend_table_reweigh(lb_backend_table *t);
void lb_backend_table_free(lb_backend_table *t);

/* The load the fewest-total rule compares: last TOTAL plus requests sent since. */
static inline uint64_t lb_backend_load(const lb_backend *b)
{
    return b->total + b->sent_since;
}

/* Records a judged health probe: healthy with its counts, or not. A healthy probe of a
 * backend that was down after an earlier probe (it came back) stamps revived_ms. */
void lb_backend_probe_result(lb_backend *b, int healthy, uint64_t errors, uint64_t total,
                             int64_t now_ms);
/* Marks a backend down after a failed request (connect refused, timeout, reset). */
void lb_backend_mark_down(lb_backend *b);
/* Records a request failure; returns 1 if it made the backend down by ejection. */
int lb_backend_note_failure(lb_backend *b, int eject_after);
/* Records a good answer from the backend (resets the consecutive-failure count). */
void lb_backend_note_success(lb_backend *b);

/* A request was given to the backend: in flight, and counted in the load (sent_since). */
void lb_backend_request_begin(lb_backend *b);
/* That request is no longer on the backend (answered, failed or moved). */
void lb_backend_request_end(lb_backend *b);
/* The request's connection is open and its bytes go out (forwarded). */
void lb_backend_note_forwarded(lb_backend *b);
/* A connect to the backend failed: a failure, and the backend is down at once. counted:
 * the request was counted by lb_backend_request_begin, and comes off the load again (the
 * backend never saw it). */
void lb_backend_connect_failed(lb_backend *b, int counted);
/* A health probe is being written now: requests sent before it are in its answer's TOTAL
 * (lb_backend_probe_result keeps only those sent after). */
void lb_backend_probe_written(lb_backend *b);
/* An idle connection to the backend entered (+1) or left (-1) the keep-alive pool. */
void lb_backend_note_pooled(lb_backend *b, int delta);

#endif
