/* admin.h - backends changed while it runs: add, drain, re-weight, remove; the backends
 * file and its reload.
 *
 * One lb_admin per process, driven from the first event loop (the stats port's HTTP API in
 * stats.c and SIGHUP from main.c both run there). It keeps the process-wide view of the
 * backend slots (name, state) and applies each change to every loop's own table: on the
 * first loop at once, on every other loop through a mailbox (a list under a mutex and an
 * eventfd that wakes the loop), in the order the changes were made. The API answers a
 * change once every loop applied it (lb_admin_settled), so that after a drain's answer no
 * loop gives the backend a new request.
 *
 * Slots and pointers (lb/backend.h): a removed backend's slot is freed by each loop on its
 * own once nothing there references it (no request in flight, no pooled connection, no
 * probe running; checked by a sweep timer every ADMIN_SWEEP_MS while a removal is pending),
 * and reused for an added backend only once every loop freed it (an atomic count of the
 * loops still holding it). A backend in flight on a tunnel (after a 101) holds its slot
 * until the tunnel ends.
 *
 * Ownership: lb_admin borrows each loop's parts (table, policy, checker, proxy), which must
 * outlive it; destroy it before the loops.
 */
#ifndef LB_ADMIN_H
#define LB_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "checker.h"
#include "config.h"
#include "loop.h"
#include "policy.h"
#include "proxy.h"

#define LB_BACKENDS_FILE_MAX (1 << 20) /* bytes of a --backends-file */

typedef struct lb_admin lb_admin;

/* What one loop lends to the admin. */
typedef struct lb_admin_loop_parts {
    lb_loop *loop;
    lb_backend_table *table;
    lb_policy *policy;
    lb_checker *checker;
    lb_proxy *proxy;
} lb_admin_loop_parts;

/* Process-wide counters for /stats and /metrics (read on the first loop only). */
typedef struct lb_admin_counters {
    uint64_t reloads;       /* SIGHUP reloads of the backends file that applied */
    uint64_t reload_errors; /* reloads refused (a bad or unreadable file) */
    uint64_t admin_changes; /* changes accepted through the admin API */
} lb_admin_counters;

/* Reads --backends-file PATH and appends its backends to cfg->backends (after the command
 * line's). Returns 0, or -1 with a one-line reason in err. */
int lb_admin_load_file(lb_config *cfg, char *err, size_t errlen);

/* The admin over n loops (loops[0] is the one that calls every function below). Returns it
 * or NULL with a reason in err. cfg is borrowed. */
lb_admin *lb_admin_create(const lb_config *cfg, const lb_admin_loop_parts *loops, int n, char *err,
                          size_t errlen);
void lb_admin_destroy(lb_admin *a);

/* The slot of the backend spec names (host and port), or -1. */
int lb_admin_find(lb_admin *a, const lb_backend_spec *spec);
/* 1 if slot's backend is being removed (DELETE or reload): it takes no other change. */
int lb_admin_removing(lb_admin *a, int slot);
/* Adds a backend: down until its first probe, sent at once. Returns its slot, or -1 with
 * an HTTP status (409 present or table full, 400 unresolvable) in *status and a reason. */
int lb_admin_add(lb_admin *a, const lb_backend_spec *spec, int *status, char *err, size_t errlen);
void lb_admin_set_weight(lb_admin *a, int slot, int weight);
/* drain 1: no new request, pooled connections closed, in flight finish; 0 undoes it. */
void lb_admin_set_drain(lb_admin *a, int slot, int drain);
/* Drains the backend and removes it once nothing references it. */
void lb_admin_remove(lb_admin *a, int slot);
/* Counts one change made through the API. */
void lb_admin_note_change(lb_admin *a);

/* SIGHUP: re-reads the backends file; the table becomes the command line's SERVERs plus the
 * file's (added, removed, re-weighted to match). A bad file changes nothing, prints one
 * line on stderr and counts a reload error. Returns 0 or -1. */
int lb_admin_reload(lb_admin *a);

/* 1 once every loop applied every change posted so far. */
int lb_admin_settled(const lb_admin *a);

const lb_admin_counters *lb_admin_counters_get(const lb_admin *a);

#endif
