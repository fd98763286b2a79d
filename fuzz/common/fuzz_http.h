/* fuzz_http.h - invariant checks shared by the HTTP head fuzz drivers.
 *
 * What every successful head parse must satisfy whatever the input: every pointer lies in
 * the consumed bytes, names are tokens, values carry no control byte but HTAB and no
 * surrounding whitespace, each field's kind is what its name says (checked against a plain
 * table here, not the parser's switch) and the fields mask is the union of the kinds.
 */
#ifndef LB_FUZZ_HTTP_H
#define LB_FUZZ_HTTP_H

#include <strings.h>

#include "fuzz_entry.h"
#include "http.h"

static inline int fuzz_is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static inline int fuzz_inside(const void *p, size_t n, const uint8_t *buf, int consumed)
{
    const uint8_t *q = p;
    return q >= buf && q + n <= buf + consumed;
}

/* The kind a name must get: compared with every listed name, case-insensitively. */
static inline int fuzz_field_kind(const char *name, size_t len)
{
    static const struct {
        const char *name;
        int kind;
    } known[] = {
        {"content-length", LB_FIELD_CONTENT_LENGTH},
        {"transfer-encoding", LB_FIELD_TRANSFER_ENCODING},
        {"connection", LB_FIELD_CONNECTION},
        {"keep-alive", LB_FIELD_KEEP_ALIVE},
        {"proxy-connection", LB_FIELD_PROXY_CONNECTION},
        {"expect", LB_FIELD_EXPECT},
        {"upgrade", LB_FIELD_UPGRADE},
    };
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (strlen(known[k].name) == len && strncasecmp(name, known[k].name, len) == 0)
            return known[k].kind;
    return LB_FIELD_OTHER;
}

static inline void fuzz_check_fields(const lb_http_header *h, size_t num, unsigned fields,
                                     const uint8_t *buf, int consumed)
{
    unsigned seen = 0;
    for (size_t i = 0; i < num; i++) {
        FUZZ_CHECK(h[i].kind == fuzz_field_kind(h[i].name, h[i].name_len));
        if (h[i].kind != LB_FIELD_OTHER)
            seen |= LB_FIELD_BIT(h[i].kind);
        FUZZ_CHECK(h[i].name_len > 0 && fuzz_inside(h[i].name, h[i].name_len, buf, consumed));
        FUZZ_CHECK(fuzz_inside(h[i].value, h[i].value_len, buf, consumed));
        FUZZ_CHECK(h[i].name[h[i].name_len] == ':');
        for (size_t j = 0; j < h[i].name_len; j++)
            FUZZ_CHECK(fuzz_is_tchar((unsigned char)h[i].name[j]));
        for (size_t j = 0; j < h[i].value_len; j++) {
            unsigned char c = (unsigned char)h[i].value[j];
            FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h[i].value_len > 0) {
            FUZZ_CHECK(h[i].value[0] != ' ' && h[i].value[0] != '\t');
            char last = h[i].value[h[i].value_len - 1];
            FUZZ_CHECK(last != ' ' && last != '\t');
        }
        if (i > 0)
            FUZZ_CHECK(h[i].name > h[i - 1].value);
    }
    FUZZ_CHECK(fields == seen);
}

/* Field by field: the struct has padding, which memcmp would read. */
static inline int fuzz_same_fields(const lb_http_header *a, const lb_http_header *b, size_t num)
{
    for (size_t i = 0; i < num; i++)
        if (a[i].name != b[i].name || a[i].name_len != b[i].name_len || a[i].value != b[i].value ||
            a[i].value_len != b[i].value_len || a[i].kind != b[i].kind)
            return 0;
    return 1;
}

/* Counts fields of the given name. */
static inline size_t fuzz_count_fields(const lb_http_header *h, size_t num, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < num; i++)
        n += lb_http_token_eq(h[i].name, h[i].name_len, name);
    return n;
}

/* The prefix lengths worth checking: all of them for short inputs, a spread otherwise. */
static inline size_t fuzz_prefix_step(size_t len)
{
    return len <= 256 ? 1 : len / 61 + 1;
}

#endif
