/* test_pipes.c - the splice pipe free list: an empty pipe comes back for the next borrower,
 * one that holds bytes is closed, and closing the list closes what it holds. */
#include "check.h"
#include "pipes.h"

#include <fcntl.h>
#include <unistd.h>

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

int main(void)
{
    lb_pipes p;
    lb_pipe a, b;
    lb_pipes_init(&p, 64 * 1024);
    CHECK(lb_pipes_take(&p, &a) == 0 && a.rd >= 0 && a.wr >= 0 && a.cap > 0);
    CHECK((fcntl(a.rd, F_GETFL) & O_NONBLOCK) && (fcntl(a.wr, F_GETFL) & O_NONBLOCK));
    int rd = a.rd, wr = a.wr;
    lb_pipes_put(&p, &a, 1);
    CHECK(a.rd == -1 && a.wr == -1 && p.n == 1);
    CHECK(lb_pipes_take(&p, &b) == 0 && b.rd == rd && b.wr == wr && p.n == 0); /* reused */
    CHECK(write(b.wr, "x", 1) == 1);
    lb_pipes_put(&p, &b, 0); /* holds a byte: closed, not kept */
    CHECK(p.n == 0 && !is_open(rd) && !is_open(wr));
    lb_pipes_put(&p, &b, 1); /* no pipe: nothing happens */
    CHECK(p.n == 0);
    CHECK(lb_pipes_take(&p, &a) == 0);
    rd = a.rd;
    lb_pipes_put(&p, &a, 1);
    lb_pipes_close(&p);
    CHECK(p.n == 0 && !is_open(rd));
    return CHECK_RESULT();
}
