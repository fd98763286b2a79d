/* link.c - the live and dead connection lists both modes of the fault proxy keep per
 * worker (proxy.h). Doubly linked on the live list so a close is O(1) wherever the
 * connection stands; singly used on the dead list, which is only drained. */
#include <stdlib.h>

#include "proxy.h"

fp_lists *fp_lists_of(fs_worker *w)
{
    if (!w->mode_data)
        w->mode_data = calloc(1, sizeof(fp_lists));
    return w->mode_data;
}

void fp_link_add(fp_lists *l, fp_link *k)
{
    k->prev = NULL;
    k->dead = false;
    k->next = l->live;
    if (k->next)
        k->next->prev = k;
    l->live = k;
}

bool fp_link_kill(fp_lists *l, fp_link *k)
{
    if (k->dead)
        return false;
    k->dead = true;
    if (k->prev)
        k->prev->next = k->next;
    else
        l->live = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = NULL;
    k->next = l->dead;
    l->dead = k;
    return true;
}

fp_link *fp_link_reap(fp_lists *l)
{
    fp_link *k = l->dead;
    if (k)
        l->dead = k->next;
    return k;
}
