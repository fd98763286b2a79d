/* queue.c - an intrusive FIFO with O(1) push, pop and removal from the middle.
 *
 * Invariant: a node is queued exactly when its next pointer is not NULL; the sentinel
 * closes the ring, so no operation branches on an empty list except pop.
 */
#include "queue.h"

void lb_queue_init(lb_queue *q)
{
    q->head.next = q->head.prev = &q->head;
    q->len = 0;
}

void lb_queue_push(lb_queue *q, lb_queue_node *n)
{
    n->prev = q->head.prev;
    n->next = &q->head;
    q->head.prev->next = n;
    q->head.prev = n;
    q->len++;
}

void lb_queue_remove(lb_queue *q, lb_queue_node *n)
{
    if (!n->next)
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
    q->len--;
}

lb_queue_node *lb_queue_pop(lb_queue *q)
{
    lb_queue_node *n = q->head.next;
    if (n == &q->head)
        return NULL;
    lb_queue_remove(q, n);
    return n;
}
