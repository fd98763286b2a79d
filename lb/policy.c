/* policy.c - the policy registry and the panic rule shared by every policy.
 *
 * Each policy is a separate module exporting one const lb_policy_ops; this file maps names
 * to them and wraps pick() with the contract's fallback: when no backend is up, requests
 * still try the backends in the order named (Envoy's panic mode; never a drained or removed
 * one, lb/admin.h), and with the slow-start
 * gate: a backend revived less than slow_start_ms ago keeps a pick with probability
 * elapsed / slow_start_ms (a draw from the policy's xorshift, reproducible with --seed);
 * a refused pick is made again with that backend excluded, and if no other is up it is
 * kept. HAProxy's `slowstart` ramps a weight instead; a weight ramp cannot slow the
 * fewest rule down (a revived server reporting TOTAL 0 stays the least loaded whatever
 * its weight), a gate on the share can. Costs nothing unless slow start is on and the
 * pick was revived: then one clock read, and a copy of excluded only when refused.
 */
#include "policy.h"

#include "loop.h"

#include <string.h>
#include <time.h>

static const lb_policy_ops *const registry[] = {
    &lb_policy_fewest,
    &lb_policy_rr,
    &lb_policy_leastconn,
    &lb_policy_p2c,
};

int lb_policy_init(lb_policy *p, const char *name, uint32_t seed)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        if (strcmp(registry[i]->name, name) == 0) {
            p->ops = registry[i];
            p->rng = seed ? seed : (uint64_t)time(NULL) * 2654435761u;
            if (p->rng == 0)
                p->rng = 88172645463325252ull;
            return 0;
        }
    }
    return -1;
}

void lb_policy_set_slow_start(lb_policy *p, int slow_start_ms)
{
    p->slow_start_ms = slow_start_ms > 0 ? slow_start_ms : 0;
}

/* 1 if the slow-start ramp lets backend b take this request. */
static int slow_start_admits(lb_policy *p, const lb_backend *b)
{
    if (!p->slow_start_ms || !b->revived_ms)
        return 1;
    int64_t elapsed = lb_now_ms() - b->revived_ms;
    if (elapsed >= p->slow_start_ms)
        return 1;
    if (elapsed < 0)
        elapsed = 0;
    return (int64_t)(lb_policy_random(p) % (uint64_t)p->slow_start_ms) < elapsed;
}

int lb_policy_choose(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    int i = p->ops->pick(p, t, excluded);
    if (i >= 0 && !slow_start_admits(p, &t->v[i])) {
        unsigned char more[LB_MAX_BACKENDS];
        memcpy(more, excluded, (size_t)t->n);
        more[i] = 1;
        int other = p->ops->pick(p, t, more);
        if (other >= 0)
            return other;
    }
    if (i >= 0)
        return i;
    for (i = 0; i < t->n; i++)
        if (!excluded[i] && lb_backend_selectable(&t->v[i]))
            return i;
    return -1;
}

void lb_policy_table_changed(lb_policy *p)
{
    memset(p->swrr, 0, sizeof p->swrr);
}
