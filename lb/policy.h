/* policy.h - backend selection behind a small const table of callbacks.
 *
 * A policy picks one backend among the candidates: those up and not excluded (a request
 * excludes the backends it already tried). lb_policy_choose() adds the contract's panic
 * rule on top of any policy: with no candidate up, the first backend not excluded (nor
 * drained or removed), in the order named. With --slow-start it also gates a backend that came back
 * up recently: the pick is kept with a probability that grows linearly from 0 to 1 over the
 * duration, else the request goes to the policy's choice among the others (so a revived backend's
 * share ramps up instead of jumping, whatever the policy). Policies allocate nothing; their state
 * lives in lb_policy.
 */
#ifndef LB_POLICY_H
#define LB_POLICY_H

#include <stdint.h>

#include "backend.h"

typedef struct lb_policy lb_policy;

typedef struct lb_policy_ops {
    const char *name;
    /* Returns the index of a backend with up && !excluded[i], or -1 if there is none. */
    int (*pick)(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded);
} lb_policy_ops;

struct lb_policy {
    const lb_policy_ops *ops;
    uint32_t rr_next;              /* round robin cursor */
    uint64_t rng;                  /* xorshift state for p2c */
    int64_t swrr[LB_MAX_BACKENDS]; /* smooth weighted round robin: current weights */
    int slow_start_ms;             /* --slow-start (0: off) */
};

extern const lb_policy_ops lb_policy_fewest;    /* policy_fewest.c: the course rule */
extern const lb_policy_ops lb_policy_rr;        /* policy_rr.c */
extern const lb_policy_ops lb_policy_leastconn; /* policy_leastconn.c */
extern const lb_policy_ops lb_policy_p2c;       /* policy_p2c.c */

/* Sets p up for the named policy. Returns 0, or -1 for an unknown name. */
int lb_policy_init(lb_policy *p, const char *name, uint32_t seed);

/* The next xorshift64 draw from the policy's state (p2c, the slow-start gate). */
static inline uint64_t lb_policy_random(lb_policy *p)
{
    uint64_t x = p->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p->rng = x;
    return x;
}

/* Sets the slow-start duration in ms (0: off, the default after lb_policy_init). */
void lb_policy_set_slow_start(lb_policy *p, int slow_start_ms);

/* The backend a request should try next: the policy's pick (gated by slow start), else
 * (panic) the first backend not excluded in the order named. Returns its index, or -1 when
 * every one is excluded. */
int lb_policy_choose(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded);

/* The table's set or weights changed (lb/admin.c): smooth weighted round robin starts its
 * rotation afresh, as nginx does when its upstream changes. */
void lb_policy_table_changed(lb_policy *p);

/* 1 if a is a better fewest-total choice than b (fewer load / weight, then fewer errors). */
int lb_policy_fewest_better(const lb_backend *a, const lb_backend *b);

/* 1 if a has fewer requests in flight than b, per weight: (in_flight + 1) / weight. */
static inline int lb_policy_inflight_less(const lb_backend *a, const lb_backend *b)
{
    return (int64_t)(a->in_flight + 1) * b->weight < (int64_t)(b->in_flight + 1) * a->weight;
}

#endif
