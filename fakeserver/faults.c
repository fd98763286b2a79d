/* faults.c - the fault catalogue as a table of fields and a pure decision function.
 *
 * One table describes every field; option parsing, JSON, --help and validation walk it, so a
 * new fault is one struct member plus one table row. Decisions draw one independent random
 * number per fault kind from splitmix64(seed, seq, salt): no state is shared between
 * requests, which is what makes a seed reproducible under any concurrency.
 * Limits: strings are bounded by their struct arrays; numbers are int64 or double.
 */
#include "faults.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "http.h"

enum field_type { FT_INT, FT_RATE, FT_BOOL, FT_ENUM, FT_STR, FT_U64 };

typedef struct field {
    const char *name;
    enum field_type type;
    size_t offset;
    size_t size;              /* for FT_STR */
    int64_t min, max;         /* for FT_INT */
    const char *const *names; /* for FT_ENUM */
    const char *def;
    const char *help;
} field;

static const char *const scope_names[] = {"all", "health", "others", NULL};
static const char *const crash_names[] = {"exit", "abort", NULL};
static const char *const capacity_names[] = {"wait", "refuse", NULL};

#define OFF(m) offsetof(fs_faults, m)
#define BIG INT64_MAX
static const field fields[] = {
    {"delay", FT_INT, OFF(delay), 0, 0, BIG, NULL, "0", "ms to wait before the response head"},
    {"delay-jitter", FT_INT, OFF(delay_jitter), 0, 0, BIG, NULL, "0",
     "extra random 0..MS ms of delay"},
    {"delay-rate", FT_RATE, OFF(delay_rate), 0, 0, 0, NULL, "1",
     "probability that delay and delay-jitter apply"},
    {"slow-body", FT_INT, OFF(slow_body), 0, 0, BIG, NULL, "0",
     "answer bytes per second (0: full speed)"},
    {"error-rate", FT_RATE, OFF(error_rate), 0, 0, 0, NULL, "0",
     "probability of answering error-status"},
    {"error-status", FT_INT, OFF(error_status), 0, 100, 999, NULL, "500",
     "status sent by error-rate"},
    {"hang-rate", FT_RATE, OFF(hang_rate), 0, 0, 0, NULL, "0",
     "probability of reading a request and never answering"},
    {"reset-rate", FT_RATE, OFF(reset_rate), 0, 0, 0, NULL, "0",
     "probability of an RST after reset-at answer bytes"},
    {"reset-at", FT_INT, OFF(reset_at), 0, 0, BIG, NULL, "0", "answer bytes sent before the RST"},
    {"truncate-rate", FT_RATE, OFF(truncate_rate), 0, 0, 0, NULL, "0",
     "probability of a FIN after truncate-at answer bytes"},
    {"truncate-at", FT_INT, OFF(truncate_at), 0, 0, BIG, NULL, "0",
     "answer bytes sent before the FIN"},
    {"garbage-rate", FT_RATE, OFF(garbage_rate), 0, 0, 0, NULL, "0",
     "probability of random bytes instead of the answer"},
    {"garbage-bytes", FT_INT, OFF(garbage_bytes), 0, 1, 1 << 20, NULL, "64",
     "how many garbage bytes, then close"},
    {"crash-after", FT_INT, OFF(crash_after), 0, 0, BIG, NULL, "0",
     "die once the answer to in-scope request N is sent (0: never)"},
    {"crash-at", FT_INT, OFF(crash_at), 0, 0, BIG, NULL, "0", "die MS ms after start (0: never)"},
    {"crash-rate", FT_RATE, OFF(crash_rate), 0, 0, 0, NULL, "0",
     "probability that an in-scope request kills the process"},
    {"crash-mode", FT_ENUM, OFF(crash_mode), 0, 0, 0, crash_names, "exit",
     "exit (status crash-status) or abort (SIGABRT, core)"},
    {"crash-status", FT_INT, OFF(crash_status), 0, 0, 255, NULL, "3",
     "exit status of a crash in exit mode"},
    {"refuse", FT_BOOL, OFF(refuse), 0, 0, 0, NULL, "0",
     "close the listener: connections are refused"},
    {"stall", FT_BOOL, OFF(stall), 0, 0, 0, NULL, "0", "keep listening but never accept"},
    {"slow-read", FT_INT, OFF(slow_read), 0, 0, BIG, NULL, "0",
     "request body bytes read per second (0: full speed)"},
    {"capacity", FT_INT, OFF(capacity), 0, 0, BIG, NULL, "0",
     "requests served at once (0: unlimited)"},
    {"capacity-mode", FT_ENUM, OFF(capacity_mode), 0, 0, 0, capacity_names, "wait",
     "beyond capacity: wait, or refuse with 503"},
    {"health-status", FT_INT, OFF(health_status), 0, 0, 999, NULL, "0",
     "status for GET /healthcheck (0: normal)"},
    {"health-delay", FT_INT, OFF(health_delay), 0, 0, BIG, NULL, "0",
     "ms before the health answer"},
    {"health-malformed", FT_BOOL, OFF(health_malformed), 0, 0, 0, NULL, "0",
     "health body that is not ERRORS\\nTOTAL"},
    {"health-errors", FT_INT, OFF(health_errors), 0, -1, BIG, NULL, "-1",
     "reported ERRORS (-1: true count)"},
    {"health-total", FT_INT, OFF(health_total), 0, -1, BIG, NULL, "-1",
     "reported TOTAL (-1: true count)"},
    {"health-flap", FT_INT, OFF(health_flap), 0, 0, BIG, NULL, "0",
     "flap period ms: healthy first half, 500 second half"},
    {"scope", FT_ENUM, OFF(scope), 0, 0, 0, scope_names, "all",
     "request faults hit: all, health (checks only), others"},
    {"scope-method", FT_STR, OFF(scope_method), sizeof(((fs_faults *)0)->scope_method), 0, 0, NULL,
     "", "request faults hit only this method"},
    {"scope-prefix", FT_STR, OFF(scope_prefix), sizeof(((fs_faults *)0)->scope_prefix), 0, 0, NULL,
     "", "request faults hit only targets with this prefix"},
    {"scope-header", FT_STR, OFF(scope_header), sizeof(((fs_faults *)0)->scope_header), 0, 0, NULL,
     "", "request faults hit only requests with this field (\"Name\" or \"Name: value\")"},
    {"no-keepalive", FT_BOOL, OFF(no_keepalive), 0, 0, 0, NULL, "0",
     "close the connection after every answer"},
    {"fault-header", FT_BOOL, OFF(fault_header), 0, 0, 0, NULL, "0",
     "add X-Fault: KIND to answers a fault touched"},
    {"seed", FT_U64, OFF(seed), 0, 0, 0, NULL, "0", "seed of every random choice"},
    {"tcp-latency-up", FT_INT, OFF(tcp_latency_up), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: ms added to client-to-upstream bytes"},
    {"tcp-latency-down", FT_INT, OFF(tcp_latency_down), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: ms added to upstream-to-client bytes"},
    {"tcp-jitter-up", FT_INT, OFF(tcp_jitter_up), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: extra random 0..MS ms, client to upstream"},
    {"tcp-jitter-down", FT_INT, OFF(tcp_jitter_down), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: extra random 0..MS ms, upstream to client"},
    {"tcp-bandwidth-up", FT_INT, OFF(tcp_bandwidth_up), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: bytes/s client to upstream (0: unlimited)"},
    {"tcp-bandwidth-down", FT_INT, OFF(tcp_bandwidth_down), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: bytes/s upstream to client (0: unlimited)"},
    {"tcp-slicer-up", FT_INT, OFF(tcp_slicer_up), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: client-to-upstream segments of at most N bytes (0: off)"},
    {"tcp-slicer-down", FT_INT, OFF(tcp_slicer_down), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: upstream-to-client segments of at most N bytes (0: off)"},
    {"tcp-slicer-delay", FT_INT, OFF(tcp_slicer_delay), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: ms between two slicer segments"},
    {"tcp-timeout", FT_INT, OFF(tcp_timeout), 0, -1, BIG, NULL, "-1",
     "faultproxy --tcp: drop all data; close after MS (0: hold; -1: off)"},
    {"tcp-reset-peer", FT_INT, OFF(tcp_reset_peer), 0, -1, BIG, NULL, "-1",
     "faultproxy --tcp: RST both sides MS ms after connecting (-1: off)"},
    {"tcp-limit-up", FT_INT, OFF(tcp_limit_up), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: close after N bytes client to upstream (0: off)"},
    {"tcp-limit-down", FT_INT, OFF(tcp_limit_down), 0, 0, BIG, NULL, "0",
     "faultproxy --tcp: close after N bytes upstream to client (0: off)"},
    {"tcp-rate", FT_RATE, OFF(tcp_rate), 0, 0, 0, NULL, "1",
     "faultproxy --tcp: probability that a connection gets the tcp faults"},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *const kind_names[FS_FK_COUNT] = {
    "delay",   "slow-body", "error",     "hang",     "reset",  "truncate",
    "garbage", "crash",     "slow-read", "capacity", "health",
};

const char *fs_fault_kind_name(int kind)
{
    return kind >= 0 && kind < FS_FK_COUNT ? kind_names[kind] : "?";
}

static const field *find_field(const char *name)
{
    char norm[64];
    size_t n = strlen(name);
    if (n >= sizeof(norm))
        return NULL;
    for (size_t i = 0; i <= n; i++)
        norm[i] = name[i] == '_' ? '-' : name[i];
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, norm) == 0)
            return &fields[i];
    return NULL;
}

int fs_faults_known(const char *name)
{
    const field *fd = find_field(name);
    return fd ? (fd->type == FT_BOOL ? 2 : 1) : 0;
}

static int parse_int(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return -1;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcasecmp(v, "yes"))
        *out = true;
    else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "off") ||
             !strcasecmp(v, "no"))
        *out = false;
    else
        return -1;
    return 0;
}

static int set_field(fs_faults *f, const field *fd, const char *v, char *err, size_t errlen)
{
    char *p = (char *)f + fd->offset;
    switch (fd->type) {
    case FT_INT: {
        int64_t x;
        if (parse_int(v, &x) || x < fd->min || x > fd->max)
            goto bad;
        memcpy(p, &x, sizeof(x));
        return 0;
    }
    case FT_U64: {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || *v == '-')
            goto bad;
        uint64_t u = x;
        memcpy(p, &u, sizeof(u));
        return 0;
    }
    case FT_RATE: {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !(x >= 0.0 && x <= 1.0))
            goto bad;
        memcpy(p, &x, sizeof(x));
        return 0;
    }
    case FT_BOOL: {
        bool b;
        if (parse_bool(v, &b))
            goto bad;
        memcpy(p, &b, sizeof(b));
        return 0;
    }
    case FT_ENUM:
        for (int64_t i = 0; fd->names[i]; i++)
            if (!strcmp(fd->names[i], v)) {
                memcpy(p, &i, sizeof(i));
                return 0;
            }
        goto bad;
    case FT_STR:
        if (strlen(v) >= fd->size)
            goto bad;
        strcpy(p, v);
        return 0;
    }
bad:
    snprintf(err, errlen, "bad value '%s' for %s", v, fd->name);
    return -1;
}

void fs_faults_default(fs_faults *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < NFIELDS; i++) {
        char err[128];
        (void)set_field(f, &fields[i], fields[i].def, err, sizeof(err));
    }
}

int fs_faults_set(fs_faults *f, const char *name, const char *value, char *err, size_t errlen)
{
    const field *fd = find_field(name);
    if (!fd) {
        snprintf(err, errlen, "unknown fault '%s'", name);
        return -1;
    }
    return set_field(f, fd, value, err, errlen);
}

int fs_faults_reset_field(fs_faults *f, const char *name, char *err, size_t errlen)
{
    const field *fd = find_field(name);
    if (!fd) {
        snprintf(err, errlen, "unknown fault '%s'", name);
        return -1;
    }
    return set_field(f, fd, fd->def, err, errlen);
}

int fs_faults_validate(const fs_faults *f, char *err, size_t errlen)
{
    if (f->scope_prefix[0] && f->scope_prefix[0] != '/') {
        snprintf(err, errlen, "scope-prefix must start with '/'");
        return -1;
    }
    const char *h = f->scope_header;
    size_t nl = strcspn(h, ":");
    if (h[0] && (nl == 0 || strcspn(h, " \t\r\n") < nl)) {
        snprintf(err, errlen, "scope-header must be \"Name\" or \"Name: value\"");
        return -1;
    }
    return 0;
}

/* Appends to out[0, outlen) at *n (snprintf style: *n counts what was needed). */
static void append(char *out, size_t outlen, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(*n < outlen ? out + *n : NULL, *n < outlen ? outlen - *n : 0, fmt, ap);
    va_end(ap);
    *n += (size_t)k;
}

/* A JSON string literal, escaped, whatever bytes were set. */
static size_t json_string(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    append(out, outlen, &n, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            append(out, outlen, &n, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            append(out, outlen, &n, "\\u%04x", *s);
        else
            append(out, outlen, &n, "%c", *s);
    }
    append(out, outlen, &n, "\"");
    return n;
}

/* The shortest decimal that reads back as the same double: 0.1 prints as 0.1, not as
 * 0.10000000000000001, and the value still round-trips exactly through the control API. */
static size_t faults_format_rate(double d, char *out, size_t outlen)
{
    int n = 0;
    for (int digits = 1; digits <= 17; digits++) {
        n = snprintf(out, outlen, "%.*g", digits, d);
        if (n > 0 && (size_t)n < outlen && strtod(out, NULL) == d)
            break;
    }
    return (size_t)n;
}

static size_t field_value(const fs_faults *f, const field *fd, char *out, size_t outlen)
{
    const char *p = (const char *)f + fd->offset;
    int64_t i;
    double d;
    bool b;
    uint64_t u;
    switch (fd->type) {
    case FT_INT:
        memcpy(&i, p, sizeof(i));
        return (size_t)snprintf(out, outlen, "%" PRId64, i);
    case FT_U64:
        memcpy(&u, p, sizeof(u));
        return (size_t)snprintf(out, outlen, "%" PRIu64, u);
    case FT_RATE:
        memcpy(&d, p, sizeof(d));
        return faults_format_rate(d, out, outlen);
    case FT_BOOL:
        memcpy(&b, p, sizeof(b));
        return (size_t)snprintf(out, outlen, "%s", b ? "true" : "false");
    case FT_ENUM:
        memcpy(&i, p, sizeof(i));
        return (size_t)snprintf(out, outlen, "\"%s\"", fd->names[i]);
    case FT_STR:
        return json_string(p, out, outlen);
    }
    return 0;
}

size_t fs_faults_json(const fs_faults *f, char *out, size_t outlen)
{
    size_t n = 0;
    append(out, outlen, &n, "{");
    for (size_t i = 0; i < NFIELDS; i++) {
        append(out, outlen, &n, "%s\"%s\": ", i ? ", " : "", fields[i].name);
        n += field_value(f, &fields[i], n < outlen ? out + n : NULL, n < outlen ? outlen - n : 0);
    }
    append(out, outlen, &n, "}");
    return n;
}

/* The placeholder shown in --help for a field's value. */
static void metavar(const field *fd, char *out, size_t outlen)
{
    const char *n = fd->name;
    if (fd->type == FT_BOOL)
        snprintf(out, outlen, "[=BOOL]");
    else if (fd->type == FT_RATE)
        snprintf(out, outlen, " P");
    else if (fd->type == FT_STR)
        snprintf(out, outlen, " TEXT");
    else if (fd->type == FT_ENUM) {
        size_t k = (size_t)snprintf(out, outlen, " ");
        for (int i = 0; fd->names[i] && k < outlen; i++)
            k += (size_t)snprintf(out + k, outlen - k, "%s%s", i ? "|" : "", fd->names[i]);
    } else if (strstr(n, "status"))
        snprintf(out, outlen, " STATUS");
    else if (strstr(n, "delay") || !strcmp(n, "crash-at") || !strcmp(n, "health-flap"))
        snprintf(out, outlen, " MS");
    else if (strstr(n, "slow-"))
        snprintf(out, outlen, " BYTES/S");
    else if (strstr(n, "-at") || strstr(n, "bytes"))
        snprintf(out, outlen, " BYTES");
    else
        snprintf(out, outlen, " N");
}

void fs_faults_help(void *stream)
{
    FILE *fp = stream;
    for (size_t i = 0; i < NFIELDS; i++) {
        const field *fd = &fields[i];
        char arg[40], left[64];
        metavar(fd, arg, sizeof(arg));
        snprintf(left, sizeof(left), "--%s%s", fd->name, arg);
        fprintf(fp, "  %-30s %s (default %s)\n", left, fd->help, fd->def[0] ? fd->def : "\"\"");
    }
}

/* splitmix64: a bijective mixer; fed a distinct counter it yields independent streams. */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t fs_faults_random_u64(uint64_t seed, uint64_t seq, uint64_t salt)
{
    return splitmix64(splitmix64(seed ^ splitmix64(seq)) ^ (salt * 0xD1B54A32D192ED03ull));
}

double fs_faults_random(uint64_t seed, uint64_t seq, uint64_t salt)
{
    return (double)(fs_faults_random_u64(seed, seq, salt) >> 11) * 0x1.0p-53;
}

bool fs_faults_header_match(const char *spec, const fs_request_info *r)
{
    size_t nl = strcspn(spec, ":");
    const char *want = spec[nl] ? spec + nl + 1 : NULL;
    size_t wl = 0;
    if (want) {
        while (*want == ' ' || *want == '\t')
            want++;
        wl = strlen(want);
        while (wl > 0 && (want[wl - 1] == ' ' || want[wl - 1] == '\t'))
            wl--;
    }
    char name[sizeof(((fs_faults *)0)->scope_header)];
    memcpy(name, spec, nl);
    name[nl] = '\0';
    for (size_t i = 0; i < r->num_headers; i++) {
        const lb_http_header *h = &r->headers[i];
        if (!lb_http_token_eq(h->name, h->name_len, name))
            continue;
        if (!want || (h->value_len == wl && !memcmp(h->value, want, wl)))
            return true;
    }
    return false;
}

bool fs_faults_in_scope(const fs_faults *f, const fs_request_info *r)
{
    if (f->scope == FS_SCOPE_HEALTH && !r->health)
        return false;
    if (f->scope == FS_SCOPE_OTHERS && r->health)
        return false;
    if (f->scope_method[0] && (strlen(f->scope_method) != r->method_len ||
                               memcmp(f->scope_method, r->method, r->method_len)))
        return false;
    size_t pl = strlen(f->scope_prefix);
    if (pl && (r->target_len < pl || memcmp(f->scope_prefix, r->target, pl)))
        return false;
    return !f->scope_header[0] || fs_faults_header_match(f->scope_header, r);
}

static bool chance(const fs_faults *f, const fs_request_info *r, int kind, double p)
{
    return p > 0 && fs_faults_random(f->seed, r->seq, (uint64_t)kind + 1) < p;
}

static void decide_health(const fs_faults *f, const fs_request_info *r, fs_action *a)
{
    a->health_errors = f->health_errors;
    a->health_total = f->health_total;
    a->health_malformed = f->health_malformed;
    if (f->health_delay > 0)
        a->delay_ms += f->health_delay;
    if (f->health_status)
        a->status = (int)f->health_status;
    if (f->health_flap > 0 && (r->uptime_ms % f->health_flap) >= f->health_flap / 2)
        a->status = 500;
    if (f->health_delay > 0 || f->health_status || f->health_malformed || f->health_flap > 0 ||
        f->health_errors >= 0 || f->health_total >= 0)
        a->kinds |= 1u << FS_FK_HEALTH;
}

static void decide_request(const fs_faults *f, const fs_request_info *r, fs_action *a)
{
    if ((f->delay > 0 || f->delay_jitter > 0) && chance(f, r, FS_FK_DELAY, f->delay_rate)) {
        int64_t j = f->delay_jitter > 0 ? (int64_t)(fs_faults_random_u64(f->seed, r->seq, 100) %
                                                    (uint64_t)(f->delay_jitter + 1))
                                        : 0;
        a->delay_ms += f->delay + j;
        a->kinds |= 1u << FS_FK_DELAY;
    }
    if (f->slow_body > 0) {
        a->body_rate = f->slow_body;
        a->kinds |= 1u << FS_FK_SLOW_BODY;
    }
    if (f->no_keepalive)
        a->close = true;
    if (f->slow_read > 0) {
        a->read_rate = f->slow_read;
        a->kinds |= 1u << FS_FK_SLOW_READ;
    }
    if (chance(f, r, FS_FK_HANG, f->hang_rate)) {
        a->hang = true;
        a->kinds |= 1u << FS_FK_HANG;
        return;
    }
    if (chance(f, r, FS_FK_ERROR, f->error_rate)) {
        a->status = (int)f->error_status;
        a->kinds |= 1u << FS_FK_ERROR;
    }
    if (chance(f, r, FS_FK_GARBAGE, f->garbage_rate)) {
        a->garbage = f->garbage_bytes;
        a->kinds |= 1u << FS_FK_GARBAGE;
        return;
    }
    if (chance(f, r, FS_FK_RESET, f->reset_rate)) {
        a->cut = FS_CUT_RESET;
        a->cut_at = f->reset_at;
        a->kinds |= 1u << FS_FK_RESET;
    } else if (chance(f, r, FS_FK_TRUNCATE, f->truncate_rate)) {
        a->cut = FS_CUT_TRUNCATE;
        a->cut_at = f->truncate_at;
        a->kinds |= 1u << FS_FK_TRUNCATE;
    }
}

void fs_faults_decide(const fs_faults *f, const fs_request_info *r, fs_action *a)
{
    memset(a, 0, sizeof(*a));
    a->health_errors = a->health_total = -1;
    bool scoped = fs_faults_in_scope(f, r);
    if (scoped && chance(f, r, FS_FK_CRASH, f->crash_rate)) {
        a->crash_now = true;
        a->kinds |= 1u << FS_FK_CRASH;
        return;
    }
    if (scoped && f->crash_after > 0 && r->scoped_seq >= (uint64_t)f->crash_after) {
        a->kinds |= 1u << FS_FK_CRASH;
        if (r->scoped_seq > (uint64_t)f->crash_after) {
            /* Request N is the last one served: a later one that other workers took while
             * N's answer was still leaving is held, never answered nor logged, until the
             * process dies a moment later. So "after N requests" holds under concurrency. */
            a->hang = true;
            return;
        }
        a->crash_after = true;
    }
    if (r->health)
        decide_health(f, r, a);
    if (scoped)
        decide_request(f, r, a);
}

int fs_faults_garbage(struct lb_buf *out, uint64_t seed, uint64_t seq, int64_t bytes)
{
    char chunk[256];
    for (int64_t i = 0; i < bytes; i += (int64_t)sizeof(chunk)) {
        size_t n = bytes - i < (int64_t)sizeof(chunk) ? (size_t)(bytes - i) : sizeof(chunk);
        for (size_t j = 0; j < n; j += 8) {
            uint64_t r = fs_faults_random_u64(seed, seq, 1000 + (uint64_t)(i + (int64_t)j));
            memcpy(chunk + j, &r, n - j < 8 ? n - j : 8);
        }
        if (lb_buf_append(out, chunk, n) < 0)
            return -1;
    }
    return 0;
}

int64_t fs_action_allowance(const fs_action *act, int64_t head_len, int64_t sent, int64_t t0_ms,
                            int64_t now_ms)
{
    int64_t limit = INT64_MAX;
    if (act->cut != FS_CUT_NONE)
        limit = act->cut_at - sent;
    if (act->body_rate > 0) {
        double allowed =
            (double)head_len + 1 + (double)act->body_rate * (double)(now_ms - t0_ms) / 1000.0;
        int64_t a = allowed > (double)sent ? (int64_t)(allowed - (double)sent) : 0;
        if (a < limit)
            limit = a;
    }
    return limit;
}
