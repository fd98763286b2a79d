/* http.c - strict, zero-copy HTTP/1.x head parsers, message framing and the chunked scanner.
 *
 * Purpose: the one place where bytes from the network become requests and responses, shared
 * by the balancer, the fakeserver, the health checker and the fuzzers.
 *
 * Invariants:
 * - Pure: no allocation, no globals, no hidden state. Results are pointer/length pairs into
 *   the caller's buffer; the caller re-parses a growing buffer until the answer is final.
 * - Never reads buf[len] or beyond: every byte access is preceded by a bound check, and a
 *   check that runs out of input answers LB_HTTP_INCOMPLETE.
 * - Monotone: for any prefix of an input the answer is INCOMPLETE or the whole input's
 *   answer. INVALID is returned as soon as no continuation could make the bytes valid.
 * - Strict RFC 9112: CRLF only, tokens for methods and field names, no whitespace before the
 *   colon, no obs-fold, no control bytes in fields, HTTP/D.D versions. Framing refuses every
 *   ambiguity a smuggling attack could exploit (see http.h).
 *
 * Limits: a head is at most INT_MAX bytes (the return type); the caller bounds it further.
 * A chunk size has 1 to 16 hex digits; a chunk-size line or trailer line is at most
 * LB_CHUNKED_MAX_LINE bytes and the trailer section at most LB_CHUNKED_MAX_TRAILER bytes.
 */
#include "http.h"

#include <limits.h>
#include <string.h>

/* ---- character classes ------------------------------------------------------------- */

/* tchar (RFC 9110 5.6.2): ! # $ % & ' * + - . 0-9 A-Z ^ _ ` a-z | ~. A table: one load per
 * byte of every method and field name (bytes from 0x80 on, not listed, are never token
 * bytes). */
static const unsigned char http_tchar[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, /* 0x70 */
};

static int http_is_tchar(unsigned char c)
{
    return http_tchar[c];
}

static int http_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int http_is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* field-vchar / SP / HTAB: anything but control bytes and DEL. */
static int http_is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* request-target bytes: visible ASCII. */
static int http_is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

static int http_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* ---- head pieces ------------------------------------------------------------------- */

/* Consumes CRLF at *pos. */
static int http_expect_crlf(const char *b, size_t len, size_t *pos)
{
    if (*pos >= len)
        return LB_HTTP_INCOMPLETE;
    if (b[*pos] != '\r')
        return LB_HTTP_INVALID;
    if (*pos + 1 >= len)
        return LB_HTTP_INCOMPLETE;
    if (b[*pos + 1] != '\n')
        return LB_HTTP_INVALID;
    *pos += 2;
    return 0;
}

/* Consumes one SP at *pos. */
static int http_expect_sp(const char *b, size_t len, size_t *pos)
{
    if (*pos >= len)
        return LB_HTTP_INCOMPLETE;
    if (b[*pos] != ' ')
        return LB_HTTP_INVALID;
    (*pos)++;
    return 0;
}

/* Consumes "HTTP/D.D" at *pos. */
static int http_parse_version(const char *b, size_t len, size_t *pos, int *major, int *minor)
{
    static const char pattern[] = "HTTP/0.0";
    const char *v = b + *pos;
    /* The usual case, the whole version at hand, is one comparison and two digits; the
     * loop tells INCOMPLETE from INVALID otherwise. */
    int valid = *pos + 8 <= len && memcmp(v, "HTTP/", 5) == 0 && v[6] == '.' &&
                http_is_digit((unsigned char)v[5]) && http_is_digit((unsigned char)v[7]);
    for (size_t i = 0; !valid && i < 8; i++) {
        if (*pos + i >= len)
            return LB_HTTP_INCOMPLETE;
        unsigned char c = (unsigned char)b[*pos + i];
        int ok = pattern[i] == '0' ? http_is_digit(c) : c == (unsigned char)pattern[i];
        if (!ok)
            return LB_HTTP_INVALID;
    }
    *major = b[*pos + 5] - '0';
    *minor = b[*pos + 7] - '0';
    *pos += 8;
    return 0;
}

