/* exchange.c - one request's life: frame it, choose a backend, relay both ways, finish or fail.
 *
 * Request side: the head is framed from the client's buffer (lb_framer: limits, framing,
 * connection fields edited hop by hop), then the bytes the framing says belong to this
 * request move from that buffer to the backend; bytes of a pipelined next request stay
 * behind. Client buffer layout: [kept: sent, retained for a resend][pending: to send][rest].
 * Until the first answer byte arrives, sent bytes are kept (`retain`), so a request whose
 * pooled connection turns out closed, or an idempotent one whose backend reset before
 * answering, can be sent again; retention ends early when the window fills (a large body),
 * and such a request is never resent.
 * Answer side: heads are framed as they come (1xx interim ones are relayed and the next
 * awaited; a 101 answering a request with an Upgrade field starts a tunnel, see below; a
 * 101 to any other request is unframable), the
 * final head's connection fields are edited hop by hop, body bytes are counted, and only
 * the bytes of this answer are written to the client. Answer buffer layout:
 * [rpending: ready for the client][unframed]. Bytes a backend sends beyond its answer stay
 * unframed and keep its connection out of the pool.
 * Backpressure: each side is read only while the buffer toward the other has room
 * (LB_WINDOW); x_masks recomputes the backend's events and asks the client for its own
 * after every step.
 * Splice: once the head and the bytes read with it have been written and the buffer is
 * empty, the rest of a body framed by Content-Length with at least LB_SPLICE_MIN bytes to
 * come (or of a close-delimited body that already filled a window) moves backend -> pipe
 * -> client with splice(2) and never enters user space. Chunked bodies are copied (they
 * must be scanned), and so are small answers: the 1 KiB keep-alive path is untouched. The
 * pipe is lent for one answer from the loop's free list; rpending then counts its bytes,
 * so the masks and the stall rule read it as they read buffered bytes. Framing stays exact:
 * a splice asks for at most the bytes the body still has (lb_framer_skip counts them), and
 * one peek at the end keeps a connection whose backend sent more out of the pool. The
 * backend is read only while the pipe has room (pipe_full), the client written whenever it
 * holds bytes. EINVAL/ENOSYS from splice send the answer back to the copy path, the pipe's
 * bytes read back into the buffer first; failure rules are those of the copy path.
 * Tunnel: after a backend's 101 to a request that asked to upgrade, nothing is framed any
 * more: bytes go both ways as they are, each direction under the same backpressure, the
 * backend connection's inactivity limit becomes --tunnel-timeout (a byte either way counts,
 * both go through the upstream), and the first close or error on either side ends the
 * exchange and closes both connections (never pooled). The client module keeps reading for
 * it because lb_exchange_request_done stays 0.
 * Deadlines: the backend connection's (upstream.c); failure rules: see x_fail.
 */
#include "exchange.h"

#include <errno.h>
#include <fcntl.h> /* splice */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "framer.h"
#include "hop.h"
#include "net.h"
#include "pipes.h"

#define LB_MAX_RESPONSE_HEAD 65536
#define LB_RESPONSE_FIELDS 128
#define LB_SPARE_EXCHANGES 1024 /* ended exchanges kept for reuse */
/* The splice relay (splice_wanted explains and justifies both figures). The #ifndef lets a
 * benchmark build compare them (-DLB_SPLICE_MIN=...); UINT64_MAX turns splicing off. */
#ifndef LB_SPLICE_MIN
#define LB_SPLICE_MIN (16 * 1024) /* body bytes still to come for an answer to be spliced */
#endif
#ifndef LB_PIPE_SIZE
#define LB_PIPE_SIZE (64 * 1024) /* asked with F_SETPIPE_SZ; bounds bytes held per answer */
#endif
/* The retry budget: every request earns one token, a retry after a backend failure costs
 * LB_RETRY_COST, and the bucket holds at most LB_RETRY_BURST retries. So retries stay
 * under 1/LB_RETRY_COST of the requests when backends fail en masse (no retry storm). */
#define LB_RETRY_COST 5
#define LB_RETRY_BURST 10

enum { X_HEAD, X_READY, X_ACTIVE, X_ENDED };
enum { X_CONNECT_FAILED, X_RESET, X_TIMEOUT, X_BAD_RESPONSE };

struct lb_exchange {
    lb_exchanges *xs;
    const lb_exchange_hooks *hooks;
    lb_exchange_peer *peer;
    lb_exchange *next, *prev; /* the live list, then the zombie or spare list */
    int phase;
    /* the request */
    lb_framer rq;
    size_t kept, pending; /* in peer->in, see the opening comment */
    int req_done;         /* every request byte was framed into pending/kept */
    int retain;           /* sent bytes stay in the buffer for a resend */
    int sent_any;         /* a byte of this request went to a backend */
    char method[16];
    size_t method_len;
    int idempotent;
    int keep_alive; /* the client's connection may carry another request */
    int fwd_close;  /* the request as forwarded asks the backend to close */
    int hop;        /* connection fields are hop-by-hop for this request */
    int http10;     /* an HTTP/1.0 request: its keep-alive must be said in the answer */
    int upgrade;    /* the request has an Upgrade field: a 101 answer starts a tunnel */
    int tunnel;     /* after that 101: bytes relayed as they are, both ways */
    /* the backend */
    lb_upstream *up;
    lb_backend *be; /* the backend of up, or the last one tried */
    unsigned char tried[LB_MAX_BACKENDS];
    int retries_left;
    /* the answer */
    lb_buf rin;
    lb_framer rs;
    size_t rpending;
    int got_bytes;    /* a byte came from this backend */
    int eof;          /* the backend closed or reset */
    int extra;        /* bytes beyond the answer: the connection is not reusable */
    int resp_started; /* a byte of the answer went to the client */
    int splicing;     /* the body moves backend -> pipe -> client; rpending = bytes in the pipe */
    int pipe_full;    /* the pipe took no more: the backend is not read until the client is */
    int no_splice;    /* this answer stays on the copy path (splice refused, no pipe) */
    lb_pipe pipe;
};

