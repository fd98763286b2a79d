/* conn.c - one client connection of the fakeserver: an explicit state machine.
 *
 *   HEAD -> [PARKED] -> BODY -> [WAIT] -> SEND -> HEAD (keep-alive) | DRAIN -> closed
 *                               HANG (never answers) / reset / truncate end the connection
 *
 * The request path is: parse the head (lb_http_parse_request), classify it with the course
 * rules, ask faults.c for the action (a pure decision), then execute the action: delays,
 * slow reading and slow bodies are timers on the worker's loop, never sleeps. Bodies stream:
 * a PUT goes to a temporary file as it arrives, a GET leaves by sendfile from the opened
 * file, so memory per connection stays at two small buffers whatever the file size.
 * The log entry is written before the first byte of the answer is queued, hence whole in the
 * file before its last byte leaves.
 * Limits: a request head over FS_HEAD_MAX bytes is a 400; chunked request bodies are a 400.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "filecache.h"
#include "files.h"
#include "http.h"
#include "net.h"
#include "server.h"
#include "timeline.h"

#define FS_HEAD_MAX 8192
#define FS_MAX_HEADERS 64
#define FS_READ_CHUNK 65536
#define FS_LINE_MAX 4096
#define FS_SMALL_FILE FS_FCACHE_MAX_FILE /* answers that leave in one send() */
#define FS_KEEP_BUF 65536 /* buffers up to this size stay with a keep-alive connection */
#define FS_DRAIN_MS 2000
#define FS_RESET_WAIT_MS 2000

enum { ST_HEAD, ST_PARKED, ST_BODY, ST_WAIT, ST_READY, ST_SEND, ST_HANG, ST_DRAIN, ST_RESET_WAIT };
enum { OP_NONE, OP_GET, OP_HEAD, OP_PUT, OP_HEALTH };

struct fs_conn {
    fs_worker *w;
    fs_server *s;
    int fd;
    int state;
    bool dead;
    fs_conn *prev, *next;
    lb_buf in, out;
    lb_timer timer;
    fs_conn *next_ready; /* on the worker's ready list (ST_READY) */
    /* the request */
    uint64_t seq;
    uint64_t arrived; /* the worker's read count when the head was complete */
    int op;
    int status; /* decided by the course rules, 0 = serve */
    bool close_after;
    bool expect_continue; /* the client waits for 100 Continue before its body */
    char method[8];
    char name[FS_NAME_MAX + 1];
    char line[FS_LINE_MAX];
    size_t line_len;
    fs_faults faults; /* snapshot taken when the head arrived */
    fs_action act;
    uint64_t body_left;
    fs_put put;
    bool has_slot;
    int64_t read_t0;
    uint64_t read_done;
    /* the answer */
    int answer_status;
    int file_fd;
    uint64_t file_left;
    off_t file_off;
    int64_t head_len;
    int64_t sent;
    int64_t send_t0;
    int64_t wait_start;
};

static void conn_on_event(lb_loop *loop, int fd, int events, void *data);
static void conn_on_timer(lb_loop *loop, lb_timer *t, void *data);
static void head_read(fs_conn *c);
static void body_pump(fs_conn *c);
static void body_done(fs_conn *c);
static void respond(fs_conn *c);
static void send_pump(fs_conn *c);

static void set_mask(fs_conn *c, int mask)
{
    if (!c->dead && c->fd >= 0)
        lb_loop_set_mask(c->w->loop, c->fd, mask);
}

static void slot_release(fs_conn *c)
{
    if (!c->has_slot)
        return;
    c->has_slot = false;
    atomic_fetch_sub(&c->s->inflight, 1);
    if (atomic_load(&c->s->parked) > 0)
        fs_workers_kick(c->s);
}

static void request_reset(fs_conn *c)
{
    fs_put_abort(&c->put);
    if (c->file_fd >= 0)
        close(c->file_fd);
    c->file_fd = -1;
    c->file_left = 0;
    slot_release(c);
}

