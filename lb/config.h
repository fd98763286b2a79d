/* config.h - the balancer's command line turned into one struct.
 *
 * The course command line (`[-N n] [-R r] PORT SERVER...`, options anywhere among the
 * positionals) plus long options, each with a documented default (see lb/README.md).
 * lb_config_parse() is a pure function: it never prints, exits, allocates or resolves a
 * name, so it can be unit-tested and fuzzed. The struct owns no heap memory.
 */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define LB_MAX_BACKENDS 128
#define LB_HOST_MAX 256
#define LB_WEIGHT_MAX 256 /* as HAProxy's `weight` */
#define LB_PATH_MAX 1024  /* --backends-file */

typedef struct lb_backend_spec {
    char host[LB_HOST_MAX]; /* as written ("127.0.0.1" for a bare port), NUL-terminated */
    int port;               /* 1..65535 */
    int weight;             /* `,weight=W` suffix: 1..LB_WEIGHT_MAX, 1 when absent */
} lb_backend_spec;

typedef struct lb_config {
    int listen_port; /* 0..65535; 0 binds an ephemeral port (and implies --ready) */
    int ready;       /* --ready (off): print `READY port=P [stats=S]` once listening */
    int parallel;    /* -N: requests proxied at once (default 4) */
    int every;       /* -R: health-check round after every R forwarded requests (5) */
    int nbackends;
    lb_backend_spec backends[LB_MAX_BACKENDS];
    char policy[32];         /* --policy: fewest (default), rr, leastconn, p2c */
    int stats_port;          /* --stats-port: -1 off (default), 0 ephemeral */
    int connect_timeout_ms;  /* --connect-timeout (1000) */
    int server_timeout_ms;   /* --server-timeout (5000), inactivity */
    int queue_timeout_ms;    /* --queue-timeout (10000) */
    int health_interval_ms;  /* --health-interval (3000) */
    int health_timeout_ms;   /* --health-timeout (1000) */
    int header_timeout_ms;   /* --header-timeout (10000): a request head must arrive within */
    int idle_timeout_ms;     /* --idle-timeout (60000): keep-alive client between requests */
    int drain_timeout_ms;    /* --drain-timeout (10000): SIGTERM grace */
    int max_head;            /* --max-head (16384 bytes) */
    int max_headers;         /* --max-headers (100 fields) */
    uint64_t max_body;       /* --max-body (0 = unlimited) */
    int max_conns;           /* --max-conns (10000 client connections) */
    int max_queue;           /* --max-queue (0 = unlimited) */
    int pool_size;           /* --pool-size (64 idle connections per backend; 0 disables) */
    int retries;             /* --retries (1): idempotent retries on another backend */
    int eject_after;         /* --eject-after (5 consecutive failures; 0 disables) */
    uint32_t seed;           /* --seed (p2c randomness; 0 = from the clock) */
    int threads;             /* --threads (1): event loops on SO_REUSEPORT listeners */
    int tunnel_timeout_ms;   /* --tunnel-timeout (3600000): inactivity of an upgraded
                              * connection (after a 101), both directions counted */
    int slow_start_ms;       /* --slow-start (0 = off): a revived backend's share of new
                              * requests grows linearly over this long */
    int verbatim_connection; /* --verbatim-connection (off): relay Connection, Keep-Alive
                              * and Proxy-Connection as they are instead of treating them
                              * as hop-by-hop (lb/README.md, "Connections") */
    int defer_accept;        /* --defer-accept (on): TCP_DEFER_ACCEPT on the listener, a
                              * connection is accepted once its first bytes arrived */
    int admin_open;          /* --admin-open (off): the admin API answers any peer, not
                              * only loopback ones */
    int ncmdline;            /* backends[0, ncmdline) came from the command line; the
                              * lines of --backends-file follow (main.c appends them) */
    char backends_file[LB_PATH_MAX]; /* --backends-file ("" = none): SERVER lines,
                                      * re-read on SIGHUP (lb/admin.h) */
} lb_config;

/* Fills out with defaults. */
void lb_config_defaults(lb_config *out);

/* Parses argv[1..argc-1] into out (defaults first). Returns 0 on success, 1 when help was
 * asked for (-h/--help; out is then not meaningful), or -1 with a one-line reason (no
 * newline) in err. Never prints, exits or allocates. */
int lb_config_parse(int argc, char **argv, lb_config *out, char *err, size_t errlen);

/* One SERVER word, `PORT | HOST:PORT | [V6]:PORT` with an optional `,weight=W`, into spec
 * (weight 1 when absent). Returns 0, or -1 if it is not one. Pure. */
int lb_config_parse_backend(const char *word, lb_backend_spec *spec);
/* The address part alone (no weight suffix), the first len bytes of s. Returns 0 or -1. */
int lb_config_parse_address(const char *s, size_t len, lb_backend_spec *spec);
/* The name the backend table prints for spec: "host:port", or "[v6]:port". */
void lb_config_backend_name(const lb_backend_spec *spec, char *out, size_t outlen);

/* Formats a one-line reason into err (if err and errlen): control bytes of the quoted words
 * become '?'. Returns -1, for `return lb_config_fail(...)`. */
int lb_config_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The usage text (several lines, ends with a newline). */
const char *lb_config_usage(void);

#endif
