/* faults.h - the fault catalogue and the pure decision: (faults, seq, request) -> action.
 *
 * fs_faults is a plain value (copyable, no pointers): the server keeps one current copy
 * behind a lock and every request takes a snapshot. Every field is described once in a
 * table (name, type, default, help) that drives the long options, the control port's JSON,
 * the --help text and the README, so a fault has one name everywhere.
 *
 * fs_faults_decide() is a pure function: the same faults, sequence number and request info
 * give the same action. Random choices come from a counter-based generator (splitmix64 of
 * seed, sequence number and a per-decision salt), never from shared state, so the same
 * --seed yields the same decisions under any thread count.
 *
 * Return convention: functions returning int give 0 on success, -1 on error with a
 * one-line reason in the caller's err buffer.
 */
#ifndef FS_FAULTS_H
#define FS_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lb_buf;

struct lb_http_header;

enum fs_scope { FS_SCOPE_ALL, FS_SCOPE_HEALTH, FS_SCOPE_OTHERS };
enum fs_crash_mode { FS_CRASH_EXIT, FS_CRASH_ABORT };
enum fs_capacity_mode { FS_CAPACITY_WAIT, FS_CAPACITY_REFUSE };

typedef struct fs_faults {
    int64_t delay;        /* ms before the response head */
    int64_t delay_jitter; /* + uniform 0..jitter ms */
    double delay_rate;    /* probability that a request is delayed (default 1) */
    int64_t slow_body;    /* answer bytes per second, 0 = full speed */
    double error_rate;    /* probability of answering error_status */
    int64_t error_status;
    double hang_rate;  /* probability of reading the request and never answering */
    double reset_rate; /* probability of an RST after reset_at answer bytes */
    int64_t reset_at;
    double truncate_rate; /* probability of a FIN after truncate_at answer bytes */
    int64_t truncate_at;
    double garbage_rate; /* probability of garbage_bytes random bytes, then close */
    int64_t garbage_bytes;
    int64_t crash_after;    /* die once the answer to in-scope request N is sent (0 = never) */
    int64_t crash_at;       /* die this many ms after start (0 = never) */
    double crash_rate;      /* probability that a request kills the process */
    int64_t crash_mode;     /* enum fs_crash_mode */
    int64_t crash_status;   /* exit status in exit mode */
    bool refuse;            /* listener closed: connections are refused */
    bool stall;             /* listening, never accepting */
    int64_t slow_read;      /* request body bytes per second read, 0 = full speed */
    int64_t capacity;       /* requests served at once, 0 = unlimited */
    int64_t capacity_mode;  /* enum fs_capacity_mode */
    int64_t health_status;  /* 0 = normal, else this status for GET /healthcheck */
    int64_t health_delay;   /* ms before the health answer */
    bool health_malformed;  /* a body that is not ERRORS\nTOTAL */
    int64_t health_errors;  /* -1 = true count, else reported ERRORS */
    int64_t health_total;   /* -1 = true count, else reported TOTAL */
    int64_t health_flap;    /* period in ms: healthy the first half, 500 the second */
    int64_t scope;          /* enum fs_scope, for the request faults */
    char scope_method[16];  /* "" = any */
    char scope_prefix[64];  /* "" = any */
    char scope_header[128]; /* "Name" (present) or "Name: value" (equal); "" = any */
    bool no_keepalive;      /* close the connection after every answer */
    bool fault_header;      /* add X-Fault: KIND to answers a fault touched */
    uint64_t seed;
    /* TCP level (faultproxy --tcp): "up" is client to upstream, "down" upstream to client */
    int64_t tcp_latency_up, tcp_latency_down;     /* ms added to every byte */
    int64_t tcp_jitter_up, tcp_jitter_down;       /* + uniform 0..MS ms, seeded */
    int64_t tcp_bandwidth_up, tcp_bandwidth_down; /* bytes/s, 0 = unlimited */
    int64_t tcp_slicer_up, tcp_slicer_down;       /* segments of at most N bytes, 0 = off */
    int64_t tcp_slicer_delay;                     /* ms between two segments */
    int64_t tcp_timeout;    /* -1 off; 0 drop all data, hold; MS: then close */
    int64_t tcp_reset_peer; /* -1 off; RST both sides MS ms after the connection began */
    int64_t tcp_limit_up, tcp_limit_down; /* close once N bytes went this way, 0 = off */
    double tcp_rate;                      /* probability that a connection gets them */
} fs_faults;

