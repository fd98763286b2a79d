/* test_policies.c - the selection policies behind lb_policy_ops, on hand-built tables.
 *
 * Each policy is checked for what makes it that policy (fewest: load, then errors, then
 * order; rr: rotation that skips down and excluded backends; leastconn: fewest in flight,
 * equals taking turns; p2c: never the busier of two distinct draws, reproducible by seed,
 * and every backend reachable), and all of them for the shared rules: only up, not excluded
 * backends are picked, -1 when there is none, and lb_policy_choose()'s panic fallback to the
 * first backend not excluded. Weights: each policy's share follows them (fewest on load /
 * weight, rr smooth and exact over a cycle, leastconn and p2c on (in flight + 1) / weight).
 * No network, no allocation beyond the stack.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "loop.h"
#include "policy.h"

#define NB 4

static lb_backend backs[NB];
static lb_backend_table table = {backs, NB, 0, NB};
static unsigned char none[NB];

static void reset_table(void)
{
    memset(backs, 0, sizeof backs);
    for (int i = 0; i < NB; i++) {
        backs[i].index = i;
        backs[i].up = 1;
        backs[i].weight = 1;
    }
    table.weighted = 0;
    memset(none, 0, sizeof none);
}

static lb_policy make(const char *name, uint32_t seed)
{
    lb_policy p;
    CHECK_MSG(lb_policy_init(&p, name, seed) == 0, "init %s", name);
    return p;
}

static void test_registry(void)
{
    lb_policy p;
    CHECK(lb_policy_init(&p, "fewest", 1) == 0 && p.ops == &lb_policy_fewest);
    CHECK(lb_policy_init(&p, "rr", 1) == 0 && p.ops == &lb_policy_rr);
    CHECK(lb_policy_init(&p, "leastconn", 1) == 0 && p.ops == &lb_policy_leastconn);
    CHECK(lb_policy_init(&p, "p2c", 1) == 0 && p.ops == &lb_policy_p2c);
    CHECK(lb_policy_init(&p, "random", 1) == -1);
    CHECK(lb_policy_init(&p, "", 1) == -1);
    CHECK(lb_policy_init(&p, "RR", 1) == -1);
}

static void test_fewest(void)
{
    reset_table();
    lb_policy p = make("fewest", 1);
    backs[0].total = 10;
    backs[1].total = 5;
    backs[1].sent_since = 4; /* load 9 */
    backs[2].total = 9;      /* load 9, tie with 1 */
    backs[3].total = 20;
    CHECK(p.ops->pick(&p, &table, none) == 1); /* tie on load and errors: named first */
    backs[1].errors = 1;
    CHECK(p.ops->pick(&p, &table, none) == 2); /* tie on load: fewer errors */
    backs[2].up = 0;
    CHECK(p.ops->pick(&p, &table, none) == 1);
    unsigned char ex[NB] = {0, 1, 0, 0};
    CHECK(p.ops->pick(&p, &table, ex) == 0);
    backs[1].sent_since = 0; /* load 5 */
    CHECK(p.ops->pick(&p, &table, none) == 1);
    CHECK(lb_policy_fewest_better(&backs[1], &backs[0]) == 1);
    CHECK(lb_policy_fewest_better(&backs[0], &backs[1]) == 0);
    CHECK(lb_policy_fewest_better(&backs[0], &backs[0]) == 0);
}

static void test_rr(void)
{
    reset_table();
    lb_policy p = make("rr", 1);
    int seq[8];
    for (int k = 0; k < 8; k++)
        seq[k] = p.ops->pick(&p, &table, none);
    for (int k = 0; k < 8; k++)
        CHECK_MSG(seq[k] == k % NB, "pick %d was %d", k, seq[k]);
    backs[1].up = 0;
    unsigned char ex[NB] = {0, 0, 0, 1};
    int counts[NB] = {0};
    for (int k = 0; k < 30; k++) {
        int i = p.ops->pick(&p, &table, ex);
        CHECK(i == 0 || i == 2);
        if (i >= 0)
            counts[i]++;
    }
    CHECK(counts[0] == 15 && counts[2] == 15); /* the survivors alternate exactly */
}