struct lb_exchanges {
    lb_loop *loop;
    const lb_config *cfg;
    lb_backend_table *table;
    lb_policy *policy;
    lb_checker *checker;
    lb_upstreams *us;
    lb_blocks *blocks;
    lb_http_header *headers;
    lb_exchange *live, *zombies, *spare;
    int nspare;
    lb_pipes pipes; /* empty splice pipes kept for reuse (lb/core/pipes.h) */
    int splice_off; /* the kernel has no splice (ENOSYS): copy every answer */
    int draining;
    int retry_tokens;
    lb_exchange_counters st;
};

static void x_pick(lb_exchange *x);
static void x_fail(lb_exchange *x, int kind);
static void x_flush(lb_exchange *x);
static void x_upstream_readable(lb_exchange *x);
static void x_push_request(lb_exchange *x);
static void x_connected(lb_exchange *x);

/* ---- the loop's exchanges --------------------------------------------------------- */

lb_exchanges *lb_exchanges_create(lb_loop *loop, const lb_config *cfg, lb_backend_table *t,
                                  lb_policy *policy, lb_upstreams *us, lb_blocks *blocks)
{
    lb_exchanges *xs = calloc(1, sizeof *xs);
    size_t nh =
        cfg->max_headers > LB_RESPONSE_FIELDS ? (size_t)cfg->max_headers : LB_RESPONSE_FIELDS;
    if (!xs || !(xs->headers = calloc(nh, sizeof *xs->headers))) {
        free(xs);
        return NULL;
    }
    xs->loop = loop;
    xs->cfg = cfg;
    xs->table = t;
    xs->policy = policy;
    xs->us = us;
    xs->blocks = blocks;
    xs->retry_tokens = LB_RETRY_COST * LB_RETRY_BURST;
    lb_pipes_init(&xs->pipes, LB_PIPE_SIZE);
    return xs;
}

void lb_exchanges_set_checker(lb_exchanges *xs, lb_checker *checker)
{
    xs->checker = checker;
}

void lb_exchanges_drain(lb_exchanges *xs)
{
    xs->draining = 1;
}

const lb_exchange_counters *lb_exchanges_counters(const lb_exchanges *xs)
{
    return &xs->st;
}

void lb_exchanges_reap(lb_exchanges *xs, int no_clients)
{
    if (no_clients)
        lb_pipes_close(&xs->pipes);
    while (xs->zombies) {
        lb_exchange *x = xs->zombies;
        xs->zombies = x->next;
        lb_buf_consume(&x->rin, lb_buf_len(&x->rin)); /* an unfinished answer's bytes */
        lb_blocks_put(xs->blocks, &x->rin);
        if (xs->nspare < LB_SPARE_EXCHANGES) {
            x->next = xs->spare;
            xs->spare = x;
            xs->nspare++;
        } else {
            free(x);
        }
    }
}

void lb_exchanges_destroy(lb_exchanges *xs)
{
    if (!xs)
        return;
    while (xs->live)
        lb_exchange_abandon(xs->live);
    lb_exchanges_reap(xs, 1);
    while (xs->spare) {
        lb_exchange *x = xs->spare;
        xs->spare = x->next;
        free(x);
    }
    free(xs->headers);
    free(xs);
}

/* ---- one exchange: birth and end -------------------------------------------------- */

lb_exchange *lb_exchange_new(lb_exchanges *xs, const lb_exchange_hooks *hooks,
                             lb_exchange_peer *peer)
{
    lb_exchange *x = xs->spare;
    if (x) {
        xs->spare = x->next;
        xs->nspare--;
        memset(x, 0, sizeof *x);
    } else if (!(x = calloc(1, sizeof *x))) {
        return NULL;
    }
    x->xs = xs;
    x->hooks = hooks;
    x->peer = peer;
    x->phase = X_HEAD;
    x->pipe = (lb_pipe){.rd = -1, .wr = -1, .cap = 0};
    lb_framer_init(&x->rq);
    lb_framer_init(&x->rs);
    x->next = xs->live;
    if (xs->live)
        xs->live->prev = x;
    xs->live = x;
    return x;
}

/* Unlinks the backend connection (its in-flight count too) and returns it. */
static lb_upstream *x_detach(lb_exchange *x)
{
    lb_upstream *up = x->up;
    if (up) {
        lb_backend_request_end(x->be);
        x->up = NULL;
    }
    return up;
}

/* Ends splicing: an empty pipe goes back to the free list, one that still holds bytes is
 * closed with them (a side failed). */
static void x_pipe_put(lb_exchange *x)
{
    if (!x->splicing)
        return;
    x->splicing = 0;
    x->pipe_full = 0;
    lb_pipes_put(&x->xs->pipes, &x->pipe, x->rpending == 0);
}

