/* policy_leastconn.c - the fewest requests in flight; ties go to the backend named first. */
#include "policy.h"

static int leastconn_pick(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    int best = -1;
    for (int i = 0; i < t->n; i++) {
        if (!t->v[i].up || excluded[i])
            continue;
        if (best < 0 || t->v[i].in_flight < t->v[best].in_flight)
            best = i;
    }
    return best;
}

const lb_policy_ops lb_policy_leastconn = {"leastconn", leastconn_pick};
