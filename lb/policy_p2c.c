/* policy_p2c.c - power of two choices: two distinct random candidates, the one with fewer
 * requests in flight (the first drawn on a tie).
 *
 * The two draws are distinct, so with two or more candidates the busier of the pair is
 * never chosen and the busiest backend of all never is, unless it ties. Randomness is a
 * xorshift64 in the policy state, seeded by --seed for reproducible runs. With one
 * candidate it is picked; with none, -1. Allocates nothing. With weights the pair is
 * compared on (in flight + 1) / weight, as leastconn does.
 */
#include "policy.h"

static int p2c_pick(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    int cand[LB_MAX_BACKENDS], n = 0;
    for (int i = 0; i < t->n; i++)
        if (lb_backend_usable(&t->v[i]) && !excluded[i])
            cand[n++] = i;
    if (n <= 1)
        return n ? cand[0] : -1;
    int ia = (int)(lb_policy_random(p) % (uint64_t)n);
    int ib = (ia + 1 + (int)(lb_policy_random(p) % (uint64_t)(n - 1))) % n;
    int a = cand[ia], b = cand[ib];
    return lb_policy_inflight_less(&t->v[b], &t->v[a]) ? b : a;
}

const lb_policy_ops lb_policy_p2c = {"p2c", p2c_pick};
