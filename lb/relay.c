/* relay.c - one request in flight: choose a backend, relay both ways, finish or fail.
 *
 * Request side: the head and the body bytes the framing says belong to this request move
 * from the client buffer to the backend; bytes of a pipelined next request stay behind.
 * Until the first response byte arrives, written bytes are kept in the buffer (`retain`),
 * so a request whose pooled connection turns out closed, or an idempotent one whose backend
 * reset before answering, can be sent again; retention ends early when the window fills
 * (a large body), and such a request is never resent.
 * Response side: the head is parsed and framed (Content-Length, chunked, close, no body;
 * 1xx heads are relayed and the next head is awaited; a 101 is unframable, as the
 * balancer does not tunnel upgraded connections), body bytes are counted, and only
 * the bytes of this response are written to the client, byte for byte but for the
 * connection fields of the final head, which are hop-by-hop (hop_response, lb/core/hop.h).
 * Backpressure: each side is read only while the buffer toward the other has room
 * (LB_WINDOW); masks are recomputed by px_update_masks after every step.
 * Splice: once the head and the bytes read with it have been written and the buffer is
 * empty, the rest of a body framed by Content-Length with at least LB_SPLICE_MIN bytes to
 * come (or of a close-delimited body that already filled a window) moves backend -> pipe
 * -> client with splice(2) and never enters user space. Chunked bodies are copied (they
 * must be scanned), and so are small answers: the 1 KiB keep-alive path is untouched. The
 * pipe is lent for one answer from the proxy's free list (upstream.c); pending then counts
 * its bytes, so the masks and the stall rule read it as they read buffered bytes. Framing
 * stays exact: a splice asks for at most body_left bytes, and one peek at the end keeps a
 * connection whose backend sent more out of the pool. Backpressure: the backend is read only
 * while the pipe has room (pipe_full, which upstream_mask in proxy.c honours), the client is
 * written whenever it holds bytes. Failure rules are those of the copy path (a pipe holding
 * bytes is closed with the failed connection). EINVAL/ENOSYS from splice send the answer
 * back to the copy path, the pipe's bytes read back into the buffer first.
 * Deadline: the backend connection's timer, restarted on every byte of progress with the
 * backend (--server-timeout). Failure rules: see relay_fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hop.h"
#include "net.h"
#include "proxy_internal.h"

static void relay_pick(lb_client *c);

lb_upstream *relay_detach(lb_client *c)
{
    lb_upstream *up = c->up;
    if (!up)
        return NULL;
    if (up->be->in_flight > 0)
        up->be->in_flight--;
    c->up = NULL;
    up->client = NULL;
    return up;
}

static void attach(lb_client *c, lb_upstream *up)
{
    c->up = up;
    up->client = c;
    up->be->in_flight++;
    up->be->sent_since++;
}

/* The retry budget: every request earns one token, a retry after a backend failure costs
 * LB_RETRY_COST, and the bucket holds at most LB_RETRY_BURST retries. So retries stay
 * under 1/LB_RETRY_COST of the requests when backends fail en masse (no retry storm). */
#define LB_RETRY_COST 5
#define LB_RETRY_BURST 10

static int retry_budget_take(lb_proxy *px)
{
    if (px->retry_tokens < LB_RETRY_COST)
        return 0;
    px->retry_tokens -= LB_RETRY_COST;
    return 1;
}

void relay_start(lb_client *c)
{
    lb_proxy *px = c->px;
    if (px->retry_tokens < LB_RETRY_COST * LB_RETRY_BURST)
        px->retry_tokens++;
    memset(c->tried, 0, sizeof c->tried);
    c->retries_left = c->px->cfg->retries;
    c->retain = 1;
    c->resp_started = 0;
    relay_pick(c);
}

static void relay_pick(lb_client *c)
{
    lb_proxy *px = c->px;
    for (;;) {
        int i = lb_policy_choose(px->policy, px->table, c->tried);
        if (i < 0) {
            px_client_reply(c, lb_reply_500);
            return;
        }
        c->tried[i] = 1;
        lb_backend *be = &px->table->v[i];
        /* A request that cannot be resent never rides a pooled connection: the backend
         * may be closing it right now (a FIN still in flight), and then the request
         * would fail with nothing to retry. It gets a fresh connection instead. */
        lb_upstream *up = c->idempotent ? up_pool_take(px, be) : NULL;
        if (up) {
            px->st.pool_reuses++;
        } else if (!(up = up_connect(px, be))) {
            be->failures++;
            lb_backend_mark_down(be); /* refused at once */
            continue;
        }
        attach(c, up);
        if (up->state == UP_ACTIVE)
            relay_connected(c);
        else
            px_update_masks(c);
        return;
    }
}

