/* test_rewrite.c - the fault proxy's pure pieces: inserted fields, health rewriting, made-up
 * answers, the TCP shaping arithmetic, and scope-header matching. */
#include <string.h>

#include "check.h"
#include "http.h"
#include "rewrite.h"

static const char HEAD[] = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 4\r\n\r\n";

static void test_extra_and_insert(void)
{
    char extra[256], out[512];
    CHECK(fp_extra_fields(false, 7, 0, NULL, extra, sizeof(extra)) == 0);
    ssize_t n = fp_extra_fields(true, 7, (1u << FS_FK_DELAY) | (1u << FS_FK_RESET), "b1", extra,
                                sizeof(extra));
    const char want[] = "X-Seq: 7\r\nX-Fault: delay,reset\r\nX-Server: b1\r\n";
    CHECK(n == (ssize_t)strlen(want) && !memcmp(extra, want, (size_t)n));
    CHECK(fp_extra_fields(true, 7, 0, NULL, extra, 5) == -1);
    ssize_t m = fp_head_insert(HEAD, strlen(HEAD), "A: b\r\n", 6, out, sizeof(out));
    const char ins[] = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 4\r\nA: b\r\n\r\n";
    CHECK(m == (ssize_t)strlen(ins) && !memcmp(out, ins, (size_t)m));
    CHECK(fp_head_insert(HEAD, strlen(HEAD), "A: b\r\n", 6, out, 10) == -1);
}

static void test_health(void)
{
    char out[512];
    const char ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nETag: \"e\"\r\n\r\n3\n10";
    size_t hl = strlen(ans) - 4;
    fs_action a = {.health_errors = -1, .health_total = 42};
    ssize_t n = fp_health_rewrite(ans, hl, ans + hl, 4, &a, "", 0, out, sizeof(out));
    const char want[] = "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 4\r\n\r\n3\n42";
    CHECK(n == (ssize_t)strlen(want) && !memcmp(out, want, (size_t)n));
    a.health_malformed = true;
    n = fp_health_rewrite(ans, hl, ans + hl, 4, &a, "X: y\r\n", 6, out, sizeof(out));
    const char bad[] =
        "HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 9\r\nX: y\r\n\r\nhealthy?\n";
    CHECK(n == (ssize_t)strlen(bad) && !memcmp(out, bad, (size_t)n));
    fs_action b = {.health_errors = 5, .health_total = -1};
    n = fp_health_rewrite(ans, hl, "junk", 4, &b, "", 0, out, sizeof(out));
    CHECK(n > 0 && !memcmp(out + n - 3, "5\n0", 3)); /* unparsable real body: counts 0 */
    CHECK(fp_health_rewrite(ans, hl, ans + hl, 4, &b, "", 0, out, 20) == -1);
}

static void test_status_answer(void)
{
    char out[256];
    ssize_t n = fp_status_answer(503, "", 0, out, sizeof(out));
    const char want[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    CHECK(n == (ssize_t)strlen(want) && !memcmp(out, want, (size_t)n));
    n = fp_status_answer(418, "X-Seq: 1\r\n", 10, out, sizeof(out));
    CHECK(n > 0 && !memcmp(out, "HTTP/1.1 418 Error\r\n", 20));
}

static void test_shape(void)
{
    fs_faults f;
    fs_faults_default(&f);
    CHECK(f.tcp_timeout == -1 && f.tcp_reset_peer == -1 && f.tcp_rate == 1);
    f.tcp_latency_up = 100;
    f.tcp_jitter_up = 50;
    f.tcp_bandwidth_down = 1000;
    f.tcp_slicer_down = 10;
    fp_shape up, down;
    fp_shape_of(&f, true, &up);
    fp_shape_of(&f, false, &down);
    CHECK(up.latency == 100 && up.jitter == 50 && up.bandwidth == 0 && down.latency == 0);
    for (uint64_t k = 0; k < 200; k++) {
        int64_t at = fp_shape_release(&up, 3, 9, k, 1000, 0);
        CHECK(at >= 1100 && at <= 1150);
        CHECK(at == fp_shape_release(&up, 3, 9, k, 1000, 0)); /* seeded: the same again */
    }
    CHECK(fp_shape_release(&up, 3, 9, 0, 1000, 5000) == 5000); /* never before earlier bytes */
    CHECK(fp_shape_allow(&down, 0, 0, 0) == 1);
    CHECK(fp_shape_allow(&down, 500, 0, 0) == 10);  /* 501 bytes of credit, slices of 10 */
    CHECK(fp_shape_allow(&down, 500, 0, 501) == 0); /* credit spent: wait */
    CHECK(fp_shape_wait_ms(&down) == 1);
    CHECK(fp_shape_allow(&up, 0, 0, 1 << 30) == INT64_MAX); /* no limit at all */
}

static void test_scope_header(void)
{
    fs_faults f;
    char err[128];
    fs_faults_default(&f);
    lb_http_header hs[2] = {{"Host", 4, "x", 1, LB_FIELD_OTHER},
                            {"x-chaos", 7, "yes", 3, LB_FIELD_OTHER}};
    fs_request_info r = {.seq = 1,
                         .method = "GET",
                         .method_len = 3,
                         .target = "/a",
                         .target_len = 2,
                         .headers = hs,
                         .num_headers = 2};
    CHECK(fs_faults_in_scope(&f, &r));
    CHECK(fs_faults_set(&f, "scope-header", "X-Chaos: yes", err, sizeof(err)) == 0);
    CHECK(fs_faults_validate(&f, err, sizeof(err)) == 0 && fs_faults_in_scope(&f, &r));
    CHECK(fs_faults_set(&f, "scope-header", "X-Chaos:  no ", err, sizeof(err)) == 0);
    CHECK(!fs_faults_in_scope(&f, &r));
    CHECK(fs_faults_set(&f, "scope-header", "X-CHAOS", err, sizeof(err)) == 0);
    CHECK(fs_faults_in_scope(&f, &r));
    r.num_headers = 1;
    CHECK(!fs_faults_in_scope(&f, &r));
    CHECK(fs_faults_set(&f, "scope-header", "Bad Name", err, sizeof(err)) == 0);
    CHECK(fs_faults_validate(&f, err, sizeof(err)) == -1);
    CHECK(fs_faults_set(&f, "scope-header", ": v", err, sizeof(err)) == 0);
    CHECK(fs_faults_validate(&f, err, sizeof(err)) == -1);
    CHECK(fs_faults_set(&f, "tcp-timeout", "-2", err, sizeof(err)) == -1);
    CHECK(fs_faults_set(&f, "tcp_rate", "0.25", err, sizeof(err)) == 0 && f.tcp_rate == 0.25);
}

int main(void)
{
    test_extra_and_insert();
    test_health();
    test_status_answer();
    test_shape();
    test_scope_header();
    return CHECK_RESULT();
}
