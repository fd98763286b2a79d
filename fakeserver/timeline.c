/* timeline.c - a scenario file of fault changes at times or request counts.
 *
 * The file is read and every step checked at start (a bad line stops the server before it
 * binds), so a scenario never fails half-way. Time steps are
 * sorted and driven by one timer on the dispatcher's loop; count steps are sorted and the
 * smallest pending threshold is kept in an atomic, so workers pay one load per request.
 * Limits: 1 MiB file, 1024 steps, 1 KiB per line.
 */
#include "timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TL_MAX_STEPS 1024
#define TL_LINE_MAX FS_TIMELINE_LINE_MAX

typedef struct tl_step {
    int64_t when; /* ms after start, or a request count */
    int line;
    char text[TL_LINE_MAX]; /* the action: "reset a=1 ..." */
} tl_step;

typedef struct tl_state {
    fs_server *s;
    tl_step *timed, *counted;
    size_t ntimed, ncounted, next_timed, next_counted;
    _Atomic uint64_t threshold; /* apply counted[next_counted] before request > this */
    lb_timer timer;
} tl_state;

int fs_timeline_apply_text(fs_faults *f, const char *text, char *err, size_t errlen)
{
    char buf[TL_LINE_MAX];
    char *save = NULL;
    fs_faults copy = *f;
    snprintf(buf, sizeof(buf), "%s", text);
    for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (!strcmp(tok, "reset")) {
            uint64_t seed = copy.seed;
            fs_faults_default(&copy);
            copy.seed = seed;
            continue;
        }
        char *eq = strchr(tok, '=');
        if (!eq) {
            snprintf(err, errlen, "expected name=value or reset, got '%s'", tok);
            return -1;
        }
        *eq = '\0';
        if (fs_faults_set(&copy, tok, eq + 1, err, errlen) < 0)
            return -1;
    }
    if (fs_faults_validate(&copy, err, errlen) < 0)
        return -1;
    *f = copy;
    return 0;
}

/* "1500", "1500ms", "1.5s" -> ms. Returns 0 or -1. Times beyond a thousand years (and NaN,
 * infinities) are refused: converting them to int64_t would be undefined behaviour. */
static int parse_time(const char *t, int64_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (errno || end == t || !(v >= 0))
        return -1;
    if (!strcmp(end, "s"))
        v *= 1000;
    else if (*end && strcmp(end, "ms"))
        return -1;
    if (!(v <= 3.2e13)) /* about 1000 years in ms */
        return -1;
    *ms = (int64_t)(v + 0.5);
    return 0;
}

static int cmp_step(const void *a, const void *b)
{
    const tl_step *x = a, *y = b;
    return x->when < y->when ? -1 : x->when > y->when ? 1 : x->line - y->line;
}

int fs_timeline_parse_line(const char *text, fs_timeline_line *out, char *err, size_t errlen)
{
    char line[TL_LINE_MAX];
    snprintf(line, sizeof(line), "%s", text);
    line[strcspn(line, "#\r\n")] = '\0'; /* a comment runs to the end of the line */
    char kw[16], when[32];
    int used = 0;
    if (sscanf(line, " %15s %31s %n", kw, when, &used) < 2) {
        for (char *p = line; *p; p++)
            if (!strchr(" \t", *p)) {
                snprintf(err, errlen, "expected 'at TIME ...' or 'after N ...'");
                return -1;
            }
        return 0; /* blank */
    }
    snprintf(out->text, sizeof(out->text), "%s", line + used);
    fs_faults scratch;
    fs_faults_default(&scratch);
    char why[200];
    if (fs_timeline_apply_text(&scratch, out->text, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    out->timed = !strcmp(kw, "at");
    bool bad = out->timed ? parse_time(when, &out->when) < 0
                          : strcmp(kw, "after") || sscanf(when, "%" SCNd64, &out->when) != 1 ||
                                out->when < 0;
    if (bad) {
        snprintf(err, errlen, "bad '%s %s' (want 'at 1500', 'at 1.5s', 'at 200ms' or 'after N')",
                 kw, when);
        return -1;
    }
    return 1;
}

static int parse_line(tl_state *st, const char *line, int lineno, char *err, size_t errlen)
{
    fs_timeline_line parsed;
    int rc = fs_timeline_parse_line(line, &parsed, err, errlen);
    if (rc <= 0)
        return rc;
    tl_step *arr = parsed.timed ? st->timed : st->counted;
    size_t *n = parsed.timed ? &st->ntimed : &st->ncounted;
    if (*n >= TL_MAX_STEPS) {
        snprintf(err, errlen, "more than %d steps", TL_MAX_STEPS);
        return -1;
    }
    tl_step *step = &arr[(*n)++];
    step->when = parsed.when;
    step->line = lineno;
    memcpy(step->text, parsed.text, sizeof(step->text));
    return 0;
}

static int load(tl_state *st, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "cannot read timeline %s: %s", path, strerror(errno));
        return -1;
    }
    char line[TL_LINE_MAX];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), fp)) {
        lineno++;
        char why[256];
        if (parse_line(st, line, lineno, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
        }
    }
    fclose(fp);
    qsort(st->timed, st->ntimed, sizeof(tl_step), cmp_step);
    qsort(st->counted, st->ncounted, sizeof(tl_step), cmp_step);
    return rc;
}

