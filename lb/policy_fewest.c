/* policy_fewest.c - the course rule: the fewest TOTAL (last report plus sent since).
 *
 * A tie goes to fewer ERRORS, then to the backend named first (the scan keeps the first of
 * equals). O(n) per pick; n is small (LB_MAX_BACKENDS). With weights the load compared is
 * load / weight, computed as a cross product (load_a * w_b against load_b * w_a, in 128
 * bits, so nothing rounds or overflows): with equal weights that is exactly the course
 * rule, and a backend of weight 3 ends up with three times the TOTAL of one of weight 1.
 */
#include "policy.h"

int lb_policy_fewest_better(const lb_backend *a, const lb_backend *b)
{
    unsigned __int128 la = (unsigned __int128)lb_backend_load(a) * (unsigned)b->weight;
    unsigned __int128 lb = (unsigned __int128)lb_backend_load(b) * (unsigned)a->weight;
    if (la != lb)
        return la < lb;
    return a->errors < b->errors;
}

static int fewest_pick(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    int best = -1;
    for (int i = 0; i < t->n; i++) {
        if (!lb_backend_usable(&t->v[i]) || excluded[i])
            continue;
        if (best < 0 || lb_policy_fewest_better(&t->v[i], &t->v[best]))
            best = i;
    }
    return best;
}

const lb_policy_ops lb_policy_fewest = {"fewest", fewest_pick};
