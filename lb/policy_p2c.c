/* policy_p2c.c - power of two choices: two random candidates, the one with fewer in flight.
 *
 * Randomness is a xorshift64 in the policy state, seeded by --seed for reproducible runs.
 * With one candidate it is picked; with none, -1.
 */
#include "policy.h"

static uint64_t next_random(lb_policy *p)
{
    uint64_t x = p->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p->rng = x;
    return x;
}

static int p2c_pick(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    int cand[LB_MAX_BACKENDS], n = 0;
    for (int i = 0; i < t->n; i++)
        if (t->v[i].up && !excluded[i])
            cand[n++] = i;
    if (n <= 1)
        return n ? cand[0] : -1;
    int a = cand[next_random(p) % (uint64_t)n];
    int b = cand[next_random(p) % (uint64_t)n];
    return t->v[b].in_flight < t->v[a].in_flight ? b : a;
}

const lb_policy_ops lb_policy_p2c = {"p2c", p2c_pick};