/* Ends the connection; the struct is freed by the worker before its loop sleeps. */
static void conn_close(fs_conn *c)
{
    if (c->dead)
        return;
    if (c->act.crash_after) /* request N's client left before its answer was done */
        fs_server_crash(c->s, &c->faults);
    if (c->state == ST_PARKED)
        atomic_fetch_sub(&c->s->parked, 1);
    if (c->fd >= 0) {
        lb_loop_unwatch(c->w->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    lb_timer_stop(c->w->loop, &c->timer);
    request_reset(c);
    c->dead = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->w->dead;
    c->prev = NULL;
    c->w->dead = c;
}

fs_conn *fs_conn_new(fs_worker *w, int fd)
{
    fs_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->w = w;
    c->s = w->srv;
    c->fd = fd;
    c->file_fd = -1;
    c->put.fd = -1;
    lb_timer_init(&c->timer, conn_on_timer, c);
    if (lb_loop_watch(w->loop, fd, LB_EV_READ, conn_on_event, c) < 0) {
        free(c);
        return NULL;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    atomic_fetch_add(&c->s->counters.connections, 1);
    return c;
}

void fs_conn_free(fs_conn *c)
{
    lb_buf_free(&c->in);
    lb_buf_free(&c->out);
    free(c);
}

fs_conn *fs_conn_next(const fs_conn *c)
{
    return c->next;
}
int fs_conn_parked(const fs_conn *c)
{
    return !c->dead && c->state == ST_PARKED;
}

/* Shuts our side, reads until the peer closes (bounded), then closes: a close with unread
 * input would send an RST that could destroy the answer on its way. */
static void drain_close(fs_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = ST_DRAIN;
    set_mask(c, LB_EV_READ);
    lb_timer_start(c->w->loop, &c->timer, FS_DRAIN_MS);
}

static void discard_input(fs_conn *c)
{
    char tmp[4096];
    for (;;) {
        ssize_t r = read(c->fd, tmp, sizeof(tmp));
        if (r > 0)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_close(c);
        return;
    }
}

static void conn_on_event(lb_loop *loop, int fd, int events, void *data)
{
    fs_conn *c = data;
    switch (c->state) {
    case ST_HEAD:
        head_read(c);
        break;
    case ST_BODY:
        body_pump(c);
        break;
    case ST_SEND:
        send_pump(c);
        break;
    case ST_HANG:
    case ST_DRAIN:
        discard_input(c);
        break;
    default:
        if (events & LB_EV_ERROR)
            conn_close(c);
        break;
    }
}

static void reset_now(fs_conn *c)
{
    lb_loop_unwatch(c->w->loop, c->fd);
    lb_net_close_reset(c->fd);
    c->fd = -1;
    conn_close(c);
}

static void conn_on_timer(lb_loop *loop, lb_timer *t, void *data)
{
    fs_conn *c = data;
    switch (c->state) {
    case ST_HEAD:
        head_read(c); /* pipelined input left from the previous request */
        break;
    case ST_BODY:
        set_mask(c, LB_EV_READ);
        body_pump(c);
        break;
    case ST_WAIT:
        respond(c);
        break;
    case ST_SEND:
        send_pump(c);
        break;
    case ST_RESET_WAIT: {
        int unsent = 0;
        if (ioctl(c->fd, SIOCOUTQ, &unsent) == 0 && unsent > 0 &&
            lb_now_ms() - c->wait_start < FS_RESET_WAIT_MS)
            lb_timer_start(loop, &c->timer, 2);
        else
            reset_now(c);
        break;
    }
    case ST_DRAIN:
        conn_close(c);
        break;
    default:
        break;
    }
}

/* ---- the request head ------------------------------------------------------------ */

static void copy_line(fs_conn *c, const char *buf, size_t len)
{
    size_t i = 0;
    while (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
        i += 2;
    size_t n = len - i < FS_LINE_MAX ? len - i : FS_LINE_MAX;
    const char *lf = memchr(buf + i, '\n', n);
    if (lf)
        n = (size_t)(lf - (buf + i));
    const char *cr = memchr(buf + i, '\r', n);
    if (cr)
        n = (size_t)(cr - (buf + i));
    memcpy(c->line, buf + i, n);
    c->line_len = n;
}

static bool method_is(const lb_http_request *r, const char *m)
{
    return r->method_len == strlen(m) && !memcmp(r->method, m, r->method_len);
}

/* The course rules: which operation, or which error status. */
static void classify(fs_conn *c, const lb_http_request *r)
{
    int op = method_is(r, "GET")    ? OP_GET
             : method_is(r, "HEAD") ? OP_HEAD
             : method_is(r, "PUT")  ? OP_PUT
                                    : OP_NONE;
    size_t ml = r->method_len < sizeof(c->method) - 1 ? r->method_len : sizeof(c->method) - 1;
    memcpy(c->method, r->method, ml);
    c->method[ml] = '\0';
    c->op = op;
    c->status = 0;
    if (op == OP_NONE || r->major != 1 || r->minor != 1 ||
        !fs_name_valid(r->target, r->target_len)) {
        c->status = 400;
        return;
    }
    memcpy(c->name, r->target + 1, r->target_len - 1); /* valid: at most FS_NAME_MAX */
    c->name[r->target_len - 1] = '\0';
    if (!strcmp(c->name, "healthcheck")) {
        if (op == OP_GET)
            c->op = OP_HEALTH;
        else
            c->status = 403;
    }
}

/* Framing of the request body; a body we cannot frame ends the connection after a 400. */
static void frame_body(fs_conn *c, const lb_http_request *r)
{
    lb_http_framing fr;
    c->body_left = 0;
    c->expect_continue = false;
    if (lb_http_request_framing(r, &fr) < 0 || fr.kind == LB_BODY_CHUNKED) {
        c->status = 400;
        c->close_after = true;
        return;
    }
    c->close_after = !fr.keep_alive;
    c->expect_continue = fr.expect_continue;
    if (fr.kind == LB_BODY_LENGTH)
        c->body_left = fr.length;
    else if (c->op == OP_PUT && !c->status)
        c->status = 400; /* a PUT says how long its body is */
}

static bool slot_try(fs_server *s, int64_t cap)
{
    int cur = atomic_load(&s->inflight);
    while (cur < cap)
        if (atomic_compare_exchange_weak(&s->inflight, &cur, cur + 1))
            return true;
    return false;
}

/* Expect: 100-continue. A body we will store gets "100 Continue" at once; a request whose
 * answer is already decided (an error, a fault) is answered without its body and the
 * connection ends, as RFC 9110 allows, so the client never waits for nothing. */
static bool answer_expectation(fs_conn *c, bool serve_put)
{
    if (!c->expect_continue || c->body_left == 0 || c->act.hang)
        return false;
    if (!c->s->cfg->send_continue)
        return false; /* the course server never sent 100: the body just arrives */
    if (serve_put && !c->status) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        (void)send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL); /* fresh socket: room */
        return false;
    }
    c->body_left = 0;
    c->close_after = true;
    return true;
}

static void begin_body(fs_conn *c)
{
    bool serve_put =
        c->op == OP_PUT && !c->status && !c->act.status && !c->act.hang && !c->act.garbage;
    if (serve_put) {
        int rc = fs_put_begin(&c->put, c->s->dirfd, c->name);
        if (rc)
            c->status = rc;
    }
    if (answer_expectation(c, serve_put)) {
        body_done(c);
        return;
    }
    c->state = ST_BODY;
    c->read_t0 = lb_now_ms();
    c->read_done = 0;
    set_mask(c, LB_EV_READ);
    body_pump(c);
}

/* Admission under the capacity fault; returns false when the connection parked. */
static bool admit(fs_conn *c)
{
    int64_t cap = c->faults.capacity;
    if (cap <= 0 || c->op == OP_HEALTH)
        return true;
    if (slot_try(c->s, cap)) {
        c->has_slot = true;
        return true;
    }
    atomic_fetch_add(&c->s->counters.faults[FS_FK_CAPACITY], 1);
    if (c->faults.capacity_mode == FS_CAPACITY_REFUSE) {
        c->act.status = 503;
        return true;
    }
    c->state = ST_PARKED;
    atomic_fetch_add(&c->s->parked, 1);
    set_mask(c, 0);
    return false;
}

/* Retries with the capacity in force now, so raising or lifting it admits waiters. */
void fs_conn_retry_parked(fs_conn *c)
{
    fs_faults now;
    if (c->dead || c->state != ST_PARKED)
        return;
    fs_server_faults(c->s, &now, NULL);
    if (now.capacity > 0 && !slot_try(c->s, now.capacity))
        return;
    atomic_fetch_sub(&c->s->parked, 1);
    c->has_slot = now.capacity > 0;
    if (!c->has_slot && atomic_load(&c->s->parked) > 0)
        fs_workers_kick(c->s); /* capacity lifted: let every worker admit its waiters */
    begin_body(c);
}

static void start_request(fs_conn *c, const lb_http_request *r, size_t head_len)
{
    lb_timer_stop(c->w->loop, &c->timer); /* a pipelining kick may still be pending */
    c->seq = atomic_fetch_add(&c->s->seq, 1) + 1;
    c->arrived = c->w->reads;
    atomic_fetch_add(&c->s->counters.requests, 1);
    copy_line(c, lb_buf_head(&c->in), head_len);
    classify(c, r);
    frame_body(c, r);
    fs_server_decide(c->s, c->w, c->seq, c->op == OP_HEALTH, r, &c->faults, &c->act);
    lb_buf_consume(&c->in, head_len);
    if (admit(c))
        begin_body(c);
}

/* A head that can never parse: a 400 and the end of the connection. */
static void bad_head(fs_conn *c)
{
    c->seq = atomic_fetch_add(&c->s->seq, 1) + 1;
    atomic_fetch_add(&c->s->counters.requests, 1);
    copy_line(c, lb_buf_head(&c->in), lb_buf_len(&c->in));
    snprintf(c->method, sizeof(c->method), "?");
    c->op = OP_NONE;
    c->status = 400;
    c->close_after = true;
    fs_faults_default(&c->faults);
    memset(&c->act, 0, sizeof(c->act));
    lb_buf_consume(&c->in, lb_buf_len(&c->in));
    respond(c);
}

/* Parses what is buffered. Returns 1 when a request started (or the connection ended). */
static int head_parse(fs_conn *c)
{
    lb_http_header headers[FS_MAX_HEADERS];
    lb_http_request req;
    size_t len = lb_buf_len(&c->in);
    if (len == 0)
        return 0;
    int n = lb_http_parse_request(lb_buf_head(&c->in), len, &req, headers, FS_MAX_HEADERS);
    if (n == LB_HTTP_INCOMPLETE && len <= FS_HEAD_MAX)
        return 0;
    if (n < 0 || (size_t)n > FS_HEAD_MAX) {
        bad_head(c);
        return 1;
    }
    start_request(c, &req, (size_t)n);
    return 1;
}

static void head_read(fs_conn *c)
{
    for (;;) {
        if (head_parse(c))
            return;
        ssize_t r = lb_buf_read_fd(&c->in, c->fd, 16384);
        if (r > 0) {
            c->w->reads++;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            lb_buf_release(&c->in);
            return;
        }
        conn_close(c);
        return;
    }
}

/* ---- the request body ------------------------------------------------------------ */

/* Bytes the slow-read fault still allows now (unlimited without it). */
static uint64_t read_allowance(fs_conn *c)
{
    if (c->act.read_rate <= 0)
        return UINT64_MAX;
    double allowed = (double)c->act.read_rate * (double)(lb_now_ms() - c->read_t0) / 1000.0 + 1;
    return allowed > (double)c->read_done ? (uint64_t)(allowed - (double)c->read_done) : 0;
}

static void body_sink(fs_conn *c, size_t n)
{
    if (c->put.fd >= 0 && fs_put_write(&c->put, lb_buf_head(&c->in), n) < 0) {
        fs_put_abort(&c->put);
        c->status = 500;
    }
    lb_buf_consume(&c->in, n);
    c->body_left -= n;
    c->read_done += n;
}

static void body_done(fs_conn *c)
{
    if (c->in.cap > FS_KEEP_BUF && lb_buf_len(&c->in) == 0)
        lb_buf_free(&c->in); /* a big body grew it: do not keep that */
    if (c->act.hang) {
        c->state = ST_HANG;
        set_mask(c, LB_EV_READ);
        return;
    }
    if (c->act.delay_ms > 0) {
        c->state = ST_WAIT;
        set_mask(c, 0);
        lb_timer_start(c->w->loop, &c->timer, c->act.delay_ms);
        return;
    }
    respond(c);
}

static void body_pump(fs_conn *c)
{
    while (c->body_left > 0) {
        uint64_t allow = read_allowance(c);
        if (allow == 0) {
            set_mask(c, 0);
            int64_t ms = 1000 / c->act.read_rate;
            lb_timer_start(c->w->loop, &c->timer, ms < 1 ? 1 : ms > 50 ? 50 : ms);
            return;
        }
        size_t have = lb_buf_len(&c->in);
        if (have > 0) {
            uint64_t n = have < c->body_left ? have : c->body_left;
            body_sink(c, n < allow ? (size_t)n : (size_t)allow);
            continue;
        }
        uint64_t want = c->body_left < FS_READ_CHUNK ? c->body_left : FS_READ_CHUNK;
        ssize_t r = lb_buf_read_fd(&c->in, c->fd, want < allow ? (size_t)want : (size_t)allow);
        if (r > 0)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_close(c); /* the client left mid-body: the temporary file is dropped */
        return;
    }
    body_done(c);
}

/* ---- the answer ------------------------------------------------------------------ */

/* Writes the decimal digits of v at p; returns the end. */
static char *put_digits(char *p, uint64_t v)
{
    char tmp[20];
    int k = 0;
    do
        tmp[k++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (k)
        *p++ = tmp[--k];
    return p;
}

static char *put_text(char *p, const char *text)
{
    size_t n = strlen(text);
    memcpy(p, text, n);
    return p + n;
}

/* The head every answer has, "HTTP/1.1 CODE REASON" and Content-Length, built without
 * printf: it is half the user-space work of a keep-alive GET otherwise. */
static int status_and_length(char *head, int status, uint64_t length)
{
    char *p = put_text(head, "HTTP/1.1 ");
    if (status < 0) {
        *p++ = '-';
        p = put_digits(p, (uint64_t)0 - (uint64_t)status);
    } else {
        p = put_digits(p, (uint64_t)status);
    }
    *p++ = ' ';
    p = put_text(p, lb_http_reason(status));
    p = put_text(p, "\r\nContent-Length: ");
    p = put_digits(p, length);
    return (int)(put_text(p, "\r\n") - head);
}

static void put_head(fs_conn *c, int status, uint64_t length)
{
    char head[512];
    int n = status_and_length(head, status, length);
    if (c->faults.fault_header)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "X-Seq: %llu\r\n",
                      (unsigned long long)c->seq);
    if (c->faults.fault_header && c->act.kinds) {
        n += snprintf(head + n, sizeof(head) - (size_t)n, "X-Fault:");
        for (int k = 0, first = 1; k < FS_FK_COUNT; k++)
            if (c->act.kinds & (1u << k)) {
                n += snprintf(head + n, sizeof(head) - (size_t)n, "%s%s", first ? " " : ",",
                              fs_fault_kind_name(k));
                first = 0;
            }
        n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    }
    if (c->s->cfg->identify)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "X-Server: %.100s\r\n",
                      c->s->cfg->identify);
    memcpy(head + n, "\r\n", 2);
    n += 2;
    lb_buf_append(&c->out, head, (size_t)n);
    c->head_len = n;
    c->answer_status = status;
    if (status >= 0 && status < FS_STATUS_MAX)
        atomic_fetch_add(&c->s->counters.status[status], 1);
}

/* An error's head and body: empty, as the course server's (`Content-Length: 0`), or with
 * --error-bodies the reason phrase and a newline (a HEAD gets the head alone). */
static void put_error(fs_conn *c, int status)
{
    char body[64];
    int n =
        c->s->cfg->error_bodies ? snprintf(body, sizeof(body), "%s\n", lb_http_reason(status)) : 0;
    put_head(c, status, (uint64_t)n);
    if (c->op != OP_HEAD)
        lb_buf_append(&c->out, body, (size_t)n);
}

/* An error answer and its FAIL entry. */
static void answer_error(fs_conn *c, int status)
{
    fs_log_fail(&c->s->log, c->line, c->line_len, status);
    put_error(c, status);
}

/* The body of a small file goes into the output buffer after its head, so both leave in
 * one send(); a borrowed fd (the cache's) is never kept past this call. Returns false when
 * the bytes could not all be read (the file shrank under us). */
static bool body_inline(fs_conn *c, const fs_file_ref *f)
{
    if (f->copy)
        return lb_buf_append(&c->out, f->copy, f->size) == 0;
    if (lb_buf_reserve(&c->out, f->size) < 0 ||
        pread(f->fd, lb_buf_tail(&c->out), f->size, 0) != (ssize_t)f->size)
        return false;
    lb_buf_commit(&c->out, f->size);
    return true;
}

static void answer_file(fs_conn *c)
{
    fs_file_ref f;
    int rc = fs_fcache_open(&c->w->fcache, c->s->dirfd, c->name, c->arrived, c->w->reads, &f);
    if (rc != 200) {
        answer_error(c, rc);
        return;
    }
    fs_log_ok(&c->s->log, c->method, c->name, f.size, f.copy ? -1 : f.fd, f.copy, c->op == OP_GET);
    put_head(c, 200, f.size);
    if (c->op == OP_GET && (f.size > FS_SMALL_FILE || !body_inline(c, &f))) {
        /* streamed by sendfile from a fd of our own */
        c->file_fd = f.owned ? f.fd : fcntl(f.fd, F_DUPFD_CLOEXEC, 0);
        c->file_left = c->file_fd >= 0 ? f.size : 0;
        c->file_off = 0;
        c->close_after |= c->file_fd < 0; /* the answer cannot complete */
    } else if (f.owned) {
        close(f.fd);
    }
}

static void answer_put(fs_conn *c)
{
    off_t size = lseek(c->put.fd, 0, SEEK_CUR);
    int rc = fs_put_commit(&c->put);
    if (rc != 201) {
        answer_error(c, rc);
        return;
    }
    fs_log_ok(&c->s->log, "PUT", c->name, (uint64_t)size, c->put.fd, NULL, true);
    fs_put_close(&c->put);
    put_head(c, 201, 0);
}

static void answer_health(fs_conn *c)
{
    fs_log *log = &c->s->log;
    char body[64];
    fs_log_begin(log);
    if (!log->on) {
        fs_log_fail_locked(log, c->line, c->line_len, 404);
        fs_log_end(log);
        c->op = OP_GET;
        /* the FAIL entry is written: build the 404 without logging twice */
        put_error(c, 404);
        return;
    }
    uint64_t e = c->act.health_errors >= 0 ? (uint64_t)c->act.health_errors : log->errors;
    uint64_t t = c->act.health_total >= 0 ? (uint64_t)c->act.health_total : log->total;
    int n = c->act.health_malformed ? snprintf(body, sizeof(body), "healthy?\n")
                                    : snprintf(body, sizeof(body), "%llu\n%llu",
                                               (unsigned long long)e, (unsigned long long)t);
    fs_log_ok_locked(log, "GET", "healthcheck", (uint64_t)n, -1, body, true);
    fs_log_end(log);
    put_head(c, 200, (uint64_t)n);
    lb_buf_append(&c->out, body, (size_t)n);
}

static void answer_garbage(fs_conn *c)
{
    fs_faults_garbage(&c->out, c->faults.seed, c->seq, c->act.garbage);
    c->head_len = 0;
    c->answer_status = 0;
    c->close_after = true;
}

/* A GET or HEAD of a cached file that would need a stat of its own waits for the end of
 * the loop round (ST_READY), when one stat serves every request read in the round. */
static bool wait_for_round(fs_conn *c)
{
    if (c->w->answering || c->act.garbage || c->act.status || c->status ||
        (c->op != OP_GET && c->op != OP_HEAD) ||
        !fs_fcache_needs_check(&c->w->fcache, c->name, c->arrived))
        return false;
    c->state = ST_READY;
    c->next_ready = c->w->ready;
    c->w->ready = c;
    return true;
}

void fs_conn_answer_ready(fs_worker *w)
{
    fs_conn *list = w->ready;
    w->ready = NULL;
    w->answering = true;
    while (list) {
        fs_conn *c = list;
        list = c->next_ready;
        if (!c->dead) /* a closed one is freed after this, by the caller */
            respond(c);
    }
    w->answering = false;
}

static void respond(fs_conn *c)
{
    if (wait_for_round(c))
        return;
    if (c->act.garbage) {
        fs_put_abort(&c->put);
        answer_garbage(c);
    } else if (c->act.status || c->status) {
        fs_put_abort(&c->put);
        answer_error(c, c->act.status ? c->act.status : c->status);
    } else if (c->op == OP_PUT) {
        answer_put(c);
    } else if (c->op == OP_HEALTH) {
        answer_health(c);
    } else {
        answer_file(c);
    }
    c->state = ST_SEND;
    c->sent = 0;
    c->send_t0 = lb_now_ms();
    send_pump(c); /* most answers leave at once; writability is watched only on EAGAIN */
}

/* ---- sending --------------------------------------------------------------------- */

static int64_t send_allowance(fs_conn *c)
{
    return fs_action_allowance(&c->act, c->head_len, c->sent, c->send_t0, lb_now_ms());
}

static void answer_done(fs_conn *c)
{
    if (c->act.crash_after)
        fs_server_crash(c->s, &c->faults);
    request_reset(c);
    if (c->out.cap > FS_KEEP_BUF)
        lb_buf_free(&c->out);
    if (c->act.cut == FS_CUT_RESET) {
        c->state = ST_RESET_WAIT;
        c->wait_start = lb_now_ms();
        set_mask(c, 0);
        lb_timer_start(c->w->loop, &c->timer, 0);
        return;
    }
    if (c->close_after || c->act.close || c->act.cut == FS_CUT_TRUNCATE) {
        drain_close(c);
        return;
    }
    c->state = ST_HEAD;
    set_mask(c, LB_EV_READ);
    if (lb_buf_len(&c->in) > 0)
        lb_timer_start(c->w->loop, &c->timer, 0);
}

static void send_wait_rate(fs_conn *c)
{
    set_mask(c, 0);
    int64_t ms = 1000 / c->act.body_rate;
    lb_timer_start(c->w->loop, &c->timer, ms < 1 ? 1 : ms > 50 ? 50 : ms);
}

static void send_pump(fs_conn *c)
{
    for (;;) {
        int64_t allow = send_allowance(c);
        bool more = lb_buf_len(&c->out) > 0 || c->file_left > 0;
        if (!more || (c->act.cut != FS_CUT_NONE && c->act.cut_at - c->sent <= 0)) {
            answer_done(c);
            return;
        }
        if (allow <= 0) {
            send_wait_rate(c);
            return;
        }
        ssize_t w;
        if (lb_buf_len(&c->out) > 0) {
            size_t n = lb_buf_len(&c->out);
            if ((int64_t)n > allow)
                n = (size_t)allow;
            w = send(c->fd, lb_buf_head(&c->out), n, MSG_NOSIGNAL);
            if (w > 0)
                lb_buf_consume(&c->out, (size_t)w);
        } else {
            uint64_t n = c->file_left < (1u << 20) ? c->file_left : (1u << 20);
            if ((int64_t)n > allow)
                n = (uint64_t)allow;
            w = sendfile(c->fd, c->file_fd, &c->file_off, (size_t)n);
            if (w > 0)
                c->file_left -= (uint64_t)w;
            else if (w == 0) { /* the file shrank under us: the answer cannot complete */
                conn_close(c);
                return;
            }
        }
        if (w > 0) {
            c->sent += w;
            continue;
        }
        if (errno == EAGAIN || errno == EINTR) {
            set_mask(c, LB_EV_WRITE);
            return;
        }
        conn_close(c);
        return;
    }
}

void fs_conn_shutdown(fs_conn *c)
{
    conn_close(c);
}