/* Whether any of the 8 bytes at p is below 0x20 or is 0x7f (a control byte, or HTAB):
 * the classic "has a byte less than n" word test, exact as a yes/no answer. */
static int http_word_has_ctl(const char *p)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t w, del;
    memcpy(&w, p, sizeof w);
    del = w ^ (ones * 0x7f);
    return (((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs ? 1 : 0;
}

/* The end of the run of field bytes (http_is_field_char) starting at p: the first other
 * byte, or len. Eight bytes at a time while no control byte is among them (a value is
 * mostly plain text; picohttpparser's findchar_fast idea without SIMD), then byte by byte
 * through the word that has one (a HTAB is a field byte: the scan goes on after it). */
static size_t http_scan_field_chars(const char *b, size_t len, size_t p)
{
    for (;;) {
        while (p + 8 <= len && !http_word_has_ctl(b + p))
            p += 8;
        size_t stop = p + 8 < len ? p + 8 : len;
        while (p < stop && http_is_field_char((unsigned char)b[p]))
            p++;
        if (p < stop || p >= len)
            return p;
    }
}

/* Parses one field value starting right after the colon, through its CRLF. */
static int http_parse_value(const char *b, size_t len, size_t *pos, lb_http_header *h)
{
    size_t p = *pos;
    while (p < len && http_is_ows((unsigned char)b[p]))
        p++;
    size_t start = p;
    p = http_scan_field_chars(b, len, p);
    if (p >= len)
        return LB_HTTP_INCOMPLETE;
    if (b[p] != '\r')
        return LB_HTTP_INVALID; /* a control byte (CR is not a field byte: it ends the run) */
    size_t end = p;
    while (end > start && http_is_ows((unsigned char)b[end - 1]))
        end--;
    int rc = http_expect_crlf(b, len, &p);
    if (rc != 0)
        return rc;
    h->value = b + start;
    h->value_len = end - start;
    *pos = p;
    return 0;
}

/* Parses one field line "name: value CRLF" at *pos into h. */
static int http_parse_field(const char *b, size_t len, size_t *pos, lb_http_header *h)
{
    size_t p = *pos;
    while (p < len && http_is_tchar((unsigned char)b[p]))
        p++;
    if (p >= len)
        return LB_HTTP_INCOMPLETE;
    if (p == *pos || b[p] != ':')
        return LB_HTTP_INVALID; /* empty name, space before colon, obs-fold, bad byte */
    h->name = b + *pos;
    h->name_len = p - *pos;
    h->kind = lb_http_field_kind(h->name, h->name_len);
    p++;
    int rc = http_parse_value(b, len, &p, h);
    if (rc == 0)
        *pos = p;
    return rc;
}

/* Parses field lines and the empty line ending the head. Returns the head length. */
static int http_parse_fields(const char *b, size_t len, size_t pos, lb_http_header *headers,
                             size_t max_headers, size_t *num_headers, unsigned *fields)
{
    size_t n = 0;
    unsigned seen = 0;
    for (;;) {
        if (pos >= len)
            return LB_HTTP_INCOMPLETE;
        if (b[pos] == '\r') {
            int rc = http_expect_crlf(b, len, &pos);
            if (rc != 0)
                return rc;
            *num_headers = n;
            *fields = seen & ~LB_FIELD_BIT(LB_FIELD_OTHER);
            return (int)pos;
        }
        if (n == max_headers)
            return http_is_tchar((unsigned char)b[pos]) ? LB_HTTP_TOO_MANY : LB_HTTP_INVALID;
        int rc = http_parse_field(b, len, &pos, &headers[n]);
        if (rc != 0)
            return rc;
        seen |= LB_FIELD_BIT(headers[n].kind);
        n++;
    }
}

/* Consumes a non-empty run of bytes accepted by is_ok, ended by one SP. */
static int http_parse_word(const char *b, size_t len, size_t *pos, int (*is_ok)(unsigned char),
                           const char **word, size_t *word_len)
{
    size_t p = *pos;
    while (p < len && is_ok((unsigned char)b[p]))
        p++;
    if (p >= len)
        return LB_HTTP_INCOMPLETE;
    if (p == *pos || b[p] != ' ')
        return LB_HTTP_INVALID;
    *word = b + *pos;
    *word_len = p - *pos;
    *pos = p + 1;
    return 0;
}

int lb_http_parse_request(const char *buf, size_t len, lb_http_request *req,
                          lb_http_header *headers, size_t max_headers)
{
    if (len > INT_MAX)
        len = INT_MAX;
    size_t pos = 0;
    int rc;
    while (pos < len && buf[pos] == '\r') { /* empty lines before the request line */
        if ((rc = http_expect_crlf(buf, len, &pos)) != 0)
            return rc;
    }
    req->headers = headers;
    req->num_headers = 0;
    req->fields = 0;
    if ((rc = http_parse_word(buf, len, &pos, http_is_tchar, &req->method, &req->method_len)))
        return rc;
    if ((rc = http_parse_word(buf, len, &pos, http_is_target_char, &req->target, &req->target_len)))
        return rc;
    if ((rc = http_parse_version(buf, len, &pos, &req->major, &req->minor)) != 0)
        return rc;
    if ((rc = http_expect_crlf(buf, len, &pos)) != 0)
        return rc;
    rc = http_parse_fields(buf, len, pos, headers, max_headers, &req->num_headers, &req->fields);
    if (rc == LB_HTTP_INCOMPLETE && len == INT_MAX)
        return LB_HTTP_INVALID;
    return rc;
}

size_t lb_http_field_line(const char *buf, size_t len, const lb_http_header *h, size_t *from)
{
    size_t value_end = (size_t)(h->value - buf) + h->value_len;
    const char *lf = memchr(buf + value_end, '\n', len - value_end);
    *from = (size_t)(h->name - buf);
    return (size_t)(lf - buf) + 1 - *from; /* a parsed field always ends in CRLF */
}

int lb_http_is_connection_field(const char *name, size_t len)
{
    return (LB_FIELD_BIT(lb_http_field_kind(name, len)) & LB_FIELDS_HOP) != 0;
}

int lb_http_head_may_progress(const char *buf, size_t prev_len, size_t len)
{
    return prev_len < len && memchr(buf + prev_len, '\n', len - prev_len) != NULL;
}

/* Consumes " DDD" and an optional " reason" up to and including the CRLF. */
static int http_parse_status(const char *b, size_t len, size_t *pos, lb_http_response *res)
{
    size_t p = *pos;
    int rc = http_expect_sp(b, len, &p);
    if (rc != 0)
        return rc;
    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p >= len)
            return LB_HTTP_INCOMPLETE;
        unsigned char c = (unsigned char)b[p];
        if (!http_is_digit(c) || (i == 0 && c == '0'))
            return LB_HTTP_INVALID;
        status = status * 10 + (c - '0');
    }
    res->status = status;
    res->reason = b + p;
    res->reason_len = 0;
    if (p < len && b[p] == ' ') { /* the reason phrase may be empty or absent */
        p++;
        res->reason = b + p;
        while (p < len && b[p] != '\r' && http_is_field_char((unsigned char)b[p]))
            p++;
        res->reason_len = (size_t)(b + p - res->reason);
    }
    if ((rc = http_expect_crlf(b, len, &p)) != 0)
        return rc;
    *pos = p;
    return 0;
}