/* The exchange is over: the backend connection (if any) is closed, and the struct waits
 * on the zombie list for lb_exchanges_reap. */
static void x_end(lb_exchange *x)
{
    lb_exchanges *xs = x->xs;
    x_pipe_put(x);
    lb_upstream *up = x_detach(x);
    if (up)
        lb_upstream_release(up, 0);
    if (x->prev)
        x->prev->next = x->next;
    else
        xs->live = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->phase = X_ENDED;
    x->prev = NULL;
    x->next = xs->zombies;
    xs->zombies = x;
}

void lb_exchange_abandon(lb_exchange *x)
{
    if (x->phase != X_ENDED)
        x_end(x);
}

static void x_refuse(lb_exchange *x, int status)
{
    void *client = x->peer->client;
    const lb_exchange_hooks *hooks = x->hooks;
    x_end(x);
    hooks->refuse(client, status);
}

static void x_abort(lb_exchange *x)
{
    void *client = x->peer->client;
    const lb_exchange_hooks *hooks = x->hooks;
    x_end(x);
    hooks->abort(client);
}

/* ---- masks ------------------------------------------------------------------------ */

static int x_upstream_mask(const lb_exchange *x)
{
    if (!lb_upstream_ready(x->up))
        return LB_EV_WRITE;
    int m = x->pending > 0 ? LB_EV_WRITE : 0;
    if (x->tunnel)
        return m | (!x->eof && lb_buf_len(&x->rin) < LB_WINDOW ? LB_EV_READ : 0);
    size_t limit = x->rs.state != LB_FRAME_HEAD ? LB_WINDOW : LB_MAX_RESPONSE_HEAD;
    /* A full splice pipe: the backend is not read until the client has taken bytes
     * (level-triggered epoll would report it readable again and again meanwhile). */
    if (x->rs.state != LB_FRAME_DONE && !x->eof && !x->pipe_full && lb_buf_len(&x->rin) < limit)
        m |= LB_EV_READ;
    return m;
}

static void x_masks(lb_exchange *x)
{
    if (x->up)
        lb_upstream_want(x->up, x_upstream_mask(x));
    x->hooks->update(x->peer->client);
}

int lb_exchange_wants(const lb_exchange *x)
{
    return (x->req_done ? 0 : LB_EV_READ) | (x->rpending > 0 ? LB_EV_WRITE : 0);
}

int lb_exchange_tunneling(const lb_exchange *x)
{
    return x->tunnel;
}

int lb_exchange_request_done(const lb_exchange *x)
{
    return x->req_done;
}

int lb_exchange_keep_alive(const lb_exchange *x)
{
    return x->keep_alive;
}

/* ---- the request head ------------------------------------------------------------- */

static void set_method(lb_exchange *x, const lb_http_request *req)
{
    size_t n = req->method_len < sizeof x->method - 1 ? req->method_len : sizeof x->method - 1;
    memcpy(x->method, req->method, n);
    x->method[n] = '\0';
    x->method_len = req->method_len < sizeof x->method ? n : 0;
    /* Methods are case-sensitive: the length picks the one candidate. */
    x->idempotent = (n == 3 && memcmp(x->method, "GET", 3) == 0) ||
                    (n == 4 && memcmp(x->method, "HEAD", 4) == 0) ||
                    (n == 7 && memcmp(x->method, "OPTIONS", 7) == 0);
}

/* Connection fields are hop-by-hop (RFC 9110 7.6.1, as in HAProxy and nginx) unless
 * --verbatim-connection: the request goes on without its Connection, Keep-Alive and
 * Proxy-Connection lines, so the backend keeps its connection for the pool whatever the
 * client said; an HTTP/1.0 request, for which keep-alive is not the default, says it with
 * an added `Connection: keep-alive`. The client's own wish (keep_alive) stays the
 * client's. A Connection field naming another option (Upgrade, TE) is relayed as it is,
 * and so is the rest of that request. Returns the head's new length. */
static int hop_request(lb_exchange *x, const lb_http_request *req, int head_len)
{
    x->http10 = req->major < 1 || (req->major == 1 && req->minor == 0);
    /* Only a request relayed with its connection fields as they are can ask to upgrade:
     * a Connection that names nothing but close or keep-alive is stripped. */
    x->hop =
        !x->xs->cfg->verbatim_connection && (!(req->fields & LB_FIELD_BIT(LB_FIELD_CONNECTION)) ||
                                             lb_hop_can_strip(req->headers, req->num_headers));
    if (!x->hop) {
        x->upgrade = (req->fields & LB_FIELD_BIT(LB_FIELD_UPGRADE)) != 0;
        return head_len;
    }
    x->fwd_close = 0;
    const char *add = x->http10 ? LB_HOP_KEEP_ALIVE : NULL;
    if (!add && !(req->fields & LB_FIELDS_HOP))
        return head_len; /* nothing to cut, nothing to add */
    return (int)lb_hop_edit(x->peer->in, 0, (size_t)head_len, req->headers, req->num_headers, add,
                            add ? sizeof LB_HOP_KEEP_ALIVE - 1 : 0);
}

/* Extends pending over the request bytes that have arrived. Returns 0, -1 (a bad chunk) or
 * -2 (a chunked body over --max-body). */
