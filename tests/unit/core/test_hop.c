/* lb_hop_edit and lb_hop_can_strip: connection-management lines leave a head wherever they
 * stand, a line is added before the final CRLF, bytes before the head stay right before it
 * and the bytes after it (a body, a pipelined request) are never touched or moved. */
#include "check.h"
#include "hop.h"

#include <stdlib.h>

/* Places front + head + tail in a buffer at offset `at`, edits, and compares. */
static void edit_check(size_t at, const char *front, const char *head, const char *tail,
                       const char *add, const char *want_head)
{
    lb_buf b = LB_BUF_INIT;
    size_t fl = strlen(front), hl = strlen(head), tl = strlen(tail);
    CHECK(lb_buf_reserve(&b, at + fl + hl + tl) == 0);
    b.start = b.end = at;
    lb_buf_append(&b, front, fl);
    lb_buf_append(&b, head, hl);
    lb_buf_append(&b, tail, tl);
    lb_http_header h[16];
    lb_http_response res;
    int r = lb_http_parse_response(lb_buf_head(&b) + fl, lb_buf_len(&b) - fl, &res, h, 16);
    CHECK(r == (int)hl);
    const char *tail_at = lb_buf_head(&b) + fl + hl;
    size_t n = lb_hop_edit(&b, fl, hl, h, res.num_headers, add, add ? strlen(add) : 0);
    size_t wl = strlen(want_head);
    CHECK_MSG(n == wl && lb_buf_len(&b) == fl + wl + tl, "%s: length %zu", head, n);
    CHECK_MSG(memcmp(lb_buf_head(&b), front, fl) == 0 &&
                  memcmp(lb_buf_head(&b) + fl, want_head, wl) == 0 &&
                  memcmp(lb_buf_head(&b) + fl + wl, tail, tl) == 0,
              "%s -> %.*s", head, (int)n, lb_buf_head(&b) + fl);
    /* With room made by a cut, or before the data, the tail stays where it was. */
    size_t al = add ? strlen(add) : 0;
    if (at + (hl + al - n) >= al) /* the room before the data, after the cuts */
        CHECK_MSG(lb_buf_head(&b) + fl + wl == tail_at, "%s: tail moved", head);
    lb_buf_free(&b);
}

static int can_strip(const char *head)
{
    lb_http_header h[16];
    lb_http_request req;
    CHECK(lb_http_parse_request(head, strlen(head), &req, h, 16) > 0);
    return lb_hop_can_strip(h, req.num_headers);
}

int main(void)
{
    const char *tail = "body and GET /next HTTP/1.1\r\n\r\n";
    edit_check(0, "", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", tail, NULL,
               "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
    edit_check(0, "", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\n",
               tail, NULL, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
    edit_check(0, "",
               "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nA: 1\r\nconnection:Keep-Alive \r\n"
               "Proxy-Connection: x\r\n\r\n",
               tail, LB_HOP_CLOSE, "HTTP/1.1 200 OK\r\nA: 1\r\nConnection: close\r\n\r\n");
    /* Nothing to cut and no room before the data: the tail moves instead. */
    edit_check(0, "", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", tail, LB_HOP_CLOSE,
               "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n");
    edit_check(64, "", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", tail, LB_HOP_KEEP_ALIVE,
               "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\n");
    /* Interim heads already counted stay right before the edited head. */
    edit_check(3, "HTTP/1.1 100 Continue\r\n\r\n",
               "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\n", tail,
               LB_HOP_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n");
    edit_check(0, "", "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", "", NULL,
               "HTTP/1.1 204 No Content\r\n\r\n");

    CHECK(can_strip("GET / HTTP/1.1\r\nConnection: close\r\nKeep-Alive: 1\r\n\r\n"));
    CHECK(can_strip("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"));
    CHECK(can_strip("GET / HTTP/1.1\r\n\r\n"));
    CHECK(!can_strip("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
    CHECK(!can_strip("GET / HTTP/1.1\r\nConnection: close\r\nConnection: TE\r\n\r\n"));
    return CHECK_RESULT();
}
