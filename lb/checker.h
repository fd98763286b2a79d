/* checker.h - health-check rounds: every backend probed in parallel on a fresh connection.
 *
 * A round starts once at start-up, after every R forwarded requests and every interval
 * without one; rounds are coalesced: never more than one in flight, and a round asked for
 * while one runs starts right after it ends. Each probe has its own deadline and never
 * blocks the loop. Answers are judged by lb_health_parse_response however they are split.
 * Ownership: the checker owns its probes and their fds; the table and loop are borrowed
 * and must outlive it.
 */
#ifndef LB_CHECKER_H
#define LB_CHECKER_H

#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "loop.h"

typedef struct lb_checker lb_checker;

typedef struct lb_checker_hooks {
    /* A probe of b was judged (healthy or not). May be NULL. */
    void (*on_result)(void *data, lb_backend *b, int healthy);
    /* A round ended. May be NULL. */
    void (*on_round_end)(void *data);
    void *data;
} lb_checker_hooks;

/* Returns a checker (no round started yet) or NULL on ENOMEM. */
lb_checker *lb_checker_create(lb_loop *loop, lb_backend_table *t, const lb_config *cfg,
                              const lb_checker_hooks *hooks);
/* Closes every probe and frees the checker. */
void lb_checker_destroy(lb_checker *c);

/* Asks for a round: starts one now, or right after the one in flight. */
void lb_checker_request_round(lb_checker *c);
/* Counts one forwarded request; every R-th asks for a round. */
void lb_checker_note_forwarded(lb_checker *c);
/* The backend in slot i was just added: its probe is rebuilt and sent now, alone (not
 * after the interval), unless one is already running for that slot. */
void lb_checker_backend_added(lb_checker *c, int i);
/* 1 while a probe of slot i runs (the slot is referenced and may not be freed). */
int lb_checker_probe_busy(const lb_checker *c, int i);
/* Stops the periodic timer and abandons probes (for shutdown). */
void lb_checker_stop(lb_checker *c);

uint64_t lb_checker_rounds_started(const lb_checker *c);
uint64_t lb_checker_rounds_done(const lb_checker *c);
int lb_checker_round_in_flight(const lb_checker *c);

#endif