int lb_http_parse_response(const char *buf, size_t len, lb_http_response *res,
                           lb_http_header *headers, size_t max_headers)
{
    if (len > INT_MAX)
        len = INT_MAX;
    size_t pos = 0;
    int rc;
    res->headers = headers;
    res->num_headers = 0;
    res->fields = 0;
    if ((rc = http_parse_version(buf, len, &pos, &res->major, &res->minor)) != 0)
        return rc;
    if ((rc = http_parse_status(buf, len, &pos, res)) != 0)
        return rc;
    rc = http_parse_fields(buf, len, pos, headers, max_headers, &res->num_headers, &res->fields);
    if (rc == LB_HTTP_INCOMPLETE && len == INT_MAX)
        return LB_HTTP_INVALID;
    return rc;
}

/* ---- lookups ----------------------------------------------------------------------- */

int lb_http_case_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (http_lower((unsigned char)a[i]) != http_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* name[0, n) against lit, lower-case letters and '-', ignoring case: OR-ing 0x20 maps
 * exactly the two cases of a letter onto the lower one; '-' is compared as it is. Half the
 * work of lb_http_case_eq, for the names classified per field. */
static int http_name_eq(const char *name, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i], l = (unsigned char)lit[i];
        if (l == '-' ? c != l : (c | 0x20) != l)
            return 0;
    }
    return 1;
}

