/* sung's benchmark: width-32 sung, the shapes of issue 4 — 512×512 and 1280×720
 * inference with 4 iterations, one training step (batch 4, 128×128, 3 iterations) —
 * median of runs after a warm-up, GFLOP/s, % of the machine's peak (measured by an FMA
 * probe, ops_peak_flops), peak resident memory. bench/run.sh runs it next to the PyTorch reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops.h"
#include "sung.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 3;
    sung_error err;
    sung_model *m;
    if (sung_model_create(&m, SUNG_SUNG, 32, 0, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double peak = ops_peak_flops();
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("{\"engine\": \"sung-c\", \"kernels\": \"%s\", \"threads\": %d, \"peak_gflops\": %.1f", sung_isa(),
           threads, peak / 1e9);
    static const int sizes[][2] = {{512, 512}, {1280, 720}};
    for (int s = 0; s < 2; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        sung_image in, out;
        sung_image_alloc(&in, w, h, &err);
        for (size_t i = 0; i < (size_t)w * h * 3; i++) in.data[i] = (float)((i * 2654435761u) >> 24) / 255.0f;
        double t[16];
        for (int r = 0; r <= runs; r++) {
            double t0 = now();
            if (sung_deblur(m, &in, 4, &out, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            if (r) t[r - 1] = now() - t0;
            sung_image_free(&out);
        }
        double med = median(t, runs), fl = sung_model_flops(m, 4, h, w);
        printf(", \"infer_%dx%d_s\": %.3f, \"infer_%dx%d_gflops\": %.1f, \"infer_%dx%d_peak_pct\": %.1f", w, h, med, w, h,
               fl / med / 1e9, w, h, 100 * fl / med / peak);
        sung_image_free(&in);
    }
    printf(", \"infer_peak_rss_mb\": %ld", peak_rss_mb());
    /* one training step: batch 4, 128×128, 3 iterations */
    int n = 4, P = 128;
    float *b = malloc(sizeof(float) * n * P * P * 3), *g = malloc(sizeof(float) * n * P * P * 3);
    for (int i = 0; i < n * P * P * 3; i++) b[i] = (i % 97) / 97.f, g[i] = (i % 89) / 89.f;
    sung_train_opts o = sung_train_defaults(m);
    double t[16];
    for (int r = 0; r <= runs; r++) {
        double t0 = now();
        if (sung_train_grads(m, b, g, n, P, P, &o, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        sung_train_apply(m, 1e-4);
        if (r) t[r - 1] = now() - t0;
    }
    /* forward + backward ≈ 3× the forward FLOPs */
    double med = median(t, runs), fl = 3 * n * sung_model_flops(m, 3, P, P);
    printf(", \"train_b4_128_s\": %.3f, \"train_gflops\": %.1f, \"train_peak_pct\": %.1f}\n", med, fl / med / 1e9,
           100 * fl / med / peak);
    free(b), free(g);
    sung_model_free(m);
    return 0;
}
