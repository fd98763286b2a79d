/* test_chunked.c - the chunked transfer-coding scanner.
 *
 * Valid bodies are fed whole, byte by byte and split at every point, each piece placed to
 * end at an unreadable page; all ways must find the same end and the same chunk data.
 * Hostile bodies must be refused, whatever the split, and stay refused.
 */
#include "check.h"
#include "guard.h"
#include "http.h"

#include <stdlib.h>
#include <unistd.h>

typedef struct valid_body {
    const char *s;
    size_t len;
    const char *data; /* the chunk data, concatenated */
    size_t data_len;
} valid_body;

static const valid_body valid_bodies[] = {
    {S("0\r\n\r\n"), S("")},
    {S("5\r\nhello\r\n0\r\n\r\n"), S("hello")},
    {S("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), S("hello world")},
    {S("A\r\n0123456789\r\n0\r\n\r\n"), S("0123456789")},
    {S("a\r\n0123456789\r\n00\r\n\r\n"), S("0123456789")},
    {S("0000000000000003\r\nabc\r\n0\r\n\r\n"), S("abc")},
    {S("3;name=value\r\nabc\r\n0;last\r\n\r\n"), S("abc")},
    {S("3 ;a=\"q;\\\"x\"\r\nabc\r\n0\t; a\r\n\r\n"), S("abc")},
    {S("2\r\n\r\n\r\n0\r\n\r\n"), S("\r\n")},
    {S("1\r\n\0\r\n0\r\n\r\n"), S("\0")}, /* binary data */
    {S("3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:  1 2\r\nEmpty:\r\n\r\n"), S("abc")},
};

/* Feeds body[0, len) in pieces cut at the given points; returns total consumed or -1. */
static ssize_t feed(lb_chunked *c, const char *body, size_t len, size_t cut, char *data,
                    size_t *data_len)
{
    size_t pos = 0;
    *data_len = 0;
    size_t ends[2] = {cut, len};
    for (int piece = 0; piece < 2; piece++) {
        size_t piece_len = ends[piece] - pos;
        const char *p = guard_place(body + pos, piece_len);
        size_t used = 0;
        while (used < piece_len && !lb_chunked_done(c)) {
            size_t dl;
            ssize_t n = lb_chunked_step(c, p + used, piece_len - used, &dl);
            if (n < 0)
                return -1;
            if (n == 0 || (dl != 0 && dl != (size_t)n))
                return -2;
            memcpy(data + *data_len, p + used, dl);
            *data_len += dl;
            used += (size_t)n;
        }
        pos += used;
        if (used < piece_len)
            break;
    }
    return (ssize_t)pos;
}

static void test_valid(const valid_body *v)
{
    char data[256];
    size_t data_len;
    size_t want_data = v->data_len;
    for (size_t cut = 0; cut <= v->len; cut++) {
        lb_chunked c;
        lb_chunked_init(&c);
        ssize_t n = feed(&c, v->s, v->len, cut, data, &data_len);
        CHECK_MSG(n == (ssize_t)v->len && lb_chunked_done(&c), "%s cut %zu: %zd", v->s, cut, n);
        CHECK_MSG(data_len == want_data && memcmp(data, v->data, data_len) == 0, "%s", v->s);
        if (cut < v->len) { /* a prefix alone is never done */
            lb_chunked_init(&c);
            CHECK(lb_chunked_scan(&c, guard_place(v->s, cut), cut) == (ssize_t)cut);
            CHECK(!lb_chunked_done(&c));
        }
    }
    /* byte by byte */
    lb_chunked c;
    lb_chunked_init(&c);
    for (size_t i = 0; i < v->len; i++) {
        CHECK(!lb_chunked_done(&c));
        CHECK(lb_chunked_scan(&c, guard_place(v->s + i, 1), 1) == 1);
    }
    CHECK(lb_chunked_done(&c));
    /* whatever follows the body is not consumed, and a done scanner consumes nothing */
    char more[256];
    memcpy(more, v->s, v->len);
    memcpy(more + v->len, "GET / HTTP/1.1\r\n\r\n", 18);
    lb_chunked_init(&c);
    CHECK(lb_chunked_scan(&c, guard_place(more, v->len + 18), v->len + 18) == (ssize_t)v->len);
    size_t dl = 1;
    CHECK(lb_chunked_step(&c, "x", 1, &dl) == 0 && dl == 0);
    CHECK(lb_chunked_scan(&c, "x", 1) == 0);
}

typedef struct bytes {
    const char *s;
    size_t len;
} bytes;

static const bytes invalid_bodies[] = {
    {S("\r\n")},
    {S("5\nhello\r\n0\r\n\r\n")}, /* bare LF after the size */
    {S("5\r\nhello\n0\r\n\r\n")}, /* bare LF after data */
    {S("5\r\nhello\r0\r\n\r\n")},
    {S("5\r\nhelloX\r\n0\r\n\r\n")}, /* data longer than its size */
    {S("5\r\nhell\r\n0\r\n\r\n")},   /* hides a chunk in the data: size mismatch */
    {S("0\r\n\n")},
    {S("0\r\n\r\r")},
    {S("0\n\r\n")},
    {S("-1\r\n")},
    {S("+1\r\n")},
    {S("0x5\r\n")},
    {S(" 5\r\nhello\r\n")},
    {S("5 \r\nhello\r\n")}, /* whitespace must lead to an extension */
    {S("5 x\r\nhello\r\n")},
    {S("g\r\n")},
    {S("5;a\nb\r\nhello\r\n")}, /* LF inside an extension */
    {S("5;a\0b\r\nhello\r\n")},
    {S("10000000000000000\r\n")}, /* 17 digits */
    {S("00000000000000000\r\n")},
    {S("ffffffffffffffffff\r\n")},
    {S("0\r\nX: a\r\n b\r\n\r\n")}, /* obs-fold in a trailer */
    {S("0\r\nX : a\r\n\r\n")},
    {S("0\r\n: a\r\n\r\n")},
    {S("0\r\nX: a\nY: b\r\n\r\n")},
    {S("0\r\nX: a\x01\r\n\r\n")},
    {S("0\r\nX\r\n\r\n")},
    {S("0;\r\r\n\r\n")},
};

static void test_invalid(const bytes *b)
{
    for (size_t cut = 0; cut <= b->len; cut++) {
        char data[256];
        size_t data_len;
        lb_chunked c;
        lb_chunked_init(&c);
        ssize_t n = feed(&c, b->s, b->len, cut, data, &data_len);
        CHECK_MSG(n == -1, "%s cut %zu: %zd", b->s, cut, n);
        CHECK(!lb_chunked_done(&c));
        size_t dl;
        CHECK(lb_chunked_step(&c, "0\r\n\r\n", 5, &dl) == LB_HTTP_INVALID); /* sticky */
        CHECK(lb_chunked_scan(&c, "0\r\n\r\n", 5) == LB_HTTP_INVALID);
    }
}

static void test_limits(void)
{
    static char big[LB_CHUNKED_MAX_TRAILER + 64];
    lb_chunked c;
    /* the largest size: 16 hex digits */
    lb_chunked_init(&c);
    CHECK(lb_chunked_scan(&c, S("FFFFFFFFFFFFFFFF\r\n")) == 18);
    CHECK(c.remaining == UINT64_MAX);
    size_t dl;
    CHECK(lb_chunked_step(&c, "abc", 3, &dl) == 3 && dl == 3 && c.remaining == UINT64_MAX - 3);
    /* an endless extension is refused */
    lb_chunked_init(&c);
    memset(big, 'x', sizeof(big));
    memcpy(big, "1;", 2);
    CHECK(lb_chunked_scan(&c, big, LB_CHUNKED_MAX_LINE) == LB_CHUNKED_MAX_LINE);
    CHECK(lb_chunked_scan(&c, big + 2, 64) == LB_HTTP_INVALID);
    /* an endless trailer section is refused */
    lb_chunked_init(&c);
    CHECK(lb_chunked_scan(&c, S("0\r\n")) == 3);
    ssize_t total = 0, n;
    for (int i = 0; i < 10000; i++) {
        if ((n = lb_chunked_scan(&c, S("X-Trailer: value\r\n"))) < 0)
            break;
        total += n;
    }
    CHECK(n == LB_HTTP_INVALID && total <= LB_CHUNKED_MAX_TRAILER);
    /* empty input */
    lb_chunked_init(&c);
    CHECK(lb_chunked_step(&c, guard_page_end, 0, &dl) == 0 && dl == 0);
    CHECK(lb_chunked_scan(&c, guard_page_end, 0) == 0 && !lb_chunked_done(&c));
}

int main(void)
{
    guard_init();
    for (size_t i = 0; i < sizeof(valid_bodies) / sizeof(valid_bodies[0]); i++)
        test_valid(&valid_bodies[i]);
    for (size_t i = 0; i < sizeof(invalid_bodies) / sizeof(invalid_bodies[0]); i++)
        test_invalid(&invalid_bodies[i]);
    test_limits();
    return CHECK_RESULT();
}
