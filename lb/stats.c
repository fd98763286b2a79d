/* stats.c - the stats port: JSON and Prometheus views of the backend tables and counters.
 *
 * Connections are few and short, so this file trades speed for simplicity: each reads one
 * head (at most 4 KiB), renders the whole answer into a buffer, writes it, and closes.
 * Limits: a connection lives at most STATS_DEADLINE_MS.
 *
 * Threads. With --threads N every loop is a whole balancer that counts on its own, with
 * plain (non-atomic) increments on its hot path. The stats port lives on the first loop,
 * which reads its own state live. Every other loop copies its counters and backend table
 * into its slot every LB_STATS_PUBLISH_MS, from a timer on that loop, under the slot's
 * mutex; the stats loop sums the slots under the same mutex. So nothing on the request
 * path changes (no lock, no atomic), the only shared memory is the slots, and a slot costs
 * its loop one copy per period. Staleness: what another loop did at most
 * LB_STATS_PUBLISH_MS ago (plus one round of that loop, since timers run between rounds)
 * may be missing; the first loop is exact. A loop that stopped (drain) keeps its last copy.
 * Why a timer and a mutex: relaxed atomic stores would have meant rewriting every increment
 * in client.c and exchange.c, and the before-sleep hook belongs to proxy.c; the mutex is taken
 * once per period by its loop and once per answer by the stats loop, never per request, and
 * a copy of a whole loop under it is consistent (requests >= responses within a loop).
 *
 * Aggregation over loops (with one loop every rule gives back that loop's own values, so
 * --threads 1 answers exactly as before; new keys only are added):
 * - counters, gauges (clients, in flight, queued), health rounds: sums; "loops" also
 *   lists each loop's own accepted/requests/responses/clients/rounds (the kernel's spread);
 * - per backend, forwarded, failures, in_flight, checks_ok/failed, pool_idle: sums;
 *   total/errors/last_check: those of the most recent judged probe in any loop; load: that
 *   total plus the requests each loop sent since its own last probe (an upper bound);
 * - health: a client lands on any loop, so a backend is "up" (and lb_backend_up 1) only
 *   when it is up in every loop; "down" once any loop judged it down; else "unknown"
 *   (no loop judged it down, some not yet up). up_in_loops tells how many loops send to it;
 *   up_in_loops 0 with state "down" means every loop has it down.
 */
#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin_parse.h"
#include "http.h"
#include "net.h"

#define STATS_DEADLINE_MS 5000
#define STATS_MAX_HEAD 4096
#define STATS_MAX_IN (STATS_MAX_HEAD + LB_ADMIN_BODY_MAX) /* a head and an admin body */
#define STATS_SETTLE_MS 1  /* how often a waiting admin answer looks whether it may go */
#define STATS_MAX_LOOPS 64 /* --threads is at most 64 */

/* A backend summed over loops: the loops whose slot holds the newest gen (a loop that has
 * not applied a change yet shows an older one, or the slot FREE). */
typedef struct stats_agg_backend {
    lb_stats_backend_snap s; /* sums, or the values of the most recent probe */
    uint64_t sent_since;     /* sum over loops of load - total */
    int up_loops, down_loops;
    int present;  /* some loop holds a backend in the slot */
    int draining; /* some loop has it drained or being removed */
} stats_agg_backend;

/* What /stats lists of each loop: enough to see how the kernel spread the clients. */
typedef struct stats_agg_loop {
    uint64_t accepted, requests, responses, rounds_done;
    int clients_now;
} stats_agg_loop;

/* The whole process: the sum of n loop snapshots. */
typedef struct stats_agg {
    lb_proxy_counters c;
    uint64_t rounds_started, rounds_done;
    int loops, n;
    stats_agg_backend b[LB_MAX_BACKENDS];
    stats_agg_loop per_loop[STATS_MAX_LOOPS];
    lb_admin_counters admin;
} stats_agg;

/* A loop other than the first: its sources (touched only by its thread) and the copy it
 * publishes under lock. */
typedef struct stats_slot {
    lb_stats_sources src;
    pthread_mutex_t lock;
    int lock_ok, timer_on;
    lb_timer timer;
    lb_stats_snapshot snap;
} stats_slot;

