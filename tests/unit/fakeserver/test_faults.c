/* test_faults.c - the fault table (names, values, JSON) and the pure decision. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "faults.h"

static fs_request_info req(uint64_t seq)
{
    fs_request_info r = {
        .seq = seq, .method = "GET", .method_len = 3, .target = "/a", .target_len = 2};
    return r;
}

int main(void)
{
    fs_faults f;
    char err[128];
    fs_action a;
    fs_faults_default(&f);
    CHECK(f.error_status == 500 && f.health_errors == -1 && f.garbage_bytes == 64);
    for (uint64_t s = 1; s < 100; s++) {
        fs_request_info r = req(s);
        fs_faults_decide(&f, &r, &a);
        CHECK(a.kinds == 0 && !a.status && !a.hang && !a.cut && !a.delay_ms);
    }
    CHECK(fs_faults_set(&f, "delay", "250", err, sizeof(err)) == 0 && f.delay == 250);
    CHECK(fs_faults_set(&f, "error_rate", "0.5", err, sizeof(err)) == 0 && f.error_rate == 0.5);
    CHECK(fs_faults_set(&f, "error-rate", "1.5", err, sizeof(err)) == -1);
    CHECK(strstr(err, "error-rate") != NULL);
    CHECK(fs_faults_set(&f, "nope", "1", err, sizeof(err)) == -1);
    CHECK(fs_faults_set(&f, "delay", "-1", err, sizeof(err)) == -1);
    CHECK(fs_faults_set(&f, "delay", "12x", err, sizeof(err)) == -1);
    CHECK(fs_faults_set(&f, "refuse", "true", err, sizeof(err)) == 0 && f.refuse);
    CHECK(fs_faults_set(&f, "refuse", "maybe", err, sizeof(err)) == -1);
    CHECK(fs_faults_set(&f, "scope", "others", err, sizeof(err)) == 0 &&
          f.scope == FS_SCOPE_OTHERS);
    CHECK(fs_faults_set(&f, "scope", "some", err, sizeof(err)) == -1);
    CHECK(fs_faults_known("refuse") == 2 && fs_faults_known("delay") == 1 && !fs_faults_known("x"));

    char json[4096];
    size_t n = fs_faults_json(&f, json, sizeof(json));
    CHECK(n == strlen(json) && n < sizeof(json));
    CHECK(strstr(json, "\"delay\": 250") && strstr(json, "\"refuse\": true") &&
          strstr(json, "\"scope\": \"others\"") && strstr(json, "\"error-rate\": 0.5"));
    CHECK(fs_faults_json(&f, NULL, 0) == n);

    /* strings stay valid JSON whatever they hold */
    CHECK(fs_faults_set(&f, "scope-prefix", "/a\"b\\c", err, sizeof(err)) == 0);
    fs_faults_json(&f, json, sizeof(json));
    CHECK(strstr(json, "\"scope-prefix\": \"/a\\\"b\\\\c\"") != NULL);
    CHECK(fs_faults_set(&f, "scope-prefix", "/x", err, sizeof(err)) == 0);
    CHECK(fs_faults_reset_field(&f, "scope-prefix", err, sizeof(err)) == 0 && !f.scope_prefix[0]);

    /* decisions are a function of (faults, seq): equal inputs, equal outputs */
    fs_faults_default(&f);
    f.error_rate = 0.3;
    f.seed = 7;
    int errors = 0;
    for (uint64_t s = 1; s <= 1000; s++) {
        fs_request_info r = req(s);
        fs_action b;
        fs_faults_decide(&f, &r, &a);
        fs_faults_decide(&f, &r, &b);
        CHECK(memcmp(&a, &b, sizeof(a)) == 0);
        errors += a.status == 500;
    }
    CHECK(errors > 230 && errors < 370);
    CHECK(fs_faults_random(1, 2, 3) == fs_faults_random(1, 2, 3));
    CHECK(fs_faults_random(1, 2, 3) != fs_faults_random(2, 2, 3));

    /* scopes */
    fs_faults_default(&f);
    f.error_rate = 1;
    f.scope = FS_SCOPE_HEALTH;
    fs_request_info r = req(1);
    fs_faults_decide(&f, &r, &a);
    CHECK(a.status == 0);
    r.health = true;
    fs_faults_decide(&f, &r, &a);
    CHECK(a.status == 500);
    f.scope = FS_SCOPE_ALL;
    strcpy(f.scope_prefix, "/b");
    r = req(2);
    fs_faults_decide(&f, &r, &a);
    CHECK(a.status == 0);
    r.target = "/bcd";
    r.target_len = 4;
    fs_faults_decide(&f, &r, &a);
    CHECK(a.status == 500);
    strcpy(f.scope_method, "PUT");
    fs_faults_decide(&f, &r, &a);
    CHECK(a.status == 0);

    /* jitter stays within bounds; crash-after; flapping */
    fs_faults_default(&f);
    f.delay = 100;
    f.delay_jitter = 50;
    f.crash_after = 3;
    for (uint64_t s = 1; s < 200; s++) {
        r = req(s);
        r.scoped_seq = s;
        fs_faults_decide(&f, &r, &a);
        /* request 3 is served and then kills the process; later ones (taken by other
         * workers meanwhile) are held unanswered, so at most 3 are ever served */
        CHECK(a.crash_after == (s == 3));
        CHECK(a.hang == (s > 3));
        if (s <= 3)
            CHECK(a.delay_ms >= 100 && a.delay_ms <= 150);
    }
    /* crash-after counts requests in scope only */
    f.scope = FS_SCOPE_OTHERS;
    r = req(10);
    r.health = true;
    r.scoped_seq = 0;
    fs_faults_decide(&f, &r, &a);
    CHECK(!a.crash_after);
    fs_faults_default(&f);
    f.health_flap = 1000;
    r = req(1);
    r.health = true;
    r.uptime_ms = 400;
    fs_faults_decide(&f, &r, &a);
    CHECK(a.status == 0);
    r.uptime_ms = 1600;
    fs_faults_decide(&f, &r, &a);
    CHECK(a.status == 500);
    return CHECK_RESULT();
}
