/* policy_rr.c - round robin over the backends that are up.
 *
 * The cursor advances past each pick, so down backends are skipped without losing the
 * rotation's fairness among the others. With weights that differ it is smooth weighted
 * round robin (nginx's): each candidate's current weight grows by its weight, the largest
 * is picked (the first named on a tie) and loses the sum of the candidates' weights. Over
 * any run of sum-of-weights picks each backend gets exactly its weight's share, spread out
 * (1:2:3 gives C B A C B C, not A B B C C C). Equal weights keep the plain cursor.
 */
#include "policy.h"

static int swrr_pick(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    int best = -1;
    int64_t sum = 0;
    for (int i = 0; i < t->n; i++) {
        if (!lb_backend_usable(&t->v[i]) || excluded[i])
            continue;
        p->swrr[i] += t->v[i].weight;
        sum += t->v[i].weight;
        if (best < 0 || p->swrr[i] > p->swrr[best])
            best = i;
    }
    if (best >= 0)
        p->swrr[best] -= sum;
    return best;
}

static int rr_pick(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    if (t->weighted)
        return swrr_pick(p, t, excluded);
    for (int k = 0; k < t->n; k++) {
        int i = (int)((p->rr_next + (uint32_t)k) % (uint32_t)t->n);
        if (lb_backend_usable(&t->v[i]) && !excluded[i]) {
            p->rr_next = (uint32_t)i + 1;
            return i;
        }
    }
    return -1;
}

const lb_policy_ops lb_policy_rr = {"rr", rr_pick};
