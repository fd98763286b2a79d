/* upstream.c - backend connections: non-blocking connect, the idle keep-alive pool, close.
 *
 * States: CONNECTING (deadline --connect-timeout) -> ACTIVE (attached to one client, the
 * relay's deadline --server-timeout) -> IDLE in its backend's pool (deadline
 * LB_POOL_IDLE_MS, watched for reading: any byte or EOF from an idle backend connection
 * means it is no longer usable and it is closed) -> CLOSED (freed before the loop sleeps).
 * The pool is LIFO: the most recently used connection is the likeliest to be alive and warm.
 * An idle connection holds no buffer memory.
 * Splice pipes (relay.c) are lent to a connection for one answer and come back empty to
 * the proxy's free list (LB_FREE_PIPES, no allocation per answer), or are closed when they
 * still hold bytes; the free list is closed whenever the last client is gone, so an idle
 * balancer, and lb_proxy_destroy (which closes every client first), holds no pipe.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "proxy_internal.h"

static void up_io(lb_loop *loop, int fd, int events, void *data)
{
    lb_upstream *up = data;
    lb_client *c = up->client;
    if (up->state == UP_IDLE) {
        up_close(up); /* a pooled connection spoke or closed: drop it */
        return;
    }
    if (up->state == UP_CLOSED || !c)
        return;
    if (up->state == UP_CONNECTING) {
        if (lb_net_connect_result(fd) != 0) {
            relay_fail(c, RELAY_CONNECT_FAILED);
            return;
        }
        up->state = UP_ACTIVE;
        lb_net_set_nodelay(fd);
        relay_connected(c);
        return;
    }
    if (events & LB_EV_WRITE)
        relay_push_request(c);
    if ((events & (LB_EV_READ | LB_EV_ERROR)) && c->up == up && up->state == UP_ACTIVE)
        relay_upstream_readable(c);
}

static void up_timeout(lb_loop *loop, lb_timer *timer, void *data)
{
    lb_upstream *up = data;
    if (up->state == UP_IDLE || !up->client) {
        up_close(up);
        return;
    }
    if (up->state == UP_ACTIVE) {
        /* Activity only stamps last_io_ms; the timer catches up here, so relaying a byte
         * never touches the timer heap. */
        int64_t left = up->last_io_ms + up->px->cfg->server_timeout_ms - lb_now_ms();
        if (left > 0) {
            lb_timer_start(loop, &up->timer, left);
            return;
        }
    }
    relay_fail(up->client, up->state == UP_CONNECTING ? RELAY_CONNECT_FAILED : RELAY_TIMEOUT);
}

void up_reset_response(lb_upstream *up)
{
    up->head_done = up->done = up->eof = up->got_bytes = up->extra = 0;
    up->body_left = up->body_seen = 0;
    up->pending = 0;
    up->pipe_full = up->no_splice = 0;
    up->parsed_len = 0;
    lb_chunked_init(&up->ch);
}

lb_upstream *up_connect(lb_proxy *px, lb_backend *be)
{
    lb_upstream *up = calloc(1, sizeof *up);
    if (!up)
        return NULL;
    up->px = px;
    up->be = be;
    up->fd = lb_net_connect(&be->addr, NULL, 0);
    if (up->fd < 0) {
        free(up);
        return NULL;
    }
    if (lb_loop_watch(px->loop, up->fd, LB_EV_WRITE, up_io, up) < 0) {
        close(up->fd);
        free(up);
        return NULL;
    }
    up->state = UP_CONNECTING;
    lb_timer_init(&up->timer, up_timeout, up);
    lb_timer_start(px->loop, &up->timer, px->cfg->connect_timeout_ms);
    up_reset_response(up);
    return up;
}

static void pool_unlink(lb_upstream *up)
{
    lb_backend *be = up->be;
    if (up->pool_prev)
        up->pool_prev->pool_next = up->pool_next;
    else
        be->pool = up->pool_next;
    if (up->pool_next)
        up->pool_next->pool_prev = up->pool_prev;
    up->pool_next = up->pool_prev = NULL;
    be->pool_len--;
}

lb_upstream *up_pool_take(lb_proxy *px, lb_backend *be)
{
    lb_upstream *up = be->pool;
    if (!up)
        return NULL;
    pool_unlink(up);
    up->state = UP_ACTIVE;
    up->reused = 1;
    up_reset_response(up);
    lb_timer_stop(px->loop, &up->timer);
    return up;
}

void up_pool_put(lb_upstream *up)
{
    lb_proxy *px = up->px;
    lb_backend *be = up->be;
    up->client = NULL;
    if (be->pool_len >= px->cfg->pool_size || !be->up || px->draining || up->eof ||
        lb_buf_len(&up->in) != 0) {
        up_close(up);
        return;
    }
    px_buf_put(px, &up->in);
    up->state = UP_IDLE;
    up->pool_prev = NULL;
    up->pool_next = be->pool;
    if (be->pool)
        be->pool->pool_prev = up;
    be->pool = up;
    be->pool_len++;
    px_set_mask(px, up->fd, LB_EV_READ);
    lb_timer_start(px->loop, &up->timer, LB_POOL_IDLE_MS);
}

void up_close(lb_upstream *up)
{
    lb_proxy *px = up->px;
    if (up->state == UP_CLOSED)
        return;
    if (up->state == UP_IDLE)
        pool_unlink(up);
    if (up->client && up->client->up == up)
        up->client->up = NULL;
    up->client = NULL;
    up->state = UP_CLOSED;
    up_pipe_put(up);
    lb_timer_stop(px->loop, &up->timer);
    lb_loop_close(px->loop, up->fd); /* no epoll_ctl(DEL): the close removes it */
    up->fd = -1;
    up->zombie_next = px->up_zombies;
    px->up_zombies = up;
}

void up_pool_flush(lb_proxy *px, lb_backend *be)
{
    while (be->pool)
        up_close(be->pool);
}

int up_pipe_take(lb_upstream *up)
{
    lb_proxy *px = up->px;
    if (px->npipes > 0) {
        up->pipe = px->pipes[--px->npipes];
        return 0;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    /* Over the per-user pipe quota the kernel refuses the size (EPERM) and the pipe keeps
     * what it got: ask for that instead of guessing. */
    int cap = fcntl(fds[1], F_SETPIPE_SZ, LB_PIPE_SIZE);
    if (cap < 0)
        cap = fcntl(fds[1], F_GETPIPE_SZ);
    if (cap <= 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    up->pipe = (lb_pipe){.rd = fds[0], .wr = fds[1], .cap = cap};
    return 0;
}

void up_pipe_put(lb_upstream *up)
{
    lb_proxy *px = up->px;
    if (!up->splicing)
        return;
    up->splicing = 0;
    up->pipe_full = 0;
    if (up->pending == 0 && px->npipes < LB_FREE_PIPES) {
        px->pipes[px->npipes++] = up->pipe;
    } else {
        close(up->pipe.rd);
        close(up->pipe.wr);
    }
    up->pipe = (lb_pipe){.rd = -1, .wr = -1, .cap = 0};
}

void up_free_zombies(lb_proxy *px)
{
    while (!px->clients && px->npipes > 0) {
        lb_pipe *p = &px->pipes[--px->npipes];
        close(p->rd);
        close(p->wr);
    }
    while (px->up_zombies) {
        lb_upstream *up = px->up_zombies;
        px->up_zombies = up->zombie_next;
        px_buf_put(px, &up->in);
        lb_buf_free(&up->in);
        free(up);
    }
}
