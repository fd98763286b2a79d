/* main.c - fakeserver: command line -> config -> server.
 *
 * Bad arguments print one line on stderr and exit 2 before anything is bound; a failure to
 * start (port in use, unreadable directory) exits 1.
 */
#include <stdio.h>

#include "config.h"
#include "server.h"

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
    if (fs_server_init(&srv, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "fakeserver: %s\n", err);
        fs_server_fini(&srv);
        return 1;
    }
    int rc = fs_server_run(&srv);
    fs_server_fini(&srv);
    return rc < 0 ? 1 : 0;
}
