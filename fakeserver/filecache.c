/* filecache.c - the per-worker cache of small files (see filecache.h for the rules).
 *
 * A handful of slots searched linearly (a worker serves few names at once; eight string
 * compares cost less than one system call). A hit costs one fstatat, or nothing when the
 * entry was checked after the request had arrived; a miss, or a stale entry, goes through
 * fs_file_open_stat exactly as an uncached read, and only its success is remembered.
 */
#include "filecache.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Everything that a new inode under the name, a write, a truncation, a chmod or a chown
 * moves: equal means the fd still holds what opening the name would give. */
static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mode == b->st_mode && a->st_uid == b->st_uid && a->st_gid == b->st_gid &&
           same_time(a->st_mtim, b->st_mtim) && same_time(a->st_ctim, b->st_ctim);
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void slot_drop(fs_fcache_entry *e)
{
    if (e->fd >= 0)
        close(e->fd);
    free(e->copy);
    e->fd = -1;
    e->copy = NULL;
    e->name[0] = '\0';
}

void fs_fcache_init(fs_fcache *fc)
{
    memset(fc, 0, sizeof(*fc));
    for (int i = 0; i < FS_FCACHE_SLOTS; i++)
        fc->slot[i].fd = -1;
}

void fs_fcache_clear(fs_fcache *fc)
{
    for (int i = 0; i < FS_FCACHE_SLOTS; i++)
        slot_drop(&fc->slot[i]);
}

static fs_fcache_entry *slot_find(const fs_fcache *fc, const char *name)
{
    for (int i = 0; i < FS_FCACHE_SLOTS; i++)
        if (fc->slot[i].name[0] && !strcmp(fc->slot[i].name, name))
            return (fs_fcache_entry *)&fc->slot[i];
    return NULL;
}

bool fs_fcache_needs_check(const fs_fcache *fc, const char *name, uint64_t sent)
{
    const fs_fcache_entry *e = slot_find(fc, name);
    return e && sent > e->checked;
}

/* A free slot, else the least recently used one (emptied). */
static fs_fcache_entry *slot_take(fs_fcache *fc)
{
    fs_fcache_entry *v = &fc->slot[0];
    for (int i = 0; i < FS_FCACHE_SLOTS && v->name[0]; i++)
        if (!fc->slot[i].name[0] || fc->slot[i].last_use < v->last_use)
            v = &fc->slot[i];
    slot_drop(v);
    return v;
}

/* Keeps the bytes in memory once the file has settled: its ctime is older than the clock
 * read before the stat that validated e by the settle time (filecache.h says why). */
static void settle(fs_fcache_entry *e, int64_t before_stat_ns)
{
    int64_t ctime_ns = (int64_t)e->st.st_ctim.tv_sec * 1000000000 + e->st.st_ctim.tv_nsec;
    if (e->copy || before_stat_ns - ctime_ns < FS_FCACHE_SETTLE_NS)
        return;
    size_t n = (size_t)e->st.st_size;
    char *p = malloc(n ? n : 1);
    if (p && pread(e->fd, p, n, 0) == (ssize_t)n) {
        e->copy = p;
        return;
    }
    free(p); /* the file shrank under us: read it from the fd, the next stat will tell */
}

static void ref_from(fs_file_ref *ref, const fs_fcache_entry *e)
{
    ref->fd = e->fd;
    ref->owned = false;
    ref->size = (uint64_t)e->st.st_size;
    ref->copy = e->copy;
}

int fs_fcache_open(fs_fcache *fc, int dirfd, const char *name, uint64_t sent, uint64_t reads,
                   fs_file_ref *ref)
{
    struct stat st;
    fs_fcache_entry *e = slot_find(fc, name);
    fc->clock++;
    if (e && sent <= e->checked) { /* checked after this request had arrived */
        e->last_use = fc->clock;
        ref_from(ref, e);
        return 200;
    }
    int64_t t = wall_ns();
    if (e) {
        if (fstatat(dirfd, name, &st, 0) == 0 && same_file(&st, &e->st)) {
            e->last_use = fc->clock;
            e->checked = reads;
            settle(e, t);
            ref_from(ref, e);
            return 200;
        }
        slot_drop(e); /* changed or gone: the ordinary path decides */
    }
    int fd;
    int rc = fs_file_open_stat(dirfd, name, &fd, &st);
    if (rc != 200)
        return rc;
    if (st.st_size > FS_FCACHE_MAX_FILE || strlen(name) > FS_NAME_MAX) {
        ref->fd = fd;
        ref->owned = true;
        ref->size = (uint64_t)st.st_size;
        ref->copy = NULL;
        return 200;
    }
    e = slot_take(fc);
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->fd = fd;
    e->st = st;
    e->last_use = fc->clock;
    e->checked = reads;
    settle(e, t);
    ref_from(ref, e);
    return 200;
}
