/* upstream.c - backend connections: non-blocking connect, the idle keep-alive pool, close.
 *
 * States: CONNECTING (deadline --connect-timeout; the owner may try its first bytes at once,
 * see lb_upstream_send) -> ACTIVE (lent to one owner; deadline
 * --server-timeout of inactivity) -> IDLE in its backend's pool (deadline LB_POOL_IDLE_MS,
 * watched for reading: any byte or EOF from an idle backend connection means it is no
 * longer usable and it is closed) -> CLOSED (freed by lb_upstreams_reap, so a pointer held
 * during a callback stays valid until the callback returns).
 * The pool is LIFO: the most recently used connection is the likeliest to be alive and
 * warm. Every deadline is lazy: I/O, a take from the pool and a release into it only stamp
 * last_io_ms (the loop's time of the round, no clock read) and the timer, armed no later
 * than the state's deadline (up_deadline), restarts for what is left when it fires early.
 * So relaying a byte, taking a pooled connection and pooling it again never touch the
 * timer heap: the timer fires about once per --server-timeout per connection instead.
 * Calls run one way: this module reports to a connection's owner through its hooks only.
 */
#include "upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

#define LB_POOL_IDLE_MS 30000 /* an idle pooled backend connection is closed after this */

enum { UP_CONNECTING, UP_ACTIVE, UP_IDLE, UP_CLOSED };

struct lb_upstream {
    lb_upstreams *us;
    lb_backend *be;
    int fd;
    int state;
    int reused;    /* taken from the pool for this owner */
    int watched;   /* registered with the loop (lazily: see lb_upstream_want) */
    int nodelay;   /* TCP_NODELAY is on (lazily: see lb_upstream_send) */
    int sent_lent; /* a byte went out since the connection was lent to its owner */
    lb_timer timer;
    int64_t last_io_ms; /* last progress with the backend (server timeout), or when it was
                         * pooled (pool idle limit), or when its connect began */
    int idle_ms;        /* inactivity limit of a tunnel (0: --server-timeout) */
    const lb_upstream_hooks *hooks;
    void *owner;
    lb_upstream *pool_next, *pool_prev;
    lb_upstream *zombie_next;
};

typedef struct pool {
    lb_upstream *head;
} pool;

struct lb_upstreams {
    lb_loop *loop;
    const lb_config *cfg;
    lb_backend_table *table;
    pool *pools; /* one per backend, by index */
    lb_upstream *zombies;
    int draining;
};

static void up_close(lb_upstream *up);

/* When the current state ends by the clock: the connect timeout, the server (or tunnel)
 * inactivity limit, the pool's idle limit. */
static int64_t up_deadline(const lb_upstream *up)
{
    const lb_config *cfg = up->us->cfg;
    switch (up->state) {
    case UP_CONNECTING:
        return up->last_io_ms + cfg->connect_timeout_ms;
    case UP_IDLE:
        return up->last_io_ms + LB_POOL_IDLE_MS;
    default:
        return up->last_io_ms + (up->idle_ms ? up->idle_ms : cfg->server_timeout_ms);
    }
}

/* A new state, or a new limit: the timer must fire no later than its deadline. */
static void up_arm(lb_upstream *up)
{
    lb_timer_arm_by(up->us->loop, &up->timer, up_deadline(up));
}

/* The connect finished (EPOLLOUT and SO_ERROR said so, or the kernel took early bytes). */
static void up_established(lb_upstream *up)
{
    up->state = UP_ACTIVE;
    up->last_io_ms = lb_loop_now(up->us->loop);
    up_arm(up);
}

static void up_io(lb_loop *loop, int fd, int events, void *data)
{
    lb_upstream *up = data;
    void *owner = up->owner;
    if (up->state == UP_IDLE) {
        up_close(up); /* a pooled connection spoke or closed: drop it */
        return;
    }
    if (up->state == UP_CLOSED || !owner)
        return;
    if (up->state == UP_CONNECTING) {
        if (lb_net_connect_result(fd) != 0) {
            up->hooks->failed(owner, LB_UP_CONNECT_FAILED);
            return;
        }
        up_established(up);
        up->hooks->connected(owner);
        return;
    }
    if (events & LB_EV_WRITE)
        up->hooks->writable(owner);
    /* The write may have ended the owner's use of the connection (a failed send). */
    if ((events & (LB_EV_READ | LB_EV_ERROR)) && up->owner == owner && up->state == UP_ACTIVE)
        up->hooks->readable(owner);
}