int lb_http_field_kind(const char *name, size_t len)
{
    /* Most names are rejected on their length alone; each length has one candidate, but
     * 10 (told apart by the first byte). */
    switch (len) {
    case 6:
        return http_name_eq(name, "expect", 6) ? LB_FIELD_EXPECT : LB_FIELD_OTHER;
    case 7:
        return http_name_eq(name, "upgrade", 7) ? LB_FIELD_UPGRADE : LB_FIELD_OTHER;
    case 10:
        if ((name[0] | 0x20) == 'c')
            return http_name_eq(name, "connection", 10) ? LB_FIELD_CONNECTION : LB_FIELD_OTHER;
        return http_name_eq(name, "keep-alive", 10) ? LB_FIELD_KEEP_ALIVE : LB_FIELD_OTHER;
    case 14:
        return http_name_eq(name, "content-length", 14) ? LB_FIELD_CONTENT_LENGTH : LB_FIELD_OTHER;
    case 16:
        return http_name_eq(name, "proxy-connection", 16) ? LB_FIELD_PROXY_CONNECTION
                                                          : LB_FIELD_OTHER;
    case 17:
        return http_name_eq(name, "transfer-encoding", 17) ? LB_FIELD_TRANSFER_ENCODING
                                                           : LB_FIELD_OTHER;
    default:
        return LB_FIELD_OTHER;
    }
}

const lb_http_header *lb_http_find_header(const lb_http_header *headers, size_t num,
                                          const char *name)
{
    for (size_t i = 0; i < num; i++) {
        if (lb_http_token_eq(headers[i].name, headers[i].name_len, name))
            return &headers[i];
    }
    return NULL;
}

/* ---- framing ----------------------------------------------------------------------- */

/* What the framing-relevant fields of a head say, gathered in one pass. */
typedef struct http_fields {
    int cl_count; /* Content-Length fields */
    int cl_valid; /* the single Content-Length is plain digits without overflow */
    uint64_t cl;
    int te_count; /* Transfer-Encoding fields */
    int te_valid; /* every coding list parsed, chunked at most once and unparameterised */
    int te_chunked_last;
    int te_seen_chunked;
    int conn_close, conn_keep_alive;
    int expect_continue;
    int expect_other;
} http_fields;

static int http_parse_content_length(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!http_is_digit(c))
            return -1;
        if (x > (UINT64_MAX - (c - '0')) / 10)
            return -1;
        x = x * 10 + (c - '0');
    }
    *out = x;
    return 0;
}

/* Consumes a quoted-string at v[*i] (which is '"'). */
static int http_skip_quoted(const char *v, size_t n, size_t *i)
{
    size_t p = *i + 1;
    while (p < n) {
        unsigned char c = (unsigned char)v[p];
        if (c == '"') {
            *i = p + 1;
            return 0;
        }
        if (c == '\\') {
            if (++p >= n)
                return -1;
            c = (unsigned char)v[p];
        }
        if (!http_is_field_char(c))
            return -1;
        p++;
    }
    return -1;
}

static size_t http_skip_ows(const char *v, size_t n, size_t i)
{
    while (i < n && http_is_ows((unsigned char)v[i]))
        i++;
    return i;
}

