/* worker.c - N worker threads, each running its own lb_loop over the connections the
 * dispatcher hands it.
 *
 * Hand-off: the dispatcher appends the fd to the worker's pending array under its mutex and
 * calls lb_loop_wake(); the worker adopts pending fds in its before-sleep hook, which is
 * also where closed connections are freed (never inside their own callbacks) and where
 * connections parked on the capacity fault are retried.
 * Invariant: a connection is touched only by the thread of the worker that adopted it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

static void worker_before_sleep(lb_loop *loop, void *data)
{
    fs_worker *w = data;
    int *fds = NULL;
    size_t n = 0;
    int stop, kick;
    pthread_mutex_lock(&w->lock);
    if (w->npending) {
        fds = w->pending;
        n = w->npending;
        w->pending = NULL;
        w->npending = w->cap = 0;
    }
    stop = w->stop;
    kick = w->parked_wake;
    w->parked_wake = 0;
    pthread_mutex_unlock(&w->lock);
    const fs_conn_mode *mode = w->srv->cfg->mode;
    for (size_t i = 0; i < n; i++)
        if (mode ? mode->adopt(w, fds[i]) < 0 : !fs_conn_new(w, fds[i]))
            close(fds[i]);
    free(fds);
    if (mode)
        mode->before_sleep(w);
    else
        fs_conn_answer_ready(w);
    if (kick) {
        /* a retry may close its connection (moving it to the dead list): step first */
        fs_conn *next;
        for (fs_conn *c = w->conns; c; c = next) {
            next = fs_conn_next(c);
            if (fs_conn_parked(c))
                fs_conn_retry_parked(c);
        }
    }
    while (w->dead) {
        fs_conn *c = w->dead;
        w->dead = fs_conn_next(c);
        fs_conn_free(c);
    }
    if (stop)
        lb_loop_stop(loop);
}

const fs_faults *fs_worker_faults(fs_worker *w)
{
    if (w->faults_gen != atomic_load(&w->srv->generation_seen))
        fs_server_faults(w->srv, &w->faults, &w->faults_gen);
    return &w->faults;
}

static void *worker_main(void *arg)
{
    fs_worker *w = arg;
    lb_loop_run(w->loop);
    return NULL;
}

int fs_workers_start(fs_server *s)
{
    s->workers = calloc((size_t)s->nworkers, sizeof(fs_worker));
    if (!s->workers)
        return -1;
    for (int i = 0; i < s->nworkers; i++) {
        fs_worker *w = &s->workers[i];
        w->srv = s;
        w->index = i;
        w->faults_gen = UINT64_MAX; /* forces the first copy */
        fs_fcache_init(&w->fcache);
        pthread_mutex_init(&w->lock, NULL);
        w->loop = lb_loop_create(0);
        if (!w->loop) {
            s->nworkers = 0; /* nothing to join; the process is about to exit */
            return -1;
        }
        lb_loop_set_before_sleep(w->loop, worker_before_sleep, w);
    }
    for (int i = 0; i < s->nworkers; i++)
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i])) {
            s->nworkers = i; /* join only the threads that exist */
            return -1;
        }
    return 0;
}

static void worker_free_conns(fs_worker *w)
{
    if (w->srv->cfg->mode)
        w->srv->cfg->mode->stop(w);
    /* Closing moves each connection to the dead list. */
    w->ready = NULL;
    while (w->conns)
        fs_conn_shutdown(w->conns);
    while (w->dead) {
        fs_conn *c = w->dead;
        w->dead = fs_conn_next(c);
        fs_conn_free(c);
    }
    fs_fcache_clear(&w->fcache);
}

void fs_workers_stop(fs_server *s)
{
    if (!s->workers)
        return;
    for (int i = 0; i < s->nworkers; i++) {
        pthread_mutex_lock(&s->workers[i].lock);
        s->workers[i].stop = 1;
        pthread_mutex_unlock(&s->workers[i].lock);
        lb_loop_wake(s->workers[i].loop);
    }
    /* Join every worker before freeing anything: closing a connection may wake another
     * worker's loop (capacity hand-over), which must still exist. */
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i].thread, NULL);
    for (int i = 0; i < s->nworkers; i++) {
        fs_worker *w = &s->workers[i];
        worker_free_conns(w);
        for (size_t k = 0; k < w->npending; k++)
            close(w->pending[k]);
        free(w->pending);
    }
    for (int i = 0; i < s->nworkers; i++) {
        lb_loop_destroy(s->workers[i].loop);
        pthread_mutex_destroy(&s->workers[i].lock);
    }
    free(s->workers);
    s->workers = NULL;
}

void fs_workers_dispatch(fs_server *s, int fd)
{
    fs_worker *w = &s->workers[s->next_worker++ % (unsigned)s->nworkers];
    pthread_mutex_lock(&w->lock);
    if (w->npending == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        int *p = realloc(w->pending, cap * sizeof(int));
        if (!p) {
            pthread_mutex_unlock(&w->lock);
            close(fd);
            return;
        }
        w->pending = p;
        w->cap = cap;
    }
    w->pending[w->npending++] = fd;
    pthread_mutex_unlock(&w->lock);
    lb_loop_wake(w->loop);
}

void fs_workers_kick(fs_server *s)
{
    for (int i = 0; i < s->nworkers; i++) {
        pthread_mutex_lock(&s->workers[i].lock);
        s->workers[i].parked_wake = 1;
        pthread_mutex_unlock(&s->workers[i].lock);
        lb_loop_wake(s->workers[i].loop);
    }
}
