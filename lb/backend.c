/* backend.c - the backend table and the bookkeeping that selection relies on.
 *
 * Invariants: sent_since counts requests sent after the last healthy report, so that
 * total + sent_since is what the backend would report now; a probe result subtracts what
 * was sent before the probe was written (the backend counted those). A backend is up only
 * after a healthy probe; a failed request or probe marks it down at once.
 */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int lb_backend_table_init(lb_backend_table *t, const lb_config *cfg, int cap, char *err,
                          size_t errlen)
{
    t->n = 0;
    t->weighted = 0;
    t->cap = cap > cfg->nbackends ? cap : cfg->nbackends;
    t->v = calloc((size_t)(t->cap > 0 ? t->cap : 1), sizeof *t->v);
    if (!t->v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < cfg->nbackends; i++) {
        lb_backend *b = &t->v[i];
        const lb_backend_spec *s = &cfg->backends[i];
        b->index = i;
        b->slot = LB_SLOT_ACTIVE;
        b->weight = s->weight > 0 ? s->weight : 1;
        if (lb_net_resolve(s->host, s->port, &b->addr, err, errlen) < 0) {
            free(t->v);
            t->v = NULL;
            return -1;
        }
        lb_config_backend_name(s, b->name, sizeof b->name);
    }
    t->n = cfg->nbackends;
    lb_backend_table_reweigh(t);
    return 0;
}

void lb_backend_table_reweigh(lb_backend_table *t)
{
    int first = 0;
    t->weighted = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->v[i].slot == LB_SLOT_FREE)
            continue;
        if (!first)
            first = t->v[i].weight;
        else if (t->v[i].weight != first)
            t->weighted = 1;
    }
}

void lb_backend_table_free(lb_backend_table *t)
{
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

void lb_backend_probe_result(lb_backend *b, int healthy, uint64_t errors, uint64_t total,
                             int64_t now_ms)
{
    if (healthy && (b->checked || b->ramp) && !b->up)
        b->revived_ms = now_ms > 0 ? now_ms : 1;
    b->checked = 1;
    b->last_check_ms = now_ms;
    b->last_check_wall = (int64_t)time(NULL);
    if (!healthy) {
        b->checks_failed++;
        b->up = 0;
        return;
    }
    b->checks_ok++;
    b->up = 1;
    b->total = total;
    b->errors = errors;
    b->sent_since = b->sent_since > b->sent_at_probe ? b->sent_since - b->sent_at_probe : 0;
    b->sent_at_probe = 0;
    b->consecutive_failures = 0;
}

void lb_backend_mark_down(lb_backend *b)
{
    b->up = 0;
}

int lb_backend_note_failure(lb_backend *b, int eject_after)
{
    b->failures++;
    b->consecutive_failures++;
    if (eject_after > 0 && b->consecutive_failures >= eject_after && b->up) {
        b->up = 0;
        return 1;
    }
    return 0;
}

void lb_backend_note_success(lb_backend *b)
{
    b->consecutive_failures = 0;
}

void lb_backend_request_begin(lb_backend *b)
{
    b->in_flight++;
    b->sent_since++;
}

void lb_backend_request_end(lb_backend *b)
{
    if (b->in_flight > 0)
        b->in_flight--;
}

void lb_backend_note_forwarded(lb_backend *b)
{
    b->forwarded++;
}

void lb_backend_connect_failed(lb_backend *b, int counted)
{
    b->failures++;
    if (counted && b->sent_since > 0)
        b->sent_since--;
    b->up = 0;
}

void lb_backend_probe_written(lb_backend *b)
{
    b->sent_at_probe = b->sent_since;
}

void lb_backend_note_pooled(lb_backend *b, int delta)
{
    b->pool_len += delta;
}
