/* config.c - the command line, parsed without side effects.
 *
 * A hand-written scanner instead of getopt: getopt keeps global state and permutes argv,
 * and the course command line lets options stand anywhere among the positionals. Every
 * word is classified once: `--` ends options, `--name[=value]` is a long option, `-X[value]`
 * a short one, anything else (including a lone `-`) a positional. Numbers are plain decimal
 * digits: no sign, no spaces, no overflow. Durations take an optional `ms` or `s` suffix and
 * default to milliseconds. Limits: LB_MAX_BACKENDS backends, host names below LB_HOST_MAX.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: loadbalancer [-N parallel] [-R every] [options] PORT SERVER [SERVER ...]\n"
    "  SERVER is PORT (127.0.0.1) or HOST:PORT, optionally followed by ,weight=W\n"
    "  (1..256, default 1: a share of requests in proportion to W, in every policy);\n"
    "  options may stand anywhere. With --backends-file the SERVER list may be empty.\n"
    "  -N n                   requests proxied at once (4)\n"
    "  -R r                   health-check after every r forwarded requests (5)\n"
    "  --ready                once listening, print READY port=P [stats=S] on stdout\n"
    "                         (off: silent as the course balancer; PORT 0 implies it)\n"
    "  --policy NAME          fewest | rr | leastconn | p2c (fewest)\n"
    "  --stats-port P         serve GET /stats and GET /metrics on P (off; 0 = ephemeral)\n"
    "  --connect-timeout T    backend connect timeout (1s)\n"
    "  --server-timeout T     backend inactivity timeout (5s)\n"
    "  --queue-timeout T      longest wait in the queue beyond -N (10s)\n"
    "  --health-interval T    health-check period without traffic (3s)\n"
    "  --health-timeout T     health-check deadline (1s)\n"
    "  --header-timeout T     a request head must arrive within T (10s)\n"
    "  --idle-timeout T       keep-alive client idle limit (60s)\n"
    "  --drain-timeout T      grace for requests in flight on SIGTERM (10s)\n"
    "  --max-head BYTES       request head limit (16384)\n"
    "  --max-headers N        request header field limit (100)\n"
    "  --max-body BYTES       request body limit (0 = none)\n"
    "  --max-conns N          client connections at once (10000)\n"
    "  --max-queue N          requests waiting beyond -N (0 = no limit)\n"
    "  --pool-size N          idle backend connections kept per backend (64)\n"
    "  --retries N            idempotent retries on another backend (1)\n"
    "  --eject-after N        consecutive failures that mark a backend down (5; 0 = off)\n"
    "  --seed S               seed for p2c choices (0 = clock)\n"
    "  --threads N            event loops, each on its own SO_REUSEPORT listener (1)\n"
    "  --tunnel-timeout T     inactivity limit of an upgraded connection, after a backend's\n"
    "                         101 Switching Protocols (3600s, as HAProxy's timeout tunnel)\n"
    "  --slow-start T         a backend that comes back up (or is added while running)\n"
    "                         gets a share of new requests growing linearly from 0 to its\n"
    "                         full share over T (off)\n"
    "  --verbatim-connection  relay Connection, Keep-Alive and Proxy-Connection fields as\n"
    "                         they are (off: they are hop-by-hop, and a client's\n"
    "                         `Connection: close` does not close the backend connection)\n"
    "  --backend-keepalive    accepted and ignored: what it did is now the default\n"
    "  --defer-accept=0|1     accept a connection once its first bytes arrived (1)\n"
    "  --backends-file PATH   more SERVERs, one a line (# comments); SIGHUP re-reads it and\n"
    "                         adds, removes and re-weights backends to match (none)\n"
    "  --admin-open           the admin API on the stats port (GET/POST /backends, PATCH\n"
    "                         and DELETE /backends/HOST:PORT) answers any peer (off:\n"
    "                         loopback peers only; without --stats-port there is none)\n"
    "  Durations are milliseconds, or take an ms or s suffix.\n";

const char *lb_config_usage(void)
{
    return usage_text;
}

void lb_config_defaults(lb_config *out)
{
    memset(out, 0, sizeof *out);
    out->listen_port = -1;
    out->parallel = 4;
    out->every = 5;
    snprintf(out->policy, sizeof out->policy, "fewest");
    out->stats_port = -1;
    out->connect_timeout_ms = 1000;
    out->server_timeout_ms = 5000;
    out->queue_timeout_ms = 10000;
    out->health_interval_ms = 3000;
    out->health_timeout_ms = 1000;
    out->header_timeout_ms = 10000;
    out->idle_timeout_ms = 60000;
    out->drain_timeout_ms = 10000;
    out->max_head = 16384;
    out->max_headers = 100;
    out->max_body = 0;
    out->max_conns = 10000;
    out->max_queue = 0;
    out->pool_size = 64;
    out->retries = 1;
    out->eject_after = 5;
    out->threads = 1;
    out->defer_accept = 1;
    out->tunnel_timeout_ms = 3600000;
}

/* Formats the reason into err. Messages quote the user's words, which may hold any byte:
 * control bytes become '?', so the message stays one printable line (the contract's "a
 * one-line message") whatever was typed. */