void relay_connected(lb_client *c)
{
    lb_proxy *px = c->px;
    lb_upstream *up = c->up;
    up->be->forwarded++;
    up->last_io_ms = lb_now_ms();
    lb_timer_start(px->loop, &up->timer, px->cfg->server_timeout_ms);
    relay_push_request(c);
    /* Last: a round may start here, and a probe judged at once may move requests. */
    if (px->checker)
        lb_checker_note_forwarded(px->checker);
}

/* Chunked bodies are stepped so that data bytes can be counted against --max-body. */
static int scan_chunked(lb_client *c, const char *p, size_t avail)
{
    uint64_t max = c->px->cfg->max_body;
    while (avail > 0 && !lb_chunked_done(&c->ch)) {
        size_t data = 0;
        ssize_t s = lb_chunked_step(&c->ch, p, avail, &data);
        if (s < 0)
            return -1;
        if (s == 0)
            break;
        c->body_seen += data;
        if (max && c->body_seen > max)
            return -2;
        c->pending += (size_t)s;
        p += s;
        avail -= (size_t)s;
    }
    c->req_done = lb_chunked_done(&c->ch);
    return 0;
}

int relay_scan_request(lb_client *c)
{
    if (c->req_done)
        return 0;
    size_t off = c->kept + c->pending, avail = lb_buf_len(&c->in) - off;
    const char *p = lb_buf_head(&c->in) + off;
    switch (c->fr.kind) {
    case LB_BODY_LENGTH: {
        size_t take = c->body_left < avail ? (size_t)c->body_left : avail;
        c->pending += take;
        c->body_left -= take;
        c->req_done = c->body_left == 0;
        return 0;
    }
    case LB_BODY_CHUNKED:
        return scan_chunked(c, p, avail);
    default:
        c->req_done = 1;
        return 0;
    }
}

static void drop_retention(lb_client *c)
{
    if (!c->retain)
        return;
    c->retain = 0;
    lb_buf_consume(&c->in, c->kept);
    c->kept = 0;
}

void relay_push_request(lb_client *c)
{
    lb_upstream *up = c->up;
    if (!up || up->state != UP_ACTIVE)
        return;
    for (;;) {
        int bad = relay_scan_request(c);
        if (bad < 0) {
            if (!c->sent_any) {
                px_client_reply(c, bad == -2 ? lb_reply_413 : lb_reply_400);
                return;
            }
            c->px->st.aborted++;
            px_client_close(c); /* bad chunking mid-body: part has gone; close both */
            return;
        }
        if (c->pending == 0)
            break;
        ssize_t n = send(up->fd, lb_buf_head(&c->in) + c->kept, c->pending, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            relay_fail(c, RELAY_RESET);
            return;
        }
        c->kept += (size_t)n;
        c->pending -= (size_t)n;
        c->sent_any = 1;
        up->last_io_ms = lb_now_ms(); /* the deadline moves lazily: see up_timeout */
        if (!c->retain) {
            lb_buf_consume(&c->in, c->kept);
            c->kept = 0;
        }
    }
    if (c->retain && !c->req_done && lb_buf_len(&c->in) >= LB_WINDOW)
        drop_retention(c);
    px_update_masks(c);
}

void relay_client_readable(lb_client *c)
{
    ssize_t n = px_read(c->px, &c->in, c->fd, LB_WINDOW);
    if (n < 0 && errno == EAGAIN)
        return;
    if (c->req_done) { /* read-ahead of a pipelined request, or the client's EOF */
        if (n < 0) {
            c->px->st.aborted++;
            px_client_close(c);
            return;
        }
        if (n == 0) {
            c->rd_eof = 1; /* answer, serve what is buffered, then close */
        }
        px_update_masks(c);
        return;
    }
    if (n <= 0) { /* the client left before its request was whole */
        c->px->st.aborted++;
        px_client_close(c);
        return;
    }
    if (c->up && c->up->state == UP_ACTIVE)
        relay_push_request(c);
    else
        px_update_masks(c);
}

