/* admin.c - backends changed while it runs (see admin.h).
 *
 * The process-wide view (central slots) lives here and is touched only on the first loop.
 * A change becomes a command applied to each loop's own table, policy, checker and pools:
 *   ADD     the slot gets the backend (a new gen), down until its first probe, sent now;
 *   WEIGHT  a new weight (smooth weighted round robin restarts its rotation);
 *   DRAIN   no new request; pooled idle connections closed; probes go on;
 *   READY   undoes DRAIN;
 *   REMOVE  as DRAIN, no more probes, and the slot is freed once nothing references it.
 * Commands reach the other loops through their mailbox, in order; each loop frees a slot on
 * its own (sweep) and says so by decrementing the slot's holder count, the only field
 * written by several threads (atomically). The central slot is free again when the count
 * is 0, checked lazily whenever a slot is looked for.
 */
#include "admin.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "admin_parse.h"
#include "net.h"

#define ADMIN_SWEEP_MS 20 /* how often a loop looks whether a removed slot can be freed */

enum { CMD_ADD, CMD_WEIGHT, CMD_DRAIN, CMD_READY, CMD_REMOVE };
enum { CENTRAL_FREE, CENTRAL_USED, CENTRAL_REMOVING };

typedef struct admin_cmd {
    struct admin_cmd *next;
    int op, slot, weight;
    uint32_t gen;
    uint64_t seq; /* the how-manieth change posted */
    lb_addr addr;
    char name[LB_HOST_MAX + 8];
} admin_cmd;

/* One loop: its parts, its mailbox and its sweep timer. */
typedef struct admin_loop {
    lb_admin *owner;
    lb_admin_loop_parts parts;
    pthread_mutex_t lock;
    int lock_ok;
    admin_cmd *head, *tail;
    int efd;          /* -1 on the first loop: it applies commands at once */
    uint64_t applied; /* seq of the last command applied (atomic: read on the first loop) */
    lb_timer sweep;
} admin_loop;

typedef struct central_slot {
    int state;   /* CENTRAL_* */
    int holders; /* while REMOVING: loops that did not free it yet (atomic) */
    lb_backend_spec spec;
} central_slot;

struct lb_admin {
    const lb_config *cfg;
    admin_loop *loops;
    int nloops;
    central_slot slots[LB_MAX_BACKENDS];
    uint32_t next_gen;
    uint64_t posted; /* seq of the last command posted */
    lb_admin_counters st;
};

/* ---- the backends file ------------------------------------------------------------ */

/* Reads and parses the file into out[0..max). Returns the count or -1 with a reason. */
static int read_backends_file(const char *path, lb_backend_spec *out, int max, char *err,
                              size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %.200s: %s", path, strerror(errno));
        return -1;
    }
    char *text = malloc(LB_BACKENDS_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, LB_BACKENDS_FILE_MAX + 1, f) : 0;
    int bad = !text || ferror(f);
    fclose(f);
    int rc = -1;
    if (bad)
        snprintf(err, errlen, "cannot read %.200s", path);
    else if (n > LB_BACKENDS_FILE_MAX)
        snprintf(err, errlen, "%.200s: over %d bytes", path, LB_BACKENDS_FILE_MAX);
    else
        rc = lb_admin_parse_file(text, n, out, max, err, errlen);
    free(text);
    if (rc < 0 && !bad && n <= LB_BACKENDS_FILE_MAX) {
        char msg[256];
        snprintf(msg, sizeof msg, "%.200s: %s", path, err);
        snprintf(err, errlen, "%s", msg);
    }
    return rc;
}

