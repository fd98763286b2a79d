/* admin_parse.c - admin request bodies, backends files and admin paths (see admin_parse.h).
 *
 * The JSON reader is a cursor over the bytes with one function per grammar element; it
 * accepts exactly the one-level objects the API takes, so it needs no tree and no
 * allocation. Strings are copied into fixed buffers (too long is an error, never a
 * truncation); numbers are plain integers (a fraction or exponent is "not an integer").
 */
#include "admin_parse.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define STRING_MAX (LB_HOST_MAX + 16) /* the longest string member worth reading */

typedef struct cursor {
    const char *p, *end;
} cursor;

/* Copies at most n bytes of s into a short printable quote for a message: control bytes,
 * quotes and backslashes become '?' (the message may travel inside a JSON string). */
static const char *quote(char *dst, size_t cap, const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        dst[i] = ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\' ? '?' : (char)ch;
    }
    dst[i] = '\0';
    return dst;
}

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Expects byte ch (after whitespace) and steps over it. Returns 0 or -1. */
static int expect(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != ch)
        return -1;
    c->p++;
    return 0;
}

/* A JSON string without escapes into out (NUL-terminated, *len bytes). Returns 0, or -1
 * with a reason. */
static int read_string(cursor *c, char *out, size_t cap, size_t *len, char *err, size_t errlen)
{
    if (expect(c, '"') < 0)
        return lb_config_fail(err, errlen, "bad JSON: a string was expected");
    size_t n = 0;
    for (;;) {
        if (c->p >= c->end)
            return lb_config_fail(err, errlen, "bad JSON: unterminated string");
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"')
            break;
        if (ch == '\\')
            return lb_config_fail(err, errlen, "bad JSON: string escapes are not supported");
        if (ch < 0x20)
            return lb_config_fail(err, errlen, "bad JSON: control byte in a string");
        if (n + 1 >= cap)
            return lb_config_fail(err, errlen, "string too long (at most %zu bytes)", cap - 1);
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    *len = n;
    return 0;
}

/* A JSON number that must be an integer in 1..LB_WEIGHT_MAX. */
static int read_weight(cursor *c, int *out, char *err, size_t errlen)
{
    skip_ws(c);
    const char *start = c->p;
    long v = 0;
    int neg = c->p < c->end && *c->p == '-';
    if (neg)
        c->p++;
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return lb_config_fail(err, errlen, "field 'weight' must be an integer 1..%d",
                              LB_WEIGHT_MAX);
    if (*c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' && c->p[1] <= '9')
        return lb_config_fail(err, errlen, "bad JSON: a number with a leading zero");
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (v <= LB_WEIGHT_MAX)
            v = v * 10 + (*c->p - '0');
        c->p++;
    }
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return lb_config_fail(err, errlen, "field 'weight' must be an integer 1..%d",
                              LB_WEIGHT_MAX);
    if (neg || v < 1 || v > LB_WEIGHT_MAX || c->p - start > 12)
        return lb_config_fail(err, errlen, "field 'weight' out of range (1..%d)", LB_WEIGHT_MAX);
    *out = (int)v;
    return 0;
}

static int read_server(cursor *c, lb_admin_body *out, char *err, size_t errlen)
{
    char s[STRING_MAX], q[72];
    size_t n;
    if (read_string(c, s, sizeof s, &n, err, errlen) < 0)
        return -1;
    if (lb_config_parse_address(s, n, &out->server) < 0)
        return lb_config_fail(err, errlen,
                              "field 'server': invalid backend '%s' (want PORT or HOST:PORT)",
                              quote(q, sizeof q, s, n));
    return 0;
}

static int read_state(cursor *c, lb_admin_body *out, char *err, size_t errlen)
{
    char s[16];
    size_t n;
    if (read_string(c, s, sizeof s, &n, err, errlen) < 0)
        return lb_config_fail(err, errlen, "field 'state' must be \"drain\" or \"ready\"");
    if (strcmp(s, "drain") != 0 && strcmp(s, "ready") != 0)
        return lb_config_fail(err, errlen, "field 'state' must be \"drain\" or \"ready\"");
    out->drain = s[0] == 'd';
    return 0;
}

/* One member "key": value. */
static int read_member(cursor *c, int kind, lb_admin_body *out, char *err, size_t errlen)
{
    char key[32], q[40];
    size_t n;
    if (read_string(c, key, sizeof key, &n, err, errlen) < 0)
        return -1;
    if (expect(c, ':') < 0)
        return lb_config_fail(err, errlen, "bad JSON: ':' expected after \"%s\"",
                              quote(q, sizeof q, key, n));
    int *seen = NULL;
    if (strcmp(key, "server") == 0 && kind == LB_ADMIN_BODY_POST)
        seen = &out->has_server;
    else if (strcmp(key, "weight") == 0)
        seen = &out->has_weight;
    else if (strcmp(key, "state") == 0 && kind == LB_ADMIN_BODY_PATCH)
        seen = &out->has_state;
    if (!seen)
        return lb_config_fail(err, errlen, "unknown field '%s'", quote(q, sizeof q, key, n));
    if (*seen)
        return lb_config_fail(err, errlen, "field '%s' given twice", key);
    *seen = 1;
    if (seen == &out->has_server)
        return read_server(c, out, err, errlen);
    if (seen == &out->has_state)
        return read_state(c, out, err, errlen);
    return read_weight(c, &out->weight, err, errlen);
}

int lb_admin_parse_body(const char *p, size_t n, int kind, lb_admin_body *out, char *err,
                        size_t errlen)
{
    cursor c = {p, p + n};
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (n > LB_ADMIN_BODY_MAX)
        return lb_config_fail(err, errlen, "body over %d bytes", LB_ADMIN_BODY_MAX);
    if (expect(&c, '{') < 0)
        return lb_config_fail(err, errlen, "bad JSON: an object was expected");
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            if (read_member(&c, kind, out, err, errlen) < 0)
                return -1;
            skip_ws(&c);
            if (c.p < c.end && *c.p == ',') {
                c.p++;
                continue;
            }
            if (expect(&c, '}') < 0)
                return lb_config_fail(err, errlen, "bad JSON: ',' or '}' expected");
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end)
        return lb_config_fail(err, errlen, "bad JSON: bytes after the object");
    if (kind == LB_ADMIN_BODY_POST && !out->has_server)
        return lb_config_fail(err, errlen, "field 'server' is required");
    if (kind == LB_ADMIN_BODY_PATCH && !out->has_weight && !out->has_state)
        return lb_config_fail(err, errlen, "nothing to change: give 'weight' or 'state'");
    out->server.weight = out->has_weight ? out->weight : 1;
    return 0;
}

