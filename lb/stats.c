/* stats.c - the stats port: JSON and Prometheus views of the backend table and counters.
 *
 * Connections are few and short, so this file trades speed for simplicity: each reads one
 * head (at most 4 KiB), renders the whole answer into a buffer, writes it, and closes.
 * Limits: a connection lives at most STATS_DEADLINE_MS; answers are rendered fresh.
 */
#include "stats.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "net.h"

#define STATS_DEADLINE_MS 5000
#define STATS_MAX_HEAD 4096

struct lb_stats {
    lb_loop *loop;
    lb_stats_sources src;
    int listen_fd;
    int port;
    struct stats_conn *conns;
};

typedef struct stats_conn {
    lb_stats *owner;
    int fd;
    int writing;
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

static const char *state_name(const lb_backend *b)
{
    if (!b->checked && !b->up)
        return "unknown";
    return b->up ? "up" : "down";
}

static int render_backend_json(const lb_backend *b, int last, lb_buf *out)
{
    char when[32] = "null";
    if (b->checked)
        snprintf(when, sizeof when, "%lld", (long long)b->last_check_wall);
    long long ago = b->checked ? (long long)(lb_now_ms() - b->last_check_ms) : -1;
    return appendf(out,
                   "    {\"address\": \"%s\", \"state\": \"%s\", \"total\": %llu, "
                   "\"errors\": %llu, \"load\": %llu, \"in_flight\": %d, \"failures\": %llu, "
                   "\"forwarded\": %llu, \"checks_ok\": %llu, \"checks_failed\": %llu, "
                   "\"last_check\": %s, \"last_check_ms_ago\": %lld, \"pool_idle\": %d}%s\n",
                   b->name, state_name(b), (unsigned long long)b->total,
                   (unsigned long long)b->errors, (unsigned long long)lb_backend_load(b),
                   b->in_flight, (unsigned long long)b->failures, (unsigned long long)b->forwarded,
                   (unsigned long long)b->checks_ok, (unsigned long long)b->checks_failed, when,
                   ago, b->pool_len, last ? "" : ",");
}

int lb_stats_render_json(const lb_stats_sources *src, lb_buf *out)
{
    static const lb_proxy_counters zero;
    const lb_proxy_counters *st = src->proxy ? lb_proxy_counters_get(src->proxy) : &zero;
    unsigned long long rs = src->checker ? lb_checker_rounds_started(src->checker) : 0;
    unsigned long long rd = src->checker ? lb_checker_rounds_done(src->checker) : 0;
    if (appendf(out, "{\n  \"policy\": \"%s\",\n  \"backends\": [\n",
                src->policy ? src->policy : "fewest") < 0)
        return -1;
    for (int i = 0; i < src->table->n; i++)
        if (render_backend_json(&src->table->v[i], i == src->table->n - 1, out) < 0)
            return -1;
    return appendf(out,
                   "  ],\n  \"health_rounds_started\": %llu,\n  \"health_rounds_done\": %llu,\n"
                   "  \"clients\": %d,\n  \"in_flight\": %d,\n  \"queued_now\": %d,\n"
                   "  \"accepted\": %llu,\n  \"requests\": %llu,\n  \"responses\": %llu,\n"
                   "  \"replies_500\": %llu,\n  \"replies_4xx\": %llu,\n  \"replies_503\": %llu,\n"
                   "  \"retries\": %llu,\n  \"pool_reuses\": %llu,\n  \"aborted\": %llu,\n"
                   "  \"queued\": %llu\n}\n",
                   rs, rd, st->clients_now, st->in_flight_now, st->queue_now,
                   (unsigned long long)st->accepted, (unsigned long long)st->requests,
                   (unsigned long long)st->responses, (unsigned long long)st->replies_500,
                   (unsigned long long)st->replies_4xx, (unsigned long long)st->replies_503,
                   (unsigned long long)st->retries, (unsigned long long)st->pool_reuses,
                   (unsigned long long)st->aborted, (unsigned long long)st->queued);
}

static int metric_family(lb_buf *out, const char *name, const char *type, const char *help)
{
    return appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int render_backend_metrics(const lb_backend_table *t, lb_buf *out)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"lb_backend_up", "gauge", "1 if the backend is healthy"},
        {"lb_backend_reported_total", "gauge", "TOTAL from the last health check"},
        {"lb_backend_reported_errors", "gauge", "ERRORS from the last health check"},
        {"lb_backend_in_flight", "gauge", "requests on the backend now"},
        {"lb_backend_forwarded_total", "counter", "requests sent to the backend"},
        {"lb_backend_failures_total", "counter", "failed connects, timeouts and resets"},
        {"lb_backend_last_check_timestamp_seconds", "gauge", "wall time of the last check"},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        if (metric_family(out, fams[f].name, fams[f].type, fams[f].help) < 0)
            return -1;
        for (int i = 0; i < t->n; i++) {
            const lb_backend *b = &t->v[i];
            unsigned long long v[] = {(unsigned long long)b->up,
                                      (unsigned long long)b->total,
                                      (unsigned long long)b->errors,
                                      (unsigned long long)b->in_flight,
                                      (unsigned long long)b->forwarded,
                                      (unsigned long long)b->failures,
                                      (unsigned long long)b->last_check_wall};
            if (appendf(out, "%s{backend=\"%s\"} %llu\n", fams[f].name, b->name, v[f]) < 0)
                return -1;
        }
    }
    return 0;
}

