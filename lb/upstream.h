/* upstream.h - backend connections: non-blocking connect, I/O with a deadline, the pool.
 *
 * One lb_upstreams per event loop owns every backend connection of that loop: it opens
 * them, keeps the idle ones in a LIFO pool per backend and frees the closed ones before the
 * loop sleeps. A connection is lent to one owner (an exchange) from lb_upstream_open or
 * lb_upstream_take until the owner hands it back with lb_upstream_release; meanwhile it
 * reports to its owner only through the hooks the owner gave (calls run one way: the owner
 * calls this module, never the reverse). A connection holds no buffer: the owner reads
 * into its own. Functions return what they say; pointers stay valid until the loop's next
 * lb_upstreams_reap, so a connection released inside a callback may still be looked at.
 */
#ifndef LB_UPSTREAM_H
#define LB_UPSTREAM_H

#include <stddef.h>
#include <sys/types.h>

#include "backend.h"
#include "buf.h"
#include "config.h"
#include "loop.h"

typedef struct lb_upstreams lb_upstreams;
typedef struct lb_upstream lb_upstream;

enum {
    LB_UP_CONNECT_FAILED, /* refused, reset or --connect-timeout while connecting */
    LB_UP_TIMEOUT,        /* --server-timeout without progress on a connected one */
};

/* How a connection reports to its owner; owner is the pointer the owner lent it with. */
typedef struct lb_upstream_hooks {
    void (*connected)(void *owner);       /* the connect finished: the request may go */
    void (*failed)(void *owner, int why); /* LB_UP_*; the connection is still the owner's */
    void (*writable)(void *owner);        /* the socket takes bytes */
    void (*readable)(void *owner);        /* bytes, an EOF or an error wait to be read */
} lb_upstream_hooks;

/* Returns the loop's connection set, or NULL on ENOMEM. cfg and t are borrowed. */
lb_upstreams *lb_upstreams_create(lb_loop *loop, const lb_config *cfg, lb_backend_table *t);
/* Closes every connection (owners must have released theirs) and frees the set. */
void lb_upstreams_destroy(lb_upstreams *us);
/* Closes b's idle connections (it was judged down). */
void lb_upstreams_flush(lb_upstreams *us, lb_backend *b);
/* A drain: every idle connection is closed and none is pooled from now on. */
void lb_upstreams_drain(lb_upstreams *us);
/* Frees closed connections; called when no callback of this loop is running. */
void lb_upstreams_reap(lb_upstreams *us);

/* A new connection to b, connecting (deadline --connect-timeout), lent to owner. Returns it,
 * or NULL when the connect failed at once (no fd, ENOMEM, an error connect(2) reports at
 * once). It is registered with the loop only at the
 * owner's first lb_upstream_want, so a connection that takes its request at once (early
 * bytes, below) and then waits for the answer costs one epoll_ctl. */
lb_upstream *lb_upstream_open(lb_upstreams *us, lb_backend *b, const lb_upstream_hooks *hooks,
                              void *owner);
/* An idle connection to b from the pool (the most recently used), connected and lent to
 * owner with the server timeout running, or NULL when the pool is empty. */
lb_upstream *lb_upstream_take(lb_upstreams *us, lb_backend *b, const lb_upstream_hooks *hooks,
                              void *owner);
/* Hands the connection back: pooled when reusable (and the pool has room, the backend is up
 * and no drain runs), closed otherwise. The owner must not use it afterwards. */
void lb_upstream_release(lb_upstream *up, int reusable);

/* 1 when connected (a pooled connection always is), 0 while connecting. */
int lb_upstream_ready(const lb_upstream *up);
/* 1 when the connection came from the pool for this owner. */
int lb_upstream_reused(const lb_upstream *up);
/* The events (LB_EV_READ, LB_EV_WRITE) the owner waits for; set only when they change. */
void lb_upstream_want(lb_upstream *up, int mask);

/* The connection carries an upgraded protocol now: its inactivity limit becomes idle_ms
 * (--tunnel-timeout) instead of the server timeout. Its owner never releases it as
 * reusable afterwards. */
void lb_upstream_tunnel(lb_upstream *up, int idle_ms);

/* I/O on a connected connection; each byte of progress moves the server timeout. */
/* send(2) of p[0, n): returns bytes sent or -1 with errno (EAGAIN included). Also allowed
 * while connecting (early bytes): on loopback the handshake is usually over when connect(2)
 * returns, so the bytes go at once and the connection is ready from then on (no wait for
 * EPOLLOUT, no SO_ERROR); -1/EAGAIN means the connect goes on (the connected hook follows,
 * or failed); another error is the connect's failure, and no byte was sent. */
ssize_t lb_upstream_send(lb_upstream *up, const char *p, size_t n);
/* Reads into b as lb_blocks_read does: bytes read, 0 at EOF, -1 with errno. */
ssize_t lb_upstream_read(lb_upstream *up, lb_blocks *bl, lb_buf *b, size_t limit);
/* splice(2) of at most n bytes from the socket into the pipe's write end: bytes moved, 0 at
 * EOF, -1 with errno (EAGAIN: nothing to read, or no room in the pipe). */
ssize_t lb_upstream_splice(lb_upstream *up, int pipe_wr, size_t n);
/* 1 when anything (a byte, an EOF, an error) waits beyond what was read: a connection whose
 * answer is whole but that has more to say is not reusable. One MSG_PEEK. */
int lb_upstream_has_more(lb_upstream *up);

#endif
