/* http.h - pure HTTP/1.x parsers shared by the balancer, the fakeserver and the fuzzers.
 *
 * picohttpparser's shape: each parser is a function of (buffer, length) that allocates
 * nothing, keeps no hidden state, never reads past buf[len-1], and returns pointer/length
 * pairs into the caller's buffer. A caller re-parses a growing buffer until the answer is
 * not LB_HTTP_INCOMPLETE. The parsers are strict (RFC 9112): CRLF line ends only, no
 * whitespace before a colon, no obs-fold, no control bytes in a field, a version of the form
 * HTTP/D.D. Strictness is what lets the balancer refuse request smuggling.
 */
#ifndef LB_CORE_HTTP_H
#define LB_CORE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Return conventions: a positive value is the number of bytes consumed. */
enum {
    LB_HTTP_INVALID = -1,    /* the bytes can never become a valid message */
    LB_HTTP_INCOMPLETE = -2, /* valid so far: read more and call again */
    LB_HTTP_TOO_MANY = -3,   /* more header fields than the caller's array holds */
};

/* The field names the parsers recognise (lb_http_field_kind): each name is classified once,
 * while it is parsed (a switch on its length, then one comparison), and framing, the
 * connection-field edits and the balancer read the kind instead of comparing names. */
enum {
    LB_FIELD_OTHER,
    LB_FIELD_CONTENT_LENGTH,
    LB_FIELD_TRANSFER_ENCODING,
    LB_FIELD_CONNECTION,
    LB_FIELD_KEEP_ALIVE,
    LB_FIELD_PROXY_CONNECTION,
    LB_FIELD_EXPECT,
    LB_FIELD_UPGRADE,
};
#define LB_FIELD_BIT(kind) (1u << (kind))
/* The connection-management fields (RFC 9110 7.6.1, see lb/core/hop.h) as a mask of bits. */
#define LB_FIELDS_HOP                                                                              \
    (LB_FIELD_BIT(LB_FIELD_CONNECTION) | LB_FIELD_BIT(LB_FIELD_KEEP_ALIVE) |                       \
     LB_FIELD_BIT(LB_FIELD_PROXY_CONNECTION))

typedef struct lb_http_header {
    const char *name;
    size_t name_len;
    const char *value; /* without leading or trailing whitespace */
    size_t value_len;
    int kind; /* LB_FIELD_*, set by the parsers */
} lb_http_header;

typedef struct lb_http_request {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int major, minor;        /* HTTP/major.minor */
    lb_http_header *headers; /* caller's array */
    size_t num_headers;      /* out: the number of fields parsed */
    unsigned fields;         /* out: LB_FIELD_BIT of every kind among them but OTHER */
} lb_http_request;

typedef struct lb_http_response {
    int major, minor;
    int status; /* 100..999 */
    const char *reason;
    size_t reason_len;
    lb_http_header *headers;
    size_t num_headers;
    unsigned fields; /* as in lb_http_request */
} lb_http_response;

/* Parses a request head (request line, fields, empty line) from buf[0, len). Empty lines
 * (CRLF) before the request line are skipped and counted as consumed. headers must point to
 * max_headers slots. Returns the head's length including the final CRLF, or LB_HTTP_*.
 * LB_HTTP_TOO_MANY is returned as soon as a field beyond max_headers starts. For any prefix
 * of an input the answer is LB_HTTP_INCOMPLETE or the whole input's answer. The out fields
 * are meaningful only on success. The method is a token, the target 1+ visible ASCII bytes;
 * field values may carry obs-text (bytes >= 0x80) but no control byte but HTAB. */
int lb_http_parse_request(const char *buf, size_t len, lb_http_request *req,
                          lb_http_header *headers, size_t max_headers);

/* For a head arriving in many small reads: after a parse of buf[0, prev_len) answered
 * LB_HTTP_INCOMPLETE, returns 1 when buf[prev_len, len) holds a '\n', else 0. A head can only
 * complete, and a field beyond max_headers only be seen, after a new line end, so a caller
 * that re-parses only when this says 1 (or when its head limit is reached) finds every
 * success as early and every INVALID or TOO_MANY at most one line later, while a client
 * sending a 16 KB head one byte per read costs 115 parses instead of 16,000 (0.8 ms instead
 * of 0.7 s of CPU). */
int lb_http_head_may_progress(const char *buf, size_t prev_len, size_t len);

/* Parses a response head. Returns its length including the final CRLF, or LB_HTTP_*.
 * The status is three digits, 100..999; the reason phrase may be empty and its space absent
 * ("HTTP/1.1 200\r\n"), in which case reason_len is 0. */
int lb_http_parse_response(const char *buf, size_t len, lb_http_response *res,
                           lb_http_header *headers, size_t max_headers);

/* How a message body is delimited. */
typedef enum lb_body_kind {
    LB_BODY_NONE,    /* no body */
    LB_BODY_LENGTH,  /* exactly `length` bytes */
    LB_BODY_CHUNKED, /* chunked transfer coding: use lb_chunked */
    LB_BODY_CLOSE,   /* response only: until the server closes */
} lb_body_kind;

typedef struct lb_http_framing {
    lb_body_kind kind;
    uint64_t length; /* for LB_BODY_LENGTH */
    int keep_alive;  /* the connection may carry another message after this one */
    int expect_continue;
} lb_http_framing;