static int same_backend(const lb_backend_spec *a, const lb_backend_spec *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* The command line's backends plus the file's, into out (LB_MAX_BACKENDS slots). Returns the
 * count, or -1 with a reason: a bad file, a backend on both, none at all, too many. */
static int desired_backends(const lb_config *cfg, lb_backend_spec *out, char *err, size_t errlen)
{
    static lb_backend_spec file[LB_MAX_BACKENDS]; /* only ever used on one thread */
    int nf = read_backends_file(cfg->backends_file, file, LB_MAX_BACKENDS, err, errlen);
    if (nf < 0)
        return -1;
    int n = cfg->ncmdline;
    memcpy(out, cfg->backends, (size_t)n * sizeof *out);
    for (int i = 0; i < nf; i++) {
        for (int j = 0; j < cfg->ncmdline; j++)
            if (same_backend(&file[i], &cfg->backends[j])) {
                snprintf(err, errlen, "%.200s: backend '%.260s:%d' is on the command line too",
                         cfg->backends_file, file[i].host, file[i].port);
                return -1;
            }
        if (n >= LB_MAX_BACKENDS) {
            snprintf(err, errlen, "too many backends (at most %d)", LB_MAX_BACKENDS);
            return -1;
        }
        out[n++] = file[i];
    }
    if (n == 0) {
        snprintf(err, errlen, "no backend: no SERVER given and none in %.200s", cfg->backends_file);
        return -1;
    }
    return n;
}

int lb_admin_load_file(lb_config *cfg, char *err, size_t errlen)
{
    int n = desired_backends(cfg, cfg->backends, err, errlen);
    if (n < 0)
        return -1;
    cfg->nbackends = n;
    return 0;
}

/* ---- one loop's side ---------------------------------------------------------------- */

/* Runs on l's loop: frees each REMOVING slot nothing references any more. */
static void sweep_fired(lb_loop *loop, lb_timer *timer, void *data)
{
    admin_loop *l = data;
    lb_backend_table *t = l->parts.table;
    int pending = 0;
    for (int i = 0; i < t->n; i++) {
        lb_backend *b = &t->v[i];
        if (b->slot != LB_SLOT_REMOVING)
            continue;
        if (b->in_flight > 0 || b->pool_len > 0 ||
            (l->parts.checker && lb_checker_probe_busy(l->parts.checker, i))) {
            pending = 1;
            continue;
        }
        b->slot = LB_SLOT_FREE;
        b->up = 0;
        __atomic_sub_fetch(&l->owner->slots[i].holders, 1, __ATOMIC_ACQ_REL);
    }
    while (t->n > 0 && t->v[t->n - 1].slot == LB_SLOT_FREE)
        t->n--;
    if (pending)
        lb_timer_start(loop, timer, ADMIN_SWEEP_MS);
}

static void table_changed(admin_loop *l)
{
    lb_backend_table_reweigh(l->parts.table);
    lb_policy_table_changed(l->parts.policy);
}

static void apply_add(admin_loop *l, const admin_cmd *c)
{
    lb_backend_table *t = l->parts.table;
    lb_backend *b = &t->v[c->slot];
    memset(b, 0, sizeof *b);
    b->index = c->slot;
    b->slot = LB_SLOT_ACTIVE;
    b->gen = c->gen;
    b->weight = c->weight;
    b->addr = c->addr;
    b->ramp = 1;
    memcpy(b->name, c->name, sizeof b->name);
    if (c->slot >= t->n)
        t->n = c->slot + 1;
    table_changed(l);
    if (l->parts.checker)
        lb_checker_backend_added(l->parts.checker, c->slot);
}

/* Runs on l's loop. */
static void apply(admin_loop *l, const admin_cmd *c)
{
    lb_backend *b = &l->parts.table->v[c->slot];
    switch (c->op) {
    case CMD_ADD:
        apply_add(l, c);
        return;
    case CMD_WEIGHT:
        b->weight = c->weight;
        table_changed(l);
        return;
    case CMD_READY:
        if (b->slot == LB_SLOT_DRAINING)
            b->slot = LB_SLOT_ACTIVE;
        return;
    case CMD_DRAIN:
    case CMD_REMOVE:
        if (b->slot == LB_SLOT_FREE)
            return;
        b->slot =
            c->op == CMD_DRAIN && b->slot != LB_SLOT_REMOVING ? LB_SLOT_DRAINING : LB_SLOT_REMOVING;
        if (l->parts.proxy)
            lb_proxy_backend_drained(l->parts.proxy, b);
        if (c->op == CMD_REMOVE) {
            table_changed(l);
            if (!lb_timer_active(&l->sweep))
                lb_timer_start(l->parts.loop, &l->sweep, ADMIN_SWEEP_MS);
        }
        return;
    }
}

/* Takes every command waiting in l's mailbox and applies them in order. */
static void take_mail(admin_loop *l)
{
    pthread_mutex_lock(&l->lock);
    admin_cmd *c = l->head;
    l->head = l->tail = NULL;
    pthread_mutex_unlock(&l->lock);
    while (c) {
        admin_cmd *next = c->next;
        apply(l, c);
        __atomic_store_n(&l->applied, c->seq, __ATOMIC_RELEASE);
        free(c);
        c = next;
    }
}

static void mail_io(lb_loop *loop, int fd, int events, void *data)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v) {
    }
    take_mail(data);
}

