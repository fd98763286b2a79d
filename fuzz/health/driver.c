/* fuzz/health - the health-check body parser and answer judge.
 *
 * The input is judged both as a bare body and as a whole answer. Invariants: counts are set
 * only on success and then ERRORS <= TOTAL; a parsed body prints back to itself (up to
 * leading zeros and the optional trailing newline); the judge never says "need more" at
 * eof; a judgement made before eof is the one made at eof and at every longer prefix; a
 * healthy answer has an `HTTP/1.1 200` head.
 */
#include "fuzz_entry.h"
#include "health.h"
#include "http.h"

#include <inttypes.h>

/* The body with leading zeros and the trailing newline removed, as the parser reads it. */
static size_t canonical_body(const uint8_t *data, size_t len, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    if (len > 0 && data[len - 1] == '\n')
        len--;
    while (i < len && o + 1 < cap) {
        int at_start = i == 0 || data[i - 1] == '\n';
        if (at_start)
            while (i + 1 < len && data[i] == '0' && data[i + 1] != '\n')
                i++;
        out[o++] = (char)data[i++];
    }
    return o;
}

static void check_body(const uint8_t *data, size_t len)
{
    uint64_t e = 1, t = 0;
    int rc = lb_health_parse_body((const char *)data, len, &e, &t);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_CHECK(e == 1 && t == 0);
        return;
    }
    FUZZ_CHECK(e <= t);
    char printed[64], canon[128];
    int n = snprintf(printed, sizeof(printed), "%" PRIu64 "\n%" PRIu64, e, t);
    size_t c = canonical_body(data, len, canon, sizeof(canon));
    FUZZ_CHECK((size_t)n == c && memcmp(printed, canon, c) == 0);
}

static void check_answer(const uint8_t *data, size_t len)
{
    const char *buf = (const char *)data;
    uint64_t e0 = 0, t0 = 0, e1 = 0, t1 = 0;
    int open = lb_health_parse_response(buf, len, 0, &e0, &t0);
    int closed = lb_health_parse_response(buf, len, 1, &e1, &t1);
    FUZZ_CHECK(open >= -1 && open <= 1 && (closed == -1 || closed == 1));
    if (open != 0)
        FUZZ_CHECK(closed == open);
    if (open == 1)
        FUZZ_CHECK(e0 == e1 && t0 == t1);
    if (closed == 1) {
        lb_http_header h[32];
        lb_http_response res;
        FUZZ_CHECK(e1 <= t1);
        FUZZ_CHECK(lb_http_parse_response(buf, len, &res, h, 32) > 0);
        FUZZ_CHECK(res.major == 1 && res.minor == 1 && res.status == 200);
    }
    size_t step = len <= 256 ? 1 : len / 61 + 1;
    for (size_t k = 0; k < len; k += step) {
        uint64_t e, t;
        int p = lb_health_parse_response(buf, k, 0, &e, &t);
        FUZZ_CHECK(p == 0 || p == open);
        FUZZ_CHECK(lb_health_parse_response(buf, k, 1, &e, &t) != 0);
    }
}

static void fuzz_one(const uint8_t *data, size_t len)
{
    check_body(data, len);
    check_answer(data, len);
}
