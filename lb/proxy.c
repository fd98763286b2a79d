/* proxy.c - the listener and the client connection state machine.
 *
 * Client states and their deadlines:
 *   IDLE    waiting for a request head: --idle-timeout before its first byte, then
 *           --header-timeout for the whole head (slowloris gets a 408);
 *   QUEUED  a parsed head waiting for one of the -N slots: --queue-timeout, then a 503;
 *   ACTIVE  a request relayed to a backend (relay.c; the deadline is the backend's);
 *   REPLY   writing a canned answer (500, 4xx, 503), then
 *   LINGER  the write side is shut and the rest of the request is read and dropped for
 *           LB_LINGER_MS, so that closing does not reset the answer away;
 *   CLOSED  waiting to be freed by the before-sleep hook.
 * Heads are parsed with lb_http_parse_request and framed with lb_http_request_framing
 * before a backend is chosen; what cannot be framed is refused and nothing is forwarded.
 * A head's connection fields are hop-by-hop (hop_request) unless --verbatim-connection.
 * Slots are released at once but handed to queued requests from a zero timer, so a chain
 * of immediate failures never recurses through the whole queue.
 * Memory: buffers are LB_WINDOW blocks from a free list; an idle client holds none. Closed
 * client structs are kept for reuse (at most LB_SPARE_CLIENTS, a few hundred KiB after a
 * burst), so a connection per request allocates nothing.
 * Listener: TCP_DEFER_ACCEPT unless --defer-accept=0 (a connection arrives with its
 * request); closing skips epoll_ctl(DEL) (lb_loop_close), and a connection whose last
 * answer was sent with MSG_MORE (relay.c) is shut down first so answer and FIN leave
 * together.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hop.h"
#include "net.h"
#include "proxy_internal.h"

const char lb_reply_500[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
const char lb_reply_400[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char reply_408[] =
    "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const char lb_reply_413[] =
    "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char reply_431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                "Content-Length: 0\r\nConnection: close\r\n\r\n";
static const char reply_503[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/* ---- buffers ---------------------------------------------------------------------- */

