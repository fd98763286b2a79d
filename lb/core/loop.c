/* loop.c - epoll readiness dispatch and a binary heap of intrusive timers.
 *
 * Design: one slot per fd (an array sized to the fd limit) holds the callback, its data and
 * the mask registered with epoll, so lb_loop_set_mask is a single epoll_ctl and a callback
 * lookup is an index. Events are level-triggered: a handler that stops early because a
 * buffer is full simply drops that direction from its mask, which is how backpressure is
 * expressed. Before dispatching an event the slot is re-checked, so an fd unwatched by an
 * earlier callback in the same round is skipped.
 *
 * Timers live in the caller's objects; the heap stores pointers and each timer remembers
 * its index, so start, stop and restart are O(log n) and allocate only when the heap grows.
 * Timer callbacks whose deadline has passed run after the fd events of a round; a callback
 * may restart its own timer.
 *
 * The clock is read once per round, after epoll_wait (lb_loop_now): timers, deadlines and
 * I/O stamps of the round all use that time, so a keep-alive request costs no clock read
 * of its own. The sleep is computed from the same time, so a timer may fire late by the
 * work of the round before the sleep (microseconds to a few milliseconds); none fires
 * early with respect to the events that armed it, which happened before the clock read.
 *
 * lb_loop_wake writes to an eventfd, the only cross-thread entry point.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

typedef struct loop_slot {
    lb_file_fn *fn;
    void *data;
    int mask;       /* directions registered with epoll */
    int registered; /* known to epoll (possibly with mask 0) */
} loop_slot;

struct lb_loop {
    int epfd;
    int wakefd;
    int max_fds;
    int stopped;
    int running;    /* inside lb_loop_run: now_ms is the round's time */
    int64_t now_ms; /* lb_loop_now(): the clock as read after the last epoll_wait */
    loop_slot *slots;
    lb_timer **heap;
    size_t heap_len, heap_cap;
    void (*before_sleep)(lb_loop *, void *);
    void *before_sleep_data;
    struct epoll_event events[LOOP_MAX_EVENTS];
};

int64_t lb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t lb_loop_now(const lb_loop *loop)
{
    return loop->running ? loop->now_ms : lb_now_ms();
}

lb_loop *lb_loop_create(int max_fds)
{
    if (max_fds <= 0) {
        struct rlimit rl;
        max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                      ? (int)rl.rlim_cur
                      : 65536;
        if (max_fds > 1 << 20)
            max_fds = 1 << 20;
    }
    lb_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->epfd = loop->wakefd = -1;
    loop->max_fds = max_fds;
    loop->now_ms = lb_now_ms();
    loop->slots = calloc((size_t)max_fds, sizeof(loop_slot));
    if (!loop->slots)
        goto error;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        goto error;
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakefd < 0)
        goto error;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = -1};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0)
        goto error;
    return loop;
error:;
    int saved = errno;
    lb_loop_destroy(loop);
    errno = saved;
    return NULL;
}

void lb_loop_destroy(lb_loop *loop)
{
    if (!loop)
        return;
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    free(loop->slots);
    free(loop->heap);
    free(loop);
}

static uint32_t loop_epoll_bits(int mask)
{
    return (mask & LB_EV_READ ? EPOLLIN | EPOLLRDHUP : 0) | (mask & LB_EV_WRITE ? EPOLLOUT : 0);
}

int lb_loop_watch(lb_loop *loop, int fd, int mask, lb_file_fn *fn, void *data)
{
    if (fd < 0 || fd >= loop->max_fds) {
        errno = ERANGE;
        return -1;
    }
    loop_slot *slot = &loop->slots[fd];
    struct epoll_event ev = {.events = loop_epoll_bits(mask), .data.fd = fd};
    int op = slot->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->epfd, op, fd, &ev) < 0)
        return -1;
    slot->fn = fn;
    slot->data = data;
    slot->mask = mask;
    slot->registered = 1;
    return 0;
}

