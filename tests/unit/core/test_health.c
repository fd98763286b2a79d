/* test_health.c - the health-check body and answer judge.
 *
 * Inputs end at an unreadable page. Answers are judged at every prefix (never healthy or
 * unhealthy before the whole answer unless certain, and always the same final judgement),
 * then with eof at the end.
 */
#include "check.h"
#include "guard.h"
#include "health.h"

#include <stdlib.h>
#include <unistd.h>

typedef struct body_case {
    const char *s;
    size_t len;
    int rc;
    uint64_t errors, total;
} body_case;

static const body_case bodies[] = {
    {S("0\n0"), 0, 0, 0},
    {S("3\n10"), 0, 3, 10},
    {S("3\n10\n"), 0, 3, 10},
    {S("007\n0010"), 0, 7, 10},
    {S("18446744073709551615\n18446744073709551615"), 0, UINT64_MAX, UINT64_MAX},
    {S(""), -1, 0, 0},
    {S("1"), -1, 0, 0},
    {S("1\n"), -1, 0, 0},
    {S("\n1"), -1, 0, 0},
    {S("2\n1"), -1, 0, 0},
    {S("1\n2\n\n"), -1, 0, 0},
    {S("1\n2\r\n"), -1, 0, 0},
    {S("1\r\n2"), -1, 0, 0},
    {S("a\n1"), -1, 0, 0},
    {S("-1\n2"), -1, 0, 0},
    {S("+1\n2"), -1, 0, 0},
    {S(" 1\n2"), -1, 0, 0},
    {S("1\n2 "), -1, 0, 0},
    {S("1\n 2"), -1, 0, 0},
    {S("1\n2\0"), -1, 0, 0},
    {S("1\n0x2"), -1, 0, 0},
    {S("1\n2\n3"), -1, 0, 0},
    {S("18446744073709551616\n18446744073709551617"), -1, 0, 0},
    {S("1\n18446744073709551616"), -1, 0, 0},
    {S("1\n99999999999999999999999999"), -1, 0, 0},
};

static void test_body(const body_case *b)
{
    uint64_t e = 42, t = 42;
    int rc = lb_health_parse_body(guard_place(b->s, b->len), b->len, &e, &t);
    CHECK_MSG(rc == b->rc, "%s: %d", b->s, rc);
    if (rc == 0)
        CHECK_MSG(e == b->errors && t == b->total, "%s", b->s);
    else
        CHECK(e == 42 && t == 42); /* untouched */
}

typedef struct answer_case {
    const char *s;
    size_t len;
    int rc; /* the judgement at eof; the same before eof once the answer is complete */
    int needs_eof;
    uint64_t errors, total;
} answer_case;

static const answer_case answers[] = {
    {S("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n3\n10"), 1, 0, 3, 10},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n3\n10\n"), 1, 0, 3, 10},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: x\r\n\r\n0\n0"), 1, 0, 0, 0},
    {S("HTTP/1.1 200 OK\r\n\r\n5\n8"), 1, 1, 5, 8},
    {S("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n5\n8\n"), 1, 1, 5, 8},
    {S("HTTP/1.1 200\r\nContent-Length: 3\r\n\r\n1\n1"), 1, 0, 1, 1},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n3\n10"), -1, 1, 0, 0}, /* partial */
    {S("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"), -1, 1, 0, 0},
    {S("HTTP/1.1 200 OK\r\n\r\n"), -1, 1, 0, 0},
    {S("HTTP/1.1 200 OK\r\n\r\n5\n"), -1, 1, 0, 0},
    {S(""), -1, 1, 0, 0},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n2\n1"), -1, 0, 0, 0},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), -1, 0, 0, 0},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n3\nab"), -1, 0, 0, 0},
    {S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n1\n2\r\n0\r\n\r\n"), -1, 0, 0, 0},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n1\n2"), -1, 0, 0, 0},
    {S("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n1\n2"), -1, 0, 0, 0},
    {S("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n1\n2"), -1, 0, 0, 0},
    {S("HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\n1\n2"), -1, 0, 0, 0},
    {S("HTTP/1.1 200 OK\nContent-Length: 3\n\n1\n2"), -1, 0, 0, 0},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n1\n2"), -1, 0, 0, 0},
    {S("garbage"), -1, 0, 0, 0},
};

static void test_answer(const answer_case *a)
{
    uint64_t e = 42, t = 42;
    for (size_t k = 0; k < a->len; k++) {
        int rc = lb_health_parse_response(guard_place(a->s, k), k, 0, &e, &t);
        CHECK_MSG(rc == 0 || (rc == a->rc && !a->needs_eof), "%s at %zu: %d", a->s, k, rc);
        CHECK(lb_health_parse_response(guard_place(a->s, k), k, 1, &e, &t) != 0);
    }
    int rc = lb_health_parse_response(guard_place(a->s, a->len), a->len, 0, &e, &t);
    CHECK_MSG(rc == (a->needs_eof ? 0 : a->rc), "%s: %d", a->s, rc);
    rc = lb_health_parse_response(guard_place(a->s, a->len), a->len, 1, &e, &t);
    CHECK_MSG(rc == a->rc, "%s at eof: %d", a->s, rc);
    if (rc == 1)
        CHECK(e == a->errors && t == a->total);
}

static void test_sizes(void)
{
    static char big[LB_HEALTH_MAX_ANSWER + 256];
    uint64_t e, t;
    /* bytes after a complete Content-Length body are ignored */
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n1\n2GARBAGE";
    CHECK(lb_health_parse_response(guard_place(s, strlen(s)), strlen(s), 0, &e, &t) == 1);
    /* a close-delimited answer over the limit is unhealthy before eof */
    size_t head = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\n\r\n");
    memset(big + head, '1', sizeof(big) - head);
    CHECK(lb_health_parse_response(guard_place(big, sizeof(big)), sizeof(big), 0, &e, &t) == -1);
    CHECK(lb_health_parse_response(guard_place(big, LB_HEALTH_MAX_ANSWER), LB_HEALTH_MAX_ANSWER, 0,
                                   &e, &t) == 0);
    /* a head that never ends */
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'x', sizeof(big) - 20);
    CHECK(lb_health_parse_response(guard_place(big, sizeof(big)), sizeof(big), 0, &e, &t) == -1);
}

int main(void)
{
    guard_init();
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        test_body(&bodies[i]);
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
        test_answer(&answers[i]);
    test_sizes();
    return CHECK_RESULT();
}
