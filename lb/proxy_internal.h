/* proxy_internal.h - the connection structs shared by proxy.c, relay.c and upstream.c.
 *
 * Not a public contract: only the three data-path files include it. A request in flight is
 * the pair (lb_client, lb_upstream) linked both ways; each side's buffer holds the bytes
 * read from that side. Client buffer layout during a request:
 *     [kept: written to the backend, retained for a retry][pending: ready to write][rest]
 * Backend buffer layout: [pending: response bytes ready for the client][rest: unparsed].
 * While an answer's body is spliced (relay.c), the buffer is empty and pending counts the
 * bytes in the connection's pipe instead: they too are ready for the client, so every
 * rule that reads pending (masks, client_stalls) holds for both paths.
 * Freeing is deferred to the loop's before-sleep hook (zombie lists), so a pointer held
 * during one callback stays valid until the callback returns.
 */
#ifndef LB_PROXY_INTERNAL_H
#define LB_PROXY_INTERNAL_H

#include "buf.h"
#include "http.h"
#include "proxy.h"
#include "queue.h"

#define LB_WINDOW 16384 /* relay window per direction, and the pooled block size */
#define LB_MAX_RESPONSE_HEAD 65536
#define LB_POOL_IDLE_MS 30000 /* an idle pooled backend connection is closed after this */
#define LB_LINGER_MS 1000     /* reading the rest of a refused request before closing */
#define LB_FREE_BLOCKS 1024   /* buffer blocks kept for reuse */
#define LB_FREE_PIPES 64      /* empty splice pipes kept for reuse (see relay.c) */
/* The splice relay (relay.c explains and justifies both figures). The #ifndef lets a
 * benchmark build compare them (-DLB_SPLICE_MIN=...); UINT64_MAX turns splicing off. */
#ifndef LB_SPLICE_MIN
#define LB_SPLICE_MIN (16 * 1024) /* body bytes still to come for an answer to be spliced */
#endif
#ifndef LB_PIPE_SIZE
#define LB_PIPE_SIZE (64 * 1024) /* asked with F_SETPIPE_SZ; bounds bytes held per answer */
#endif
#define LB_SPARE_CLIENTS 1024 /* client structs kept for reuse */

enum { CL_IDLE, CL_QUEUED, CL_ACTIVE, CL_REPLY, CL_LINGER, CL_CLOSED };
enum { UP_CONNECTING, UP_ACTIVE, UP_IDLE, UP_CLOSED };

typedef struct lb_client lb_client;
typedef struct lb_upstream lb_upstream;

/* A pipe of the splice relay: read end, write end, capacity in bytes. */
typedef struct lb_pipe {
    int rd, wr;
    int cap;
} lb_pipe;

struct lb_upstream {
    lb_proxy *px;
    lb_backend *be;
    int fd;
    int state;
    int reused; /* taken from the pool for this request */
    lb_buf in;
    lb_timer timer;
    lb_client *client;
    lb_upstream *pool_next, *pool_prev;
    lb_upstream *zombie_next;
    /* response framing */
    int head_done, done, eof, got_bytes, extra;
    int64_t last_io_ms; /* last progress with the backend (server timeout) */
    size_t parsed_len;  /* bytes after pending an INCOMPLETE head parse already saw */
    lb_http_framing fr;
    lb_chunked ch;
    uint64_t body_left;
    uint64_t body_seen; /* body bytes of a close-delimited answer so far */
    size_t pending;
    /* splice relay (relay.c): the pipe is valid only while splicing */
    int splicing;  /* the body moves backend -> pipe -> client; pending = bytes in the pipe */
    int pipe_full; /* the pipe took no more: the backend is not read until the client is */
    int no_splice; /* this answer stays on the copy path (splice refused, no pipe) */
    lb_pipe pipe;
};

