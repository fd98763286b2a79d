/* syscall_cost.c - what entering the kernel costs on this machine, and what io_uring
 * batching would save: the measured estimate behind proposal 5 of bench/README.md.
 *
 * Not part of the build (it needs liburing, which the project does not): build and run by
 * hand, e.g.  cc -O2 -o /tmp/syscall_cost bench/syscall_cost.c -luring && /tmp/syscall_cost
 * (liburing-dev from Debian). Three figures, CPU time of this process (not wall time, so a
 * loaded machine slows the run but not the figures much), best of 5 passes:
 *  - getppid(): the bare cost of a syscall's entry and exit;
 *  - one 100-byte message over a loopback TCP connection, send() then recv(), as a proxy
 *    does per hop: the TCP work plus two entries;
 *  - the same messages over K connections, the K sends submitted to io_uring at once and
 *    then the K receives (two io_uring_enter calls per K messages), as a loop round that
 *    batched its socket calls would: the same TCP work, fewer entries.
 */
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define K 8          /* messages per io_uring batch: a loop round of 8 ready connections */
#define MSG 100      /* bytes per message */
#define ROUNDS 50000 /* batches per pass */
#define PASSES 5

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* K connected loopback pairs: tx[i] -> rx[i]. Returns 0 or -1. */
static int make_pairs(int tx[K], int rx[K])
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, K) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    for (int i = 0; i < K; i++) {
        tx[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (tx[i] < 0 || connect(tx[i], (struct sockaddr *)&sa, sizeof sa) < 0 ||
            (rx[i] = accept(l, NULL, NULL)) < 0)
            return -1;
        setsockopt(tx[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    close(l);
    return 0;
}

/* Waits for n completions and checks each moved a whole message. Returns 0 or -1. */
static int reap(struct io_uring *ring, unsigned n)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    int bad = 0;
    io_uring_submit_and_wait(ring, n);
    io_uring_for_each_cqe(ring, head, cqe)
    {
        bad |= cqe->res != MSG;
        seen++;
    }
    io_uring_cq_advance(ring, seen);
    return seen == n && !bad ? 0 : -1;
}

int main(void)
{
    int tx[K], rx[K];
    char msg[MSG], buf[4096];
    struct io_uring ring;
    double best[3] = {1e9, 1e9, 1e9};
    memset(msg, 'x', sizeof msg);
    if (make_pairs(tx, rx) < 0 || io_uring_queue_init(4 * K, &ring, 0) < 0) {
        perror("syscall_cost: setup");
        return 1;
    }
    for (int pass = 0; pass < PASSES; pass++) {
        double t0 = cpu_s();
        for (long i = 0; i < (long)ROUNDS * K; i++)
            syscall(SYS_getppid);
        double t1 = cpu_s();
        for (int r = 0; r < ROUNDS; r++)
            for (int i = 0; i < K; i++)
                if (send(tx[i], msg, MSG, 0) != MSG || recv(rx[i], buf, sizeof buf, 0) != MSG)
                    return 1;
        double t2 = cpu_s();
        for (int r = 0; r < ROUNDS; r++) {
            for (int i = 0; i < K; i++)
                io_uring_prep_send(io_uring_get_sqe(&ring), tx[i], msg, MSG, 0);
            if (reap(&ring, K) < 0)
                return 1;
            for (int i = 0; i < K; i++)
                io_uring_prep_recv(io_uring_get_sqe(&ring), rx[i], buf, sizeof buf, 0);
            if (reap(&ring, K) < 0)
                return 1;
        }
        double t3 = cpu_s(), n = (double)ROUNDS * K;
        double got[3] = {(t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n};
        for (int i = 0; i < 3; i++)
            if (got[i] < best[i])
                best[i] = got[i];
    }
    printf("getppid: %.2f us; send + recv of %d bytes on loopback TCP: %.2f us with two "
           "syscalls, %.2f us through io_uring in batches of %d\n",
           best[0] * 1e6, MSG, best[1] * 1e6, best[2] * 1e6, K);
    return 0;
}