static int x_scan_request(lb_exchange *x)
{
    if (x->req_done)
        return 0;
    lb_buf *in = x->peer->in;
    size_t off = x->kept + x->pending;
    ssize_t n = lb_framer_body(&x->rq, lb_buf_head(in) + off, lb_buf_len(in) - off);
    if (n < 0)
        return -1;
    x->pending += (size_t)n;
    if (x->xs->cfg->max_body && x->rq.data > x->xs->cfg->max_body)
        return -2;
    x->req_done = x->rq.state == LB_FRAME_DONE;
    return 0;
}

/* What a head that cannot go on gets: 431 for a head over the limits, 400 for one that
 * cannot be framed, 413 for a declared body over --max-body; 0 for a good head. */
static int head_refusal(const lb_exchange *x, int r)
{
    const lb_config *cfg = x->xs->cfg;
    if (r == LB_HTTP_INCOMPLETE || r == LB_HTTP_TOO_MANY || r > cfg->max_head)
        return 431;
    if (r < 0)
        return 400;
    if (cfg->max_body && x->rq.fr.kind == LB_BODY_LENGTH && x->rq.fr.length > cfg->max_body)
        return 413;
    return 0;
}

int lb_exchange_head(lb_exchange *x)
{
    lb_exchanges *xs = x->xs;
    lb_buf *in = x->peer->in;
    size_t len = lb_buf_len(in), max_head = (size_t)xs->cfg->max_head;
    lb_http_request req;
    int r = lb_framer_request_head(&x->rq, lb_buf_head(in), len, len >= max_head, &req, xs->headers,
                                   (size_t)xs->cfg->max_headers);
    if (r == LB_HTTP_INCOMPLETE && len < max_head)
        return 0;
    int refuse = head_refusal(x, r);
    if (refuse) {
        x_refuse(x, refuse);
        return -1;
    }
    set_method(x, &req);
    x->keep_alive = x->rq.fr.keep_alive;
    x->fwd_close = !x->keep_alive;
    x->pending = (size_t)hop_request(x, &req, r);
    x->phase = X_READY;
    xs->st.requests++;
    int bad = x_scan_request(x);
    if (bad < 0) { /* a bad chunk already here: refuse before connecting */
        x_refuse(x, bad == -2 ? 413 : 400);
        return -1;
    }
    return 1;
}

/* ---- choosing a backend ----------------------------------------------------------- */

static int retry_budget_take(lb_exchanges *xs)
{
    if (xs->retry_tokens < LB_RETRY_COST)
        return 0;
    xs->retry_tokens -= LB_RETRY_COST;
    return 1;
}

static void up_connected(void *owner)
{
    x_connected(owner);
}

static void up_failed(void *owner, int why)
{
    x_fail(owner, why == LB_UP_TIMEOUT ? X_TIMEOUT : X_CONNECT_FAILED);
}

static void up_writable(void *owner)
{
    x_push_request(owner);
}

static void up_readable(void *owner)
{
    x_upstream_readable(owner);
}

static const lb_upstream_hooks up_hooks = {up_connected, up_failed, up_writable, up_readable};

/* A new backend connection: the answer starts afresh. */
static void x_attach(lb_exchange *x, lb_upstream *up, lb_backend *be)
{
    x->up = up;
    x->be = be;
    lb_backend_request_begin(be);
    lb_buf_consume(&x->rin, lb_buf_len(&x->rin));
    lb_framer_init(&x->rs);
    x->rpending = 0;
    x->got_bytes = x->eof = x->extra = 0;
    x->pipe_full = x->no_splice = 0;
}

void lb_exchange_start(lb_exchange *x)
{
    lb_exchanges *xs = x->xs;
    if (xs->retry_tokens < LB_RETRY_COST * LB_RETRY_BURST)
        xs->retry_tokens++;
    memset(x->tried, 0, sizeof x->tried);
    x->retries_left = xs->cfg->retries;
    x->retain = 1;
    x->resp_started = 0;
    x->phase = X_ACTIVE;
    x_pick(x);
}

static void x_pick(lb_exchange *x)
{
    lb_exchanges *xs = x->xs;
    for (;;) {
        int i = lb_policy_choose(xs->policy, xs->table, x->tried);
        if (i < 0) {
            x_refuse(x, 500);
            return;
        }
        x->tried[i] = 1;
        lb_backend *be = &xs->table->v[i];
        /* A request that cannot be resent never rides a pooled connection: the backend
         * may be closing it right now (a FIN still in flight), and then the request
         * would fail with nothing to retry. It gets a fresh connection instead. */
        lb_upstream *up = x->idempotent ? lb_upstream_take(xs->us, be, &up_hooks, x) : NULL;
        if (up) {
            xs->st.pool_reuses++;
        } else if (!(up = lb_upstream_open(xs->us, be, &up_hooks, x))) {
            lb_backend_connect_failed(be, 0); /* refused at once */
            continue;
        }
        x_attach(x, up, be);
        if (lb_upstream_ready(up))
            x_connected(x);
        else
            x_push_request(x); /* early: the connect has often finished already */
        return;
    }
}

/* The request reached a connected backend connection: counted for the backend's stats and
 * the checker (every R-th forwarded request starts a round). */
static void x_note_checker(lb_exchange *x)
{
    /* Callers call it last: a round may start here, and a probe judged at once may move
     * requests. */
    if (x->xs->checker)
        lb_checker_note_forwarded(x->xs->checker);
}

static void x_count_forwarded(lb_exchange *x)
{
    lb_backend_note_forwarded(x->be);
    x_note_checker(x);
}

