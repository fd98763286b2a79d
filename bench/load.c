/* bench/load.c (build/bin/bench_load) - the lightest keep-alive HTTP load generator we can
 * write, for `make bench`.
 *
 * Purpose: on two cores, wrk and the backends share one core, and wrk's own cost (two
 * epoll_ctl per request, Lua hooks, its statistics) can become the limit instead of the
 * proxy under test. This client costs one send and one recv per request plus a shared
 * epoll_wait: C connections, each sending `GET PATH` again as soon as the previous answer
 * is complete (closed loop, no pipelining), level-triggered epoll with EPOLLIN only.
 *
 * Invariants: a connection has at most one request outstanding; an answer is complete when
 * its head and Content-Length bytes of body have arrived (anything else, including a
 * chunked answer, a close or an error, counts as an error and the connection is reopened).
 * Limits: answers up to BL_BUF bytes; Content-Length framing only; loopback IPv4.
 *
 * Usage: bench_load PORT PATH CONNS SECONDS
 * Prints one line: `requests N seconds S rps R p50_us A p99_us B errors E`.
 * Built by CMake (bench/CMakeLists.txt) with the project's flags, -D_GNU_SOURCE among them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BL_BUF 8192
#define BL_MAX_CONNS 4096
#define BL_HIST_US 200000 /* latency histogram: 1 us buckets up to 200 ms */

typedef struct bl_conn {
    int fd;
    size_t len;
    int64_t sent_ns;
    char buf[BL_BUF];
} bl_conn;

static struct sockaddr_in bl_addr;
static char bl_req[512];
static size_t bl_req_len;
static uint32_t bl_hist[BL_HIST_US + 1];
static long bl_requests, bl_errors;

static int64_t bl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sends the request on c; returns 0 or -1. 0 bytes sent so far always fit a socket buffer. */
static int bl_send(bl_conn *c)
{
    c->len = 0;
    c->sent_ns = bl_now_ns();
    return send(c->fd, bl_req, bl_req_len, MSG_NOSIGNAL) == (ssize_t)bl_req_len ? 0 : -1;
}

/* (Re)opens c's connection, registers it and sends a request. Returns 0 or -1. */
static int bl_open(int ep, bl_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&bl_addr, sizeof bl_addr) < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        return -1;
    return bl_send(c);
}

/* 1 when buf holds a complete answer, 0 when more is needed, -1 when it cannot frame it. */
static int bl_complete(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return len >= BL_BUF ? -1 : 0;
    size_t head = (size_t)(end - buf) + 4;
    const char *p = buf;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol)
            break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0) {
            size_t body = strtoul(p + 15, NULL, 10);
            return len >= head + body ? 1 : (head + body > BL_BUF ? -1 : 0);
        }
        p = eol + 2;
    }
    return -1;
}

/* Handles readability of c: reads, and on a complete answer records it and asks again. */
static void bl_readable(int ep, bl_conn *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, BL_BUF - c->len, 0);
    int done = n > 0 ? bl_complete(c->buf, c->len += (size_t)n) : -1;
    if (done == 0)
        return;
    if (done == 1) {
        int64_t us = (bl_now_ns() - c->sent_ns) / 1000;
        bl_hist[us > BL_HIST_US ? BL_HIST_US : us]++;
        bl_requests++;
        if (bl_send(c) == 0)
            return;
    }
    bl_errors++;
    if (bl_open(ep, c) < 0)
        bl_errors++;
}

static long bl_percentile(double q)
{
    long want = (long)(q * (double)bl_requests), seen = 0;
    for (long us = 0; us <= BL_HIST_US; us++) {
        seen += bl_hist[us];
        if (seen > want)
            return us;
    }
    return BL_HIST_US;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_load PORT PATH CONNS SECONDS\n");
        return 2;
    }
    int nconns = atoi(argv[3]);
    double seconds = atof(argv[4]);
    if (nconns < 1 || nconns > BL_MAX_CONNS || seconds <= 0) {
        fprintf(stderr, "bench_load: bad CONNS or SECONDS\n");
        return 2;
    }
    bl_addr.sin_family = AF_INET;
    bl_addr.sin_port = htons((uint16_t)atoi(argv[1]));
    bl_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bl_req_len = (size_t)snprintf(
        bl_req, sizeof bl_req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n", argv[2], argv[1]);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    bl_conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (ep < 0 || !conns)
        return 1;
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        if (bl_open(ep, &conns[i]) < 0) {
            perror("bench_load: connect");
            return 1;
        }
    }
    struct epoll_event evs[256];
    int64_t start = bl_now_ns(), stop = start + (int64_t)(seconds * 1e9);
    while (bl_now_ns() < stop) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++)
            bl_readable(ep, evs[i].data.ptr);
    }
    double took = (double)(bl_now_ns() - start) / 1e9;
    printf("requests %ld seconds %.3f rps %.1f p50_us %ld p99_us %ld errors %ld\n", bl_requests,
           took, (double)bl_requests / took, bl_percentile(0.50), bl_percentile(0.99), bl_errors);
    return 0;
}
