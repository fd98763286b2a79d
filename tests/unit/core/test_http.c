/* test_http.c - the request and response head parsers and message framing.
 *
 * Every input is placed so that its last byte is the last readable byte before a PROT_NONE
 * page: a parser that reads one byte too far crashes here instead of passing by luck.
 * Every valid input is also parsed at every prefix length, which must answer INCOMPLETE,
 * and every hostile input at every prefix, which must answer INCOMPLETE or INVALID.
 */
#include "check.h"
#include "guard.h"
#include "http.h"

#include <stdlib.h>
#include <unistd.h>

#define MAX_FIELDS 16

static int parse_req(const char *s, size_t len, lb_http_request *req, lb_http_header *h)
{
    return lb_http_parse_request(guard_place(s, len), len, req, h, MAX_FIELDS);
}

static int parse_res(const char *s, size_t len, lb_http_response *res, lb_http_header *h)
{
    return lb_http_parse_response(guard_place(s, len), len, res, h, MAX_FIELDS);
}

/* ---- valid requests ---------------------------------------------------------------- */

typedef struct valid_request {
    const char *head;
    size_t head_len;
    const char *method, *target;
    int minor;
    size_t fields;
    lb_body_kind kind;
    uint64_t length;
    int keep_alive;
} valid_request;

