/* server.h - the process-wide state shared by the dispatcher, the workers and the control
 * port, and the worker/connection API.
 *
 * Threads: the main thread is the dispatcher (accepts, runs the control port and timeline
 * on its own lb_loop); each of the N workers runs its own lb_loop and owns the connections
 * handed to it. Shared mutable state is either atomic (counters, sequence numbers) or
 * behind a lock (the current faults, the log).
 * Ownership: fs_server is created and freed by main.c; workers are owned by the server.
 */
#ifndef FS_SERVER_H
#define FS_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "courselog.h"
#include "faults.h"
#include "filecache.h"
#include "http.h"
#include "loop.h"

#define FS_STATUS_MAX 1000

typedef struct fs_counters {
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t connections;
    atomic_uint_fast64_t status[FS_STATUS_MAX];
    atomic_uint_fast64_t faults[FS_FK_COUNT];
} fs_counters;

typedef struct fs_conn fs_conn;
typedef struct fs_server fs_server;

typedef struct fs_worker {
    fs_server *srv;
    int index;
    lb_loop *loop;
    pthread_t thread;
    pthread_mutex_t lock; /* guards pending and stop */
    int *pending;         /* accepted fds waiting to be adopted */
    size_t npending, cap;
    int stop;
    int parked_wake;     /* set by another thread: retry parked connections */
    fs_conn *conns;      /* live connections (doubly linked) */
    fs_conn *dead;       /* closed, freed before the loop sleeps */
    fs_faults faults;    /* this worker's copy of the faults ... */
    uint64_t faults_gen; /* ... as of this generation (UINT64_MAX: none yet) */
    void *mode_data;     /* the connection mode's per-worker state (cfg->mode) */
    fs_fcache fcache;    /* the small files this worker served (filecache.h) */
    uint64_t reads;      /* socket reads of request heads that returned data */
    fs_conn *ready;      /* answers waiting for the end of the loop round (conn.c) */
    bool answering;      /* fs_conn_answer_ready is running */
} fs_worker;

/* Another kind of connection than conn.c's, for a binary that reuses the dispatcher, the
 * workers, the control port and the timeline (the fault proxy). Each callback runs on the
 * worker's own thread: adopt() takes an accepted fd (returns 0, or -1 and the worker closes
 * the fd); before_sleep() frees what closed; stop() runs after every worker was joined and
 * closes and frees everything the worker still holds. */
typedef struct fs_conn_mode {
    int (*adopt)(fs_worker *w, int fd);
    void (*before_sleep)(fs_worker *w);
    void (*stop)(fs_worker *w);
} fs_conn_mode;

struct fs_server {
    fs_config *cfg;
    int dirfd;
    fs_log log;
    pthread_mutex_t faults_lock;
    fs_faults faults;
    uint64_t generation;
    atomic_uint_fast64_t generation_seen; /* generation, readable without the lock */
    atomic_uint_fast64_t seq;
    atomic_uint_fast64_t scoped_seq; /* requests that were in the faults' scope */
    atomic_int inflight;             /* requests holding a capacity slot */
    atomic_int parked;               /* connections waiting for a slot */
    int64_t start_ms;
    fs_counters counters;
    int nworkers;
    fs_worker *workers;
    unsigned next_worker;
    lb_loop *loop; /* the dispatcher's */
    int listen_fd; /* -1 while refusing */
    int port;
    int listen_mask; /* LB_EV_READ, or 0 while stalling */
    int stopping;    /* SIGTERM/SIGINT seen: the listener is closed for good */
    int control_fd;
    int control_port;
    int signal_fd;
    atomic_int listen_dirty; /* a worker changed the faults: re-apply listener faults */
    lb_timer crash_timer;
    lb_timer accept_timer; /* resumes accepting after EMFILE */
    void *control;         /* control.c's state */
    void *timeline;        /* timeline.c's state */
};

/* Current faults, copied under the lock. */
void fs_server_faults(fs_server *s, fs_faults *out, uint64_t *generation);
/* Replaces the faults, bumps the generation and applies listener faults (dispatcher thread
 * only). Returns the new generation. */
uint64_t fs_server_set_faults(fs_server *s, const fs_faults *f);
/* Makes the listener follow refuse/stall. Dispatcher thread only. Returns 0 or -1. */
int fs_server_apply_listen(fs_server *s);
/* Sets up everything (binds, starts workers) and prints READY when asked (--ready) or on
 * port 0. Returns 0 or -1 with err. */
int fs_server_init(fs_server *s, fs_config *cfg, char *err, size_t errlen);
/* Runs the dispatcher until SIGTERM/SIGINT. Returns 0. */
int fs_server_run(fs_server *s);
void fs_server_fini(fs_server *s);
/* Ends the process as the crash fault says (never returns). */
void fs_server_crash(fs_server *s, const fs_faults *f) __attribute__((noreturn));

/* Workers (worker.c). */
int fs_workers_start(fs_server *s);
void fs_workers_stop(fs_server *s);
/* The current faults as this worker's cached copy: one atomic load per request, a locked
 * copy only after a change. Worker thread only. */
const fs_faults *fs_worker_faults(fs_worker *w);
/* The fault decision for one request, shared by the fakeserver and the fault proxy: the
 * timeline steps to seq, *faults gets the worker's current faults, *act what they decide
 * for this request (scoped requests numbered, each fault kind counted); a crash_now action
 * ends the process here. Worker thread only. */
void fs_server_decide(fs_server *s, fs_worker *w, uint64_t seq, bool health,
                      const lb_http_request *r, fs_faults *faults, fs_action *act);
/* Hands an accepted fd to the next worker (round robin). Thread-safe. */
void fs_workers_dispatch(fs_server *s, int fd);
/* A capacity slot was freed: wake workers with parked connections. */
void fs_workers_kick(fs_server *s);

/* Connections (conn.c). */
fs_conn *fs_conn_new(fs_worker *w, int fd);
void fs_conn_free(fs_conn *c);
/* Closes the connection now (drops a PUT in progress); it moves to the dead list. */
void fs_conn_shutdown(fs_conn *c);
/* Retries a connection parked on the capacity limit. */
void fs_conn_retry_parked(fs_conn *c);
int fs_conn_parked(const fs_conn *c);
/* Answers the GETs and HEADs of cached files that waited for the end of the loop round,
 * checking each file once for all of them (filecache.h). Worker thread, before sleeping. */
void fs_conn_answer_ready(fs_worker *w);
fs_conn *fs_conn_next(const fs_conn *c);

#endif
