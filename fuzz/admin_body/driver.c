/* fuzz/admin_body - the admin API's request bodies and paths (lb/admin_parse.h).
 *
 * Byte 0 picks what the rest is: 0 a POST body, 1 a PATCH body, 2 a path ("/backends/...").
 * Invariants: the answer is 0 or -1; a failure leaves a one-line, printable, NUL-terminated
 * reason; a POST success names a server (a port 1..65535, a host of 1..LB_HOST_MAX-1 bytes)
 * with a weight 1..LB_WEIGHT_MAX; a PATCH success changes something, with a weight in range
 * and a state of drain or ready; the same bytes parse to the same result; a success written
 * back as canonical JSON parses to the same result again.
 */
#include "admin_parse.h"
#include "fuzz_entry.h"

static void check_reason(const char *err, size_t cap)
{
    size_t n = strnlen(err, cap);
    FUZZ_CHECK(n > 0 && n < cap);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
}

static void check_server(const lb_backend_spec *s)
{
    size_t n = strnlen(s->host, LB_HOST_MAX);
    FUZZ_CHECK(n > 0 && n < LB_HOST_MAX);
    FUZZ_CHECK(s->port >= 1 && s->port <= 65535);
    FUZZ_CHECK(s->weight >= 1 && s->weight <= LB_WEIGHT_MAX);
}

/* The body written back, canonically; parsing it must give b again. */
static void check_round_trip(int kind, const lb_admin_body *b)
{
    char text[LB_HOST_MAX + 128], name[LB_HOST_MAX + 16], err[256];
    lb_admin_body again;
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n, "{");
    if (b->has_server) {
        lb_config_backend_name(&b->server, name, sizeof name);
        n += (size_t)snprintf(text + n, sizeof text - n, "\"server\": \"%s\",", name);
    }
    if (b->has_weight)
        n += (size_t)snprintf(text + n, sizeof text - n, "\"weight\": %d,", b->weight);
    if (b->has_state)
        n += (size_t)snprintf(text + n, sizeof text - n, "\"state\": \"%s\",",
                              b->drain ? "drain" : "ready");
    text[n - 1] = n > 1 ? '}' : '{';
    if (n == 1)
        n += (size_t)snprintf(text + n, sizeof text - n, "}");
    FUZZ_CHECK(lb_admin_parse_body(text, n, kind, &again, err, sizeof err) == 0);
    FUZZ_CHECK(again.has_server == b->has_server && again.has_weight == b->has_weight &&
               again.has_state == b->has_state);
    FUZZ_CHECK(!b->has_weight || again.weight == b->weight);
    FUZZ_CHECK(!b->has_state || again.drain == b->drain);
    FUZZ_CHECK(!b->has_server || (again.server.port == b->server.port &&
                                  strcmp(again.server.host, b->server.host) == 0));
}

static void fuzz_body(int kind, const char *p, size_t len)
{
    lb_admin_body a, b;
    char err_a[256], err_b[256];
    memset(err_a, 'x', sizeof err_a);
    int rc = lb_admin_parse_body(p, len, kind, &a, err_a, sizeof err_a);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK(lb_admin_parse_body(p, len, kind, &b, err_b, sizeof err_b) == rc);
    FUZZ_CHECK(lb_admin_parse_body(p, len, kind, &b, NULL, 0) == rc);
    if (rc < 0) {
        check_reason(err_a, sizeof err_a);
        FUZZ_CHECK(lb_admin_parse_body(p, len, kind, &b, err_b, sizeof err_b) == rc &&
                   strcmp(err_a, err_b) == 0);
        return;
    }
    if (kind == LB_ADMIN_BODY_POST) {
        FUZZ_CHECK(a.has_server && !a.has_state);
        check_server(&a.server);
    } else {
        FUZZ_CHECK(!a.has_server && (a.has_weight || a.has_state));
    }
    FUZZ_CHECK(!a.has_weight || (a.weight >= 1 && a.weight <= LB_WEIGHT_MAX));
    FUZZ_CHECK(!a.has_state || a.drain == 0 || a.drain == 1);
    check_round_trip(kind, &a);
}

static void fuzz_path(const char *p, size_t len)
{
    lb_backend_spec s;
    if (lb_admin_parse_path(p, len, &s) < 0)
        return;
    FUZZ_CHECK(len > 10 && memcmp(p, "/backends/", 10) == 0);
    check_server(&s);
}

static void fuzz_one(const uint8_t *data, size_t len)
{
    if (len == 0)
        return;
    const char *p = (const char *)data + 1;
    switch (data[0] % 3) {
    case 0:
        fuzz_body(LB_ADMIN_BODY_POST, p, len - 1);
        break;
    case 1:
        fuzz_body(LB_ADMIN_BODY_PATCH, p, len - 1);
        break;
    default:
        fuzz_path(p, len - 1);
        break;
    }
}