/* A pooled connection, or a new one whose connect finished. */
static void x_connected(lb_exchange *x)
{
    lb_backend_note_forwarded(x->be);
    x_push_request(x);
    x_note_checker(x);
}

/* ---- the request out -------------------------------------------------------------- */

static void x_drop_retention(lb_exchange *x)
{
    if (!x->retain)
        return;
    x->retain = 0;
    lb_buf_consume(x->peer->in, x->kept);
    x->kept = 0;
}

/* Tunnel: what the client sent goes to the backend as it is. */
static void x_tunnel_push(lb_exchange *x)
{
    lb_buf *in = x->peer->in;
    while (lb_buf_len(in) > 0) {
        ssize_t n = lb_upstream_send(x->up, lb_buf_head(in), lb_buf_len(in));
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            x_abort(x);
            return;
        }
        lb_buf_consume(in, (size_t)n);
    }
    x->pending = lb_buf_len(in);
    x_masks(x);
}

/* Sends what the request has ready. On a connection still connecting (from x_pick) the first
 * bytes are tried at once (lb_upstream_send's early bytes): taken, they prove the connect
 * done and the request counts as forwarded here, as x_connected counts the others; EAGAIN
 * waits for the connect (the connected hook, then x_connected); an error is a connect
 * failure, with nothing sent. */
static void x_push_request(lb_exchange *x)
{
    lb_buf *in = x->peer->in;
    if (!x->up)
        return;
    int connecting = !lb_upstream_ready(x->up);
    if (x->tunnel) {
        x_tunnel_push(x);
        return;
    }
    for (;;) {
        int bad = x_scan_request(x);
        if (bad < 0) {
            if (!x->sent_any)
                x_refuse(x, bad == -2 ? 413 : 400);
            else
                x_abort(x); /* bad chunking mid-body: part has gone; close both */
            return;
        }
        if (x->pending == 0)
            break;
        ssize_t n = lb_upstream_send(x->up, lb_buf_head(in) + x->kept, x->pending);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            x_fail(x, lb_upstream_ready(x->up) ? X_RESET : X_CONNECT_FAILED);
            return;
        }
        x->kept += (size_t)n;
        x->pending -= (size_t)n;
        x->sent_any = 1;
        if (!x->retain) {
            lb_buf_consume(in, x->kept);
            x->kept = 0;
        }
    }
    if (x->retain && !x->req_done && lb_buf_len(in) >= LB_WINDOW)
        x_drop_retention(x);
    x_masks(x);
    if (connecting && lb_upstream_ready(x->up))
        x_count_forwarded(x); /* last: see x_connected */
}

void lb_exchange_client_input(lb_exchange *x)
{
    if (x->up && lb_upstream_ready(x->up))
        x_push_request(x);
    else
        x_masks(x);
}

/* ---- the answer's heads ----------------------------------------------------------- */

/* Hop-by-hop answers (see hop_request): the backend's Connection, Keep-Alive and
 * Proxy-Connection lines describe its connection to us, not ours to the client, so they go,
 * and the client reads what this connection does: `Connection: close` when it ends after
 * this answer (the client asked, an HTTP/1.0 client did not ask for keep-alive, the body
 * ends with the close, a drain), `Connection: keep-alive` to an HTTP/1.0 client that asked
 * for it, nothing otherwise. Returns the head's new length. */
static int hop_response(lb_exchange *x, const lb_http_response *res, int head_len)
{
    const char *add = NULL;
    size_t add_len = 0;
    if (!x->keep_alive || x->rs.fr.kind == LB_BODY_CLOSE || x->xs->draining) {
        add = LB_HOP_CLOSE;
        add_len = sizeof LB_HOP_CLOSE - 1;
    } else if (x->http10) {
        add = LB_HOP_KEEP_ALIVE;
        add_len = sizeof LB_HOP_KEEP_ALIVE - 1;
    }
    return (int)lb_hop_edit(&x->rin, x->rpending, (size_t)head_len, res->headers, res->num_headers,
                            add, add_len);
}

/* The framer refused the head of an answer to an upgrade request: a 101 starts the tunnel
 * (everything read from the backend, head and what follows, is for the client; the
 * client's bytes after the request are for the backend). Returns 2 then, else -1. */
static int x_tunnel_head(lb_exchange *x, const char *p, size_t avail)
{
    lb_http_response res;
    int r = lb_http_parse_response(p, avail, &res, x->xs->headers, LB_RESPONSE_FIELDS);
    if (r <= 0 || res.status != 101 || !x->req_done || x->pending > 0)
        return -1;
    x->tunnel = 1;
    x->xs->st.tunnels++;
    x->rpending = lb_buf_len(&x->rin);
    lb_buf_consume(x->peer->in, x->kept);
    x->kept = 0;
    x->retain = 0;
    x->req_done = 0; /* the client module reads for the exchange again */
    x->pending = lb_buf_len(x->peer->in);
    lb_upstream_tunnel(x->up, x->xs->cfg->tunnel_timeout_ms);
    return 2;
}

/* Frames one head at p (after the bytes already ready for the client). Returns 1 when it
 * was framed (relayed next), 0 when more bytes are needed, -1 for an unframable answer. */
static int x_response_head(lb_exchange *x, const char *p, size_t avail)
{
    lb_http_response res;
    int force = x->eof || avail >= LB_MAX_RESPONSE_HEAD;
    int r = lb_framer_response_head(&x->rs, p, avail, force, x->method, x->method_len, &res,
                                    x->xs->headers, LB_RESPONSE_FIELDS);
    if (r == LB_HTTP_INCOMPLETE)
        return force ? -1 : 0;
    if (r < 0)
        return x->upgrade ? x_tunnel_head(x, p, avail) : -1;
    if (x->hop && res.status >= 200)
        r = hop_response(x, &res, r);
    x->rpending += (size_t)r;
    return 1;
}

