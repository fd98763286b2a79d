/* test_admin_parse.c - the admin API's bodies and paths, the backends file, and the
 * loopback test of the admin API's peers (lb/admin_parse.h), on tables of inputs.
 *
 * Each body row is a kind, a body, the expected return and, for accepted ones, what was
 * read; refused rows must leave a reason that contains the expected words (the message
 * names what is wrong). File rows give the count or the line the reason must name.
 */
#include <arpa/inet.h>
#include <string.h>

#include "admin_parse.h"
#include "check.h"

typedef struct body_row {
    int kind;
    const char *body;
    int rc;
    const char *host_or_reason; /* accepted POST: the host; refused: words of the reason */
    int port, weight, state;    /* state: -1 none, 0 ready, 1 drain */
} body_row;

enum { P = LB_ADMIN_BODY_POST, T = LB_ADMIN_BODY_PATCH };

static const body_row bodies[] = {
    {P, "{\"server\": \"127.0.0.1:9004\", \"weight\": 2}", 0, "127.0.0.1", 9004, 2, -1},
    {P, "{\"server\":\"9004\"}", 0, "127.0.0.1", 9004, 1, -1},
    {P, " {\n\t\"weight\" : 256 , \"server\" : \"[::1]:80\" } \r\n", 0, "::1", 80, 256, -1},
    {P, "{\"server\": \"host.example:8080\"}", 0, "host.example", 8080, 1, -1},
    {P, "{}", -1, "'server' is required", 0, 0, 0},
    {P, "", -1, "bad JSON", 0, 0, 0},
    {P, "[1]", -1, "bad JSON", 0, 0, 0},
    {P, "{\"server\": \"9004\"", -1, "bad JSON", 0, 0, 0},
    {P, "{\"server\": \"9004\",}", -1, "bad JSON", 0, 0, 0},
    {P, "{\"server\": \"9004\"} x", -1, "after the object", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"state\": \"drain\"}", -1, "unknown field 'state'", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"colour\": 1}", -1, "unknown field 'colour'", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"server\": \"9005\"}", -1, "twice", 0, 0, 0},
    {P, "{\"server\": \"9004,weight=2\"}", -1, "field 'server'", 0, 0, 0},
    {P, "{\"server\": \"0\"}", -1, "field 'server'", 0, 0, 0},
    {P, "{\"server\": \"a b:1\"}", -1, "field 'server'", 0, 0, 0},
    {P, "{\"server\": 9004}", -1, "string", 0, 0, 0},
    {P, "{\"server\": \"a\\\"b:1\"}", -1, "escapes", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"weight\": 0}", -1, "'weight' out of range", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"weight\": 257}", -1, "'weight' out of range", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"weight\": -3}", -1, "'weight' out of range", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"weight\": 99999999999999999999}", -1, "out of range", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"weight\": 2.5}", -1, "integer", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"weight\": 02}", -1, "leading zero", 0, 0, 0},
    {P, "{\"server\": \"9004\", \"weight\": \"2\"}", -1, "integer", 0, 0, 0},
    {T, "{\"state\": \"drain\"}", 0, NULL, 0, 0, 1},
    {T, "{\"state\": \"ready\", \"weight\": 7}", 0, NULL, 0, 7, 0},
    {T, "{\"weight\": 3}", 0, NULL, 0, 3, -1},
    {T, "{}", -1, "nothing to change", 0, 0, 0},
    {T, "{\"state\": \"up\"}", -1, "'state' must be", 0, 0, 0},
    {T, "{\"state\": true}", -1, "'state' must be", 0, 0, 0},
    {T, "{\"server\": \"9004\"}", -1, "unknown field 'server'", 0, 0, 0},
};

static void check_body(const body_row *r)
{
    lb_admin_body b;
    char err[256];
    int rc = lb_admin_parse_body(r->body, strlen(r->body), r->kind, &b, err, sizeof err);
    CHECK_MSG(rc == r->rc, "'%s': rc %d (%s)", r->body, rc, err);
    if (rc < 0) {
        CHECK_MSG(strstr(err, r->host_or_reason) && !strchr(err, '\n'), "'%s': reason '%s'",
                  r->body, err);
        return;
    }
    if (r->rc < 0)
        return;
    if (r->kind == P) {
        CHECK_MSG(strcmp(b.server.host, r->host_or_reason) == 0, "'%s': host", r->body);
        CHECK_MSG(b.server.port == r->port && b.server.weight == r->weight, "'%s'", r->body);
    } else {
        CHECK_MSG(b.has_weight == (r->weight > 0) && (!b.has_weight || b.weight == r->weight),
                  "'%s': weight", r->body);
        CHECK_MSG(b.has_state == (r->state >= 0) && (!b.has_state || b.drain == r->state),
                  "'%s': state", r->body);
    }
}

static void test_body_limit(void)
{
    static char big[LB_ADMIN_BODY_MAX + 2];
    lb_admin_body b;
    char err[128];
    memset(big, ' ', sizeof big);
    CHECK(lb_admin_parse_body(big, sizeof big, P, &b, err, sizeof err) < 0);
    CHECK(strstr(err, "4096") != NULL);
}

