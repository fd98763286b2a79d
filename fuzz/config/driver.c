/* fuzz/config - the balancer's command line (lb_config_parse).
 *
 * The input is argv[1..]: words separated by NUL bytes (at most MAX_WORDS). Invariants: the
 * answer is 0, 1 (help) or -1; a failure leaves a one-line, NUL-terminated reason; a success
 * has a listening port in 0..65535, 1..LB_MAX_BACKENDS backends with ports 1..65535 and
 * NUL-terminated hosts, weights in 1..LB_WEIGHT_MAX, positive -N and -R and a known policy; argv is
 * left untouched; the same words parse to the same result.
 */
#include "config.h"
#include "fuzz_entry.h"

#define MAX_WORDS 64

static int split_words(char *copy, size_t len, char **argv)
{
    int argc = 0;
    argv[argc++] = "loadbalancer";
    size_t start = 0;
    for (size_t i = 0; i <= len && argc < MAX_WORDS + 1; i++) {
        if (i == len || copy[i] == '\0') {
            copy[i] = '\0';
            argv[argc++] = copy + start;
            start = i + 1;
        }
    }
    argv[argc] = NULL;
    return argc;
}

static void check_success(const lb_config *c)
{
    FUZZ_CHECK(c->listen_port >= 0 && c->listen_port <= 65535);
    FUZZ_CHECK((c->nbackends >= 1 || c->backends_file[0]) && c->nbackends <= LB_MAX_BACKENDS);
    FUZZ_CHECK(c->ncmdline == c->nbackends);
    for (int i = 0; i < c->nbackends; i++) {
        FUZZ_CHECK(c->backends[i].port >= 1 && c->backends[i].port <= 65535);
        FUZZ_CHECK(c->backends[i].weight >= 1 && c->backends[i].weight <= LB_WEIGHT_MAX);
        size_t n = strnlen(c->backends[i].host, LB_HOST_MAX);
        FUZZ_CHECK(n > 0 && n < LB_HOST_MAX);
    }
    FUZZ_CHECK(c->parallel >= 1 && c->every >= 1);
    FUZZ_CHECK(!strcmp(c->policy, "fewest") || !strcmp(c->policy, "rr") ||
               !strcmp(c->policy, "leastconn") || !strcmp(c->policy, "p2c"));
    FUZZ_CHECK(c->stats_port >= -1 && c->stats_port <= 65535);
    FUZZ_CHECK(c->connect_timeout_ms > 0 && c->server_timeout_ms > 0 && c->queue_timeout_ms > 0 &&
               c->health_interval_ms > 0 && c->health_timeout_ms > 0);
    FUZZ_CHECK(c->slow_start_ms >= 0 && c->slow_start_ms <= 86400000);
    FUZZ_CHECK(c->tunnel_timeout_ms > 0 && c->tunnel_timeout_ms <= 86400000);
}

static void fuzz_one(const uint8_t *data, size_t len)
{
    static lb_config a, b;
    char *copy = malloc(len + 1), *orig = malloc(len + 1);
    char *argv[MAX_WORDS + 2];
    char err_a[256], err_b[256];
    FUZZ_CHECK(copy && orig);
    memcpy(copy, data, len);
    int argc = split_words(copy, len, argv);
    memcpy(orig, copy, len + 1);
    memset(err_a, 'x', sizeof(err_a));
    int rc = lb_config_parse(argc, argv, &a, err_a, sizeof(err_a));
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == -1);
    FUZZ_CHECK(memcmp(orig, copy, len + 1) == 0);
    if (rc == -1) {
        size_t n = strnlen(err_a, sizeof(err_a));
        FUZZ_CHECK(n > 0 && n < sizeof(err_a));
        /* one printable line, whatever bytes the quoted words hold */
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK((unsigned char)err_a[i] >= 0x20 && err_a[i] != 0x7f);
    } else if (rc == 0) {
        check_success(&a);
    }
    FUZZ_CHECK(lb_config_parse(argc, argv, &b, err_b, sizeof(err_b)) == rc);
    if (rc == -1)
        FUZZ_CHECK(strcmp(err_a, err_b) == 0);
    if (rc == 0)
        FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    FUZZ_CHECK(lb_config_parse(argc, argv, &b, NULL, 0) == rc); /* no error buffer */
    free(copy);
    free(orig);
}
