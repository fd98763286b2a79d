/* main.c - fakeserver: command line -> config -> server.
 *
 * Bad arguments print one line on stderr and exit 2 before anything is bound; a failure to
 * start (port in use, unreadable directory) exits 1.
 */
#include <stdio.h>
#include <sys/resource.h>

#include "config.h"
#include "server.h"

/* Thousands of connections need descriptors: lift the soft limit to the hard one. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    static fs_config cfg;
    static fs_server srv;
    char err[256];
    if (fs_config_parse(&cfg, argc, argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "fakeserver: %s (try --help)\n", err);
        return 2;
    }
    if (cfg.help) {
        fs_config_usage(stdout);
        return 0;
    }
    raise_fd_limit();
    if (fs_server_init(&srv, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "fakeserver: %s\n", err);
        fs_server_fini(&srv);
        return 1;
    }
    int rc = fs_server_run(&srv);
    fs_server_fini(&srv);
    return rc < 0 ? 1 : 0;
}