static size_t http_skip_token(const char *v, size_t n, size_t i)
{
    while (i < n && http_is_tchar((unsigned char)v[i]))
        i++;
    return i;
}

/* Consumes the parameters after a transfer coding: *( OWS ";" OWS name "=" value ).
 * Stops before a ',' or at the end. Returns the number of parameters, or -1. */
static int http_skip_params(const char *v, size_t n, size_t *i)
{
    int count = 0;
    for (;;) {
        size_t p = http_skip_ows(v, n, *i);
        if (p >= n || v[p] == ',') {
            *i = p;
            return count;
        }
        if (v[p] != ';')
            return -1;
        p = http_skip_ows(v, n, p + 1);
        size_t name_end = http_skip_token(v, n, p);
        if (name_end == p || name_end >= n || v[name_end] != '=')
            return -1;
        p = name_end + 1;
        if (p < n && v[p] == '"') {
            if (http_skip_quoted(v, n, &p) != 0)
                return -1;
        } else {
            size_t value_end = http_skip_token(v, n, p);
            if (value_end == p)
                return -1;
            p = value_end;
        }
        *i = p;
        count++;
    }
}

/* Parses one Transfer-Encoding value: a non-empty list of codings, no empty elements. */
static void http_scan_te(const char *v, size_t n, http_fields *f)
{
    size_t i = 0;
    for (;;) {
        i = http_skip_ows(v, n, i);
        size_t start = i;
        i = http_skip_token(v, n, i);
        size_t coding_len = i - start;
        int params = coding_len ? http_skip_params(v, n, &i) : -1;
        if (params < 0) {
            f->te_valid = 0;
            return;
        }
        f->te_chunked_last = lb_http_token_eq(v + start, coding_len, "chunked");
        if (f->te_chunked_last && (params > 0 || f->te_seen_chunked++ > 0))
            f->te_valid = 0;
        if (i >= n)
            return;
        i++; /* the ',' */
    }
}

int lb_http_connection_options(const char *v, size_t n)
{
    int mask = 0;
    size_t i = 0;
    /* The usual values, a single option without whitespace, at the cost of one comparison. */
    if (n == 10 && lb_http_case_eq(v, "keep-alive", 10))
        return LB_CONN_KEEP_ALIVE;
    if (n == 5 && lb_http_case_eq(v, "close", 5))
        return LB_CONN_CLOSE;
    while (i < n) {
        i = http_skip_ows(v, n, i);
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && http_is_ows((unsigned char)v[end - 1]))
            end--;
        if (lb_http_token_eq(v + start, end - start, "close"))
            mask |= LB_CONN_CLOSE;
        else if (lb_http_token_eq(v + start, end - start, "keep-alive"))
            mask |= LB_CONN_KEEP_ALIVE;
        else if (end > start)
            mask |= LB_CONN_OTHER;
        i++;
    }
    return mask;
}

/* What framing needs from the fields the parser classified; a head with none of them (a
 * plain GET) costs no pass at all. */
#define HTTP_FRAMING_FIELDS                                                                        \
    (LB_FIELD_BIT(LB_FIELD_CONTENT_LENGTH) | LB_FIELD_BIT(LB_FIELD_TRANSFER_ENCODING) |            \
     LB_FIELD_BIT(LB_FIELD_CONNECTION) | LB_FIELD_BIT(LB_FIELD_EXPECT))

static void http_gather_fields(const lb_http_header *h, size_t num, unsigned seen, http_fields *f)
{
    memset(f, 0, sizeof(*f));
    f->te_valid = 1;
    if (!(seen & HTTP_FRAMING_FIELDS))
        return;
    for (size_t i = 0; i < num; i++, h++) {
        switch (h->kind) {
        case LB_FIELD_CONTENT_LENGTH:
            f->cl_count++;
            f->cl_valid = http_parse_content_length(h->value, h->value_len, &f->cl) == 0;
            break;
        case LB_FIELD_TRANSFER_ENCODING:
            f->te_count++;
            http_scan_te(h->value, h->value_len, f);
            break;
        case LB_FIELD_CONNECTION: {
            int opts = lb_http_connection_options(h->value, h->value_len);
            f->conn_close |= (opts & LB_CONN_CLOSE) != 0;
            f->conn_keep_alive |= (opts & LB_CONN_KEEP_ALIVE) != 0;
            break;
        }
        case LB_FIELD_EXPECT:
            if (lb_http_token_eq(h->value, h->value_len, "100-continue"))
                f->expect_continue = 1;
            else
                f->expect_other = 1;
            break;
        default:
            break;
        }
    }
}