struct lb_client {
    lb_proxy *px;
    int fd;
    int state;
    lb_buf in;
    lb_timer timer;
    lb_client *next, *prev; /* every client */
    lb_client *zombie_next;
    lb_queue_node qnode;
    lb_upstream *up;
    unsigned char tried[LB_MAX_BACKENDS];
    int retries_left;
    char method[16];
    size_t method_len;
    int idempotent;
    lb_http_framing fr;
    lb_chunked ch;
    uint64_t body_left, body_seen;
    size_t kept, pending;
    int req_done;      /* every request byte was scanned into pending/kept */
    int retain;        /* written bytes stay in the buffer for a retry */
    int resp_started;  /* a response byte went to the client */
    int keep_alive;    /* the client's connection may carry another request */
    int fwd_close;     /* the request as forwarded asks the backend to close */
    int hop;           /* connection fields are hop-by-hop for this request (proxy.c) */
    int http10;        /* an HTTP/1.0 request: its keep-alive must be said in the answer */
    int in_slot;       /* holds one of the -N slots */
    int sent_any;      /* a byte of this request went to a backend */
    int head_seen;     /* a byte of the current head arrived (header timeout runs) */
    size_t parsed_len; /* buffer bytes an INCOMPLETE head parse already saw */
    int rd_eof;        /* the client shut its sending side */
    int watched;       /* registered with the loop (done lazily: see px_update_masks) */
    int nodelay;       /* TCP_NODELAY set (lazily: see relay_flush_response) */
    int corked;        /* bytes sent with MSG_MORE wait for the FIN (see px_client_close) */
    const char *reply;
    size_t reply_len, reply_off;
};

struct lb_proxy {
    lb_loop *loop;
    const lb_config *cfg;
    lb_backend_table *table;
    lb_policy *policy;
    lb_checker *checker;
    int listen_fd;
    int accepting, paused;
    lb_timer resume_timer;
    lb_client *clients;
    lb_queue queue;
    int in_flight;
    int retry_tokens; /* see retry_budget_take in relay.c */
    lb_timer dispatch_timer;
    lb_client *zombies;
    lb_client *spare_clients; /* freed clients kept for reuse (LB_SPARE_CLIENTS at most) */
    int nspare_clients;
    lb_upstream *up_zombies;
    char **blocks;
    int nblocks;
    lb_pipe pipes[LB_FREE_PIPES]; /* empty pipes for reuse (upstream.c) */
    int npipes;
    int splice_off; /* the kernel has no splice (ENOSYS): copy every answer */
    lb_http_header *headers;
    int draining;
    volatile int drain_requested; /* set from another thread (--threads) */
    lb_timer drain_timer;
    lb_proxy_counters st;
};

extern const char lb_reply_500[];
extern const char lb_reply_400[];
extern const char lb_reply_413[];

/* proxy.c */
void px_client_close(lb_client *c);
void px_client_reply(lb_client *c, const char *reply);
void px_client_request_done(lb_client *c, int reusable);
void px_update_masks(lb_client *c);
ssize_t px_read(lb_proxy *px, lb_buf *b, int fd, size_t limit);
void px_buf_put(lb_proxy *px, lb_buf *b);
void px_set_mask(lb_proxy *px, int fd, int mask);

/* relay.c */
void relay_start(lb_client *c);
/* Extends pending over the body bytes that have arrived. Returns 0, -1 (bad chunking) or
 * -2 (a chunked body over --max-body). */
int relay_scan_request(lb_client *c);
void relay_connected(lb_client *c);
void relay_push_request(lb_client *c);
void relay_client_readable(lb_client *c);
void relay_upstream_readable(lb_client *c);
void relay_flush_response(lb_client *c);
void relay_fail(lb_client *c, int kind);
/* Unlinks the client's backend connection (in-flight counts too) and returns it. */
lb_upstream *relay_detach(lb_client *c);
/* The client's backend was marked down: an idempotent request that has received nothing
 * and still holds its bytes is resent to another backend at once. */
void relay_move_off(lb_client *c);
enum { RELAY_CONNECT_FAILED, RELAY_RESET, RELAY_TIMEOUT, RELAY_BAD_RESPONSE };

/* upstream.c */
lb_upstream *up_connect(lb_proxy *px, lb_backend *be);
/* An idle connection to be, or NULL. Only requests that may be resent take one (relay.c):
 * a pooled connection the backend is closing right now costs them a resend, never an error. */
lb_upstream *up_pool_take(lb_proxy *px, lb_backend *be);
void up_pool_put(lb_upstream *up);
void up_close(lb_upstream *up);
void up_pool_flush(lb_proxy *px, lb_backend *be);
void up_reset_response(lb_upstream *up);
void up_free_zombies(lb_proxy *px);
/* Gives up a pipe for splicing (from the free list, or a new one sized LB_PIPE_SIZE when
 * the kernel allows). Returns 0, or -1 when no pipe can be had (the copy path then serves). */
int up_pipe_take(lb_upstream *up);
/* Ends splicing: an empty pipe (pending == 0) goes back to the free list, one that still
 * holds bytes is closed with them (a side failed). pending is left to the caller. */
void up_pipe_put(lb_upstream *up);

#endif
