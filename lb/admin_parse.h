/* admin_parse.h - the admin API's request bodies and the backends file, parsed without I/O.
 *
 * Pure functions (no I/O, no allocation, no global state) so that they are unit-tested and
 * fuzzed (fuzz/admin_body, fuzz/backends_file). Every failure leaves a one-line reason
 * (printable bytes only: the user's words are quoted with control bytes as '?').
 *
 * Bodies are one flat JSON object (RFC 8259) whose members are strings or integers:
 *   POST  {"server": "HOST:PORT" | "PORT", "weight": W}     server required, weight optional
 *   PATCH {"weight": W, "state": "drain" | "ready"}          at least one of them
 * W is an integer 1..LB_WEIGHT_MAX. An unknown member, a member twice, a member of the other
 * kind of body, a value of the wrong type, a string escape (no name or state needs one),
 * or anything after the object is refused.
 *
 * The backends file: one SERVER a line, exactly as on the command line (PORT, HOST:PORT or
 * [V6]:PORT, optionally `,weight=W`), surrounded by optional spaces or tabs; `#` starts a
 * comment that runs to the end of the line; blank lines are ignored; CRLF line ends are
 * accepted. A NUL byte, a line with two words, a bad SERVER or a backend named twice (the
 * same name as the table prints it) is refused, with its line number.
 */
#ifndef LB_ADMIN_PARSE_H
#define LB_ADMIN_PARSE_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

#define LB_ADMIN_BODY_MAX 4096 /* bytes of an admin request body */

enum { LB_ADMIN_BODY_POST, LB_ADMIN_BODY_PATCH };

typedef struct lb_admin_body {
    int has_server, has_weight, has_state;
    lb_backend_spec server; /* POST: the address (its weight is `weight`, or 1) */
    int weight;             /* 1..LB_WEIGHT_MAX when has_weight */
    int drain;              /* has_state: 1 for "drain", 0 for "ready" */
} lb_admin_body;

/* Parses the n bytes at p as a body of the given kind (LB_ADMIN_BODY_*). Returns 0, or -1
 * with a one-line reason in err. */
int lb_admin_parse_body(const char *p, size_t n, int kind, lb_admin_body *out, char *err,
                        size_t errlen);

/* Parses a backends file of n bytes into out[0..max). Returns the number of backends, or -1
 * with a one-line reason in err ("line 3: ..."). */
int lb_admin_parse_file(const char *p, size_t n, lb_backend_spec *out, int max, char *err,
                        size_t errlen);

/* The backend a path names: "/backends/HOST:PORT" or "/backends/PORT" (127.0.0.1), in the
 * first n bytes of p. Returns 0, or -1 if it names none. */
int lb_admin_parse_path(const char *p, size_t n, lb_backend_spec *out);

/* 1 if the peer address is a loopback one (127.0.0.0/8, ::1, or ::ffff:127.x.y.z). */
int lb_admin_is_loopback(const struct sockaddr *sa, socklen_t len);

#endif
