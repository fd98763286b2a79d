/* courselog.c - writes course log entries under one lock, streaming big bodies.
 *
 * A body is dumped in slices of whole hex lines (FS_LOG_BYTES_PER_LINE bytes each), read
 * with pread so the caller's file offset is untouched and a 100 MiB body never sits in
 * memory. The lock is held for the whole entry, which is the price of never interleaving;
 * entries are written before the answer's last byte is sent, as scripts require.
 * Limits: a request line in a FAIL entry is cut at 4 KiB.
 */
#include "courselog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLICE_LINES 2048

int fs_log_open(fs_log *log, const char *path, bool count_only, uint64_t errors, uint64_t total)
{
    log->fd = -1;
    log->on = path != NULL || count_only;
    log->errors = errors;
    log->total = total;
    pthread_mutex_init(&log->lock, NULL);
    if (path) {
        log->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (log->fd < 0)
            return -1;
    }
    return 0;
}

void fs_log_close(fs_log *log)
{
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    pthread_mutex_destroy(&log->lock);
}

size_t fs_log_hexline(char *out, uint64_t offset, const unsigned char *bytes, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t len = (size_t)snprintf(out, FS_LOG_LINE_MAX + 1, "%08" PRIu64, offset);
    for (size_t i = 0; i < n && i < FS_LOG_BYTES_PER_LINE; i++) {
        out[len++] = ' ';
        out[len++] = hex[bytes[i] >> 4];
        out[len++] = hex[bytes[i] & 15];
    }
    out[len++] = '\n';
    out[len] = '\0';
    return len;
}

size_t fs_log_hexdump(char *out, size_t outlen, const unsigned char *bytes, size_t n)
{
    size_t need = 0;
    char line[FS_LOG_LINE_MAX + 1];
    for (size_t off = 0; off < n; off += FS_LOG_BYTES_PER_LINE) {
        size_t k = n - off < FS_LOG_BYTES_PER_LINE ? n - off : FS_LOG_BYTES_PER_LINE;
        size_t l = fs_log_hexline(line, off, bytes + off, k);
        if (need + l < outlen)
            memcpy(out + need, line, l);
        need += l;
    }
    if (outlen)
        out[need < outlen ? need : outlen - 1] = '\0';
    return need;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

#define SEPARATOR "========\n"
#define HEAD_MAX 128

/* Writes one entry: head, the body as hex lines (from fd by pread, or mem), separator.
 * Slice by slice, so memory stays bounded; an entry that fits one slice (most do) is a
 * single write(). */
static int write_entry(int logfd, const char *head, size_t head_len, uint64_t body_len, int fd,
                       const unsigned char *mem)
{
    size_t slice = SLICE_LINES * FS_LOG_BYTES_PER_LINE;
    unsigned char *in = fd >= 0 && body_len ? malloc(slice) : NULL;
    char *out = malloc(HEAD_MAX + SLICE_LINES * FS_LOG_LINE_MAX + sizeof(SEPARATOR));
    int rc = -1;
    if ((fd >= 0 && body_len && !in) || !out)
        goto done;
    memcpy(out, head, head_len);
    size_t len = head_len;
    uint64_t off = 0;
    do {
        size_t want = body_len - off < slice ? (size_t)(body_len - off) : slice;
        const unsigned char *src = mem ? mem + off : in;
        if (fd >= 0 && want > 0) {
            ssize_t r = pread(fd, in, want, (off_t)off);
            if (r <= 0)
                goto done; /* the file shrank: nothing sane to log */
            want = (size_t)r;
        }
        for (size_t i = 0; i < want; i += FS_LOG_BYTES_PER_LINE) {
            size_t k = want - i < FS_LOG_BYTES_PER_LINE ? want - i : FS_LOG_BYTES_PER_LINE;
            len += fs_log_hexline(out + len, off + i, src + i, k);
        }
        off += want;
        if (off >= body_len) {
            memcpy(out + len, SEPARATOR, sizeof(SEPARATOR) - 1);
            len += sizeof(SEPARATOR) - 1;
        }
        if (write_all(logfd, out, len))
            goto done;
        len = 0;
    } while (off < body_len);
    rc = 0;
done:
    free(in);
    free(out);
    return rc;
}

void fs_log_begin(fs_log *log)
{
    pthread_mutex_lock(&log->lock);
}
void fs_log_end(fs_log *log)
{
    pthread_mutex_unlock(&log->lock);
}

int fs_log_ok_locked(fs_log *log, const char *method, const char *name, uint64_t body_len, int fd,
                     const void *mem, bool with_body)
{
    log->total++;
    if (log->fd < 0)
        return 0;
    char head[HEAD_MAX];
    int n =
        snprintf(head, sizeof(head), "%.8s /%.40s length %" PRIu64 "\n", method, name, body_len);
    return write_entry(log->fd, head, (size_t)n, with_body ? body_len : 0, fd, mem);
}

int fs_log_fail_locked(fs_log *log, const char *line, size_t line_len, int status)
{
    log->total++;
    log->errors++;
    if (log->fd < 0)
        return 0;
    if (line_len > 4096)
        line_len = 4096;
    char *buf = malloc(line_len + 64);
    if (!buf)
        return -1;
    int n = snprintf(buf, line_len + 64, "FAIL: %.*s --- response %d\n========\n", (int)line_len,
                     line, status);
    int rc = write_all(log->fd, buf, (size_t)n);
    free(buf);
    return rc;
}

int fs_log_ok(fs_log *log, const char *method, const char *name, uint64_t body_len, int fd,
              const void *mem, bool with_body)
{
    fs_log_begin(log);
    int rc = fs_log_ok_locked(log, method, name, body_len, fd, mem, with_body);
    fs_log_end(log);
    return rc;
}

int fs_log_fail(fs_log *log, const char *line, size_t line_len, int status)
{
    fs_log_begin(log);
    int rc = fs_log_fail_locked(log, line, line_len, status);
    fs_log_end(log);
    return rc;
}