int lb_config_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        for (char *p = err; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
    return -1;
}

/* Plain decimal digits into *out, at most max. Returns 0 or -1. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* A positive duration: digits with an optional ms or s suffix, at most one day. */
static int parse_duration(const char *s, int *out_ms)
{
    char digits[24];
    size_t n = strspn(s, "0123456789");
    const char *suffix = s + n;
    uint64_t scale = 1, v;
    if (n == 0 || n >= sizeof digits)
        return -1;
    if (strcmp(suffix, "s") == 0)
        scale = 1000;
    else if (*suffix && strcmp(suffix, "ms") != 0)
        return -1;
    memcpy(digits, s, n);
    digits[n] = '\0';
    if (parse_u64(digits, 86400000, &v) < 0 || v * scale > 86400000 || v == 0)
        return -1;
    *out_ms = (int)(v * scale);
    return 0;
}

static int parse_port(const char *s, int allow_zero)
{
    uint64_t v;
    if (parse_u64(s, 65535, &v) < 0 || (v == 0 && !allow_zero))
        return -1;
    return (int)v;
}

/* A backend address: PORT, HOST:PORT or [V6]:PORT, in the first len bytes of s. */
int lb_config_parse_address(const char *s, size_t len, lb_backend_spec *spec)
{
    char word[LB_HOST_MAX + 16];
    if (len >= sizeof word)
        return -1;
    memcpy(word, s, len);
    word[len] = '\0';
    s = word;
    const char *colon = strrchr(s, ':');
    const char *host = "127.0.0.1";
    size_t hostlen = 9;
    if (colon) {
        host = s;
        hostlen = (size_t)(colon - s);
        if (hostlen >= 2 && s[0] == '[' && colon[-1] == ']') {
            host++;
            hostlen -= 2;
        } else if (memchr(s, ':', hostlen)) {
            return -1; /* a bare IPv6 address needs brackets */
        }
        if (hostlen == 0 || hostlen >= LB_HOST_MAX)
            return -1;
        s = colon + 1;
    }
    if ((spec->port = parse_port(s, 0)) < 0)
        return -1;
    memmove(spec->host, host, hostlen);
    spec->host[hostlen] = '\0';
    for (size_t i = 0; i < hostlen; i++)
        if ((unsigned char)spec->host[i] <= ' ' || spec->host[i] == '/')
            return -1;
    return 0;
}

/* A backend: an address, then optionally `,weight=W` (W in 1..LB_WEIGHT_MAX). A host name
 * never holds a comma, so the first comma ends the address. */
int lb_config_parse_backend(const char *s, lb_backend_spec *spec)
{
    const char *comma = strchr(s, ',');
    uint64_t w = 1;
    if (comma) {
        if (strncmp(comma + 1, "weight=", 7) != 0 || parse_u64(comma + 8, LB_WEIGHT_MAX, &w) < 0 ||
            w == 0)
            return -1;
    }
    spec->weight = (int)w;
    return lb_config_parse_address(s, comma ? (size_t)(comma - s) : strlen(s), spec);
}

