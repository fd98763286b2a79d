/* test_checker.c - health-check state: backend bookkeeping and checker rounds on a real loop.
 *
 * Part one checks lb_backend_* arithmetic: a healthy probe sets TOTAL/ERRORS and keeps only
 * the requests sent after the probe was written; a failed probe or request marks down;
 * passive ejection after N consecutive failures. Part two runs the checker against three
 * loopback "backends" served by this test on the same loop: one answers in two pieces
 * (healthy), one answers 503 (down), one accepts and stays silent (down by the deadline),
 * plus a closed port (refused). It also checks that rounds are coalesced: asking for a
 * round while one is in flight runs exactly one more after it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "check.h"
#include "checker.h"
#include "config.h"
#include "loop.h"
#include "net.h"

static void test_backend_bookkeeping(void)
{
    lb_backend b;
    memset(&b, 0, sizeof b);
    CHECK(!b.up);
    /* The data path's calls, in the order a request makes them. */
    lb_backend_request_begin(&b);
    lb_backend_note_forwarded(&b);
    lb_backend_request_begin(&b);
    CHECK(b.in_flight == 2 && b.sent_since == 2 && b.forwarded == 1);
    lb_backend_connect_failed(&b, 1); /* the second never reached it */
    lb_backend_request_end(&b);
    CHECK(b.in_flight == 1 && b.sent_since == 1 && b.failures == 1 && !b.up);
    lb_backend_request_end(&b);
    lb_backend_request_end(&b); /* never below zero */
    CHECK(b.in_flight == 0 && b.forwarded == 1);
    lb_backend_request_begin(&b);
    lb_backend_probe_written(&b); /* the probe is written now */
    lb_backend_request_begin(&b); /* one more after the probe */
    lb_backend_probe_result(&b, 1, 2, 10, 1000);
    CHECK(b.up && b.total == 10 && b.errors == 2);
    CHECK(b.sent_since == 1);
    CHECK(lb_backend_load(&b) == 11);
    CHECK(b.checked && b.last_check_ms == 1000 && b.checks_ok == 1);
    lb_backend_probe_result(&b, 0, 0, 0, 2000);
    CHECK(!b.up && b.checks_failed == 1 && b.total == 10);
    lb_backend_probe_result(&b, 1, 0, 12, 3000);
    CHECK(b.up);
    CHECK(lb_backend_note_failure(&b, 3) == 0);
    CHECK(lb_backend_note_failure(&b, 3) == 0);
    lb_backend_note_success(&b);
    CHECK(lb_backend_note_failure(&b, 3) == 0);
    CHECK(lb_backend_note_failure(&b, 3) == 0);
    CHECK(lb_backend_note_failure(&b, 3) == 1 && !b.up);
    CHECK(b.failures == 6);
    lb_backend_connect_failed(&b, 0);
    CHECK(!b.up && b.failures == 7 && b.sent_since == 1);
    lb_backend_note_pooled(&b, 1);
    lb_backend_note_pooled(&b, 1);
    lb_backend_note_pooled(&b, -1);
    CHECK(b.pool_len == 1);
    lb_backend_probe_result(&b, 1, 0, 13, 4000);
    CHECK(b.up && b.consecutive_failures == 0);
    CHECK(lb_backend_note_failure(&b, 0) == 0 && b.up); /* 0 disables ejection */
}

/* ---- a tiny server on the test's loop ----------------------------------------------- */

enum { SRV_SPLIT, SRV_503, SRV_SILENT };

typedef struct server {
    lb_loop *loop;
    int kind;
    int lfd, cfd;
    char got[512];
    size_t len;
} server;

static void server_conn(lb_loop *loop, int fd, int events, void *data)
{
    server *s = data;
    ssize_t n = recv(fd, s->got + s->len, sizeof s->got - 1 - s->len, 0);
    if (n <= 0) {
        lb_loop_unwatch(loop, fd);
        close(fd);
        s->cfd = -1;
        return;
    }
    s->len += (size_t)n;
    s->got[s->len] = '\0';
    if (!strstr(s->got, "\r\n\r\n"))
        return;
    if (s->kind == SRV_SPLIT) {
        const char *a = "HTTP/1.1 200 OK\r\nContent-Len", *b = "gth: 4\r\n\r\n1\n10";
        send(fd, a, strlen(a), MSG_NOSIGNAL);
        send(fd, b, strlen(b), MSG_NOSIGNAL);
    } else if (s->kind == SRV_503) {
        const char *a = "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\n0\n10";
        send(fd, a, strlen(a), MSG_NOSIGNAL);
    }
    s->len = 0;
}

