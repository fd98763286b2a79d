/* control.c - the control port: HTTP/1.1 + JSON on the dispatcher's loop.
 *
 * Changes are atomic: a request's fields are applied to a copy of the current faults,
 * validated, and only then installed with one fs_server_set_faults() (which bumps the
 * generation); a bad field changes nothing and answers 400 with the reason. Answers carry
 * the new generation, so a client knows which faults are in force from the next request on.
 * Connections are small (head and body bounded at CTL_MAX bytes) and keep-alive.
 * Limits: 64 connections at once; more are closed on accept.
 */
#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "framer.h"
#include "http.h"
#include "json.h"
#include "net.h"

#define CTL_MAX 65536
#define CTL_CONNS 64
#define CTL_REPLY_MAX 65536

typedef struct ctl_conn {
    int fd;
    lb_buf in, out;
    bool closing;
} ctl_conn;

typedef struct ctl_state {
    fs_server *s;
    int fd;
    ctl_conn conns[CTL_CONNS];
} ctl_state;

static void ctl_close(ctl_state *st, ctl_conn *c)
{
    lb_loop_unwatch(st->s->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    lb_buf_free(&c->in);
    lb_buf_free(&c->out);
}

static void reply(ctl_conn *c, int status, const char *body)
{
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                                         : "Error";
    char head[160];
    size_t n = strlen(body);
    int h =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 status, reason, n + 1);
    lb_buf_append(&c->out, head, (size_t)h);
    lb_buf_append(&c->out, body, n);
    lb_buf_append(&c->out, "\n", 1);
}

static void reply_error(ctl_conn *c, int status, const char *msg)
{
    char body[512];
    char clean[300];
    size_t k = 0;
    for (const char *p = msg; *p && k + 2 < sizeof(clean); p++) {
        if (*p == '"' || *p == '\\')
            clean[k++] = '\\';
        clean[k++] = (unsigned char)*p < 0x20 ? ' ' : *p;
    }
    clean[k] = '\0';
    snprintf(body, sizeof(body), "{\"error\": \"%s\"}", clean);
    reply(c, status, body);
}

static void reply_faults(ctl_state *st, ctl_conn *c)
{
    fs_faults f;
    uint64_t gen;
    fs_server_faults(st->s, &f, &gen);
    char *body = malloc(CTL_REPLY_MAX);
    if (!body)
        return;
    int n = snprintf(body, CTL_REPLY_MAX, "{\"generation\": %" PRIu64 ", \"faults\": ", gen);
    size_t m = fs_faults_json(&f, body + n, CTL_REPLY_MAX - (size_t)n - 2);
    snprintf(body + n + m, CTL_REPLY_MAX - (size_t)n - m, "}");
    reply(c, 200, body);
    free(body);
}

static void reply_counters(ctl_state *st, ctl_conn *c)
{
    fs_counters *k = &st->s->counters;
    uint64_t gen;
    fs_faults f;
    fs_server_faults(st->s, &f, &gen);
    char *b = malloc(CTL_REPLY_MAX);
    if (!b)
        return;
    size_t n = (size_t)snprintf(b, CTL_REPLY_MAX,
                                "{\"generation\": %" PRIu64 ", \"uptime_ms\": %" PRId64
                                ", \"requests\": %" PRIuFAST64 ", \"connections\": %" PRIuFAST64
                                ", \"inflight\": %d, \"responses\": {",
                                gen, lb_now_ms() - st->s->start_ms, atomic_load(&k->requests),
                                atomic_load(&k->connections), atomic_load(&st->s->inflight));
    const char *sep = "";
    for (int i = 0; i < FS_STATUS_MAX && n < CTL_REPLY_MAX - 64; i++) {
        uint64_t v = atomic_load(&k->status[i]);
        if (v) {
            n += (size_t)snprintf(b + n, CTL_REPLY_MAX - n, "%s\"%d\": %" PRIu64, sep, i, v);
            sep = ", ";
        }
    }
    n += (size_t)snprintf(b + n, CTL_REPLY_MAX - n, "}, \"faults\": {");
    for (int i = 0; i < FS_FK_COUNT; i++)
        n += (size_t)snprintf(b + n, CTL_REPLY_MAX - n, "%s\"%s\": %" PRIuFAST64, i ? ", " : "",
                              fs_fault_kind_name(i), atomic_load(&k->faults[i]));
    fs_log_begin(&st->s->log);
    uint64_t errors = st->s->log.errors, total = st->s->log.total;
    fs_log_end(&st->s->log);
    snprintf(b + n, CTL_REPLY_MAX - n,
             "}, \"log\": {\"errors\": %" PRIu64 ", \"total\": %" PRIu64 "}}", errors, total);
    reply(c, 200, b);
    free(b);
}

