/* test_courselog.c - hex line formatting and whole entries written to a file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "courselog.h"

static char *slurp(const char *path)
{
    static char buf[8192];
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

int main(void)
{
    char line[FS_LOG_LINE_MAX + 1];
    unsigned char bytes[45];
    for (int i = 0; i < 45; i++)
        bytes[i] = (unsigned char)(i * 7);
    CHECK(fs_log_hexline(line, 0, (const unsigned char *)"\x00\xff\x0a", 3) == 18);
    CHECK(!strcmp(line, "00000000 00 ff 0a\n"));
    fs_log_hexline(line, 12345678, bytes, 20);
    CHECK(!strncmp(line, "12345678 00 07 0e", 17));
    CHECK(strlen(line) == 8 + 20 * 3 + 1);

    /* Offsets past 99999999 (bodies over 95 MiB) widen the line: the buffer, sized exactly
     * FS_LOG_LINE_MAX + 1 on the heap so ASan sees any overflow, must still hold it. */
    char *exact = malloc(FS_LOG_LINE_MAX + 1);
    CHECK(fs_log_hexline(exact, 104857580, bytes, 20) == 9 + 20 * 3 + 1);
    CHECK(!strncmp(exact, "104857580 00 07", 15));
    CHECK(fs_log_hexline(exact, UINT64_MAX, bytes, 20) == 20 + 20 * 3 + 1);
    CHECK(strlen(exact) == FS_LOG_LINE_MAX);
    free(exact);

    char dump[512];
    size_t n = fs_log_hexdump(dump, sizeof(dump), bytes, 45);
    CHECK(n == strlen(dump));
    CHECK(strstr(dump, "\n00000020 ") != NULL);
    CHECK(strstr(dump, "\n00000040 ") != NULL);
    CHECK(fs_log_hexdump(NULL, 0, bytes, 0) == 0);

    char path[] = "/tmp/fs-log-XXXXXX";
    close(mkstemp(path));
    fs_log log;
    CHECK(fs_log_open(&log, path, false, 1, 2) == 0);
    CHECK(fs_log_ok(&log, "PUT", "x", 3, -1, "abc", true) == 0);
    CHECK(fs_log_ok(&log, "HEAD", "x", 3, -1, NULL, false) == 0);
    CHECK(fs_log_fail(&log, "GET /y HTTP/1.1", 15, 404) == 0);
    CHECK(log.errors == 2 && log.total == 5);
    CHECK(!strcmp(slurp(path), "PUT /x length 3\n00000000 61 62 63\n========\n"
                               "HEAD /x length 3\n========\n"
                               "FAIL: GET /y HTTP/1.1 --- response 404\n========\n"));
    fs_log_close(&log);

    /* a body from a file descriptor, in slices */
    char data[] = "/tmp/fs-data-XXXXXX";
    int dfd = mkstemp(data);
    static unsigned char big[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)i;
    CHECK(write(dfd, big, sizeof(big)) == (ssize_t)sizeof(big));
    CHECK(fs_log_open(&log, path, false, 0, 0) == 0);
    CHECK(fs_log_ok(&log, "GET", "d", sizeof(big), dfd, NULL, true) == 0);
    fs_log_close(&log);
    FILE *fp = fopen(path, "r");
    char l[128];
    int lines = 0;
    while (fgets(l, sizeof(l), fp))
        lines++;
    fclose(fp);
    CHECK(lines == 1 + 5000 + 1);
    close(dfd);
    unlink(data);

    CHECK(fs_log_open(&log, NULL, true, 0, 0) == 0 && log.on && log.fd < 0);
    CHECK(fs_log_ok(&log, "GET", "x", 1, -1, "a", true) == 0 && log.total == 1);
    fs_log_close(&log);
    unlink(path);
    return CHECK_RESULT();
}
