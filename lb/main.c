/* main.c - loadbalancer: command line -> config -> backends -> event loop(s).
 *
 * Order matters for the contract: every argument is checked and every backend resolved
 * before anything is bound (a bad command line binds nothing); the listener is bound and
 * READY printed (only when asked: --ready, or PORT 0) before the first health-check round,
 * but no client is accepted until that round ended, so the first request is routed on
 * fresh health data. SIGTERM and SIGINT arrive through a signalfd on the first loop, close
 * the listener and start a bounded drain; the process then frees everything and exits 0
 * with no fd left open.
 * With --threads N, each thread is a complete balancer (loop, backend table, policy,
 * checker, proxy) on its own SO_REUSEPORT listener: nothing is shared but the read-only
 * config, so no locks on the request path. Each loop checks and counts on its own; the
 * stats port is served by the first loop (this thread), which reads its own loop live and
 * the others through snapshots each publishes from a timer (stats.c), so /stats and
 * /metrics describe the whole process.
 * Backends changed while it runs (lb/admin.h): with a stats port or --backends-file every
 * table has room for LB_MAX_BACKENDS slots from the start (pointers into it never move);
 * the admin API and SIGHUP (a reload of the backends file; only watched with that option,
 * so a course balancer still dies of SIGHUP as before) both run on the first loop, which
 * hands each change to the other loops.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "admin.h"
#include "backend.h"
#include "checker.h"
#include "config.h"
#include "loop.h"
#include "policy.h"
#include "proxy.h"
#include "stats.h"

typedef struct lb_main lb_main;

typedef struct lb_worker {
    lb_main *owner;
    lb_config cfg; /* a copy: listen_port becomes the bound port for the other loops */
    lb_backend_table table;
    lb_policy policy;
    lb_loop *loop;
    lb_proxy *proxy;
    lb_checker *checker;
    pthread_t thread;
    int started;
} lb_worker;

struct lb_main {
    lb_worker *workers;
    int nworkers;
    lb_stats *stats;
    lb_admin *admin; /* NULL without a stats port and a backends file */
    int sigfd;
};

static void on_probe_result(void *data, lb_backend *b, int healthy)
{
    lb_worker *w = data;
    if (w->proxy)
        lb_proxy_backend_judged(w->proxy, b, healthy);
}

static void on_round_end(void *data)
{
    lb_worker *w = data;
    if (w->proxy)
        lb_proxy_start_accepting(w->proxy);
}

static void on_signal(lb_loop *loop, int fd, int events, void *data)
{
    lb_main *m = data;
    struct signalfd_siginfo si;
    int stop = 0;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP && m->admin)
            lb_admin_reload(m->admin);
        else
            stop = 1;
    }
    if (!stop)
        return;
    if (m->stats)
        lb_stats_stop_listening(m->stats);
    lb_proxy_drain(m->workers[0].proxy);
    for (int i = 1; i < m->nworkers; i++)
        lb_proxy_request_drain(m->workers[i].proxy);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Blocks the signals in every thread (created later) and returns a signalfd for them.
 * hup: SIGHUP too (--backends-file). */
static int block_signals(int hup)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (hup)
        sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int worker_start(lb_worker *w, char *err, size_t errlen)
{
    if (lb_policy_init(&w->policy, w->cfg.policy, w->cfg.seed) < 0) {
        snprintf(err, errlen, "unknown policy '%s'", w->cfg.policy);
        return -1;
    }
    lb_policy_set_slow_start(&w->policy, w->cfg.slow_start_ms);
    int dynamic = w->cfg.stats_port >= 0 || w->cfg.backends_file[0];
    if (lb_backend_table_init(&w->table, &w->cfg, dynamic ? LB_MAX_BACKENDS : 0, err, errlen) < 0)
        return -1;
    if (!(w->loop = lb_loop_create(0))) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    w->proxy = lb_proxy_create(w->loop, &w->cfg, &w->table, &w->policy, err, errlen);
    if (!w->proxy)
        return -1;
    lb_checker_hooks hooks = {on_probe_result, on_round_end, w};
    if (!(w->checker = lb_checker_create(w->loop, &w->table, &w->cfg, &hooks))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    lb_proxy_set_checker(w->proxy, w->checker);
    return 0;
}

/* The stats port on the first loop, fed by every loop (before their threads start, as
 * lb_stats_create arms a timer on each). */
static int start_stats(lb_main *m, const lb_config *cfg, char *err, size_t errlen)
{
    lb_stats_sources *srcs = calloc((size_t)m->nworkers, sizeof *srcs);
    if (!srcs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < m->nworkers; i++) {
        lb_worker *w = &m->workers[i];
        srcs[i] = (lb_stats_sources){&w->table, w->checker, w->proxy, cfg->policy, w->loop};
    }
    m->stats = lb_stats_create(cfg->stats_port, srcs, m->nworkers, err, errlen);
    free(srcs);
    if (m->stats && m->admin)
        lb_stats_set_admin(m->stats, m->admin, cfg->admin_open);
    return m->stats ? 0 : -1;
}

/* The admin over every loop (before their threads start: it watches a mailbox on each). */
static int start_admin(lb_main *m, const lb_config *cfg, char *err, size_t errlen)
{
    lb_admin_loop_parts *parts = calloc((size_t)m->nworkers, sizeof *parts);
    if (!parts) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < m->nworkers; i++) {
        lb_worker *w = &m->workers[i];
        parts[i] = (lb_admin_loop_parts){w->loop, &w->table, &w->policy, w->checker, w->proxy};
    }
    m->admin = lb_admin_create(cfg, parts, m->nworkers, err, errlen);
    free(parts);
    return m->admin ? 0 : -1;
}

