/* filecache.h - a worker's cache of the small files it serves, validated on every use.
 *
 * What it saves: a GET of a small file costs open, fstat, pread and close without it; with
 * it, at most one fstatat of the name (and a pread until the bytes may be kept, see below).
 * This is nginx's open_file_cache with the validity check made for every request instead
 * of once a minute, so what is served is what a fresh open would serve:
 * - an entry is used only when fstatat(name) reports the same device, inode, size, mode,
 *   owner, mtime and ctime as the fd it holds: a PUT (a new inode renamed over the name),
 *   an outside writer (rename, in-place write, truncate, chmod, chown, unlink) all change
 *   one of them, and a miss takes the ordinary path (fs_file_open_read), so every status
 *   (404, 403, 500) is decided exactly as without the cache;
 * - one such stat serves every request that the worker had read in full before the stat
 *   began: the client sent it before that, so whatever it (or anyone before it) changed
 *   was done before the stat looked. The caller numbers its reads; a request carries the
 *   number of reads done when its head was complete, an entry the number done when it was
 *   last checked. A worker that answers a round's requests after reading them all
 *   (conn.c) stats each file once per round instead of once per request;
 * - the bytes are read from the cached fd (pread: an in-place write is seen at once) until
 *   the file's ctime is FS_FCACHE_SETTLE_NS older than the clock read before the stat that
 *   validated them; from then on a copy in memory is served. Any later change sets the
 *   ctime to the current (coarse) time, which can no longer equal the stored one, so the
 *   copy is dropped by the next validation. The settle time covers coarse timestamps (a
 *   jiffy, or 2 s on file systems with 2 s granularity): two changes inside one tick could
 *   leave ctime and size alike, and a young file is therefore always re-read.
 * Limits: files up to FS_FCACHE_MAX_FILE bytes (bigger ones stream by sendfile from a fd
 * opened per request), FS_FCACHE_SLOTS names per worker (least recently used goes), so at
 * most that many fds and bytes held per worker. A wall clock stepped backwards by more than
 * the settle time, or a network file system whose attributes are cached, can defeat the
 * check; the course runs on a local directory.
 * Ownership: the cache is embedded in its worker and used by that worker's thread only; it
 * owns its fds and copies; fs_fcache_clear() releases them.
 */
#ifndef FS_FILECACHE_H
#define FS_FILECACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "files.h"

#define FS_FCACHE_SLOTS 8
#define FS_FCACHE_MAX_FILE 16384
#define FS_FCACHE_SETTLE_NS 3000000000LL

typedef struct fs_fcache_entry {
    char name[FS_NAME_MAX + 1]; /* "" when the slot is free */
    int fd;
    struct stat st;    /* of fd, when it was opened */
    char *copy;        /* st.st_size bytes, or NULL while they are read from fd */
    uint64_t checked;  /* the caller's read count when st was last found current */
    uint64_t last_use; /* for the least-recently-used choice */
} fs_fcache_entry;

typedef struct fs_fcache {
    fs_fcache_entry slot[FS_FCACHE_SLOTS];
    uint64_t clock; /* counts lookups */
} fs_fcache;

/* A file to answer a read with. */
typedef struct fs_file_ref {
    int fd;           /* open on the file */
    bool owned;       /* the caller closes fd; else the cache does, and fd is valid only
                       * until the next call on the cache */
    uint64_t size;    /* bytes of the file */
    const char *copy; /* size bytes in memory (valid as fd is), or NULL: read fd */
} fs_file_ref;

/* Sets up an empty cache. */
void fs_fcache_init(fs_fcache *fc);
/* Opens name (a valid name, see files.h) for reading through the cache, for a request
 * complete after read number `sent` of the caller; `reads` is the caller's count of reads
 * now. Returns 200 with *ref set, else what fs_file_open_read returns (403/404/500). */
int fs_fcache_open(fs_fcache *fc, int dirfd, const char *name, uint64_t sent, uint64_t reads,
                   fs_file_ref *ref);
/* 1 when opening name for a request complete after read `sent` would take a stat of a
 * cached entry (a caller may then gather such requests and stat once for all). Pure. */
bool fs_fcache_needs_check(const fs_fcache *fc, const char *name, uint64_t sent);
/* Closes every fd and frees every copy; the cache is empty and usable again. */
void fs_fcache_clear(fs_fcache *fc);

#endif
