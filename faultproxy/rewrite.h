/* rewrite.h - the fault proxy's pure pieces: what it changes in a real answer, and the
 * arithmetic of its TCP shaping.
 *
 * Everything here is a function of its arguments (no clock, no socket), so the unit tests
 * pin each rule down. Return convention: a length, or -1 when the output does not fit.
 */
#ifndef FP_REWRITE_H
#define FP_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "faults.h"

/* The lines the proxy adds to a head it forwards (each "Name: value\r\n"): X-Seq and X-Fault
 * with fault-header, X-Server with --identify. Returns their length (0: forward the head
 * untouched) or -1. */
ssize_t fp_extra_fields(bool fault_header, uint64_t seq, uint32_t kinds, const char *identify,
                        char *out, size_t outlen);

/* Copies the head head[0, head_len) (ending in CRLF CRLF) to out with extra[0, extra_len)
 * inserted before its final empty line. Returns the new length or -1. */
ssize_t fp_head_insert(const char *head, size_t head_len, const char *extra, size_t extra_len,
                       char *out, size_t outlen);

/* A health answer rewritten by the health faults: the status line and every field but
 * Content-Length and Transfer-Encoding kept (extra inserted), a new body: "healthy?\n" when
 * malformed, else ERRORS\nTOTAL with each count the fault's (>= 0) or the real answer's
 * (0 when its body did not parse). answer[0, head_len) is the head, body[0, body_len) the
 * real body (Content-Length framed). Returns the new answer's length or -1. */
ssize_t fp_health_rewrite(const char *answer, size_t head_len, const char *body, size_t body_len,
                          const fs_action *a, const char *extra, size_t extra_len, char *out,
                          size_t outlen);

/* A made-up answer: "HTTP/1.1 STATUS Reason\r\nContent-Length: 0\r\n" + extra + "\r\n", as
 * the fakeserver's error answers. Returns its length or -1. */
ssize_t fp_status_answer(int status, const char *extra, size_t extra_len, char *out, size_t outlen);

/* TCP shaping of one direction. */
typedef struct fp_shape {
    int64_t latency, jitter;  /* ms */
    int64_t bandwidth;        /* bytes/s, 0 = unlimited */
    int64_t slicer, slice_ms; /* segment size (0 = off) and pause between segments */
    int64_t limit;            /* close after this many bytes, 0 = off */
} fp_shape;

/* The shaping of direction up (client to upstream) or down from the faults. */
void fp_shape_of(const fs_faults *f, bool up, fp_shape *out);
/* When a chunk read at now_ms may leave: latency plus seeded jitter, never before the chunk
 * read earlier in the same direction (prev_release), so bytes keep their order. */
int64_t fp_shape_release(const fp_shape *s, uint64_t seed, uint64_t conn_seq, uint64_t chunk_no,
                         int64_t now_ms, int64_t prev_release);
/* How many bytes may be written now. sent is what went since t0_ms in this direction;
 * slice_sent what went in the current segment. 0 means wait (fp_shape_wait_ms says how
 * long). A limit is the caller's. */
int64_t fp_shape_allow(const fp_shape *s, int64_t now_ms, int64_t t0_ms, int64_t sent);
/* Ms to wait before bytes may be written again when fp_shape_allow said 0 (at least 1). */
int64_t fp_shape_wait_ms(const fp_shape *s);

#endif