static int start(lb_main *m, const lb_config *cfg, char *err, size_t errlen)
{
    m->nworkers = cfg->threads;
    if (!(m->workers = calloc((size_t)m->nworkers, sizeof *m->workers))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    raise_fd_limit();
    for (int i = 0; i < m->nworkers; i++) {
        lb_worker *w = &m->workers[i];
        w->owner = m;
        w->cfg = *cfg;
        if (i > 0)
            w->cfg.listen_port = lb_proxy_port(m->workers[0].proxy);
        if (worker_start(w, err, errlen) < 0)
            return -1;
    }
    lb_loop *first = m->workers[0].loop;
    if (lb_loop_watch(first, m->sigfd, LB_EV_READ, on_signal, m) < 0) {
        snprintf(err, errlen, "cannot watch signals");
        return -1;
    }
    if ((cfg->stats_port >= 0 || cfg->backends_file[0]) && start_admin(m, cfg, err, errlen) < 0)
        return -1;
    if (cfg->stats_port >= 0)
        return start_stats(m, cfg, err, errlen);
    return 0;
}

static void *worker_run(void *arg)
{
    lb_worker *w = arg;
    lb_checker_request_round(w->checker);
    lb_loop_run(w->loop);
    return NULL;
}

static void finish(lb_main *m)
{
    lb_stats_destroy(m->stats);
    lb_admin_destroy(m->admin);
    for (int i = 0; m->workers && i < m->nworkers; i++) {
        lb_worker *w = &m->workers[i];
        lb_checker_destroy(w->checker);
        lb_proxy_destroy(w->proxy);
        if (i == 0 && w->loop && m->sigfd >= 0)
            lb_loop_unwatch(w->loop, m->sigfd);
        if (w->loop)
            lb_loop_destroy(w->loop);
        lb_backend_table_free(&w->table);
    }
    free(m->workers);
    if (m->sigfd >= 0)
        close(m->sigfd);
}

/* Silent unless asked: course scripts compare all a balancer prints. PORT 0 implies the
 * line, since the caller cannot learn the port otherwise. */
static void print_ready(lb_main *m, const lb_config *cfg)
{
    if (!cfg->ready && cfg->listen_port != 0)
        return;
    if (m->stats)
        printf("READY port=%d stats=%d\n", lb_proxy_port(m->workers[0].proxy),
               lb_stats_port(m->stats));
    else
        printf("READY port=%d\n", lb_proxy_port(m->workers[0].proxy));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static lb_config cfg;
    static lb_main m;
    char err[256];
    signal(SIGPIPE, SIG_IGN);
    int rc = lb_config_parse(argc, argv, &cfg, err, sizeof err);
    if (rc == 1) {
        fputs(lb_config_usage(), stdout);
        return 0;
    }
    if (rc < 0 || (cfg.backends_file[0] && lb_admin_load_file(&cfg, err, sizeof err) < 0)) {
        fprintf(stderr, "loadbalancer: %s\n", err);
        return 1;
    }
    m.sigfd = block_signals(cfg.backends_file[0] != 0);
    if (m.sigfd < 0 || start(&m, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "loadbalancer: %s\n", m.sigfd < 0 ? "cannot set up signals" : err);
        finish(&m);
        return 1;
    }
    print_ready(&m, &cfg);
    for (int i = 1; i < m.nworkers; i++)
        m.workers[i].started =
            pthread_create(&m.workers[i].thread, NULL, worker_run, &m.workers[i]) == 0;
    worker_run(&m.workers[0]);
    for (int i = 1; i < m.nworkers; i++) {
        if (m.workers[i].started)
            pthread_join(m.workers[i].thread, NULL);
    }
    finish(&m);
    return 0;
}
