/* test_config.c - lb_config_parse on a table of command lines, valid and invalid.
 *
 * Each row is a command line split on spaces, the expected return (0 ok, -1 refused, 1
 * help) and, for accepted lines, the fields that matter: the port, -N, -R and backends.
 * Refused lines must leave a one-line reason (no newline) in err. The parser is pure, so
 * the test also re-parses every line twice and compares the structs byte for byte.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

typedef struct row {
    const char *line;
    int rc;
    int port, parallel, every, nbackends;
    const char *first_host;
    int first_port;
} row;

static const row rows[] = {
    {"1234 8080", 0, 1234, 4, 5, 1, "127.0.0.1", 8080},
    {"-N 7 1234 8080 -R 3 8081", 0, 1234, 7, 3, 2, "127.0.0.1", 8080},
    {"1234 -N 7 8080 -R 3", 0, 1234, 7, 3, 1, "127.0.0.1", 8080},
    {"-N7 -R3 0 localhost:80", 0, 0, 7, 3, 1, "localhost", 80},
    {"0 8080 8080 8080", 0, 0, 4, 5, 3, "127.0.0.1", 8080},
    {"0 10.0.0.1:65535", 0, 0, 4, 5, 1, "10.0.0.1", 65535},
    {"0 [::1]:8080", 0, 0, 4, 5, 1, "::1", 8080},
    {"--stats-port 0 0 1", 0, 0, 4, 5, 1, "127.0.0.1", 1},
    {"--server-timeout=2s --connect-timeout 250ms 5 6", 0, 5, 4, 5, 1, "127.0.0.1", 6},
    {"-- 5 6", 0, 5, 4, 5, 1, "127.0.0.1", 6},
    {"--policy p2c 5 6", 0, 5, 4, 5, 1, "127.0.0.1", 6},
    {"--backend-keepalive 5 6", 0, 5, 4, 5, 1, "127.0.0.1", 6},
    {"5 --backend-keepalive=1 6", 0, 5, 4, 5, 1, "127.0.0.1", 6},
    {"--threads 2 5 6", 0, 5, 4, 5, 1, "127.0.0.1", 6},
    {"--defer-accept=0 5 6", 0, 5, 4, 5, 1, "127.0.0.1", 6},
    {"5 6 --defer-accept", 0, 5, 4, 5, 1, "127.0.0.1", 6},
    {"0 8080,weight=3 9090", 0, 0, 4, 5, 2, "127.0.0.1", 8080},
    {"0 [::1]:80,weight=256", 0, 0, 4, 5, 1, "::1", 80},
    {"0 h:80,weight=1", 0, 0, 4, 5, 1, "h", 80},
    {"--slow-start 30s 0 1", 0, 0, 4, 5, 1, "127.0.0.1", 1},
    {"-h", 1, 0, 0, 0, 0, NULL, 0},
    {"--help 1 2", 1, 0, 0, 0, 0, NULL, 0},
    {"", -1, 0, 0, 0, 0, NULL, 0},
    {"1234", -1, 0, 0, 0, 0, NULL, 0},
    {"-N 4 1234", -1, 0, 0, 0, 0, NULL, 0},
    {"1234 8080 -N", -1, 0, 0, 0, 0, NULL, 0},
    {"1234 8080 -R", -1, 0, 0, 0, 0, NULL, 0},
    {"-N x 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"-N 0 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"-N -3 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"-R 0 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"-R -1 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"-N 3x 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"-N 99999999999999999999 1 2", -1, 0, 0, 0, 0, NULL, 0},
    {"65536 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"-1 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"abc 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"1234 0", -1, 0, 0, 0, 0, NULL, 0},
    {"1234 65536", -1, 0, 0, 0, 0, NULL, 0},
    {"1234 host:", -1, 0, 0, 0, 0, NULL, 0},
    {"1234 :80", -1, 0, 0, 0, 0, NULL, 0},
    {"1234 ::1:80", -1, 0, 0, 0, 0, NULL, 0},
    {"1234 +80", -1, 0, 0, 0, 0, NULL, 0},
    {"-x 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"--nope 1 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"--N 3 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"-policy rr 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"--policy random 1 2", -1, 0, 0, 0, 0, NULL, 0},
    {"--server-timeout 0 1 2", -1, 0, 0, 0, 0, NULL, 0},
    {"--server-timeout 5m 1 2", -1, 0, 0, 0, 0, NULL, 0},
    {"--stats-port 1234 1234 8080", -1, 0, 0, 0, 0, NULL, 0},
    {"--backend-keepalive=yes 1 2", -1, 0, 0, 0, 0, NULL, 0},
    {"--defer-accept=2 1 2", -1, 0, 0, 0, 0, NULL, 0},
    {"--threads 0 1 2", -1, 0, 0, 0, 0, NULL, 0},
    {"--slow-start 0 0 1", -1, 0, 0, 0, 0, NULL, 0},
    {"--tunnel-timeout 0 0 1", -1, 0, 0, 0, 0, NULL, 0},
    {"--tunnel-timeout 86401s 0 1", -1, 0, 0, 0, 0, NULL, 0},
    {"--slow-start 1m 0 1", -1, 0, 0, 0, 0, NULL, 0},
    {"--slow-start=-5s 0 1", -1, 0, 0, 0, 0, NULL, 0},
    {"0 8080,weight=0", -1, 0, 0, 0, 0, NULL, 0},
    {"0 8080,weight=257", -1, 0, 0, 0, 0, NULL, 0},
    {"0 8080,weight=", -1, 0, 0, 0, 0, NULL, 0},
    {"0 8080,weight=2x", -1, 0, 0, 0, 0, NULL, 0},
    {"0 8080,weight=+2", -1, 0, 0, 0, 0, NULL, 0},
    {"0 8080,Weight=2", -1, 0, 0, 0, 0, NULL, 0},
    {"0 8080,", -1, 0, 0, 0, 0, NULL, 0},
    {"0 8080,weight=2,weight=3", -1, 0, 0, 0, 0, NULL, 0},
    {"0 ,weight=2", -1, 0, 0, 0, 0, NULL, 0},
    {"0 h,x:80", -1, 0, 0, 0, 0, NULL, 0},
    {"--threads 65 1 2", -1, 0, 0, 0, 0, NULL, 0},
    {"--backends-file f 0", 0, 0, 4, 5, 0, "", 0},
    {"--backends-file=f --admin-open 0 9", 0, 0, 4, 5, 1, "127.0.0.1", 9},
    {"--backends-file= 0", -1, 0, 0, 0, 0, NULL, 0},
    {"--admin-open 0", -1, 0, 0, 0, 0, NULL, 0},
};

/* Splits line into a fresh argv (argv[0] = "loadbalancer"). */
static int split(const char *line, char *storage, char **argv, int max)
{
    int argc = 0;
    argv[argc++] = "loadbalancer";
    strcpy(storage, line);
    for (char *tok = strtok(storage, " "); tok && argc < max; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    return argc;
}

static void check_row(const row *r)
{
    char storage[256], *argv[32], err[256];
    static lb_config a, b;
    int argc = split(r->line, storage, argv, 31);
    int rc = lb_config_parse(argc, argv, &a, err, sizeof err);
    CHECK_MSG(rc == r->rc, "'%s': rc %d, want %d (%s)", r->line, rc, r->rc, err);
    if (rc < 0)
        CHECK_MSG(err[0] != '\0' && !strchr(err, '\n'), "'%s': reason '%s'", r->line, err);
    if (rc != 0 || r->rc != 0)
        return;
    CHECK_MSG(a.listen_port == r->port, "'%s': port %d", r->line, a.listen_port);
    CHECK_MSG(a.parallel == r->parallel, "'%s': N %d", r->line, a.parallel);
    CHECK_MSG(a.every == r->every, "'%s': R %d", r->line, a.every);
    CHECK_MSG(a.nbackends == r->nbackends, "'%s': %d backends", r->line, a.nbackends);
    CHECK_MSG(strcmp(a.backends[0].host, r->first_host) == 0, "'%s': host %s", r->line,
              a.backends[0].host);
    CHECK_MSG(a.backends[0].port == r->first_port, "'%s': backend port", r->line);
    split(r->line, storage, argv, 31);
    lb_config_parse(argc, argv, &b, err, sizeof err);
    CHECK_MSG(memcmp(&a, &b, sizeof a) == 0, "'%s': parse is not a pure function", r->line);
}

static void test_defaults_and_long_options(void)
{
    char *argv[] = {"lb",          "--queue-timeout",
                    "3s",          "--health-interval=500",
                    "--max-body",  "1048576",
                    "--retries=0", "--eject-after",
                    "2",           "--seed",
                    "42",          "1",
                    "2",           NULL};
    char err[128];
    lb_config c;
    CHECK(lb_config_parse(13, argv, &c, err, sizeof err) == 0);
    CHECK(c.queue_timeout_ms == 3000);
    CHECK(c.health_interval_ms == 500);
    CHECK(c.max_body == 1048576);
    CHECK(c.retries == 0);
    CHECK(c.eject_after == 2);
    CHECK(c.seed == 42);
    CHECK(c.connect_timeout_ms == 1000 && c.server_timeout_ms == 5000);
    CHECK(c.health_timeout_ms == 1000 && c.stats_port == -1);
    CHECK(strcmp(c.policy, "fewest") == 0);
    CHECK(c.defer_accept == 1);
}

static void test_flags(void)
{
    char *off[] = {"lb", "--defer-accept=0", "--verbatim-connection", "1", "2", NULL};
    char err[128];
    lb_config c;
    CHECK(lb_config_parse(5, off, &c, err, sizeof err) == 0);
    CHECK(c.defer_accept == 0 && c.verbatim_connection == 1);
    /* --backend-keepalive names the default now: accepted (old command lines still work),
     * it changes nothing, and it does not undo --verbatim-connection. */
    char *old[] = {"lb", "--backend-keepalive", "--verbatim-connection", "1", "2", NULL};
    CHECK(lb_config_parse(5, old, &c, err, sizeof err) == 0 && c.verbatim_connection == 1);
    char *alone[] = {"lb", "1", "--backend-keepalive=1", "2", NULL};
    CHECK(lb_config_parse(4, alone, &c, err, sizeof err) == 0 && c.verbatim_connection == 0);
    char *bad[] = {"lb", "--backend-keepalive=2", "1", "2", NULL};
    CHECK(lb_config_parse(4, bad, &c, err, sizeof err) == -1);
}

static void test_too_many_backends(void)
{
    static char *argv[LB_MAX_BACKENDS + 4];
    char err[128];
    static lb_config c;
    argv[0] = "lb";
    argv[1] = "0";
    for (int i = 0; i < LB_MAX_BACKENDS + 1; i++)
        argv[2 + i] = "8080";
    CHECK(lb_config_parse(LB_MAX_BACKENDS + 2, argv, &c, err, sizeof err) == 0);
    CHECK(c.nbackends == LB_MAX_BACKENDS);
    CHECK(lb_config_parse(LB_MAX_BACKENDS + 3, argv, &c, err, sizeof err) == -1);
}

static void test_weights(void)
{
    char *argv[] = {"lb", "0", "8080", "h:81,weight=2", "[::1]:82,weight=256", NULL};
    char err[128];
    static lb_config c;
    CHECK(lb_config_parse(5, argv, &c, err, sizeof err) == 0);
    CHECK(c.backends[0].weight == 1 && c.backends[0].port == 8080); /* the default */
    CHECK(c.backends[1].weight == 2 && strcmp(c.backends[1].host, "h") == 0);
    CHECK(c.backends[2].weight == 256 && c.backends[2].port == 82);
    CHECK(strcmp(c.backends[2].host, "::1") == 0);
    CHECK(c.slow_start_ms == 0);           /* off by default */
    CHECK(c.tunnel_timeout_ms == 3600000); /* 1 h by default */
    char *tt[] = {"lb", "--tunnel-timeout", "90s", "0", "1", NULL};
    CHECK(lb_config_parse(5, tt, &c, err, sizeof err) == 0 && c.tunnel_timeout_ms == 90000);
    char *ss[] = {"lb", "--slow-start=2500ms", "0", "1", NULL};
    CHECK(lb_config_parse(4, ss, &c, err, sizeof err) == 0 && c.slow_start_ms == 2500);
}

int main(void)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        check_row(&rows[i]);
    test_defaults_and_long_options();
    test_flags();
    test_too_many_backends();
    test_weights();
    return CHECK_RESULT();
}
