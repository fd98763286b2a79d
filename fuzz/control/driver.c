/* fuzz/control - the fakeserver control port's JSON (fs_control_apply_json, fs_json_each).
 *
 * The input is a request body for PATCH /faults, applied to the default faults.
 * Invariants: 0 or -1 with a one-line reason; a refused body leaves the faults untouched;
 * an accepted one leaves faults that validate and survive a JSON round trip; the same body
 * gives the same faults again; accepted TCP-mode fields stay in their ranges and an accepted
 * scope-header has a non-empty name without blanks.
 */
#include "fuzz_faults.h"

static void fuzz_one(const uint8_t *data, size_t len)
{
    fs_faults f, before, again;
    char err[256], err2[256];
    fs_faults_default(&f);
    before = f;
    memset(err, 0, sizeof(err));
    int rc = fs_control_apply_json(&f, (const char *)data, len, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1);
    fuzz_check_err(rc, err, sizeof(err), 1);
    fs_faults_default(&again);
    FUZZ_CHECK(fs_control_apply_json(&again, (const char *)data, len, err2, sizeof(err2)) == rc);
    if (rc != 0) {
        FUZZ_CHECK(memcmp(&f, &before, sizeof(f)) == 0);
        FUZZ_CHECK(strcmp(err, err2) == 0);
        return;
    }
    FUZZ_CHECK(memcmp(&f, &again, sizeof(f)) == 0);
    FUZZ_CHECK(f.tcp_timeout >= -1 && f.tcp_reset_peer >= -1 && f.tcp_latency_up >= 0 &&
               f.tcp_bandwidth_down >= 0 && f.tcp_rate >= 0 && f.tcp_rate <= 1);
    size_t name_len = strcspn(f.scope_header, ":");
    FUZZ_CHECK(!f.scope_header[0] || (name_len > 0 && strcspn(f.scope_header, " \t") >= name_len));
    fuzz_check_roundtrip(&f);
}