void lb_config_backend_name(const lb_backend_spec *spec, char *out, size_t outlen)
{
    if (strchr(spec->host, ':'))
        snprintf(out, outlen, "[%s]:%d", spec->host, spec->port);
    else
        snprintf(out, outlen, "%s:%d", spec->host, spec->port);
}

/* OPT_IGNORED: a flag kept so that old command lines still parse; it sets nothing. */
typedef enum {
    OPT_INT,
    OPT_U64,
    OPT_DURATION,
    OPT_PORT,
    OPT_POLICY,
    OPT_FLAG,
    OPT_IGNORED,
    OPT_PATH
} opt_kind;

typedef struct opt_def {
    const char *name;
    opt_kind kind;
    size_t offset;
    long min; /* for OPT_INT */
} opt_def;

#define OFF(f) offsetof(lb_config, f)
static const opt_def options[] = {
    {"N", OPT_INT, OFF(parallel), 1},
    {"R", OPT_INT, OFF(every), 1},
    {"policy", OPT_POLICY, OFF(policy), 0},
    {"stats-port", OPT_PORT, OFF(stats_port), 0},
    {"connect-timeout", OPT_DURATION, OFF(connect_timeout_ms), 0},
    {"server-timeout", OPT_DURATION, OFF(server_timeout_ms), 0},
    {"queue-timeout", OPT_DURATION, OFF(queue_timeout_ms), 0},
    {"health-interval", OPT_DURATION, OFF(health_interval_ms), 0},
    {"health-timeout", OPT_DURATION, OFF(health_timeout_ms), 0},
    {"header-timeout", OPT_DURATION, OFF(header_timeout_ms), 0},
    {"idle-timeout", OPT_DURATION, OFF(idle_timeout_ms), 0},
    {"drain-timeout", OPT_DURATION, OFF(drain_timeout_ms), 0},
    {"max-head", OPT_INT, OFF(max_head), 256},
    {"max-headers", OPT_INT, OFF(max_headers), 1},
    {"max-body", OPT_U64, OFF(max_body), 0},
    {"max-conns", OPT_INT, OFF(max_conns), 1},
    {"max-queue", OPT_INT, OFF(max_queue), 0},
    {"pool-size", OPT_INT, OFF(pool_size), 0},
    {"retries", OPT_INT, OFF(retries), 0},
    {"eject-after", OPT_INT, OFF(eject_after), 0},
    {"seed", OPT_U64, OFF(seed), 0},
    {"verbatim-connection", OPT_FLAG, OFF(verbatim_connection), 0},
    {"backend-keepalive", OPT_IGNORED, 0, 0},
    {"defer-accept", OPT_FLAG, OFF(defer_accept), 0},
    {"threads", OPT_INT, OFF(threads), 1},
    {"slow-start", OPT_DURATION, OFF(slow_start_ms), 0},
    {"tunnel-timeout", OPT_DURATION, OFF(tunnel_timeout_ms), 0},
    {"ready", OPT_FLAG, OFF(ready), 0},
    {"admin-open", OPT_FLAG, OFF(admin_open), 0},
    {"backends-file", OPT_PATH, OFF(backends_file), 0},
};
#undef OFF

static const opt_def *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static int set_option(const opt_def *o, const char *value, lb_config *cfg)
{
    char *field = (char *)cfg + o->offset;
    uint64_t v;
    switch (o->kind) {
    case OPT_INT:
        if (parse_u64(value, 1000000000, &v) < 0 || (long)v < o->min)
            return -1;
        *(int *)field = (int)v;
        return 0;
    case OPT_U64:
        if (parse_u64(value, o->offset == offsetof(lb_config, seed) ? UINT32_MAX : UINT64_MAX, &v) <
            0)
            return -1;
        if (o->offset == offsetof(lb_config, seed))
            cfg->seed = (uint32_t)v;
        else
            *(uint64_t *)field = v;
        return 0;
    case OPT_DURATION:
        return parse_duration(value, (int *)field);
    case OPT_PORT:
        return (*(int *)field = parse_port(value, 1)) < 0 ? -1 : 0;
    case OPT_FLAG:
        if (strcmp(value, "0") && strcmp(value, "1"))
            return -1;
        *(int *)field = value[0] == '1';
        return 0;
    case OPT_IGNORED:
        return strcmp(value, "0") && strcmp(value, "1") ? -1 : 0;
    case OPT_PATH:
        if (!*value || strlen(value) >= LB_PATH_MAX)
            return -1;
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case OPT_POLICY:
        if (strcmp(value, "fewest") && strcmp(value, "rr") && strcmp(value, "leastconn") &&
            strcmp(value, "p2c"))
            return -1;
        snprintf(cfg->policy, sizeof cfg->policy, "%s", value);
        return 0;
    }
    return -1;
}

