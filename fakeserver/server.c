/* server.c - the dispatcher: binds, starts the workers, accepts and hands connections out,
 * and applies the faults that act on the listener (refuse, stall) or the process (crash-at).
 *
 * The dispatcher is the main thread and runs its own lb_loop, which also serves the control
 * port and the timeline, so the process has exactly N + 1 threads. SIGTERM and SIGINT are
 * blocked in every thread and read through a signalfd: the dispatcher stops the workers,
 * joins them and frees everything, so a clean stop exits 0.
 * Faults are one value behind faults_lock: writers are the dispatcher (control, timeline),
 * readers every worker, once per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "control.h"
#include "net.h"
#include "server.h"
#include "timeline.h"

#define FS_BACKLOG 1024

void fs_server_faults(fs_server *s, fs_faults *out, uint64_t *generation)
{
    pthread_mutex_lock(&s->faults_lock);
    *out = s->faults;
    if (generation)
        *generation = s->generation;
    pthread_mutex_unlock(&s->faults_lock);
}

void fs_server_crash(fs_server *s, const fs_faults *f)
{
    if (f->crash_mode == FS_CRASH_ABORT) {
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    _exit((int)f->crash_status);
}

static void crash_timer_fn(lb_loop *loop, lb_timer *t, void *data)
{
    fs_server *s = data;
    fs_faults f;
    fs_server_faults(s, &f, NULL);
    fs_server_crash(s, &f);
}

static void arm_crash_timer(fs_server *s, const fs_faults *f)
{
    lb_timer_stop(s->loop, &s->crash_timer);
    if (f->crash_at > 0) {
        int64_t left = s->start_ms + f->crash_at - lb_now_ms();
        lb_timer_start(s->loop, &s->crash_timer, left > 0 ? left : 0);
    }
}

uint64_t fs_server_set_faults(fs_server *s, const fs_faults *f)
{
    uint64_t gen;
    pthread_mutex_lock(&s->faults_lock);
    s->faults = *f;
    gen = ++s->generation;
    atomic_store(&s->generation_seen, gen);
    pthread_mutex_unlock(&s->faults_lock);
    arm_crash_timer(s, f);
    fs_server_apply_listen(s);
    if (atomic_load(&s->parked) > 0)
        fs_workers_kick(s); /* a raised capacity admits waiting requests */
    return gen;
}

static void resume_accept(lb_loop *loop, lb_timer *t, void *data)
{
    fs_server *s = data;
    s->listen_mask = -1; /* force apply_listen to re-watch */
    fs_server_apply_listen(s);
}

static void on_accept(lb_loop *loop, int fd, int events, void *data)
{
    fs_server *s = data;
    for (int i = 0; i < 64; i++) {
        int c = lb_net_accept(fd);
        if (c < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* out of descriptors: a level-triggered listener would spin, so pause 100 ms */
            lb_loop_set_mask(loop, fd, 0);
            s->listen_mask = 0;
            lb_timer_start(loop, &s->accept_timer, 100);
            return;
        }
        if (c < 0)
            return; /* EAGAIN: nothing more waiting */
        lb_net_set_nodelay(c);
        fs_workers_dispatch(s, c);
    }
}

int fs_server_apply_listen(fs_server *s)
{
    fs_faults f;
    if (s->stopping)
        return 0; /* the port was released on SIGTERM: never take it again */
    fs_server_faults(s, &f, NULL);
    if (f.refuse) {
        if (s->listen_fd >= 0) {
            lb_loop_unwatch(s->loop, s->listen_fd);
            close(s->listen_fd);
            s->listen_fd = -1;
        }
        return 0;
    }
    if (s->listen_fd < 0) {
        char err[256];
        s->listen_fd = lb_net_listen(NULL, s->port, FS_BACKLOG, 0, err, sizeof(err));
        if (s->listen_fd < 0) {
            fprintf(stderr, "fakeserver: cannot listen again: %s\n", err);
            return -1;
        }
        s->listen_mask = -1;
    }
    int mask = f.stall ? 0 : LB_EV_READ;
    if (mask != s->listen_mask) {
        if (lb_loop_watch(s->loop, s->listen_fd, mask, on_accept, s) < 0)
            return -1;
        s->listen_mask = mask;
    }
    return 0;
}

/* Runs on the dispatcher each round: faults changed by a worker (timeline count steps)
 * get their listener and crash-at effects here, on the thread that owns them. */
static void dispatcher_before_sleep(lb_loop *loop, void *data)
{
    fs_server *s = data;
    if (atomic_exchange(&s->listen_dirty, 0)) {
        fs_faults f;
        fs_server_faults(s, &f, NULL);
        arm_crash_timer(s, &f);
        fs_server_apply_listen(s);
        if (atomic_load(&s->parked) > 0)
            fs_workers_kick(s);
    }
}

/* SIGTERM/SIGINT: the port is released first, so a script that starts the next server on
 * it a moment later binds at once; the workers are stopped and joined afterwards. */
