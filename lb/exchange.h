/* exchange.h - one request's life and its one owner: from the first byte of its head to
 * the last byte of its answer.
 *
 * An exchange frames the request (head, limits, body, where the next pipelined one
 * starts), edits its connection fields, chooses a backend and retries on another (it keeps
 * the tried set and the retry budget), relays the request out and the answer back (framed,
 * copied or spliced), and keeps the body counters of both. It is created by a client (the
 * client module) that lends it a peer: the client socket, for the answer, and the buffer
 * the client reads into, for the request. It borrows a backend connection from the
 * upstream module and hears from it through hooks.
 *
 * Calls run one way: client -> exchange -> upstream. An exchange reports to its client
 * only through its hooks. Every hook but update ends the exchange: after it, the client's
 * pointer is no longer valid, and the exchange's code returns without touching it. A
 * client that goes first calls lb_exchange_abandon. Ended exchanges are freed by
 * lb_exchanges_reap, so a pointer held during a callback stays valid until it returns.
 * Return conventions are on each function; nothing here allocates per request once the
 * free lists are warm.
 */
#ifndef LB_EXCHANGE_H
#define LB_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "buf.h"
#include "checker.h"
#include "config.h"
#include "loop.h"
#include "policy.h"
#include "upstream.h"

#define LB_WINDOW 16384 /* relay window per direction, and the buffer block size */

typedef struct lb_exchanges lb_exchanges;
typedef struct lb_exchange lb_exchange;

/* The client side of an exchange, lent by the client for the exchange's whole life. */
typedef struct lb_exchange_peer {
    void *client; /* handed back in every hook */
    int fd;       /* the client socket: the answer is written to it */
    lb_buf *in;   /* what the client sent: this request from its start, then what follows */
    int nodelay;  /* TCP_NODELAY is on (the exchange sets it when an answer takes two writes) */
    int corked;   /* bytes went with MSG_MORE: the connection must end with shutdown() */
} lb_exchange_peer;

/* How an exchange reports to its client. */
typedef struct lb_exchange_hooks {
    /* What the exchange wants from the client socket changed (lb_exchange_wants). */
    void (*update)(void *client);
    /* The answer went out whole; keep: the client's connection may carry the next request
     * (whose bytes, if any, are in the buffer); else it is to be closed. */
    void (*done)(void *client, int keep);
    /* No answer byte went out and none will: the client gets the canned answer for status
     * (400, 413, 431, 500) and a close. */
    void (*refuse)(void *client, int status);
    /* Part of the answer went out and the rest cannot follow, or the client socket failed:
     * the client's connection is to be closed. */
    void (*abort)(void *client);
} lb_exchange_hooks;

/* Counters for /stats; monotonic. */
typedef struct lb_exchange_counters {
    uint64_t requests;      /* request heads framed */
    uint64_t responses;     /* answers relayed whole */
    uint64_t retries;       /* requests sent again to another backend */
    uint64_t pool_reuses;   /* requests sent on a pooled backend connection */
    uint64_t spliced_bytes; /* answer body bytes moved by splice(2) */
} lb_exchange_counters;

/* The loop's exchanges. Everything is borrowed and must outlive them. Returns NULL on
 * ENOMEM. */
lb_exchanges *lb_exchanges_create(lb_loop *loop, const lb_config *cfg, lb_backend_table *t,
                                  lb_policy *policy, lb_upstreams *us, lb_blocks *blocks);
/* Frees every exchange (clients must have ended or abandoned theirs) and the free lists. */
void lb_exchanges_destroy(lb_exchanges *xs);
/* Forwarded requests are counted to this checker (every R-th starts a round). */
void lb_exchanges_set_checker(lb_exchanges *xs, lb_checker *checker);
/* b was judged down: idempotent requests on it that have received nothing and still hold
 * their bytes move to another healthy backend at once. */
void lb_exchanges_backend_down(lb_exchanges *xs, lb_backend *b);
/* A drain: each answer from now on ends its client's connection. */
void lb_exchanges_drain(lb_exchanges *xs);
/* Frees ended exchanges; with no client left, also closes the spare splice pipes. Called
 * when no callback of this loop is running. */
void lb_exchanges_reap(lb_exchanges *xs, int no_clients);
const lb_exchange_counters *lb_exchanges_counters(const lb_exchanges *xs);

/* A new exchange for the request whose first bytes are at the start of peer->in. Returns
 * it, or NULL on ENOMEM. */
lb_exchange *lb_exchange_new(lb_exchanges *xs, const lb_exchange_hooks *hooks,
                             lb_exchange_peer *peer);
/* Frames the request head from the buffer (call again as bytes arrive). Returns 1 when the
 * head is framed (lb_exchange_start may follow), 0 when more bytes are needed, -1 when the
 * request was refused through the refuse hook (the exchange has ended). */
int lb_exchange_head(lb_exchange *x);
/* The client's own wish, from the framed head: 1 when its connection may go on. */
int lb_exchange_keep_alive(const lb_exchange *x);
/* Chooses a backend and relays (the client holds one of the -N slots now). */
void lb_exchange_start(lb_exchange *x);
/* The client read more bytes into its buffer. */
void lb_exchange_client_input(lb_exchange *x);
/* The client socket takes bytes. */
void lb_exchange_client_writable(lb_exchange *x);
/* What the exchange wants from the client socket: LB_EV_READ while request bytes are
 * missing, LB_EV_WRITE while answer bytes wait for it. */
int lb_exchange_wants(const lb_exchange *x);
/* 1 once every byte of the request is in the buffer. */
int lb_exchange_request_done(const lb_exchange *x);
/* The client goes first: the backend connection (if any) is closed, the exchange ends. */
void lb_exchange_abandon(lb_exchange *x);

#endif
