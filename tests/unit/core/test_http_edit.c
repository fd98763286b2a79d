/* lb_http_remove_field: cutting one parsed field's line out of a head, wherever it stands,
 * leaves a head that parses to the other fields and keeps the bytes after it. */
#include "check.h"
#include "http.h"

static void remove_and_check(const char *in, size_t field, const char *want)
{
    char buf[256];
    size_t len = strlen(in);
    memcpy(buf, in, len);
    lb_http_header h[8];
    lb_http_request req;
    int head = lb_http_parse_request(buf, len, &req, h, 8);
    CHECK(head > 0 && field < req.num_headers);
    size_t removed = lb_http_remove_field(buf, len, &h[field]);
    CHECK_MSG(len - removed == strlen(want) && memcmp(buf, want, len - removed) == 0,
              "removing field %zu of %s", field, in);
    CHECK(lb_http_parse_request(buf, len - removed, &req, h, 8) == head - (int)removed);
}

int main(void)
{
    const char *in = "GET / HTTP/1.1\r\nA: 1\r\nConnection:  close \r\nB: 2\r\n\r\nbody";
    remove_and_check(in, 0, "GET / HTTP/1.1\r\nConnection:  close \r\nB: 2\r\n\r\nbody");
    remove_and_check(in, 1, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\nbody");
    remove_and_check(in, 2, "GET / HTTP/1.1\r\nA: 1\r\nConnection:  close \r\n\r\nbody");
    remove_and_check("GET / HTTP/1.1\r\nEmpty:\r\n\r\n", 0, "GET / HTTP/1.1\r\n\r\n");
    return CHECK_RESULT();
}
