/* loop.h - a small epoll event loop with monotonic timers.
 *
 * The loop knows nothing of HTTP. It dispatches readiness of file descriptors to one
 * callback per fd and fires intrusive timers kept in a binary heap. Nothing here allocates
 * per event: timers live inside the caller's objects.
 *
 * Ownership: the caller owns every fd and every lb_timer. A callback may close or unwatch
 * any fd, including its own, and may stop or start any timer; events already collected for
 * an fd that was unwatched in the same round are dropped. Objects should still be freed in
 * a later phase (see lb_loop_set_before_sleep) rather than deep inside a callback chain.
 * The loop is single-threaded: only lb_loop_wake() may be called from another thread.
 */
#ifndef LB_CORE_LOOP_H
#define LB_CORE_LOOP_H

#include <stdint.h>

typedef struct lb_loop lb_loop;

enum { LB_EV_READ = 1, LB_EV_WRITE = 2, LB_EV_ERROR = 4 };

/* Called when fd is ready; events is a mask of LB_EV_*. LB_EV_ERROR (hang-up or error) is
 * reported together with the watched directions, so a plain read/write sees it. An fd
 * watched with mask 0 (say, an idle pooled connection) gets LB_EV_ERROR alone when its peer
 * resets or hangs up: its owner must then unwatch and close it. */
typedef void lb_file_fn(lb_loop *loop, int fd, int events, void *data);

typedef struct lb_timer lb_timer;
typedef void lb_timer_fn(lb_loop *loop, lb_timer *timer, void *data);

/* An intrusive timer: embed it, lb_timer_init() it once, start/stop it freely. */
struct lb_timer {
    int64_t when_ms; /* absolute monotonic deadline while active */
    int heap_index;  /* -1 while inactive */
    lb_timer_fn *fn;
    void *data;
};

/* Milliseconds on the monotonic clock. Never goes backwards. */
int64_t lb_now_ms(void);
/* The loop's clock: lb_now_ms() as read once per round, right after epoll_wait returned
 * (and when the loop was created or started running). Every handler of a round sees the
 * same time, so stamping an event or arming a timer costs no clock read. It is never
 * ahead of the real clock and lags it by the round's work so far. */
int64_t lb_loop_now(const lb_loop *loop);

/* Creates a loop able to watch fds below max_fds (0: the RLIMIT_NOFILE soft limit).
 * Returns NULL with errno set on failure. */
lb_loop *lb_loop_create(int max_fds);
/* Frees the loop. Does not close watched fds; the caller owns them. */
void lb_loop_destroy(lb_loop *loop);

/* Watches fd for the directions in mask (LB_EV_READ|LB_EV_WRITE; 0 keeps the fd registered
 * but silent), replacing any earlier callback. Returns 0, or -1 with errno set. */
int lb_loop_watch(lb_loop *loop, int fd, int mask, lb_file_fn *fn, void *data);
/* Changes only the mask of an fd already watched. Returns 0, or -1 with errno set. */
int lb_loop_set_mask(lb_loop *loop, int fd, int mask);
/* Current mask of fd (0 if not watched). */
int lb_loop_mask(const lb_loop *loop, int fd);
/* Stops watching fd. Safe for fds not watched. Call it before close(). */
void lb_loop_unwatch(lb_loop *loop, int fd);
/* Stops watching fd and closes it, without the epoll_ctl(DEL) of lb_loop_unwatch: closing
 * the last reference to a file removes it from the epoll set. Only for fds that have no
 * other reference (no dup, no fork). Safe for fds not watched. */
void lb_loop_close(lb_loop *loop, int fd);

void lb_timer_init(lb_timer *timer, lb_timer_fn *fn, void *data);
/* (Re)arms the timer to fire after ms milliseconds (0: on the next round), counted from
 * lb_loop_now(). */
void lb_timer_start(lb_loop *loop, lb_timer *timer, int64_t ms);
/* Lazy deadlines: makes sure the timer fires at deadline (lb_loop_now() time) or earlier,
 * touching the heap only when it is inactive or armed for later. An owner that keeps its
 * deadline in its own object moves it freely (to later: no heap operation at all) and, when
 * the timer fires early, arms it again for what is left. */
void lb_timer_arm_by(lb_loop *loop, lb_timer *timer, int64_t deadline);
/* Disarms the timer; safe on an inactive timer. */
void lb_timer_stop(lb_loop *loop, lb_timer *timer);
static inline int lb_timer_active(const lb_timer *timer)
{
    return timer->heap_index >= 0;
}

/* A hook run once per round after events and timers, before the loop sleeps again:
 * the place to free objects marked for closing. */
void lb_loop_set_before_sleep(lb_loop *loop, void (*fn)(lb_loop *, void *), void *data);

/* Runs until lb_loop_stop(). Returns 0, or -1 if epoll_wait failed with other than EINTR. */
int lb_loop_run(lb_loop *loop);
/* Makes lb_loop_run() return after the current round. */
void lb_loop_stop(lb_loop *loop);
/* Thread-safe: interrupts a sleeping loop so that its before-sleep hook runs soon. */
void lb_loop_wake(lb_loop *loop);

#endif