/* Kinds of faults, for counters and the X-Fault header. */
enum fs_fault_kind {
    FS_FK_DELAY,
    FS_FK_SLOW_BODY,
    FS_FK_ERROR,
    FS_FK_HANG,
    FS_FK_RESET,
    FS_FK_TRUNCATE,
    FS_FK_GARBAGE,
    FS_FK_CRASH,
    FS_FK_SLOW_READ,
    FS_FK_CAPACITY,
    FS_FK_HEALTH,
    FS_FK_COUNT
};
const char *fs_fault_kind_name(int kind);

/* What the request path must do. Zero means "no fault": serve normally. */
typedef struct fs_action {
    int64_t delay_ms;
    int status; /* forced status (0 = the normal answer) */
    bool hang;
    bool crash_now;    /* die before answering */
    bool crash_after;  /* die once this answer is sent */
    int cut;           /* FS_CUT_* */
    int64_t cut_at;    /* answer bytes sent before the cut */
    int64_t garbage;   /* send this many random bytes instead, then close */
    int64_t body_rate; /* bytes/s for the answer, 0 = full speed */
    int64_t read_rate; /* bytes/s for the request body, 0 = full speed */
    bool close;        /* close the connection after the answer */
    bool health_malformed;
    int64_t health_errors, health_total; /* -1 = true counts */
    uint32_t kinds;                      /* bit (1 << FS_FK_*) for each fault applied */
} fs_action;

enum { FS_CUT_NONE, FS_CUT_RESET, FS_CUT_TRUNCATE };

/* How many more answer bytes an action lets go now (INT64_MAX: no limit): up to its cut,
 * and at body_rate bytes/s since t0_ms once the head (head_len bytes, plus one byte at
 * once) went out. sent: answer bytes sent so far. The fakeserver's and the proxy's pacing. */
int64_t fs_action_allowance(const fs_action *act, int64_t head_len, int64_t sent, int64_t t0_ms,
                            int64_t now_ms);

typedef struct fs_request_info {
    uint64_t seq;        /* 1 for the first request the process saw */
    uint64_t scoped_seq; /* the same count among requests in scope (0: not in scope) */
    bool health;         /* GET /healthcheck */
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int64_t uptime_ms;                    /* ms since start, for flapping */
    const struct lb_http_header *headers; /* the request's fields, for scope-header */
    size_t num_headers;
} fs_request_info;

/* The defaults: no fault at all. */
void fs_faults_default(fs_faults *f);

/* Sets one field by its name ("delay", "error-rate", ...; '_' accepted for '-') from text.
 * Booleans accept 1/0/true/false/on/off; enums their names. Returns 0 or -1. */
int fs_faults_set(fs_faults *f, const char *name, const char *value, char *err, size_t errlen);
/* Sets one field back to its default. Returns 0 or -1 (unknown name). */
int fs_faults_reset_field(fs_faults *f, const char *name, char *err, size_t errlen);
/* 1 if name is a fault field, 2 if it is a boolean one, 0 otherwise. */
int fs_faults_known(const char *name);
/* Cross-field checks (e.g. nothing negative). Returns 0 or -1. */
int fs_faults_validate(const fs_faults *f, char *err, size_t errlen);

/* Writes f as a JSON object into out. Returns the length that was needed (snprintf style). */
size_t fs_faults_json(const fs_faults *f, char *out, size_t outlen);
/* Writes one "  --name VALUE   help (default D)" line per field, for --help. */
void fs_faults_help(void *stream);

/* 1 if the request is in the faults' scope (scope, scope-method, scope-prefix,
 * scope-header). Pure. */
bool fs_faults_in_scope(const fs_faults *f, const fs_request_info *req);
/* 1 if the request has a field matching spec: "Name" (any value) or "Name: value" (the
 * name case-insensitive, the value exactly, surrounding blanks ignored). Pure. */
bool fs_faults_header_match(const char *spec, const fs_request_info *req);

/* The decision. Pure: depends only on its arguments. */
void fs_faults_decide(const fs_faults *f, const fs_request_info *req, fs_action *out);

/* The counter-based generator: a uniform double in [0, 1) for (seed, seq, salt). */
double fs_faults_random(uint64_t seed, uint64_t seq, uint64_t salt);
uint64_t fs_faults_random_u64(uint64_t seed, uint64_t seq, uint64_t salt);

/* The `garbage` fault's answer (the fakeserver's and the fault proxy's): appends `bytes`
 * bytes drawn for request seq from seed to out. Returns 0, or -1 when out could not grow. */
int fs_faults_garbage(struct lb_buf *out, uint64_t seed, uint64_t seq, int64_t bytes);

#endif