struct lb_stats {
    lb_loop *loop;
    lb_stats_sources live; /* the first loop, the one serving the port */
    stats_slot *slots;     /* the other loops */
    int nslots;
    lb_stats_snapshot scratch; /* the live loop's copy, per answer */
    stats_agg agg;             /* per answer */
    lb_admin *admin;           /* NULL: no admin API */
    int admin_open;            /* --admin-open */
    int listen_fd;
    int port;
    struct stats_conn *conns;
};

typedef struct stats_conn {
    lb_stats *owner;
    int fd;
    int writing;
    int loopback;    /* the peer's address is a loopback one */
    lb_timer settle; /* an admin answer waits until every loop applied the change */
    lb_buf in, out;
    lb_timer deadline;
    struct stats_conn *next, *prev;
} stats_conn;

static int appendf(lb_buf *out, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    return lb_buf_append(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* ---- snapshots and their sum ------------------------------------------------------ */

void lb_stats_snapshot_take(const lb_stats_sources *src, lb_stats_snapshot *out)
{
    static const lb_proxy_counters zero;
    out->counters = src->proxy ? *lb_proxy_counters_get(src->proxy) : zero;
    out->rounds_started = src->checker ? lb_checker_rounds_started(src->checker) : 0;
    out->rounds_done = src->checker ? lb_checker_rounds_done(src->checker) : 0;
    out->nbackends = src->table->n < LB_MAX_BACKENDS ? src->table->n : LB_MAX_BACKENDS;
    for (int i = 0; i < out->nbackends; i++) {
        const lb_backend *b = &src->table->v[i];
        out->b[i] = (lb_stats_backend_snap){
            .name = b->name,
            .up = b->up,
            .checked = b->checked,
            .in_flight = b->in_flight,
            .pool_idle = b->pool_len,
            .weight = b->weight,
            .slot = b->slot,
            .gen = b->gen,
            .total = b->total,
            .errors = b->errors,
            .load = lb_backend_load(b),
            .forwarded = b->forwarded,
            .failures = b->failures,
            .checks_ok = b->checks_ok,
            .checks_failed = b->checks_failed,
            .last_check_ms = b->last_check_ms,
            .last_check_wall = b->last_check_wall,
        };
    }
}

static void agg_add_counters(lb_proxy_counters *a, const lb_proxy_counters *c)
{
    a->accepted += c->accepted;
    a->requests += c->requests;
    a->responses += c->responses;
    a->replies_500 += c->replies_500;
    a->replies_4xx += c->replies_4xx;
    a->replies_503 += c->replies_503;
    a->retries += c->retries;
    a->pool_reuses += c->pool_reuses;
    a->aborted += c->aborted;
    a->queued += c->queued;
    a->spliced_bytes += c->spliced_bytes;
    a->tunnels += c->tunnels;
    a->clients_now += c->clients_now;
    a->in_flight_now += c->in_flight_now;
    a->queue_now += c->queue_now;
}

static void agg_add_backend(stats_agg_backend *a, const lb_stats_backend_snap *b)
{
    if (b->slot == LB_SLOT_FREE || (a->present && b->gen < a->s.gen))
        return;
    if (a->present && b->gen > a->s.gen)
        memset(a, 0, sizeof *a); /* the loops seen so far showed an older backend */
    if (!a->present) {
        /* What the admin sets is read from the first loop that has the backend: the live
         * one, which applies every change first (the others' copies may be older). */
        a->present = 1;
        a->s.gen = b->gen;
        a->s.weight = b->weight;
        a->draining = b->slot == LB_SLOT_DRAINING || b->slot == LB_SLOT_REMOVING;
    }
    if (!a->s.name || (b->checked && (!a->s.checked || b->last_check_ms > a->s.last_check_ms))) {
        a->s.name = a->s.name ? a->s.name : b->name;
        a->s.checked = a->s.checked || b->checked;
        a->s.total = b->total;
        a->s.errors = b->errors;
        a->s.last_check_ms = b->last_check_ms;
        a->s.last_check_wall = b->last_check_wall;
    }
    a->up_loops += b->up ? 1 : 0;
    a->down_loops += !b->up && b->checked ? 1 : 0;
    a->sent_since += b->load - b->total;
    a->s.in_flight += b->in_flight;
    a->s.pool_idle += b->pool_idle;
    a->s.forwarded += b->forwarded;
    a->s.failures += b->failures;
    a->s.checks_ok += b->checks_ok;
    a->s.checks_failed += b->checks_failed;
}

/* Adds one loop. Every loop's table gets the same changes (lb/admin.h), slot by slot, some
 * loops later than others: the slots of all are the union. */
static void agg_add(stats_agg *a, const lb_stats_snapshot *s)
{
    if (s->nbackends > a->n)
        a->n = s->nbackends;
    if (a->loops < STATS_MAX_LOOPS)
        a->per_loop[a->loops] =
            (stats_agg_loop){s->counters.accepted, s->counters.requests, s->counters.responses,
                             s->rounds_done, s->counters.clients_now};
    a->loops++;
    agg_add_counters(&a->c, &s->counters);
    a->rounds_started += s->rounds_started;
    a->rounds_done += s->rounds_done;
    for (int i = 0; i < s->nbackends; i++)
        agg_add_backend(&a->b[i], &s->b[i]);
}

static void agg_finish(stats_agg *a)
{
    for (int i = 0; i < a->n; i++) {
        stats_agg_backend *b = &a->b[i];
        b->s.load = b->s.total + b->sent_since;
        b->s.up = b->up_loops == a->loops;
    }
}

static const char *agg_state(const stats_agg_backend *b)
{
    if (b->draining)
        return "draining";
    if (b->s.up)
        return "up";
    return b->down_loops > 0 ? "down" : "unknown";
}

/* ---- JSON ------------------------------------------------------------------------- */

static int render_backend_json(const stats_agg_backend *a, int last, lb_buf *out)
{
    const lb_stats_backend_snap *b = &a->s;
    char when[32] = "null";
    if (b->checked)
        snprintf(when, sizeof when, "%lld", (long long)b->last_check_wall);
    long long ago = b->checked ? (long long)(lb_now_ms() - b->last_check_ms) : -1;
    return appendf(out,
                   "    {\"address\": \"%s\", \"state\": \"%s\", \"total\": %llu, "
                   "\"errors\": %llu, \"load\": %llu, \"in_flight\": %d, \"failures\": %llu, "
                   "\"forwarded\": %llu, \"checks_ok\": %llu, \"checks_failed\": %llu, "
                   "\"last_check\": %s, \"last_check_ms_ago\": %lld, \"pool_idle\": %d, "
                   "\"up_in_loops\": %d, \"weight\": %d, \"name\": \"%s\"}%s\n",
                   b->name, agg_state(a), (unsigned long long)b->total,
                   (unsigned long long)b->errors, (unsigned long long)b->load, b->in_flight,
                   (unsigned long long)b->failures, (unsigned long long)b->forwarded,
                   (unsigned long long)b->checks_ok, (unsigned long long)b->checks_failed, when,
                   ago, b->pool_idle, a->up_loops, b->weight, b->name, last ? "" : ",");
}

static int render_loops_json(const stats_agg *a, lb_buf *out)
{
    int n = a->loops < STATS_MAX_LOOPS ? a->loops : STATS_MAX_LOOPS;
    for (int i = 0; i < n; i++) {
        const stats_agg_loop *l = &a->per_loop[i];
        if (appendf(out,
                    "    {\"accepted\": %llu, \"requests\": %llu, \"responses\": %llu, "
                    "\"clients\": %d, \"health_rounds_done\": %llu}%s\n",
                    (unsigned long long)l->accepted, (unsigned long long)l->requests,
                    (unsigned long long)l->responses, l->clients_now,
                    (unsigned long long)l->rounds_done, i == n - 1 ? "" : ",") < 0)
            return -1;
    }
    return appendf(out, "  ]\n}\n");
}

/* The backend objects of every slot that holds one, comma-separated. */
static int render_backends_json(const stats_agg *a, lb_buf *out)
{
    int last = -1;
    for (int i = 0; i < a->n; i++)
        if (a->b[i].present)
            last = i;
    for (int i = 0; i <= last; i++)
        if (a->b[i].present && render_backend_json(&a->b[i], i == last, out) < 0)
            return -1;
    return 0;
}

static int render_json(const char *policy, const stats_agg *a, lb_buf *out)
{
    const lb_proxy_counters *st = &a->c;
    if (appendf(out, "{\n  \"policy\": \"%s\",\n  \"backends\": [\n", policy ? policy : "fewest") <
        0)
        return -1;
    if (render_backends_json(a, out) < 0)
        return -1;
    if (appendf(out,
                "  ],\n  \"health_rounds_started\": %llu,\n  \"health_rounds_done\": %llu,\n"
                "  \"clients\": %d,\n  \"in_flight\": %d,\n  \"queued_now\": %d,\n"
                "  \"accepted\": %llu,\n  \"requests\": %llu,\n  \"responses\": %llu,\n"
                "  \"replies_500\": %llu,\n  \"replies_4xx\": %llu,\n  \"replies_503\": %llu,\n"
                "  \"retries\": %llu,\n  \"pool_reuses\": %llu,\n  \"aborted\": %llu,\n"
                "  \"queued\": %llu,\n  \"spliced_bytes\": %llu,\n  \"tunnels\": %llu,\n"
                "  \"threads\": %d,\n"
                "  \"reloads\": %llu,\n  \"reload_errors\": %llu,\n  \"admin_changes\": %llu,\n"
                "  \"loops\": [\n",
                (unsigned long long)a->rounds_started, (unsigned long long)a->rounds_done,
                st->clients_now, st->in_flight_now, st->queue_now, (unsigned long long)st->accepted,
                (unsigned long long)st->requests, (unsigned long long)st->responses,
                (unsigned long long)st->replies_500, (unsigned long long)st->replies_4xx,
                (unsigned long long)st->replies_503, (unsigned long long)st->retries,
                (unsigned long long)st->pool_reuses, (unsigned long long)st->aborted,
                (unsigned long long)st->queued, (unsigned long long)st->spliced_bytes,
                (unsigned long long)st->tunnels, a->loops, (unsigned long long)a->admin.reloads,
                (unsigned long long)a->admin.reload_errors,
                (unsigned long long)a->admin.admin_changes) < 0)
        return -1;
    return render_loops_json(a, out);
}

/* ---- Prometheus ------------------------------------------------------------------- */

static int metric_family(lb_buf *out, const char *name, const char *type, const char *help)
{
    return appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long long backend_metric(const stats_agg_backend *a, size_t family)
{
    const lb_stats_backend_snap *b = &a->s;
    const unsigned long long v[] = {
        (unsigned long long)b->up,
        (unsigned long long)b->total,
        (unsigned long long)b->errors,
        (unsigned long long)b->in_flight,
        (unsigned long long)b->forwarded,
        (unsigned long long)b->failures,
        (unsigned long long)b->last_check_wall,
        (unsigned long long)a->up_loops,
    };
    return v[family];
}

/* Backend families; the last one (new with --threads) is rendered after the process-wide
 * ones so that the exposition of one loop keeps its old order. */
static const struct {
    const char *name, *type, *help;
} backend_families[] = {
    {"lb_backend_up", "gauge", "1 if the backend is healthy in every loop"},
    {"lb_backend_reported_total", "gauge", "TOTAL from the last health check"},
    {"lb_backend_reported_errors", "gauge", "ERRORS from the last health check"},
    {"lb_backend_in_flight", "gauge", "requests on the backend now"},
    {"lb_backend_forwarded_total", "counter", "requests sent to the backend"},
    {"lb_backend_failures_total", "counter", "failed connects, timeouts and resets"},
    {"lb_backend_last_check_timestamp_seconds", "gauge", "wall time of the last check"},
    {"lb_backend_up_loops", "gauge", "event loops in which the backend is healthy"},
};

static int render_backend_metrics(const stats_agg *a, size_t from, size_t to, lb_buf *out)
{
    for (size_t f = from; f < to; f++) {
        if (metric_family(out, backend_families[f].name, backend_families[f].type,
                          backend_families[f].help) < 0)
            return -1;
        for (int i = 0; i < a->n; i++)
            if (a->b[i].present &&
                appendf(out, "%s{backend=\"%s\"} %llu\n", backend_families[f].name, a->b[i].s.name,
                        backend_metric(&a->b[i], f)) < 0)
                return -1;
    }
    return 0;
}

static int render_metrics(const stats_agg *a, lb_buf *out)
{
    const lb_proxy_counters *st = &a->c;
    const size_t nfam = sizeof backend_families / sizeof backend_families[0];
    if (render_backend_metrics(a, 0, nfam - 1, out) < 0)
        return -1;
    const struct {
        const char *name, *type;
        unsigned long long v;
    } m[] = {
        {"lb_health_rounds_total", "counter", (unsigned long long)a->rounds_done},
        {"lb_client_connections", "gauge", (unsigned long long)st->clients_now},
        {"lb_requests_in_flight", "gauge", (unsigned long long)st->in_flight_now},
        {"lb_requests_queued", "gauge", (unsigned long long)st->queue_now},
        {"lb_connections_accepted_total", "counter", st->accepted},
        {"lb_requests_total", "counter", st->requests},
        {"lb_responses_total", "counter", st->responses},
        {"lb_replies_500_total", "counter", st->replies_500},
        {"lb_replies_4xx_total", "counter", st->replies_4xx},
        {"lb_replies_503_total", "counter", st->replies_503},
        {"lb_retries_total", "counter", st->retries},
        {"lb_pool_reuses_total", "counter", st->pool_reuses},
        {"lb_aborted_total", "counter", st->aborted},
        {"lb_queued_total", "counter", st->queued},
        {"lb_spliced_bytes_total", "counter", st->spliced_bytes},
        {"lb_tunnels_total", "counter", st->tunnels},
        {"lb_threads", "gauge", (unsigned long long)a->loops},
        {"lb_reloads_total", "counter", a->admin.reloads},
        {"lb_reload_errors_total", "counter", a->admin.reload_errors},
        {"lb_admin_changes_total", "counter", a->admin.admin_changes},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (appendf(out, "# TYPE %s %s\n%s %llu\n", m[i].name, m[i].type, m[i].name, m[i].v) < 0)
            return -1;
    return render_backend_metrics(a, nfam - 1, nfam, out);
}

/* Sums n snapshots into a fresh aggregate (NULL on ENOMEM). */
static stats_agg *agg_of(const lb_stats_snapshot *snaps, int n, const lb_admin_counters *admin)
{
    stats_agg *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    if (admin)
        a->admin = *admin;
    for (int i = 0; i < n; i++)
        agg_add(a, &snaps[i]);
    agg_finish(a);
    return a;
}

int lb_stats_render_json(const char *policy, const lb_stats_snapshot *snaps, int n,
                         const lb_admin_counters *admin, lb_buf *out)
{
    stats_agg *a = agg_of(snaps, n, admin);
    int rc = a ? render_json(policy, a, out) : -1;
    free(a);
    return rc;
}

int lb_stats_render_metrics(const lb_stats_snapshot *snaps, int n, const lb_admin_counters *admin,
                            lb_buf *out)
{
    stats_agg *a = agg_of(snaps, n, admin);
    int rc = a ? render_metrics(a, out) : -1;
    free(a);
    return rc;
}

/* ---- the server ------------------------------------------------------------------- */

static void conn_close(stats_conn *c)
{
    lb_stats *s = c->owner;
    lb_timer_stop(s->loop, &c->deadline);
    lb_timer_stop(s->loop, &c->settle);
    lb_loop_unwatch(s->loop, c->fd);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    lb_buf_free(&c->in);
    lb_buf_free(&c->out);
    free(c);
}

/* The reason phrases of the statuses the admin API adds to lb_http_reason's. */
static const char *reason(int status)
{
    switch (status) {
    case 202:
        return "Accepted";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    default:
        return lb_http_reason(status);
    }
}

static void conn_answer(stats_conn *c, int status, const char *type, lb_buf *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, reason(status), type, lb_buf_len(body));
    if (lb_buf_append(&c->out, head, (size_t)n) < 0 ||
        lb_buf_append(&c->out, lb_buf_head(body), lb_buf_len(body)) < 0) {
        conn_close(c);
        return;
    }
    c->writing = 1;
    lb_loop_set_mask(c->owner->loop, c->fd, LB_EV_WRITE);
}

/* Sums the live first loop and every slot into s->agg. Runs on the stats loop. */
static void stats_collect(lb_stats *s)
{
    memset(&s->agg, 0, sizeof s->agg);
    if (s->admin)
        s->agg.admin = *lb_admin_counters_get(s->admin);
    lb_stats_snapshot_take(&s->live, &s->scratch);
    agg_add(&s->agg, &s->scratch);
    for (int i = 0; i < s->nslots; i++) {
        stats_slot *sl = &s->slots[i];
        pthread_mutex_lock(&sl->lock);
        agg_add(&s->agg, &sl->snap);
        pthread_mutex_unlock(&sl->lock);
    }
    agg_finish(&s->agg);
}

/* ---- the admin API ---------------------------------------------------------------- */

/* {"error":"why"}, with why made a valid JSON string. Returns status, or -1 (ENOMEM). */
static int json_error(lb_buf *out, int status, const char *why)
{
    char esc[600];
    size_t n = 0;
    for (const char *p = why; *p && n + 3 < sizeof esc; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\')
            esc[n++] = '\\';
        esc[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    esc[n] = '\0';
    return appendf(out, "{\"error\": \"%s\"}\n", esc) < 0 ? -1 : status;
}

/* The object of the backend in slot, as /stats shows it, freshly collected. */
static int backend_answer(lb_stats *s, int slot, int status, lb_buf *out)
{
    stats_collect(s);
    if (!s->agg.b[slot].present)
        return json_error(out, 404, "unknown backend");
    return render_backend_json(&s->agg.b[slot], 1, out) < 0 ? -1 : status;
}

static int admin_post(lb_stats *s, const char *body, size_t len, lb_buf *out)
{
    lb_admin_body b;
    char err[512];
    int status;
    if (lb_admin_parse_body(body, len, LB_ADMIN_BODY_POST, &b, err, sizeof err) < 0)
        return json_error(out, 400, err);
    int slot = lb_admin_add(s->admin, &b.server, &status, err, sizeof err);
    if (slot < 0)
        return json_error(out, status, err);
    lb_admin_note_change(s->admin);
    return backend_answer(s, slot, 201, out);
}

static int admin_patch(lb_stats *s, int slot, const char *body, size_t len, lb_buf *out)
{
    lb_admin_body b;
    char err[512];
    if (lb_admin_parse_body(body, len, LB_ADMIN_BODY_PATCH, &b, err, sizeof err) < 0)
        return json_error(out, 400, err);
    if (lb_admin_removing(s->admin, slot))
        return json_error(out, 409, "the backend is being removed");
    if (b.has_weight)
        lb_admin_set_weight(s->admin, slot, b.weight);
    if (b.has_state)
        lb_admin_set_drain(s->admin, slot, b.drain);
    lb_admin_note_change(s->admin);
    return backend_answer(s, slot, 200, out);
}

/* Answers an admin request into out. Returns the status, or -1 (ENOMEM). */
static int admin_route(stats_conn *c, const lb_http_request *req, const char *body, size_t len,
                       lb_buf *out)
{
    lb_stats *s = c->owner;
    const char *m = req->method;
    size_t ml = req->method_len;
    if (!c->loopback && !s->admin_open)
        return json_error(out, 403, "admin API is loopback-only (see --admin-open)");
    if (req->target_len == 9) { /* "/backends" */
        if (lb_http_token_eq(m, ml, "POST"))
            return admin_post(s, body, len, out);
        if (!lb_http_token_eq(m, ml, "GET"))
            return json_error(out, 405, "use GET or POST on /backends");
        stats_collect(s);
        if (appendf(out, "{\"backends\": [\n") < 0 || render_backends_json(&s->agg, out) < 0 ||
            appendf(out, "]}\n") < 0)
            return -1;
        return 200;
    }
    lb_backend_spec spec;
    int slot = lb_admin_parse_path(req->target, req->target_len, &spec) < 0
                   ? -1
                   : lb_admin_find(s->admin, &spec);
    if (slot < 0)
        return json_error(out, 404, "unknown backend");
    if (lb_http_token_eq(m, ml, "PATCH"))
        return admin_patch(s, slot, body, len, out);
    if (!lb_http_token_eq(m, ml, "DELETE"))
        return json_error(out, 405, "use PATCH or DELETE on /backends/HOST:PORT");
    lb_admin_remove(s->admin, slot);
    lb_admin_note_change(s->admin);
    return backend_answer(s, slot, 202, out);
}

static int is_admin_path(const lb_http_request *req)
{
    return req->target_len >= 9 && memcmp(req->target, "/backends", 9) == 0 &&
           (req->target_len == 9 || req->target[9] == '/');
}

static void conn_route(stats_conn *c, const lb_http_request *req, const char *body, size_t len)
{
    lb_stats *s = c->owner;
    lb_buf out = LB_BUF_INIT;
    int ok = -1, status = 404, settle = 0;
    const char *type = "text/plain";
    int get = lb_http_token_eq(req->method, req->method_len, "GET");
    if (get && lb_http_token_eq(req->target, req->target_len, "/stats")) {
        stats_collect(s);
        ok = render_json(s->live.policy, &s->agg, &out);
        status = 200;
        type = "application/json";
    } else if (get && lb_http_token_eq(req->target, req->target_len, "/metrics")) {
        stats_collect(s);
        ok = render_metrics(&s->agg, &out);
        status = 200;
        type = "text/plain; version=0.0.4";
    } else if (s->admin && is_admin_path(req)) {
        ok = status = admin_route(c, req, body, len, &out);
        type = "application/json";
        settle = !lb_admin_settled(s->admin);
    } else {
        ok = lb_buf_append(&out, "not found\n", 10);
    }
    if (ok < 0) {
        conn_close(c);
    } else {
        conn_answer(c, status, type, &out);
        if (settle) {
            lb_loop_set_mask(s->loop, c->fd, 0);
            lb_timer_start(s->loop, &c->settle, STATS_SETTLE_MS);
        }
    }
    lb_buf_free(&out);
}

/* The answer is ready; it goes once every loop applied the change. */
static void conn_settle(lb_loop *loop, lb_timer *timer, void *data)
{
    stats_conn *c = data;
    if (lb_admin_settled(c->owner->admin))
        lb_loop_set_mask(loop, c->fd, LB_EV_WRITE);
    else
        lb_timer_start(loop, timer, STATS_SETTLE_MS);
}

/* The body's length from the head: 0 without one, -1 when it cannot be taken (chunked, a
 * malformed length), -2 when over LB_ADMIN_BODY_MAX. */
static long body_length(const lb_http_request *req)
{
    if (lb_http_find_header(req->headers, req->num_headers, "Transfer-Encoding"))
        return -1;
    const lb_http_header *h = lb_http_find_header(req->headers, req->num_headers, "Content-Length");
    if (!h)
        return 0;
    long v = 0;
    if (h->value_len == 0 || h->value_len > 9)
        return h->value_len > 9 && strspn(h->value, "0123456789") >= h->value_len ? -2 : -1;
    for (size_t i = 0; i < h->value_len; i++) {
        if (h->value[i] < '0' || h->value[i] > '9')
            return -1;
        v = v * 10 + (h->value[i] - '0');
    }
    return v > LB_ADMIN_BODY_MAX ? -2 : v;
}

static void conn_refuse(stats_conn *c, int status, const char *why)
{
    lb_buf out = LB_BUF_INIT;
    if (json_error(&out, status, why) < 0)
        conn_close(c);
    else
        conn_answer(c, status, "application/json", &out);
    lb_buf_free(&out);
}

static void conn_read(stats_conn *c)
{
    lb_http_header headers[32];
    lb_http_request req;
    ssize_t n = lb_buf_read_fd(&c->in, c->fd, STATS_MAX_IN - lb_buf_len(&c->in));
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    size_t have = lb_buf_len(&c->in);
    int r = lb_http_parse_request(lb_buf_head(&c->in),
                                  have < STATS_MAX_HEAD ? have : STATS_MAX_HEAD, &req, headers, 32);
    if (r == LB_HTTP_INCOMPLETE && have < STATS_MAX_HEAD)
        return;
    if (r < 0) {
        lb_buf body = LB_BUF_INIT;
        conn_answer(c, 400, "text/plain", &body);
        return;
    }
    long len = body_length(&req);
    if (len == -1) {
        conn_refuse(c, 400, "a body needs a Content-Length");
        return;
    }
    if (len == -2) {
        conn_refuse(c, 413, "body over 4096 bytes");
        return;
    }
    if (have - (size_t)r < (size_t)len)
        return; /* the rest of the body is on its way */
    /* Routes on the path: a query (`/stats?pretty`, `/backends?x=1`) is ignored, as a web
     * server ignores one its resource does not read. */
    const char *query = memchr(req.target, '?', req.target_len);
    if (query)
        req.target_len = (size_t)(query - req.target);
    conn_route(c, &req, lb_buf_head(&c->in) + r, (size_t)len);
}

static void conn_io(lb_loop *loop, int fd, int events, void *data)
{
    stats_conn *c = data;
    if (!c->writing) {
        conn_read(c);
        return;
    }
    ssize_t n = lb_buf_write_fd(&c->out, c->fd);
    if ((n < 0 && errno != EAGAIN) || lb_buf_len(&c->out) == 0)
        conn_close(c);
}

static void conn_timeout(lb_loop *loop, lb_timer *timer, void *data)
{
    conn_close(data);
}

static void stats_accept(lb_loop *loop, int fd, int events, void *data)
{
    lb_stats *s = data;
    for (int i = 0; i < 16; i++) {
        int cfd = lb_net_accept(fd);
        if (cfd < 0)
            return;
        stats_conn *c = calloc(1, sizeof *c);
        if (!c || lb_loop_watch(loop, cfd, LB_EV_READ, conn_io, c) < 0) {
            free(c);
            close(cfd);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        c->owner = s;
        c->fd = cfd;
        c->loopback = getpeername(cfd, (struct sockaddr *)&peer, &plen) == 0 &&
                      lb_admin_is_loopback((struct sockaddr *)&peer, plen);
        lb_timer_init(&c->deadline, conn_timeout, c);
        lb_timer_init(&c->settle, conn_settle, c);
        lb_timer_start(loop, &c->deadline, STATS_DEADLINE_MS);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
    }
}

/* Runs on the slot's own loop: publishes a fresh copy, then again after the period. */
static void slot_publish(lb_loop *loop, lb_timer *timer, void *data)
{
    stats_slot *sl = data;
    pthread_mutex_lock(&sl->lock);
    lb_stats_snapshot_take(&sl->src, &sl->snap);
    pthread_mutex_unlock(&sl->lock);
    lb_timer_start(loop, timer, LB_STATS_PUBLISH_MS);
}

/* One slot per loop but the first; each publishes once now (its loop does not run yet). */
static int stats_slots_start(lb_stats *s, const lb_stats_sources *srcs, int n)
{
    if (n <= 1)
        return 0;
    if (!(s->slots = calloc((size_t)n - 1, sizeof *s->slots)))
        return -1;
    for (int i = 1; i < n; i++) {
        stats_slot *sl = &s->slots[i - 1];
        sl->src = srcs[i];
        if (pthread_mutex_init(&sl->lock, NULL) != 0)
            return -1;
        sl->lock_ok = 1;
        s->nslots = i;
        lb_timer_init(&sl->timer, slot_publish, sl);
        slot_publish(sl->src.loop, &sl->timer, sl);
        sl->timer_on = 1;
    }
    return 0;
}

lb_stats *lb_stats_create(int port, const lb_stats_sources *srcs, int n, char *err, size_t errlen)
{
    lb_stats *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = srcs[0].loop;
    s->live = srcs[0];
    s->listen_fd = lb_net_listen(NULL, port, 128, 0, err, errlen);
    if (s->listen_fd < 0)
        goto fail;
    if (lb_loop_watch(s->loop, s->listen_fd, LB_EV_READ, stats_accept, s) < 0) {
        snprintf(err, errlen, "cannot watch the stats listener");
        goto fail;
    }
    s->port = lb_net_local_port(s->listen_fd);
    if (stats_slots_start(s, srcs, n) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return s;
fail:
    lb_stats_destroy(s);
    return NULL;
}

int lb_stats_port(const lb_stats *s)
{
    return s->port;
}

void lb_stats_set_admin(lb_stats *s, lb_admin *a, int open)
{
    s->admin = a;
    s->admin_open = open;
}

void lb_stats_stop_listening(lb_stats *s)
{
    if (s->listen_fd >= 0) {
        lb_loop_unwatch(s->loop, s->listen_fd);
        close(s->listen_fd);
        s->listen_fd = -1;
    }
}

void lb_stats_destroy(lb_stats *s)
{
    if (!s)
        return;
    lb_stats_stop_listening(s);
    while (s->conns)
        conn_close(s->conns);
    for (int i = 0; i < s->nslots; i++) {
        stats_slot *sl = &s->slots[i];
        if (sl->timer_on)
            lb_timer_stop(sl->src.loop, &sl->timer);
        if (sl->lock_ok)
            pthread_mutex_destroy(&sl->lock);
    }
    free(s->slots);
    free(s);
}
