/* hop.h - connection-management fields, edited in place in a buffer.
 *
 * RFC 9110 section 7.6.1: Connection, Keep-Alive and Proxy-Connection describe one
 * connection, not the message, so a proxy that keeps its own connections (a keep-alive
 * pool toward the backends) does not pass them on: it removes them and says what it does
 * with the connection it answers on. These helpers make that edit without a copy of the
 * message and without allocating: a field line is cut by moving the bytes before it (the
 * head, never the body behind it), and a line is added in the room the cuts left.
 * Ownership: the caller's buffer; nothing is kept between calls.
 */
#ifndef LB_CORE_HOP_H
#define LB_CORE_HOP_H

#include <stddef.h>

#include "buf.h"
#include "http.h"

#define LB_HOP_CLOSE "Connection: close\r\n"
#define LB_HOP_KEEP_ALIVE "Connection: keep-alive\r\n"

/* Whether the connection fields among h[0, num) can be taken over by the proxy: 0 when a
 * Connection field names an option other than close and keep-alive (Upgrade, TE, a custom
 * field), whose meaning the proxy cannot keep; such a message is relayed as it is. */
int lb_hop_can_strip(const lb_http_header *h, size_t num);

/* Removes every Connection, Keep-Alive and Proxy-Connection line from the head that starts
 * at data offset front of b (head_len bytes, with h[0, num) parsed from it where it stands),
 * then puts add[0, add_len) (one whole field line, or add NULL for none) before the head's
 * final CRLF. The front bytes move with the head and stay right before it; the bytes after
 * the head are not touched unless an addition finds no room before the data. Returns the
 * head's new length. On ENOMEM the addition is left out (the cuts stand). h is stale after. */
size_t lb_hop_edit(lb_buf *b, size_t front, size_t head_len, const lb_http_header *h, size_t num,
                   const char *add, size_t add_len);

#endif