/* Hands c to every loop: applied at once on the first, mailed to the others. */
static void post(lb_admin *a, admin_cmd *c)
{
    c->seq = ++a->posted;
    apply(&a->loops[0], c);
    for (int i = 1; i < a->nloops; i++) {
        admin_loop *l = &a->loops[i];
        admin_cmd *copy = malloc(sizeof *copy);
        if (!copy) {
            fprintf(stderr, "loadbalancer: out of memory: a backend change missed loop %d\n", i);
            continue;
        }
        *copy = *c;
        copy->next = NULL;
        pthread_mutex_lock(&l->lock);
        if (l->tail)
            l->tail->next = copy;
        else
            l->head = copy;
        l->tail = copy;
        pthread_mutex_unlock(&l->lock);
        uint64_t one = 1;
        if (write(l->efd, &one, sizeof one) < 0 && errno != EAGAIN)
            fprintf(stderr, "loadbalancer: cannot wake loop %d\n", i);
    }
}

/* ---- the process-wide view ------------------------------------------------------------ */

static int central_state(lb_admin *a, int i)
{
    central_slot *s = &a->slots[i];
    if (s->state == CENTRAL_REMOVING && __atomic_load_n(&s->holders, __ATOMIC_ACQUIRE) == 0)
        s->state = CENTRAL_FREE;
    return s->state;
}

/* The first slot of state `state` whose backend is spec and that taken[] does not hold. */
static int find_in(lb_admin *a, const lb_backend_spec *spec, int state, const unsigned char *taken)
{
    for (int i = 0; i < LB_MAX_BACKENDS; i++)
        if (central_state(a, i) == state && (!taken || !taken[i]) &&
            same_backend(&a->slots[i].spec, spec))
            return i;
    return -1;
}

int lb_admin_find(lb_admin *a, const lb_backend_spec *spec)
{
    int i = find_in(a, spec, CENTRAL_USED, NULL);
    return i >= 0 ? i : find_in(a, spec, CENTRAL_REMOVING, NULL);
}

int lb_admin_removing(lb_admin *a, int slot)
{
    return central_state(a, slot) == CENTRAL_REMOVING;
}

static int free_slots(lb_admin *a)
{
    int n = 0;
    for (int i = 0; i < LB_MAX_BACKENDS; i++)
        n += central_state(a, i) == CENTRAL_FREE;
    return n;
}

/* Adds spec, resolved to addr, in a free slot (there must be one). Returns the slot. */
static int add_resolved(lb_admin *a, const lb_backend_spec *spec, const lb_addr *addr)
{
    int slot = 0;
    while (central_state(a, slot) != CENTRAL_FREE)
        slot++;
    admin_cmd c = {.op = CMD_ADD, .slot = slot, .weight = spec->weight, .addr = *addr};
    c.gen = ++a->next_gen;
    lb_config_backend_name(spec, c.name, sizeof c.name);
    a->slots[slot].state = CENTRAL_USED;
    a->slots[slot].spec = *spec;
    post(a, &c);
    return slot;
}

int lb_admin_add(lb_admin *a, const lb_backend_spec *spec, int *status, char *err, size_t errlen)
{
    char name[LB_HOST_MAX + 8];
    lb_addr addr;
    lb_config_backend_name(spec, name, sizeof name);
    *status = 409;
    if (find_in(a, spec, CENTRAL_USED, NULL) >= 0) {
        snprintf(err, errlen, "backend '%s' is already in the table", name);
        return -1;
    }
    if (free_slots(a) == 0) {
        snprintf(err, errlen, "the backend table is full (at most %d)", LB_MAX_BACKENDS);
        return -1;
    }
    *status = 400;
    if (lb_net_resolve(spec->host, spec->port, &addr, err, errlen) < 0)
        return -1;
    return add_resolved(a, spec, &addr);
}

void lb_admin_set_weight(lb_admin *a, int slot, int weight)
{
    admin_cmd c = {.op = CMD_WEIGHT, .slot = slot, .weight = weight};
    a->slots[slot].spec.weight = weight;
    post(a, &c);
}

void lb_admin_set_drain(lb_admin *a, int slot, int drain)
{
    admin_cmd c = {.op = drain ? CMD_DRAIN : CMD_READY, .slot = slot};
    post(a, &c);
}

void lb_admin_remove(lb_admin *a, int slot)
{
    if (central_state(a, slot) != CENTRAL_USED)
        return;
    admin_cmd c = {.op = CMD_REMOVE, .slot = slot};
    a->slots[slot].state = CENTRAL_REMOVING;
    __atomic_store_n(&a->slots[slot].holders, a->nloops, __ATOMIC_RELEASE);
    post(a, &c);
}

