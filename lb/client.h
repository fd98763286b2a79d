/* client.h - client connections: each socket's state machine, from accept to close.
 *
 * One lb_clients per event loop owns every client connection of that loop: it reads heads
 * and bodies, holds the -N slots and the FIFO queue beyond them, answers what the balancer
 * answers itself (the 500, 4xx refusals, the 503, the 408) and runs a deadline in every
 * state. Each request is handed to an exchange (exchange.h), which the client drives and
 * which reports back through hooks. Ownership: the set owns its clients and their buffers;
 * cfg, exchanges and blocks are borrowed and must outlive it. Closed clients are freed by
 * lb_clients_reap, never inside their own callbacks.
 */
#ifndef LB_CLIENT_H
#define LB_CLIENT_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "exchange.h"
#include "loop.h"

typedef struct lb_clients lb_clients;

/* Counters for /stats; monotonic unless named "now". */
typedef struct lb_client_counters {
    uint64_t accepted;    /* client connections */
    uint64_t replies_500; /* the contract's 500: no backend accepted or answered */
    uint64_t replies_4xx; /* requests refused (unframeable, limits, timeouts) */
    uint64_t replies_503; /* queue timeouts and queue overflow */
    uint64_t aborted;     /* client connections closed mid-answer */
    uint64_t queued;      /* requests that had to wait beyond -N */
    int clients_now, in_flight_now, queue_now;
} lb_client_counters;

/* Returns the set, or NULL on ENOMEM. on_close(data) runs after each client is closed
 * (the listener may resume, a drain may end). */
lb_clients *lb_clients_create(lb_loop *loop, const lb_config *cfg, lb_exchanges *xs,
                              lb_blocks *blocks, void (*on_close)(void *data), void *data);
/* Closes every client (their exchanges are abandoned) and frees the set. */
void lb_clients_destroy(lb_clients *cs);
/* A new connection; its first read is tried at once (with deferred accept the request
 * usually came with it). On ENOMEM the socket is closed. */
void lb_clients_accept(lb_clients *cs, int fd);
/* Clients open now. */
int lb_clients_count(const lb_clients *cs);
/* A drain: idle clients are closed now, the others after their answer. */
void lb_clients_drain(lb_clients *cs);
/* Frees closed clients; called when no callback of this loop is running. */
void lb_clients_reap(lb_clients *cs);
const lb_client_counters *lb_clients_counters(lb_clients *cs);

#endif