static int apply_member(const char *key, const char *value, int kind, void *ctx, char *err,
                        size_t errlen)
{
    fs_faults *f = ctx;
    if (!strcmp(key, "generation"))
        return 0; /* what GET returned may be sent back as is */
    if (!fs_faults_known(key)) {
        snprintf(err, errlen, "unknown fault '%s'", key);
        return -1;
    }
    if (kind == FS_JSON_NULL) /* null: back to the default */
        return fs_faults_reset_field(f, key, err, errlen);
    return fs_faults_set(f, key, value, err, errlen);
}

int fs_control_apply_json(fs_faults *f, const char *json, size_t len, char *err, size_t errlen)
{
    fs_faults copy = *f;
    if (fs_json_each(json, len, apply_member, &copy, err, errlen) < 0)
        return -1;
    if (fs_faults_validate(&copy, err, errlen) < 0)
        return -1;
    *f = copy;
    return 0;
}

/* PUT replaces (from defaults, keeping the seed unless given), PATCH merges. */
static void change_faults(ctl_state *st, ctl_conn *c, bool replace, const char *body, size_t len)
{
    fs_faults f;
    char err[256];
    fs_server_faults(st->s, &f, NULL);
    if (replace) {
        uint64_t seed = f.seed;
        fs_faults_default(&f);
        f.seed = seed;
    }
    if (fs_control_apply_json(&f, body, len, err, sizeof(err)) < 0) {
        reply_error(c, 400, err);
        return;
    }
    fs_server_set_faults(st->s, &f);
    reply_faults(st, c);
}

static void reset_faults(ctl_state *st, ctl_conn *c)
{
    fs_faults f, cur;
    fs_server_faults(st->s, &cur, NULL);
    fs_faults_default(&f);
    f.seed = cur.seed;
    fs_server_set_faults(st->s, &f);
    reply_faults(st, c);
}

static bool target_is(const lb_http_request *r, const char *t)
{
    return r->target_len == strlen(t) && !memcmp(r->target, t, r->target_len);
}

static bool method_is(const lb_http_request *r, const char *m)
{
    return r->method_len == strlen(m) && !memcmp(r->method, m, r->method_len);
}

static void route(ctl_state *st, ctl_conn *c, const lb_http_request *r, const char *body,
                  size_t len)
{
    if (target_is(r, "/faults")) {
        if (method_is(r, "GET"))
            reply_faults(st, c);
        else if (method_is(r, "PUT"))
            change_faults(st, c, true, body, len);
        else if (method_is(r, "PATCH"))
            change_faults(st, c, false, body, len);
        else if (method_is(r, "DELETE"))
            reset_faults(st, c);
        else
            reply_error(c, 405, "use GET, PUT, PATCH or DELETE on /faults");
    } else if (target_is(r, "/faults/reset")) {
        if (method_is(r, "POST"))
            reset_faults(st, c);
        else
            reply_error(c, 405, "use POST on /faults/reset");
    } else if (target_is(r, "/counters")) {
        if (method_is(r, "GET"))
            reply_counters(st, c);
        else
            reply_error(c, 405, "use GET on /counters");
    } else {
        reply_error(
            c, 404,
            "endpoints: /faults (GET, PUT, PATCH, DELETE), /faults/reset (POST), /counters (GET)");
    }
}