/* HTTP/1.1 and later keep the connection by default; 1.0 and 0.x close it. */
static int http_is_11(int major, int minor)
{
    return major > 1 || (major == 1 && minor >= 1);
}

static int http_keep_alive(int is_11, const http_fields *f)
{
    if (f->conn_close)
        return 0;
    return is_11 ? 1 : f->conn_keep_alive;
}

int lb_http_request_framing(const lb_http_request *req, lb_http_framing *out)
{
    http_fields f;
    int is_11 = http_is_11(req->major, req->minor);
    http_gather_fields(req->headers, req->num_headers, req->fields, &f);
    memset(out, 0, sizeof(*out));
    if (f.cl_count > 0 && f.te_count > 0)
        return LB_HTTP_INVALID;
    if (f.cl_count > 1 || (f.cl_count == 1 && !f.cl_valid))
        return LB_HTTP_INVALID;
    if (f.te_count > 0 && (!is_11 || !f.te_valid || !f.te_chunked_last))
        return LB_HTTP_INVALID;
    if (f.te_count > 0) {
        out->kind = LB_BODY_CHUNKED;
    } else if (f.cl_count == 1) {
        out->kind = LB_BODY_LENGTH;
        out->length = f.cl;
    } else {
        out->kind = LB_BODY_NONE;
    }
    out->keep_alive = http_keep_alive(is_11, &f);
    out->expect_continue = is_11 && f.expect_continue;
    return 0;
}

int lb_http_response_framing(const lb_http_response *res, const char *method, size_t method_len,
                             lb_http_framing *out)
{
    http_fields f;
    int is_11 = http_is_11(res->major, res->minor);
    int is_head = method && lb_http_token_eq(method, method_len, "HEAD");
    int is_connect = method && lb_http_token_eq(method, method_len, "CONNECT");
    http_gather_fields(res->headers, res->num_headers, res->fields, &f);
    memset(out, 0, sizeof(*out));
    if (f.cl_count > 0 && f.te_count > 0)
        return LB_HTTP_INVALID;
    out->keep_alive = http_keep_alive(is_11, &f);
    if (is_head || res->status < 200 || res->status == 204 || res->status == 304) {
        out->kind = LB_BODY_NONE;
        return 0;
    }
    if (is_connect && res->status < 300) { /* a tunnel: bytes flow until either side closes */
        out->kind = LB_BODY_CLOSE;
        out->keep_alive = 0;
        return 0;
    }
    if (f.te_count > 0) {
        if (!is_11 || !f.te_valid)
            return LB_HTTP_INVALID;
        out->kind = f.te_chunked_last ? LB_BODY_CHUNKED : LB_BODY_CLOSE;
    } else if (f.cl_count > 0) {
        if (f.cl_count > 1 || !f.cl_valid)
            return LB_HTTP_INVALID;
        out->kind = LB_BODY_LENGTH;
        out->length = f.cl;
    } else {
        out->kind = LB_BODY_CLOSE;
    }
    if (out->kind == LB_BODY_CLOSE)
        out->keep_alive = 0;
    return 0;
}

/* ---- chunked transfer coding ------------------------------------------------------- */