/* Frames the bytes read from the backend. Returns 0, or -1 for an unframable answer. */
static int x_frame_response(lb_exchange *x)
{
    while (x->rs.state != LB_FRAME_DONE && !x->tunnel) {
        size_t avail = lb_buf_len(&x->rin) - x->rpending;
        const char *p = lb_buf_head(&x->rin) + x->rpending;
        if (x->rs.state == LB_FRAME_BODY) {
            ssize_t n = lb_framer_body(&x->rs, p, avail);
            if (n < 0)
                return -1;
            x->rpending += (size_t)n;
            if (x->eof)
                lb_framer_eof(&x->rs); /* ends a close-delimited body */
            break;
        }
        if (avail == 0)
            break;
        int r = x_response_head(x, p, avail);
        if (r <= 0 || r == 2)
            return r < 0 ? -1 : 0;
    }
    if (x->rs.state == LB_FRAME_DONE && lb_buf_len(&x->rin) > x->rpending)
        x->extra = 1; /* bytes beyond the answer: the connection is not reusable */
    return 0;
}

/* ---- finishing -------------------------------------------------------------------- */

/* Whether the client's connection goes on after this answer (else it is closed). The
 * client's connection is the client's: a backend that closes after a framed answer does
 * not close it (HAProxy's http-keep-alive). An answer delimited by the close is the
 * exception: the client can only see its end as our close. */
static int x_client_continues(const lb_exchange *x)
{
    return x->req_done && x->pending == 0 && x->keep_alive && x->rs.fr.kind != LB_BODY_CLOSE &&
           !x->xs->draining;
}

static void x_finish(lb_exchange *x)
{
    lb_exchanges *xs = x->xs;
    x_pipe_put(x); /* a spliced answer's pipe, empty now, goes back to the free list */
    int req_complete = x->req_done && x->pending == 0;
    /* A connection a PUT/POST opened for itself refills only an empty pool, so that
     * requests which never take from the pool cannot grow it (fds stay flat). */
    int reusable = req_complete && !x->fwd_close && x->rs.fr.keep_alive && !x->eof && !x->extra &&
                   (x->idempotent || x->be->pool_len == 0);
    int keep = x_client_continues(x);
    xs->st.responses++;
    lb_backend_note_success(x->be);
    lb_upstream_release(x_detach(x), reusable);
    lb_buf_consume(x->peer->in, x->kept); /* the request's bytes; the next one's stay */
    x->kept = 0;
    void *client = x->peer->client;
    const lb_exchange_hooks *hooks = x->hooks;
    x_end(x);
    hooks->done(client, keep);
}

/* ---- the splice path -------------------------------------------------------------- */

/* Whether the rest of this answer's body, none of which was read yet, should be spliced:
 * a Content-Length body with at least LB_SPLICE_MIN bytes to come, or a close-delimited
 * one that already filled a window (a small one would pay for a pipe for nothing).
 * Why 16 KiB: measured on the 2-core VM (nginx backend, wrk -c16, loopback), the balancer's
 * CPU per answer with splicing forced on from the first byte after the first read, against
 * the copy path: 8 KiB to come 15.6 vs 15.1 us (even), 16 KiB 16.5 vs 18.3, 32 KiB 17.6 vs
 * 23.5, 48 KiB 16.9 vs 28.1, 112 KiB 21.9 vs 54.3. Copying costs 0.4-0.5 us per KiB,
 * splicing about 0.1; from 16 KiB on, splicing wins. Why 64 KiB pipes (LB_PIPE_SIZE): at
 * 1 MiB, 256 KiB pipes cost 8-15% more CPU per answer than 64 KiB ones in the same runs
 * and 1 MiB pipes more still (not profiled further), and the per-user pipe quota (16384
 * pages by default) holds 1024 pipes of 64 KiB but only 256 of 256 KiB. */
static int splice_wanted(const lb_exchange *x)
{
    if (x->rs.state != LB_FRAME_BODY || x->eof || x->no_splice || x->xs->splice_off)
        return 0;
    if (x->rs.fr.kind == LB_BODY_LENGTH)
        return x->rs.left >= LB_SPLICE_MIN;
    return x->rs.fr.kind == LB_BODY_CLOSE && x->rs.data >= LB_WINDOW;
}

/* Splicing starts only with an empty buffer, so the buffered bytes (head and body start)
 * always reach the client before the pipe's. */
static void splice_begin(lb_exchange *x)
{
    if (lb_pipes_take(&x->xs->pipes, &x->pipe) < 0) {
        x->no_splice = 1; /* no pipe (fds exhausted): this answer is copied */
        return;
    }
    x->splicing = 1;
    x->pipe_full = 0;
}

/* splice refused the pair (EINVAL, or ENOSYS: no splice at all): the bytes already in the
 * pipe are read back into the buffer and the answer goes on by copy. Returns 0, or -1 when
 * they cannot be recovered (the caller aborts). */
