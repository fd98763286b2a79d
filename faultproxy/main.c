/* main.c - faultproxy: the fakeserver's fault engine in front of a real server.
 *
 *   faultproxy PORT --upstream HOST:PORT [--tcp] [-N threads] [--control-port P]
 *              [--timeline FILE] [--identify NAME] [--ready] [fault options]
 *
 * A separate binary rather than a fakeserver option: the fakeserver's command line is the
 * course contract (scripts compare everything it prints and accepts), and the proxy shares
 * none of its file, log or course rules. What it does share is everything behind them: the
 * fault table, the decision, the dispatcher and workers, the control port and timelines
 * (fakeserverlib); this file only picks out the proxy's own options and hands the rest to
 * the fakeserver's parser, so both binaries read faults and common options identically.
 * Bad arguments: one line on stderr, exit 2, nothing bound; cannot start: exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "proxy.h"

lb_addr fp_upstream;

/* Options of the fakeserver that mean nothing in front of another server. */
static const char *const refused[] = {
    "-l", "-L", "-e", "-t", "--root", "--error-bodies", "--send-continue", NULL};

static bool is_refused(const char *a)
{
    for (int i = 0; refused[i]; i++) {
        size_t n = strlen(refused[i]);
        if (!strncmp(a, refused[i], n) && (a[n] == '\0' || a[n] == '=' || a[1] != '-'))
            return true;
    }
    return false;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: faultproxy PORT --upstream HOST:PORT [--tcp] [options]\n"
            "  PORT                           listening port (0: ephemeral, implies --ready)\n"
            "  --upstream HOST:PORT           the real server (PORT alone: 127.0.0.1)\n"
            "  --tcp                          relay plain TCP with the tcp-* faults (default:\n"
            "                                 HTTP/1.1 with the request and answer faults)\n"
            "  -N N                           worker threads (default 4); N + 1 threads in all\n"
            "  --control-port P               control API on 127.0.0.1:P (0: ephemeral)\n"
            "  --timeline FILE                scheduled fault changes (fakeserver/README.md)\n"
            "  --identify NAME                add X-Server: NAME to every answer (HTTP)\n"
            "  --ready                        once listening, print READY port=P control=C "
            "pid=PID\n"
            "faults (same names in the control API's JSON):\n");
    fs_faults_help(fp);
}

/* Takes --upstream and --tcp out of argv (into args); refuses the fakeserver-only ones. */
static int split_args(int argc, char **argv, char **args, int *nargs, const char **upstream,
                      bool *tcp, bool *help, char *err, size_t errlen)
{
    *nargs = 0;
    args[(*nargs)++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--upstream") || !strncmp(a, "--upstream=", 11)) {
            if (a[10] == '=')
                *upstream = a + 11;
            else if (i + 1 < argc)
                *upstream = argv[++i];
            else {
                snprintf(err, errlen, "option --upstream needs a value");
                return -1;
            }
        } else if (!strcmp(a, "--tcp")) {
            *tcp = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
        } else if (is_refused(a)) {
            snprintf(err, errlen, "option '%s' is the fakeserver's, not the proxy's", a);
            return -1;
        } else {
            args[(*nargs)++] = argv[i];
        }
    }
    args[*nargs] = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    static fs_config cfg;
    static fs_server srv;
    char err[256], host[256];
    const char *upstream = NULL;
    bool tcp = false, help = false;
    int nargs, port;
    char **args = calloc((size_t)argc + 1, sizeof(char *));
    if (!args)
        return 1;
    if (split_args(argc, argv, args, &nargs, &upstream, &tcp, &help, err, sizeof(err)) < 0)
        goto bad;
    if (help) {
        usage(stdout);
        free(args);
        return 0;
    }
    if (fs_config_parse(&cfg, nargs, args, err, sizeof(err)) < 0)
        goto bad;
    if (!upstream) {
        snprintf(err, sizeof(err), "missing --upstream HOST:PORT");
        goto bad;
    }
    if (lb_net_parse_hostport(upstream, host, sizeof(host), &port, err, sizeof(err)) < 0 ||
        lb_net_resolve(host, port, &fp_upstream, err, sizeof(err)) < 0)
        goto bad;
    cfg.mode = tcp ? &fp_tcp_mode : &fp_http_mode;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (fs_server_init(&srv, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "faultproxy: %s\n", err);
        fs_server_fini(&srv);
        free(args);
        return 1;
    }
    int rc = fs_server_run(&srv);
    fs_server_fini(&srv);
    free(args);
    return rc < 0 ? 1 : 0;
bad:
    fprintf(stderr, "faultproxy: %s (try --help)\n", err);
    free(args);
    return 2;
}
