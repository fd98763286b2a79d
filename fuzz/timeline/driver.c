/* fuzz/timeline - the timeline file: each line (fs_timeline_parse_line) and one step's
 * action text (fs_timeline_apply_text), e.g. "at 1.5s reset delay=200 error-rate=0.5".
 *
 * The input up to its first NUL or newline is also a step's text, applied to the default
 * faults. Invariants as for the control port: 0 or -1 with a one-line reason, untouched
 * faults on refusal, valid faults that survive a JSON round trip on success, the same text
 * gives the same faults. Then every line of the input is parsed as a line of a file: 1, 0 or
 * -1 with a one-line reason, a step's time never negative, its action text itself valid, and
 * the same line parsed twice gives the same step.
 */
#include "fuzz_faults.h"
#include "timeline.h"

static void fuzz_lines(const char *text)
{
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        fs_timeline_line a, b;
        char err[256], err2[256];
        memset(err, 0, sizeof(err));
        int rc = fs_timeline_parse_line(line, &a, err, sizeof(err));
        FUZZ_CHECK(rc == 1 || rc == 0 || rc == -1);
        fuzz_check_err(rc == -1 ? -1 : 0, err, sizeof(err), 0);
        FUZZ_CHECK(fs_timeline_parse_line(line, &b, err2, sizeof(err2)) == rc);
        if (rc == 1) {
            FUZZ_CHECK(a.when >= 0 && a.timed == b.timed && a.when == b.when);
            FUZZ_CHECK(strcmp(a.text, b.text) == 0 && !strchr(a.text, '\n'));
            fs_faults f;
            fs_faults_default(&f);
            FUZZ_CHECK(fs_timeline_apply_text(&f, a.text, err2, sizeof(err2)) == 0);
        } else if (rc == -1) {
            FUZZ_CHECK(strcmp(err, err2) == 0);
        }
        if (!nl)
            break;
        line = nl + 1;
    }
}

static void fuzz_one(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, len);
    text[len] = '\0';
    fuzz_lines(text);                 /* the input as a timeline file */
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