static int add_positional(const char *word, lb_config *cfg, char *err, size_t errlen)
{
    if (cfg->listen_port < 0) {
        if ((cfg->listen_port = parse_port(word, 1)) < 0)
            return lb_config_fail(err, errlen, "invalid port '%.64s'", word);
        return 0;
    }
    if (cfg->nbackends >= LB_MAX_BACKENDS)
        return lb_config_fail(err, errlen, "too many backends (at most %d)", LB_MAX_BACKENDS);
    if (lb_config_parse_backend(word, &cfg->backends[cfg->nbackends]) < 0)
        return lb_config_fail(err, errlen,
                              "invalid backend '%.64s' (want PORT or HOST:PORT[,weight=W])", word);
    cfg->nbackends++;
    return 0;
}

/* Handles argv[*i], an option word; may consume argv[*i + 1] as its value. */
static int take_option(int argc, char **argv, int *i, lb_config *cfg, char *err, size_t errlen)
{
    const char *word = argv[*i], *name, *value = NULL;
    size_t namelen;
    if (word[1] == '-') {
        name = word + 2;
        const char *eq = strchr(name, '=');
        namelen = eq ? (size_t)(eq - name) : strlen(name);
        if (eq)
            value = eq + 1;
    } else {
        name = word + 1;
        namelen = 1;
        if (word[2])
            value = word + 2;
    }
    if ((namelen == 4 && memcmp(name, "help", 4) == 0) || (namelen == 1 && *name == 'h'))
        return 1;
    const opt_def *o = find_option(name, namelen);
    if (!o || (word[1] == '-') != (namelen > 1))
        return lb_config_fail(err, errlen, "unknown option '%.64s'", word);
    if (!value && (o->kind == OPT_FLAG || o->kind == OPT_IGNORED))
        value = "1"; /* a flag takes no separate value word */
    if (!value) {
        if (*i + 1 >= argc)
            return lb_config_fail(err, errlen, "option '%.64s' needs a value", word);
        value = argv[++*i];
    }
    if (set_option(o, value, cfg) < 0)
        return lb_config_fail(err, errlen, "invalid value '%.64s' for option '%.64s'", value, word);
    return 0;
}

int lb_config_parse(int argc, char **argv, lb_config *out, char *err, size_t errlen)
{
    int only_positionals = 0;
    lb_config_defaults(out);
    if (err && errlen)
        err[0] = '\0';
    for (int i = 1; i < argc; i++) {
        const char *word = argv[i];
        int rc;
        if (!word)
            return lb_config_fail(err, errlen, "null argument");
        if (!only_positionals && strcmp(word, "--") == 0) {
            only_positionals = 1;
            continue;
        }
        if (!only_positionals && word[0] == '-' && word[1] != '\0')
            rc = take_option(argc, argv, &i, out, err, errlen);
        else
            rc = add_positional(word, out, err, errlen);
        if (rc != 0)
            return rc;
    }
    if (out->listen_port < 0)
        return lb_config_fail(err, errlen, "missing PORT and SERVER (try --help)");
    out->ncmdline = out->nbackends;
    if (out->nbackends == 0 && !out->backends_file[0])
        return lb_config_fail(err, errlen, "no backend SERVER given");
    if (out->threads > 64)
        return lb_config_fail(err, errlen, "at most 64 threads");
    if (out->stats_port > 0 && out->stats_port == out->listen_port)
        return lb_config_fail(err, errlen, "the stats port equals the listening port");
    return 0;
}