static void body_step(lb_upstream *up, size_t avail, const char *p, int *bad)
{
    switch (up->fr.kind) {
    case LB_BODY_LENGTH: {
        size_t take = up->body_left < avail ? (size_t)up->body_left : avail;
        up->pending += take;
        up->body_left -= take;
        up->done = up->body_left == 0;
        break;
    }
    case LB_BODY_CHUNKED: {
        ssize_t s = lb_chunked_scan(&up->ch, p, avail);
        if (s < 0) {
            *bad = 1;
            return;
        }
        up->pending += (size_t)s;
        up->done = lb_chunked_done(&up->ch);
        break;
    }
    case LB_BODY_CLOSE:
        up->pending += avail;
        up->body_seen += avail;
        up->done = up->eof;
        break;
    default:
        up->done = 1;
    }
}

/* Hop-by-hop answers (see hop_request in proxy.c): the backend's Connection, Keep-Alive and
 * Proxy-Connection lines describe its connection to us, not ours to the client, so they go,
 * and the client reads what this connection does: `Connection: close` when it ends after
 * this answer (the client asked, an HTTP/1.0 client did not ask for keep-alive, the body
 * ends with the close, a drain), `Connection: keep-alive` to an HTTP/1.0 client that asked
 * for it, nothing otherwise. Returns the head's new length. */
static int hop_response(lb_client *c, lb_upstream *up, const lb_http_response *res, int head_len)
{
    const char *add = NULL;
    size_t add_len = 0;
    if (!c->keep_alive || up->fr.kind == LB_BODY_CLOSE || c->px->draining) {
        add = LB_HOP_CLOSE;
        add_len = sizeof LB_HOP_CLOSE - 1;
    } else if (c->http10) {
        add = LB_HOP_KEEP_ALIVE;
        add_len = sizeof LB_HOP_KEEP_ALIVE - 1;
    }
    return (int)lb_hop_edit(&up->in, up->pending, (size_t)head_len, res->headers, res->num_headers,
                            add, add_len);
}

/* Classifies the bytes read from the backend. Returns 0, or -1 for an unframeable answer. */
static int parse_response(lb_client *c, lb_upstream *up)
{
    lb_proxy *px = c->px;
    int bad = 0;
    while (!up->done && !bad) {
        size_t avail = lb_buf_len(&up->in) - up->pending;
        const char *p = lb_buf_head(&up->in) + up->pending;
        if (up->head_done) {
            body_step(up, avail, p, &bad);
            break;
        }
        if (avail == 0)
            break;
        lb_http_response res;
        if (up->parsed_len && !up->eof && avail < LB_MAX_RESPONSE_HEAD &&
            !lb_http_head_may_progress(p, up->parsed_len, avail))
            break;
        int r = lb_http_parse_response(p, avail, &res, px->headers, 128);
        up->parsed_len = r == LB_HTTP_INCOMPLETE ? avail : 0;
        if (r == LB_HTTP_INCOMPLETE)
            return (up->eof || avail >= LB_MAX_RESPONSE_HEAD) ? -1 : 0;
        if (r < 0 || lb_http_response_framing(&res, c->method, c->method_len, &up->fr) != 0)
            return -1;
        if (res.status == 101)
            return -1; /* no tunnels: what follows a 101 is not HTTP, so it cannot be framed */
        if (c->hop && res.status >= 200)
            r = hop_response(c, up, &res, r);
        up->pending += (size_t)r;
        if (res.status >= 100 && res.status < 200 && res.status != 101)
            continue; /* an interim answer: relay it, wait for the final one */
        up->head_done = 1;
        up->body_left = up->fr.kind == LB_BODY_LENGTH ? up->fr.length : 0;
        lb_chunked_init(&up->ch);
        if (up->fr.kind == LB_BODY_NONE || (up->fr.kind == LB_BODY_LENGTH && !up->body_left))
            up->done = 1;
    }
    if (bad)
        return -1;
    if (up->done && lb_buf_len(&up->in) > up->pending)
        up->extra = 1; /* bytes beyond the answer: the connection is not reusable */
    return 0;
}

/* Whether the client's connection goes on after this answer (else it is closed). The
 * client's connection is the client's: a backend that closes after a framed answer does
 * not close it (HAProxy's http-keep-alive). An answer delimited by the close is the
 * exception: the client can only see its end as our close. */
