/* checker.c - probe connections and the round scheduler.
 *
 * One probe per backend slot, preallocated: a round never allocates. A backend added while
 * running (lb/admin.c) is probed at once, alone ("solo": outside the round count), and
 * from then on in every round; one being removed is no longer probed. A probe goes CONNECTING ->
 * SENDING -> RECEIVING -> judged, all under one deadline (--health-timeout) started with
 * the connect. The round ends when every probe was judged; results are applied to the
 * table as each probe is judged, so a fast backend is usable before a slow one answers.
 * Invariants: at most one round in flight (`active` counts its unjudged probes); `pending`
 * remembers a round asked for meanwhile; the interval timer is re-armed at each round's
 * end, so "every 3 s" means 3 s without a round.
 */
#include "checker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health.h"

enum { PROBE_IDLE, PROBE_CONNECTING, PROBE_SENDING, PROBE_RECEIVING };

typedef struct lb_probe {
    lb_checker *owner;
    lb_backend *backend;
    int state;
    int fd;
    lb_timer deadline;
    char request[LB_HOST_MAX + 64];
    size_t request_len, sent;
    size_t len;
    int solo; /* started alone (a backend just added), outside any round */
    char answer[LB_HEALTH_MAX_ANSWER];
} lb_probe;

struct lb_checker {
    lb_loop *loop;
    lb_backend_table *table;
    const lb_config *cfg;
    lb_checker_hooks hooks;
    lb_probe *probes;
    int active; /* probes of the current round not yet judged */
    int in_round;
    int pending; /* a round was asked for during this one */
    int stopped;
    int forwarded; /* requests since the last R-triggered round */
    uint64_t started, done;
    lb_timer interval;
};

static void probe_io(lb_loop *loop, int fd, int events, void *data);

static void round_end(lb_checker *c)
{
    c->in_round = 0;
    c->done++;
    if (c->hooks.on_round_end)
        c->hooks.on_round_end(c->hooks.data);
    if (c->stopped)
        return;
    lb_timer_start(c->loop, &c->interval, c->cfg->health_interval_ms);
    if (c->pending) {
        c->pending = 0;
        lb_checker_request_round(c);
    }
}

static void probe_judge(lb_probe *p, int healthy, uint64_t errors, uint64_t total)
{
    lb_checker *c = p->owner;
    if (p->fd >= 0) {
        lb_loop_unwatch(c->loop, p->fd);
        close(p->fd);
        p->fd = -1;
    }
    lb_timer_stop(c->loop, &p->deadline);
    p->state = PROBE_IDLE;
    lb_backend_probe_result(p->backend, healthy, errors, total, lb_now_ms());
    if (c->hooks.on_result)
        c->hooks.on_result(c->hooks.data, p->backend, healthy);
    if (p->solo)
        p->solo = 0;
    else if (--c->active == 0)
        round_end(c);
}

static void probe_timeout(lb_loop *loop, lb_timer *timer, void *data)
{
    probe_judge(data, 0, 0, 0);
}

static void probe_start(lb_probe *p)
{
    lb_checker *c = p->owner;
    p->len = 0;
    p->sent = 0;
    p->fd = lb_net_connect(&p->backend->addr, NULL, 0);
    p->state = PROBE_CONNECTING;
    lb_timer_start(c->loop, &p->deadline, c->cfg->health_timeout_ms);
    if (p->fd < 0 || lb_loop_watch(c->loop, p->fd, LB_EV_WRITE, probe_io, p) < 0)
        probe_judge(p, 0, 0, 0);
}

static void probe_send(lb_probe *p)
{
    if (p->sent == 0)
        lb_backend_probe_written(p->backend);
    ssize_t n = send(p->fd, p->request + p->sent, p->request_len - p->sent, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            probe_judge(p, 0, 0, 0);
        return;
    }
    p->sent += (size_t)n;
    if (p->sent == p->request_len) {
        p->state = PROBE_RECEIVING;
        lb_loop_set_mask(p->owner->loop, p->fd, LB_EV_READ);
    }
}

static void probe_receive(lb_probe *p)
{
    uint64_t errors = 0, total = 0;
    int eof = 0;
    ssize_t n = recv(p->fd, p->answer + p->len, sizeof p->answer - p->len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        probe_judge(p, 0, 0, 0);
        return;
    }
    if (n == 0)
        eof = 1;
    p->len += (size_t)n;
    int verdict = lb_health_parse_response(p->answer, p->len, eof, &errors, &total);
    if (verdict == 0 && p->len == sizeof p->answer)
        verdict = -1; /* longer than any health answer */
    if (verdict != 0)
        probe_judge(p, verdict == 1, errors, total);
}

