/* Tiny test harness: CHECK records a failure with its location and goes on; a test
 * program returns test_summary(), non-zero when anything failed. */
#ifndef SUNG_TESTUTIL_H
#define SUNG_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/env.h"

static int test_failures, test_checks;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        test_checks++;                                                                \
        if (!(cond)) {                                                                \
            test_failures++;                                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                      \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

static int test_skips;

/* A check that cannot run here (a kernel set this CPU lacks): said, and counted in the
 * summary, so that a run that skipped something never reads as a full pass. */
#define SKIP(...)                                                                     \
    do {                                                                              \
        test_skips++;                                                                 \
        printf("SKIP %s:%d: ", __FILE__, __LINE__);                                   \
        printf(__VA_ARGS__);                                                          \
        putchar('\n');                                                               \
    } while (0)

static inline int test_summary(const char *name)
{
    if (test_skips)
        printf("%s: %d checks, %d failed, %d skipped (see SKIP lines)\n", name, test_checks, test_failures,
               test_skips);
    else
        printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures != 0;
}

/* The engine options of the environment (SUNG_ISA, SUNG_WINOGRAD, SUNG_WINOGRAD_BF16),
 * read as `sung` reads them, since the library reads none: `make test` runs test_ops
 * and test_model on each kernel set with SUNG_ISA. A bad value stops the test. */
static inline void test_env_options(void)
{
    char why[256];
    if (sung_env_options(why, sizeof why)) {
        fprintf(stderr, "FAIL: %s\n", why);
        exit(2);
    }
}

/* xorshift64*: test data only (the model's init uses its own documented PRNG) */
static uint64_t test_rng_state = 88172645463325252ull;
static inline double test_uniform(void)
{
    test_rng_state ^= test_rng_state >> 12;
    test_rng_state ^= test_rng_state << 25;
    test_rng_state ^= test_rng_state >> 27;
    return (double)((test_rng_state * 2685821657736338717ull) >> 11) * 0x1.0p-53;
}
static inline float test_randf(float lo, float hi) { return lo + (hi - lo) * (float)test_uniform(); }

/* dir/name, in one of 8 rotating buffers (so a few can be in use at once). */
static inline const char *test_path(const char *dir, const char *name)
{
    static char p[8][4096];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* The whole file at path, malloc'd (one byte more than its n bytes, for a terminator the
 * caller may set); NULL (and *n = 0) when it cannot be opened. */
static inline unsigned char *test_read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *b = NULL;
    *n = 0;
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    if (len >= 0 && (b = malloc((size_t)len + 1))) *n = fread(b, 1, (size_t)len, fp);
    fclose(fp);
    return b;
}

/* Whether the first 64 KB of dir/rel contain needle (0 when the file cannot be read). */
static inline int test_file_has(const char *dir, const char *rel, const char *needle)
{
    char buf[65536];
    FILE *f = fopen(test_path(dir, rel), "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

#endif
