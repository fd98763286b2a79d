/* stats.h - GET /stats (JSON) and GET /metrics (Prometheus text) on --stats-port.
 *
 * A tiny HTTP/1.1 server on the balancer's loop: one request per connection, answered and
 * closed, each connection under a 5 s deadline. The renderers are separate functions of
 * their sources so they can be tested without sockets.
 * Ownership: the sources are borrowed and must outlive the stats server; lb_stats owns its
 * listener and connections.
 */
#ifndef LB_STATS_H
#define LB_STATS_H

#include "backend.h"
#include "buf.h"
#include "checker.h"
#include "loop.h"
#include "proxy.h"

typedef struct lb_stats_sources {
    lb_backend_table *table;
    lb_checker *checker; /* may be NULL */
    lb_proxy *proxy;     /* may be NULL */
    const char *policy;
} lb_stats_sources;

typedef struct lb_stats lb_stats;

/* Appends the JSON document to out. Returns 0 or -1 (ENOMEM). */
int lb_stats_render_json(const lb_stats_sources *src, lb_buf *out);
/* Appends the Prometheus exposition to out. Returns 0 or -1 (ENOMEM). */
int lb_stats_render_metrics(const lb_stats_sources *src, lb_buf *out);

/* Listens on port (0: ephemeral). Returns the server or NULL with a reason in err. */
lb_stats *lb_stats_create(lb_loop *loop, int port, const lb_stats_sources *src, char *err,
                          size_t errlen);
int lb_stats_port(const lb_stats *s);
/* Stops listening (for a drain); open connections finish. */
void lb_stats_stop_listening(lb_stats *s);
void lb_stats_destroy(lb_stats *s);

#endif
