/* framer.h - stream framing: where a message's head and body end, and the next one begins.
 *
 * picohttpparser's shape over lb/core/http.h: pure functions of (state, bytes) that copy
 * nothing and allocate nothing. The state (lb_framer) is the caller's and says how far one
 * message has been framed; the bytes are the caller's buffer, starting where the framer
 * stopped last time. Return convention: a non-negative count of bytes that belong to the
 * message, LB_HTTP_INCOMPLETE (-2, read more and call again), LB_HTTP_INVALID (-1, never a
 * valid message), LB_HTTP_TOO_MANY (-3, more header fields than the caller's array).
 *
 * A stream is framed message by message: lb_framer_init, a head function, then
 * lb_framer_body until the body ends (state LB_FRAME_DONE; a body that ends inside the
 * bytes given returns fewer bytes than it was given: the rest is the next message, framed
 * from lb_framer_init again), and lb_framer_eof when the stream ends. Used by the balancer
 * for requests and answers (lb/exchange.c), by the fakeserver's control port for request
 * heads, and fuzzed by fuzz/framing.
 */
#ifndef LB_CORE_FRAMER_H
#define LB_CORE_FRAMER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"

enum {
    LB_FRAME_HEAD, /* a head is awaited (after a 1xx interim answer too) */
    LB_FRAME_BODY, /* the head was framed and its body has not ended */
    LB_FRAME_DONE, /* the message ended */
};

typedef struct lb_framer {
    int state;
    lb_http_framing fr; /* the final head's framing (valid from LB_FRAME_BODY on) */
    uint64_t left;      /* LB_BODY_LENGTH: body bytes still to come */
    uint64_t data;      /* body data bytes so far: chunk data of a chunked body, else bytes */
    lb_chunked ch;      /* LB_BODY_CHUNKED */
    size_t scanned;     /* bytes an INCOMPLETE head answer already looked at */
} lb_framer;

/* Sets the framer at the start of a message. */
void lb_framer_init(lb_framer *f);

/* Frames a request head at buf[0, len) (lb_http_parse_request, then
 * lb_http_request_framing). Returns the head's length, with req filled and the body
 * started (LB_FRAME_DONE at once when it has none), or LB_HTTP_INCOMPLETE, LB_HTTP_INVALID
 * (bad syntax, or framing that is unsafe: RFC 9112, see http.h), LB_HTTP_TOO_MANY. After an
 * INCOMPLETE, a call whose new bytes hold no line end answers INCOMPLETE without parsing
 * (lb_http_head_may_progress: a head trickling in byte by byte costs a parse per line);
 * force parses anyway (the caller's head limit is reached, or the stream ended). */
int lb_framer_request_head(lb_framer *f, const char *buf, size_t len, int force,
                           lb_http_request *req, lb_http_header *h, size_t max_headers);

/* Frames a response head at buf[0, len) answering a request with the given method (NULL:
 * unknown). Returns the head's length with res filled, or the codes above; INVALID also for
 * a head lb_http_response_framing refuses and for a 101 (what follows it is not HTTP, and
 * the framer does not tunnel). A 1xx interim head leaves the framer at LB_FRAME_HEAD: the
 * caller passes it on and frames the next head from the bytes after it. A final head starts
 * the body (LB_FRAME_DONE at once when it has none). force: as for requests. */
int lb_framer_response_head(lb_framer *f, const char *buf, size_t len, int force,
                            const char *method, size_t method_len, lb_http_response *res,
                            lb_http_header *h, size_t max_headers);

/* Frames body bytes: buf[0, len) follows what was framed so far. Returns how many of them
 * belong to the body: all while it goes on, fewer when it ends inside buf (the state is then
 * LB_FRAME_DONE and buf[returned] starts the next message); 0 when the message is done or
 * len is 0; LB_HTTP_INVALID for a bad chunk. A close-delimited body takes every byte and
 * ends only at lb_framer_eof. f->data counts the body's data bytes. */
ssize_t lb_framer_body(lb_framer *f, const char *buf, size_t len);

/* Counts n body bytes that the caller moved without reading them (splice(2)): only for a
 * Content-Length or close-delimited body, whose end does not depend on its bytes. Returns
 * how many of the n belong to the body (fewer when it ends), as lb_framer_body. */
size_t lb_framer_skip(lb_framer *f, size_t n);

/* The stream ended after the bytes framed so far. Returns 1 when the message is complete
 * (it was done, or its body is delimited by the close and now ends), else 0: cut short. */
int lb_framer_eof(lb_framer *f);

#endif
