/* proxy.c - the listener, and the life cycle of one loop's data path.
 *
 * The listener accepts in batches (64 per readiness) and hands each socket to the client
 * set. It pauses when --max-conns clients are open (resumed as one closes) and, for
 * 100 ms, when accept fails for lack of fds or memory, instead of spinning.
 * TCP_DEFER_ACCEPT (unless --defer-accept=0): a connection arrives with its request, so the
 * accept and the first read happen in one wake-up and the client's handshake ACK wakes
 * nobody; a connection that stays silent is handed over about a second later anyway.
 * Life cycle: the three sets (clients -> exchanges -> upstreams) are created in that
 * order of calls and destroyed in the reverse; nothing is freed inside a callback: the
 * loop's before-sleep hook reaps closed clients, ended exchanges and closed backend
 * connections. A drain (SIGTERM) closes the listener at once, then idle clients and idle
 * backend connections, and stops the loop when the last client is gone or at
 * --drain-timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "client.h"
#include "exchange.h"
#include "net.h"
#include "proxy.h"
#include "upstream.h"

#define LB_FREE_BLOCKS 1024 /* buffer blocks kept for reuse */

struct lb_proxy {
    lb_loop *loop;
    const lb_config *cfg;
    lb_backend_table *table;
    int listen_fd;
    int accepting, paused;
    lb_timer resume_timer;
    lb_blocks blocks;
    lb_upstreams *ups;
    lb_exchanges *xs;
    lb_clients *cs;
    int draining;
    volatile int drain_requested; /* set from another thread (--threads) */
    lb_timer drain_timer;
    lb_proxy_counters st;
};

/* ---- the listener ----------------------------------------------------------------- */

static void set_listen_mask(lb_proxy *px, int mask)
{
    if (lb_loop_mask(px->loop, px->listen_fd) != mask)
        lb_loop_set_mask(px->loop, px->listen_fd, mask);
}

static void pause_accept(lb_proxy *px, int64_t ms)
{
    px->paused = 1;
    set_listen_mask(px, 0);
    if (ms > 0)
        lb_timer_start(px->loop, &px->resume_timer, ms);
}

