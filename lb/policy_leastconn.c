/* policy_leastconn.c - the fewest requests in flight; ties rotate.
 *
 * The scan starts at a cursor that moves past each pick, so backends with equally few
 * requests in flight take turns (as HAProxy's leastconn does). Without the rotation, a
 * lightly loaded balancer, where every backend has 0 in flight, would send every request
 * to the backend named first. O(n) per pick; allocates nothing. With weights the key is
 * (in flight + 1) / weight, HAProxy's: the +1 makes an idle heavy backend preferred to an
 * idle light one; with equal weights the order is exactly that of in flight alone.
 */
#include "policy.h"

static int leastconn_pick(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    int best = -1;
    for (int k = 0; k < t->n; k++) {
        int i = (int)((p->rr_next + (uint32_t)k) % (uint32_t)t->n);
        if (!lb_backend_usable(&t->v[i]) || excluded[i])
            continue;
        if (best < 0 || lb_policy_inflight_less(&t->v[i], &t->v[best]))
            best = i;
    }
    if (best >= 0)
        p->rr_next = (uint32_t)best + 1;
    return best;
}

const lb_policy_ops lb_policy_leastconn = {"leastconn", leastconn_pick};