static void apply_step(fs_server *s, const tl_step *step)
{
    fs_faults f;
    char err[200];
    fs_server_faults(s, &f, NULL);
    if (fs_timeline_apply_text(&f, step->text, err, sizeof(err)) == 0)
        fs_server_set_faults(s, &f);
}

static void arm(tl_state *st)
{
    if (st->next_timed >= st->ntimed)
        return;
    int64_t left = st->s->start_ms + st->timed[st->next_timed].when - lb_now_ms();
    lb_timer_start(st->s->loop, &st->timer, left > 0 ? left : 0);
}

static void on_timer(lb_loop *loop, lb_timer *t, void *data)
{
    tl_state *st = data;
    int64_t now = lb_now_ms() - st->s->start_ms;
    while (st->next_timed < st->ntimed && st->timed[st->next_timed].when <= now)
        apply_step(st->s, &st->timed[st->next_timed++]);
    arm(st);
}

int fs_timeline_start(fs_server *s, const char *path, char *err, size_t errlen)
{
    tl_state *st = calloc(1, sizeof(*st));
    if (st) {
        st->timed = calloc(TL_MAX_STEPS, sizeof(tl_step));
        st->counted = calloc(TL_MAX_STEPS, sizeof(tl_step));
    }
    if (!st || !st->timed || !st->counted) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    st->s = s;
    if (load(st, path, err, errlen) < 0)
        goto fail;
    atomic_store(&st->threshold, st->ncounted ? (uint64_t)st->counted[0].when : UINT64_MAX);
    lb_timer_init(&st->timer, on_timer, st);
    s->timeline = st;
    arm(st);
    return 0;
fail:
    if (st) {
        free(st->timed);
        free(st->counted);
    }
    free(st);
    return -1;
}

void fs_timeline_stop(fs_server *s)
{
    tl_state *st = s->timeline;
    if (!st)
        return;
    lb_timer_stop(s->loop, &st->timer);
    free(st->timed);
    free(st->counted);
    free(st);
    s->timeline = NULL;
}

void fs_timeline_on_request(fs_server *s, uint64_t seq)
{
    tl_state *st = s->timeline;
    if (!st || seq <= atomic_load(&st->threshold))
        return;
    bool changed = false;
    pthread_mutex_lock(&s->faults_lock);
    while (st->next_counted < st->ncounted && (uint64_t)st->counted[st->next_counted].when < seq) {
        char err[200];
        if (fs_timeline_apply_text(&s->faults, st->counted[st->next_counted].text, err,
                                   sizeof(err)) == 0)
            changed = true;
        st->next_counted++;
    }
    if (changed)
        atomic_store(&s->generation_seen, ++s->generation);
    atomic_store(&st->threshold, st->next_counted < st->ncounted
                                     ? (uint64_t)st->counted[st->next_counted].when
                                     : UINT64_MAX);
    pthread_mutex_unlock(&s->faults_lock);
    if (changed) {
        atomic_store(&s->listen_dirty, 1);
        lb_loop_wake(s->loop);
    }
}