/* Framing reads the kinds and the fields mask the parsers set: a request or response whose
 * header array was filled otherwise must set them (lb_http_field_kind). */

/* Frames a parsed request (RFC 9112 section 6). Returns 0, or LB_HTTP_INVALID for what cannot
 * be framed safely: Content-Length with Transfer-Encoding, more than one Content-Length field
 * or value, a Content-Length that is not plain digits or overflows, a Transfer-Encoding whose
 * last coding is not chunked or that names chunked twice, Transfer-Encoding in HTTP/1.0.
 * Details: "Content-Length: 0" gives LB_BODY_LENGTH with length 0; no framing field gives
 * LB_BODY_NONE. Transfer-Encoding values (several fields form one list) must be lists of
 * tokens with optional `;name=value` parameters, no empty elements, and chunked without
 * parameters. keep_alive: a Connection token `close` clears it; otherwise HTTP/1.1+ keeps
 * alive and HTTP/1.0 only with `keep-alive`. expect_continue: HTTP/1.1+ with
 * "Expect: 100-continue". */
int lb_http_request_framing(const lb_http_request *req, lb_http_framing *out);

/* Frames a parsed response to a request with the given method (HEAD, 1xx, 204 and 304 have
 * no body). Returns 0, or LB_HTTP_INVALID when the response cannot be framed safely.
 * RFC 9112 6.3 in order: Content-Length with Transfer-Encoding is INVALID (whatever the
 * status); HEAD, 1xx (the caller reads the next head after a 100; a 101 switches protocols),
 * 204, 304 -> NONE; a 2xx to CONNECT -> CLOSE (a tunnel); Transfer-Encoding -> CHUNKED when
 * chunked is last, CLOSE otherwise, INVALID when malformed or in HTTP/1.0; Content-Length ->
 * LENGTH, INVALID when repeated or malformed; nothing -> CLOSE. keep_alive as for requests,
 * and always 0 with LB_BODY_CLOSE. method may be NULL (no request known). */
int lb_http_response_framing(const lb_http_response *res, const char *method, size_t method_len,
                             lb_http_framing *out);

/* Finds a header by case-insensitive name. Returns it or NULL. */
const lb_http_header *lb_http_find_header(const lb_http_header *headers, size_t num,
                                          const char *name);
/* Case-insensitive comparison of a[0, n) with b[0, n). */
int lb_http_case_eq(const char *a, const char *b, size_t n);
/* Case-insensitive comparison of s[0, len) with the NUL-terminated lit. Lengths first: with
 * a literal, strlen is a constant and most names are rejected without reading a byte. */
static inline int lb_http_token_eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && lb_http_case_eq(s, lit, len);
}
/* The LB_FIELD_* kind of a field name (LB_FIELD_OTHER for any name not listed there). */
int lb_http_field_kind(const char *name, size_t len);

/* Where the whole line of field h (name through its CRLF) stands in buf[0, len), from which
 * h was parsed: its offset goes to *from, its length is returned. */
size_t lb_http_field_line(const char *buf, size_t len, const lb_http_header *h, size_t *from);

/* Connection management (RFC 9110 section 7.6.1). The options one Connection field value
 * (a comma-separated token list, any case, empty elements allowed) names, as a mask. */
enum { LB_CONN_CLOSE = 1, LB_CONN_KEEP_ALIVE = 2, LB_CONN_OTHER = 4 };
int lb_http_connection_options(const char *v, size_t n);
/* 1 when a field name is Connection, Keep-Alive or Proxy-Connection: the fields that
 * manage one connection and that a proxy does not pass on (see lb/core/hop.h). */
int lb_http_is_connection_field(const char *name, size_t len);

/* Chunked transfer coding, scanned incrementally. The state is the caller's; the functions
 * are pure in (state, bytes). Chunk sizes are 1 to 16 hex digits, extensions may follow a
 * ';', trailer fields are checked like header fields, and every line ends in CRLF. */
#define LB_CHUNKED_MAX_DIGITS 16     /* hex digits of a chunk size, leading zeros included */
#define LB_CHUNKED_MAX_LINE 4096     /* bytes of a chunk-size line after the digits */
#define LB_CHUNKED_MAX_TRAILER 16384 /* bytes of the whole trailer section */

typedef struct lb_chunked {
    int state;
    unsigned digits;
    uint64_t remaining;
} lb_chunked;

void lb_chunked_init(lb_chunked *c);
/* Consumes framing bytes or one run of chunk data from buf[0, len). Returns bytes consumed
 * (0 only when len is 0 or the body is done) or LB_HTTP_INVALID. When the bytes consumed are
 * chunk data, *data_len is their length (they start at buf), else *data_len is 0. */
ssize_t lb_chunked_step(lb_chunked *c, const char *buf, size_t len, size_t *data_len);
/* Consumes as much of buf[0, len) as belongs to the body. Returns bytes consumed (less than
 * len only when the body ended inside buf) or LB_HTTP_INVALID. */
ssize_t lb_chunked_scan(lb_chunked *c, const char *buf, size_t len);
/* 1 once the last chunk and the trailer section have been consumed. */
int lb_chunked_done(const lb_chunked *c);

/* The reason phrase for a status code the project's servers send ("Not Found"); "OK" for
 * another 2xx, "Error" for anything else. Never NULL. */
const char *lb_http_reason(int status);

#endif