static void maybe_resume_accept(lb_proxy *px)
{
    if (px->paused && px->accepting && !px->draining &&
        lb_clients_count(px->cs) < px->cfg->max_conns && !lb_timer_active(&px->resume_timer)) {
        px->paused = 0;
        set_listen_mask(px, LB_EV_READ);
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
        if (lb_clients_count(px->cs) >= px->cfg->max_conns) {
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
        lb_clients_accept(px->cs, cfd);
    }
}

/* A client was closed: the listener may resume, a drain may be over. */
static void client_closed(void *data)
{
    lb_proxy *px = data;
    maybe_resume_accept(px);
    if (px->draining && lb_clients_count(px->cs) == 0)
        lb_loop_stop(px->loop);
}

/* ---- life cycle ------------------------------------------------------------------- */

static void before_sleep(lb_loop *loop, void *data)
{
    lb_proxy *px = data;
    if (__atomic_load_n(&px->drain_requested, __ATOMIC_ACQUIRE) && !px->draining)
        lb_proxy_drain(px);
    lb_clients_reap(px->cs);
    lb_exchanges_reap(px->xs, lb_clients_count(px->cs) == 0);
    lb_upstreams_reap(px->ups);
}

static void drain_fired(lb_loop *loop, lb_timer *timer, void *data)
{
    lb_loop_stop(loop);
}

/* The data path's sets, in the order calls run through them. Returns 0 or -1. */
static int create_parts(lb_proxy *px, lb_policy *policy)
{
    if (lb_blocks_init(&px->blocks, LB_FREE_BLOCKS, LB_WINDOW) < 0 ||
        !(px->ups = lb_upstreams_create(px->loop, px->cfg, px->table)) ||
        !(px->xs =
              lb_exchanges_create(px->loop, px->cfg, px->table, policy, px->ups, &px->blocks)) ||
        !(px->cs = lb_clients_create(px->loop, px->cfg, px->xs, &px->blocks, client_closed, px)))
        return -1;
    return 0;
}

static void destroy_parts(lb_proxy *px)
{
    lb_clients_destroy(px->cs);
    lb_exchanges_destroy(px->xs);
    lb_upstreams_destroy(px->ups);
    if (px->blocks.v)
        lb_blocks_free(&px->blocks);
}

static int open_listener(lb_proxy *px, char *err, size_t errlen)
{
    const lb_config *cfg = px->cfg;
    px->listen_fd = lb_net_listen(NULL, cfg->listen_port, 4096, cfg->threads > 1, err, errlen);
    if (px->listen_fd < 0)
        return -1;
    if (cfg->defer_accept)
        lb_net_set_defer_accept(px->listen_fd, 1);
    if (lb_loop_watch(px->loop, px->listen_fd, 0, listener_io, px) < 0) {
        snprintf(err, errlen, "cannot watch the listener");
        close(px->listen_fd);
        px->listen_fd = -1;
        return -1;
    }
    return 0;
}

lb_proxy *lb_proxy_create(lb_loop *loop, const lb_config *cfg, lb_backend_table *table,
                          lb_policy *policy, char *err, size_t errlen)
{
    lb_proxy *px = calloc(1, sizeof *px);
    if (!px) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    px->loop = loop;
    px->cfg = cfg;
    px->table = table;
    px->listen_fd = -1;
    lb_timer_init(&px->resume_timer, resume_fired, px);
    lb_timer_init(&px->drain_timer, drain_fired, px);
    if (create_parts(px, policy) < 0) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    if (open_listener(px, err, errlen) < 0)
        goto error;
    lb_loop_set_before_sleep(loop, before_sleep, px);
    return px;
error:
    destroy_parts(px);
    free(px);
    return NULL;
}

void lb_proxy_set_checker(lb_proxy *px, lb_checker *checker)
{
    lb_exchanges_set_checker(px->xs, checker);
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
    set_listen_mask(px, LB_EV_READ);
}

void lb_proxy_backend_judged(lb_proxy *px, lb_backend *b, int healthy)
{
    if (healthy)
        return;
    lb_upstreams_flush(px->ups, b);
    lb_exchanges_backend_down(px->xs, b);
}

void lb_proxy_backend_drained(lb_proxy *px, lb_backend *b)
{
    lb_upstreams_flush(px->ups, b);
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
    lb_upstreams_drain(px->ups);
    lb_exchanges_drain(px->xs);
    lb_clients_drain(px->cs);
    if (lb_clients_count(px->cs) == 0)
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
    const lb_client_counters *c = lb_clients_counters(px->cs);
    const lb_exchange_counters *x = lb_exchanges_counters(px->xs);
    px->st = (lb_proxy_counters){
        .accepted = c->accepted,
        .requests = x->requests,
        .responses = x->responses,
        .replies_500 = c->replies_500,
        .replies_4xx = c->replies_4xx,
        .replies_503 = c->replies_503,
        .retries = x->retries,
        .pool_reuses = x->pool_reuses,
        .aborted = c->aborted,
        .queued = c->queued,
        .spliced_bytes = x->spliced_bytes,
        .tunnels = x->tunnels,
        .clients_now = c->clients_now,
        .in_flight_now = c->in_flight_now,
        .queue_now = c->queue_now,
    };
    return &px->st;
}

void lb_proxy_destroy(lb_proxy *px)
{
    if (!px)
        return;
    if (px->listen_fd >= 0) {
        lb_loop_unwatch(px->loop, px->listen_fd);
        close(px->listen_fd);
    }
    lb_timer_stop(px->loop, &px->resume_timer);
    lb_timer_stop(px->loop, &px->drain_timer);
    destroy_parts(px);
    lb_loop_set_before_sleep(px->loop, NULL, NULL);
    free(px);
}