static void test_leastconn(void)
{
    reset_table();
    lb_policy p = make("leastconn", 1);
    for (int k = 0; k < 2 * NB; k++) /* all equal (idle): they take turns */
        CHECK_MSG(p.ops->pick(&p, &table, none) == k % NB, "idle pick %d", k);
    backs[0].in_flight = 3;
    backs[1].in_flight = 1;
    backs[2].in_flight = 1;
    backs[3].in_flight = 2;
    int seen[NB] = {0};
    for (int k = 0; k < 6; k++) {
        int i = p.ops->pick(&p, &table, none);
        CHECK(i == 1 || i == 2); /* only the least loaded, alternating between the two */
        if (i >= 0)
            seen[i]++;
    }
    CHECK(seen[1] == 3 && seen[2] == 3);
    backs[1].up = 0;
    CHECK(p.ops->pick(&p, &table, none) == 2);
    CHECK(p.ops->pick(&p, &table, none) == 2);
    unsigned char ex[NB] = {0, 0, 1, 0};
    CHECK(p.ops->pick(&p, &table, ex) == 3);
    backs[3].in_flight = 0;
    CHECK(p.ops->pick(&p, &table, none) == 3); /* fewer beats the cursor */
}

/* Runs n p2c picks and counts them; also checks no pick is the busiest backend. */
static void p2c_run(lb_policy *p, int n, int *counts, int *seq)
{
    for (int k = 0; k < n; k++) {
        int i = p->ops->pick(p, &table, none);
        CHECK(i >= 0 && i < NB && backs[i].up);
        if (i < 0)
            return;
        counts[i]++;
        if (seq)
            seq[k] = i;
    }
}

static void test_p2c(void)
{
    reset_table();
    lb_policy p = make("p2c", 42), q = make("p2c", 42);
    int seq_p[200], seq_q[200], counts[NB] = {0}, counts_q[NB] = {0};
    p2c_run(&p, 200, counts, seq_p);
    p2c_run(&q, 200, counts_q, seq_q);
    CHECK(memcmp(seq_p, seq_q, sizeof seq_p) == 0); /* same seed, same choices */
    for (int i = 0; i < NB; i++)
        CHECK_MSG(counts[i] > 20, "backend %d picked %d of 200", i, counts[i]);

    /* p2c keeps the less loaded of two distinct draws: the busiest is never chosen, and the
     * least loaded is chosen whenever it is drawn (about half the time with 4 backends). */
    backs[2].in_flight = 100;
    backs[0].in_flight = 5;
    backs[1].in_flight = 5;
    int busy[NB] = {0};
    p2c_run(&p, 400, busy, NULL);
    CHECK_MSG(busy[2] == 0, "busiest picked %d of 400", busy[2]);
    CHECK_MSG(busy[3] > 150, "least loaded picked only %d of 400", busy[3]);

    backs[0].up = backs[1].up = 0; /* two candidates: always the less loaded */
    int two[NB] = {0};
    p2c_run(&p, 50, two, NULL);
    CHECK(two[3] == 50);
    backs[0].up = backs[1].up = 1;
    backs[0].in_flight = backs[1].in_flight = 0;

    backs[0].up = backs[1].up = backs[3].up = 0; /* one candidate: always it */
    int one[NB] = {0};
    p2c_run(&p, 10, one, NULL);
    CHECK(one[2] == 10);
    backs[2].up = 0;
    CHECK(p.ops->pick(&p, &table, none) == -1);
}

static void test_none_and_panic(void)
{
    static const char *names[] = {"fewest", "rr", "leastconn", "p2c"};
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        reset_table();
        lb_policy p = make(names[n], 7);
        for (int i = 0; i < NB; i++)
            backs[i].up = 0;
        CHECK_MSG(p.ops->pick(&p, &table, none) == -1, "%s picked a down backend", names[n]);
        CHECK(lb_policy_choose(&p, &table, none) == 0); /* panic: first named */
        unsigned char ex[NB] = {1, 1, 0, 0};
        CHECK(lb_policy_choose(&p, &table, ex) == 2);
        unsigned char all[NB] = {1, 1, 1, 1};
        CHECK(lb_policy_choose(&p, &table, all) == -1);
        backs[3].up = 1;
        CHECK_MSG(lb_policy_choose(&p, &table, none) == 3, "%s ignored the one up", names[n]);
        CHECK(lb_policy_choose(&p, &table, ex) == 3);
    }
}

/* Weights 1:2:3:0-up: picks that each add to the load they are judged on. */
static void set_weights(void)
{
    reset_table();
    for (int i = 0; i < NB; i++)
        backs[i].weight = i + 1;
    backs[3].up = 0; /* three up, weights 1:2:3 */
    table.weighted = 1;
}