static int client_continues(const lb_client *c, const lb_upstream *up)
{
    return c->req_done && c->pending == 0 && c->keep_alive && up->fr.kind != LB_BODY_CLOSE &&
           !c->px->draining;
}

static void relay_finish(lb_client *c)
{
    lb_upstream *up = c->up;
    up_pipe_put(up); /* a spliced answer's pipe, empty now, goes back to the free list */
    int req_complete = c->req_done && c->pending == 0;
    /* A connection a PUT/POST opened for itself refills only an empty pool, so that
     * requests which never take from the pool cannot grow it (fds stay flat). */
    int reusable = req_complete && !c->fwd_close && up->fr.keep_alive && !up->eof && !up->extra &&
                   (c->idempotent || up->be->pool_len == 0);
    c->px->st.responses++;
    lb_backend_note_success(up->be);
    relay_detach(c);
    if (reusable)
        up_pool_put(up);
    else
        up_close(up);
    px_client_request_done(c, client_continues(c, up));
}

/* ---- the splice path -------------------------------------------------------------- */

/* Whether the rest of this answer's body, none of which was read yet, should be spliced:
 * a Content-Length body with at least LB_SPLICE_MIN bytes to come, or a close-delimited
 * one that already filled a window (a small one would pay for a pipe for nothing).
 * Why 16 KiB: measured on the 2-core VM (nginx backend, wrk -c16, loopback), the balancer's
 * CPU per answer with splicing forced on from the first byte after the first read, against
 * the copy path: 8 KiB to come 15.6 vs 15.1 us (even), 16 KiB 16.5 vs 18.3, 32 KiB 17.6 vs
 * 23.5, 48 KiB 16.9 vs 28.1, 112 KiB 21.9 vs 54.3. Copying costs 0.4-0.5 us per KiB,
 * splicing about 0.1; from 16 KiB on, splicing wins. Why 64 KiB pipes (LB_PIPE_SIZE): at
 * 1 MiB, 256 KiB pipes cost 8-15% more CPU per answer than 64 KiB ones in the same runs
 * and 1 MiB pipes more still (not profiled further), and the per-user pipe quota (16384
 * pages by default) holds 1024 pipes of 64 KiB but only 256 of 256 KiB. */
static int splice_wanted(const lb_upstream *up)
{
    if (!up->head_done || up->done || up->eof || up->no_splice || up->px->splice_off)
        return 0;
    if (up->fr.kind == LB_BODY_LENGTH)
        return up->body_left >= LB_SPLICE_MIN;
    return up->fr.kind == LB_BODY_CLOSE && up->body_seen >= LB_WINDOW;
}

/* Splicing starts only with an empty buffer, so the buffered bytes (head and body start)
 * always reach the client before the pipe's. */
static void splice_begin(lb_upstream *up)
{
    if (up_pipe_take(up) < 0) {
        up->no_splice = 1; /* no pipe (fds exhausted): this answer is copied */
        return;
    }
    up->splicing = 1;
    up->pipe_full = 0;
}

/* splice refused the pair (EINVAL, or ENOSYS: no splice at all): the bytes already in the
 * pipe are read back into the buffer and the answer goes on by copy. Returns 0, or -1 when
 * they cannot be recovered (the caller closes the client). */
static int splice_unwind(lb_client *c, int err)
{
    lb_upstream *up = c->up;
    size_t n = up->pending, got = 0;
    if (err == ENOSYS)
        c->px->splice_off = 1;
    if (n > 0 && lb_buf_reserve(&up->in, n) < 0)
        return -1;
    while (got < n) {
        ssize_t r = read(up->pipe.rd, lb_buf_tail(&up->in), n - got);
        if (r <= 0 && !(r < 0 && errno == EINTR))
            return -1;
        if (r > 0) {
            lb_buf_commit(&up->in, (size_t)r);
            got += (size_t)r;
        }
    }
    up->pending = 0;
    up_pipe_put(up); /* empty now: back to the free list */
    up->pending = n;
    up->no_splice = 1;
    return 0;
}