void lb_admin_note_change(lb_admin *a)
{
    a->st.admin_changes++;
}

/* ---- reload ----------------------------------------------------------------------------- */

static int reload_error(lb_admin *a, const char *why)
{
    fprintf(stderr, "loadbalancer: reload refused, nothing changed: %s\n", why);
    a->st.reload_errors++;
    return -1;
}

int lb_admin_reload(lb_admin *a)
{
    static lb_backend_spec want[LB_MAX_BACKENDS];
    static lb_addr addr[LB_MAX_BACKENDS];
    unsigned char keep[LB_MAX_BACKENDS] = {0};
    int match[LB_MAX_BACKENDS], adds = 0;
    char err[512];
    int n = desired_backends(a->cfg, want, err, sizeof err);
    if (n < 0)
        return reload_error(a, err);
    /* Everything that can fail is checked before anything changes. */
    for (int i = 0; i < n; i++) {
        match[i] = find_in(a, &want[i], CENTRAL_USED, keep);
        if (match[i] >= 0) {
            keep[match[i]] = 1;
            continue;
        }
        if (lb_net_resolve(want[i].host, want[i].port, &addr[i], err, sizeof err) < 0)
            return reload_error(a, err);
        adds++;
    }
    if (adds > free_slots(a)) {
        snprintf(err, sizeof err, "the backend table is full (at most %d)", LB_MAX_BACKENDS);
        return reload_error(a, err);
    }
    for (int i = 0; i < LB_MAX_BACKENDS; i++)
        if (!keep[i] && central_state(a, i) == CENTRAL_USED)
            lb_admin_remove(a, i);
    for (int i = 0; i < n; i++) {
        if (match[i] < 0)
            add_resolved(a, &want[i], &addr[i]);
        else if (a->slots[match[i]].spec.weight != want[i].weight)
            lb_admin_set_weight(a, match[i], want[i].weight);
    }
    a->st.reloads++;
    return 0;
}

int lb_admin_settled(const lb_admin *a)
{
    for (int i = 1; i < a->nloops; i++)
        if (__atomic_load_n(&a->loops[i].applied, __ATOMIC_ACQUIRE) < a->posted)
            return 0;
    return 1;
}

const lb_admin_counters *lb_admin_counters_get(const lb_admin *a)
{
    return &a->st;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static int loop_start(lb_admin *a, int i, const lb_admin_loop_parts *parts, char *err,
                      size_t errlen)
{
    admin_loop *l = &a->loops[i];
    l->owner = a;
    l->parts = *parts;
    l->efd = -1;
    lb_timer_init(&l->sweep, sweep_fired, l);
    if (i == 0)
        return 0;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create a mutex");
        return -1;
    }
    l->lock_ok = 1;
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->efd < 0 || lb_loop_watch(parts->loop, l->efd, LB_EV_READ, mail_io, l) < 0) {
        snprintf(err, errlen, "cannot watch an eventfd");
        if (l->efd >= 0)
            close(l->efd);
        l->efd = -1;
        return -1;
    }
    return 0;
}

lb_admin *lb_admin_create(const lb_config *cfg, const lb_admin_loop_parts *loops, int n, char *err,
                          size_t errlen)
{
    lb_admin *a = calloc(1, sizeof *a);
    if (!a || !(a->loops = calloc((size_t)n, sizeof *a->loops))) {
        free(a);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    for (int i = 0; i < n; i++) {
        a->nloops = i + 1;
        if (loop_start(a, i, &loops[i], err, errlen) < 0) {
            lb_admin_destroy(a);
            return NULL;
        }
    }
    for (int i = 0; i < cfg->nbackends; i++) {
        a->slots[i].state = CENTRAL_USED;
        a->slots[i].spec = cfg->backends[i];
    }
    return a;
}

void lb_admin_destroy(lb_admin *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->nloops; i++) {
        admin_loop *l = &a->loops[i];
        lb_timer_stop(l->parts.loop, &l->sweep);
        if (l->efd >= 0) {
            lb_loop_unwatch(l->parts.loop, l->efd);
            close(l->efd);
        }
        if (l->lock_ok) {
            while (l->head) {
                admin_cmd *next = l->head->next;
                free(l->head);
                l->head = next;
            }
            pthread_mutex_destroy(&l->lock);
        }
    }
    free(a->loops);
    free(a);
}
