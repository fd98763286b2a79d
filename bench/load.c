/* bench/load.c (build/bin/bench_load) - the lightest keep-alive HTTP load generator we can
 * write, for `make bench`.
 *
 * Purpose: on two cores, wrk and the backends share one core, and wrk's own cost (two
 * epoll_ctl per request, Lua hooks, its statistics) can become the limit instead of the
 * proxy under test. This client costs one send and one recv per request plus a shared
 * epoll_wait: C connections, level-triggered epoll with EPOLLIN only, no pipelining.
 *
 * Two ways to offer load:
 * - closed loop (no RATE): each connection sends `GET PATH` again as soon as the previous
 *   answer is complete; latency runs from that send to the complete answer;
 * - open loop (RATE requests/s): requests are due at fixed intervals of 1/RATE whatever
 *   the answers do; a due request leaves on an idle connection, or waits in order for one.
 *   Latency runs from the moment the request was due, not from when it could leave, so a
 *   stall of the server counts for every request it delayed (no coordinated omission),
 *   and `late` counts the requests that left more than 1 ms after they were due (no idle
 *   connection then, or this client itself woke late: on a busy machine, mostly the latter).
 *
 * Invariants: a connection has at most one request outstanding; an answer is complete when
 * its head and Content-Length bytes of body have arrived (anything else, including a
 * chunked answer, a close or an error, counts as an error and the connection is reopened).
 * Limits: answers up to BL_BUF bytes; Content-Length framing only; loopback IPv4; latency
 * histogram in 1 us buckets up to 2 s (longer ones count as 2 s).
 *
 * Usage: bench_load PORT PATH CONNS SECONDS [RATE]
 * Prints one line: `requests N seconds S rps R p50_us A p99_us B p999_us C errors E late L
 *   offered O` (O: requests that fell due in the open loop, sent or not; N in the closed one).
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BL_BUF 8192
#define BL_MAX_CONNS 4096
#define BL_HIST_US 2000000 /* latency histogram: 1 us buckets up to 2 s */

typedef struct bl_conn {
    int fd;
    size_t len;
    int64_t sent_ns; /* when the outstanding request was sent (closed) or due (open) */
    int busy;        /* a request is outstanding */
    int idle;        /* open loop: on the idle stack */
    char buf[BL_BUF];
} bl_conn;

static struct sockaddr_in bl_addr;
static char bl_req[512];
static size_t bl_req_len;
static uint32_t bl_hist[BL_HIST_US + 1];
static long bl_requests, bl_errors, bl_late;
/* Open loop: the interval between due times (0: closed loop), the next due time, and the
 * idle connections as a stack. */
static int64_t bl_interval_ns, bl_next_due;
static bl_conn **bl_idle;
static int bl_nidle;

static int64_t bl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sends the request on c, its latency counted from start_ns; returns 0 or -1. 0 bytes
 * sent so far always fit a socket buffer. */
static int bl_send_at(bl_conn *c, int64_t start_ns)
{
    c->len = 0;
    c->sent_ns = start_ns;
    c->busy = 1;
    return send(c->fd, bl_req, bl_req_len, MSG_NOSIGNAL) == (ssize_t)bl_req_len ? 0 : -1;
}

/* The next request on c: at once in the closed loop; in the open loop c goes idle and
 * bl_dispatch sends when one is due. */
static int bl_send(bl_conn *c)
{
    if (!bl_interval_ns)
        return bl_send_at(c, bl_now_ns());
    c->busy = 0;
    c->idle = 1;
    bl_idle[bl_nidle++] = c;
    return 0;
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
    if (!bl_interval_ns)
        return bl_send_at(c, bl_now_ns());
    if (c->busy) /* the request lost with the old connection: again, still due when it was */
        return bl_send_at(c, c->sent_ns);
    if (!c->idle)
        bl_send(c);
    return 0;
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

/* Open loop: sends every request due by now on idle connections, oldest due first; a
 * request that finds none stays due (its latency keeps counting). Returns the ns until
 * the next one is due, for epoll_pwait2 (whose wake-up lateness, like the server's, is
 * in every latency: timer slack is set to 1 ns in main). */
static int64_t bl_dispatch(int ep)
{
    int64_t now = bl_now_ns();
    while (bl_next_due <= now && bl_nidle > 0) {
        bl_conn *c = bl_idle[--bl_nidle];
        c->idle = 0;
        if (now - bl_next_due > 1000000)
            bl_late++; /* left over 1 ms after it was due: no idle connection, or we woke late */
        if (bl_send_at(c, bl_next_due) < 0) {
            bl_errors++;
            if (bl_open(ep, c) < 0)
                bl_errors++;
        }
        bl_next_due += bl_interval_ns;
    }
    if (bl_next_due <= now)
        return 100000000; /* every connection busy: an answer wakes us */
    return bl_next_due - now;
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
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: bench_load PORT PATH CONNS SECONDS [RATE]\n");
        return 2;
    }
    int nconns = atoi(argv[3]);
    double seconds = atof(argv[4]);
    double rate = argc == 6 ? atof(argv[5]) : 0;
    if (nconns < 1 || nconns > BL_MAX_CONNS || seconds <= 0 || rate < 0 || rate > 1e7) {
        fprintf(stderr, "bench_load: bad CONNS, SECONDS or RATE\n");
        return 2;
    }
    bl_interval_ns = rate > 0 ? (int64_t)(1e9 / rate) : 0;
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake when a request is due, not up to 50 us later */
    bl_addr.sin_family = AF_INET;
    bl_addr.sin_port = htons((uint16_t)atoi(argv[1]));
    bl_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bl_req_len = (size_t)snprintf(
        bl_req, sizeof bl_req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n", argv[2], argv[1]);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    bl_conn *conns = calloc((size_t)nconns, sizeof *conns);
    bl_idle = calloc((size_t)nconns, sizeof *bl_idle);
    if (ep < 0 || !conns || !bl_idle)
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
    bl_next_due = start;
    while (bl_now_ns() < stop) {
        int64_t wait_ns = bl_interval_ns ? bl_dispatch(ep) : 100000000;
        struct timespec ts = {wait_ns / 1000000000, wait_ns % 1000000000};
        int n = epoll_pwait2(ep, evs, 256, &ts, NULL);
        for (int i = 0; i < n; i++)
            bl_readable(ep, evs[i].data.ptr);
    }
    int64_t end = bl_now_ns();
    double took = (double)(end - start) / 1e9;
    long offered = bl_interval_ns ? (long)((end - start) / bl_interval_ns) : bl_requests;
    printf("requests %ld seconds %.3f rps %.1f p50_us %ld p99_us %ld p999_us %ld errors %ld "
           "late %ld offered %ld\n",
           bl_requests, took, (double)bl_requests / took, bl_percentile(0.50), bl_percentile(0.99),
           bl_percentile(0.999), bl_errors, bl_late, offered);
    return 0;
}