static int splice_unwind(lb_exchange *x, int err)
{
    size_t n = x->rpending, got = 0;
    if (err == ENOSYS)
        x->xs->splice_off = 1;
    if (n > 0 && lb_buf_reserve(&x->rin, n) < 0)
        return -1;
    while (got < n) {
        ssize_t r = read(x->pipe.rd, lb_buf_tail(&x->rin), n - got);
        if (r <= 0 && !(r < 0 && errno == EINTR))
            return -1;
        if (r > 0) {
            lb_buf_commit(&x->rin, (size_t)r);
            got += (size_t)r;
        }
    }
    x->rpending = 0;
    x_pipe_put(x); /* empty now: back to the free list */
    x->rpending = n;
    x->no_splice = 1;
    return 0;
}

static void splice_flush(lb_exchange *x)
{
    while (x->rpending > 0) {
        ssize_t n = splice(x->pipe.rd, NULL, x->peer->fd, NULL, x->rpending,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS) && splice_unwind(x, errno) == 0) {
            x_flush(x);
            return;
        }
        if (n <= 0) {
            x_abort(x); /* the client went away: the pipe is closed with the backend */
            return;
        }
        x->resp_started = 1;
        x->rpending -= (size_t)n;
        x->pipe_full = 0;
        x->xs->st.spliced_bytes += (uint64_t)n;
    }
    if (x->rs.state == LB_FRAME_DONE && x->rpending == 0) {
        x_finish(x);
        return;
    }
    x_masks(x);
}

/* The backend ended (EOF or reset) during a spliced body: that ends a close-delimited one,
 * and cuts any other short. Returns 0 to go on, -1 after failing the exchange. */
static int splice_eof(lb_exchange *x)
{
    x->eof = 1;
    if (lb_framer_eof(&x->rs))
        return 0;
    x_fail(x, X_RESET); /* cut short: the client's connection is closed */
    return -1;
}

/* Moves at most what the framing still expects (never a byte of what follows the answer)
 * and at most what the pipe has room for. One splice per readiness, as the copy path does
 * one read: the client's write follows at once. */
static void splice_readable(lb_exchange *x)
{
    size_t want = x->rpending < (size_t)x->pipe.cap ? (size_t)x->pipe.cap - x->rpending : 0;
    if (x->rs.fr.kind == LB_BODY_LENGTH && x->rs.left < want)
        want = (size_t)x->rs.left;
    if (want == 0 || x->pipe_full || x->rs.state == LB_FRAME_DONE) {
        splice_flush(x);
        return;
    }
    ssize_t n = lb_upstream_splice(x->up, x->pipe.wr, want);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        /* Nothing came: the socket is empty, or the pipe has no free slot left (a slot
         * holds one socket fragment, so bytes alone do not tell). With bytes in the pipe the
         * latter is assumed and the backend waits for the client's progress. */
        x->pipe_full = errno == EAGAIN && x->rpending > 0;
        splice_flush(x);
        return;
    }
    if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
        if (splice_unwind(x, errno) < 0)
            x_abort(x);
        else
            x_flush(x); /* on by copy; the next readiness reads into the buffer */
        return;
    }
    if (n <= 0 && splice_eof(x) < 0)
        return;
    if (n > 0) {
        x->rpending += (size_t)n;
        lb_framer_skip(&x->rs, (size_t)n);
        /* The body is whole: bytes a backend sent past it are never read by splice, and
         * would be taken for the next answer on a pooled connection; one peek looks. */
        if (x->rs.state == LB_FRAME_DONE && lb_upstream_has_more(x->up))
            x->extra = 1;
        x->pipe_full = x->rpending >= (size_t)x->pipe.cap;
    }
    splice_flush(x);
}

/* ---- the copy path ---------------------------------------------------------------- */

/* Tunnel: what the backend sent goes to the client; once the backend has closed and all
 * of it is out, the tunnel ends (both connections close). */
static void x_tunnel_flush(lb_exchange *x)
{
    while (x->rpending > 0) {
        ssize_t n = send(x->peer->fd, lb_buf_head(&x->rin), x->rpending, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            x_abort(x);
            return;
        }
        lb_buf_consume(&x->rin, (size_t)n);
        x->rpending -= (size_t)n;
    }
    if (x->eof && x->rpending == 0) {
        x_abort(x);
        return;
    }
    if (x->rpending == 0)
        lb_blocks_put(x->xs->blocks, &x->rin);
    x_masks(x);
}

/* The answer's bytes that are ready go to the client. */
static void x_flush(lb_exchange *x)
{
    lb_exchange_peer *peer = x->peer;
    if (!x->up)
        return;
    if (x->splicing) {
        splice_flush(x);
        return;
    }
    if (x->tunnel) {
        x_tunnel_flush(x);
        return;
    }
    /* The last bytes on a connection that closes after them go with MSG_MORE: they stay
     * queued until the client's close shuts the socket down and sends them with the FIN in
     * one segment, and the client wakes once, for the answer and the end together. */
    int more = x->rs.state == LB_FRAME_DONE && !x_client_continues(x) ? MSG_MORE : 0;
    while (x->rpending > 0) {
        ssize_t n = send(peer->fd, lb_buf_head(&x->rin), x->rpending, MSG_NOSIGNAL | more);
        peer->corked |= more && n > 0;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            x_abort(x);
            return;
        }
        x->resp_started = 1;
        lb_buf_consume(&x->rin, (size_t)n);
        x->rpending -= (size_t)n;
    }
    if (x->rs.state == LB_FRAME_DONE && x->rpending == 0) {
        x_finish(x);
        return;
    }
    /* An answer that takes more than one write: from now on Nagle could hold back its
     * small last piece, so the client socket gets TCP_NODELAY (once per connection, here
     * or when a keep-alive connection goes on to its next request; a one-request
     * connection answered in one write never pays for the syscall). */
    if (x->resp_started && !peer->nodelay) {
        peer->nodelay = 1;
        lb_net_set_nodelay(peer->fd);
    }
    if (x->rpending == 0 && lb_buf_len(&x->rin) == 0) {
        lb_blocks_put(x->xs->blocks, &x->rin);
        if (splice_wanted(x))
            splice_begin(x); /* the rest of a large body: backend -> pipe -> client */
    }
    x_masks(x);
}

