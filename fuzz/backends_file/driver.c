/* fuzz/backends_file - the --backends-file parser (lb_admin_parse_file).
 *
 * The input is the file. Invariants: the answer is -1 or a count 0..LB_MAX_BACKENDS; a
 * failure leaves a one-line, printable reason that names its line; a success holds backends
 * with ports 1..65535, hosts of 1..LB_HOST_MAX-1 bytes and weights 1..LB_WEIGHT_MAX, no
 * two alike; the same bytes give the same answer; with room for fewer backends the answer
 * is the same count when they fit and a failure when they do not.
 */
#include "admin_parse.h"
#include "fuzz_entry.h"

static lb_backend_spec a[LB_MAX_BACKENDS], b[LB_MAX_BACKENDS];

static void fuzz_one(const uint8_t *data, size_t len)
{
    const char *p = (const char *)data;
    char err_a[256], err_b[256];
    memset(err_a, 'x', sizeof err_a);
    int n = lb_admin_parse_file(p, len, a, LB_MAX_BACKENDS, err_a, sizeof err_a);
    FUZZ_CHECK(n >= -1 && n <= LB_MAX_BACKENDS);
    FUZZ_CHECK(lb_admin_parse_file(p, len, b, LB_MAX_BACKENDS, err_b, sizeof err_b) == n);
    if (n < 0) {
        size_t m = strnlen(err_a, sizeof err_a);
        FUZZ_CHECK(m > 5 && m < sizeof err_a && memcmp(err_a, "line ", 5) == 0);
        for (size_t i = 0; i < m; i++)
            FUZZ_CHECK((unsigned char)err_a[i] >= 0x20 && err_a[i] != 0x7f);
        FUZZ_CHECK(strcmp(err_a, err_b) == 0);
        return;
    }
    for (int i = 0; i < n; i++) {
        size_t h = strnlen(a[i].host, LB_HOST_MAX);
        FUZZ_CHECK(h > 0 && h < LB_HOST_MAX);
        FUZZ_CHECK(a[i].port >= 1 && a[i].port <= 65535);
        FUZZ_CHECK(a[i].weight >= 1 && a[i].weight <= LB_WEIGHT_MAX);
        FUZZ_CHECK(memcmp(&a[i], &b[i], sizeof a[i]) == 0);
        for (int j = 0; j < i; j++)
            FUZZ_CHECK(a[i].port != a[j].port || strcmp(a[i].host, a[j].host) != 0);
    }
    int small = lb_admin_parse_file(p, len, b, 2, NULL, 0);
    FUZZ_CHECK(n <= 2 ? small == n : small == -1);
}
