/* courselog.h - the course log (-l FILE / -L) and the ERRORS/TOTAL counts it keeps.
 *
 * Entry formats (each ends with a line "========"):
 *   success:  "METHOD /name length N\n", then the body as hex lines, then "========\n"
 *             (HEAD: the first line and "========\n" only)
 *   failure:  "FAIL: <request line> --- response CODE\n========\n"
 * A hex line is an 8-digit zero-padded decimal offset and up to 20 " %02x" bytes.
 * TOTAL counts every entry, ERRORS the failures. With -L (count_only) nothing is written
 * but the counts move the same way.
 *
 * Concurrency: one mutex guards the file and the counts, so entries never interleave and a
 * health check reads the counts of exactly the entries before its own.
 * Return convention: 0 or -1 (errno set); the fs_log struct is owned by the caller.
 */
#ifndef FS_COURSELOG_H
#define FS_COURSELOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_LOG_BYTES_PER_LINE 20
/* Longest hex line: the offset (8 digits zero-padded, but up to 20 for offsets of 10^8 and
 * beyond: a body over 95 MiB has them), 20 * 3 chars, newline. */
#define FS_LOG_OFFSET_MAX 20
#define FS_LOG_LINE_MAX (FS_LOG_OFFSET_MAX + FS_LOG_BYTES_PER_LINE * 3 + 1)

typedef struct fs_log {
    int fd;  /* -1 when nothing is written */
    bool on; /* -l or -L: /healthcheck answers */
    uint64_t errors, total;
    pthread_mutex_t lock;
} fs_log;

/* Opens the log: path (truncated) or NULL; count_only for -L. Returns 0 or -1. */
int fs_log_open(fs_log *log, const char *path, bool count_only, uint64_t errors, uint64_t total);
void fs_log_close(fs_log *log);

/* Formats one hex line for n (1..20) bytes at offset into out (FS_LOG_LINE_MAX + 1 bytes).
 * Returns the line's length. Pure. */
size_t fs_log_hexline(char *out, uint64_t offset, const unsigned char *bytes, size_t n);
/* Formats a whole body held in memory as hex lines into out. Returns the length needed. Pure. */
size_t fs_log_hexdump(char *out, size_t outlen, const unsigned char *bytes, size_t n);

/* The lock, for a caller that must read the counts and log in one step (health checks). */
void fs_log_begin(fs_log *log);
void fs_log_end(fs_log *log);
/* With the lock held: a success entry whose body is body_len bytes from fd (pread from
 * offset 0) or from mem (fd < 0); with_body false writes only the first line (HEAD). */
int fs_log_ok_locked(fs_log *log, const char *method, const char *name, uint64_t body_len, int fd,
                     const void *mem, bool with_body);
/* With the lock held: a failure entry. line is the request line (without CRLF). */
int fs_log_fail_locked(fs_log *log, const char *line, size_t line_len, int status);

/* Locking wrappers of the two above. */
int fs_log_ok(fs_log *log, const char *method, const char *name, uint64_t body_len, int fd,
              const void *mem, bool with_body);
int fs_log_fail(fs_log *log, const char *line, size_t line_len, int status);

#endif
