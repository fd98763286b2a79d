/* fuzz_faults.h - checks shared by the fakeserver fault-setting fuzz targets.
 *
 * After any accepted change the faults must validate, print as JSON that the control API
 * reads back to the very same faults, and a refused change must leave them untouched.
 */
#ifndef LB_FUZZ_FAULTS_H
#define LB_FUZZ_FAULTS_H

#include "control.h"
#include "faults.h"
#include "fuzz_entry.h"

#define FUZZ_JSON_MAX 16384

/* A refusal leaves a NUL-terminated reason; one line unless multi_line_ok (the control
 * port echoes a JSON key it does not know, escapes unescaped, so "\n" in a key shows). */
static inline void fuzz_check_err(int rc, const char *err, size_t cap, int multi_line_ok)
{
    if (rc == 0)
        return;
    size_t n = strnlen(err, cap);
    FUZZ_CHECK(n > 0 && n < cap);
    FUZZ_CHECK(multi_line_ok || !memchr(err, '\n', n));
}

/* Faults printed as JSON read back to the same JSON. */
static inline void fuzz_check_roundtrip(const fs_faults *f)
{
    static char json[FUZZ_JSON_MAX], again[FUZZ_JSON_MAX];
    char err[256];
    FUZZ_CHECK(fs_faults_validate(f, err, sizeof(err)) == 0);
    size_t n = fs_faults_json(f, json, sizeof(json));
    FUZZ_CHECK(n < sizeof(json));
    fs_faults g;
    fs_faults_default(&g);
    int rc = fs_control_apply_json(&g, json, n, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "json %s\nrefused: %s\n", json, err);
    FUZZ_CHECK(rc == 0);
    size_t m = fs_faults_json(&g, again, sizeof(again));
    if (m != n || memcmp(json, again, n) != 0)
        fprintf(stderr, "json  %s\nagain %s\n", json, again);
    FUZZ_CHECK(m == n && memcmp(json, again, n) == 0);
}

#endif
