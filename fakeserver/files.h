/* files.h - GET/HEAD/PUT on the files of one directory, with the course's rules.
 *
 * Names are 1..27 characters of [A-Za-z0-9_-] after a leading '/'. Permission is judged
 * from the owner's mode bits (S_IRUSR to read, S_IWUSR to overwrite), also as root.
 * A PUT writes a temporary file in the same directory (named with a '.', which no valid
 * name contains) and renames it over the target at the end, so readers and concurrent
 * PUTs only ever see whole files.
 * Return convention: the status-returning functions give an HTTP status (200, 201, 403,
 * 404, 500); ownership of returned fds passes to the caller.
 */
#ifndef FS_FILES_H
#define FS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define FS_NAME_MAX 27

/* 1 if target is "/" followed by a valid name. Pure. */
bool fs_name_valid(const char *target, size_t len);

/* Opens name for reading. Returns 200 with *fd and *size set, else 403/404/500. */
int fs_file_open_read(int dirfd, const char *name, int *fd, uint64_t *size);
/* The same, giving the open fd's whole stat in *st. */
int fs_file_open_stat(int dirfd, const char *name, int *fd, struct stat *st);

typedef struct fs_put {
    int dirfd;
    int fd; /* the temporary file, -1 when none */
    char tmp[64];
    char name[FS_NAME_MAX + 1];
    int mode; /* mode to give the new file (the old one's, or -1) */
} fs_put;

/* Starts a PUT: 0 with the temporary file open, or 403/500 (p->fd is -1 then). */
int fs_put_begin(fs_put *p, int dirfd, const char *name);
/* Appends body bytes. Returns 0 or -1. */
int fs_put_write(fs_put *p, const void *data, size_t n);
/* Renames the temporary file over the name. Returns 201 with p->fd still open on the new
 * file (read it, then fs_put_close), or 500 with the temporary file gone. */
int fs_put_commit(fs_put *p);
/* Closes the file after a commit (safe when none). */
void fs_put_close(fs_put *p);
/* Drops the temporary file (safe when none). */
void fs_put_abort(fs_put *p);

#endif
