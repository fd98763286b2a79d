/* test_json.c - the control port's JSON reader and fs_control_apply_json's atomicity. */
#include <string.h>

#include "check.h"
#include "control.h"
#include "json.h"
#include "timeline.h"

static char got[1024];

static int collect(const char *key, const char *value, int kind, void *ctx, char *err,
                   size_t errlen)
{
    size_t n = strlen(got);
    snprintf(got + n, sizeof(got) - n, "%s=%s(%d);", key, value, kind);
    return 0;
}

static int parse(const char *s)
{
    char err[128];
    got[0] = '\0';
    return fs_json_each(s, strlen(s), collect, NULL, err, sizeof(err));
}

int main(void)
{
    CHECK(parse("{}") == 0 && got[0] == '\0');
    CHECK(parse(" { \"a\" : 1 , \"b\":\"x\\\"y\\u0041\", \"c\": true, \"d\": null } ") == 0);
    CHECK(!strcmp(got, "a=1(1);b=x\"yA(0);c=true(2);d=(3);"));
    CHECK(parse("{\"generation\": 3, \"faults\": {\"delay\": 2}}") == 0);
    CHECK(!strcmp(got, "generation=3(1);delay=2(1);"));
    const char *bad[] = {"",
                         "{",
                         "}",
                         "[]",
                         "{\"a\"}",
                         "{\"a\":}",
                         "{\"a\":1,}",
                         "{\"a\":1}x",
                         "{\"a\":{\"b\":1}}",
                         "{\"faults\":{\"x\":{}}}",
                         "{\"a\":\"\\q\"}",
                         "{\"a\":\"\\u00e9\"}",
                         "{\"a\":tru}",
                         "{\"a\":\"unterminated}",
                         "{a:1}",
                         "{\"a\":1 \"b\":2}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_MSG(parse(bad[i]) == -1, "accepted %s", bad[i]);
    /* bounded: the reader never needs a NUL and never reads past len */
    CHECK(fs_json_each("{\"a\":1}garbage", 7, collect, NULL, got, 10) == 0);

    fs_faults f;
    char err[128];
    fs_faults_default(&f);
    const char *ok =
        "{\"delay\": 5, \"refuse\": true, \"scope\": \"health\", \"error-rate\": 0.25}";
    CHECK(fs_control_apply_json(&f, ok, strlen(ok), err, sizeof(err)) == 0);
    CHECK(f.delay == 5 && f.refuse && f.scope == FS_SCOPE_HEALTH && f.error_rate == 0.25);
    const char *partial = "{\"delay\": 9, \"error-rate\": 3}";
    CHECK(fs_control_apply_json(&f, partial, strlen(partial), err, sizeof(err)) == -1);
    CHECK(f.delay == 5); /* nothing applied */
    const char *reset = "{\"delay\": null}";
    CHECK(fs_control_apply_json(&f, reset, strlen(reset), err, sizeof(err)) == 0 && f.delay == 0);

    /* timeline action text */
    f.seed = 11;
    CHECK(fs_timeline_apply_text(&f, "reset delay=3 stall=1", err, sizeof(err)) == 0);
    CHECK(f.delay == 3 && f.stall && !f.refuse && f.seed == 11);
    CHECK(fs_timeline_apply_text(&f, "delay=4 bogus", err, sizeof(err)) == -1 && f.delay == 3);
    return CHECK_RESULT();
}