static const valid_request valid_requests[] = {
    {S("GET /foo HTTP/1.1\r\n\r\n"), "GET", "/foo", 1, 0, LB_BODY_NONE, 0, 1},
    {S("GET /foo HTTP/1.0\r\n\r\n"), "GET", "/foo", 0, 0, LB_BODY_NONE, 0, 0},
    {S("PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), "PUT", "/x", 1, 1, LB_BODY_LENGTH, 5, 1},
    {S("GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"),
     "GET", "/", 1, 3, LB_BODY_NONE, 0, 1},
    {S("\r\n\r\nGET / HTTP/1.1\r\n\r\n"), "GET", "/", 1, 0, LB_BODY_NONE, 0, 1},
    {S("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), "POST", "/up", 1, 1,
     LB_BODY_CHUNKED, 0, 1},
    {S("POST /up HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), "POST", "/up", 1, 1,
     LB_BODY_CHUNKED, 0, 1},
    {S("POST /up HTTP/1.1\r\nTransfer-Encoding: gzip;q=\"a,b\"\r\nTransfer-Encoding: "
       "CHUNKED\r\n\r\n"),
     "POST", "/up", 1, 2, LB_BODY_CHUNKED, 0, 1},
    {S("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n"), "GET", "/", 1, 1, LB_BODY_NONE,
     0, 0},
    {S("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), "GET", "/", 0, 1, LB_BODY_NONE, 0, 1},
    {S("GET / HTTP/1.0\r\nConnection: foo\r\nConnection: close\r\n\r\n"), "GET", "/", 0, 2,
     LB_BODY_NONE, 0, 0},
    {S("BREW /pot?x=1&y=%20 HTTP/1.1\r\nX-Empty:\r\nX-Tabs:\t a \t\r\n\r\n"), "BREW",
     "/pot?x=1&y=%20", 1, 2, LB_BODY_NONE, 0, 1},
    {S("OPTIONS * HTTP/1.1\r\nX-Obs: caf\xc3\xa9\r\n\r\n"), "OPTIONS", "*", 1, 1, LB_BODY_NONE, 0,
     1},
    {S("GET http://a.example:80/p HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), "GET",
     "http://a.example:80/p", 1, 1, LB_BODY_LENGTH, 0, 1},
    {S("PUT /big HTTP/1.1\r\ncontent-length: 18446744073709551615\r\n\r\n"), "PUT", "/big", 1, 1,
     LB_BODY_LENGTH, UINT64_MAX, 1},
    {S("GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux "
       "x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\nAccept: "
       "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
       "Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n"
       "Upgrade-Insecure-Requests: 1\r\n\r\n"),
     "GET", "/index.html", 1, 7, LB_BODY_NONE, 0, 1},
};

static int str_eq(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* Checks that the parsed fields of a head lie inside buf[0, rc). */
static int fields_inside(const char *buf, int rc, const lb_http_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (h[i].name < buf || h[i].name + h[i].name_len > buf + rc || h[i].value < buf ||
            h[i].value + h[i].value_len > buf + rc)
            return 0;
    }
    return 1;
}

static void test_valid_request(const valid_request *v)
{
    lb_http_header h[MAX_FIELDS];
    lb_http_request req;
    lb_http_framing f;
    char with_body[1024];
    for (size_t k = 0; k < v->head_len; k++)
        CHECK_MSG(parse_req(v->head, k, &req, h) == LB_HTTP_INCOMPLETE, "%s at %zu", v->head, k);
    /* trailing bytes (a body or the next request) are not part of the head */
    memcpy(with_body, v->head, v->head_len);
    memcpy(with_body + v->head_len, "GET / HTTP/1.1\r\n\r\n", 18);
    for (size_t extra = 0; extra <= 18; extra += 6) {
        int rc = parse_req(with_body, v->head_len + extra, &req, h);
        CHECK_MSG(rc == (int)v->head_len, "%s: rc %d", v->head, rc);
        if (rc != (int)v->head_len)
            continue;
        const char *buf = guard_page_end - v->head_len - extra;
        CHECK(str_eq(req.method, req.method_len, v->method));
        CHECK(str_eq(req.target, req.target_len, v->target));
        CHECK(req.major == 1 && req.minor == v->minor);
        CHECK_MSG(req.num_headers == v->fields, "%s: %zu fields", v->head, req.num_headers);
        CHECK(req.headers == h && fields_inside(buf, rc, h, req.num_headers));
        CHECK_MSG(lb_http_request_framing(&req, &f) == 0, "%s", v->head);
        CHECK_MSG(f.kind == v->kind && f.length == v->length && f.keep_alive == v->keep_alive,
                  "%s: kind %d length %llu keep-alive %d", v->head, f.kind,
                  (unsigned long long)f.length, f.keep_alive);
    }
}

static void test_field_values(void)
{
    lb_http_header h[MAX_FIELDS];
    lb_http_request req;
    int rc = parse_req(S("GET / HTTP/1.1\r\nA:b\r\nB: \t x y \t \r\nC:\r\nD: \r\n\r\n"), &req, h);
    CHECK(rc > 0 && req.num_headers == 4);
    if (rc <= 0)
        return;
    CHECK(str_eq(h[0].name, h[0].name_len, "A") && str_eq(h[0].value, h[0].value_len, "b"));
    CHECK(str_eq(h[1].name, h[1].name_len, "B") && str_eq(h[1].value, h[1].value_len, "x y"));
    CHECK(h[2].value_len == 0 && h[3].value_len == 0);
    const lb_http_header *found = lb_http_find_header(h, req.num_headers, "b");
    CHECK(found == &h[1]);
    CHECK(lb_http_find_header(h, req.num_headers, "E") == NULL);
    CHECK(lb_http_token_eq("Content-LENGTH", 14, "content-length"));
    CHECK(!lb_http_token_eq("Content-Length", 13, "content-length"));
    CHECK(!lb_http_token_eq("Content-Lengths", 15, "content-length"));
}

/* ---- hostile requests: the head itself is invalid ---------------------------------- */

typedef struct bytes {
    const char *s;
    size_t len;
} bytes;

static const bytes invalid_heads[] = {
    {S("GET /foo HTTP/1.1\n\n")},                  /* bare LF */
    {S("GET /foo HTTP/1.1\r\nHost: a\n\r\n")},     /* bare LF after a field */
    {S("GET /foo HTTP/1.1\r\nHost: a\r\r\n\r\n")}, /* bare CR */
    {S("GET /foo HTTP/1.1\r\nHo\rst: a\r\n\r\n")},
    {S("GET /foo HTTP/1.1\r\nHost: a\rb\r\n\r\n")},
    {S("\nGET / HTTP/1.1\r\n\r\n")},
    {S("\rGET / HTTP/1.1\r\n\r\n")},
    {S("GET  /foo HTTP/1.1\r\n\r\n")}, /* two spaces */
    {S("GET /foo  HTTP/1.1\r\n\r\n")},
    {S("GET\t/foo HTTP/1.1\r\n\r\n")},
    {S(" GET /foo HTTP/1.1\r\n\r\n")},
    {S("G(T /foo HTTP/1.1\r\n\r\n")}, /* '(' is not a tchar */
    {S("GET /f\x7fo HTTP/1.1\r\n\r\n")},
    {S("GET /f\xc3\xa9 HTTP/1.1\r\n\r\n")},
    {S("GET /foo HTTP/1.1 \r\n\r\n")},
    {S("GET /foo HTTP/11\r\n\r\n")},
    {S("GET /foo HTTP/1.10\r\n\r\n")},
    {S("GET /foo http/1.1\r\n\r\n")},
    {S("GET /foo HTTP/a.1\r\n\r\n")},
    {S("GET /foo\r\n\r\n")},                      /* HTTP/0.9 */
    {S("GET /foo HTTP/1.1\r\nHost : a\r\n\r\n")}, /* space before colon */
    {S("GET /foo HTTP/1.1\r\nHost\t: a\r\n\r\n")},
    {S("GET /foo HTTP/1.1\r\n: a\r\n\r\n")}, /* empty name */
    {S("GET /foo HTTP/1.1\r\nHost a\r\n\r\n")},
    {S("GET /foo HTTP/1.1\r\nX: a\r\n b\r\n\r\n")}, /* obs-fold */
    {S("GET /foo HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n")},
    {S("GET /foo HTTP/1.1\r\n Host: a\r\n\r\n")},
    {S("GET /foo HTTP/1.1\r\nX: a\0b\r\n\r\n")}, /* NUL */
    {S("GET /foo HTTP/1.1\r\nX: a\x01\r\n\r\n")},
    {S("GET /foo HTTP/1.1\r\nX: a\x7f\r\n\r\n")},
    {S("GET /foo HTTP/1.1\r\nX\0: a\r\n\r\n")},
    {S("GET /foo HTTP/1.1\r\nX@Y: a\r\n\r\n")},
    {S("GET /foo HTTP/1.1\r\n\r\r")},
    {S("\0")},
};

static void test_invalid_head(const bytes *b)
{
    lb_http_header h[MAX_FIELDS];
    lb_http_request req;
    for (size_t k = 0; k < b->len; k++) {
        int rc = parse_req(b->s, k, &req, h);
        CHECK_MSG(rc == LB_HTTP_INCOMPLETE || rc == LB_HTTP_INVALID, "%zu: %d", k, rc);
    }
    CHECK_MSG(parse_req(b->s, b->len, &req, h) == LB_HTTP_INVALID, "%.*s", (int)b->len, b->s);
}

/* ---- smuggling: the head parses but cannot be framed ------------------------------- */

static const bytes unframeable_requests[] = {
    {S("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: 5a\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunk\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: , chunked\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip,,chunked\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chun ked\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\x0b\r\n\r\n")}, /* VT: a CTL, head */
    {S("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip;q\r\n\r\n")},
    {S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip;q=\"x\r\n\r\n")},
    {S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")},
};

static void test_unframeable(const bytes *b)
{
    lb_http_header h[MAX_FIELDS];
    lb_http_request req;
    lb_http_framing f;
    int rc = parse_req(b->s, b->len, &req, h);
    if (rc == LB_HTTP_INVALID)
        return; /* refused even earlier: as good */
    CHECK_MSG(rc == (int)b->len, "%s: %d", b->s, rc);
    CHECK_MSG(rc < 0 || lb_http_request_framing(&req, &f) == LB_HTTP_INVALID, "%s", b->s);
}

static void test_too_many(void)
{
    lb_http_header h[2];
    lb_http_request req;
    const char *s = guard_place(S("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"));
    size_t len = sizeof("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n") - 1;
    CHECK(lb_http_parse_request(s, len, &req, h, 2) == LB_HTTP_TOO_MANY);
    CHECK(lb_http_parse_request(s, len, &req, h, 0) == LB_HTTP_TOO_MANY);
    s = guard_place(S("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"));
    CHECK(lb_http_parse_request(s, 30, &req, h, 2) == 30 && req.num_headers == 2);
    CHECK(lb_http_parse_request(s, 0, &req, h, 2) == LB_HTTP_INCOMPLETE);
}

/* Every byte value in a method and in a field name: accepted exactly when it is a tchar. */
static void test_token_bytes(void)
{
    const char *tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    lb_http_header h[MAX_FIELDS];
    lb_http_request req;
    for (int c = 0; c < 256; c++) {
        int is_tchar = c != 0 && strchr(tchars, c) != NULL;
        char method[] = "G?T / HTTP/1.1\r\n\r\n";
        char field[] = "GET / HTTP/1.1\r\nX?: 1\r\n\r\n";
        method[1] = (char)c;
        field[17] = (char)c;
        int rc = parse_req(method, sizeof(method) - 1, &req, h);
        CHECK_MSG(is_tchar ? rc == (int)sizeof(method) - 1 : rc == LB_HTTP_INVALID,
                  "method byte %d: %d", c, rc);
        if (c == ':')
            continue; /* "X:: 1" is the field X with the value ": 1" */
        rc = parse_req(field, sizeof(field) - 1, &req, h);
        CHECK_MSG(is_tchar ? rc == (int)sizeof(field) - 1 : rc == LB_HTTP_INVALID,
                  "field-name byte %d: %d", c, rc);
    }
}

/* Re-parsing only when a read brought a line end finds the same answer. */
static void test_may_progress(void)
{
    static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\nGET";
    size_t len = sizeof(head) - 1, prev = 0;
    lb_http_header h[MAX_FIELDS];
    lb_http_request req;
    int rc = LB_HTTP_INCOMPLETE, parses = 0;
    for (size_t k = 1; k <= len && rc == LB_HTTP_INCOMPLETE; k++) {
        if (!lb_http_head_may_progress(head, prev, k))
            continue;
        rc = parse_req(head, k, &req, h);
        prev = k;
        parses++;
    }
    CHECK(rc == (int)len - 3 && parses == 4);
    CHECK(!lb_http_head_may_progress(head, 5, 5) && !lb_http_head_may_progress(head, 0, 15));
    CHECK(lb_http_head_may_progress(head, 15, 16));
}

static void test_expect(void)
{
    lb_http_header h[MAX_FIELDS];
    lb_http_request req;
    lb_http_framing f;
    CHECK(parse_req(S("PUT /a HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n"), &req,
                    h) > 0);
    CHECK(lb_http_request_framing(&req, &f) == 0 && f.expect_continue == 1);
    CHECK(parse_req(S("PUT /a HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), &req, h) > 0);
    CHECK(lb_http_request_framing(&req, &f) == 0 && f.expect_continue == 0);
    CHECK(parse_req(S("GET /a HTTP/1.1\r\n\r\n"), &req, h) > 0);
    CHECK(lb_http_request_framing(&req, &f) == 0 && f.expect_continue == 0);
}

/* ---- responses --------------------------------------------------------------------- */

typedef struct valid_response {
    const char *head;
    size_t head_len;
    const char *method;
    int status;
    const char *reason;
    lb_body_kind kind;
    uint64_t length;
    int keep_alive;
} valid_response;

static const valid_response valid_responses[] = {
    {S("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"), "GET", 200, "OK", LB_BODY_LENGTH, 12, 1},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"), "HEAD", 200, "OK", LB_BODY_NONE, 0, 1},
    {S("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"), "PUT", 201, "Created", LB_BODY_LENGTH,
     0, 1},
    {S("HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"), "GET", 404,
     "Not Found", LB_BODY_LENGTH, 10, 0},
    {S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), "GET", 200, "OK", LB_BODY_CHUNKED,
     0, 1},
    {S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), "GET", 200, "OK", LB_BODY_CLOSE, 0,
     0},
    {S("HTTP/1.1 200 OK\r\n\r\n"), "GET", 200, "OK", LB_BODY_CLOSE, 0, 0},
    {S("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n"), "GET", 200, "OK", LB_BODY_LENGTH, 3, 0},
    {S("HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n"), "GET", 200, "OK",
     LB_BODY_LENGTH, 3, 1},
    {S("HTTP/1.1 204 No Content\r\n\r\n"), "GET", 204, "No Content", LB_BODY_NONE, 0, 1},
    {S("HTTP/1.1 304 Not Modified\r\nContent-Length: 40\r\n\r\n"), "GET", 304, "Not Modified",
     LB_BODY_NONE, 0, 1},
    {S("HTTP/1.1 100 Continue\r\n\r\n"), "PUT", 100, "Continue", LB_BODY_NONE, 0, 1},
    {S("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n"), "GET", 200, "", LB_BODY_LENGTH, 1, 1},
    {S("HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n"), "GET", 200, "", LB_BODY_LENGTH, 1, 1},
    {S("HTTP/1.1 599 W\xc3\xa9ird\treason \r\nContent-Length: 1\r\n\r\n"), "GET", 599,
     "W\xc3\xa9ird\treason ", LB_BODY_LENGTH, 1, 1},
    {S("HTTP/1.1 200 Connection established\r\n\r\n"), "CONNECT", 200, "Connection established",
     LB_BODY_CLOSE, 0, 0},
};

static void test_valid_response(const valid_response *v)
{
    lb_http_header h[MAX_FIELDS];
    lb_http_response res;
    lb_http_framing f;
    for (size_t k = 0; k < v->head_len; k++)
        CHECK_MSG(parse_res(v->head, k, &res, h) == LB_HTTP_INCOMPLETE, "%s at %zu", v->head, k);
    int rc = parse_res(v->head, v->head_len, &res, h);
    CHECK_MSG(rc == (int)v->head_len, "%s: %d", v->head, rc);
    if (rc < 0)
        return;
    CHECK(res.major == 1 && res.status == v->status);
    CHECK_MSG(str_eq(res.reason, res.reason_len, v->reason), "%s", v->head);
    CHECK(fields_inside(guard_page_end - rc, rc, h, res.num_headers));
    CHECK(lb_http_response_framing(&res, v->method, strlen(v->method), &f) == 0);
    CHECK_MSG(f.kind == v->kind && f.length == v->length && f.keep_alive == v->keep_alive,
              "%s %s: kind %d length %llu keep-alive %d", v->method, v->head, f.kind,
              (unsigned long long)f.length, f.keep_alive);
}

static const bytes invalid_responses[] = {
    {S("HTTP/1.1 200 OK\n\n")},
    {S("HTTP/1.1 200 OK\r\nX: y\n\r\n")},
    {S("HTTP/1.1 20 OK\r\n\r\n")},
    {S("HTTP/1.1 2000 OK\r\n\r\n")},
    {S("HTTP/1.1 099 OK\r\n\r\n")},
    {S("HTTP/1.1  200 OK\r\n\r\n")},
    {S("HTTP/1.1 200 O\x01K\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nX : a\r\n\r\n")},
    {S("HTTP/1.1 2x0 OK\r\n\r\n")},
    {S("HTTP/1.1\r\n\r\n")},
    {S("ICY 200 OK\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\r\n\r\n")},
};

static void test_invalid_response(const bytes *b)
{
    lb_http_header h[MAX_FIELDS];
    lb_http_response res;
    for (size_t k = 0; k < b->len; k++) {
        int rc = parse_res(b->s, k, &res, h);
        CHECK_MSG(rc == LB_HTTP_INCOMPLETE || rc == LB_HTTP_INVALID, "%zu: %d", k, rc);
    }
    CHECK_MSG(parse_res(b->s, b->len, &res, h) == LB_HTTP_INVALID, "%s", b->s);
}

static const bytes unframeable_responses[] = {
    {S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;x=1\r\n\r\n")},
    {S("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n")},
    {S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")},
};

static void test_unframeable_response(const bytes *b)
{
    lb_http_header h[MAX_FIELDS];
    lb_http_response res;
    lb_http_framing f;
    int rc = parse_res(b->s, b->len, &res, h);
    CHECK_MSG(rc == (int)b->len, "%s: %d", b->s, rc);
    CHECK_MSG(rc < 0 || lb_http_response_framing(&res, "GET", 3, &f) == LB_HTTP_INVALID, "%s",
              b->s);
}

#define FOR_EACH(arr, fn)                                                                          \
    for (size_t i_ = 0; i_ < sizeof(arr) / sizeof(arr[0]); i_++)                                   \
    fn(&arr[i_])

int main(void)
{
    guard_init();
    FOR_EACH(valid_requests, test_valid_request);
    FOR_EACH(invalid_heads, test_invalid_head);
    FOR_EACH(unframeable_requests, test_unframeable);
    FOR_EACH(valid_responses, test_valid_response);
    FOR_EACH(invalid_responses, test_invalid_response);
    FOR_EACH(unframeable_responses, test_unframeable_response);
    test_field_values();
    test_too_many();
    test_expect();
    test_token_bytes();
    test_may_progress();
    return CHECK_RESULT();
}
