/* fuzz/request - the request-head parser and request framing.
 *
 * Invariants checked on every input: the answer is a length within the input or an
 * LB_HTTP_* code; all result pointers lie inside the consumed head; parsing again gives the
 * same result; a smaller header array gives the same result or LB_HTTP_TOO_MANY; every
 * prefix answers INCOMPLETE or the whole input's answer; framing never says CLOSE for a
 * request and refuses every Content-Length/Transfer-Encoding combination that could smuggle.
 */
#include "fuzz_http.h"

#define FIELDS 64
#define FEW_FIELDS 4

static void check_framing(const lb_http_request *req)
{
    lb_http_framing f;
    int rc = lb_http_request_framing(req, &f);
    FUZZ_CHECK(rc == 0 || rc == LB_HTTP_INVALID);
    size_t cl = fuzz_count_fields(req->headers, req->num_headers, "content-length");
    size_t te = fuzz_count_fields(req->headers, req->num_headers, "transfer-encoding");
    int is_11 = req->major > 1 || (req->major == 1 && req->minor >= 1);
    if (cl > 1 || (cl && te) || (te && !is_11))
        FUZZ_CHECK(rc == LB_HTTP_INVALID);
    if (rc != 0)
        return;
    FUZZ_CHECK(f.kind == LB_BODY_NONE || f.kind == LB_BODY_LENGTH || f.kind == LB_BODY_CHUNKED);
    FUZZ_CHECK(f.keep_alive == 0 || f.keep_alive == 1);
    FUZZ_CHECK((f.kind == LB_BODY_CHUNKED) == (te > 0));
    FUZZ_CHECK((f.kind == LB_BODY_LENGTH) == (cl == 1));
    if (f.kind == LB_BODY_LENGTH) {
        const lb_http_header *h =
            lb_http_find_header(req->headers, req->num_headers, "Content-Length");
        uint64_t x = 0;
        FUZZ_CHECK(h && h->value_len > 0);
        for (size_t i = 0; i < h->value_len; i++) {
            FUZZ_CHECK(h->value[i] >= '0' && h->value[i] <= '9');
            x = x * 10 + (uint64_t)(h->value[i] - '0');
        }
        FUZZ_CHECK(x == f.length);
    }
    lb_http_framing again;
    FUZZ_CHECK(lb_http_request_framing(req, &again) == 0 && memcmp(&f, &again, sizeof(f)) == 0);
}

static void check_head(const uint8_t *data, int rc, const lb_http_request *req)
{
    const char *buf = (const char *)data;
    FUZZ_CHECK(fuzz_inside(req->method, req->method_len, data, rc) && req->method_len > 0);
    FUZZ_CHECK(fuzz_inside(req->target, req->target_len, data, rc) && req->target_len > 0);
    FUZZ_CHECK(req->method[req->method_len] == ' ' && req->target[req->target_len] == ' ');
    for (size_t i = 0; i < req->method_len; i++)
        FUZZ_CHECK(fuzz_is_tchar((unsigned char)req->method[i]));
    for (size_t i = 0; i < req->target_len; i++)
        FUZZ_CHECK(req->target[i] > 0x20 && req->target[i] < 0x7f);
    FUZZ_CHECK(req->major >= 0 && req->major <= 9 && req->minor >= 0 && req->minor <= 9);
    FUZZ_CHECK(req->num_headers <= FIELDS);
    FUZZ_CHECK(rc >= 4 && memcmp(buf + rc - 4, "\r\n\r\n", 4) == 0);
    fuzz_check_fields(req->headers, req->num_headers, req->fields, data, rc);
    check_framing(req);
}

static void check_prefixes(const uint8_t *data, size_t len, int whole)
{
    lb_http_header h[FIELDS];
    lb_http_request req;
    for (size_t k = 0; k < len; k += fuzz_prefix_step(len)) {
        int rc = lb_http_parse_request((const char *)data, k, &req, h, FIELDS);
        if (whole > 0 && (size_t)whole > k)
            FUZZ_CHECK(rc == LB_HTTP_INCOMPLETE);
        else
            FUZZ_CHECK(rc == LB_HTTP_INCOMPLETE || rc == whole);
    }
}

static void fuzz_one(const uint8_t *data, size_t len)
{
    lb_http_header h[FIELDS], h2[FIELDS], few[FEW_FIELDS];
    lb_http_request req, req2, req_few;
    const char *buf = (const char *)data;
    int rc = lb_http_parse_request(buf, len, &req, h, FIELDS);
    FUZZ_CHECK(rc == LB_HTTP_INVALID || rc == LB_HTTP_INCOMPLETE || rc == LB_HTTP_TOO_MANY ||
               (rc > 0 && (size_t)rc <= len));
    int rc2 = lb_http_parse_request(buf, len, &req2, h2, FIELDS);
    FUZZ_CHECK(rc2 == rc);
    if (rc > 0) {
        FUZZ_CHECK(req2.num_headers == req.num_headers && req2.method == req.method &&
                   req2.target_len == req.target_len && req2.minor == req.minor);
        FUZZ_CHECK(fuzz_same_fields(h, h2, req.num_headers));
        check_head(data, rc, &req);
    }
    int rc_few = lb_http_parse_request(buf, len, &req_few, few, FEW_FIELDS);
    if (rc > 0 && req.num_headers <= FEW_FIELDS)
        FUZZ_CHECK(rc_few == rc && fuzz_same_fields(h, few, req.num_headers));
    else
        FUZZ_CHECK(rc_few == rc || rc_few == LB_HTTP_TOO_MANY);
    check_prefixes(data, len, rc);
}