/* ---- the backends file ------------------------------------------------------------ */

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* One line [s, e) (no newline): 1 and a backend in *spec, 0 for nothing, -1 with a reason. */
static int parse_line(const char *s, const char *e, int line, lb_backend_spec *spec, char *err,
                      size_t errlen)
{
    char word[LB_HOST_MAX + 32], q[72];
    const char *hash = memchr(s, '#', (size_t)(e - s));
    if (memchr(s, '\0', (size_t)(e - s)))
        return lb_config_fail(err, errlen, "line %d: a NUL byte", line);
    if (hash)
        e = hash;
    while (s < e && is_blank(*s))
        s++;
    while (e > s && is_blank(e[-1]))
        e--;
    size_t n = (size_t)(e - s);
    if (n == 0)
        return 0;
    for (const char *p = s; p < e; p++)
        if (is_blank(*p))
            return lb_config_fail(err, errlen, "line %d: one SERVER a line ('%s')", line,
                                  quote(q, sizeof q, s, n));
    if (n >= sizeof word)
        return lb_config_fail(err, errlen, "line %d: too long", line);
    memcpy(word, s, n);
    word[n] = '\0';
    if (lb_config_parse_backend(word, spec) < 0)
        return lb_config_fail(err, errlen,
                              "line %d: invalid backend '%s' (want PORT or HOST:PORT[,weight=W])",
                              line, quote(q, sizeof q, s, n));
    return 1;
}

int lb_admin_parse_file(const char *p, size_t n, lb_backend_spec *out, int max, char *err,
                        size_t errlen)
{
    const char *end = p + n;
    int count = 0, line = 0;
    char q[72];
    if (err && errlen)
        err[0] = '\0';
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lb_backend_spec spec = {{0}, 0, 0}; /* whole: out[] holds no stale bytes after a host */
        int r = parse_line(p, e, ++line, &spec, err, errlen);
        if (r < 0)
            return -1;
        p = nl ? nl + 1 : end;
        if (r == 0)
            continue;
        for (int i = 0; i < count; i++)
            if (out[i].port == spec.port && strcmp(out[i].host, spec.host) == 0)
                return lb_config_fail(err, errlen, "line %d: backend '%s:%d' named twice", line,
                                      quote(q, sizeof q, spec.host, strlen(spec.host)), spec.port);
        if (count >= max)
            return lb_config_fail(err, errlen, "line %d: too many backends (at most %d)", line,
                                  max);
        out[count++] = spec;
    }
    return count;
}

int lb_admin_parse_path(const char *p, size_t n, lb_backend_spec *out)
{
    static const char prefix[] = "/backends/";
    size_t plen = sizeof prefix - 1;
    if (n <= plen || memcmp(p, prefix, plen) != 0)
        return -1;
    if (memchr(p + plen, '/', n - plen) || memchr(p + plen, '?', n - plen))
        return -1;
    if (lb_config_parse_address(p + plen, n - plen, out) < 0)
        return -1;
    out->weight = 1;
    return 0;
}

int lb_admin_is_loopback(const struct sockaddr *sa, socklen_t len)
{
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}
