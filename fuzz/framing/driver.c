/* fuzz/framing - the production stream framer (lb/core/framer.h) across read boundaries.
 *
 * A byte stream (pipelined requests, or answers to GET or HEAD) is framed the way the
 * balancer meets it: in reads of arbitrary sizes, a head buffered until the framer takes
 * it (re-parsed only when a line ended, forced at the head limit and at the end of the
 * stream), body bytes framed as they arrive, the next message framed from the byte after.
 * Checked:
 * - the record of what was framed (each head's fields and framing, each interim answer,
 *   each body's length and data bytes, where and why the stream stopped) is identical for
 *   the whole stream in one read, for the fuzzer-chosen read sizes and for one byte per read;
 * - every call consumes within what it was given and makes progress;
 * - each framed message is consistent with the parsers used on their own: the head re-parses
 *   to the same length and framing; a Content-Length body holds exactly that many bytes; a
 *   chunked body is exactly what lb_chunked_scan takes from a fresh state.
 *
 * Input layout: byte 0 holds the number of read sizes n (low 4 bits) and the stream's kind
 * (0x10: answers, with 0x20 for answers to HEAD); bytes 1..n are the sizes (0 counts as 1);
 * the stream follows. After the n reads the rest arrives at once.
 */
#include "framer.h"
#include "fuzz_entry.h"

#define HEAD_MAX 8192 /* a longer head is refused, as the balancer's --max-head does */
#define FIELDS 64

typedef struct run {
    const uint8_t *stream; /* the whole stream, for the consistency checks */
    size_t fed;            /* stream bytes handed to the framer so far */
    int response, head_method;
    lb_framer f;
    uint8_t acc[HEAD_MAX]; /* bytes of the head in progress */
    size_t acc_len;
    size_t msg_start, head_len, body_len; /* the message in progress, in stream offsets */
    int stopped, reason;
    uint64_t record, events;
} run;

static void record(run *r, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        r->record = (r->record ^ b[i]) * 0x100000001b3ull;
}

static void record_int(run *r, uint64_t x)
{
    record(r, &x, sizeof(x));
    r->events++;
}

static void stop(run *r, int reason)
{
    r->stopped = 1;
    r->reason = reason;
    record_int(r, 0xdead0000u + (unsigned)(reason + 16));
}

static const char *method(const run *r, size_t *len)
{
    *len = r->head_method ? 4 : 3;
    return r->head_method ? "HEAD" : "GET";
}

/* The head just framed, parsed again on its own: same length, same framing. */
static void check_head(run *r, int rc)
{
    lb_http_header h[FIELDS];
    lb_http_framing fr;
    const char *p = (const char *)r->acc;
    if (r->response) {
        lb_http_response res;
        size_t mlen;
        const char *m = method(r, &mlen);
        FUZZ_CHECK(lb_http_parse_response(p, (size_t)rc, &res, h, FIELDS) == rc);
        FUZZ_CHECK(lb_http_response_framing(&res, m, mlen, &fr) == 0);
        record_int(r, (uint64_t)res.status);
        if (res.status < 200)
            return;
    } else {
        lb_http_request req;
        FUZZ_CHECK(lb_http_parse_request(p, (size_t)rc, &req, h, FIELDS) == rc);
        FUZZ_CHECK(lb_http_request_framing(&req, &fr) == 0);
        record(r, req.method, req.method_len);
        record(r, req.target, req.target_len);
        record_int(r, (uint64_t)(req.major * 10 + req.minor));
    }
    FUZZ_CHECK(fr.kind == r->f.fr.kind && fr.length == r->f.fr.length);
    FUZZ_CHECK(fr.keep_alive == r->f.fr.keep_alive);
    record_int(r, r->f.fr.kind);
    record_int(r, r->f.fr.length);
}

/* A message ended: its body agrees with the parsers used on their own. */
static void end_message(run *r)
{
    const char *body = (const char *)r->stream + r->msg_start + r->head_len;
    if (r->f.fr.kind == LB_BODY_LENGTH)
        FUZZ_CHECK(r->body_len == r->f.fr.length && r->f.data == r->f.fr.length);
    if (r->f.fr.kind == LB_BODY_CHUNKED) {
        lb_chunked ch;
        lb_chunked_init(&ch);
        FUZZ_CHECK(lb_chunked_scan(&ch, body, r->body_len) == (ssize_t)r->body_len);
        FUZZ_CHECK(lb_chunked_done(&ch) && r->f.data <= r->body_len);
    }
    record_int(r, r->body_len);
    record_int(r, r->f.data);
    if (!r->f.fr.keep_alive) {
        stop(r, 1); /* nothing after a message that ends its connection is framed */
        return;
    }
    r->msg_start += r->head_len + r->body_len;
    r->head_len = r->body_len = 0;
    lb_framer_init(&r->f);
}