static void up_timeout(lb_loop *loop, lb_timer *timer, void *data)
{
    lb_upstream *up = data;
    int64_t left = up_deadline(up) - lb_loop_now(loop);
    if (left > 0) { /* moved later since the timer was armed */
        lb_timer_start(loop, &up->timer, left);
        return;
    }
    if (up->state == UP_IDLE || !up->owner) {
        up_close(up);
        return;
    }
    up->hooks->failed(up->owner, up->state == UP_CONNECTING ? LB_UP_CONNECT_FAILED : LB_UP_TIMEOUT);
}

/* ---- the set ---------------------------------------------------------------------- */

lb_upstreams *lb_upstreams_create(lb_loop *loop, const lb_config *cfg, lb_backend_table *t)
{
    lb_upstreams *us = calloc(1, sizeof *us);
    if (!us || !(us->pools = calloc((size_t)(t->cap > 0 ? t->cap : 1), sizeof *us->pools))) {
        free(us);
        return NULL;
    }
    us->loop = loop;
    us->cfg = cfg;
    us->table = t;
    return us;
}

void lb_upstreams_flush(lb_upstreams *us, lb_backend *b)
{
    pool *p = &us->pools[b->index];
    while (p->head)
        up_close(p->head);
}

void lb_upstreams_drain(lb_upstreams *us)
{
    us->draining = 1;
    for (int i = 0; i < us->table->n; i++)
        lb_upstreams_flush(us, &us->table->v[i]);
}

void lb_upstreams_reap(lb_upstreams *us)
{
    while (us->zombies) {
        lb_upstream *up = us->zombies;
        us->zombies = up->zombie_next;
        free(up);
    }
}

void lb_upstreams_destroy(lb_upstreams *us)
{
    if (!us)
        return;
    for (int i = 0; i < us->table->n; i++)
        lb_upstreams_flush(us, &us->table->v[i]);
    lb_upstreams_reap(us);
    free(us->pools);
    free(us);
}

/* ---- the pool --------------------------------------------------------------------- */

static void pool_unlink(lb_upstream *up)
{
    pool *p = &up->us->pools[up->be->index];
    if (up->pool_prev)
        up->pool_prev->pool_next = up->pool_next;
    else
        p->head = up->pool_next;
    if (up->pool_next)
        up->pool_next->pool_prev = up->pool_prev;
    up->pool_next = up->pool_prev = NULL;
    lb_backend_note_pooled(up->be, -1);
}

static void pool_push(lb_upstream *up)
{
    pool *p = &up->us->pools[up->be->index];
    up->state = UP_IDLE;
    up->pool_prev = NULL;
    up->pool_next = p->head;
    if (p->head)
        p->head->pool_prev = up;
    p->head = up;
    lb_backend_note_pooled(up->be, 1);
    lb_upstream_want(up, LB_EV_READ);
    up->last_io_ms = lb_loop_now(up->us->loop);
    up_arm(up);
}

lb_upstream *lb_upstream_take(lb_upstreams *us, lb_backend *b, const lb_upstream_hooks *hooks,
                              void *owner)
{
    lb_upstream *up = us->pools[b->index].head;
    if (!up)
        return NULL;
    pool_unlink(up);
    up->state = UP_ACTIVE;
    up->reused = 1;
    up->idle_ms = 0;
    up->sent_lent = 0;
    up->hooks = hooks;
    up->owner = owner;
    up->last_io_ms = lb_loop_now(us->loop);
    up_arm(up);
    return up;
}

