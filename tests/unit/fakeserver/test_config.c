/* test_config.c - the command line: options anywhere, value forms, and every refusal. */
#include <string.h>

#include "check.h"
#include "config.h"

static int parse(fs_config *c, const char *line)
{
    static char buf[512];
    char *argv[32];
    int argc = 0;
    char err[256];
    snprintf(buf, sizeof(buf), "fakeserver %s", line);
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    return fs_config_parse(c, argc, argv, err, sizeof(err));
}

int main(void)
{
    fs_config c;
    CHECK(parse(&c, "8080") == 0 && c.port == 8080 && c.threads == 4 && !c.log_path &&
          c.control_port == -1 && !strcmp(c.root, "."));
    CHECK(parse(&c, "-N 7 1234 -l log -L -e 1 -t 2") == 0 && c.threads == 7 && c.port == 1234 &&
          !strcmp(c.log_path, "log") && c.log_count && c.errors == 1 && c.total == 2);
    CHECK(parse(&c, "-N3 0") == 0 && c.threads == 3 && c.port == 0);
    CHECK(parse(&c, "0 --delay 5 --error-rate=0.5 --refuse --stall=0 --control-port 0") == 0 &&
          c.faults.delay == 5 && c.faults.error_rate == 0.5 && c.faults.refuse && !c.faults.stall &&
          c.control_port == 0);
    CHECK(parse(&c, "0 --identify web1 --root /tmp --timeline t.tl") == 0 &&
          !strcmp(c.identify, "web1") && !strcmp(c.root, "/tmp") && !strcmp(c.timeline, "t.tl"));
    CHECK(parse(&c, "--help") == 0 && c.help);
    const char *bad[] = {"",
                         "1 2",
                         "-N 0 1",
                         "-N x 1",
                         "1 -N",
                         "1 -l",
                         "1 -Q",
                         "1 --nope",
                         "1 -e 5 -t 3",
                         "1 -e 5",
                         "70000",
                         "-1",
                         "1 --delay",
                         "1 --delay -2",
                         "1 --error_rate 0.1",
                         "1 --refuse=maybe",
                         "1 --control-port x",
                         "1 --root=",
                         "1 --scope-prefix x",
                         "1 -N 1025",
                         "1 -e 99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_MSG(parse(&c, bad[i]) == -1, "accepted '%s'", bad[i]);
    return CHECK_RESULT();
}
