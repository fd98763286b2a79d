/* buf.h - a growable byte buffer with a read and a write end.
 *
 * Data lives in data[start, end). Reserving tail room compacts before it grows, so a buffer
 * used as a relay window stays at its first size. lb_buf_release() frees the storage of an
 * empty buffer, which is how an idle connection holds no buffer memory at all.
 * Ownership: the struct is embedded by the caller; lb_buf_free() releases the storage.
 */
#ifndef LB_CORE_BUF_H
#define LB_CORE_BUF_H

#include <stddef.h>
#include <sys/types.h>

typedef struct lb_buf {
    char *data;
    size_t start, end, cap;
} lb_buf;

#define LB_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

static inline char *lb_buf_head(const lb_buf *b)
{
    return b->data + b->start;
}
static inline size_t lb_buf_len(const lb_buf *b)
{
    return b->end - b->start;
}
static inline char *lb_buf_tail(const lb_buf *b)
{
    return b->data + b->end;
}
static inline size_t lb_buf_room(const lb_buf *b)
{
    return b->cap - b->end;
}

/* Ensures at least min_room bytes of tail room. Returns 0, or -1 on ENOMEM (buffer intact). */
int lb_buf_reserve(lb_buf *b, size_t min_room);
/* Marks n bytes written at the tail as data. */
void lb_buf_commit(lb_buf *b, size_t n);
/* Drops n bytes from the head; an emptied buffer rewinds to offset 0. */
void lb_buf_consume(lb_buf *b, size_t n);
/* Removes the data bytes [off, off + n) by moving the off bytes before them forward (the
 * start advances by n): the cost is off, whatever follows. Pointers into the bytes after
 * the cut stay valid; those into the bytes before it move by n. off + n <= lb_buf_len. */
void lb_buf_cut(lb_buf *b, size_t off, size_t n);
/* Inserts src[0, n) before data offset off. With n bytes of room before the data (a cut
 * leaves them) the off bytes before the point move back and the cost is off; otherwise the
 * bytes after it move forward (growing the buffer if need be). Returns 0, or -1 on ENOMEM
 * (buffer intact). Pointers into the buffer are not valid afterwards. */
int lb_buf_insert(lb_buf *b, size_t off, const void *src, size_t n);
/* Appends n bytes. Returns 0 or -1 on ENOMEM. */
int lb_buf_append(lb_buf *b, const void *src, size_t n);
/* Frees the storage if the buffer is empty (idle connections hold no memory). */
void lb_buf_release(lb_buf *b);
/* Frees the storage whatever it holds. */
void lb_buf_free(lb_buf *b);
/* Reads at most max bytes from fd into the tail room, first growing the buffer so that
 * at least min(max, 4096) bytes of room exist. Returns bytes read, 0 at EOF, or -1 with
 * errno (EAGAIN included). */
ssize_t lb_buf_read_fd(lb_buf *b, int fd, size_t max);
/* Writes the head to fd (a socket gets MSG_NOSIGNAL) and consumes what was written.
 * Returns bytes written or -1 with errno (EAGAIN and EPIPE included). */
ssize_t lb_buf_write_fd(lb_buf *b, int fd);

/* A free list of fixed-size blocks for buffers that come and go with connections: a
 * connection per request then allocates nothing. The list owns the blocks it holds; a
 * buffer owns its block until it is given back. */
typedef struct lb_blocks {
    char **v;
    int n, max;
    size_t size;
} lb_blocks;

/* Sets up a list of at most max blocks of size bytes. Returns 0, or -1 on ENOMEM. */
int lb_blocks_init(lb_blocks *bl, int max, size_t size);
/* Frees every block held (buffers keep theirs). */
void lb_blocks_free(lb_blocks *bl);
/* Reads from fd into b, a buffer holding at most limit bytes, at most bl->size bytes at a
 * time; a buffer with no storage takes a block first. Returns bytes read, 0 at EOF, or -1
 * with errno (EAGAIN when b already holds limit bytes). */
ssize_t lb_blocks_read(lb_blocks *bl, lb_buf *b, int fd, size_t limit);
/* Takes an empty buffer's storage back (kept when it is a block and there is room, else
 * freed); a buffer holding bytes is left alone. */
void lb_blocks_put(lb_blocks *bl, lb_buf *b);

#endif
