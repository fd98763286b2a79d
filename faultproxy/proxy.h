/* proxy.h - the fault proxy's two connection modes and what they share.
 *
 * faultproxy reuses the fakeserver's dispatcher, workers, control port, timeline and fault
 * engine; its connections are these modes' (fs_conn_mode). The upstream address is resolved
 * once at start and read-only afterwards, so every worker thread may read it.
 */
#ifndef FP_PROXY_H
#define FP_PROXY_H

#include "net.h"
#include "server.h"

extern lb_addr fp_upstream;

/* HTTP mode (http.c): requests and answers framed by lb/core/http, the catalogue applied to
 * each answer, keep-alive to the upstream. */
extern const fs_conn_mode fp_http_mode;
/* TCP mode (tcp.c): bytes relayed both ways, the tcp-* faults applied per direction. */
extern const fs_conn_mode fp_tcp_mode;

#endif
