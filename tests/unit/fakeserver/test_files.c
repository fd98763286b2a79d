/* test_files.c - the course name rule and the PUT temp-and-rename cycle. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "files.h"

static int valid(const char *t)
{
    return fs_name_valid(t, strlen(t));
}

int main(void)
{
    CHECK(valid("/a"));
    CHECK(valid("/Az09_-"));
    CHECK(valid("/abcdefghijklmnopqrstuvwxyz0"));   /* 27 */
    CHECK(!valid("/abcdefghijklmnopqrstuvwxyz01")); /* 28 */
    CHECK(!valid("/"));
    CHECK(!valid(""));
    CHECK(!valid("a"));
    CHECK(!valid("/a.b"));
    CHECK(!valid("/a/b"));
    CHECK(!valid("/a b"));
    CHECK(!valid("/\xc3\xa9"));
    CHECK(!fs_name_valid("/ab", 1));

    char dir[] = "/tmp/fs-unit-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    fs_put p;
    CHECK(fs_put_begin(&p, dfd, "f") == 0);
    CHECK(fs_put_write(&p, "hello", 5) == 0);
    CHECK(fs_put_commit(&p) == 201);
    fs_put_close(&p);
    int fd;
    uint64_t size = 0;
    CHECK(fs_file_open_read(dfd, "f", &fd, &size) == 200);
    CHECK(size == 5);
    close(fd);
    CHECK(fs_file_open_read(dfd, "nope", &fd, &size) == 404);
    fchmodat(dfd, "f", 0077, 0);
    CHECK(fs_file_open_read(dfd, "f", &fd, &size) == 403);
    CHECK(fs_put_begin(&p, dfd, "f") == 403);
    fchmodat(dfd, "f", 0644, 0);
    CHECK(fs_put_begin(&p, dfd, "f") == 0);
    fs_put_abort(&p);
    CHECK(faccessat(dfd, p.tmp, F_OK, 0) != 0); /* the temporary is gone */
    unlinkat(dfd, "f", 0);
    close(dfd);
    rmdir(dir);
    return CHECK_RESULT();
}
