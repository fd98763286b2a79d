/* http.c - the fault proxy's HTTP mode: one client connection, its upstream connection, and
 * the fault catalogue applied to the real answers.
 *
 *   HEAD -> (decide) -> FORWARD: head + body to the upstream, answer back  -> HEAD | closed
 *                    -> LOCAL:   body read and dropped, a made-up answer    -> HEAD | closed
 *                    -> HANG:    input read and dropped, never an answer
 *
 * Each request is framed with lb/core/http (request framing, response head, chunked scan)
 * and decided by the fakeserver's pure fs_faults_decide(), so seeds, scopes and the control
 * port behave exactly as in the fakeserver. Unfaulted bytes pass through untouched: the
 * head and body go to the upstream as the client sent them, and the answer comes back as
 * the upstream sent it. Only fault-header/--identify (fields inserted before the head's end)
 * and the health faults (a new body) change an answer's bytes.
 * Which faults ask the upstream: error-rate, garbage, hang, health-status and health-flap
 * answer without asking it (a PUT is then not applied, as in the fakeserver); delay, slow
 * body, reset, truncate, no-keepalive, health-malformed/-errors/-total ask it and act on
 * its answer. Every answer is released only after its delay, counted from the request.
 * One upstream connection per client connection, kept alive between requests; a request
 * without a body that meets a kept connection the upstream closed meanwhile is sent again
 * once on a fresh connection.
 * Invariants: one request at a time (pipelined input waits in `in`); `out` holds only bytes
 * of the current answer, of which the first `framed` are known to belong to it; a
 * connection is freed by the worker before its loop sleeps, never in its own callback.
 * Limits: request head 64 KiB, 100 fields; buffers toward either side stop reading at
 * FP_WINDOW bytes; a health answer to rewrite is at most LB_HEALTH_MAX_ANSWER bytes
 * (longer ones pass through untouched); no 101 upgrades (their bytes pass until close).
 */
#include <errno.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "health.h"
#include "http.h"
#include "proxy.h"
#include "rewrite.h"
#include "timeline.h"

#define FP_HEAD_MAX 65536
#define FP_MAX_HEADERS 100
#define FP_WINDOW (256 * 1024)
#define FP_DRAIN_MS 2000
#define FP_RESET_WAIT_MS 2000
#define FP_EXTRA_MAX 512

enum { HS_HEAD, HS_PARKED, HS_FORWARD, HS_LOCAL, HS_HANG, HS_DRAIN, HS_RESET_WAIT };

typedef struct fp_conn fp_conn;

struct fp_conn {
    fp_link link; /* in list: live, or dead (closed, freed before the worker sleeps) */
    fs_worker *w;
    fs_server *s;
    fp_lists *list;
    int fd, up_fd;
    bool up_connecting, up_reused, client_eof;
    bool blocked;       /* the client's socket was full: wait for writability */
    bool has_slot;      /* holds one of the capacity fault's slots */
    size_t parked_head; /* HS_PARKED: the head's length, still in `in` */
    int state;
    lb_buf in, out, to_up;
    lb_timer timer;
    /* the request */
    uint64_t seq;
    fs_faults faults;
    fs_action act;
    char method[16];
    size_t method_len;
    bool health, keep_alive;
    int req_kind; /* LB_BODY_* of the request body still to read */
    uint64_t req_left;
    lb_chunked req_chunk;
    bool req_done;
    lb_buf req_copy; /* the head again, for one resend on a fresh connection */
    bool resent;
    int64_t read_t0;
    uint64_t read_done;
    /* the answer */
    char extra[FP_EXTRA_MAX];
    size_t extra_len;
    bool rewrite_health;
    bool head_seen, ans_done, ans_close, up_keep, answer_ready;
    int ans_kind;
    uint64_t ans_left;
    lb_chunked ans_chunk;
    size_t framed;   /* bytes at the head of out that belong to the answer */
    int64_t release; /* not a byte before this time */
    int64_t head_len, sent, send_t0;
    int64_t wait_start;
};

