/* tcp.c - the fault proxy's TCP mode: bytes relayed both ways with Toxiproxy's toxics.
 *
 * Each direction ("up": client to upstream, "down": upstream to client) is a buffer plus a
 * list of marks (byte offset, release time): bytes read at t may leave at t + latency +
 * seeded jitter, never before earlier bytes, then under the bandwidth and slicer limits,
 * and the connection ends once a direction's limit-data bytes went through. timeout drops
 * everything read and holds the connection (closing it after MS when MS > 0); reset-peer
 * closes both sides with RST. The faults are read again at every step, so a change through
 * the control port or a timeline applies to open connections at once, as Toxiproxy's do;
 * tcp-rate picks, per connection from the seed and the connection's sequence number, which
 * connections get them.
 * Invariants: a direction reads only while its buffer and mark list have room
 * (backpressure); a connection is freed before the worker's loop sleeps.
 * Limits: FP_TCP_WINDOW bytes and FP_MARKS reads in flight per direction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "proxy.h"
#include "rewrite.h"

#define FP_TCP_WINDOW (256 * 1024)
#define FP_MARKS 512

typedef struct fp_mark {
    uint64_t end; /* bytes read in this direction up to this mark */
    int64_t at;   /* when they may leave */
} fp_mark;

typedef struct fp_dir {
    bool up;
    lb_buf buf;
    fp_mark marks[FP_MARKS];
    size_t mhead, mcount;
    uint64_t read_total, sent_total, chunk_no;
    int64_t t0, sent_since_t0, next_at, prev_release;
    bool eof, shut;
} fp_dir;

typedef struct tcp_conn tcp_conn;

struct tcp_conn {
    fp_link link; /* in list: live, or dead (closed, freed before the worker sleeps) */
    fs_worker *w;
    fp_lists *list;
    bool connecting, affected;
    int fd[2];     /* 0: client, 1: upstream */
    fp_dir dir[2]; /* 0: up (client -> upstream), 1: down */
    uint64_t seq;
    int64_t start, timeout_since;
    lb_timer timer;
};

static void tcp_on_event(lb_loop *loop, int fd, int events, void *data);
static void tcp_on_timer(lb_loop *loop, lb_timer *t, void *data);

static void tcp_close(tcp_conn *c, bool reset)
{
    if (!fp_link_kill(c->list, &c->link))
        return;
    for (int i = 0; i < 2; i++)
        if (c->fd[i] >= 0) {
            lb_loop_unwatch(c->w->loop, c->fd[i]);
            if (reset)
                lb_net_close_reset(c->fd[i]);
            else
                close(c->fd[i]);
            c->fd[i] = -1;
        }
    lb_timer_stop(c->w->loop, &c->timer);
}

static int tcp_adopt(fs_worker *w, int fd)
{
    fp_lists *l = fp_lists_of(w);
    tcp_conn *c = l ? calloc(1, sizeof(*c)) : NULL;
    if (!c)
        return -1;
    char err[128];
    c->w = w;
    c->list = l;
    c->fd[0] = fd;
    c->fd[1] = lb_net_connect(&fp_upstream, err, sizeof(err));
    if (c->fd[1] < 0) {
        free(c);
        return -1;
    }
    lb_net_set_nodelay(c->fd[1]);
    c->connecting = true;
    c->dir[0].up = true;
    c->start = lb_now_ms();
    c->timeout_since = -1;
    c->seq = atomic_fetch_add(&w->srv->seq, 1) + 1;
    atomic_fetch_add(&w->srv->counters.requests, 1);
    atomic_fetch_add(&w->srv->counters.connections, 1);
    const fs_faults *f = fs_worker_faults(w);
    c->affected = f->tcp_rate >= 1 || fs_faults_random(f->seed, c->seq, 4000) < f->tcp_rate;
    lb_timer_init(&c->timer, tcp_on_timer, c);
    if (lb_loop_watch(w->loop, fd, 0, tcp_on_event, c) < 0 ||
        lb_loop_watch(w->loop, c->fd[1], LB_EV_WRITE, tcp_on_event, c) < 0) {
        lb_loop_unwatch(w->loop, fd);
        close(c->fd[1]);
        free(c);
        return -1;
    }
    fp_link_add(c->list, &c->link);
    return 0;
}