void lb_upstream_release(lb_upstream *up, int reusable)
{
    lb_upstreams *us = up->us;
    up->owner = NULL;
    up->hooks = NULL;
    if (!reusable || up->state != UP_ACTIVE || up->be->pool_len >= us->cfg->pool_size ||
        !lb_backend_usable(up->be) || us->draining) {
        up_close(up);
        return;
    }
    pool_push(up);
}

void lb_upstream_tunnel(lb_upstream *up, int idle_ms)
{
    up->idle_ms = idle_ms;
    up->last_io_ms = lb_loop_now(up->us->loop);
    up_arm(up);
}

/* ---- one connection --------------------------------------------------------------- */

lb_upstream *lb_upstream_open(lb_upstreams *us, lb_backend *b, const lb_upstream_hooks *hooks,
                              void *owner)
{
    lb_upstream *up = calloc(1, sizeof *up);
    if (!up)
        return NULL;
    up->us = us;
    up->be = b;
    up->fd = lb_net_connect(&b->addr, NULL, 0);
    if (up->fd < 0) {
        free(up);
        return NULL;
    }
    up->state = UP_CONNECTING;
    up->hooks = hooks;
    up->owner = owner;
    up->last_io_ms = lb_loop_now(us->loop);
    lb_timer_init(&up->timer, up_timeout, up);
    up_arm(up);
    return up;
}

static void up_close(lb_upstream *up)
{
    lb_upstreams *us = up->us;
    if (up->state == UP_CLOSED)
        return;
    if (up->state == UP_IDLE)
        pool_unlink(up);
    up->owner = NULL;
    up->state = UP_CLOSED;
    lb_timer_stop(us->loop, &up->timer);
    lb_loop_close(us->loop, up->fd); /* no epoll_ctl(DEL): the close removes it */
    up->fd = -1;
    up->zombie_next = us->zombies;
    us->zombies = up;
}

int lb_upstream_ready(const lb_upstream *up)
{
    return up->state == UP_ACTIVE;
}

int lb_upstream_reused(const lb_upstream *up)
{
    return up->reused;
}

void lb_upstream_want(lb_upstream *up, int mask)
{
    lb_loop *loop = up->us->loop;
    if (up->state == UP_CLOSED)
        return;
    if (!up->watched) {
        /* The first wait of a new connection registers it (one epoll_ctl, with the mask it
         * needs). Should that fail, the connection's deadline still ends the wait. */
        up->watched = lb_loop_watch(loop, up->fd, mask, up_io, up) == 0;
        return;
    }
    if (lb_loop_mask(loop, up->fd) != mask)
        lb_loop_set_mask(loop, up->fd, mask);
}

/* TCP_NODELAY is set lazily, before the second send of one owner's use: the first send
 * of a request never waits for Nagle (whatever the connection sent before was acknowledged
 * by the answer it got), a later small piece could wait for the backend's delayed ACK. A
 * request sent in one write (every GET) costs no socket option call. */
ssize_t lb_upstream_send(lb_upstream *up, const char *p, size_t n)
{
    ssize_t r;
    if (up->sent_lent && !up->nodelay) {
        up->nodelay = 1;
        lb_net_set_nodelay(up->fd);
    }
    do {
        r = send(up->fd, p, n, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    if (r > 0 && up->state == UP_CONNECTING)
        up_established(up); /* early bytes taken: the connect is done */
    else if (r > 0)
        up->last_io_ms = lb_loop_now(up->us->loop);
    up->sent_lent |= r > 0;
    return r;
}

ssize_t lb_upstream_read(lb_upstream *up, lb_blocks *bl, lb_buf *b, size_t limit)
{
    ssize_t r = lb_blocks_read(bl, b, up->fd, limit);
    if (r > 0)
        up->last_io_ms = lb_loop_now(up->us->loop);
    return r;
}

ssize_t lb_upstream_splice(lb_upstream *up, int pipe_wr, size_t n)
{
    ssize_t r = splice(up->fd, NULL, pipe_wr, NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (r > 0)
        up->last_io_ms = lb_loop_now(up->us->loop);
    return r;
}

int lb_upstream_has_more(lb_upstream *up)
{
    char byte;
    return recv(up->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN;
}
