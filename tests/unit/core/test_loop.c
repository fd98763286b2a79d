/* Unit tests for loop.c: timer ordering, stop/restart, fd readiness, unwatch safety and
 * lb_loop_close. */
#include "check.h"
#include "loop.h"

#include <unistd.h>

static int order[16], norder;

static void record(lb_loop *loop, lb_timer *t, void *data)
{
    order[norder++] = (int)(long)data;
    if (norder == 4)
        lb_loop_stop(loop);
}

static void test_timer_order(void)
{
    lb_loop *loop = lb_loop_create(0);
    CHECK(loop != NULL);
    lb_timer t[5];
    int delays[5] = {30, 10, 20, 5, 1000};
    for (long i = 0; i < 5; i++) {
        lb_timer_init(&t[i], record, (void *)i);
        lb_timer_start(loop, &t[i], delays[i]);
    }
    lb_timer_stop(loop, &t[4]); /* stopped timers never fire */
    CHECK(!lb_timer_active(&t[4]));
    lb_timer_start(loop, &t[0], 1); /* restart moves it first */
    int64_t start = lb_now_ms();
    CHECK(lb_loop_run(loop) == 0);
    CHECK(norder == 4);
    CHECK(order[0] == 0 && order[1] == 3 && order[2] == 1 && order[3] == 2);
    CHECK(lb_now_ms() - start >= 20);
    lb_loop_destroy(loop);
}

static int pipe_fds[2], reads, second_called;

static void on_second(lb_loop *loop, int fd, int events, void *data)
{
    second_called++;
}

static void on_readable(lb_loop *loop, int fd, int events, void *data)
{
    char c;
    CHECK(events & LB_EV_READ);
    CHECK(read(fd, &c, 1) == 1 && c == 'x');
    reads++;
    /* Unwatching another fd whose event may be pending in this round must be safe. */
    lb_loop_unwatch(loop, *(int *)data);
    lb_loop_stop(loop);
}

static void test_fd_events(void)
{
    lb_loop *loop = lb_loop_create(0);
    int other[2];
    CHECK(pipe(pipe_fds) == 0 && pipe(other) == 0);
    CHECK(lb_loop_watch(loop, pipe_fds[0], LB_EV_READ, on_readable, &other[0]) == 0);
    CHECK(lb_loop_watch(loop, other[0], LB_EV_READ, on_second, NULL) == 0);
    CHECK(lb_loop_mask(loop, pipe_fds[0]) == LB_EV_READ);
    CHECK(write(pipe_fds[1], "x", 1) == 1);
    CHECK(write(other[1], "y", 1) == 1);
    CHECK(lb_loop_run(loop) == 0);
    CHECK(reads == 1);
    /* Either the second fd fired before being unwatched or it was dropped: at most once. */
    CHECK(second_called <= 1);
    CHECK(lb_loop_set_mask(loop, pipe_fds[0], 0) == 0);
    CHECK(lb_loop_mask(loop, pipe_fds[0]) == 0);
    lb_loop_unwatch(loop, pipe_fds[0]);
    CHECK(lb_loop_set_mask(loop, pipe_fds[0], LB_EV_READ) < 0);
    close(pipe_fds[0]), close(pipe_fds[1]), close(other[0]), close(other[1]);
    lb_loop_destroy(loop);
}

static int closed_reads;

static void on_reused(lb_loop *loop, int fd, int events, void *data)
{
    char c;
    CHECK(read(fd, &c, 1) == 1 && c == 'z');
    closed_reads++;
    lb_loop_stop(loop);
}

/* lb_loop_close forgets the fd without epoll_ctl(DEL): the close itself removes the
 * registration, so the same descriptor number can be watched again (EPOLL_CTL_ADD would
 * fail with EEXIST if the old registration had survived) and only the new one fires. */
static void test_close_then_reuse(void)
{
    lb_loop *loop = lb_loop_create(0);
    int p[2], q[2];
    CHECK(pipe(p) == 0);
    CHECK(lb_loop_watch(loop, p[0], LB_EV_READ, on_second, NULL) == 0);
    int number = p[0];
    lb_loop_close(loop, p[0]);
    CHECK(lb_loop_mask(loop, number) == 0);
    CHECK(pipe(q) == 0);
    CHECK(q[0] == number); /* the lowest free descriptor */
    CHECK(lb_loop_watch(loop, q[0], LB_EV_READ, on_reused, NULL) == 0);
    second_called = 0;
    CHECK(write(q[1], "z", 1) == 1);
    CHECK(lb_loop_run(loop) == 0);
    CHECK(closed_reads == 1 && second_called == 0);
    lb_loop_close(loop, -1); /* harmless */
    lb_loop_unwatch(loop, q[0]);
    close(p[1]), close(q[0]), close(q[1]);
    lb_loop_destroy(loop);
}

static void on_wake_check(lb_loop *loop, void *data)
{
    if (++*(int *)data == 2)
        lb_loop_stop(loop);
}

static void test_wake(void)
{
    lb_loop *loop = lb_loop_create(0);
    int rounds = 0;
    lb_loop_set_before_sleep(loop, on_wake_check, &rounds);
    lb_loop_wake(loop); /* without the wake the loop would sleep forever */
    CHECK(lb_loop_run(loop) == 0);
    CHECK(rounds >= 2);
    lb_loop_destroy(loop);
}

int main(void)
{
    test_timer_order();
    test_fd_events();
    test_close_then_reuse();
    test_wake();
    return CHECK_RESULT();
}
