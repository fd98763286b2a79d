/* fuzz/response - the response-head parser and response framing (RFC 9112 6.3).
 *
 * Invariants: the answer is a length within the input or an LB_HTTP_* code; pointers lie in
 * the consumed head; parsing again gives the same result; every prefix answers INCOMPLETE or
 * the whole answer; framing for GET, HEAD, CONNECT and an unknown request agree with the
 * rules: HEAD/1xx/204/304 have no body, CL with TE is refused, a close-delimited body never
 * keeps the connection alive.
 */
#include "fuzz_http.h"

#define FIELDS 64

static void check_framing(const lb_http_response *res)
{
    static const char *methods[] = {"GET", "HEAD", "CONNECT", "PUT", NULL};
    size_t cl = fuzz_count_fields(res->headers, res->num_headers, "content-length");
    size_t te = fuzz_count_fields(res->headers, res->num_headers, "transfer-encoding");
    int no_body = res->status < 200 || res->status == 204 || res->status == 304;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        lb_http_framing f, again;
        const char *m = methods[i];
        int rc = lb_http_response_framing(res, m, m ? strlen(m) : 0, &f);
        FUZZ_CHECK(rc == 0 || rc == LB_HTTP_INVALID);
        FUZZ_CHECK(lb_http_response_framing(res, m, m ? strlen(m) : 0, &again) == rc);
        if (cl && te)
            FUZZ_CHECK(rc == LB_HTTP_INVALID);
        if (rc != 0)
            continue;
        FUZZ_CHECK(memcmp(&f, &again, sizeof(f)) == 0);
        FUZZ_CHECK(f.keep_alive == 0 || f.keep_alive == 1);
        if (no_body || (m && strcmp(m, "HEAD") == 0))
            FUZZ_CHECK(f.kind == LB_BODY_NONE);
        else
            FUZZ_CHECK(f.kind != LB_BODY_NONE);
        if (f.kind == LB_BODY_CLOSE)
            FUZZ_CHECK(f.keep_alive == 0);
        if (f.kind == LB_BODY_LENGTH)
            FUZZ_CHECK(cl == 1 && te == 0);
        if (f.kind == LB_BODY_CHUNKED)
            FUZZ_CHECK(te > 0 && cl == 0);
    }
}

static void check_head(const uint8_t *data, int rc, const lb_http_response *res)
{
    FUZZ_CHECK(res->major >= 0 && res->major <= 9 && res->minor >= 0 && res->minor <= 9);
    FUZZ_CHECK(res->status >= 100 && res->status <= 999);
    FUZZ_CHECK(fuzz_inside(res->reason, res->reason_len, data, rc));
    for (size_t i = 0; i < res->reason_len; i++) {
        unsigned char c = (unsigned char)res->reason[i];
        FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    FUZZ_CHECK(res->reason[res->reason_len] == '\r');
    FUZZ_CHECK(res->num_headers <= FIELDS);
    FUZZ_CHECK(rc >= 4 && memcmp(data + rc - 4, "\r\n\r\n", 4) == 0);
    fuzz_check_fields(res->headers, res->num_headers, res->fields, data, rc);
    check_framing(res);
}

static void fuzz_one(const uint8_t *data, size_t len)
{
    lb_http_header h[FIELDS], h2[FIELDS];
    lb_http_response res, res2;
    const char *buf = (const char *)data;
    int rc = lb_http_parse_response(buf, len, &res, h, FIELDS);
    FUZZ_CHECK(rc == LB_HTTP_INVALID || rc == LB_HTTP_INCOMPLETE || rc == LB_HTTP_TOO_MANY ||
               (rc > 0 && (size_t)rc <= len));
    FUZZ_CHECK(lb_http_parse_response(buf, len, &res2, h2, FIELDS) == rc);
    if (rc > 0) {
        FUZZ_CHECK(res2.status == res.status && res2.reason == res.reason &&
                   res2.num_headers == res.num_headers);
        FUZZ_CHECK(fuzz_same_fields(h, h2, res.num_headers));
        check_head(data, rc, &res);
    }
    for (size_t k = 0; k < len; k += fuzz_prefix_step(len)) {
        int p = lb_http_parse_response(buf, k, &res2, h2, FIELDS);
        if (rc > 0 && (size_t)rc > k)
            FUZZ_CHECK(p == LB_HTTP_INCOMPLETE);
        else
            FUZZ_CHECK(p == LB_HTTP_INCOMPLETE || p == rc);
    }
}