/* Handles every complete request in c->in. Returns -1 when the connection must end. */
static int ctl_process(ctl_state *st, ctl_conn *c)
{
    for (;;) {
        lb_http_header hs[32];
        lb_http_request r;
        lb_framer f; /* the balancer's framer: head and framing, then the body's length */
        size_t len = lb_buf_len(&c->in);
        if (len == 0)
            return 0;
        lb_framer_init(&f);
        int n = lb_framer_request_head(&f, lb_buf_head(&c->in), len, 1, &r, hs, 32);
        const lb_http_framing fr = f.fr;
        if (n == LB_HTTP_INCOMPLETE)
            return len > CTL_MAX ? -1 : 0;
        if (n < 0 || fr.kind == LB_BODY_CHUNKED ||
            (fr.kind == LB_BODY_LENGTH && fr.length > CTL_MAX)) {
            reply_error(c, 400, "cannot read this request (need Content-Length, at most 64 KiB)");
            c->closing = true;
            return 0;
        }
        size_t blen = fr.kind == LB_BODY_LENGTH ? (size_t)fr.length : 0;
        if (len < (size_t)n + blen)
            return 0;
        route(st, c, &r, lb_buf_head(&c->in) + n, blen);
        lb_buf_consume(&c->in, (size_t)n + blen);
        if (!fr.keep_alive) {
            c->closing = true;
            return 0;
        }
    }
}

static void ctl_on_event(lb_loop *loop, int fd, int events, void *data);

static ctl_conn *conn_of(ctl_state *st, int fd)
{
    for (int i = 0; i < CTL_CONNS; i++)
        if (st->conns[i].fd == fd)
            return &st->conns[i];
    return NULL;
}

static void ctl_flush(ctl_state *st, ctl_conn *c)
{
    while (lb_buf_len(&c->out) > 0) {
        if (lb_buf_write_fd(&c->out, c->fd) < 0) {
            if (errno == EAGAIN) {
                lb_loop_set_mask(st->s->loop, c->fd, LB_EV_WRITE);
                return;
            }
            ctl_close(st, c);
            return;
        }
    }
    lb_buf_release(&c->out);
    if (c->closing) {
        ctl_close(st, c);
        return;
    }
    lb_loop_set_mask(st->s->loop, c->fd, LB_EV_READ);
}

static void ctl_on_event(lb_loop *loop, int fd, int events, void *data)
{
    ctl_state *st = data;
    ctl_conn *c = conn_of(st, fd);
    if (!c)
        return;
    if (lb_buf_len(&c->out) == 0 && !c->closing) {
        ssize_t r;
        while ((r = lb_buf_read_fd(&c->in, fd, 16384)) > 0)
            ;
        if (r < 0 && errno != EAGAIN) {
            ctl_close(st, c);
            return;
        }
        if (r == 0) /* the client half-closed: answer what it sent, then close */
            c->closing = true;
        if (ctl_process(st, c) < 0) {
            ctl_close(st, c);
            return;
        }
    }
    ctl_flush(st, c);
}

static void ctl_on_accept(lb_loop *loop, int fd, int events, void *data)
{
    ctl_state *st = data;
    for (;;) {
        int c = lb_net_accept(fd);
        if (c < 0)
            return;
        ctl_conn *slot = conn_of(st, -1);
        if (!slot || lb_loop_watch(loop, c, LB_EV_READ, ctl_on_event, st) < 0) {
            close(c);
            continue;
        }
        memset(slot, 0, sizeof(*slot));
        slot->fd = c;
    }
}

int fs_control_start(fs_server *s, int port, char *err, size_t errlen)
{
    ctl_state *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < CTL_CONNS; i++)
        st->conns[i].fd = -1;
    st->s = s;
    st->fd = lb_net_listen("127.0.0.1", port, 64, 0, err, errlen);
    if (st->fd < 0) {
        free(st);
        return -1;
    }
    if (lb_loop_watch(s->loop, st->fd, LB_EV_READ, ctl_on_accept, st) < 0) {
        close(st->fd);
        free(st);
        snprintf(err, errlen, "cannot watch the control port");
        return -1;
    }
    s->control = st;
    s->control_port = lb_net_local_port(st->fd);
    return 0;
}

void fs_control_stop(fs_server *s)
{
    ctl_state *st = s->control;
    if (!st)
        return;
    for (int i = 0; i < CTL_CONNS; i++)
        if (st->conns[i].fd >= 0)
            ctl_close(st, &st->conns[i]);
    lb_loop_unwatch(s->loop, st->fd);
    close(st->fd);
    free(st);
    s->control = NULL;
}