typedef struct file_row {
    const char *text;
    int count; /* or -1 */
    const char *reason;
} file_row;

static const file_row files[] = {
    {"9001\n9002\n", 2, NULL},
    {"# pool\n127.0.0.1:9001,weight=2\n\n  9002   # b\r\n[::1]:9003", 3, NULL},
    {"", 0, NULL},
    {"\t# only a comment\n\n", 0, NULL},
    {"9001\n9001\n", -1, "line 2: backend '127.0.0.1:9001' named twice"},
    {"9001\n127.0.0.1:9001,weight=4\n", -1, "line 2"},
    {"9001\n\n9002 9003\n", -1, "line 3: one SERVER a line"},
    {"9001,weight=0\n", -1, "line 1: invalid backend"},
    {"host:\n", -1, "line 1: invalid backend"},
};

static void check_file(const file_row *r)
{
    lb_backend_spec specs[8];
    char err[256];
    int n = lb_admin_parse_file(r->text, strlen(r->text), specs, 8, err, sizeof err);
    CHECK_MSG(n == r->count, "'%s': %d (%s)", r->text, n, err);
    if (n < 0 && r->reason)
        CHECK_MSG(strstr(err, r->reason) != NULL, "'%s': reason '%s'", r->text, err);
}

static void test_file_details(void)
{
    lb_backend_spec specs[2];
    char err[256];
    const char text[] = "9001,weight=5\n[::1]:9002\n";
    CHECK(lb_admin_parse_file(text, strlen(text), specs, 2, err, sizeof err) == 2);
    CHECK(specs[0].port == 9001 && specs[0].weight == 5 && !strcmp(specs[0].host, "127.0.0.1"));
    CHECK(specs[1].port == 9002 && specs[1].weight == 1 && !strcmp(specs[1].host, "::1"));
    const char three[] = "1\n2\n3\n";
    CHECK(lb_admin_parse_file(three, strlen(three), specs, 2, err, sizeof err) == -1);
    CHECK(strstr(err, "too many backends") != NULL);
    const char nul[] = "9001\0\n";
    CHECK(lb_admin_parse_file(nul, sizeof nul - 1, specs, 2, err, sizeof err) == -1);
    CHECK(strstr(err, "NUL") != NULL);
}

static void test_paths(void)
{
    lb_backend_spec s;
    const char *good = "/backends/127.0.0.1:9001";
    CHECK(lb_admin_parse_path(good, strlen(good), &s) == 0 && s.port == 9001);
    CHECK(lb_admin_parse_path("/backends/9001", 14, &s) == 0 && !strcmp(s.host, "127.0.0.1"));
    CHECK(lb_admin_parse_path("/backends/[::1]:80", 18, &s) == 0 && !strcmp(s.host, "::1"));
    CHECK(lb_admin_parse_path("/backends/", 10, &s) < 0);
    CHECK(lb_admin_parse_path("/backends/9001/x", 16, &s) < 0);
    CHECK(lb_admin_parse_path("/backends/9001?x", 16, &s) < 0);
    CHECK(lb_admin_parse_path("/backendsx/9001", 15, &s) < 0);
    CHECK(lb_admin_parse_path("/backends/0", 11, &s) < 0);
}

/* The admin API's peer test, on addresses no test can connect from (no netns needed). */
static void test_loopback(void)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    const char *yes4[] = {"127.0.0.1", "127.255.0.9"},
               *no4[] = {"10.0.0.1", "192.168.1.2", "0.0.0.0", "128.0.0.1"};
    for (size_t i = 0; i < 2; i++) {
        inet_pton(AF_INET, yes4[i], &v4.sin_addr);
        CHECK_MSG(lb_admin_is_loopback((struct sockaddr *)&v4, sizeof v4), "%s", yes4[i]);
    }
    for (size_t i = 0; i < 4; i++) {
        inet_pton(AF_INET, no4[i], &v4.sin_addr);
        CHECK_MSG(!lb_admin_is_loopback((struct sockaddr *)&v4, sizeof v4), "%s", no4[i]);
    }
    const char *yes6[] = {"::1", "::ffff:127.0.0.1"},
               *no6[] = {"::", "fe80::1", "::ffff:10.0.0.1", "2001:db8::1"};
    for (size_t i = 0; i < 2; i++) {
        inet_pton(AF_INET6, yes6[i], &v6.sin6_addr);
        CHECK_MSG(lb_admin_is_loopback((struct sockaddr *)&v6, sizeof v6), "%s", yes6[i]);
    }
    for (size_t i = 0; i < 4; i++) {
        inet_pton(AF_INET6, no6[i], &v6.sin6_addr);
        CHECK_MSG(!lb_admin_is_loopback((struct sockaddr *)&v6, sizeof v6), "%s", no6[i]);
    }
    CHECK(!lb_admin_is_loopback((struct sockaddr *)&v4, 2)); /* too short to be one */
}

int main(void)
{
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        check_body(&bodies[i]);
    test_body_limit();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        check_file(&files[i]);
    test_file_details();
    test_paths();
    test_loopback();
    return CHECK_RESULT();
}