static void on_client(lb_loop *loop, int fd, int events, void *data);
static void on_upstream(lb_loop *loop, int fd, int events, void *data);
static void on_timer(lb_loop *loop, lb_timer *t, void *data);
static void pump(fp_conn *c);

static fp_lists *list_of(fs_worker *w)
{
    return w->mode_data;
}

static void up_close(fp_conn *c)
{
    if (c->up_fd < 0)
        return;
    lb_loop_unwatch(c->w->loop, c->up_fd);
    close(c->up_fd);
    c->up_fd = -1;
    c->up_connecting = false;
}

static void slot_release(fp_conn *c)
{
    if (!c->has_slot)
        return;
    c->has_slot = false;
    atomic_fetch_sub(&c->s->inflight, 1);
    if (atomic_load(&c->s->parked) > 0)
        fs_workers_kick(c->s);
}

static void conn_close(fp_conn *c)
{
    if (!fp_link_kill(c->list, &c->link))
        return;
    if (c->state == HS_PARKED)
        atomic_fetch_sub(&c->s->parked, 1);
    slot_release(c);
    if (c->act.crash_after)
        fs_server_crash(c->s, &c->faults);
    up_close(c);
    if (c->fd >= 0) {
        lb_loop_unwatch(c->w->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    lb_timer_stop(c->w->loop, &c->timer);
}

static void conn_free(fp_conn *c)
{
    lb_buf_free(&c->in);
    lb_buf_free(&c->out);
    lb_buf_free(&c->to_up);
    lb_buf_free(&c->req_copy);
    free(c);
}

static int http_adopt(fs_worker *w, int fd)
{
    fp_lists *l = fp_lists_of(w);
    fp_conn *c = l ? calloc(1, sizeof(*c)) : NULL;
    if (!c)
        return -1;
    c->w = w;
    c->s = w->srv;
    c->list = l;
    c->fd = fd;
    c->up_fd = -1;
    lb_timer_init(&c->timer, on_timer, c);
    if (lb_loop_watch(w->loop, fd, LB_EV_READ, on_client, c) < 0) {
        free(c);
        return -1;
    }
    fp_link_add(c->list, &c->link);
    atomic_fetch_add(&c->s->counters.connections, 1);
    return 0;
}

static void proceed(fp_conn *c, size_t head_len);
static bool slot_try(fs_server *s, int64_t cap);

/* Retries requests parked on the capacity fault with the capacity in force now, so a freed
 * slot, a raised capacity or a lifted one admits them (every worker is woken then). */
static void retry_parked(fs_worker *w, fp_lists *l)
{
    fs_faults now;
    fp_link *next;
    fs_server_faults(w->srv, &now, NULL);
    for (fp_link *k = l->live; k; k = next) {
        fp_conn *c = FP_CONN_OF(k, fp_conn, link);
        next = k->next;
        if (c->state != HS_PARKED)
            continue;
        if (now.capacity > 0 && !slot_try(w->srv, now.capacity))
            continue;
        atomic_fetch_sub(&w->srv->parked, 1);
        c->has_slot = now.capacity > 0;
        proceed(c, c->parked_head);
        pump(c);
    }
}

static void http_before_sleep(fs_worker *w)
{
    fp_lists *l = list_of(w);
    if (l && atomic_load(&w->srv->parked) > 0)
        retry_parked(w, l);
    for (fp_link *k; l && (k = fp_link_reap(l));)
        conn_free(FP_CONN_OF(k, fp_conn, link));
}

static void http_stop(fs_worker *w)
{
    fp_lists *l = list_of(w);
    if (!l)
        return;
    while (l->live) {
        fp_conn *c = FP_CONN_OF(l->live, fp_conn, link);
        c->act.crash_after = false;
        conn_close(c);
    }
    http_before_sleep(w);
    free(l);
    w->mode_data = NULL;
}

const fs_conn_mode fp_http_mode = {http_adopt, http_before_sleep, http_stop};

/* ---- deciding a request ---------------------------------------------------------- */

static void count_status(fp_conn *c, int status)
{
    if (status >= 0 && status < FS_STATUS_MAX)
        atomic_fetch_add(&c->s->counters.status[status], 1);
}

static void reset_answer(fp_conn *c)
{
    c->head_seen = c->ans_done = c->ans_close = c->answer_ready = false;
    c->up_keep = true;
    c->framed = 0;
    c->sent = c->head_len = 0;
    c->resent = false;
    lb_buf_consume(&c->to_up, lb_buf_len(&c->to_up));
    lb_buf_consume(&c->req_copy, lb_buf_len(&c->req_copy));
}

/* A made-up answer (error status, health status, garbage, a request we cannot frame). */
static void local_answer(fp_conn *c, int status)
{
    char buf[FP_EXTRA_MAX + 256];
    lb_buf_consume(&c->out, lb_buf_len(&c->out));
    if (c->act.garbage) {
        fs_faults_garbage(&c->out, c->faults.seed, c->seq, c->act.garbage);
        c->head_len = 0;
        c->ans_close = true;
    } else {
        ssize_t n = fp_status_answer(status, c->extra, c->extra_len, buf, sizeof(buf));
        lb_buf_append(&c->out, buf, (size_t)n);
        c->head_len = n;
        count_status(c, status);
    }
    c->framed = lb_buf_len(&c->out);
    c->head_seen = c->ans_done = c->answer_ready = true;
}

static bool upstream_connect(fp_conn *c)
{
    char err[128];
    c->up_fd = lb_net_connect(&fp_upstream, err, sizeof(err));
    if (c->up_fd < 0)
        return false;
    lb_net_set_nodelay(c->up_fd);
    if (lb_loop_watch(c->w->loop, c->up_fd, LB_EV_WRITE, on_upstream, c) < 0) {
        close(c->up_fd);
        c->up_fd = -1;
        return false;
    }
    c->up_connecting = true;
    c->up_reused = false;
    return true;
}

/* The upstream cannot be reached: a 502, as a gateway answers. */
static void bad_gateway(fp_conn *c)
{
    up_close(c);
    c->state = HS_LOCAL;
    local_answer(c, 502);
    c->ans_close = true; /* the rest of a request body may still be on its way */
}

static bool slot_try(fs_server *s, int64_t cap)
{
    int cur = atomic_load(&s->inflight);
    while (cur < cap)
        if (atomic_compare_exchange_weak(&s->inflight, &cur, cur + 1))
            return true;
    return false;
}

/* The capacity fault, as in the fakeserver: health checks exempt; beyond it a request
 * waits (parked, its connection not read further) or gets a 503 without the upstream. */
static bool admit(fp_conn *c)
{
    int64_t cap = c->faults.capacity;
    if (cap <= 0 || c->health)
        return true;
    if (slot_try(c->s, cap)) {
        c->has_slot = true;
        return true;
    }
    atomic_fetch_add(&c->s->counters.faults[FS_FK_CAPACITY], 1);
    c->act.kinds |= 1u << FS_FK_CAPACITY;
    if (c->faults.capacity_mode == FS_CAPACITY_REFUSE) {
        c->act.status = 503;
        return true;
    }
    atomic_fetch_add(&c->s->parked, 1);
    return false;
}

/* Executes the decision once the request is admitted: forward, answer locally or hang. */
static void proceed(fp_conn *c, size_t head_len)
{
    c->release = lb_now_ms() + c->act.delay_ms;
    ssize_t x = fp_extra_fields(c->faults.fault_header, c->seq, c->act.kinds, c->s->cfg->identify,
                                c->extra, sizeof(c->extra));
    c->extra_len = x > 0 ? (size_t)x : 0;
    c->read_t0 = lb_now_ms();
    c->read_done = 0;
    if (c->act.hang) {
        lb_buf_consume(&c->in, head_len);
        c->state = HS_HANG;
        return;
    }
    if (c->act.garbage || c->act.status) {
        lb_buf_consume(&c->in, head_len);
        c->state = HS_LOCAL;
        return; /* the answer is made once the body was read */
    }
    c->state = HS_FORWARD;
    c->rewrite_health = c->health && (c->act.health_malformed || c->act.health_errors >= 0 ||
                                      c->act.health_total >= 0);
    lb_buf_append(&c->to_up, lb_buf_head(&c->in), head_len);
    if (c->req_done)
        lb_buf_append(&c->req_copy, lb_buf_head(&c->in), head_len);
    lb_buf_consume(&c->in, head_len);
    if (c->up_fd < 0 && !upstream_connect(c))
        bad_gateway(c);
}

static void start_request(fp_conn *c, const lb_http_request *r, size_t head_len)
{
    lb_http_framing fr;
    lb_timer_stop(c->w->loop, &c->timer);
    c->seq = atomic_fetch_add(&c->s->seq, 1) + 1;
    atomic_fetch_add(&c->s->counters.requests, 1);
    reset_answer(c);
    c->method_len = r->method_len < sizeof(c->method) ? r->method_len : sizeof(c->method) - 1;
    memcpy(c->method, r->method, c->method_len);
    c->method[c->method_len] = '\0';
    c->health = r->method_len == 3 && !memcmp(r->method, "GET", 3) && r->target_len == 12 &&
                !memcmp(r->target, "/healthcheck", 12);
    bool framed = lb_http_request_framing(r, &fr) == 0;
    fs_server_decide(c->s, c->w, c->seq, c->health, r, &c->faults, &c->act);
    c->req_done = !framed || fr.kind == LB_BODY_NONE || (fr.kind == LB_BODY_LENGTH && !fr.length);
    c->req_kind = framed ? fr.kind : LB_BODY_NONE;
    c->req_left = fr.kind == LB_BODY_LENGTH ? fr.length : 0;
    lb_chunked_init(&c->req_chunk);
    c->keep_alive = framed && fr.keep_alive;
    if (!framed) { /* cannot be framed safely: never reaches the upstream */
        lb_buf_consume(&c->in, lb_buf_len(&c->in));
        c->release = 0;
        c->extra_len = 0;
        c->state = HS_LOCAL;
        local_answer(c, 400);
        c->ans_close = true;
        return;
    }
    if (!admit(c)) {
        c->parked_head = head_len;
        c->state = HS_PARKED; /* the head and body wait in `in` for a slot */
        return;
    }
    proceed(c, head_len);
}

/* Parses the buffered head. Returns true when a request started. */
static bool head_parse(fp_conn *c)
{
    lb_http_header headers[FP_MAX_HEADERS];
    lb_http_request req;
    size_t len = lb_buf_len(&c->in);
    if (len == 0)
        return false;
    int n = lb_http_parse_request(lb_buf_head(&c->in), len, &req, headers, FP_MAX_HEADERS);
    if (n == LB_HTTP_INCOMPLETE && len <= FP_HEAD_MAX)
        return false;
    if (n < 0) {
        c->seq = atomic_fetch_add(&c->s->seq, 1) + 1;
        atomic_fetch_add(&c->s->counters.requests, 1);
        reset_answer(c);
        memset(&c->act, 0, sizeof(c->act));
        c->extra_len = 0;
        c->release = 0;
        c->req_done = true;
        lb_buf_consume(&c->in, len);
        c->state = HS_LOCAL;
        local_answer(c, 400);
        c->ans_close = true;
        return true;
    }
    start_request(c, &req, (size_t)n);
    return true;
}

/* ---- the request body ------------------------------------------------------------ */

static uint64_t read_allowance(fp_conn *c)
{
    if (c->act.read_rate <= 0)
        return UINT64_MAX;
    double allowed = (double)c->act.read_rate * (double)(lb_now_ms() - c->read_t0) / 1000.0 + 1;
    return allowed > (double)c->read_done ? (uint64_t)(allowed - (double)c->read_done) : 0;
}

/* Moves body bytes from `in` toward the upstream (or drops them). Returns false when the
 * body cannot be framed (the connection must end). */
static bool body_step(fp_conn *c)
{
    while (!c->req_done && lb_buf_len(&c->in) > 0) {
        uint64_t allow = read_allowance(c);
        if (allow == 0)
            return true;
        size_t avail = lb_buf_len(&c->in);
        if ((uint64_t)avail > allow)
            avail = (size_t)allow;
        size_t take;
        if (c->req_kind == LB_BODY_LENGTH) {
            take = c->req_left < avail ? (size_t)c->req_left : avail;
            c->req_left -= take;
            c->req_done = c->req_left == 0;
        } else {
            ssize_t k = lb_chunked_scan(&c->req_chunk, lb_buf_head(&c->in), avail);
            if (k < 0)
                return false;
            take = (size_t)k;
            c->req_done = lb_chunked_done(&c->req_chunk);
        }
        if (c->state == HS_FORWARD)
            lb_buf_append(&c->to_up, lb_buf_head(&c->in), take);
        lb_buf_consume(&c->in, take);
        c->read_done += take;
    }
    return true;
}

/* ---- the answer ------------------------------------------------------------------ */

/* Frames the answer's head at out[framed..]. Returns false while it is incomplete. */
static bool frame_head(fp_conn *c)
{
    lb_http_header headers[FP_MAX_HEADERS];
    lb_http_response res;
    lb_http_framing fr;
    const char *p = lb_buf_head(&c->out) + c->framed;
    size_t len = lb_buf_len(&c->out) - c->framed;
    int n = lb_http_parse_response(p, len, &res, headers, FP_MAX_HEADERS);
    if (n == LB_HTTP_INCOMPLETE && len <= FP_HEAD_MAX)
        return false;
    if (n < 0 || lb_http_response_framing(&res, c->method, c->method_len, &fr) < 0 ||
        res.status == 101) {
        /* not HTTP we can frame: what the upstream sends passes through until it closes */
        c->head_seen = true;
        c->ans_kind = LB_BODY_CLOSE;
        c->up_keep = false;
        c->ans_close = true;
        c->answer_ready = true;
        return true;
    }
    if (res.status < 200) { /* an interim answer passes through; the final one follows */
        c->framed += (size_t)n;
        c->answer_ready = true;
        return true;
    }
    count_status(c, res.status);
    c->head_seen = true;
    c->ans_kind = fr.kind;
    c->ans_left = fr.length;
    lb_chunked_init(&c->ans_chunk);
    c->up_keep = fr.keep_alive;
    c->ans_close = !fr.keep_alive;
    if (c->extra_len && !c->rewrite_health) {
        char *buf = malloc((size_t)n + c->extra_len);
        ssize_t m = buf ? fp_head_insert(p, (size_t)n, c->extra, c->extra_len, buf,
                                         (size_t)n + c->extra_len)
                        : -1;
        if (m > 0) {
            /* replace the head in place: the body bytes after it move by extra_len */
            size_t tail = len - (size_t)n;
            char *rest = malloc(tail ? tail : 1);
            if (rest) {
                memcpy(rest, p + n, tail);
                c->out.end = c->out.start + c->framed;
                lb_buf_append(&c->out, buf, (size_t)m);
                lb_buf_append(&c->out, rest, tail);
                free(rest);
                n = (int)m;
            }
        }
        free(buf);
    }
    c->head_len = c->framed + (size_t)n;
    c->framed += (size_t)n;
    if (fr.kind == LB_BODY_NONE || (fr.kind == LB_BODY_LENGTH && fr.length == 0))
        c->ans_done = true;
    c->answer_ready = !c->rewrite_health;
    return true;
}

/* Frames body bytes after `framed`. */
static void frame_body(fp_conn *c)
{
    while (!c->ans_done && c->framed < lb_buf_len(&c->out)) {
        size_t avail = lb_buf_len(&c->out) - c->framed;
        if (c->ans_kind == LB_BODY_LENGTH) {
            size_t take = c->ans_left < avail ? (size_t)c->ans_left : avail;
            c->framed += take;
            c->ans_left -= take;
            c->ans_done = c->ans_left == 0;
        } else if (c->ans_kind == LB_BODY_CHUNKED) {
            ssize_t k = lb_chunked_scan(&c->ans_chunk, lb_buf_head(&c->out) + c->framed, avail);
            if (k < 0) { /* a broken chunked body: pass it on and end both connections */
                c->ans_kind = LB_BODY_CLOSE;
                c->up_keep = false;
                c->ans_close = true;
                continue;
            }
            c->framed += (size_t)k;
            c->ans_done = lb_chunked_done(&c->ans_chunk);
        } else {
            c->framed += avail;
        }
    }
    if (c->ans_done && c->framed < lb_buf_len(&c->out)) {
        c->out.end = c->out.start + c->framed; /* bytes past the answer: never forwarded */
        c->up_keep = false;
    }
}

/* The health faults: the whole real answer is read, then replaced. */
static void rewrite_health(fp_conn *c)
{
    if (!c->ans_done) {
        if (c->framed > LB_HEALTH_MAX_ANSWER) /* too big to be a health answer: pass it */
            c->answer_ready = true;
        return;
    }
    char buf[LB_HEALTH_MAX_ANSWER + FP_EXTRA_MAX + 128];
    const char *a = lb_buf_head(&c->out);
    const char *body = a + c->head_len;
    size_t blen = c->ans_kind == LB_BODY_LENGTH ? c->framed - (size_t)c->head_len : 0;
    ssize_t n = fp_health_rewrite(a, (size_t)c->head_len, body, blen, &c->act, c->extra,
                                  c->extra_len, buf, sizeof(buf));
    if (n > 0) {
        lb_buf_consume(&c->out, lb_buf_len(&c->out));
        lb_buf_append(&c->out, buf, (size_t)n);
        c->framed = (size_t)n;
        const char *e = memmem(buf, (size_t)n, "\r\n\r\n", 4);
        c->head_len = e ? e + 4 - buf : n;
    }
    c->answer_ready = true;
}

/* Reads the upstream's answer. Returns false when the connection was handed elsewhere. */
static void upstream_read(fp_conn *c)
{
    while (!c->ans_done && lb_buf_len(&c->out) < FP_WINDOW) {
        ssize_t r = lb_buf_read_fd(&c->out, c->up_fd, 65536);
        if (r > 0) {
            if (!c->head_seen && !frame_head(c))
                continue;
            frame_body(c);
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        /* EOF or error from the upstream */
        bool nothing = lb_buf_len(&c->out) == 0 && c->sent == 0;
        up_close(c);
        if (nothing && c->up_reused && !c->resent && lb_buf_len(&c->req_copy) > 0) {
            /* a kept connection the upstream had closed: send the request again, once */
            c->resent = true;
            lb_buf_consume(&c->to_up, lb_buf_len(&c->to_up));
            lb_buf_append(&c->to_up, lb_buf_head(&c->req_copy), lb_buf_len(&c->req_copy));
            if (!upstream_connect(c))
                bad_gateway(c);
            return;
        }
        if (nothing) {
            bad_gateway(c);
            return;
        }
        if (!c->head_seen) { /* a partial head: pass what came, then close */
            c->head_seen = c->answer_ready = true;
            c->ans_kind = LB_BODY_CLOSE;
        }
        if (c->ans_kind == LB_BODY_CLOSE)
            c->framed = lb_buf_len(&c->out);
        c->ans_done = true; /* a cut answer ends with the client's connection */
        c->ans_close = true;
        c->up_keep = false;
        return;
    }
}

static bool upstream_write(fp_conn *c)
{
    if (c->up_connecting) {
        int e = lb_net_connect_result(c->up_fd);
        if (e == EINPROGRESS || e == EALREADY)
            return true;
        if (e) {
            bad_gateway(c);
            return true;
        }
        c->up_connecting = false;
    }
    while (lb_buf_len(&c->to_up) > 0) {
        ssize_t r = lb_buf_write_fd(&c->to_up, c->up_fd);
        if (r >= 0)
            continue;
        if (errno == EAGAIN || errno == EINTR)
            return true;
        /* a kept connection closed under us: the read side decides (resend or 502) */
        return false;
    }
    lb_buf_release(&c->to_up);
    return true;
}

/* ---- sending --------------------------------------------------------------------- */

static int64_t send_allowance(fp_conn *c)
{
    int64_t limit = fs_action_allowance(&c->act, c->head_len, c->sent, c->send_t0, lb_now_ms());
    return limit < (int64_t)c->framed ? limit : (int64_t)c->framed;
}

static void drain_close(fp_conn *c)
{
    up_close(c);
    shutdown(c->fd, SHUT_WR);
    c->state = HS_DRAIN;
    lb_timer_start(c->w->loop, &c->timer, FP_DRAIN_MS);
}

static void answer_done(fp_conn *c)
{
    /* as in the fakeserver, a cut beyond the answer's end still ends the connection */
    bool cut = c->act.cut != FS_CUT_NONE;
    if (c->act.crash_after)
        fs_server_crash(c->s, &c->faults);
    slot_release(c);
    if (c->act.cut == FS_CUT_RESET) {
        up_close(c);
        c->state = HS_RESET_WAIT;
        c->wait_start = lb_now_ms();
        lb_timer_start(c->w->loop, &c->timer, 0);
        return;
    }
    /* an answer that came before the whole request body: both connections are mid-request */
    if (!c->up_keep || !c->ans_done || cut || !c->req_done)
        up_close(c);
    if (c->up_fd >= 0) {
        c->up_reused = true;
        /* an idle upstream has nothing to say: readable means it closed (or misbehaves) */
        lb_loop_set_mask(c->w->loop, c->up_fd, LB_EV_READ);
    }
    if (cut || c->ans_close || !c->keep_alive || c->act.close || c->client_eof || !c->req_done) {
        drain_close(c);
        return;
    }
    if (c->out.cap > FP_WINDOW)
        lb_buf_free(&c->out);
    c->state = HS_HEAD;
}

/* Sends what the faults allow now. Returns true when the answer is complete. */
static bool send_step(fp_conn *c)
{
    int64_t now = lb_now_ms();
    if (!c->answer_ready || now < c->release)
        return false;
    if (c->sent == 0 && c->send_t0 <= c->release)
        c->send_t0 = now;
    c->blocked = false;
    for (;;) {
        bool cut = c->act.cut != FS_CUT_NONE && c->sent >= c->act.cut_at;
        if (cut || (c->ans_done && c->framed == 0 && (c->state != HS_FORWARD || c->head_seen)))
            return true;
        int64_t allow = send_allowance(c);
        if (allow <= 0)
            return false;
        ssize_t w = send(c->fd, lb_buf_head(&c->out), (size_t)allow, MSG_NOSIGNAL);
        if (w > 0) {
            lb_buf_consume(&c->out, (size_t)w);
            c->framed -= (size_t)w;
            c->sent += w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            c->blocked = true;
            return false;
        }
        conn_close(c);
        return false;
    }
}

/* ---- the state machine ----------------------------------------------------------- */

static void client_read(fp_conn *c)
{
    while (lb_buf_len(&c->in) < FP_WINDOW && lb_buf_len(&c->to_up) < FP_WINDOW) {
        ssize_t r = lb_buf_read_fd(&c->in, c->fd, 65536);
        if (r > 0) {
            if (c->state == HS_HANG || c->state == HS_DRAIN)
                lb_buf_consume(&c->in, lb_buf_len(&c->in));
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        c->client_eof = true;
        return;
    }
}

static int64_t next_wake(fp_conn *c)
{
    int64_t now = lb_now_ms(), ms = -1;
    if (c->answer_ready && now < c->release)
        ms = c->release - now;
    else if (c->answer_ready && c->act.body_rate > 0 && c->framed > 0) {
        ms = 1000 / c->act.body_rate;
        ms = ms < 1 ? 1 : ms > 50 ? 50 : ms;
    }
    if (!c->req_done && c->act.read_rate > 0 && lb_buf_len(&c->in) > 0) {
        int64_t r = 1000 / c->act.read_rate;
        r = r < 1 ? 1 : r > 50 ? 50 : r;
        if (ms < 0 || r < ms)
            ms = r;
    }
    return ms;
}

static void set_masks(fp_conn *c)
{
    if (c->link.dead)
        return;
    /* Reading goes on while an answer is prepared (pipelined heads wait in `in`), so the
     * mask changes only at a window's edge, not twice per request. Writability is watched
     * only after the socket was full: pacing (delay, slow body) runs on the timer. */
    int cm = 0;
    if (!c->client_eof && lb_buf_len(&c->in) < FP_WINDOW && lb_buf_len(&c->to_up) < FP_WINDOW &&
        c->state != HS_RESET_WAIT && c->state != HS_PARKED)
        cm |= LB_EV_READ;
    if (c->blocked && c->state != HS_DRAIN)
        cm |= LB_EV_WRITE;
    lb_loop_set_mask(c->w->loop, c->fd, cm);
    if (c->up_fd >= 0 && c->state == HS_FORWARD) {
        int um = 0;
        if (c->up_connecting || lb_buf_len(&c->to_up) > 0)
            um |= LB_EV_WRITE;
        if (!c->up_connecting && !c->ans_done && lb_buf_len(&c->out) < FP_WINDOW)
            um |= LB_EV_READ;
        lb_loop_set_mask(c->w->loop, c->up_fd, um);
    }
    if (c->state != HS_DRAIN && c->state != HS_RESET_WAIT) {
        int64_t ms = next_wake(c);
        if (ms >= 0)
            lb_timer_start(c->w->loop, &c->timer, ms);
    }
}

/* Runs every step that can progress, until none can. */
static void pump(fp_conn *c)
{
    for (int round = 0; round < 64 && !c->link.dead; round++) {
        int state = c->state;
        size_t in_len = lb_buf_len(&c->in), out_len = lb_buf_len(&c->out);
        int64_t sent = c->sent;
        if (c->state == HS_HEAD) {
            if (!head_parse(c)) {
                if (c->client_eof) {
                    conn_close(c);
                    return;
                }
                break;
            }
        }
        if (c->state == HS_DRAIN || c->state == HS_RESET_WAIT || c->state == HS_PARKED)
            break;
        if (!body_step(c)) {
            conn_close(c);
            return;
        }
        if (c->client_eof && !c->req_done) {
            conn_close(c); /* the client left mid-body */
            return;
        }
        if (c->state == HS_HANG) {
            if (c->client_eof)
                conn_close(c);
            break;
        }
        if (c->state == HS_LOCAL && c->req_done && !c->answer_ready)
            local_answer(c, c->act.status ? c->act.status : 500);
        if (c->state == HS_FORWARD && c->up_fd >= 0) {
            if (!upstream_write(c))
                lb_buf_consume(&c->to_up, lb_buf_len(&c->to_up));
            if (c->up_fd >= 0 && !c->up_connecting)
                upstream_read(c);
            if (c->rewrite_health && c->head_seen && !c->answer_ready)
                rewrite_health(c);
        }
        if (send_step(c) && !c->link.dead)
            answer_done(c);
        if (c->link.dead)
            return;
        if (state == c->state && in_len == lb_buf_len(&c->in) && out_len == lb_buf_len(&c->out) &&
            sent == c->sent)
            break;
    }
    set_masks(c);
}

static void on_client(lb_loop *loop, int fd, int events, void *data)
{
    fp_conn *c = data;
    if (c->state == HS_DRAIN) {
        char tmp[4096];
        ssize_t r;
        while ((r = read(fd, tmp, sizeof(tmp))) > 0)
            ;
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            conn_close(c);
        return;
    }
    if (events & LB_EV_READ || (events & LB_EV_ERROR))
        client_read(c);
    pump(c);
}

static void on_upstream(lb_loop *loop, int fd, int events, void *data)
{
    fp_conn *c = data;
    if (c->state != HS_FORWARD) {
        up_close(c); /* an idle kept connection the upstream closed */
        return;
    }
    pump(c);
}

static void on_timer(lb_loop *loop, lb_timer *t, void *data)
{
    fp_conn *c = data;
    if (c->state == HS_DRAIN) {
        conn_close(c);
        return;
    }
    if (c->state == HS_RESET_WAIT) {
        int unsent = 0;
        if (ioctl(c->fd, SIOCOUTQ, &unsent) == 0 && unsent > 0 &&
            lb_now_ms() - c->wait_start < FP_RESET_WAIT_MS) {
            lb_timer_start(loop, &c->timer, 2);
            return;
        }
        lb_loop_unwatch(loop, c->fd);
        lb_net_close_reset(c->fd);
        c->fd = -1;
        conn_close(c);
        return;
    }
    pump(c);
}
