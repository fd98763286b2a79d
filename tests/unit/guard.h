/* guard.h - inputs that end exactly at an unreadable page (picohttpparser's habit).
 *
 * guard_init() maps GUARD_READABLE_PAGES readable pages followed by one PROT_NONE page;
 * guard_place(s, len) copies s so that its last byte is the last readable one, so a parser
 * that reads a single byte too far crashes at once instead of passing by luck.
 * One test binary per file: the static state is that binary's.
 */
#ifndef LB_TESTS_GUARD_H
#define LB_TESTS_GUARD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_READABLE_PAGES 3
/* A string literal as (pointer, length), for table rows. */
#define S(lit) lit, sizeof(lit) - 1

static char *guard_page_end;
static size_t guard_page_size;

static void guard_init(void)
{
    guard_page_size = (size_t)sysconf(_SC_PAGESIZE);
    size_t readable = GUARD_READABLE_PAGES * guard_page_size;
    char *base = mmap(NULL, readable + guard_page_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED || mprotect(base + readable, guard_page_size, PROT_NONE)) {
        perror("guard page");
        exit(2);
    }
    guard_page_end = base + readable;
}

/* Copies s[0, len) so that it ends at the unreadable page; returns where it now starts. */
static const char *guard_place(const char *s, size_t len)
{
    if (len > GUARD_READABLE_PAGES * guard_page_size)
        exit(2);
    memcpy(guard_page_end - len, s, len);
    return guard_page_end - len;
}

#endif
