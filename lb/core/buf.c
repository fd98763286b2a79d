/* buf.c - byte buffers that compact before they grow and can be released when empty.
 *
 * Invariants: start <= end <= cap; data is NULL exactly when cap is 0. An emptied buffer
 * rewinds to offset 0 so the whole capacity is room again without a copy. Growth doubles
 * (starting at LB_BUF_MIN) so appends are amortised O(1). Failure to grow leaves the buffer
 * as it was: the caller decides what running out of memory means for its connection.
 */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LB_BUF_MIN 4096

int lb_buf_reserve(lb_buf *b, size_t min_room)
{
    if (lb_buf_room(b) >= min_room)
        return 0;
    size_t len = lb_buf_len(b);
    if (b->start > 0 && b->cap - len >= min_room) {
        memmove(b->data, b->data + b->start, len);
        b->start = 0;
        b->end = len;
        return 0;
    }
    size_t cap = b->cap ? b->cap : LB_BUF_MIN;
    while (cap - len < min_room) {
        if (cap > ((size_t)-1) / 2) {
            errno = ENOMEM;
            return -1;
        }
        cap *= 2;
    }
    char *data = malloc(cap);
    if (!data)
        return -1;
    if (len)
        memcpy(data, b->data + b->start, len);
    free(b->data);
    b->data = data;
    b->start = 0;
    b->end = len;
    b->cap = cap;
    return 0;
}

void lb_buf_commit(lb_buf *b, size_t n)
{
    b->end += n;
}

void lb_buf_consume(lb_buf *b, size_t n)
{
    b->start += n;
    if (b->start >= b->end)
        b->start = b->end = 0;
}

void lb_buf_cut(lb_buf *b, size_t off, size_t n)
{
    if (n == 0)
        return;
    memmove(b->data + b->start + n, b->data + b->start, off);
    b->start += n;
    if (b->start >= b->end)
        b->start = b->end = 0;
}

int lb_buf_insert(lb_buf *b, size_t off, const void *src, size_t n)
{
    if (b->start >= n) {
        b->start -= n;
        memmove(b->data + b->start, b->data + b->start + n, off);
    } else {
        if (lb_buf_reserve(b, n) < 0)
            return -1;
        char *at = b->data + b->start + off;
        memmove(at + n, at, lb_buf_len(b) - off);
        b->end += n;
    }
    memcpy(b->data + b->start + off, src, n);
    return 0;
}

int lb_buf_append(lb_buf *b, const void *src, size_t n)
{
    if (lb_buf_reserve(b, n) < 0)
        return -1;
    memcpy(lb_buf_tail(b), src, n);
    b->end += n;
    return 0;
}

void lb_buf_release(lb_buf *b)
{
    if (lb_buf_len(b) == 0)
        lb_buf_free(b);
}

void lb_buf_free(lb_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

ssize_t lb_buf_read_fd(lb_buf *b, int fd, size_t max)
{
    if (max == 0) {
        errno = ENOBUFS;
        return -1;
    }
    if (lb_buf_reserve(b, max < LB_BUF_MIN ? max : LB_BUF_MIN) < 0)
        return -1;
    size_t room = lb_buf_room(b);
    ssize_t n;
    do {
        n = read(fd, lb_buf_tail(b), room < max ? room : max);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        b->end += (size_t)n;
    return n;
}

ssize_t lb_buf_write_fd(lb_buf *b, int fd)
{
    if (lb_buf_len(b) == 0)
        return 0;
    ssize_t n;
    do {
        /* MSG_NOSIGNAL: a peer that went away is an EPIPE for the caller, not a signal. */
        n = send(fd, lb_buf_head(b), lb_buf_len(b), MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, lb_buf_head(b), lb_buf_len(b));
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        lb_buf_consume(b, (size_t)n);
    return n;
}

int lb_blocks_init(lb_blocks *bl, int max, size_t size)
{
    bl->v = calloc((size_t)max, sizeof *bl->v);
    bl->n = 0;
    bl->max = max;
    bl->size = size;
    return bl->v ? 0 : -1;
}

void lb_blocks_free(lb_blocks *bl)
{
    while (bl->n > 0)
        free(bl->v[--bl->n]);
    free(bl->v);
    bl->v = NULL;
}

ssize_t lb_blocks_read(lb_blocks *bl, lb_buf *b, int fd, size_t limit)
{
    size_t len = lb_buf_len(b);
    if (len >= limit) {
        errno = EAGAIN;
        return -1;
    }
    if (!b->data && bl->n > 0) {
        b->data = bl->v[--bl->n];
        b->cap = bl->size;
        b->start = b->end = 0;
    }
    size_t want = limit - len < bl->size ? limit - len : bl->size;
    if (lb_buf_room(b) < want && lb_buf_reserve(b, want) < 0)
        return -1;
    ssize_t n;
    do {
        n = recv(fd, lb_buf_tail(b), want, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        b->end += (size_t)n;
    return n;
}

void lb_blocks_put(lb_blocks *bl, lb_buf *b)
{
    if (!b->data || lb_buf_len(b) != 0)
        return;
    if (b->cap == bl->size && bl->n < bl->max)
        bl->v[bl->n++] = b->data;
    else
        free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}
