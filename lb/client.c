/* client.c - the client connection state machine.
 *
 * Client states and their deadlines:
 *   IDLE    waiting for a request head: --idle-timeout before its first byte, then
 *           --header-timeout for the whole head (slowloris gets a 408); the head is framed
 *           by the request's exchange, created at its first byte;
 *   QUEUED  a framed head waiting for one of the -N slots: --queue-timeout, then a 503;
 *   ACTIVE  the exchange relays the request and its answer (the deadline is the backend
 *           connection's); this module reads the client socket for it, the exchange writes;
 *           after a 101 the exchange is a tunnel and stays ACTIVE until it ends;
 *   REPLY   writing a canned answer (500, 4xx, 503), then
 *   LINGER  the write side is shut and the rest of the request is read and dropped for
 *           LB_LINGER_MS, so that closing does not reset the answer away;
 *   CLOSED  waiting to be freed by lb_clients_reap.
 * Slots are released at once but handed to queued requests from a zero timer, so a chain
 * of immediate failures never recurses through the whole queue.
 * Memory: buffers are LB_WINDOW blocks from the loop's free list; an idle client holds none
 * and no exchange. Closed client structs are kept for reuse (at most LB_SPARE_CLIENTS, a
 * few hundred KiB after a burst), so a connection per request allocates nothing.
 * Cheap paths: a client is registered with epoll only once it has to wait (the first read
 * is tried right after accept); closing skips epoll_ctl(DEL) (lb_loop_close); a connection
 * whose last answer was sent with MSG_MORE (exchange.c) is shut down first, so answer and
 * FIN leave together. Deadlines are lazy (client_deadline): a state stores its deadline in
 * the client and the timer is only moved earlier, never later, so a keep-alive request
 * (header deadline, none while ACTIVE, idle deadline again) costs no timer heap operation,
 * and a connection whose request came with the accept and is answered at once never arms
 * its timer at all.
 */
#include "client.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "queue.h"

#define LB_LINGER_MS 1000     /* reading the rest of a refused request before closing */
#define LB_SPARE_CLIENTS 1024 /* client structs kept for reuse */

enum { CL_IDLE, CL_QUEUED, CL_ACTIVE, CL_REPLY, CL_LINGER, CL_CLOSED };

typedef struct lb_client lb_client;

struct lb_client {
    lb_clients *cs;
    int state;
    lb_buf in;
    lb_exchange_peer peer;  /* fd, &in and the socket's flags, lent to the exchange */
    lb_exchange *x;         /* the request in progress (from its first byte), or NULL */
    lb_timer timer;         /* fires at deadline or earlier (lazy: see client_deadline) */
    int64_t deadline;       /* this state's deadline (lb_loop_now time); 0: none (ACTIVE) */
    lb_client *next, *prev; /* every client */
    lb_client *zombie_next;
    lb_queue_node qnode;
    int keep_alive; /* the request asked to keep the connection (its exchange says) */
    int in_slot;    /* holds one of the -N slots */
    int head_seen;  /* a byte of the current head arrived (header timeout runs) */
    int rd_eof;     /* the client shut its sending side */
    int watched;    /* registered with the loop (done lazily: see client_masks) */
    const char *reply;
    size_t reply_len, reply_off;
};

struct lb_clients {
    lb_loop *loop;
    const lb_config *cfg;
    lb_exchanges *xs;
    lb_blocks *blocks;
    void (*on_close)(void *data);
    void *on_close_data;
    lb_client *clients;
    lb_queue queue;
    int in_flight;
    lb_timer dispatch_timer;
    lb_client *zombies;
    lb_client *spare; /* freed clients kept for reuse */
    int nspare;
    int draining;
    lb_client_counters st;
};