static void splice_flush(lb_client *c)
{
    lb_upstream *up = c->up;
    while (up->pending > 0) {
        ssize_t n =
            splice(up->pipe.rd, NULL, c->fd, NULL, up->pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS) && splice_unwind(c, errno) == 0) {
            relay_flush_response(c);
            return;
        }
        if (n <= 0) {
            c->px->st.aborted++;
            px_client_close(c); /* the client went away: the pipe is closed with the backend */
            return;
        }
        c->resp_started = 1;
        up->pending -= (size_t)n;
        up->pipe_full = 0;
        c->px->st.spliced_bytes += (uint64_t)n;
    }
    if (up->done && up->pending == 0) {
        relay_finish(c);
        return;
    }
    px_update_masks(c);
}

/* The body is whole. Bytes a backend sent past it are never read by splice, and would sit
 * in the socket of a pooled connection, to be taken for the answer to the next request sent
 * on it (at once, by a pipelined one). The copy path sees such bytes in its read; here one
 * peek per spliced answer looks: data, EOF or an error keep the connection out of the pool. */
static void splice_peek_beyond(lb_upstream *up)
{
    char byte;
    if (recv(up->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN)
        up->extra = 1;
}

/* Moves at most what the framing still expects (never a byte of what follows the answer)
 * and at most what the pipe has room for. One splice per readiness, as the copy path does
 * one read: the client's write follows at once. */
static void splice_readable(lb_client *c)
{
    lb_upstream *up = c->up;
    size_t want = up->pending < (size_t)up->pipe.cap ? (size_t)up->pipe.cap - up->pending : 0;
    if (up->fr.kind == LB_BODY_LENGTH && up->body_left < want)
        want = (size_t)up->body_left;
    if (want == 0 || up->pipe_full || up->done) {
        splice_flush(c);
        return;
    }
    ssize_t n = splice(up->fd, NULL, up->pipe.wr, NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        /* Nothing came: the socket is empty, or the pipe has no free slot left (a slot
         * holds one socket fragment, so bytes alone do not tell). With bytes in the pipe the
         * latter is assumed and the backend waits for the client's progress. */
        up->pipe_full = errno == EAGAIN && up->pending > 0;
        splice_flush(c);
        return;
    }
    if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
        if (splice_unwind(c, errno) < 0) {
            c->px->st.aborted++;
            px_client_close(c);
            return;
        }
        relay_flush_response(c); /* on by copy; the next readiness reads into the buffer */
        return;
    }
    if (n <= 0) { /* EOF or reset, as on the copy path: ends a close-delimited body */
        up->eof = 1;
        up->done = up->fr.kind == LB_BODY_CLOSE;
        if (!up->done) {
            relay_fail(c, RELAY_RESET); /* cut short: the client's connection is closed */
            return;
        }
    } else {
        up->last_io_ms = lb_now_ms();
        up->pending += (size_t)n;
        if (up->fr.kind == LB_BODY_LENGTH) {
            up->body_left -= (uint64_t)n;
            up->done = up->body_left == 0;
            if (up->done)
                splice_peek_beyond(up);
        }
        up->pipe_full = up->pending >= (size_t)up->pipe.cap;
    }
    splice_flush(c);
}

/* ---- the copy path ---------------------------------------------------------------- */

void relay_flush_response(lb_client *c)
{
    lb_upstream *up = c->up;
    if (!up)
        return;
    if (up->splicing) {
        splice_flush(c);
        return;
    }
    /* The last bytes on a connection that closes after them go with MSG_MORE: they stay
     * queued until px_client_close's shutdown sends them with the FIN in one segment, and
     * the client wakes once, for the answer and the end together. */
    int more = up->done && !client_continues(c, up) ? MSG_MORE : 0;
    while (up->pending > 0) {
        ssize_t n = send(c->fd, lb_buf_head(&up->in), up->pending, MSG_NOSIGNAL | more);
        c->corked |= more && n > 0;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            c->px->st.aborted++;
            px_client_close(c);
            return;
        }
        c->resp_started = 1;
        lb_buf_consume(&up->in, (size_t)n);
        up->pending -= (size_t)n;
    }
    if (up->done && up->pending == 0) {
        relay_finish(c);
        return;
    }
    /* An answer that takes more than one write: from now on Nagle could hold back its
     * small last piece, so the client socket gets TCP_NODELAY (once per connection, here
     * or when a keep-alive connection goes on to its next request; a one-request
     * connection answered in one write never pays for the syscall). */
    if (c->resp_started && !c->nodelay) {
        c->nodelay = 1;
        lb_net_set_nodelay(c->fd);
    }
    if (up->pending == 0 && lb_buf_len(&up->in) == 0) {
        px_buf_put(c->px, &up->in);
        if (splice_wanted(up))
            splice_begin(up); /* the rest of a large body: backend -> pipe -> client */
    }
    px_update_masks(c);
}

