/* main.c - loadbalancer: command line -> config -> backends -> one event loop.
 *
 * Order matters for the contract: every argument is checked and every backend resolved
 * before anything is bound (a bad command line binds nothing); the listener is bound and
 * READY printed before the first health-check round, but no client is accepted until that
 * round ended, so the first request is routed on fresh health data. SIGTERM and SIGINT
 * arrive through a signalfd on the loop and start a bounded drain; the process then frees
 * everything and exits 0 with no fd left open.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "backend.h"
#include "checker.h"
#include "config.h"
#include "loop.h"
#include "policy.h"
#include "proxy.h"
#include "stats.h"

typedef struct lb_main {
    lb_config cfg;
    lb_backend_table table;
    lb_policy policy;
    lb_loop *loop;
    lb_proxy *proxy;
    lb_checker *checker;
    lb_stats *stats;
    int sigfd;
} lb_main;

static void on_probe_result(void *data, lb_backend *b, int healthy)
{
    lb_main *m = data;
    if (m->proxy)
        lb_proxy_backend_judged(m->proxy, b, healthy);
}

static void on_round_end(void *data)
{
    lb_main *m = data;
    if (m->proxy)
        lb_proxy_start_accepting(m->proxy);
}

static void on_signal(lb_loop *loop, int fd, int events, void *data)
{
    lb_main *m = data;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
    }
    if (m->stats)
        lb_stats_stop_listening(m->stats);
    lb_proxy_drain(m->proxy);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int setup_signals(lb_main *m)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (m->sigfd < 0)
        return -1;
    return lb_loop_watch(m->loop, m->sigfd, LB_EV_READ, on_signal, m);
}

static int start(lb_main *m, char *err, size_t errlen)
{
    if (lb_policy_init(&m->policy, m->cfg.policy, m->cfg.seed) < 0) {
        snprintf(err, errlen, "unknown policy '%s'", m->cfg.policy);
        return -1;
    }
    if (lb_backend_table_init(&m->table, &m->cfg, err, errlen) < 0)
        return -1;
    raise_fd_limit();
    if (!(m->loop = lb_loop_create(0)) || setup_signals(m) < 0) {
        snprintf(err, errlen, "cannot create the event loop");
        return -1;
    }
    m->proxy = lb_proxy_create(m->loop, &m->cfg, &m->table, &m->policy, err, errlen);
    if (!m->proxy)
        return -1;
    if (m->cfg.stats_port >= 0) {
        lb_stats_sources src = {&m->table, NULL, m->proxy, m->cfg.policy};
        lb_checker_hooks hooks = {on_probe_result, on_round_end, m};
        m->checker = lb_checker_create(m->loop, &m->table, &m->cfg, &hooks);
        src.checker = m->checker;
        m->stats = lb_stats_create(m->loop, m->cfg.stats_port, &src, err, errlen);
        if (!m->stats)
            return -1;
    } else {
        lb_checker_hooks hooks = {on_probe_result, on_round_end, m};
        m->checker = lb_checker_create(m->loop, &m->table, &m->cfg, &hooks);
    }
    if (!m->checker) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    lb_proxy_set_checker(m->proxy, m->checker);
    return 0;
}

static void finish(lb_main *m)
{
    lb_checker_destroy(m->checker);
    lb_stats_destroy(m->stats);
    lb_proxy_destroy(m->proxy);
    if (m->sigfd >= 0) {
        if (m->loop)
            lb_loop_unwatch(m->loop, m->sigfd);
        close(m->sigfd);
    }
    if (m->loop)
        lb_loop_destroy(m->loop);
    lb_backend_table_free(&m->table);
}

int main(int argc, char **argv)
{
    static lb_main m;
    char err[256];
    m.sigfd = -1;
    signal(SIGPIPE, SIG_IGN);
    int rc = lb_config_parse(argc, argv, &m.cfg, err, sizeof err);
    if (rc == 1) {
        fputs(lb_config_usage(), stdout);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "loadbalancer: %s\n", err);
        return 1;
    }
    if (start(&m, err, sizeof err) < 0) {
        fprintf(stderr, "loadbalancer: %s\n", err);
        finish(&m);
        return 1;
    }
    if (m.stats)
        printf("READY port=%d stats=%d\n", lb_proxy_port(m.proxy), lb_stats_port(m.stats));
    else
        printf("READY port=%d\n", lb_proxy_port(m.proxy));
    fflush(stdout);
    lb_checker_request_round(m.checker);
    rc = lb_loop_run(m.loop);
    finish(&m);
    return rc < 0 ? 1 : 0;
}
