/* config.c - parses the course command line plus the long options.
 *
 * Validation is complete before anything is bound: a bad value, a missing argument, an
 * unknown option, no port or two ports all fail with one line of reason. Fault options are
 * delegated to faults.c's table so they share their names with the control port.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

static int parse_u64(const char *v, uint64_t *out)
{
    char *end;
    if (!v || !*v || *v == '-' || *v == '+')
        return -1;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

/* The value of a short option: attached ("-N4") or the next argument. */
static const char *short_value(int argc, char **argv, int *i)
{
    if (argv[*i][2])
        return argv[*i] + 2;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int parse_short(fs_config *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
    char opt = argv[*i][1];
    if (opt == 'L' && !argv[*i][2]) {
        c->log_count = true;
        return 0;
    }
    if (opt == 'h' && !argv[*i][2]) {
        c->help = true;
        return 0;
    }
    if (opt != 'N' && opt != 'l' && opt != 'e' && opt != 't') {
        snprintf(err, errlen, "unknown option '%s'", argv[*i]);
        return -1;
    }
    const char *v = short_value(argc, argv, i);
    uint64_t n;
    if (!v) {
        snprintf(err, errlen, "option -%c needs a value", opt);
        return -1;
    }
    if (opt == 'l') {
        c->log_path = v;
        return 0;
    }
    if (parse_u64(v, &n) || (opt == 'N' && (n < 1 || n > FS_MAX_THREADS))) {
        snprintf(err, errlen, "bad value '%s' for -%c", v, opt);
        return -1;
    }
    if (opt == 'N')
        c->threads = (int)n;
    else if (opt == 'e')
        c->errors = n;
    else
        c->total = n;
    return 0;
}

static int parse_own_long(fs_config *c, const char *name, const char *v, char *err, size_t errlen)
{
    if (!strcmp(name, "root"))
        c->root = v;
    else if (!strcmp(name, "timeline"))
        c->timeline = v;
    else if (!strcmp(name, "identify"))
        c->identify = v;
    else if (!strcmp(name, "control-bind"))
        c->control_bind = v;
    else if (!strcmp(name, "control-port")) {
        c->control_port = lb_net_parse_port(v, 1);
        if (c->control_port < 0) {
            snprintf(err, errlen, "bad value '%s' for --control-port", v);
            return -1;
        }
    } else {
        return 1;
    }
    if (!*v) {
        snprintf(err, errlen, "empty value for --%s", name);
        return -1;
    }
    return 0;
}

/* The server's own on/off options: `--name` or `--name=0|1`, never a separate value. */
static bool *own_flag(fs_config *c, const char *name)
{
    if (!strcmp(name, "ready"))
        return &c->ready;
    if (!strcmp(name, "error-bodies"))
        return &c->error_bodies;
    if (!strcmp(name, "send-continue"))
        return &c->send_continue;
    return NULL;
}

static int parse_long(fs_config *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
    char name[64];
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    if (nlen >= sizeof(name) || nlen == 0) {
        snprintf(err, errlen, "unknown option '%s'", argv[*i]);
        return -1;
    }
    memcpy(name, arg, nlen);
    name[nlen] = '\0';
    if (!strcmp(name, "help") && !eq) {
        c->help = true;
        return 0;
    }
    bool *flag = own_flag(c, name);
    if (flag) {
        if (eq && strcmp(eq + 1, "0") && strcmp(eq + 1, "1")) {
            snprintf(err, errlen, "bad value '%s' for --%s (0 or 1)", eq + 1, name);
            return -1;
        }
        *flag = !eq || eq[1] == '1';
        return 0;
    }
    int own = !strcmp(name, "root") || !strcmp(name, "timeline") || !strcmp(name, "identify") ||
              !strcmp(name, "control-port") || !strcmp(name, "control-bind");
    int kind = own ? 1 : fs_faults_known(name);
    if (!kind || strchr(name, '_')) {
        snprintf(err, errlen, "unknown option '--%s'", name);
        return -1;
    }
    const char *v = eq ? eq + 1 : NULL;
    if (!v && kind == 2)
        v = "1";
    if (!v && *i + 1 < argc)
        v = argv[++*i];
    if (!v) {
        snprintf(err, errlen, "option --%s needs a value", name);
        return -1;
    }
    if (own)
        return parse_own_long(c, name, v, err, errlen);
    return fs_faults_set(&c->faults, name, v, err, errlen);
}

static int parse_positional(fs_config *c, const char *arg, char *err, size_t errlen)
{
    if (c->port >= 0) {
        snprintf(err, errlen, "unexpected argument '%s'", arg);
        return -1;
    }
    c->port = lb_net_parse_port(arg, 1);
    if (c->port < 0) {
        snprintf(err, errlen, "bad port '%s'", arg);
        return -1;
    }
    return 0;
}

int fs_config_parse(fs_config *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->port = -1;
    c->threads = 4;
    c->root = ".";
    c->control_port = -1;
    fs_faults_default(&c->faults);
    bool have_e = false, have_t = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc;
        if (a[0] == '-' && a[1] == '-')
            rc = parse_long(c, argc, argv, &i, err, errlen);
        else if (a[0] == '-' && a[1]) {
            have_e |= a[1] == 'e';
            have_t |= a[1] == 't';
            rc = parse_short(c, argc, argv, &i, err, errlen);
        } else
            rc = parse_positional(c, a, err, errlen);
        if (rc)
            return -1;
    }
    if (c->help)
        return 0;
    if (c->port < 0) {
        snprintf(err, errlen, "missing PORT");
        return -1;
    }
    if ((have_e || have_t) && c->total < c->errors) {
        snprintf(err, errlen, "-t (%llu) must be >= -e (%llu)", (unsigned long long)c->total,
                 (unsigned long long)c->errors);
        return -1;
    }
    return fs_faults_validate(&c->faults, err, errlen);
}

void fs_config_usage(void *stream)
{
    FILE *fp = stream;
    fprintf(
        fp,
        "usage: fakeserver PORT [-N threads] [-l logfile] [-L] [-e errors] [-t total] [options]\n"
        "  PORT                           listening port (0: ephemeral, implies --ready)\n"
        "  -N N                           worker threads (default 4); N + 1 threads in all\n"
        "  -l FILE                        truncate FILE and write the course log to it\n"
        "  -L                             count as if logging, write nothing\n"
        "  -e N, -t N                     preset ERRORS and TOTAL of /healthcheck (default 0, -t "
        ">= -e)\n"
        "  --root DIR                     serve files from DIR (default .)\n"
        "  --control-port P               control API on 127.0.0.1:P (0: ephemeral; default off)\n"
        "  --control-bind ADDR            address of the control API (default 127.0.0.1; a\n"
        "                                 harness on another machine needs 0.0.0.0 or its own)\n"
        "  --timeline FILE                scheduled fault changes (see README)\n"
        "  --identify NAME                add X-Server: NAME to every answer\n"
        "  --ready                        once listening, print READY port=P control=C pid=PID\n"
        "                                 on stdout (default: silent, as the course server)\n"
        "  --error-bodies                 error answers carry their reason as a body (default:\n"
        "                                 empty, Content-Length: 0)\n"
        "  --send-continue                answer Expect: 100-continue with 100 Continue\n"
        "                                 (default: no interim answer, as the course server)\n"
        "faults (same names in the control API's JSON):\n");
    fs_faults_help(fp);
}