void relay_upstream_readable(lb_client *c)
{
    lb_upstream *up = c->up;
    if (up->splicing) {
        splice_readable(c);
        return;
    }
    size_t limit = up->head_done ? LB_WINDOW : LB_MAX_RESPONSE_HEAD;
    ssize_t n = px_read(c->px, &up->in, up->fd, limit);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        up->eof = 1;
        if (!up->got_bytes) {
            relay_fail(c, RELAY_RESET);
            return;
        }
    } else {
        if (!up->got_bytes) {
            up->got_bytes = 1;
            drop_retention(c);
        }
        up->last_io_ms = lb_now_ms();
    }
    if (parse_response(c, up) < 0) {
        relay_fail(c, RELAY_BAD_RESPONSE);
        return;
    }
    if (up->eof && !up->done) { /* cut short: never patch an answer, close */
        relay_fail(c, RELAY_RESET);
        return;
    }
    relay_flush_response(c);
}

/* The client, not the backend, is what stalls: it does not send its body or read. */
static int client_stalls(const lb_client *c, const lb_upstream *up)
{
    return (!c->req_done && c->pending == 0 && !up->got_bytes) || up->pending > 0;
}

static void resend(lb_client *c)
{
    c->pending += c->kept;
    c->kept = 0;
    c->px->st.retries++;
    relay_pick(c);
}

/* Failure rules: a failed connect marks the backend down and tries the next (any method,
 * nothing was sent); a pooled connection found closed before any answer byte is resent on
 * a fresh one (not a backend failure); a timeout marks the backend down; a reset before any
 * answer byte resends an idempotent request once (--retries, within the retry budget) to
 * another backend; otherwise
 * the client gets the 500 if no answer byte reached it yet, else its connection is closed. */
void relay_fail(lb_client *c, int kind)
{
    lb_proxy *px = c->px;
    lb_upstream *up = c->up;
    lb_backend *be = up->be;
    int got = up->got_bytes, stalls = client_stalls(c, up);
    /* Only an idempotent request is resent after a pooled connection failed: the backend
     * may have read and acted on the request before it died. */
    int stale = up->reused && !got && c->retain && c->idempotent && kind == RELAY_RESET;
    relay_detach(c);
    up_close(up);
    if (kind == RELAY_CONNECT_FAILED) {
        be->failures++;
        if (be->sent_since > 0)
            be->sent_since--;
        lb_backend_mark_down(be);
        relay_pick(c);
        return;
    }
    if (stale) {
        c->tried[be->index] = 0;
        resend(c);
        return;
    }
    if (kind == RELAY_TIMEOUT && stalls) {
        px->st.aborted++;
        px_client_close(c);
        return;
    }
    lb_backend_note_failure(be, px->cfg->eject_after);
    if (kind == RELAY_TIMEOUT)
        lb_backend_mark_down(be);
    if (c->resp_started) {
        px->st.aborted++;
        px_client_close(c);
    } else if (kind == RELAY_RESET && !got && c->retain && c->idempotent && c->retries_left > 0 &&
               retry_budget_take(px)) {
        c->retries_left--;
        resend(c);
    } else {
        px_client_reply(c, lb_reply_500);
    }
}

/* Whether a healthy backend other than the current one is left to move a request to. */
static int another_up(const lb_client *c, const lb_backend *cur)
{
    const lb_backend_table *t = c->px->table;
    for (int i = 0; i < t->n; i++)
        if (&t->v[i] != cur && t->v[i].up && !c->tried[i])
            return 1;
    return 0;
}

void relay_move_off(lb_client *c)
{
    lb_upstream *up = c->up;
    if (c->state != CL_ACTIVE || !up || up->got_bytes || !c->retain || !c->idempotent ||
        c->resp_started)
        return;
    if (!another_up(c, up->be))
        return; /* nowhere better: stay (the server timeout still bounds the wait) */
    relay_detach(c);
    up_close(up);
    resend(c);
}
