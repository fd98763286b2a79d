/* test_framer.c - stream framing: heads, bodies and the next pipelined message.
 *
 * Each stream of the tables is framed twice, whole and in reads of every size from 1 to 7
 * bytes, the way a connection meets it; every call's input is placed so that it ends at an
 * unreadable page (guard.h), so a framer that looks one byte too far crashes here. Both
 * framings must find the same messages: head length, body length, data bytes, and the
 * same ending (done, cut short by the end of the stream, or refused).
 */
#include "check.h"
#include "framer.h"
#include "guard.h"

#include <stdlib.h>

#define MAX_FIELDS 8
#define MAX_MSGS 8

enum { END_DONE, END_CUT, END_INVALID, END_TOO_MANY };

typedef struct msg {
    size_t head, body;
    uint64_t data;
} msg;

typedef struct outcome {
    msg m[MAX_MSGS];
    int n, end;
    size_t interim; /* bytes of 1xx heads before the first final head */
} outcome;

typedef struct row {
    const char *s;
    size_t len;
    int response; /* an answer stream (to GET), else requests */
    int n, end;
    msg m[3];
} row;

/* Frames s as a connection would, reading `step` bytes at a time (0: all at once). */
static void frame(const row *r, size_t step, outcome *o)
{
    static char acc[4096];
    lb_framer f;
    lb_http_header h[MAX_FIELDS];
    size_t pos = 0, have = 0, head = 0; /* have: bytes of the current head buffered */
    memset(o, 0, sizeof *o);
    lb_framer_init(&f);
    while (o->n < MAX_MSGS) {
        size_t n = step ? step : r->len;
        n = n < r->len - pos ? n : r->len - pos;
        int at_end = pos == r->len;
        if (f.state == LB_FRAME_HEAD) {
            memcpy(acc + have, r->s + pos, n);
            have += n;
            pos += n;
            if (have == 0 && at_end)
                return; /* the stream ended between messages */
            const char *p = guard_place(acc, have);
            int rc;
            if (r->response) {
                lb_http_response res;
                rc = lb_framer_response_head(&f, p, have, at_end, "GET", 3, &res, h, MAX_FIELDS);
            } else {
                lb_http_request req;
                rc = lb_framer_request_head(&f, p, have, at_end, &req, h, MAX_FIELDS);
            }
            if (rc == LB_HTTP_INCOMPLETE && !at_end)
                continue;
            if (rc < 0) {
                o->end = rc == LB_HTTP_TOO_MANY  ? END_TOO_MANY
                         : rc == LB_HTTP_INVALID ? END_INVALID
                                                 : END_CUT;
                return;
            }
            /* bytes read past the head go back to the stream */
            pos -= have - (size_t)rc;
            have = 0;
            if (f.state == LB_FRAME_HEAD) { /* an interim answer */
                o->interim += (size_t)rc;
                continue;
            }
            head = (size_t)rc;
            o->m[o->n] = (msg){head, 0, 0};
        } else if (f.state == LB_FRAME_BODY) {
            if (at_end) {
                o->end = lb_framer_eof(&f) ? END_DONE : END_CUT;
                o->m[o->n].data = f.data;
                o->n += o->end == END_DONE;
                return;
            }
            ssize_t used = lb_framer_body(&f, guard_place(r->s + pos, n), n);
            if (used < 0) {
                o->end = END_INVALID;
                return;
            }
            CHECK((size_t)used <= n && (used > 0 || f.state == LB_FRAME_DONE));
            o->m[o->n].body += (size_t)used;
            pos += (size_t)used;
        }
        if (f.state == LB_FRAME_DONE) {
            o->m[o->n].data = f.data;
            o->n++;
            lb_framer_init(&f);
        }
    }
}

#define REQ(lit, n, end, ...)                                                                      \
    {                                                                                              \
        S(lit), 0, n, end,                                                                         \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
#define RES(lit, n, end, ...)                                                                      \
    {                                                                                              \
        S(lit), 1, n, end,                                                                         \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

static const row rows[] = {
    REQ("GET / HTTP/1.1\r\n\r\n", 1, END_DONE, {18, 0, 0}),
    REQ("\r\nGET / HTTP/1.1\r\n\r\n", 1, END_DONE, {20, 0, 0}),
    /* pipelined: a bodiless GET, a Content-Length body, a chunked body, a last GET */
    REQ("GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        3, END_DONE, {19, 0, 0}, {39, 3, 3}, {48, 23, 3}),
    REQ("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n", 2, END_DONE,
        {38, 0, 0}, {18, 0, 0}),
    REQ("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", 0, END_CUT, {38, 2, 2}),
    REQ("GET / HTTP/1.1\r\nHost: x\r\n", 0, END_CUT, {0, 0, 0}),
    /* refused: unsafe framing, a bad chunk, too many fields, bad syntax */
    REQ("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
        END_INVALID, {0, 0, 0}),
    REQ("GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 1,
        END_INVALID, {18, 0, 0}),
    REQ("GET / HTTP/1.1\r\nA: 1\r\nA: 2\r\nA: 3\r\nA: 4\r\nA: 5\r\nA: 6\r\nA: 7\r\nA: 8\r\nA: "
        "9\r\n\r\n",
        0, END_TOO_MANY, {0, 0, 0}),
    REQ("GET / HTTP/1.1\nHost: x\r\n\r\n", 0, END_INVALID, {0, 0, 0}),
    /* answers: interim heads, a final one, bodies framed three ways */
    RES("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1, END_DONE,
        {38, 2, 2}),
    RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 204 No "
        "Content\r\n\r\n",
        2, END_DONE, {47, 12, 2}, {27, 0, 0}),
    RES("HTTP/1.1 200 OK\r\n\r\nuntil the close", 1, END_DONE, {19, 15, 15}),
    RES("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 0, END_CUT, {38, 5, 5}),
    RES("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 0, END_INVALID, {0, 0, 0}),
    RES("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0, END_INVALID,
        {0, 0, 0}),
};

static void check_row(const row *r)
{
    outcome whole, split;
    frame(r, 0, &whole);
    CHECK_MSG(whole.n == r->n && whole.end == r->end, "%.40s: %d messages, end %d", r->s, whole.n,
              whole.end);
    for (int i = 0; i < r->n && i < whole.n; i++)
        CHECK_MSG(whole.m[i].head == r->m[i].head && whole.m[i].body == r->m[i].body &&
                      whole.m[i].data == r->m[i].data,
                  "%.40s: message %d is %zu+%zu (%llu data)", r->s, i, whole.m[i].head,
                  whole.m[i].body, (unsigned long long)whole.m[i].data);
    for (size_t step = 1; step <= 7; step++) {
        frame(r, step, &split);
        CHECK_MSG(split.n == whole.n && split.end == whole.end && split.interim == whole.interim &&
                      memcmp(split.m, whole.m, sizeof split.m) == 0,
                  "%.40s: reads of %zu bytes frame it otherwise", r->s, step);
    }
}

int main(void)
{
    guard_init();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        check_row(&rows[i]);
    return CHECK_RESULT();
}
