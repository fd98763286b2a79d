/* rewrite.c - head insertion, health rewriting, made-up answers and the TCP shaping
 * arithmetic of the fault proxy. Pure: no clock, no socket, no allocation.
 * Limits: outputs are bounded by the caller's buffers (-1 when they do not fit).
 */
#include "rewrite.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "http.h"

#define FP_MAX_FIELDS 100

static bool put(char *out, size_t outlen, size_t *n, const void *src, size_t len)
{
    if (*n + len > outlen)
        return false;
    memcpy(out + *n, src, len);
    *n += len;
    return true;
}

ssize_t fp_extra_fields(bool fault_header, uint64_t seq, uint32_t kinds, const char *identify,
                        char *out, size_t outlen)
{
    size_t n = 0;
    char line[256];
    int k;
    if (fault_header) {
        k = snprintf(line, sizeof(line), "X-Seq: %" PRIu64 "\r\n", seq);
        if (!put(out, outlen, &n, line, (size_t)k))
            return -1;
        if (kinds) {
            size_t m = (size_t)snprintf(line, sizeof(line), "X-Fault:");
            for (int i = 0, first = 1; i < FS_FK_COUNT; i++)
                if (kinds & (1u << i)) {
                    m += (size_t)snprintf(line + m, sizeof(line) - m, "%s%s", first ? " " : ",",
                                          fs_fault_kind_name(i));
                    first = 0;
                }
            m += (size_t)snprintf(line + m, sizeof(line) - m, "\r\n");
            if (!put(out, outlen, &n, line, m))
                return -1;
        }
    }
    if (identify) {
        k = snprintf(line, sizeof(line), "X-Server: %.100s\r\n", identify);
        if (!put(out, outlen, &n, line, (size_t)k))
            return -1;
    }
    return (ssize_t)n;
}

ssize_t fp_head_insert(const char *head, size_t head_len, const char *extra, size_t extra_len,
                       char *out, size_t outlen)
{
    size_t n = 0;
    if (head_len < 2 || !put(out, outlen, &n, head, head_len - 2) ||
        !put(out, outlen, &n, extra, extra_len) || !put(out, outlen, &n, "\r\n", 2))
        return -1;
    return (ssize_t)n;
}

ssize_t fp_status_answer(int status, const char *extra, size_t extra_len, char *out, size_t outlen)
{
    char line[128];
    int k = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n", status,
                     lb_http_reason(status));
    size_t n = 0;
    if (!put(out, outlen, &n, line, (size_t)k) || !put(out, outlen, &n, extra, extra_len) ||
        !put(out, outlen, &n, "\r\n", 2))
        return -1;
    return (ssize_t)n;
}

/* The status line and the fields to keep, each line copied whole from the parsed head. */
static bool copy_kept_head(const char *answer, size_t head_len, char *out, size_t outlen, size_t *n)
{
    const char *eol = memchr(answer, '\n', head_len);
    if (!eol || !put(out, outlen, n, answer, (size_t)(eol + 1 - answer)))
        return false;
    const char *p = eol + 1, *end = answer + head_len;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e || e - p <= 1)
            break; /* the final empty line */
        size_t nl = strcspn(p, ":");
        bool drop = (nl == 14 && lb_http_token_eq(p, nl, "content-length")) ||
                    (nl == 17 && lb_http_token_eq(p, nl, "transfer-encoding"));
        if (!drop && !put(out, outlen, n, p, (size_t)(e + 1 - p)))
            return false;
        p = e + 1;
    }
    return true;
}

ssize_t fp_health_rewrite(const char *answer, size_t head_len, const char *body, size_t body_len,
                          const fs_action *a, const char *extra, size_t extra_len, char *out,
                          size_t outlen)
{
    char nb[64];
    int bn;
    if (a->health_malformed) {
        bn = snprintf(nb, sizeof(nb), "healthy?\n");
    } else {
        uint64_t e = 0, t = 0;
        if (lb_health_parse_body(body, body_len, &e, &t) < 0)
            e = t = 0;
        if (a->health_errors >= 0)
            e = (uint64_t)a->health_errors;
        if (a->health_total >= 0)
            t = (uint64_t)a->health_total;
        bn = snprintf(nb, sizeof(nb), "%" PRIu64 "\n%" PRIu64, e, t);
    }
    size_t n = 0;
    char cl[48];
    int k = snprintf(cl, sizeof(cl), "Content-Length: %d\r\n", bn);
    if (!copy_kept_head(answer, head_len, out, outlen, &n) ||
        !put(out, outlen, &n, cl, (size_t)k) || !put(out, outlen, &n, extra, extra_len) ||
        !put(out, outlen, &n, "\r\n", 2) || !put(out, outlen, &n, nb, (size_t)bn))
        return -1;
    return (ssize_t)n;
}

void fp_shape_of(const fs_faults *f, bool up, fp_shape *out)
{
    out->latency = up ? f->tcp_latency_up : f->tcp_latency_down;
    out->jitter = up ? f->tcp_jitter_up : f->tcp_jitter_down;
    out->bandwidth = up ? f->tcp_bandwidth_up : f->tcp_bandwidth_down;
    out->slicer = up ? f->tcp_slicer_up : f->tcp_slicer_down;
    out->slice_ms = f->tcp_slicer_delay;
    out->limit = up ? f->tcp_limit_up : f->tcp_limit_down;
}

int64_t fp_shape_release(const fp_shape *s, uint64_t seed, uint64_t conn_seq, uint64_t chunk_no,
                         int64_t now_ms, int64_t prev_release)
{
    int64_t j = 0;
    if (s->jitter > 0)
        j = (int64_t)(fs_faults_random_u64(seed, conn_seq, 5000 + chunk_no) %
                      (uint64_t)(s->jitter + 1));
    int64_t at = now_ms + s->latency + j;
    return at < prev_release ? prev_release : at;
}

int64_t fp_shape_allow(const fp_shape *s, int64_t now_ms, int64_t t0_ms, int64_t sent)
{
    int64_t allow = INT64_MAX;
    if (s->bandwidth > 0) {
        /* 1 byte of credit at t0, then bandwidth bytes per second */
        double total = 1.0 + (double)s->bandwidth * (double)(now_ms - t0_ms) / 1000.0;
        allow = total > (double)sent ? (int64_t)(total - (double)sent) : 0;
    }
    if (s->slicer > 0 && allow > s->slicer)
        allow = s->slicer;
    return allow;
}

int64_t fp_shape_wait_ms(const fp_shape *s)
{
    int64_t ms = s->bandwidth > 0 ? 1000 / s->bandwidth : 1;
    return ms < 1 ? 1 : ms > 50 ? 50 : ms;
}
