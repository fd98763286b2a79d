/* proxy.h - one event loop's balancer: the listener and the data path's parts, wired.
 *
 * One lb_proxy per event loop. It owns the listening socket and the loop's three data-path
 * sets, created in the order calls run: clients (client.h) drive exchanges (exchange.h),
 * which borrow backend connections (upstream.h); and the buffer blocks they share. It
 * borrows the config, backend table, policy and checker, which must outlive it. Functions
 * return 0 or -1 (with a reason in err) unless they say otherwise.
 */
#ifndef LB_PROXY_H
#define LB_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "checker.h"
#include "config.h"
#include "loop.h"
#include "policy.h"

typedef struct lb_proxy lb_proxy;

/* Counters for /stats and /metrics; monotonic unless named "now". */
typedef struct lb_proxy_counters {
    uint64_t accepted;      /* client connections */
    uint64_t requests;      /* request heads parsed */
    uint64_t responses;     /* responses relayed completely */
    uint64_t replies_500;   /* the contract's 500: no backend accepted or answered */
    uint64_t replies_4xx;   /* requests refused (unframeable, limits, timeouts) */
    uint64_t replies_503;   /* queue timeouts and queue overflow */
    uint64_t retries;       /* requests sent again to another backend */
    uint64_t pool_reuses;   /* requests sent on a pooled backend connection */
    uint64_t aborted;       /* client connections closed mid-answer */
    uint64_t queued;        /* requests that had to wait beyond -N */
    uint64_t spliced_bytes; /* response body bytes relayed by splice(2), never copied */
    uint64_t tunnels;       /* upgraded connections relayed after a 101 */
    int clients_now, in_flight_now, queue_now;
} lb_proxy_counters;

/* Binds the listener on cfg->listen_port, with SO_REUSEPORT when cfg->threads > 1
 * (nothing accepted until lb_proxy_start_accepting). Returns the proxy or NULL with a
 * one-line reason in err. */
lb_proxy *lb_proxy_create(lb_loop *loop, const lb_config *cfg, lb_backend_table *table,
                          lb_policy *policy, char *err, size_t errlen);
/* The checker that forwarded requests are reported to (may be set after create). */
void lb_proxy_set_checker(lb_proxy *px, lb_checker *checker);
/* The bound port. */
int lb_proxy_port(const lb_proxy *px);
/* Starts accepting clients (after the first health-check round). */
void lb_proxy_start_accepting(lb_proxy *px);
/* A backend was judged by a health probe: when it went down, its idle connections are
 * closed and its untouched idempotent requests move to another backend. */
void lb_proxy_backend_judged(lb_proxy *px, lb_backend *b, int healthy);
/* b was drained or is being removed (lb/admin.h): its idle connections are closed; its
 * requests in flight go on. */
void lb_proxy_backend_drained(lb_proxy *px, lb_backend *b);
/* SIGTERM: stops accepting, closes idle clients, lets requests in flight finish within
 * --drain-timeout, then stops the loop. */
void lb_proxy_drain(lb_proxy *px);
/* Thread-safe: asks the proxy's loop (woken with lb_loop_wake) to start a drain. */
void lb_proxy_request_drain(lb_proxy *px);
const lb_proxy_counters *lb_proxy_counters_get(lb_proxy *px);
/* Closes every connection and the listener, frees everything. */
void lb_proxy_destroy(lb_proxy *px);

#endif