static const char reply_500[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
static const char reply_400[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char reply_408[] =
    "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char reply_413[] =
    "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char reply_431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                "Content-Length: 0\r\nConnection: close\r\n\r\n";
static const char reply_503[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static void client_io(lb_loop *loop, int fd, int events, void *data);
static void client_close(lb_client *c);
static void client_reply(lb_client *c, const char *reply);
static void client_try_head(lb_client *c);

/* ---- deadlines ------------------------------------------------------------------- */

/* The state's deadline is ms from now; the timer fires then or earlier (client_timeout arms
 * it again for what is left), so moving a deadline later touches no heap. */
static void client_deadline(lb_client *c, int ms)
{
    lb_loop *loop = c->cs->loop;
    c->deadline = lb_loop_now(loop) + ms;
    lb_timer_arm_by(loop, &c->timer, c->deadline);
}

/* ---- masks: which directions the client socket wants ------------------------------- */

static void client_masks(lb_client *c)
{
    lb_clients *cs = c->cs;
    int cm = 0;
    if (c->state == CL_IDLE || c->state == CL_LINGER) {
        cm = LB_EV_READ;
    } else if (c->state == CL_REPLY) {
        cm = LB_EV_WRITE;
    } else if (c->state == CL_ACTIVE) {
        int wants = lb_exchange_wants(c->x);
        /* Reading stays on after the request is whole (a pipelined request is read ahead,
         * an EOF noticed) so that a keep-alive request costs no epoll_ctl. */
        if (((wants & LB_EV_READ) || (c->keep_alive && !c->rd_eof)) &&
            lb_buf_len(&c->in) < LB_WINDOW)
            cm |= LB_EV_READ;
        cm |= wants & LB_EV_WRITE;
    } else if (c->state == CL_CLOSED) {
        return;
    }
    if (c->watched) {
        if (lb_loop_mask(cs->loop, c->peer.fd) != cm)
            lb_loop_set_mask(cs->loop, c->peer.fd, cm);
    } else if (cm) {
        /* A client is registered only once it has to wait: a request read at accept time
         * and answered at once never costs an epoll_ctl. */
        if (lb_loop_watch(cs->loop, c->peer.fd, cm, client_io, c) == 0)
            c->watched = 1;
        else
            client_close(c);
    }
}

/* ---- what an exchange reports ----------------------------------------------------- */

static void release_slot(lb_client *c);

static void x_update(void *client)
{
    client_masks(client);
}

static void x_done(void *client, int keep)
{
    lb_client *c = client;
    lb_clients *cs = c->cs;
    c->x = NULL;
    release_slot(c);
    if (!keep || cs->draining) {
        client_close(c);
        return;
    }
    c->state = CL_IDLE;
    if (!c->peer.nodelay) { /* a second answer could wait behind an unacknowledged first */
        c->peer.nodelay = 1;
        lb_net_set_nodelay(c->peer.fd);
    }
    if (lb_buf_len(&c->in) == 0) {
        lb_blocks_put(cs->blocks, &c->in);
        client_deadline(c, cs->cfg->idle_timeout_ms);
        client_masks(c);
        return;
    }
    c->head_seen = 1;
    client_deadline(c, cs->cfg->header_timeout_ms);
    client_masks(c);
    client_try_head(c);
}

static void x_refuse(void *client, int status)
{
    lb_client *c = client;
    c->x = NULL;
    client_reply(c, status == 500   ? reply_500
                    : status == 413 ? reply_413
                    : status == 431 ? reply_431
                                    : reply_400);
}

static void x_abort(void *client)
{
    lb_client *c = client;
    c->x = NULL;
    c->cs->st.aborted++;
    client_close(c);
}

static const lb_exchange_hooks exchange_hooks = {x_update, x_done, x_refuse, x_abort};

/* ---- slots and the queue ---------------------------------------------------------- */

static void release_slot(lb_client *c)
{
    lb_clients *cs = c->cs;
    if (!c->in_slot)
        return;
    c->in_slot = 0;
    cs->in_flight--;
    if (lb_queue_len(&cs->queue) > 0 && !lb_timer_active(&cs->dispatch_timer))
        lb_timer_start(cs->loop, &cs->dispatch_timer, 0);
}

static void start_request(lb_client *c)
{
    c->in_slot = 1;
    c->cs->in_flight++;
    c->state = CL_ACTIVE;
    c->deadline = 0; /* the backend connection's deadline runs now */
    lb_exchange_start(c->x);
}

static void dispatch_fired(lb_loop *loop, lb_timer *timer, void *data)
{
    lb_clients *cs = data;
    while (cs->in_flight < cs->cfg->parallel) {
        lb_queue_node *n = lb_queue_pop(&cs->queue);
        if (!n)
            break;
        start_request((lb_client *)((char *)n - offsetof(lb_client, qnode)));
    }
}

/* ---- closing and canned answers --------------------------------------------------- */

/* The client's request (if any) ends with it: its exchange and slot go. */
static void client_drop_request(lb_client *c)
{
    if (c->x) {
        lb_exchange_abandon(c->x);
        c->x = NULL;
    }
    release_slot(c);
    lb_queue_remove(&c->cs->queue, &c->qnode);
}

static void client_close(lb_client *c)
{
    lb_clients *cs = c->cs;
    if (c->state == CL_CLOSED)
        return;
    client_drop_request(c);
    lb_timer_stop(cs->loop, &c->timer);
    /* Bytes sent with MSG_MORE go out with the FIN. shutdown() first, not close() alone:
     * a close with unread bytes in the socket (a client that sent on after its
     * `Connection: close`) would reset the connection and drop queued bytes unsent. */
    if (c->peer.corked)
        shutdown(c->peer.fd, SHUT_WR);
    lb_loop_close(cs->loop, c->peer.fd); /* no epoll_ctl(DEL): the close removes it */
    c->peer.fd = -1;
    c->state = CL_CLOSED;
    if (c->prev)
        c->prev->next = c->next;
    else
        cs->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    cs->st.clients_now--;
    c->zombie_next = cs->zombies;
    cs->zombies = c;
    if (cs->on_close)
        cs->on_close(cs->on_close_data);
}

static void client_flush_reply(lb_client *c)
{
    while (c->reply_off < c->reply_len) {
        ssize_t n =
            send(c->peer.fd, c->reply + c->reply_off, c->reply_len - c->reply_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            client_close(c);
            return;
        }
        c->reply_off += (size_t)n;
    }
    shutdown(c->peer.fd, SHUT_WR);
    c->state = CL_LINGER;
    client_deadline(c, LB_LINGER_MS);
    client_masks(c);
}

static void client_reply(lb_client *c, const char *reply)
{
    lb_clients *cs = c->cs;
    client_drop_request(c);
    if (reply == reply_500)
        cs->st.replies_500++;
    else if (reply == reply_503)
        cs->st.replies_503++;
    else
        cs->st.replies_4xx++;
    c->state = CL_REPLY;
    c->reply = reply;
    c->reply_len = strlen(reply);
    c->reply_off = 0;
    client_deadline(c, cs->cfg->server_timeout_ms);
    client_flush_reply(c);
    if (c->state == CL_REPLY)
        client_masks(c);
}

static void client_linger_read(lb_client *c)
{
    char sink[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t n = recv(c->peer.fd, sink, sizeof sink, 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        break;
    }
    client_close(c);
}

/* ---- request heads ---------------------------------------------------------------- */

/* The buffer holds bytes of a head: its exchange frames them. A framed head starts at
 * once when a slot is free, else it waits in the queue. */
static void client_try_head(lb_client *c)
{
    lb_clients *cs = c->cs;
    if (lb_buf_len(&c->in) == 0)
        return;
    if (!c->x && !(c->x = lb_exchange_new(cs->xs, &exchange_hooks, &c->peer))) {
        client_close(c); /* out of memory */
        return;
    }
    if (lb_exchange_head(c->x) <= 0)
        return; /* more to read, or refused (the exchange has ended) */
    c->keep_alive = lb_exchange_keep_alive(c->x);
    c->head_seen = 0;
    c->deadline = 0;
    if (cs->in_flight < cs->cfg->parallel && lb_queue_len(&cs->queue) == 0) {
        start_request(c);
        return;
    }
    if (cs->cfg->max_queue && lb_queue_len(&cs->queue) >= (size_t)cs->cfg->max_queue) {
        client_reply(c, reply_503);
        return;
    }
    c->state = CL_QUEUED;
    cs->st.queued++;
    lb_queue_push(&cs->queue, &c->qnode);
    client_deadline(c, cs->cfg->queue_timeout_ms);
    client_masks(c);
}

static void client_read_head(lb_client *c)
{
    lb_clients *cs = c->cs;
    ssize_t n = lb_blocks_read(cs->blocks, &c->in, c->peer.fd, (size_t)cs->cfg->max_head);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
        client_close(c);
        return;
    }
    if (n < 0) {
        client_masks(c);
        return;
    }
    /* The header deadline runs from the head's first byte; a head that is whole at once
     * (the usual case) never needs it. */
    int first = !c->head_seen;
    c->head_seen = 1;
    client_try_head(c);
    if (c->state != CL_IDLE)
        return;
    if (first && c->head_seen)
        client_deadline(c, cs->cfg->header_timeout_ms);
    client_masks(c);
}

/* ACTIVE: body bytes for the exchange, or, once the request is whole, the read-ahead of a
 * pipelined request or the client's EOF. */
static void client_read_active(lb_client *c)
{
    ssize_t n = lb_blocks_read(c->cs->blocks, &c->in, c->peer.fd, LB_WINDOW);
    if (n < 0 && errno == EAGAIN)
        return;
    if (lb_exchange_request_done(c->x)) {
        if (n < 0) {
            c->cs->st.aborted++;
            client_close(c);
            return;
        }
        if (n == 0)
            c->rd_eof = 1; /* answer, serve what is buffered, then close */
        client_masks(c);
        return;
    }
    if (n <= 0) { /* the client left before its request was whole, or ended its tunnel */
        if (!lb_exchange_tunneling(c->x))
            c->cs->st.aborted++;
        client_close(c);
        return;
    }
    lb_exchange_client_input(c->x);
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
            client_close(c);
        break;
    case CL_ACTIVE:
        if (events & LB_EV_WRITE)
            lb_exchange_client_writable(c->x);
        if (c->state == CL_ACTIVE && (events & (LB_EV_READ | LB_EV_ERROR))) {
            if (lb_exchange_request_done(c->x) && (events & LB_EV_ERROR)) {
                c->cs->st.aborted++;
                client_close(c);
            } else {
                client_read_active(c);
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
    if (!c->deadline)
        return; /* armed for an earlier state that had a deadline */
    int64_t left = c->deadline - lb_loop_now(loop);
    if (left > 0) {
        lb_timer_start(loop, timer, left); /* the deadline moved later meanwhile */
        return;
    }
    c->deadline = 0;
    if (c->state == CL_QUEUED)
        client_reply(c, reply_503);
    else if (c->state == CL_IDLE && c->head_seen)
        client_reply(c, reply_408);
    else
        client_close(c);
}

/* ---- the set ---------------------------------------------------------------------- */

lb_clients *lb_clients_create(lb_loop *loop, const lb_config *cfg, lb_exchanges *xs,
                              lb_blocks *blocks, void (*on_close)(void *data), void *data)
{
    lb_clients *cs = calloc(1, sizeof *cs);
    if (!cs)
        return NULL;
    cs->loop = loop;
    cs->cfg = cfg;
    cs->xs = xs;
    cs->blocks = blocks;
    cs->on_close = on_close;
    cs->on_close_data = data;
    lb_queue_init(&cs->queue);
    lb_timer_init(&cs->dispatch_timer, dispatch_fired, cs);
    return cs;
}

/* A client struct: a spare one when there is one (a connection per request then costs no
 * allocation), else a new one. Zeroed either way. */
static lb_client *client_alloc(lb_clients *cs)
{
    lb_client *c = cs->spare;
    if (!c)
        return calloc(1, sizeof *c);
    cs->spare = c->zombie_next;
    cs->nspare--;
    memset(c, 0, sizeof *c);
    return c;
}

void lb_clients_accept(lb_clients *cs, int fd)
{
    lb_client *c = client_alloc(cs);
    if (!c) {
        close(fd);
        return;
    }
    c->cs = cs;
    c->peer = (lb_exchange_peer){.client = c, .fd = fd, .in = &c->in};
    c->state = CL_IDLE;
    lb_timer_init(&c->timer, client_timeout, c);
    c->next = cs->clients;
    if (cs->clients)
        cs->clients->prev = c;
    cs->clients = c;
    cs->st.clients_now++;
    cs->st.accepted++;
    client_read_head(c); /* speculative: the request often came with the connection */
    if (c->state == CL_IDLE && !c->deadline) /* nothing yet: the head has until then */
        client_deadline(c, cs->cfg->header_timeout_ms);
}

int lb_clients_count(const lb_clients *cs)
{
    return cs->st.clients_now;
}

void lb_clients_drain(lb_clients *cs)
{
    cs->draining = 1;
    lb_client *c = cs->clients;
    while (c) {
        lb_client *next = c->next;
        if (c->state == CL_IDLE && lb_buf_len(&c->in) == 0)
            client_close(c);
        c = next;
    }
}

void lb_clients_reap(lb_clients *cs)
{
    while (cs->zombies) {
        lb_client *c = cs->zombies;
        cs->zombies = c->zombie_next;
        lb_blocks_put(cs->blocks, &c->in);
        lb_buf_free(&c->in);
        if (cs->nspare < LB_SPARE_CLIENTS) {
            c->zombie_next = cs->spare;
            cs->spare = c;
            cs->nspare++;
        } else {
            free(c);
        }
    }
}

const lb_client_counters *lb_clients_counters(lb_clients *cs)
{
    cs->st.in_flight_now = cs->in_flight;
    cs->st.queue_now = (int)lb_queue_len(&cs->queue);
    return &cs->st;
}

void lb_clients_destroy(lb_clients *cs)
{
    if (!cs)
        return;
    cs->on_close = NULL; /* closing clients must not call back into a proxy going away */
    while (cs->clients)
        client_close(cs->clients);
    lb_clients_reap(cs);
    lb_timer_stop(cs->loop, &cs->dispatch_timer);
    while (cs->spare) {
        lb_client *c = cs->spare;
        cs->spare = c->zombie_next;
        free(c);
    }
    free(cs);
}
