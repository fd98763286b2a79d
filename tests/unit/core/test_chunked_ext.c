/* Chunk extensions (RFC 9112 section 7.1.1): the grammar is enforced byte by byte, so a
 * malformed extension is refused wherever the body is split. */
#include "check.h"
#include "http.h"

static int scan_all(const char *body, size_t split)
{
    lb_chunked c;
    lb_chunked_init(&c);
    size_t len = strlen(body);
    ssize_t a = lb_chunked_scan(&c, body, split);
    if (a < 0)
        return -1;
    ssize_t b = lb_chunked_scan(&c, body + split, len - split);
    if (b < 0)
        return -1;
    return lb_chunked_done(&c) && (size_t)(a + b) == len ? 1 : 0;
}

int main(void)
{
    static const char *good[] = {
        "5;a\r\nhello\r\n0\r\n\r\n",
        "5;a=b\r\nhello\r\n0\r\n\r\n",
        "5 ; a = b ; c\r\nhello\r\n0\r\n\r\n",
        "5;name=\"quoted ; \\\" value\"\r\nhello\r\n0\r\n\r\n",
        "5;a=\"\"\r\nhello\r\n0;last=1\r\n\r\n",
        "5;a=b\t\r\nhello\r\n0\r\n\r\n",
    };
    static const char *bad[] = {
        "5;\r\nhello\r\n0\r\n\r\n",              /* empty name */
        "5;=b\r\nhello\r\n0\r\n\r\n",            /* empty name before '=' */
        "5;a=\r\nhello\r\n0\r\n\r\n",            /* '=' without a value */
        "5;a=\"b\r\nhello\r\n0\r\n\r\n",         /* unterminated quoted string */
        "5;a b\r\nhello\r\n0\r\n\r\n",           /* two names without ';' */
        "5;a@b\r\nhello\r\n0\r\n\r\n",           /* '@' is not a token byte */
        "5;a=b\"c\"\r\nhello\r\n0\r\n\r\n",      /* a quote inside a token */
        "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",      /* bytes after a quoted string */
        "5;a\nhello\r\n0\r\n\r\n",               /* bare LF ends the line */
        "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",    /* control byte in a quoted string */
        "5;a=\"x\\\x7f\"\r\nhello\r\n0\r\n\r\n", /* DEL escaped */
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
        for (size_t split = 0; split <= strlen(good[i]); split++)
            CHECK_MSG(scan_all(good[i], split) == 1, "good[%zu] split %zu", i, split);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        for (size_t split = 0; split <= strlen(bad[i]); split++)
            CHECK_MSG(scan_all(bad[i], split) == -1, "bad[%zu] split %zu", i, split);
    return CHECK_RESULT();
}