static void server_accept(lb_loop *loop, int fd, int events, void *data)
{
    server *s = data;
    int cfd = lb_net_accept(fd);
    if (cfd < 0)
        return;
    if (s->cfd >= 0) {
        lb_loop_unwatch(loop, s->cfd);
        close(s->cfd);
    }
    s->cfd = cfd;
    s->len = 0;
    lb_loop_watch(loop, cfd, LB_EV_READ, server_conn, s);
}

static int server_start(server *s, lb_loop *loop, int kind)
{
    s->loop = loop;
    s->kind = kind;
    s->cfd = -1;
    s->lfd = lb_net_listen("127.0.0.1", 0, 16, 0, NULL, 0);
    lb_loop_watch(loop, s->lfd, LB_EV_READ, server_accept, s);
    return lb_net_local_port(s->lfd);
}

static void server_stop(server *s)
{
    if (s->cfd >= 0) {
        lb_loop_unwatch(s->loop, s->cfd);
        close(s->cfd);
    }
    lb_loop_unwatch(s->loop, s->lfd);
    close(s->lfd);
}

typedef struct observer {
    lb_loop *loop;
    int results, rounds, stop_after;
} observer;

static void on_result(void *data, lb_backend *b, int healthy)
{
    ((observer *)data)->results++;
}

static void on_round_end(void *data)
{
    observer *o = data;
    if (++o->rounds >= o->stop_after)
        lb_loop_stop(o->loop);
}

static void guard_fired(lb_loop *loop, lb_timer *t, void *data)
{
    lb_loop_stop(loop);
}

static void test_checker_round(void)
{
    lb_loop *loop = lb_loop_create(0);
    server srv[3];
    char ports[4][16], err[128];
    int closed_port;
    {
        int fd = lb_net_listen("127.0.0.1", 0, 1, 0, NULL, 0);
        closed_port = lb_net_local_port(fd);
        close(fd);
    }
    for (int i = 0; i < 3; i++)
        snprintf(ports[i], sizeof ports[i], "%d", server_start(&srv[i], loop, i));
    snprintf(ports[3], sizeof ports[3], "%d", closed_port);
    char *argv[] = {"lb", "--health-timeout", "300", "0", ports[0], ports[1], ports[2], ports[3]};
    static lb_config cfg;
    CHECK(lb_config_parse(8, argv, &cfg, err, sizeof err) == 0);
    lb_backend_table t;
    CHECK(lb_backend_table_init(&t, &cfg, 0, err, sizeof err) == 0);
    observer o = {loop, 0, 0, 2};
    lb_checker_hooks hooks = {on_result, on_round_end, &o};
    lb_checker *c = lb_checker_create(loop, &t, &cfg, &hooks);
    lb_timer guard;
    lb_timer_init(&guard, guard_fired, NULL);
    lb_timer_start(loop, &guard, 5000);
    lb_checker_request_round(c);
    lb_checker_request_round(c); /* coalesced: one more round after this one */
    lb_checker_request_round(c);
    CHECK(lb_checker_rounds_started(c) == 1);
    CHECK(lb_checker_round_in_flight(c));
    int64_t t0 = lb_now_ms();
    lb_loop_run(loop);
    int64_t took = lb_now_ms() - t0;
    CHECK_MSG(o.rounds == 2, "rounds %d", o.rounds);
    CHECK(lb_checker_rounds_started(c) == 2 && lb_checker_rounds_done(c) == 2);
    CHECK(o.results == 8);
    CHECK_MSG(took >= 500 && took < 2000, "two rounds with a silent backend took %lld ms",
              (long long)took);
    CHECK(t.v[0].up && t.v[0].total == 10 && t.v[0].errors == 1);
    CHECK(!t.v[1].up && !t.v[2].up && !t.v[3].up);
    CHECK(t.v[0].checks_ok == 2 && t.v[2].checks_failed == 2);
    char want[128];
    snprintf(want, sizeof want, "GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n",
             ports[0]);
    CHECK_MSG(strcmp(srv[0].got, want) == 0, "probe sent '%s'", srv[0].got);
    lb_timer_stop(loop, &guard);
    lb_checker_destroy(c);
    for (int i = 0; i < 3; i++)
        server_stop(&srv[i]);
    lb_backend_table_free(&t);
    lb_loop_destroy(loop);
}

int main(void)
{
    test_backend_bookkeeping();
    test_checker_round();
    return CHECK_RESULT();
}