/* Offers data to the head in progress; returns how many of its bytes the head took. */
static size_t feed_head(run *r, const uint8_t *data, size_t len, int at_end)
{
    size_t take = HEAD_MAX - r->acc_len < len ? HEAD_MAX - r->acc_len : len;
    if (take)
        memcpy(r->acc + r->acc_len, data, take);
    size_t old = r->acc_len;
    r->acc_len += take;
    int force = at_end || r->acc_len == HEAD_MAX;
    lb_http_header h[FIELDS];
    int rc;
    if (r->response) {
        lb_http_response res;
        size_t mlen;
        const char *m = method(r, &mlen);
        rc = lb_framer_response_head(&r->f, (const char *)r->acc, r->acc_len, force, m, mlen, &res,
                                     h, FIELDS);
    } else {
        lb_http_request req;
        rc =
            lb_framer_request_head(&r->f, (const char *)r->acc, r->acc_len, force, &req, h, FIELDS);
    }
    if (rc == LB_HTTP_INCOMPLETE && !force)
        return take;
    if (rc < 0) {
        stop(r, rc == LB_HTTP_INCOMPLETE ? 2 : rc);
        return take;
    }
    FUZZ_CHECK((size_t)rc > old && (size_t)rc <= r->acc_len);
    check_head(r, rc);
    r->acc_len = 0;
    if (r->f.state == LB_FRAME_HEAD) { /* an interim answer: the next head follows */
        r->msg_start += (size_t)rc;
        return (size_t)rc - old;
    }
    r->head_len = (size_t)rc;
    if (r->f.state == LB_FRAME_DONE)
        end_message(r);
    return (size_t)rc - old; /* the rest belongs to the body or the next message */
}

static size_t feed_body(run *r, const uint8_t *data, size_t len)
{
    ssize_t n = lb_framer_body(&r->f, (const char *)data, len);
    if (n < 0) {
        stop(r, 4);
        return len;
    }
    FUZZ_CHECK((size_t)n <= len && (n > 0 || r->f.state == LB_FRAME_DONE || len == 0));
    r->body_len += (size_t)n;
    if (r->f.state == LB_FRAME_DONE)
        end_message(r);
    return (size_t)n;
}

/* One read: every byte is framed unless the run stopped. */
static void feed(run *r, size_t len)
{
    const uint8_t *data = r->stream + r->fed;
    r->fed += len;
    while (len > 0 && !r->stopped) {
        size_t used =
            r->f.state == LB_FRAME_HEAD ? feed_head(r, data, len, 0) : feed_body(r, data, len);
        FUZZ_CHECK(used <= len);
        FUZZ_CHECK(used > 0 || r->stopped); /* every step makes progress */
        data += used;
        len -= used;
    }
}

/* The stream ended: a head in progress is judged, a body ends or is cut short. */
static void finish(run *r)
{
    if (r->stopped)
        return;
    if (r->f.state == LB_FRAME_HEAD && r->acc_len > 0)
        feed_head(r, NULL, 0, 1);
    else if (r->f.state == LB_FRAME_BODY && lb_framer_eof(&r->f))
        end_message(r);
    else if (r->f.state == LB_FRAME_BODY)
        stop(r, 5);
}

static void run_init(run *r, const uint8_t *stream, int kind)
{
    memset(r, 0, sizeof(*r));
    r->stream = stream;
    r->response = (kind & 0x10) != 0;
    r->head_method = (kind & 0x20) != 0;
    r->record = 0xcbf29ce484222325ull;
    lb_framer_init(&r->f);
}

static void check_same(const run *a, const run *b)
{
    FUZZ_CHECK(a->stopped == b->stopped && a->reason == b->reason);
    FUZZ_CHECK(a->events == b->events && a->record == b->record);
    if (a->stopped)
        return; /* what a stopped run had buffered depends on the read sizes */
    FUZZ_CHECK(a->msg_start == b->msg_start && a->acc_len == b->acc_len);
}

static void fuzz_one(const uint8_t *data, size_t len)
{
    static run whole, split, bytes;
    size_t nsizes = len ? (data[0] & 15u) : 0;
    if (len < 1 + nsizes)
        return;
    const uint8_t *stream = data + 1 + nsizes;
    size_t stream_len = len - 1 - nsizes;

    run_init(&whole, stream, data[0]);
    feed(&whole, stream_len);
    finish(&whole);

    run_init(&split, stream, data[0]);
    for (size_t i = 0; i < nsizes && split.fed < stream_len; i++) {
        size_t n = data[1 + i] ? data[1 + i] : 1;
        feed(&split, n < stream_len - split.fed ? n : stream_len - split.fed);
    }
    feed(&split, stream_len - split.fed);
    finish(&split);
    check_same(&whole, &split);

    if (stream_len <= 2048) {
        run_init(&bytes, stream, data[0]);
        for (size_t i = 0; i < stream_len; i++)
            feed(&bytes, 1);
        finish(&bytes);
        check_same(&whole, &bytes);
    }
}
