/* policy_rr.c - round robin over the backends that are up.
 *
 * The cursor advances past each pick, so down backends are skipped without losing the
 * rotation's fairness among the others.
 */
#include "policy.h"

static int rr_pick(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    for (int k = 0; k < t->n; k++) {
        int i = (int)((p->rr_next + (uint32_t)k) % (uint32_t)t->n);
        if (t->v[i].up && !excluded[i]) {
            p->rr_next = (uint32_t)i + 1;
            return i;
        }
    }
    return -1;
}

const lb_policy_ops lb_policy_rr = {"rr", rr_pick};