static void test_weighted_fewest_and_rr(void)
{
    set_weights();
    lb_policy p = make("fewest", 1);
    int counts[NB] = {0};
    for (int k = 0; k < 600; k++) {
        int i = p.ops->pick(&p, &table, none);
        counts[i]++;
        backs[i].sent_since++;
    }
    CHECK_MSG(counts[0] == 100 && counts[1] == 200 && counts[2] == 300, "fewest %d %d %d",
              counts[0], counts[1], counts[2]);
    set_weights();
    p = make("rr", 1);
    int seq[6], rr_counts[NB] = {0};
    for (int k = 0; k < 6; k++)
        rr_counts[seq[k] = p.ops->pick(&p, &table, none)]++;
    CHECK(rr_counts[0] == 1 && rr_counts[1] == 2 && rr_counts[2] == 3);
    CHECK(seq[0] == 2 && seq[1] == 1 && seq[2] == 0); /* spread out: C B A C B C */
    CHECK(seq[3] == 2 && seq[4] == 1 && seq[5] == 2);
}

static void test_weighted_inflight(void)
{
    set_weights();
    lb_policy p = make("leastconn", 1);
    CHECK(p.ops->pick(&p, &table, none) == 2); /* idle: the heaviest, (0+1)/3 */
    backs[2].in_flight = 2;                    /* 3/3 = 1 against 1/1, 1/2 */
    CHECK(p.ops->pick(&p, &table, none) == 1);
    backs[1].in_flight = 1; /* 2/2 = 1 for three: they take turns */
    int seen[NB] = {0};
    for (int k = 0; k < 6; k++)
        seen[p.ops->pick(&p, &table, none)]++;
    CHECK(seen[0] == 2 && seen[1] == 2 && seen[2] == 2);
    set_weights();
    p = make("p2c", 5);
    int counts[NB] = {0};
    p2c_run(&p, 300, counts, NULL); /* all idle: the heavier of any pair wins */
    CHECK_MSG(counts[0] == 0 && counts[2] > counts[1], "p2c %d %d %d", counts[0], counts[1],
              counts[2]);
}

/* Picks n times through lb_policy_choose; returns how many went to backend i. */
static int choose_count(lb_policy *p, int n, int i)
{
    int hits = 0;
    for (int k = 0; k < n; k++)
        hits += lb_policy_choose(p, &table, none) == i;
    return hits;
}

static void test_slow_start(void)
{
    reset_table();
    backs[0].total = 1000; /* the revived backend 1 has the fewest: it wins every pick */
    backs[2].up = backs[3].up = 0;
    lb_policy p = make("fewest", 3);
    backs[1].revived_ms = lb_now_ms();
    CHECK(choose_count(&p, 200, 1) == 200); /* off: the revived one takes everything */
    lb_policy_set_slow_start(&p, 10000);
    backs[1].revived_ms = lb_now_ms() - 5000; /* half-way: about half its picks */
    int half = choose_count(&p, 2000, 1);
    CHECK_MSG(half > 850 && half < 1150, "half-way share %d of 2000", half);
    backs[1].revived_ms = lb_now_ms() - 1000; /* a tenth of the way */
    int tenth = choose_count(&p, 2000, 1);
    CHECK_MSG(tenth > 120 && tenth < 280, "10%% share %d of 2000", tenth);
    backs[1].revived_ms = lb_now_ms() - 10000; /* ramp over */
    CHECK(choose_count(&p, 200, 1) == 200);
    backs[1].revived_ms = lb_now_ms();
    backs[0].up = 0; /* refused, but nothing else is up: it is kept */
    CHECK(choose_count(&p, 50, 1) == 50);
}

static void test_revival_is_stamped(void)
{
    lb_backend b;
    memset(&b, 0, sizeof b);
    lb_backend_probe_result(&b, 1, 0, 0, 500); /* first check: not a revival */
    CHECK(b.up && b.revived_ms == 0);
    lb_backend_probe_result(&b, 1, 0, 0, 600); /* up and up again: no */
    CHECK(b.revived_ms == 0);
    lb_backend_mark_down(&b);
    lb_backend_probe_result(&b, 1, 0, 0, 700); /* down, then up: revived */
    CHECK(b.up && b.revived_ms == 700);
}

int main(void)
{
    test_registry();
    test_fewest();
    test_rr();
    test_leastconn();
    test_p2c();
    test_none_and_panic();
    test_weighted_fewest_and_rr();
    test_weighted_inflight();
    test_slow_start();
    test_revival_is_stamped();
    return CHECK_RESULT();
}