int lb_stats_render_metrics(const lb_stats_sources *src, lb_buf *out)
{
    static const lb_proxy_counters zero;
    const lb_proxy_counters *st = src->proxy ? lb_proxy_counters_get(src->proxy) : &zero;
    if (render_backend_metrics(src->table, out) < 0)
        return -1;
    const struct {
        const char *name, *type;
        unsigned long long v;
    } m[] = {
        {"lb_health_rounds_total", "counter",
         src->checker ? (unsigned long long)lb_checker_rounds_done(src->checker) : 0},
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
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (appendf(out, "# TYPE %s %s\n%s %llu\n", m[i].name, m[i].type, m[i].name, m[i].v) < 0)
            return -1;
    return 0;
}

/* ---- the server ------------------------------------------------------------------- */

static void conn_close(stats_conn *c)
{
    lb_stats *s = c->owner;
    lb_timer_stop(s->loop, &c->deadline);
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

static void conn_answer(stats_conn *c, int status, const char *type, lb_buf *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, status == 200 ? "OK" : (status == 404 ? "Not Found" : "Bad Request"),
                     type, lb_buf_len(body));
    if (lb_buf_append(&c->out, head, (size_t)n) < 0 ||
        lb_buf_append(&c->out, lb_buf_head(body), lb_buf_len(body)) < 0) {
        conn_close(c);
        return;
    }
    c->writing = 1;
    lb_loop_set_mask(c->owner->loop, c->fd, LB_EV_WRITE);
}

static void conn_route(stats_conn *c, const lb_http_request *req)
{
    lb_buf body = LB_BUF_INIT;
    int ok = -1, status = 404;
    const char *type = "text/plain";
    int get = lb_http_token_eq(req->method, req->method_len, "GET");
    if (get && lb_http_token_eq(req->target, req->target_len, "/stats")) {
        ok = lb_stats_render_json(&c->owner->src, &body);
        status = 200;
        type = "application/json";
    } else if (get && lb_http_token_eq(req->target, req->target_len, "/metrics")) {
        ok = lb_stats_render_metrics(&c->owner->src, &body);
        status = 200;
        type = "text/plain; version=0.0.4";
    } else {
        ok = lb_buf_append(&body, "not found\n", 10);
    }
    if (ok < 0)
        conn_close(c);
    else
        conn_answer(c, status, type, &body);
    lb_buf_free(&body);
}

static void conn_read(stats_conn *c)
{
    lb_http_header headers[32];
    lb_http_request req;
    ssize_t n = lb_buf_read_fd(&c->in, c->fd, STATS_MAX_HEAD - lb_buf_len(&c->in));
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        conn_close(c);
        return;
    }
    int r = lb_http_parse_request(lb_buf_head(&c->in), lb_buf_len(&c->in), &req, headers, 32);
    if (r == LB_HTTP_INCOMPLETE && lb_buf_len(&c->in) < STATS_MAX_HEAD)
        return;
    if (r < 0) {
        lb_buf body = LB_BUF_INIT;
        conn_answer(c, 400, "text/plain", &body);
        return;
    }
    conn_route(c, &req);
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
        c->owner = s;
        c->fd = cfd;
        lb_timer_init(&c->deadline, conn_timeout, c);
        lb_timer_start(loop, &c->deadline, STATS_DEADLINE_MS);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
    }
}

lb_stats *lb_stats_create(lb_loop *loop, int port, const lb_stats_sources *src, char *err,
                          size_t errlen)
{
    lb_stats *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->src = *src;
    s->listen_fd = lb_net_listen(NULL, port, 128, 0, err, errlen);
    if (s->listen_fd < 0 || lb_loop_watch(loop, s->listen_fd, LB_EV_READ, stats_accept, s) < 0) {
        if (s->listen_fd >= 0) {
            snprintf(err, errlen, "cannot watch the stats listener");
            close(s->listen_fd);
        }
        free(s);
        return NULL;
    }
    s->port = lb_net_local_port(s->listen_fd);
    return s;
}

int lb_stats_port(const lb_stats *s)
{
    return s->port;
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
    free(s);
}
