/* net.h - socket helpers: listen, accept, non-blocking connect, options.
 *
 * Every function that can fail writes a one-line reason into the caller's err buffer
 * (when err is not NULL) and returns -1; sockets are created non-blocking and close-on-exec.
 */
#ifndef LB_CORE_NET_H
#define LB_CORE_NET_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct lb_addr {
    struct sockaddr_storage ss;
    socklen_t len;
} lb_addr;

/* Resolves "host" (numeric or name) and port into addr. Returns 0 or -1. */
int lb_net_resolve(const char *host, int port, lb_addr *addr, char *err, size_t errlen);
/* Parses "PORT" (meaning 127.0.0.1) or "HOST:PORT" into host (NUL-terminated, at most
 * hostlen-1 bytes) and port 1..65535. Returns 0 or -1. Does not resolve. */
int lb_net_parse_hostport(const char *text, char *host, size_t hostlen, int *port, char *err,
                          size_t errlen);
/* Parses a decimal port 0..65535 (allow_zero) or 1..65535. Returns the port or -1. */
int lb_net_parse_port(const char *text, int allow_zero);

/* How long a fixed port still in use (a predecessor being stopped) is retried. */
#define LB_NET_BIND_WAIT_MS 2000
#define LB_NET_BIND_RETRY_MS 10

/* A listening TCP socket on host:port (host NULL: all IPv4 addresses), SO_REUSEADDR, and
 * SO_REUSEPORT when reuseport. A fixed port in use is retried for LB_NET_BIND_WAIT_MS
 * before failing (port 0 never waits). Returns the fd or -1. */
int lb_net_listen(const char *host, int port, int backlog, int reuseport, char *err, size_t errlen);
/* The local port a socket is bound to, or -1. */
int lb_net_local_port(int fd);
/* accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC. Returns the fd, or -1 with errno set
 * (EAGAIN when no connection is waiting). */
int lb_net_accept(int listen_fd);
/* Starts a non-blocking connect. Returns the fd (the connect may still be in progress:
 * wait for writability, then lb_net_connect_result) or -1. */
int lb_net_connect(const lb_addr *addr, char *err, size_t errlen);
/* After writability: 0 if the connect succeeded, else the errno it failed with. */
int lb_net_connect_result(int fd);

int lb_net_set_nonblock(int fd);
int lb_net_set_nodelay(int fd);
/* TCP_DEFER_ACCEPT on a listener: a connection is handed to accept() once its first bytes
 * arrived, or after about `seconds` (the kernel then accepts it anyway). 0, or -1/errno. */
int lb_net_set_defer_accept(int fd, int seconds);
/* Closes fd so that the peer sees RST (SO_LINGER with a zero timeout). */
void lb_net_close_reset(int fd);
/* Formats addr as "host:port" into out. Returns out. */
const char *lb_net_format(const lb_addr *addr, char *out, size_t outlen);

#endif
