/* pipes.c - the splice pipe free list (see pipes.h). */
#include "pipes.h"

#include <fcntl.h>
#include <unistd.h>

void lb_pipes_init(lb_pipes *p, int size)
{
    p->n = 0;
    p->size = size;
}

int lb_pipes_take(lb_pipes *p, lb_pipe *out)
{
    if (p->n > 0) {
        *out = p->v[--p->n];
        return 0;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    /* Over the per-user pipe quota the kernel refuses the size (EPERM) and the pipe keeps
     * what it got: ask for that instead of guessing. */
    int cap = fcntl(fds[1], F_SETPIPE_SZ, p->size);
    if (cap < 0)
        cap = fcntl(fds[1], F_GETPIPE_SZ);
    if (cap <= 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    *out = (lb_pipe){.rd = fds[0], .wr = fds[1], .cap = cap};
    return 0;
}

void lb_pipes_put(lb_pipes *p, lb_pipe *pipe, int empty)
{
    if (pipe->rd < 0)
        return;
    if (empty && p->n < LB_PIPES_MAX) {
        p->v[p->n++] = *pipe;
    } else {
        close(pipe->rd);
        close(pipe->wr);
    }
    *pipe = (lb_pipe){.rd = -1, .wr = -1, .cap = 0};
}

void lb_pipes_close(lb_pipes *p)
{
    while (p->n > 0) {
        lb_pipe *q = &p->v[--p->n];
        close(q->rd);
        close(q->wr);
    }
}
