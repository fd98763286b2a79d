/* framer.c - stream framing on top of the http.c parsers.
 *
 * Invariants: the framer never reads outside buf[0, len); it consumes bytes only while the
 * message goes on, so a message never takes a byte of the next one; the same stream framed
 * in any split gives the same heads, body counts and end points (fuzz/framing checks it).
 * The head memo (scanned) only skips parses that could not change the answer.
 */
#include "framer.h"

#include <string.h>

void lb_framer_init(lb_framer *f)
{
    memset(f, 0, sizeof *f);
    f->state = LB_FRAME_HEAD;
    lb_chunked_init(&f->ch);
}

/* Whether a head parse can be skipped: an earlier one said INCOMPLETE and no line ended
 * since. The memo is updated by head_parsed. */
static int head_unchanged(const lb_framer *f, const char *buf, size_t len, int force)
{
    return !force && f->scanned && !lb_http_head_may_progress(buf, f->scanned, len);
}

static void head_parsed(lb_framer *f, int rc, size_t len)
{
    f->scanned = rc == LB_HTTP_INCOMPLETE ? len : 0;
}

static void body_start(lb_framer *f)
{
    f->state = LB_FRAME_BODY;
    f->left = f->fr.kind == LB_BODY_LENGTH ? f->fr.length : 0;
    f->data = 0;
    lb_chunked_init(&f->ch);
    if (f->fr.kind == LB_BODY_NONE || (f->fr.kind == LB_BODY_LENGTH && f->left == 0))
        f->state = LB_FRAME_DONE;
}

int lb_framer_request_head(lb_framer *f, const char *buf, size_t len, int force,
                           lb_http_request *req, lb_http_header *h, size_t max_headers)
{
    if (head_unchanged(f, buf, len, force))
        return LB_HTTP_INCOMPLETE;
    int rc = lb_http_parse_request(buf, len, req, h, max_headers);
    head_parsed(f, rc, len);
    if (rc < 0)
        return rc;
    if (lb_http_request_framing(req, &f->fr) != 0)
        return LB_HTTP_INVALID;
    body_start(f);
    return rc;
}

int lb_framer_response_head(lb_framer *f, const char *buf, size_t len, int force,
                            const char *method, size_t method_len, lb_http_response *res,
                            lb_http_header *h, size_t max_headers)
{
    if (head_unchanged(f, buf, len, force))
        return LB_HTTP_INCOMPLETE;
    int rc = lb_http_parse_response(buf, len, res, h, max_headers);
    head_parsed(f, rc, len);
    if (rc < 0)
        return rc;
    lb_http_framing fr;
    if (lb_http_response_framing(res, method, method_len, &fr) != 0 || res->status == 101)
        return LB_HTTP_INVALID; /* no tunnels: what follows a 101 is not HTTP */
    if (res->status < 200)
        return rc; /* an interim answer: the final head follows */
    f->fr = fr;
    body_start(f);
    return rc;
}

/* A chunked body is stepped so that its data bytes are counted as they pass. */
static ssize_t body_chunked(lb_framer *f, const char *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len && !lb_chunked_done(&f->ch)) {
        size_t data = 0;
        ssize_t n = lb_chunked_step(&f->ch, buf + pos, len - pos, &data);
        if (n < 0)
            return LB_HTTP_INVALID;
        if (n == 0)
            break;
        f->data += data;
        pos += (size_t)n;
    }
    if (lb_chunked_done(&f->ch))
        f->state = LB_FRAME_DONE;
    return (ssize_t)pos;
}

ssize_t lb_framer_body(lb_framer *f, const char *buf, size_t len)
{
    if (f->state != LB_FRAME_BODY)
        return 0;
    switch (f->fr.kind) {
    case LB_BODY_LENGTH: {
        size_t take = f->left < len ? (size_t)f->left : len;
        f->left -= take;
        f->data += take;
        if (f->left == 0)
            f->state = LB_FRAME_DONE;
        return (ssize_t)take;
    }
    case LB_BODY_CHUNKED:
        return body_chunked(f, buf, len);
    case LB_BODY_CLOSE:
        f->data += len;
        return (ssize_t)len;
    default:
        f->state = LB_FRAME_DONE;
        return 0;
    }
}

size_t lb_framer_skip(lb_framer *f, size_t n)
{
    if (f->state != LB_FRAME_BODY || (f->fr.kind != LB_BODY_LENGTH && f->fr.kind != LB_BODY_CLOSE))
        return 0;
    return (size_t)lb_framer_body(f, NULL, n); /* neither kind reads its bytes */
}

int lb_framer_eof(lb_framer *f)
{
    if (f->state == LB_FRAME_BODY && f->fr.kind == LB_BODY_CLOSE)
        f->state = LB_FRAME_DONE;
    return f->state == LB_FRAME_DONE;
}