static void probe_io(lb_loop *loop, int fd, int events, void *data)
{
    lb_probe *p = data;
    if (p->state == PROBE_CONNECTING) {
        if (lb_net_connect_result(fd) != 0) {
            probe_judge(p, 0, 0, 0);
            return;
        }
        p->state = PROBE_SENDING;
    }
    if (p->state == PROBE_SENDING)
        probe_send(p);
    else if (p->state == PROBE_RECEIVING && (events & (LB_EV_READ | LB_EV_ERROR)))
        probe_receive(p);
}

static void interval_fired(lb_loop *loop, lb_timer *timer, void *data)
{
    lb_checker_request_round(data);
}

/* Sets probe i up for the backend now in slot i. */
static void probe_prepare(lb_checker *c, int i)
{
    lb_probe *p = &c->probes[i];
    p->owner = c;
    p->backend = &c->table->v[i];
    p->fd = -1;
    lb_timer_init(&p->deadline, probe_timeout, p);
    int len = snprintf(p->request, sizeof p->request,
                       "GET /healthcheck HTTP/1.1\r\nHost: %s\r\n\r\n", p->backend->name);
    p->request_len = (size_t)len;
}

lb_checker *lb_checker_create(lb_loop *loop, lb_backend_table *t, const lb_config *cfg,
                              const lb_checker_hooks *hooks)
{
    lb_checker *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->probes = calloc((size_t)(t->cap > 0 ? t->cap : 1), sizeof *c->probes);
    if (!c->probes) {
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->table = t;
    c->cfg = cfg;
    if (hooks)
        c->hooks = *hooks;
    lb_timer_init(&c->interval, interval_fired, c);
    for (int i = 0; i < t->cap; i++)
        probe_prepare(c, i);
    return c;
}

/* Slots whose backend a round probes: not FREE, and not being removed. */
static int probed(const lb_backend *b)
{
    return b->slot == LB_SLOT_ACTIVE || b->slot == LB_SLOT_DRAINING;
}

void lb_checker_request_round(lb_checker *c)
{
    if (c->stopped)
        return;
    if (c->in_round) {
        c->pending = 1;
        return;
    }
    lb_timer_stop(c->loop, &c->interval);
    c->in_round = 1;
    c->started++;
    /* Count probes as they start, plus one held until all started: a probe judged at once
     * must not end the round early. A probe still running alone is left to finish. */
    c->active = 1;
    for (int i = 0; i < c->table->n; i++) {
        lb_probe *p = &c->probes[i];
        if (!probed(p->backend) || p->state != PROBE_IDLE)
            continue;
        c->active++;
        probe_start(p);
    }
    if (--c->active == 0)
        round_end(c);
}

void lb_checker_backend_added(lb_checker *c, int i)
{
    lb_probe *p = &c->probes[i];
    if (p->state != PROBE_IDLE)
        return;
    probe_prepare(c, i);
    if (c->stopped)
        return;
    p->solo = 1;
    probe_start(p);
}

int lb_checker_probe_busy(const lb_checker *c, int i)
{
    return c->probes[i].state != PROBE_IDLE;
}

void lb_checker_note_forwarded(lb_checker *c)
{
    if (++c->forwarded >= c->cfg->every) {
        c->forwarded = 0;
        lb_checker_request_round(c);
    }
}

void lb_checker_stop(lb_checker *c)
{
    c->stopped = 1;
    lb_timer_stop(c->loop, &c->interval);
    for (int i = 0; i < c->table->cap; i++) {
        lb_probe *p = &c->probes[i];
        p->solo = 0;
        if (p->fd >= 0) {
            lb_loop_unwatch(c->loop, p->fd);
            close(p->fd);
            p->fd = -1;
        }
        lb_timer_stop(c->loop, &p->deadline);
        p->state = PROBE_IDLE;
    }
    c->active = 0;
    c->in_round = 0;
}

void lb_checker_destroy(lb_checker *c)
{
    if (!c)
        return;
    lb_checker_stop(c);
    free(c->probes);
    free(c);
}

uint64_t lb_checker_rounds_started(const lb_checker *c)
{
    return c->started;
}
uint64_t lb_checker_rounds_done(const lb_checker *c)
{
    return c->done;
}
int lb_checker_round_in_flight(const lb_checker *c)
{
    return c->in_round;
}