enum {
    CH_SIZE,        /* hex digits of a chunk size (c->digits so far, value in remaining) */
    CH_SIZE_WS,     /* whitespace after the size: only ';' or more whitespace may follow */
    CH_EXT,         /* after ';': whitespace, then an extension name (c->digits counts the line) */
    CH_EXT_NAME,    /* in an extension name (a token) */
    CH_EXT_NAME_WS, /* whitespace after a name: '=', ';' or the line end may follow */
    CH_EXT_VAL,     /* after '=': whitespace, then a token or a quoted string */
    CH_EXT_TOKEN,   /* in a token value */
    CH_EXT_QUOTED,  /* in a quoted-string value */
    CH_EXT_ESCAPE,  /* after a backslash in a quoted string */
    CH_EXT_VAL_WS,  /* after a value: whitespace, then ';' or the line end */
    CH_SIZE_LF,     /* the LF of the chunk-size line */
    CH_DATA,        /* c->remaining bytes of chunk data */
    CH_DATA_CR,     /* the CRLF after chunk data */
    CH_DATA_LF,
    CH_TRAILER_START, /* start of a trailer line or the final CRLF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_END_LF, /* the LF of the final CRLF */
    CH_DONE,
    CH_ERROR, /* sticky: every later call answers LB_HTTP_INVALID */
};

void lb_chunked_init(lb_chunked *c)
{
    c->state = CH_SIZE;
    c->digits = 0;
    c->remaining = 0;
}

int lb_chunked_done(const lb_chunked *c)
{
    return c->state == CH_DONE;
}

