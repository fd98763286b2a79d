/* test_queue.c - the intrusive FIFO: order, removal from the middle, idempotent removal. */
#include "check.h"
#include "queue.h"

int main(void)
{
    lb_queue q;
    lb_queue_node n[5] = {{0}};
    lb_queue_init(&q);
    CHECK(lb_queue_pop(&q) == NULL && lb_queue_len(&q) == 0);
    for (int i = 0; i < 5; i++)
        lb_queue_push(&q, &n[i]);
    CHECK(lb_queue_len(&q) == 5 && lb_queue_linked(&n[2]));
    lb_queue_remove(&q, &n[2]);
    lb_queue_remove(&q, &n[2]); /* harmless twice */
    CHECK(!lb_queue_linked(&n[2]) && lb_queue_len(&q) == 4);
    CHECK(lb_queue_pop(&q) == &n[0]);
    CHECK(lb_queue_pop(&q) == &n[1]);
    lb_queue_push(&q, &n[2]);
    CHECK(lb_queue_pop(&q) == &n[3]);
    CHECK(lb_queue_pop(&q) == &n[4]);
    CHECK(lb_queue_pop(&q) == &n[2]);
    CHECK(lb_queue_pop(&q) == NULL && lb_queue_len(&q) == 0);
    return CHECK_RESULT();
}
