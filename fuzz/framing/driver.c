/* fuzz/framing - request framing across read boundaries.
 *
 * A client's byte stream (pipelined requests with Content-Length or chunked bodies) is fed
 * to a framer the way the balancer meets it: in reads of arbitrary sizes, re-parsing the
 * head as it grows, counting body bytes, stepping the chunked scanner. The framer's record
 * of what it saw (each head's method, target, version, framing; each body's length and
 * bytes; where and why it stopped) must be identical for the whole stream in one read, for
 * the fuzzer-chosen read sizes and for one byte per read.
 *
 * Input layout: byte 0 holds the number of read sizes n (low 4 bits); bytes 1..n are the
 * sizes (0 counts as 1); the stream follows. After the n reads the rest arrives at once.
 */
#include "fuzz_entry.h"
#include "http.h"

#define HEAD_MAX 8192 /* as the balancer: a longer head is refused */
#define FIELDS 64

enum { AT_HEAD, IN_LENGTH, IN_CHUNKED, STOPPED };

typedef struct framer {
    uint8_t acc[HEAD_MAX]; /* bytes of the head in progress */
    size_t acc_len;
    int state;
    uint64_t remaining; /* IN_LENGTH */
    lb_chunked chunked; /* IN_CHUNKED */
    int keep_alive;
    uint64_t record; /* FNV-1a over every event */
    uint64_t events, body_bytes;
    int stop_reason;
} framer;

static void record(framer *f, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        f->record = (f->record ^ b[i]) * 0x100000001b3ull;
}

static void record_int(framer *f, uint64_t x)
{
    record(f, &x, sizeof(x));
    f->events++;
}

static void stop(framer *f, int reason)
{
    f->state = STOPPED;
    f->stop_reason = reason;
    record_int(f, 0xdead0000u + (unsigned)(reason + 16));
}

static void end_message(framer *f)
{
    record_int(f, f->body_bytes);
    f->body_bytes = 0;
    if (f->keep_alive)
        f->state = AT_HEAD;
    else
        stop(f, 1);
}

/* Tries to complete a head with the bytes in acc plus data; returns bytes of data used.
 * Like the balancer should, it re-parses only when the new bytes end a line (or the head
 * limit is reached, or force says the stream ended): a head trickling in byte by byte costs
 * one parse per line, not one per byte. */
static size_t feed_head(framer *f, const uint8_t *data, size_t len, int force)
{
    size_t take = HEAD_MAX - f->acc_len < len ? HEAD_MAX - f->acc_len : len;
    if (take)
        memcpy(f->acc + f->acc_len, data, take);
    size_t old = f->acc_len;
    f->acc_len += take;
    if (!force && f->acc_len < HEAD_MAX &&
        !lb_http_head_may_progress((const char *)f->acc, old, f->acc_len))
        return take;
    lb_http_header h[FIELDS];
    lb_http_request req;
    lb_http_framing fr;
    int rc = lb_http_parse_request((const char *)f->acc, f->acc_len, &req, h, FIELDS);
    if (rc == LB_HTTP_INCOMPLETE) {
        if (f->acc_len == HEAD_MAX)
            stop(f, 2);
        return take;
    }
    if (rc < 0 || lb_http_request_framing(&req, &fr) != 0) {
        stop(f, rc < 0 ? rc : 3);
        return take;
    }
    FUZZ_CHECK((size_t)rc > old && (size_t)rc <= f->acc_len);
    record(f, req.method, req.method_len);
    record(f, req.target, req.target_len);
    record_int(f, (uint64_t)(req.major * 10 + req.minor));
    record_int(f, fr.kind);
    record_int(f, fr.length);
    f->keep_alive = fr.keep_alive;
    f->acc_len = 0;
    if (fr.kind == LB_BODY_LENGTH && fr.length > 0) {
        f->state = IN_LENGTH;
        f->remaining = fr.length;
    } else if (fr.kind == LB_BODY_CHUNKED) {
        f->state = IN_CHUNKED;
        lb_chunked_init(&f->chunked);
    } else {
        end_message(f);
    }
    return (size_t)rc - old; /* the rest of data belongs to the body or the next request */
}

static size_t feed_body(framer *f, const uint8_t *data, size_t len)
{
    if (f->state == IN_LENGTH) {
        size_t n = len < f->remaining ? len : (size_t)f->remaining;
        record(f, data, n);
        f->body_bytes += n;
        f->remaining -= n;
        if (f->remaining == 0)
            end_message(f);
        return n;
    }
    size_t data_len;
    ssize_t n = lb_chunked_step(&f->chunked, (const char *)data, len, &data_len);
    if (n < 0) {
        stop(f, 4);
        return len;
    }
    FUZZ_CHECK((size_t)n <= len && data_len <= (size_t)n);
    record(f, data, data_len);
    f->body_bytes += data_len;
    if (lb_chunked_done(&f->chunked))
        end_message(f);
    return (size_t)n;
}

/* One read: everything in it is consumed unless the framer stopped. */
static void feed(framer *f, const uint8_t *data, size_t len)
{
    while (len > 0 && f->state != STOPPED) {
        size_t used = f->state == AT_HEAD ? feed_head(f, data, len, 0) : feed_body(f, data, len);
        FUZZ_CHECK(used <= len);
        FUZZ_CHECK(used > 0 || f->state == STOPPED); /* every step makes progress */
        data += used;
        len -= used;
    }
}

/* The stream ended: judge what is left of a head, as a balancer does on EOF. */
static void finish(framer *f)
{
    if (f->state == AT_HEAD && f->acc_len > 0)
        feed_head(f, NULL, 0, 1);
}

static void framer_init(framer *f)
{
    memset(f, 0, sizeof(*f));
    f->record = 0xcbf29ce484222325ull;
    f->state = AT_HEAD;
}

static void check_same(const framer *a, const framer *b)
{
    FUZZ_CHECK(a->state == b->state && a->stop_reason == b->stop_reason);
    FUZZ_CHECK(a->events == b->events && a->record == b->record);
    FUZZ_CHECK(a->body_bytes == b->body_bytes);
    if (a->state == STOPPED)
        return; /* what a stopped framer had buffered depends on the read sizes */
    FUZZ_CHECK(a->acc_len == b->acc_len);
    FUZZ_CHECK(a->acc_len == 0 || memcmp(a->acc, b->acc, a->acc_len) == 0);
}

static void fuzz_one(const uint8_t *data, size_t len)
{
    static framer whole, split, bytes;
    size_t nsizes = len ? (data[0] & 15u) : 0;
    if (len < 1 + nsizes)
        return;
    const uint8_t *stream = data + 1 + nsizes;
    size_t stream_len = len - 1 - nsizes;

    framer_init(&whole);
    feed(&whole, stream, stream_len);
    finish(&whole);

    framer_init(&split);
    size_t pos = 0;
    for (size_t i = 0; i < nsizes && pos < stream_len; i++) {
        size_t n = data[1 + i] ? data[1 + i] : 1;
        n = n < stream_len - pos ? n : stream_len - pos;
        feed(&split, stream + pos, n);
        pos += n;
    }
    feed(&split, stream + pos, stream_len - pos);
    finish(&split);
    check_same(&whole, &split);

    if (stream_len <= 2048) {
        framer_init(&bytes);
        for (size_t i = 0; i < stream_len; i++)
            feed(&bytes, stream + i, 1);
        finish(&bytes);
        check_same(&whole, &bytes);
    }
}