static int ch_hex(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (unsigned char)http_lower(ch);
    return (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : -1;
}

/* One byte of a chunk extension (RFC 9112 section 7.1.1):
 *   *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 * Names are tokens; an empty name, a bad byte, an unterminated quote or a bare LF is
 * refused, so an extension cannot hide a line end that another parser would see. */
static int ch_ext_byte(int state, unsigned char ch)
{
    int ows = http_is_ows(ch), tchar = http_is_tchar(ch);
    switch (state) {
    case CH_EXT:
        return ows ? CH_EXT : tchar ? CH_EXT_NAME : CH_ERROR;
    case CH_EXT_NAME:
    case CH_EXT_NAME_WS:
        if (tchar && state == CH_EXT_NAME)
            return CH_EXT_NAME;
        if (ows)
            return CH_EXT_NAME_WS;
        return ch == '=' ? CH_EXT_VAL : ch == ';' ? CH_EXT : ch == '\r' ? CH_SIZE_LF : CH_ERROR;
    case CH_EXT_VAL:
        return ows ? CH_EXT_VAL : ch == '"' ? CH_EXT_QUOTED : tchar ? CH_EXT_TOKEN : CH_ERROR;
    case CH_EXT_QUOTED: /* qdtext: HTAB, SP, VCHAR but '"' and '\\', obs-text */
        if (ch == '"')
            return CH_EXT_VAL_WS;
        if (ch == '\\')
            return CH_EXT_ESCAPE;
        return (ows || (ch >= 0x21 && ch != 0x7f)) ? CH_EXT_QUOTED : CH_ERROR;
    case CH_EXT_ESCAPE:
        return (ows || (ch >= 0x21 && ch != 0x7f)) ? CH_EXT_QUOTED : CH_ERROR;
    default: /* CH_EXT_TOKEN, CH_EXT_VAL_WS */
        if (tchar && state == CH_EXT_TOKEN)
            return CH_EXT_TOKEN;
        if (ows)
            return CH_EXT_VAL_WS;
        return ch == ';' ? CH_EXT : ch == '\r' ? CH_SIZE_LF : CH_ERROR;
    }
}

/* One byte of the chunk-size line. Returns the next state or CH_ERROR. */
static int ch_size_byte(lb_chunked *c, unsigned char ch)
{
    if (c->state == CH_SIZE) {
        int v = ch_hex(ch);
        if (v >= 0) {
            if (++c->digits > LB_CHUNKED_MAX_DIGITS)
                return CH_ERROR;
            c->remaining = (c->remaining << 4) | (uint64_t)v;
            return CH_SIZE;
        }
        if (c->digits == 0)
            return CH_ERROR;
        if (ch == '\r')
            return CH_SIZE_LF;
        if (ch == ';' || http_is_ows(ch)) {
            c->digits = 1;
            return ch == ';' ? CH_EXT : CH_SIZE_WS;
        }
        return CH_ERROR;
    }
    if (++c->digits > LB_CHUNKED_MAX_LINE)
        return CH_ERROR;
    if (c->state == CH_SIZE_WS)
        return http_is_ows(ch) ? CH_SIZE_WS : ch == ';' ? CH_EXT : CH_ERROR;
    return ch_ext_byte(c->state, ch);
}

/* One byte of the trailer section. Returns the next state or CH_ERROR. */
static int ch_trailer_byte(lb_chunked *c, unsigned char ch)
{
    if (++c->remaining > LB_CHUNKED_MAX_TRAILER)
        return CH_ERROR;
    switch (c->state) {
    case CH_TRAILER_START:
        if (ch == '\r')
            return CH_END_LF;
        return http_is_tchar(ch) ? CH_TRAILER_NAME : CH_ERROR;
    case CH_TRAILER_NAME:
        if (ch == ':')
            return CH_TRAILER_VALUE;
        return http_is_tchar(ch) ? CH_TRAILER_NAME : CH_ERROR;
    case CH_TRAILER_VALUE:
        if (ch == '\r')
            return CH_TRAILER_LF;
        return http_is_field_char(ch) ? CH_TRAILER_VALUE : CH_ERROR;
    case CH_TRAILER_LF:
        return ch == '\n' ? CH_TRAILER_START : CH_ERROR;
    default: /* CH_END_LF */
        return ch == '\n' ? CH_DONE : CH_ERROR;
    }
}

/* One framing byte in any state but CH_DATA, CH_DONE and CH_ERROR. */
static int ch_framing_byte(lb_chunked *c, unsigned char ch)
{
    switch (c->state) {
    case CH_SIZE:
    case CH_SIZE_WS:
    case CH_EXT:
    case CH_EXT_NAME:
    case CH_EXT_NAME_WS:
    case CH_EXT_VAL:
    case CH_EXT_TOKEN:
    case CH_EXT_QUOTED:
    case CH_EXT_ESCAPE:
    case CH_EXT_VAL_WS:
        return ch_size_byte(c, ch);
    case CH_SIZE_LF:
        if (ch != '\n')
            return CH_ERROR;
        c->digits = 0;
        return c->remaining ? CH_DATA : CH_TRAILER_START; /* trailer count starts at 0 */
    case CH_DATA_CR:
        return ch == '\r' ? CH_DATA_LF : CH_ERROR;
    case CH_DATA_LF:
        if (ch != '\n')
            return CH_ERROR;
        c->digits = 0;
        c->remaining = 0;
        return CH_SIZE;
    default:
        return ch_trailer_byte(c, ch);
    }
}

ssize_t lb_chunked_step(lb_chunked *c, const char *buf, size_t len, size_t *data_len)
{
    *data_len = 0;
    if (c->state == CH_ERROR)
        return LB_HTTP_INVALID;
    if (c->state == CH_DONE || len == 0)
        return 0;
    if (c->state == CH_DATA) {
        size_t n = len < c->remaining ? len : (size_t)c->remaining;
        c->remaining -= n;
        if (c->remaining == 0)
            c->state = CH_DATA_CR;
        *data_len = n;
        return (ssize_t)n;
    }
    size_t i = 0;
    while (i < len && c->state != CH_DATA && c->state != CH_DONE) {
        c->state = ch_framing_byte(c, (unsigned char)buf[i++]);
        if (c->state == CH_ERROR)
            return LB_HTTP_INVALID;
    }
    return (ssize_t)i;
}

ssize_t lb_chunked_scan(lb_chunked *c, const char *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len && c->state != CH_DONE) {
        size_t data_len;
        ssize_t n = lb_chunked_step(c, buf + pos, len - pos, &data_len);
        if (n < 0)
            return n;
        pos += (size_t)n;
    }
    if (c->state == CH_ERROR)
        return LB_HTTP_INVALID;
    return (ssize_t)pos;
}

const char *lb_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 300 ? "OK" : "Error";
    }
}
