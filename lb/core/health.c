/* health.c - judging a health-check answer: `HTTP/1.1 200` with body `ERRORS\nTOTAL`.
 *
 * Purpose: one pure judge shared by the balancer's checker and the fuzzers, so that what
 * "healthy" means is written once.
 *
 * Invariants: no allocation, no state, never reads past buf[len-1]. Monotone in the bytes
 * received: for a prefix of an answer (eof 0) the judgement is "need more" or the judgement
 * of the whole answer, so the checker may call it after every read. Bytes after a complete
 * Content-Length body are ignored (the checker sends one request per connection).
 *
 * Limits: an answer is at most LB_HEALTH_MAX_ANSWER bytes and carries at most
 * HEALTH_MAX_FIELDS header fields; anything larger is unhealthy.
 */
#include "health.h"

#include "http.h"

#define HEALTH_MAX_FIELDS 32

/* Parses a non-empty run of decimal digits at body[*pos] into *out. */
static int health_parse_number(const char *body, size_t len, size_t *pos, uint64_t *out)
{
    size_t p = *pos;
    uint64_t x = 0;
    while (p < len && body[p] >= '0' && body[p] <= '9') {
        unsigned digit = (unsigned)(body[p] - '0');
        if (x > (UINT64_MAX - digit) / 10)
            return -1;
        x = x * 10 + digit;
        p++;
    }
    if (p == *pos)
        return -1;
    *out = x;
    *pos = p;
    return 0;
}

int lb_health_parse_body(const char *body, size_t len, uint64_t *errors, uint64_t *total)
{
    size_t pos = 0;
    uint64_t e, t;
    if (health_parse_number(body, len, &pos, &e) != 0)
        return -1;
    if (pos >= len || body[pos] != '\n')
        return -1;
    pos++;
    if (health_parse_number(body, len, &pos, &t) != 0)
        return -1;
    if (pos < len && body[pos] == '\n')
        pos++;
    if (pos != len || e > t)
        return -1;
    *errors = e;
    *total = t;
    return 0;
}

int lb_health_parse_response(const char *buf, size_t len, int eof, uint64_t *errors,
                             uint64_t *total)
{
    lb_http_header headers[HEALTH_MAX_FIELDS];
    lb_http_response res;
    lb_http_framing framing;
    if (len > LB_HEALTH_MAX_ANSWER)
        len = LB_HEALTH_MAX_ANSWER + 1; /* judge what fits; the rest cannot make it healthy */
    int head = lb_http_parse_response(buf, len, &res, headers, HEALTH_MAX_FIELDS);
    if (head == LB_HTTP_INCOMPLETE)
        return (eof || len > LB_HEALTH_MAX_ANSWER) ? -1 : 0;
    if (head < 0 || res.major != 1 || res.minor != 1 || res.status != 200)
        return -1;
    if (lb_http_response_framing(&res, "GET", 3, &framing) != 0)
        return -1;
    size_t have = len - (size_t)head;
    const char *body = buf + head;
    if (framing.kind == LB_BODY_LENGTH) {
        if (framing.length > LB_HEALTH_MAX_ANSWER - (size_t)head)
            return -1;
        if (have < framing.length)
            return eof ? -1 : 0;
        return lb_health_parse_body(body, (size_t)framing.length, errors, total) == 0 ? 1 : -1;
    }
    if (framing.kind != LB_BODY_CLOSE)
        return -1; /* chunked (or no body at all) is not a health answer */
    if (len > LB_HEALTH_MAX_ANSWER)
        return -1;
    if (!eof)
        return 0;
    return lb_health_parse_body(body, have, errors, total) == 0 ? 1 : -1;
}
