/* queue.h - the FIFO of requests waiting beyond -N.
 *
 * An intrusive doubly linked list: the waiting object embeds an lb_queue_node, so pushing
 * and removing never allocate and a request that gives up (timeout, client gone) leaves
 * from the middle in O(1). Deadlines are the waiting object's own timer (see client.c).
 * Ownership: the queue owns nothing; a node must be removed before its object is freed.
 */
#ifndef LB_QUEUE_H
#define LB_QUEUE_H

#include <stddef.h>

typedef struct lb_queue_node {
    struct lb_queue_node *next, *prev; /* both NULL while not queued */
} lb_queue_node;

typedef struct lb_queue {
    lb_queue_node head; /* sentinel */
    size_t len;
} lb_queue;

void lb_queue_init(lb_queue *q);
/* Appends n (which must not be queued). */
void lb_queue_push(lb_queue *q, lb_queue_node *n);
/* Removes and returns the oldest node, or NULL when empty. */
lb_queue_node *lb_queue_pop(lb_queue *q);
/* Removes n if it is queued; harmless otherwise. */
void lb_queue_remove(lb_queue *q, lb_queue_node *n);
static inline int lb_queue_linked(const lb_queue_node *n)
{
    return n->next != NULL;
}
static inline size_t lb_queue_len(const lb_queue *q)
{
    return q->len;
}

#endif
