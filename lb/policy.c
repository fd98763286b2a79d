/* policy.c - the policy registry and the panic rule shared by every policy.
 *
 * Each policy is a separate module exporting one const lb_policy_ops; this file maps names
 * to them and wraps pick() with the contract's fallback: when no backend is up, requests
 * still try the backends in the order named (Envoy's panic mode).
 */
#include "policy.h"

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

int lb_policy_choose(lb_policy *p, const lb_backend_table *t, const unsigned char *excluded)
{
    int i = p->ops->pick(p, t, excluded);
    if (i >= 0)
        return i;
    for (i = 0; i < t->n; i++)
        if (!excluded[i])
            return i;
    return -1;
}
