/* pipes.h - a free list of pipes for splice(2) relays.
 *
 * A relay borrows a pipe for one transfer and gives it back: an empty pipe returns to the
 * list (no pipe2() and no fcntl() for the next transfer), one still holding bytes is
 * closed with them (what they belonged to failed). New pipes are sized to the list's size
 * when the kernel allows (F_SETPIPE_SZ; over the per-user quota they keep what they got).
 * Ownership: the list owns the pipes it holds; a borrower owns its pipe until it puts it
 * back. Not thread-safe: one list per event loop.
 */
#ifndef LB_CORE_PIPES_H
#define LB_CORE_PIPES_H

/* A pipe: read end, write end, capacity in bytes. Both ends are non-blocking. */
typedef struct lb_pipe {
    int rd, wr;
    int cap;
} lb_pipe;

#define LB_PIPES_MAX 64

typedef struct lb_pipes {
    lb_pipe v[LB_PIPES_MAX];
    int n;
    int size; /* asked of new pipes, in bytes */
} lb_pipes;

/* An empty list whose new pipes are asked to hold size bytes. */
void lb_pipes_init(lb_pipes *p, int size);
/* Lends a pipe: from the list, or a new one. Returns 0, or -1 with errno when no pipe can be
 * had (out of fds, or of the pipe quota): the caller goes without. */
int lb_pipes_take(lb_pipes *p, lb_pipe *out);
/* Takes a borrowed pipe back; empty: the borrower knows it holds no byte. A full list, or a
 * pipe with bytes, closes it. *pipe is reset to no pipe (-1, -1). */
void lb_pipes_put(lb_pipes *p, lb_pipe *pipe, int empty);
/* Closes every pipe the list holds (an idle loop keeps no pipe). */
void lb_pipes_close(lb_pipes *p);

#endif
