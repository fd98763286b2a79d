/* fuzz_entry.h - the three ways a fuzz driver is built, from one source.
 *
 * A driver defines
 *     static void fuzz_one(const uint8_t *data, size_t len);
 * and then includes this header, which supplies the entry point chosen at build time:
 *   LB_FUZZ_AFL        AFL++ persistent mode: test cases arrive in shared memory
 *                      (__AFL_FUZZ_TESTCASE_BUF) and run in a __AFL_LOOP; given file or
 *                      directory arguments the binary replays them instead.
 *   LB_FUZZ_LIBFUZZER  LLVMFuzzerTestOneInput for clang -fsanitize=fuzzer.
 *   LB_FUZZ_REPLAY     main() that runs every file named (directories: every regular file in
 *                      them, in name order); no argument means stdin. Used by CTest.
 *
 * Every flavour hands fuzz_one a copy of the input that ends exactly at a PROT_NONE page
 * (fuzz_guard_place), so a parser reading one byte past the end crashes even in builds
 * without AddressSanitizer. Invariant failures go through FUZZ_CHECK, which prints the
 * broken condition and aborts: the fuzzer records the input as a crash.
 */
#ifndef LB_FUZZ_ENTRY_H
#define LB_FUZZ_ENTRY_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_MAX_INPUT (1u << 20) /* longer inputs are cut to this length */

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void fuzz_one(const uint8_t *data, size_t len);

static char *fuzz_guard_end;

/* Copies data so that it ends at an unreadable page; returns the copy. */
static const uint8_t *fuzz_guard_place(const uint8_t *data, size_t len)
{
    if (!fuzz_guard_end) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t room = (FUZZ_MAX_INPUT + page - 1) / page * page;
        char *base =
            mmap(NULL, room + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED || mprotect(base + room, page, PROT_NONE) != 0) {
            perror("fuzz guard page");
            abort();
        }
        fuzz_guard_end = base + room;
    }
    memcpy(fuzz_guard_end - len, data, len);
    return (const uint8_t *)fuzz_guard_end - len;
}

static void fuzz_run(const uint8_t *data, size_t len)
{
    if (len > FUZZ_MAX_INPUT)
        len = FUZZ_MAX_INPUT;
    fuzz_one(fuzz_guard_place(data, len), len);
}

#if defined(LB_FUZZ_LIBFUZZER)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_run(data, len);
    return 0;
}

#else /* AFL and replay both replay files given on the command line */

static int fuzz_replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    size_t len = buf ? fread(buf, 1, FUZZ_MAX_INPUT, f) : 0;
    int failed = !buf || ferror(f);
    fclose(f);
    if (!failed)
        fuzz_run(buf, len);
    free(buf);
    return failed ? -1 : 0;
}

static int fuzz_name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays a file, or every regular file directly inside a directory. Returns files run. */
static long fuzz_replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return fuzz_replay_file(path) == 0 ? 1 : -1;
    struct dirent **names;
    int n = scandir(path, &names, NULL, fuzz_name_cmp);
    if (n < 0)
        return -1;
    long count = 0;
    for (int i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            fprintf(stderr, "replay %s\n", full);
            count += fuzz_replay_file(full) == 0 ? 1 : 0;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

static int fuzz_replay_main(int argc, char **argv)
{
    long total = 0;
    for (int i = 1; i < argc; i++) {
        long n = fuzz_replay_path(argv[i]);
        if (n < 0)
            return 1;
        total += n;
    }
    printf("%s: %ld inputs replayed, all invariants held\n", argv[0], total);
    return 0;
}

#if defined(LB_FUZZ_AFL)

__AFL_FUZZ_INIT();

int main(int argc, char **argv)
{
    if (argc > 1)
        return fuzz_replay_main(argc, argv);
#ifdef __AFL_HAVE_MANUAL_CONTROL
    __AFL_INIT();
#endif
    const uint8_t *buf = __AFL_FUZZ_TESTCASE_BUF; /* after __AFL_INIT, before the loop */
    while (__AFL_LOOP(100000)) {
        size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
        fuzz_run(buf, len);
    }
    return 0;
}

#else /* LB_FUZZ_REPLAY */

static int fuzz_replay_stdin(void)
{
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    if (!buf)
        return 1;
    size_t len = fread(buf, 1, FUZZ_MAX_INPUT, stdin);
    fuzz_run(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return fuzz_replay_main(argc, argv);
    return fuzz_replay_stdin();
}

#endif
#endif
#endif