void px_buf_put(lb_proxy *px, lb_buf *b)
{
    if (!b->data || lb_buf_len(b) != 0)
        return;
    if (b->cap == LB_WINDOW && px->nblocks < LB_FREE_BLOCKS)
        px->blocks[px->nblocks++] = b->data;
    else
        free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

ssize_t px_read(lb_proxy *px, lb_buf *b, int fd, size_t limit)
{
    size_t len = lb_buf_len(b), want;
    if (len >= limit) {
        errno = EAGAIN;
        return -1;
    }
    if (!b->data && px->nblocks > 0) {
        b->data = px->blocks[--px->nblocks];
        b->cap = LB_WINDOW;
        b->start = b->end = 0;
    }
    want = limit - len;
    if (want > LB_WINDOW)
        want = LB_WINDOW;
    if (lb_buf_room(b) < want && lb_buf_reserve(b, want) < 0)
        return -1;
    ssize_t n;
    do {
        n = recv(fd, lb_buf_tail(b), want, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        lb_buf_commit(b, (size_t)n);
    return n;
}

void px_set_mask(lb_proxy *px, int fd, int mask)
{
    if (lb_loop_mask(px->loop, fd) != mask)
        lb_loop_set_mask(px->loop, fd, mask);
}

static void client_io(lb_loop *loop, int fd, int events, void *data);

/* ---- masks: the one place that says which directions each side wants --------------- */

static int upstream_mask(const lb_client *c, const lb_upstream *up)
{
    int m = 0;
    if (up->state == UP_CONNECTING)
        return LB_EV_WRITE;
    if (c->pending > 0)
        m |= LB_EV_WRITE;
    size_t limit = up->head_done ? LB_WINDOW : LB_MAX_RESPONSE_HEAD;
    /* A full splice pipe: the backend is not read until the client has taken bytes
     * (level-triggered epoll would report it readable again and again meanwhile). */
    if (!up->done && !up->eof && !up->pipe_full && lb_buf_len(&up->in) < limit)
        m |= LB_EV_READ;
    return m;
}

void px_update_masks(lb_client *c)
{
    int cm = 0;
    switch (c->state) {
    case CL_IDLE:
    case CL_LINGER:
        cm = LB_EV_READ;
        break;
    case CL_REPLY:
        cm = LB_EV_WRITE;
        break;
    case CL_ACTIVE:
        /* Reading stays on after the request is whole (a pipelined request is read ahead,
         * an EOF noticed) so that a keep-alive request costs no epoll_ctl. */
        if ((!c->req_done || (c->keep_alive && !c->rd_eof)) && lb_buf_len(&c->in) < LB_WINDOW)
            cm |= LB_EV_READ;
        if (c->up && c->up->pending > 0)
            cm |= LB_EV_WRITE;
        if (c->up)
            px_set_mask(c->px, c->up->fd, upstream_mask(c, c->up));
        break;
    default:
        break;
    }
    if (c->state == CL_CLOSED)
        return;
    if (c->watched) {
        px_set_mask(c->px, c->fd, cm);
    } else if (cm) {
        /* A client is registered only once it has to wait: a request read at accept time
         * and answered at once never costs an epoll_ctl. */
        if (lb_loop_watch(c->px->loop, c->fd, cm, client_io, c) == 0)
            c->watched = 1;
        else
            px_client_close(c);
    }
}

/* ---- slots and the queue ---------------------------------------------------------- */

static void release_slot(lb_client *c)
{
    lb_proxy *px = c->px;
    if (!c->in_slot)
        return;
    c->in_slot = 0;
    px->in_flight--;
    if (lb_queue_len(&px->queue) > 0 && !lb_timer_active(&px->dispatch_timer))
        lb_timer_start(px->loop, &px->dispatch_timer, 0);
}

static void start_request(lb_client *c)
{
    c->in_slot = 1;
    c->px->in_flight++;
    c->state = CL_ACTIVE;
    lb_timer_stop(c->px->loop, &c->timer);
    relay_start(c);
}

static void dispatch_fired(lb_loop *loop, lb_timer *timer, void *data)
{
    lb_proxy *px = data;
    while (px->in_flight < px->cfg->parallel) {
        lb_queue_node *n = lb_queue_pop(&px->queue);
        if (!n)
            break;
        start_request((lb_client *)((char *)n - offsetof(lb_client, qnode)));
    }
}

/* ---- closing and canned answers --------------------------------------------------- */

static void maybe_resume_accept(lb_proxy *px);

void px_client_close(lb_client *c)
{
    lb_proxy *px = c->px;
    if (c->state == CL_CLOSED)
        return;
    if (c->up)
        up_close(relay_detach(c));
    release_slot(c);
    lb_queue_remove(&px->queue, &c->qnode);
    lb_timer_stop(px->loop, &c->timer);
    /* Bytes sent with MSG_MORE go out with the FIN. shutdown() first, not close() alone:
     * a close with unread bytes in the socket (a client that sent on after its
     * `Connection: close`) would reset the connection and drop queued bytes unsent. */
    if (c->corked)
        shutdown(c->fd, SHUT_WR);
    lb_loop_close(px->loop, c->fd); /* no epoll_ctl(DEL): the close removes it */
    c->fd = -1;
    c->state = CL_CLOSED;
    if (c->prev)
        c->prev->next = c->next;
    else
        px->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    px->st.clients_now--;
    c->zombie_next = px->zombies;
    px->zombies = c;
    maybe_resume_accept(px);
    if (px->draining && px->st.clients_now == 0)
        lb_loop_stop(px->loop);
}

static void client_flush_reply(lb_client *c)
{
    while (c->reply_off < c->reply_len) {
        ssize_t n = send(c->fd, c->reply + c->reply_off, c->reply_len - c->reply_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            px_client_close(c);
            return;
        }
        c->reply_off += (size_t)n;
    }
    shutdown(c->fd, SHUT_WR);
    c->state = CL_LINGER;
    lb_timer_start(c->px->loop, &c->timer, LB_LINGER_MS);
    px_update_masks(c);
}

void px_client_reply(lb_client *c, const char *reply)
{
    lb_proxy *px = c->px;
    if (c->up)
        up_close(relay_detach(c));
    release_slot(c);
    lb_queue_remove(&px->queue, &c->qnode);
    if (reply == lb_reply_500)
        px->st.replies_500++;
    else if (reply == reply_503)
        px->st.replies_503++;
    else
        px->st.replies_4xx++;
    c->state = CL_REPLY;
    c->reply = reply;
    c->reply_len = strlen(reply);
    c->reply_off = 0;
    lb_timer_start(px->loop, &c->timer, px->cfg->server_timeout_ms);
    client_flush_reply(c);
    if (c->state == CL_REPLY)
        px_update_masks(c);
}

static void client_linger_read(lb_client *c)
{
    char sink[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        break;
    }
    px_client_close(c);
}

/* ---- request heads ---------------------------------------------------------------- */

static void set_method(lb_client *c, const lb_http_request *req)
{
    size_t n = req->method_len < sizeof c->method - 1 ? req->method_len : sizeof c->method - 1;
    memcpy(c->method, req->method, n);
    c->method[n] = '\0';
    c->method_len = req->method_len < sizeof c->method ? n : 0;
    c->idempotent =
        c->method_len && (strcmp(c->method, "GET") == 0 || strcmp(c->method, "HEAD") == 0 ||
                          strcmp(c->method, "OPTIONS") == 0);
}

/* Connection fields are hop-by-hop (RFC 9110 7.6.1, as in HAProxy and nginx) unless
 * --verbatim-connection: the request goes on without its Connection, Keep-Alive and
 * Proxy-Connection lines, so the backend keeps its connection for the pool whatever the
 * client said; an HTTP/1.0 request, for which keep-alive is not the default, says it with
 * an added `Connection: keep-alive`. The client's own wish (c->keep_alive) stays the
 * client's. A Connection field naming another option (Upgrade, TE) is relayed as it is,
 * and so is the rest of that request. Returns the head's new length. */
static int hop_request(lb_client *c, const lb_http_request *req, int head_len)
{
    c->http10 = req->major < 1 || (req->major == 1 && req->minor == 0);
    c->hop = !c->px->cfg->verbatim_connection && lb_hop_can_strip(req->headers, req->num_headers);
    if (!c->hop)
        return head_len;
    c->fwd_close = 0;
    const char *add = c->http10 ? LB_HOP_KEEP_ALIVE : NULL;
    return (int)lb_hop_edit(&c->in, 0, (size_t)head_len, req->headers, req->num_headers, add,
                            add ? sizeof LB_HOP_KEEP_ALIVE - 1 : 0);
}

/* Parses a head from the buffer; returns 1 with the request set up, 0 for "need more",
 * or -1 after answering with a 4xx. */
static int parse_head(lb_client *c)
{
    lb_proxy *px = c->px;
    const lb_config *cfg = px->cfg;
    lb_http_request req;
    size_t len = lb_buf_len(&c->in);
    /* A trickling head is re-parsed only once a new line end arrived. */
    if (c->parsed_len && len < (size_t)cfg->max_head &&
        !lb_http_head_may_progress(lb_buf_head(&c->in), c->parsed_len, len))
        return 0;
    int r = lb_http_parse_request(lb_buf_head(&c->in), len, &req, px->headers,
                                  (size_t)cfg->max_headers);
    c->parsed_len = r == LB_HTTP_INCOMPLETE ? len : 0;
    if (r == LB_HTTP_INCOMPLETE && len < (size_t)cfg->max_head)
        return 0;
    const char *refuse = NULL;
    if (r == LB_HTTP_INCOMPLETE || r == LB_HTTP_TOO_MANY || r > cfg->max_head)
        refuse = reply_431;
    else if (r < 0 || lb_http_request_framing(&req, &c->fr) != 0)
        refuse = lb_reply_400;
    else if (cfg->max_body && c->fr.kind == LB_BODY_LENGTH && c->fr.length > cfg->max_body)
        refuse = lb_reply_413;
    if (refuse) {
        px_client_reply(c, refuse);
        return -1;
    }
    set_method(c, &req);
    c->fwd_close = !c->fr.keep_alive;
    r = hop_request(c, &req, r);
    c->kept = 0;
    c->pending = (size_t)r;
    c->req_done = 0;
    c->body_left = c->fr.kind == LB_BODY_LENGTH ? c->fr.length : 0;
    lb_chunked_init(&c->ch);
    c->keep_alive = c->fr.keep_alive;
    c->resp_started = 0;
    c->sent_any = 0;
    px->st.requests++;
    c->body_seen = 0;
    int bad = relay_scan_request(c);
    if (bad < 0) { /* a bad chunk already here: refuse before connecting */
        px_client_reply(c, bad == -2 ? lb_reply_413 : lb_reply_400);
        return -1;
    }
    return 1;
}

static void client_try_head(lb_client *c)
{
    lb_proxy *px = c->px;
    if (lb_buf_len(&c->in) == 0 || parse_head(c) <= 0)
        return;
    c->head_seen = 0;
    lb_timer_stop(px->loop, &c->timer);
    if (px->in_flight < px->cfg->parallel && lb_queue_len(&px->queue) == 0) {
        start_request(c);
        return;
    }
    if (px->cfg->max_queue && lb_queue_len(&px->queue) >= (size_t)px->cfg->max_queue) {
        px_client_reply(c, reply_503);
        return;
    }
    c->state = CL_QUEUED;
    px->st.queued++;
    lb_queue_push(&px->queue, &c->qnode);
    lb_timer_start(px->loop, &c->timer, px->cfg->queue_timeout_ms);
    px_update_masks(c);
}

static void client_read_head(lb_client *c)
{
    lb_proxy *px = c->px;
    ssize_t n = px_read(px, &c->in, c->fd, (size_t)px->cfg->max_head);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
        px_client_close(c);
        return;
    }
    if (n < 0) {
        px_update_masks(c);
        return;
    }
    if (!c->head_seen) {
        c->head_seen = 1;
        lb_timer_start(px->loop, &c->timer, px->cfg->header_timeout_ms);
    }
    client_try_head(c);
    if (c->state == CL_IDLE)
        px_update_masks(c);
}

void px_client_request_done(lb_client *c, int reusable)
{
    lb_proxy *px = c->px;
    release_slot(c);
    lb_buf_consume(&c->in, c->kept);
    c->kept = c->pending = 0;
    if (!reusable || px->draining) {
        px_client_close(c);
        return;
    }
    c->state = CL_IDLE;
    if (!c->nodelay) { /* a second answer could wait behind an unacknowledged first */
        c->nodelay = 1;
        lb_net_set_nodelay(c->fd);
    }
    if (lb_buf_len(&c->in) == 0) {
        px_buf_put(px, &c->in);
        lb_timer_start(px->loop, &c->timer, px->cfg->idle_timeout_ms);
        px_update_masks(c);
        return;
    }
    c->head_seen = 1;
    lb_timer_start(px->loop, &c->timer, px->cfg->header_timeout_ms);
    px_update_masks(c);
    client_try_head(c);
}

/* ---- client events ---------------------------------------------------------------- */

static void client_io(lb_loop *loop, int fd, int events, void *data)
{
    lb_client *c = data;
    switch (c->state) {
    case CL_IDLE:
        client_read_head(c);
        break;
    case CL_QUEUED:
        if (events & LB_EV_ERROR)
            px_client_close(c);
        break;
    case CL_ACTIVE:
        if (events & LB_EV_WRITE)
            relay_flush_response(c);
        if (c->state == CL_ACTIVE && (events & (LB_EV_READ | LB_EV_ERROR))) {
            if (c->req_done && (events & LB_EV_ERROR)) {
                c->px->st.aborted++;
                px_client_close(c);
            } else {
                relay_client_readable(c); /* body bytes, or read-ahead / EOF once whole */
            }
        }
        break;
    case CL_REPLY:
        client_flush_reply(c);
        break;
    case CL_LINGER:
        client_linger_read(c);
        break;
    default:
        break;
    }
}

static void client_timeout(lb_loop *loop, lb_timer *timer, void *data)
{
    lb_client *c = data;
    if (c->state == CL_QUEUED)
        px_client_reply(c, reply_503);
    else if (c->state == CL_IDLE && c->head_seen)
        px_client_reply(c, reply_408);
    else
        px_client_close(c);
}

/* ---- the listener ----------------------------------------------------------------- */

/* A client struct: a spare one when there is one (a connection per request then costs no
 * allocation), else a new one. Zeroed either way. */
static lb_client *client_alloc(lb_proxy *px)
{
    lb_client *c = px->spare_clients;
    if (!c)
        return calloc(1, sizeof *c);
    px->spare_clients = c->zombie_next;
    px->nspare_clients--;
    memset(c, 0, sizeof *c);
    return c;
}

static void client_new(lb_proxy *px, int fd)
{
    lb_client *c = client_alloc(px);
    if (!c) {
        close(fd);
        return;
    }
    c->px = px;
    c->fd = fd;
    c->state = CL_IDLE;
    lb_timer_init(&c->timer, client_timeout, c);
    c->next = px->clients;
    if (px->clients)
        px->clients->prev = c;
    px->clients = c;
    px->st.clients_now++;
    px->st.accepted++;
    lb_timer_start(px->loop, &c->timer, px->cfg->header_timeout_ms);
    client_read_head(c); /* speculative: the request often came with the connection */
}

static void pause_accept(lb_proxy *px, int64_t ms)
{
    px->paused = 1;
    px_set_mask(px, px->listen_fd, 0);
    if (ms > 0)
        lb_timer_start(px->loop, &px->resume_timer, ms);
}

static void maybe_resume_accept(lb_proxy *px)
{
    if (px->paused && px->accepting && !px->draining && px->st.clients_now < px->cfg->max_conns &&
        !lb_timer_active(&px->resume_timer)) {
        px->paused = 0;
        px_set_mask(px, px->listen_fd, LB_EV_READ);
    }
}

static void resume_fired(lb_loop *loop, lb_timer *timer, void *data)
{
    maybe_resume_accept(data);
}

static void listener_io(lb_loop *loop, int fd, int events, void *data)
{
    lb_proxy *px = data;
    for (int i = 0; i < 64; i++) {
        if (px->st.clients_now >= px->cfg->max_conns) {
            pause_accept(px, 0);
            return;
        }
        int cfd = lb_net_accept(fd);
        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accept(px, 100); /* out of fds or memory: breathe, then retry */
            if (errno == ECONNABORTED || errno == EPERM)
                continue;
            return;
        }
        client_new(px, cfd);
    }
}

/* ---- life cycle ------------------------------------------------------------------- */

static void before_sleep(lb_loop *loop, void *data)
{
    lb_proxy *px = data;
    if (__atomic_load_n(&px->drain_requested, __ATOMIC_ACQUIRE) && !px->draining)
        lb_proxy_drain(px);
    while (px->zombies) {
        lb_client *c = px->zombies;
        px->zombies = c->zombie_next;
        px_buf_put(px, &c->in);
        lb_buf_free(&c->in);
        if (px->nspare_clients < LB_SPARE_CLIENTS) {
            c->zombie_next = px->spare_clients;
            px->spare_clients = c;
            px->nspare_clients++;
        } else {
            free(c);
        }
    }
    up_free_zombies(px);
}

static void drain_fired(lb_loop *loop, lb_timer *timer, void *data)
{
    lb_loop_stop(loop);
}

lb_proxy *lb_proxy_create(lb_loop *loop, const lb_config *cfg, lb_backend_table *table,
                          lb_policy *policy, char *err, size_t errlen)
{
    lb_proxy *px = calloc(1, sizeof *px);
    size_t nh = cfg->max_headers > 128 ? (size_t)cfg->max_headers : 128;
    if (!px || !(px->headers = calloc(nh, sizeof *px->headers)) ||
        !(px->blocks = calloc(LB_FREE_BLOCKS, sizeof *px->blocks))) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    px->loop = loop;
    px->cfg = cfg;
    px->table = table;
    px->policy = policy;
    px->retry_tokens = 50;
    lb_queue_init(&px->queue);
    lb_timer_init(&px->dispatch_timer, dispatch_fired, px);
    lb_timer_init(&px->resume_timer, resume_fired, px);
    lb_timer_init(&px->drain_timer, drain_fired, px);
    px->listen_fd = lb_net_listen(NULL, cfg->listen_port, 4096, cfg->threads > 1, err, errlen);
    if (px->listen_fd < 0)
        goto error;
    /* Deferred accept: the accept and the first read happen in one wake-up, and the
     * client's handshake ACK wakes nobody. A connection that stays silent is accepted
     * about a second later anyway and then meets --header-timeout as before. */
    if (cfg->defer_accept)
        lb_net_set_defer_accept(px->listen_fd, 1);
    if (lb_loop_watch(loop, px->listen_fd, 0, listener_io, px) < 0) {
        snprintf(err, errlen, "cannot watch the listener");
        close(px->listen_fd);
        goto error;
    }
    lb_loop_set_before_sleep(loop, before_sleep, px);
    return px;
error:
    if (px) {
        free(px->headers);
        free(px->blocks);
        free(px);
    }
    return NULL;
}

void lb_proxy_set_checker(lb_proxy *px, lb_checker *checker)
{
    px->checker = checker;
}

int lb_proxy_port(const lb_proxy *px)
{
    return lb_net_local_port(px->listen_fd);
}

void lb_proxy_start_accepting(lb_proxy *px)
{
    if (px->accepting || px->draining)
        return;
    px->accepting = 1;
    px_set_mask(px, px->listen_fd, LB_EV_READ);
}

void lb_proxy_backend_judged(lb_proxy *px, lb_backend *b, int healthy)
{
    if (healthy)
        return;
    up_pool_flush(px, b);
    for (lb_client *c = px->clients; c; c = c->next)
        if (c->state == CL_ACTIVE && c->up && c->up->be == b)
            relay_move_off(c);
}

void lb_proxy_drain(lb_proxy *px)
{
    if (px->draining)
        return;
    px->draining = 1;
    if (px->listen_fd >= 0) {
        lb_loop_unwatch(px->loop, px->listen_fd);
        close(px->listen_fd);
        px->listen_fd = -1;
    }
    for (int i = 0; i < px->table->n; i++)
        up_pool_flush(px, &px->table->v[i]);
    lb_client *c = px->clients;
    while (c) {
        lb_client *next = c->next;
        if (c->state == CL_IDLE && lb_buf_len(&c->in) == 0)
            px_client_close(c);
        c = next;
    }
    if (px->st.clients_now == 0)
        lb_loop_stop(px->loop);
    else
        lb_timer_start(px->loop, &px->drain_timer, px->cfg->drain_timeout_ms);
}

void lb_proxy_request_drain(lb_proxy *px)
{
    __atomic_store_n(&px->drain_requested, 1, __ATOMIC_RELEASE);
    lb_loop_wake(px->loop);
}

const lb_proxy_counters *lb_proxy_counters_get(lb_proxy *px)
{
    px->st.in_flight_now = px->in_flight;
    px->st.queue_now = (int)lb_queue_len(&px->queue);
    return &px->st;
}

void lb_proxy_destroy(lb_proxy *px)
{
    if (!px)
        return;
    px->draining = 0; /* closing clients must not stop the loop again */
    while (px->clients)
        px_client_close(px->clients);
    for (int i = 0; i < px->table->n; i++)
        up_pool_flush(px, &px->table->v[i]);
    before_sleep(px->loop, px);
    if (px->listen_fd >= 0) {
        lb_loop_unwatch(px->loop, px->listen_fd);
        close(px->listen_fd);
    }
    lb_timer_stop(px->loop, &px->dispatch_timer);
    lb_timer_stop(px->loop, &px->resume_timer);
    lb_timer_stop(px->loop, &px->drain_timer);
    while (px->spare_clients) {
        lb_client *c = px->spare_clients;
        px->spare_clients = c->zombie_next;
        free(c);
    }
    while (px->nblocks > 0)
        free(px->blocks[--px->nblocks]);
    free(px->blocks);
    free(px->headers);
    free(px);
}
