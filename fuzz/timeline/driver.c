/* fuzz/timeline - one timeline step's action text (fs_timeline_apply_text), e.g.
 * "reset delay=200 error-rate=0.5".
 *
 * The input up to its first NUL or newline is the text, applied to the default faults. Invariants
 * as for the control port: 0 or -1 with a one-line reason, untouched faults on refusal, valid
 * faults that survive a JSON round trip on success, the same text gives the same faults.
 */
#include "fuzz_faults.h"
#include "timeline.h"

static void fuzz_one(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, len);
    text[len] = '\0';
    text[strcspn(text, "\n")] = '\0'; /* a step is one line of the file */
    fs_faults f, before, again;
    char err[256], err2[256];
    fs_faults_default(&f);
    before = f;
    memset(err, 0, sizeof(err));
    int rc = fs_timeline_apply_text(&f, text, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1);
    fuzz_check_err(rc, err, sizeof(err), 0);
    fs_faults_default(&again);
    FUZZ_CHECK(fs_timeline_apply_text(&again, text, err2, sizeof(err2)) == rc);
    if (rc != 0) {
        FUZZ_CHECK(memcmp(&f, &before, sizeof(f)) == 0);
        FUZZ_CHECK(strcmp(err, err2) == 0);
    } else {
        FUZZ_CHECK(memcmp(&f, &again, sizeof(f)) == 0);
        fuzz_check_roundtrip(&f);
    }
    free(text);
}
