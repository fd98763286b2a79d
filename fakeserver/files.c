/* files.c - the course's file semantics on one directory fd.
 *
 * Reads open the file first and fstat the open fd, so the size, the mode and the bytes all
 * belong to one inode even while a PUT renames a new file over the name. Writes go to a
 * temporary file and renameat() over the target: atomic on one file system.
 * Limits: regular files only (anything else is a 403).
 */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint_fast64_t tmp_counter;

bool fs_name_valid(const char *target, size_t len)
{
    if (len < 2 || len > FS_NAME_MAX + 1 || target[0] != '/')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = target[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

int fs_file_open_stat(int dirfd, const char *name, int *fd, struct stat *st)
{
    *fd = -1;
    /* open first, then judge the open inode: root opens anything, so the owner's bits are
     * checked on fstat; a directory opens read-only and is refused as non-regular */
    int f = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (f < 0)
        return errno == ENOENT || errno == ENOTDIR ? 404 : errno == EACCES ? 403 : 500;
    if (fstat(f, st) < 0 || !S_ISREG(st->st_mode) || !(st->st_mode & S_IRUSR)) {
        close(f);
        return 403;
    }
    *fd = f;
    return 200;
}

int fs_file_open_read(int dirfd, const char *name, int *fd, uint64_t *size)
{
    struct stat st;
    int rc = fs_file_open_stat(dirfd, name, fd, &st);
    if (rc == 200)
        *size = (uint64_t)st.st_size;
    return rc;
}

int fs_put_begin(fs_put *p, int dirfd, const char *name)
{
    struct stat st;
    p->dirfd = dirfd;
    p->fd = -1;
    p->mode = -1;
    snprintf(p->name, sizeof(p->name), "%s", name);
    if (fstatat(dirfd, name, &st, 0) == 0) {
        if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IWUSR))
            return 403;
        p->mode = (int)(st.st_mode & 07777);
    } else if (errno != ENOENT) {
        return errno == EACCES ? 403 : 500;
    }
    unsigned long long k = atomic_fetch_add(&tmp_counter, 1);
    snprintf(p->tmp, sizeof(p->tmp), ".fs-put.%d.%llu", (int)getpid(), k);
    p->fd = openat(dirfd, p->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (p->fd < 0)
        return errno == EACCES ? 403 : 500;
    if (p->mode >= 0)
        (void)fchmod(p->fd, (mode_t)p->mode);
    return 0;
}

int fs_put_write(fs_put *p, const void *data, size_t n)
{
    const char *c = data;
    while (n > 0) {
        ssize_t w = write(p->fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int fs_put_commit(fs_put *p)
{
    if (renameat(p->dirfd, p->tmp, p->dirfd, p->name) < 0) {
        fs_put_abort(p);
        return 500;
    }
    return 201;
}

void fs_put_close(fs_put *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

void fs_put_abort(fs_put *p)
{
    if (p->fd < 0)
        return;
    close(p->fd);
    p->fd = -1;
    unlinkat(p->dirfd, p->tmp, 0);
}