void lb_exchange_client_writable(lb_exchange *x)
{
    x_flush(x);
}

static void x_upstream_readable(lb_exchange *x)
{
    if (x->splicing) {
        splice_readable(x);
        return;
    }
    size_t limit = x->rs.state != LB_FRAME_HEAD || x->tunnel ? LB_WINDOW : LB_MAX_RESPONSE_HEAD;
    ssize_t n = lb_upstream_read(x->up, x->xs->blocks, &x->rin, limit);
    if (n < 0 && errno == EAGAIN)
        return;
    if (x->tunnel) {
        x->eof |= n <= 0;
        x->rpending = lb_buf_len(&x->rin);
        x_tunnel_flush(x);
        return;
    }
    if (n <= 0) {
        x->eof = 1;
        if (!x->got_bytes) {
            x_fail(x, X_RESET);
            return;
        }
    } else if (!x->got_bytes) {
        x->got_bytes = 1;
        x_drop_retention(x);
    }
    if (x_frame_response(x) < 0) {
        x_fail(x, X_BAD_RESPONSE);
        return;
    }
    if (x->tunnel) { /* the 101 and whatever came with it, then the client's early bytes */
        x_tunnel_flush(x);
        if (x->phase != X_ENDED && x->up && x->pending > 0)
            x_tunnel_push(x);
        return;
    }
    if (x->eof && x->rs.state != LB_FRAME_DONE) { /* cut short: never patch an answer */
        x_fail(x, X_RESET);
        return;
    }
    x_flush(x);
}

/* ---- failures --------------------------------------------------------------------- */

/* The client, not the backend, is what stalls: it does not send its body or read. */
static int x_client_stalls(const lb_exchange *x)
{
    return (!x->req_done && x->pending == 0 && !x->got_bytes) || x->rpending > 0;
}

static void x_resend(lb_exchange *x)
{
    x->pending += x->kept;
    x->kept = 0;
    x->xs->st.retries++;
    x_pick(x);
}

/* Failure rules: a failed connect marks the backend down and tries the next (any method,
 * nothing was sent); a pooled connection found closed before any answer byte is resent on
 * a fresh one (not a backend failure); a timeout marks the backend down; a reset before any
 * answer byte resends an idempotent request once (--retries, within the retry budget) to
 * another backend; otherwise the client gets the 500 if no answer byte reached it yet,
 * else its connection is closed. */
static void x_fail(lb_exchange *x, int kind)
{
    lb_exchanges *xs = x->xs;
    lb_backend *be = x->be;
    int got = x->got_bytes, stalls = x_client_stalls(x);
    if (x->tunnel) { /* a tunnel's end (its timeout, a reset) is not the backend's fault */
        x_abort(x);
        return;
    }
    /* Only an idempotent request is resent after a pooled connection failed: the backend
     * may have read and acted on the request before it died. */
    int stale = lb_upstream_reused(x->up) && !got && x->retain && x->idempotent && kind == X_RESET;
    x_pipe_put(x);
    lb_upstream_release(x_detach(x), 0);
    if (kind == X_CONNECT_FAILED) {
        lb_backend_connect_failed(be, 1);
        x_pick(x);
    } else if (stale) {
        x->tried[be->index] = 0;
        x_resend(x);
    } else if (kind == X_TIMEOUT && stalls) {
        x_abort(x);
    } else {
        lb_backend_note_failure(be, xs->cfg->eject_after);
        if (kind == X_TIMEOUT)
            lb_backend_mark_down(be);
        if (x->resp_started) {
            x_abort(x);
        } else if (kind == X_RESET && !got && x->retain && x->idempotent && x->retries_left > 0 &&
                   retry_budget_take(xs)) {
            x->retries_left--;
            x_resend(x);
        } else {
            x_refuse(x, 500);
        }
    }
}

/* Whether a healthy backend other than the current one is left to move a request to. */
static int another_up(const lb_exchange *x, const lb_backend *cur)
{
    const lb_backend_table *t = x->xs->table;
    for (int i = 0; i < t->n; i++)
        if (&t->v[i] != cur && lb_backend_usable(&t->v[i]) && !x->tried[i])
            return 1;
    return 0;
}

void lb_exchanges_backend_down(lb_exchanges *xs, lb_backend *b)
{
    lb_exchange *next;
    for (lb_exchange *x = xs->live; x; x = next) {
        next = x->next; /* a move ends nothing but this exchange, if anything */
        if (x->phase != X_ACTIVE || !x->up || x->be != b || x->got_bytes || !x->retain ||
            !x->idempotent || x->resp_started)
            continue;
        if (!another_up(x, b))
            continue; /* nowhere better: stay (the server timeout still bounds the wait) */
        lb_upstream_release(x_detach(x), 0);
        x_resend(x);
    }
}
