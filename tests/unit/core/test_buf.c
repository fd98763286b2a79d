/* Unit tests for buf.c: growth, compaction, release, fd round trips. */
#include "buf.h"
#include "check.h"

#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    lb_buf b = LB_BUF_INIT;
    CHECK(lb_buf_len(&b) == 0 && b.data == NULL);
    CHECK(lb_buf_append(&b, "hello", 5) == 0);
    CHECK(lb_buf_len(&b) == 5 && memcmp(lb_buf_head(&b), "hello", 5) == 0);
    size_t cap = b.cap;
    lb_buf_consume(&b, 2);
    CHECK(lb_buf_len(&b) == 3 && memcmp(lb_buf_head(&b), "llo", 3) == 0);
    /* Reserving what fits after compaction must not grow the buffer. */
    CHECK(lb_buf_reserve(&b, cap - 3) == 0);
    CHECK(b.cap == cap && b.start == 0 && memcmp(lb_buf_head(&b), "llo", 3) == 0);
    lb_buf_release(&b); /* not empty: kept */
    CHECK(b.data != NULL);
    lb_buf_consume(&b, 3);
    CHECK(b.start == 0 && b.end == 0);
    lb_buf_release(&b);
    CHECK(b.data == NULL && b.cap == 0);

    char *big = malloc(100000);
    for (int i = 0; i < 100000; i++)
        big[i] = (char)(i * 7);
    CHECK(lb_buf_append(&b, big, 100000) == 0);
    CHECK(lb_buf_len(&b) == 100000 && memcmp(lb_buf_head(&b), big, 100000) == 0);
    lb_buf_free(&b);

    int fds[2];
    CHECK(pipe(fds) == 0);
    CHECK(lb_buf_append(&b, "abcdef", 6) == 0);
    CHECK(lb_buf_write_fd(&b, fds[1]) == 6 && lb_buf_len(&b) == 0);
    CHECK(lb_buf_read_fd(&b, fds[0], 4) == 4 && memcmp(lb_buf_head(&b), "abcd", 4) == 0);
    CHECK(lb_buf_read_fd(&b, fds[0], 100) == 2 && lb_buf_len(&b) == 6);
    close(fds[1]);
    CHECK(lb_buf_read_fd(&b, fds[0], 100) == 0);
    close(fds[0]);
    lb_buf_free(&b);
    free(big);
    /* Cut moves the bytes before the cut, insert uses the room that left. */
    lb_buf e = LB_BUF_INIT;
    CHECK(lb_buf_append(&e, "0123456789", 10) == 0);
    const char *tail = lb_buf_head(&e) + 6;
    lb_buf_cut(&e, 3, 3); /* drops "345" */
    CHECK(lb_buf_len(&e) == 7 && memcmp(lb_buf_head(&e), "0126789", 7) == 0);
    CHECK(lb_buf_head(&e) + 3 == tail && e.start == 3);
    CHECK(lb_buf_insert(&e, 2, "ab", 2) == 0);
    CHECK(lb_buf_len(&e) == 9 && memcmp(lb_buf_head(&e), "01ab26789", 9) == 0);
    CHECK(lb_buf_head(&e) + 5 == tail && e.start == 1);
    CHECK(lb_buf_insert(&e, 9, "XYZ", 3) == 0); /* no room before: the tail side moves */
    CHECK(lb_buf_len(&e) == 12 && memcmp(lb_buf_head(&e), "01ab26789XYZ", 12) == 0);
    lb_buf_cut(&e, 0, 12);
    CHECK(lb_buf_len(&e) == 0 && e.start == 0);
    lb_buf_free(&e);
    return CHECK_RESULT();
}