int lb_loop_set_mask(lb_loop *loop, int fd, int mask)
{
    if (fd < 0 || fd >= loop->max_fds || !loop->slots[fd].registered) {
        errno = EBADF;
        return -1;
    }
    loop_slot *slot = &loop->slots[fd];
    if (slot->mask == mask)
        return 0;
    struct epoll_event ev = {.events = loop_epoll_bits(mask), .data.fd = fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return -1;
    slot->mask = mask;
    return 0;
}

int lb_loop_mask(const lb_loop *loop, int fd)
{
    if (fd < 0 || fd >= loop->max_fds)
        return 0;
    return loop->slots[fd].mask;
}

void lb_loop_unwatch(lb_loop *loop, int fd)
{
    if (fd < 0 || fd >= loop->max_fds || !loop->slots[fd].registered)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    loop->slots[fd] = (loop_slot){0};
}

void lb_loop_close(lb_loop *loop, int fd)
{
    if (fd < 0)
        return;
    if (fd < loop->max_fds)
        loop->slots[fd] = (loop_slot){0};
    close(fd);
}

/* ---- timers: a binary min-heap on when_ms ---------------------------------------- */

void lb_timer_init(lb_timer *timer, lb_timer_fn *fn, void *data)
{
    timer->when_ms = 0;
    timer->heap_index = -1;
    timer->fn = fn;
    timer->data = data;
}

static void heap_place(lb_loop *loop, size_t i, lb_timer *t)
{
    loop->heap[i] = t;
    t->heap_index = (int)i;
}

static void heap_up(lb_loop *loop, size_t i)
{
    lb_timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->when_ms <= t->when_ms)
            break;
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void heap_down(lb_loop *loop, size_t i)
{
    lb_timer *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->heap_len)
            break;
        if (child + 1 < loop->heap_len &&
            loop->heap[child + 1]->when_ms < loop->heap[child]->when_ms)
            child++;
        if (loop->heap[child]->when_ms >= t->when_ms)
            break;
        heap_place(loop, i, loop->heap[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

void lb_timer_stop(lb_loop *loop, lb_timer *timer)
{
    if (timer->heap_index < 0)
        return;
    size_t i = (size_t)timer->heap_index;
    timer->heap_index = -1;
    lb_timer *last = loop->heap[--loop->heap_len];
    if (i == loop->heap_len)
        return;
    heap_place(loop, i, last);
    heap_up(loop, i);
    heap_down(loop, (size_t)last->heap_index);
}

void lb_timer_start(lb_loop *loop, lb_timer *timer, int64_t ms)
{
    lb_timer_stop(loop, timer);
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        lb_timer **heap = realloc(loop->heap, cap * sizeof(*heap));
        if (!heap)
            abort(); /* out of memory for a timer slot: nothing sane to do (see README) */
        loop->heap = heap;
        loop->heap_cap = cap;
    }
    if (!loop->running)
        loop->now_ms = lb_now_ms(); /* armed before the loop runs: no round time yet */
    timer->when_ms = loop->now_ms + (ms > 0 ? ms : 0);
    heap_place(loop, loop->heap_len++, timer);
    heap_up(loop, loop->heap_len - 1);
}

void lb_timer_arm_by(lb_loop *loop, lb_timer *timer, int64_t deadline)
{
    if (timer->heap_index < 0 || timer->when_ms > deadline)
        lb_timer_start(loop, timer, deadline - lb_loop_now(loop));
}

static void loop_run_timers(lb_loop *loop)
{
    int64_t now = loop->now_ms;
    /* Timers started during this pass with a zero delay wait for the next round, so a
     * timer that keeps re-arming itself cannot starve file events. */
    size_t budget = loop->heap_len;
    while (budget-- > 0 && loop->heap_len > 0 && loop->heap[0]->when_ms <= now) {
        lb_timer *t = loop->heap[0];
        lb_timer_stop(loop, t);
        t->fn(loop, t, t->data);
    }
}

static int loop_wait_ms(const lb_loop *loop)
{
    if (loop->stopped)
        return 0;
    if (loop->heap_len == 0)
        return -1;
    int64_t delta = loop->heap[0]->when_ms - loop->now_ms;
    if (delta <= 0)
        return 0;
    return delta > 60000 ? 60000 : (int)delta;
}

void lb_loop_set_before_sleep(lb_loop *loop, void (*fn)(lb_loop *, void *), void *data)
{
    loop->before_sleep = fn;
    loop->before_sleep_data = data;
}

static void loop_dispatch(lb_loop *loop, int n)
{
    for (int i = 0; i < n; i++) {
        int fd = loop->events[i].data.fd;
        uint32_t bits = loop->events[i].events;
        if (fd < 0) {
            uint64_t drained;
            while (read(loop->wakefd, &drained, sizeof(drained)) > 0) {
            }
            continue;
        }
        loop_slot *slot = &loop->slots[fd];
        if (!slot->registered || !slot->fn)
            continue;
        int events = 0;
        if (bits & (EPOLLIN | EPOLLRDHUP))
            events |= LB_EV_READ;
        if (bits & EPOLLOUT)
            events |= LB_EV_WRITE;
        if (bits & (EPOLLERR | EPOLLHUP))
            events |= LB_EV_ERROR | slot->mask;
        /* With mask 0 only an error or hang-up is delivered (alone): epoll reports those
         * whatever the mask, and the owner must close the fd or the loop would spin. */
        events &= slot->mask | LB_EV_ERROR;
        if (events)
            slot->fn(loop, fd, events, slot->data);
    }
}

int lb_loop_run(lb_loop *loop)
{
    loop->stopped = 0;
    loop->running = 1;
    loop->now_ms = lb_now_ms();
    while (!loop->stopped) {
        if (loop->before_sleep)
            loop->before_sleep(loop, loop->before_sleep_data);
        if (loop->stopped)
            break;
        int n = epoll_wait(loop->epfd, loop->events, LOOP_MAX_EVENTS, loop_wait_ms(loop));
        loop->now_ms = lb_now_ms();
        if (n < 0) {
            if (errno == EINTR)
                continue;
            loop->running = 0;
            return -1;
        }
        loop_dispatch(loop, n);
        loop_run_timers(loop);
    }
    if (loop->before_sleep)
        loop->before_sleep(loop, loop->before_sleep_data);
    loop->running = 0;
    return 0;
}

void lb_loop_stop(lb_loop *loop)
{
    loop->stopped = 1;
}

void lb_loop_wake(lb_loop *loop)
{
    uint64_t one = 1;
    ssize_t ignored = write(loop->wakefd, &one, sizeof(one));
    (void)ignored;
}
