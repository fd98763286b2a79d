/* proxy.h - the fault proxy's two connection modes and what they share.
 *
 * faultproxy reuses the fakeserver's dispatcher, workers, control port, timeline and fault
 * engine; its connections are these modes' (fs_conn_mode). The upstream address is resolved
 * once at start and read-only afterwards, so every worker thread may read it.
 */
#ifndef FP_PROXY_H
#define FP_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"
#include "server.h"

extern lb_addr fp_upstream;

/* A worker's connections of either mode, in two lists: live while they serve, dead once
 * closed. A connection is never freed inside its own callback chain: closing moves it to
 * the dead list, and the mode frees that list before the worker sleeps (link.c).
 * Each mode's connection struct embeds one fp_link; FP_CONN_OF gets the struct back. */
typedef struct fp_link {
    struct fp_link *prev, *next;
    bool dead;
} fp_link;

typedef struct fp_lists {
    fp_link *live, *dead;
} fp_lists;

#define FP_CONN_OF(link, type, member) ((type *)(void *)((char *)(link)-offsetof(type, member)))

/* The worker's lists (its mode_data), made on first use; NULL when out of memory. */
fp_lists *fp_lists_of(fs_worker *w);
/* Puts a new connection's link at the head of the live list. */
void fp_link_add(fp_lists *l, fp_link *k);
/* Moves a live link to the dead list. Returns false (and does nothing) when it is dead
 * already, so a close path may run twice. */
bool fp_link_kill(fp_lists *l, fp_link *k);
/* Takes one link off the dead list for the caller to free; NULL when it is empty. */
fp_link *fp_link_reap(fp_lists *l);

/* HTTP mode (http.c): requests and answers framed by lb/core/http, the catalogue applied to
 * each answer, keep-alive to the upstream. */
extern const fs_conn_mode fp_http_mode;
/* TCP mode (tcp.c): bytes relayed both ways, the tcp-* faults applied per direction. */
extern const fs_conn_mode fp_tcp_mode;

#endif
