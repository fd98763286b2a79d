/* health.h - the health-check answer: `HTTP/1.1 200` with body `ERRORS\nTOTAL`.
 *
 * Pure functions of their input, shared by the balancer's checker and the fuzzers.
 */
#ifndef LB_CORE_HEALTH_H
#define LB_CORE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

/* Largest answer a checker needs to buffer; anything longer is not a health answer. */
#define LB_HEALTH_MAX_ANSWER 4096

/* Parses a body `ERRORS\nTOTAL` with an optional trailing "\n": decimal digits only, no
 * overflow of uint64_t, ERRORS <= TOTAL. Returns 0 with the counts set, or -1. */
int lb_health_parse_body(const char *body, size_t len, uint64_t *errors, uint64_t *total);

/* Judges an answer received so far (buf[0, len)); eof says the peer has closed. Healthy
 * means status line `HTTP/1.1 200`, a body framed by Content-Length or by the close, and a
 * valid body. Returns 1 (healthy, counts set), 0 (need more; never when eof) or -1
 * (unhealthy: other status, malformed, chunked, or partial at eof). */
int lb_health_parse_response(const char *buf, size_t len, int eof, uint64_t *errors,
                             uint64_t *total);

#endif
