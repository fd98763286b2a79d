/* fuzz/chunked - the chunked transfer-coding scanner.
 *
 * The input is a chunked body (and maybe bytes after it). It is scanned three ways: whole
 * with lb_chunked_scan, one byte at a time, and with lb_chunked_step collecting the data.
 * Invariants: all three agree on the bytes consumed, on invalid, on done and on the final
 * state; consumed <= len, and less than len only when the body ended; the data runs lie in
 * the input and are the same bytes whatever the split; a finished scanner consumes nothing.
 */
#include "fuzz_entry.h"
#include "http.h"

/* FNV-1a over the chunk data: equal for equal byte streams however they were cut. */
static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

typedef struct scan_result {
    ssize_t consumed; /* or LB_HTTP_INVALID */
    lb_chunked state;
    uint64_t data_hash;
    uint64_t data_len;
} scan_result;

static void scan_by_steps(const uint8_t *data, size_t len, size_t max_piece, scan_result *r)
{
    lb_chunked_init(&r->state);
    r->data_hash = 0xcbf29ce484222325ull;
    r->data_len = 0;
    size_t pos = 0;
    while (pos < len && !lb_chunked_done(&r->state)) {
        size_t piece = len - pos < max_piece ? len - pos : max_piece, data_len;
        ssize_t n = lb_chunked_step(&r->state, (const char *)data + pos, piece, &data_len);
        if (n < 0) {
            FUZZ_CHECK(n == LB_HTTP_INVALID);
            r->consumed = n;
            return;
        }
        FUZZ_CHECK(n > 0 && (size_t)n <= piece);
        FUZZ_CHECK(data_len == 0 || data_len == (size_t)n);
        r->data_hash = hash_bytes(r->data_hash, data + pos, data_len);
        r->data_len += data_len;
        pos += (size_t)n;
    }
    r->consumed = (ssize_t)pos;
}

static void fuzz_one(const uint8_t *data, size_t len)
{
    lb_chunked whole;
    lb_chunked_init(&whole);
    ssize_t n = lb_chunked_scan(&whole, (const char *)data, len);
    FUZZ_CHECK(n == LB_HTTP_INVALID || (n >= 0 && (size_t)n <= len));
    if (n >= 0 && (size_t)n < len)
        FUZZ_CHECK(lb_chunked_done(&whole));
    if (lb_chunked_done(&whole)) {
        size_t dl = 7;
        FUZZ_CHECK(lb_chunked_step(&whole, "0", 1, &dl) == 0 && dl == 0);
        FUZZ_CHECK(lb_chunked_scan(&whole, "0\r\n\r\n", 5) == 0);
    }
    scan_result steps, bytes;
    scan_by_steps(data, len, len ? len : 1, &steps);
    scan_by_steps(data, len, 1, &bytes);
    FUZZ_CHECK(steps.consumed == n && bytes.consumed == n);
    FUZZ_CHECK(steps.data_hash == bytes.data_hash && steps.data_len == bytes.data_len);
    if (n >= 0) {
        FUZZ_CHECK(memcmp(&steps.state, &whole, sizeof(whole)) == 0);
        FUZZ_CHECK(memcmp(&bytes.state, &whole, sizeof(whole)) == 0);
        FUZZ_CHECK(steps.data_len <= (uint64_t)n);
    }
}
