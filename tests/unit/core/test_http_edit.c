/* The helpers behind in-place head edits: lb_http_field_line finds one parsed field's whole
 * line wherever it stands, lb_http_connection_options reads a Connection token list, and
 * lb_http_is_connection_field names the connection-management fields. */
#include "check.h"
#include "http.h"

#define S_(lit) lit, sizeof(lit) - 1

static void line_check(const char *in, size_t field, size_t want_from, size_t want_len)
{
    lb_http_header h[8];
    lb_http_request req;
    size_t len = strlen(in), from = 0;
    CHECK(lb_http_parse_request(in, len, &req, h, 8) > 0 && field < req.num_headers);
    size_t n = lb_http_field_line(in, len, &h[field], &from);
    CHECK_MSG(from == want_from && n == want_len, "field %zu of %s: %zu+%zu", field, in, from, n);
}

int main(void)
{
    const char *in = "GET / HTTP/1.1\r\nA: 1\r\nConnection:  close \r\nB: 2\r\n\r\nbody";
    line_check(in, 0, 16, 6);
    line_check(in, 1, 22, 21);
    line_check(in, 2, 43, 6);
    line_check("GET / HTTP/1.1\r\nEmpty:\r\n\r\n", 0, 16, 8);

    CHECK(lb_http_connection_options(S_("close")) == LB_CONN_CLOSE);
    CHECK(lb_http_connection_options(S_("Keep-Alive")) == LB_CONN_KEEP_ALIVE);
    CHECK(lb_http_connection_options(S_(" close ,, keep-alive")) ==
          (LB_CONN_CLOSE | LB_CONN_KEEP_ALIVE));
    CHECK(lb_http_connection_options(S_("Upgrade")) == LB_CONN_OTHER);
    CHECK(lb_http_connection_options(S_("close, TE")) == (LB_CONN_CLOSE | LB_CONN_OTHER));
    CHECK(lb_http_connection_options(S_("closed")) == LB_CONN_OTHER);
    CHECK(lb_http_connection_options(S_("")) == 0);
    CHECK(lb_http_connection_options(S_(" , ")) == 0);

    CHECK(lb_http_is_connection_field(S_("Connection")));
    CHECK(lb_http_is_connection_field(S_("KEEP-ALIVE")));
    CHECK(lb_http_is_connection_field(S_("proxy-connection")));
    CHECK(!lb_http_is_connection_field(S_("Connections")));
    CHECK(!lb_http_is_connection_field(S_("Upgrade")));
    CHECK(!lb_http_is_connection_field(S_("Content-Length")));
    return CHECK_RESULT();
}
