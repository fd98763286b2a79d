/* json.c - a recursive-descent reader for the flat objects the control port accepts.
 *
 * Strict: one object, members separated by commas, no trailing comma, only whitespace
 * around. It never reads past len and never allocates; text values go through fixed
 * buffers of FS_JSON_TEXT_MAX bytes and anything longer is refused.
 */
#include "json.h"

#include <stdio.h>
#include <string.h>

typedef struct cursor {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
} cursor;

static int fail(cursor *c, const char *what)
{
    snprintf(c->err, c->errlen, "bad JSON at byte %zu: %s", c->pos, what);
    return -1;
}

static void skip_ws(cursor *c)
{
    while (c->pos < c->len && strchr(" \t\r\n", c->s[c->pos]) && c->s[c->pos])
        c->pos++;
}

static int peek(cursor *c)
{
    return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static int hexval(int ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

static int read_string(cursor *c, char *out)
{
    size_t n = 0;
    if (peek(c) != '"')
        return fail(c, "expected a string");
    c->pos++;
    for (;;) {
        int ch = peek(c);
        if (ch < 0 || ch < 0x20)
            return fail(c, "unterminated string");
        c->pos++;
        if (ch == '"')
            break;
        if (ch == '\\') {
            int e = peek(c);
            c->pos++;
            const char *map = strchr("\"\"\\\\//b\bf\fn\nr\rt\t", e);
            if (e == 'u') {
                int v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(peek(c));
                    if (h < 0)
                        return fail(c, "bad \\u escape");
                    v = v * 16 + h;
                    c->pos++;
                }
                if (v == 0 || v > 0x7f)
                    return fail(c, "only ASCII \\u escapes");
                ch = v;
            } else if (e > 0 && map && (map - "\"\"\\\\//b\bf\fn\nr\rt\t") % 2 == 0) {
                ch = map[1];
            } else {
                return fail(c, "bad escape");
            }
        }
        if (n + 1 >= FS_JSON_TEXT_MAX)
            return fail(c, "string too long");
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    return 0;
}

static int read_word(cursor *c, char *out, int *kind)
{
    size_t n = 0;
    while (c->pos < c->len && strchr("+-.0123456789eEtruefalsn", c->s[c->pos]) && c->s[c->pos]) {
        if (n + 1 >= FS_JSON_TEXT_MAX)
            return fail(c, "value too long");
        out[n++] = c->s[c->pos++];
    }
    out[n] = '\0';
    if (!strcmp(out, "true") || !strcmp(out, "false"))
        *kind = FS_JSON_BOOL;
    else if (!strcmp(out, "null")) {
        *kind = FS_JSON_NULL;
        out[0] = '\0';
    } else if (n && strchr("-0123456789", out[0]) && !strpbrk(out, "trufalsn"))
        *kind = FS_JSON_NUMBER;
    else
        return fail(c, "expected a value");
    return 0;
}

static int read_object(cursor *c, fs_json_fn *fn, void *ctx, int depth)
{
    char key[FS_JSON_TEXT_MAX], value[FS_JSON_TEXT_MAX];
    skip_ws(c);
    if (peek(c) != '{')
        return fail(c, "expected an object");
    c->pos++;
    skip_ws(c);
    if (peek(c) == '}') {
        c->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(c);
        if (read_string(c, key))
            return -1;
        skip_ws(c);
        if (peek(c) != ':')
            return fail(c, "expected ':'");
        c->pos++;
        skip_ws(c);
        int kind = FS_JSON_STRING;
        if (peek(c) == '{') {
            if (depth > 0 || strcmp(key, "faults"))
                return fail(c, "nested object");
            if (read_object(c, fn, ctx, depth + 1))
                return -1;
        } else {
            if (peek(c) == '"' ? read_string(c, value) : read_word(c, value, &kind))
                return -1;
            if (fn(key, value, kind, ctx, c->err, c->errlen))
                return -1;
        }
        skip_ws(c);
        if (peek(c) == ',') {
            c->pos++;
            continue;
        }
        if (peek(c) == '}') {
            c->pos++;
            return 0;
        }
        return fail(c, "expected ',' or '}'");
    }
}

int fs_json_each(const char *s, size_t len, fs_json_fn *fn, void *ctx, char *err, size_t errlen)
{
    cursor c = {s, len, 0, err, errlen};
    if (read_object(&c, fn, ctx, 0))
        return -1;
    skip_ws(&c);
    if (c.pos != len)
        return fail(&c, "trailing bytes");
    return 0;
}
