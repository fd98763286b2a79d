/* net.c - socket helpers in the style of Redis's anet: each call either succeeds or
 * writes one line of reason into the caller's buffer and returns -1, closing anything it
 * opened on the way (one cleanup label). Every socket is non-blocking and close-on-exec.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int net_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int lb_net_parse_port(const char *text, int allow_zero)
{
    if (!text || !*text || strlen(text) > 5)
        return -1;
    int port = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        port = port * 10 + (*p - '0');
    }
    if (port > 65535 || (port == 0 && !allow_zero))
        return -1;
    return port;
}

int lb_net_parse_hostport(const char *text, char *host, size_t hostlen, int *port, char *err,
                          size_t errlen)
{
    const char *colon = strrchr(text, ':');
    const char *port_text = colon ? colon + 1 : text;
    size_t host_len = colon ? (size_t)(colon - text) : 0;
    const char *host_text = colon ? text : "127.0.0.1";
    if (!colon)
        host_len = strlen(host_text);
    if (colon && host_len == 0)
        return net_fail(err, errlen, "'%s': empty host", text);
    if (host_len >= hostlen)
        return net_fail(err, errlen, "'%s': host name too long", text);
    int p = lb_net_parse_port(port_text, 0);
    if (p < 0)
        return net_fail(err, errlen, "'%s': port must be a number from 1 to 65535", text);
    memcpy(host, host_text, host_len);
    host[host_len] = '\0';
    *port = p;
    return 0;
}

int lb_net_resolve(const char *host, int port, lb_addr *addr, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0)
        return net_fail(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
    memcpy(&addr->ss, res->ai_addr, res->ai_addrlen);
    addr->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* bind(), waiting out a port that is still held: a script that stops a server and starts
 * the next one on the same port a moment later races the old process's exit (a signal is
 * handled only once that process runs again, late on a loaded machine). As nginx does, a
 * fixed port in use is retried for a bounded time before the failure is reported. */
static int bind_patiently(int fd, const lb_addr *addr, int port)
{
    for (int waited_ms = 0;; waited_ms += LB_NET_BIND_RETRY_MS) {
        if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == 0)
            return 0;
        if (errno != EADDRINUSE || port == 0 || waited_ms >= LB_NET_BIND_WAIT_MS)
            return -1;
        struct timespec pause = {0, LB_NET_BIND_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}

int lb_net_listen(const char *host, int port, int backlog, int reuseport, char *err, size_t errlen)
{
    lb_addr addr;
    if (lb_net_resolve(host ? host : "0.0.0.0", port, &addr, err, errlen) < 0)
        return -1;
    int fd = socket(addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return net_fail(err, errlen, "socket: %s", strerror(errno));
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto error;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto error;
    if (bind_patiently(fd, &addr, port) < 0)
        goto error;
    if (listen(fd, backlog) < 0)
        goto error;
    return fd;
error:;
    int saved = errno;
    close(fd);
    return net_fail(err, errlen, "cannot listen on port %d: %s", port, strerror(saved));
}

int lb_net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int lb_net_accept(int listen_fd)
{
    int fd;
    do {
        fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int lb_net_connect(const lb_addr *addr, char *err, size_t errlen)
{
    int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return net_fail(err, errlen, "socket: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return net_fail(err, errlen, "connect: %s", strerror(saved));
    }
    return fd;
}

int lb_net_connect_result(int fd)
{
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
        return errno;
    return so_error;
}

int lb_net_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -1 : 0;
}

int lb_net_set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int lb_net_set_defer_accept(int fd, int seconds)
{
    return setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof(seconds));
}

void lb_net_close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

const char *lb_net_format(const lb_addr *addr, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (addr->ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&addr->ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(out, outlen, "%s:%d", host, port);
    } else if (addr->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr->ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(out, outlen, "[%s]:%d", host, port);
    } else {
        snprintf(out, outlen, "?");
    }
    return out;
}
