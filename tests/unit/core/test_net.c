/* Unit tests for net.c: port and host:port parsing, listen on an ephemeral port,
 * non-blocking connect and its result, reset close. */
#include "check.h"
#include "net.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

static void test_parse(void)
{
    char host[64], err[128];
    int port = 0;
    CHECK(lb_net_parse_port("0", 1) == 0);
    CHECK(lb_net_parse_port("0", 0) == -1);
    CHECK(lb_net_parse_port("65535", 0) == 65535);
    CHECK(lb_net_parse_port("65536", 0) == -1);
    CHECK(lb_net_parse_port("-1", 1) == -1);
    CHECK(lb_net_parse_port("12a", 1) == -1);
    CHECK(lb_net_parse_port("", 1) == -1);
    CHECK(lb_net_parse_port("000080", 1) == -1);
    CHECK(lb_net_parse_hostport("8080", host, sizeof(host), &port, err, sizeof(err)) == 0);
    CHECK(strcmp(host, "127.0.0.1") == 0 && port == 8080);
    CHECK(lb_net_parse_hostport("localhost:81", host, sizeof(host), &port, err, sizeof(err)) == 0);
    CHECK(strcmp(host, "localhost") == 0 && port == 81);
    CHECK(lb_net_parse_hostport(":81", host, sizeof(host), &port, err, sizeof(err)) == -1);
    CHECK(lb_net_parse_hostport("h:0", host, sizeof(host), &port, err, sizeof(err)) == -1);
    CHECK(strstr(err, "port") != NULL);
}

static void test_connect(void)
{
    char err[128];
    int lfd = lb_net_listen("127.0.0.1", 0, 16, 0, err, sizeof(err));
    CHECK(lfd >= 0);
    int port = lb_net_local_port(lfd);
    CHECK(port > 0);
    lb_addr addr;
    CHECK(lb_net_resolve("127.0.0.1", port, &addr, err, sizeof(err)) == 0);
    char text[64];
    CHECK(strcmp(lb_net_format(&addr, text, sizeof(text)), text) == 0);
    int cfd = lb_net_connect(&addr, err, sizeof(err));
    CHECK(cfd >= 0);
    struct pollfd p = {.fd = cfd, .events = POLLOUT};
    CHECK(poll(&p, 1, 2000) == 1);
    CHECK(lb_net_connect_result(cfd) == 0);
    CHECK(lb_net_set_nodelay(cfd) == 0);
    struct pollfd lp = {.fd = lfd, .events = POLLIN};
    CHECK(poll(&lp, 1, 2000) == 1);
    int sfd = lb_net_accept(lfd);
    CHECK(sfd >= 0);
    CHECK(lb_net_accept(lfd) == -1 && errno == EAGAIN);
    lb_net_close_reset(sfd);
    char c;
    p.events = POLLIN;
    CHECK(poll(&p, 1, 2000) == 1);
    CHECK(read(cfd, &c, 1) == -1 && errno == ECONNRESET);
    close(cfd);
    close(lfd);

    /* A closed port: the connect fails, now or once writable. */
    CHECK(lb_net_resolve("127.0.0.1", port, &addr, err, sizeof(err)) == 0);
    cfd = lb_net_connect(&addr, err, sizeof(err));
    if (cfd >= 0) {
        p = (struct pollfd){.fd = cfd, .events = POLLOUT};
        CHECK(poll(&p, 1, 2000) == 1);
        CHECK(lb_net_connect_result(cfd) == ECONNREFUSED);
        close(cfd);
    }
}

int main(void)
{
    test_parse();
    test_connect();
    return CHECK_RESULT();
}
