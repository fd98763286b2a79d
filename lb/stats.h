/* stats.h - GET /stats (JSON) and GET /metrics (Prometheus text) on --stats-port.
 *
 * A tiny HTTP/1.1 server on the first balancer loop: one request per connection, answered
 * and closed, each connection under a 5 s deadline. It also serves the admin API
 * (lb/admin.h) when given one: bodies of at most LB_ADMIN_BODY_MAX bytes, JSON answers. With
 * --threads N it reports the whole process: the first loop is read live, every other loop publishes
 * a snapshot of its own counters and backend table every LB_STATS_PUBLISH_MS from a timer on its
 * own loop, and the answer is the aggregate of the N views (see stats.c for the rules). The
 * renderers are pure functions of snapshots so they can be tested without sockets. Ownership: the
 * sources are borrowed and must outlive the stats server; lb_stats owns its listener, its
 * connections, the snapshot slots and their timers.
 */
#ifndef LB_STATS_H
#define LB_STATS_H

#include <stdint.h>

#include "admin.h"
#include "backend.h"
#include "buf.h"
#include "checker.h"
#include "config.h"
#include "loop.h"
#include "proxy.h"

/* How often a loop other than the first publishes its snapshot: the staleness bound of
 * what /stats shows of those loops (plus at most one round of that loop). */
#define LB_STATS_PUBLISH_MS 50

/* One loop's live state. Read only on the thread that runs that loop. */
typedef struct lb_stats_sources {
    lb_backend_table *table;
    lb_checker *checker; /* may be NULL */
    lb_proxy *proxy;     /* may be NULL */
    const char *policy;
    lb_loop *loop; /* the loop that owns table, checker and proxy */
} lb_stats_sources;

/* One backend of one loop, copied. */
typedef struct lb_stats_backend_snap {
    const char *name; /* the table's own string; rewritten only when its slot is reused by an
                       * added backend (lb/admin.h), which the first loop (the reader) does
                       * first, so an aggregate reads names from the first loop that has the
                       * slot's newest backend */
    int up, checked, in_flight, pool_idle;
    int weight; /* the same in every loop (SERVER,weight=W) */
    int slot;   /* LB_SLOT_*: FREE slots are left out */
    uint32_t gen;
    uint64_t total, errors, load, forwarded, failures, checks_ok, checks_failed;
    int64_t last_check_ms, last_check_wall;
} lb_stats_backend_snap;

/* One loop's counters and backend table, copied: plain data, safe to read anywhere. */
typedef struct lb_stats_snapshot {
    lb_proxy_counters counters;
    uint64_t rounds_started, rounds_done;
    int nbackends;
    lb_stats_backend_snap b[LB_MAX_BACKENDS];
} lb_stats_snapshot;

typedef struct lb_stats lb_stats;

/* Copies src into out. Call it only on the thread that runs src->loop. */
void lb_stats_snapshot_take(const lb_stats_sources *src, lb_stats_snapshot *out);
/* Append the JSON document, or the Prometheus exposition, of the aggregate of n >= 1 loop
 * snapshots to out (admin may be NULL: its counters are then 0). Return 0 or -1 (ENOMEM). */
int lb_stats_render_json(const char *policy, const lb_stats_snapshot *snaps, int n,
                         const lb_admin_counters *admin, lb_buf *out);
int lb_stats_render_metrics(const lb_stats_snapshot *snaps, int n, const lb_admin_counters *admin,
                            lb_buf *out);

/* Listens on port (0: ephemeral) on srcs[0].loop, which serves the port and is read live.
 * For each srcs[i], i >= 1, a snapshot is taken now and a publishing timer started on
 * srcs[i].loop: call this before those loops run in their threads. Returns the server or
 * NULL with a reason in err. */
lb_stats *lb_stats_create(int port, const lb_stats_sources *srcs, int n, char *err, size_t errlen);
int lb_stats_port(const lb_stats *s);
/* Serves the admin API (GET/POST /backends, PATCH/DELETE /backends/HOST:PORT) with a, to
 * loopback peers only unless open. Without it those paths answer 404. */
void lb_stats_set_admin(lb_stats *s, lb_admin *a, int open);
/* Stops listening (for a drain); open connections finish. */
void lb_stats_stop_listening(lb_stats *s);
/* Frees everything and stops the publishing timers: call it once no loop runs any more. */
void lb_stats_destroy(lb_stats *s);

#endif