static void on_signal(lb_loop *loop, int fd, int events, void *data)
{
    fs_server *s = data;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return;
    s->stopping = 1;
    if (s->listen_fd >= 0) {
        lb_loop_unwatch(loop, s->listen_fd);
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    lb_loop_stop(loop);
}

static int setup_signals(fs_server *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL))
        return -1;
    s->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->signal_fd < 0)
        return -1;
    return lb_loop_watch(s->loop, s->signal_fd, LB_EV_READ, on_signal, s);
}

static int bind_all(fs_server *s, fs_config *cfg, char *err, size_t errlen)
{
    s->listen_fd = lb_net_listen(NULL, cfg->port, FS_BACKLOG, 0, err, errlen);
    if (s->listen_fd < 0)
        return -1;
    s->port = lb_net_local_port(s->listen_fd);
    s->listen_mask = -1;
    if (cfg->control_port >= 0 &&
        fs_control_start(s, cfg->control_bind, cfg->control_port, err, errlen) < 0)
        return -1;
    return 0;
}

int fs_server_init(fs_server *s, fs_config *cfg, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->listen_fd = s->control_fd = s->signal_fd = s->dirfd = -1;
    s->nworkers = cfg->threads;
    s->start_ms = lb_now_ms();
    s->faults = cfg->faults;
    pthread_mutex_init(&s->faults_lock, NULL);
    s->log.fd = -1;
    pthread_mutex_init(&s->log.lock, NULL);
    s->dirfd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        snprintf(err, errlen, "cannot open directory %s: %s", cfg->root, strerror(errno));
        return -1;
    }
    pthread_mutex_destroy(&s->log.lock);
    if (fs_log_open(&s->log, cfg->log_path, cfg->log_count, cfg->errors, cfg->total) < 0) {
        snprintf(err, errlen, "cannot open log %s: %s", cfg->log_path, strerror(errno));
        return -1;
    }
    s->loop = lb_loop_create(0);
    if (!s->loop) {
        snprintf(err, errlen, "cannot create the event loop: %s", strerror(errno));
        return -1;
    }
    lb_timer_init(&s->crash_timer, crash_timer_fn, s);
    lb_timer_init(&s->accept_timer, resume_accept, s);
    lb_loop_set_before_sleep(s->loop, dispatcher_before_sleep, s);
    if (cfg->timeline && fs_timeline_start(s, cfg->timeline, err, errlen) < 0)
        return -1;
    /* Workers first: a script that polls the port and then counts /proc/PID/task must
     * already see N + 1 threads once a connection is accepted. */
    if (setup_signals(s) < 0 || fs_workers_start(s) < 0) {
        snprintf(err, errlen, "cannot start: %s", strerror(errno));
        return -1;
    }
    if (bind_all(s, cfg, err, errlen) < 0)
        return -1;
    arm_crash_timer(s, &s->faults);
    if (fs_server_apply_listen(s) < 0) {
        snprintf(err, errlen, "cannot watch the listener");
        return -1;
    }
    if (cfg->ready || cfg->port == 0) {
        printf("READY port=%d control=%d pid=%d\n", s->port, s->control_port, (int)getpid());
        fflush(stdout);
    }
    return 0;
}

int fs_server_run(fs_server *s)
{
    return lb_loop_run(s->loop) < 0 ? -1 : 0;
}

void fs_server_decide(fs_server *s, fs_worker *w, uint64_t seq, bool health,
                      const lb_http_request *r, fs_faults *faults, fs_action *act)
{
    fs_timeline_on_request(s, seq);
    *faults = *fs_worker_faults(w);
    fs_request_info info = {
        .seq = seq,
        .health = health,
        .method = r->method,
        .method_len = r->method_len,
        .target = r->target,
        .target_len = r->target_len,
        .uptime_ms = lb_now_ms() - s->start_ms,
        .headers = r->headers,
        .num_headers = r->num_headers,
    };
    if (fs_faults_in_scope(faults, &info))
        info.scoped_seq = atomic_fetch_add(&s->scoped_seq, 1) + 1;
    fs_faults_decide(faults, &info, act);
    for (int k = 0; k < FS_FK_COUNT; k++)
        if (act->kinds & (1u << k))
            atomic_fetch_add(&s->counters.faults[k], 1);
    if (act->crash_now)
        fs_server_crash(s, faults);
}

void fs_server_fini(fs_server *s)
{
    fs_workers_stop(s);
    fs_timeline_stop(s);
    fs_control_stop(s);
    if (s->loop) {
        lb_timer_stop(s->loop, &s->crash_timer);
        lb_timer_stop(s->loop, &s->accept_timer);
        if (s->listen_fd >= 0)
            lb_loop_unwatch(s->loop, s->listen_fd);
        if (s->signal_fd >= 0)
            lb_loop_unwatch(s->loop, s->signal_fd);
        lb_loop_destroy(s->loop);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->signal_fd >= 0)
        close(s->signal_fd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    fs_log_close(&s->log);
    pthread_mutex_destroy(&s->faults_lock);
}