static void tcp_before_sleep(fs_worker *w)
{
    fp_lists *l = w->mode_data;
    for (fp_link *k; l && (k = fp_link_reap(l));) {
        tcp_conn *c = FP_CONN_OF(k, tcp_conn, link);
        lb_buf_free(&c->dir[0].buf);
        lb_buf_free(&c->dir[1].buf);
        free(c);
    }
}

static void tcp_stop(fs_worker *w)
{
    fp_lists *l = w->mode_data;
    if (!l)
        return;
    while (l->live)
        tcp_close(FP_CONN_OF(l->live, tcp_conn, link), false);
    tcp_before_sleep(w);
    free(l);
    w->mode_data = NULL;
}

const fs_conn_mode fp_tcp_mode = {tcp_adopt, tcp_before_sleep, tcp_stop};

/* The faults in force for this connection (none when tcp-rate left it out). */
static void faults_now(tcp_conn *c, fs_faults *f)
{
    *f = *fs_worker_faults(c->w);
    if (!c->affected) {
        uint64_t seed = f->seed;
        fs_faults_default(f);
        f->seed = seed;
    }
}

/* Reads from the direction's source. */
static void dir_read(tcp_conn *c, fp_dir *d, const fs_faults *f, int64_t now)
{
    int src = c->fd[d->up ? 0 : 1];
    fp_shape sh;
    fp_shape_of(f, d->up, &sh);
    while (!d->eof && lb_buf_len(&d->buf) < FP_TCP_WINDOW && d->mcount < FP_MARKS) {
        bool idle = lb_buf_len(&d->buf) == 0;
        ssize_t r = lb_buf_read_fd(&d->buf, src, 65536);
        if (r > 0) {
            if (f->tcp_timeout >= 0) { /* timeout: the bytes are dropped */
                lb_buf_consume(&d->buf, lb_buf_len(&d->buf));
                continue;
            }
            if (idle) { /* the bandwidth credit restarts with the first bytes after a pause */
                d->t0 = now;
                d->sent_since_t0 = 0;
            }
            d->read_total += (uint64_t)r;
            int64_t at = fp_shape_release(&sh, f->seed, c->seq * 2 + (d->up ? 0 : 1), d->chunk_no++,
                                          now, d->prev_release);
            d->prev_release = at;
            d->marks[(d->mhead + d->mcount) % FP_MARKS] = (fp_mark){d->read_total, at};
            d->mcount++;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        d->eof = true;
    }
}

/* Bytes of the direction whose release time has come. */
static uint64_t dir_due(fp_dir *d, int64_t now)
{
    uint64_t end = d->sent_total;
    for (size_t i = 0; i < d->mcount; i++) {
        const fp_mark *m = &d->marks[(d->mhead + i) % FP_MARKS];
        if (m->at > now)
            break;
        end = m->end;
    }
    return end - d->sent_total;
}

/* Writes what the shaping allows. Returns -1 when the connection must end, else the ms
 * until the direction can progress again (0: nothing pending, or waiting on the socket). */
static int64_t dir_write(tcp_conn *c, fp_dir *d, const fs_faults *f, int64_t now)
{
    int dst = c->fd[d->up ? 1 : 0];
    fp_shape sh;
    fp_shape_of(f, d->up, &sh);
    for (;;) {
        if (sh.limit > 0 && d->sent_total >= (uint64_t)sh.limit)
            return -1; /* limit-data: the connection ends */
        uint64_t due = dir_due(d, now);
        if (due == 0) {
            if (d->mcount > 0) {
                int64_t at = d->marks[d->mhead].at;
                for (size_t i = 0; i < d->mcount; i++)
                    if (d->marks[(d->mhead + i) % FP_MARKS].end > d->sent_total) {
                        at = d->marks[(d->mhead + i) % FP_MARKS].at;
                        break;
                    }
                return at > now ? at - now : 1;
            }
            if (d->eof && !d->shut) {
                shutdown(dst, SHUT_WR);
                d->shut = true;
            }
            return 0;
        }
        if (now < d->next_at)
            return d->next_at - now;
        int64_t allow = fp_shape_allow(&sh, now, d->t0, d->sent_since_t0);
        if (allow <= 0)
            return fp_shape_wait_ms(&sh);
        if ((uint64_t)allow > due)
            allow = (int64_t)due;
        if (sh.limit > 0 && (uint64_t)allow > (uint64_t)sh.limit - d->sent_total)
            allow = (int64_t)((uint64_t)sh.limit - d->sent_total);
        ssize_t w = send(dst, lb_buf_head(&d->buf), (size_t)allow, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        lb_buf_consume(&d->buf, (size_t)w);
        d->sent_total += (uint64_t)w;
        d->sent_since_t0 += w;
        while (d->mcount > 0 && d->marks[d->mhead].end <= d->sent_total) {
            d->mhead = (d->mhead + 1) % FP_MARKS;
            d->mcount--;
        }
        if (sh.slicer > 0 && sh.slice_ms > 0) {
            d->next_at = now + sh.slice_ms;
            return sh.slice_ms;
        }
    }
}

static void tcp_step(tcp_conn *c)
{
    fs_faults f;
    int64_t now = lb_now_ms();
    faults_now(c, &f);
    if (f.tcp_reset_peer >= 0 && now - c->start >= f.tcp_reset_peer) {
        tcp_close(c, true);
        return;
    }
    if (f.tcp_timeout >= 0 && c->timeout_since < 0)
        c->timeout_since = now;
    else if (f.tcp_timeout < 0)
        c->timeout_since = -1;
    if (f.tcp_timeout > 0 && now - c->timeout_since >= f.tcp_timeout) {
        tcp_close(c, false);
        return;
    }
    int64_t wake = -1;
    int mask[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        fp_dir *d = &c->dir[i];
        int src = d->up ? 0 : 1, dst = 1 - src;
        dir_read(c, d, &f, now);
        int64_t ms = dir_write(c, d, &f, now);
        if (ms < 0) {
            tcp_close(c, false);
            return;
        }
        if (ms > 0 && (wake < 0 || ms < wake))
            wake = ms;
        if (!d->eof && lb_buf_len(&d->buf) < FP_TCP_WINDOW && d->mcount < FP_MARKS)
            mask[src] |= LB_EV_READ;
        if (ms == 0 && dir_due(d, now) > 0)
            mask[dst] |= LB_EV_WRITE;
    }
    if (c->dir[0].shut && c->dir[1].shut) {
        tcp_close(c, false);
        return;
    }
    if (f.tcp_reset_peer >= 0) {
        int64_t left = c->start + f.tcp_reset_peer - now;
        if (wake < 0 || left < wake)
            wake = left > 0 ? left : 0;
    }
    if (f.tcp_timeout > 0) {
        int64_t left = c->timeout_since + f.tcp_timeout - now;
        if (wake < 0 || left < wake)
            wake = left > 0 ? left : 0;
    }
    /* a change of the faults may concern an idle connection too: look again now and then */
    if (wake < 0 || wake > 100)
        wake = 100;
    lb_timer_start(c->w->loop, &c->timer, wake);
    lb_loop_set_mask(c->w->loop, c->fd[0], mask[0]);
    lb_loop_set_mask(c->w->loop, c->fd[1], mask[1]);
}

static void tcp_on_event(lb_loop *loop, int fd, int events, void *data)
{
    tcp_conn *c = data;
    if (c->connecting) {
        if (fd != c->fd[1])
            return;
        int e = lb_net_connect_result(fd);
        if (e == EINPROGRESS || e == EALREADY)
            return;
        if (e) { /* the upstream refused: the client sees its connection reset */
            tcp_close(c, true);
            return;
        }
        c->connecting = false;
        c->dir[0].t0 = c->dir[1].t0 = lb_now_ms();
    }
    tcp_step(c);
}

static void tcp_on_timer(lb_loop *loop, lb_timer *t, void *data)
{
    tcp_conn *c = data;
    if (!c->connecting)
        tcp_step(c);
}
