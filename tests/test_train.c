/* Micro-batches (sung_train_zero_grads / sung_train_accumulate) and the training memory
 * estimate (sung_train_memory), through the public API.
 *
 * A batch of 5 split 2 + 3 (scales 2/5, 3/5) and 1 + 1 + 3 gives the gradient of the
 * one-shot batch to float rounding, for every variant; its losses, weighted the same
 * way, give the batch's; accumulating without zeroing adds; bad scales are refused. The
 * memory estimate grows with the batch and the crop, roughly linearly, and a pass of
 * that size runs. */
#include <string.h>

#include "sung.h"
#include "testutil.h"

enum { N = 5, H = 32, W = 32, IMG = H * W * 3 };

/* The gradients of all parameters, concatenated (caller frees). */
static float *grads(const sung_model *m, size_t *count)
{
    size_t total = 0;
    int nt = sung_model_tensor_count(m);
    for (int i = 0; i < nt; i++) {
        int nd, shape[4];
        float *d, *g;
        sung_model_tensor(m, i, &nd, shape, &d, &g);
        size_t sz = 1;
        for (int k = 0; k < nd; k++) sz *= (size_t)shape[k];
        total += sz;
    }
    float *out = malloc(total * sizeof *out);
    size_t at = 0;
    for (int i = 0; out && i < nt; i++) {
        int nd, shape[4];
        float *d, *g;
        sung_model_tensor(m, i, &nd, shape, &d, &g);
        size_t sz = 1;
        for (int k = 0; k < nd; k++) sz *= (size_t)shape[k];
        memcpy(out + at, g, sz * sizeof *out);
        at += sz;
    }
    *count = total;
    return out;
}

/* ||a − b|| / ||a|| */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)a[i] * a[i];
    return sqrt(d / (r > 0 ? r : 1));
}

static void test_variant(sung_variant v, const float *blur, const float *sharp)
{
    sung_error e;
    sung_model *m;
    CHECK(sung_model_create(&m, v, 4, 3, &e) == SUNG_OK, "create: %s", e.msg);
    sung_train_opts o = sung_train_defaults(m);
    o.iters = 2;
    const char *name = sung_variant_name(v);

    sung_losses whole, part;
    CHECK(sung_train_grads(m, blur, sharp, N, H, W, &o, &whole, &e) == SUNG_OK, "%s: one shot: %s", name, e.msg);
    size_t n;
    float *g1 = grads(m, &n);

    /* 2 + 3 */
    sung_train_zero_grads(m);
    double total = 0;
    const int split[2] = {2, 3};
    for (int k = 0, at = 0; k < 2; at += split[k], k++) {
        CHECK(sung_train_accumulate(m, blur + (size_t)at * IMG, sharp + (size_t)at * IMG, split[k], H, W, &o,
                                    (double)split[k] / N, &part, &e) == SUNG_OK,
              "%s: part %d: %s", name, k, e.msg);
        total += part.total * split[k] / N;
    }
    float *g2 = grads(m, &n);
    double d = rel_diff(g1, g2, n);
    /* float sums in another order: a few ulps of the largest terms */
    CHECK(d < 1e-5, "%s: 2 + 3 micro-batches: gradient differs by %.3g (relative)", name, d);
    CHECK(fabs(total - whole.total) < 1e-6 * fabs(whole.total) + 1e-9, "%s: weighted losses %.9g, batch %.9g", name,
          total, whole.total);
    free(g2);

    /* 1 + 1 + 3 */
    sung_train_zero_grads(m);
    const int split3[3] = {1, 1, 3};
    for (int k = 0, at = 0; k < 3; at += split3[k], k++)
        sung_train_accumulate(m, blur + (size_t)at * IMG, sharp + (size_t)at * IMG, split3[k], H, W, &o,
                              (double)split3[k] / N, NULL, &e);
    g2 = grads(m, &n);
    d = rel_diff(g1, g2, n);
    CHECK(d < 1e-5, "%s: 1 + 1 + 3 micro-batches: gradient differs by %.3g (relative)", name, d);
    free(g2);

    /* accumulating twice without zeroing doubles the gradient (a mutation that zeroes
     * inside sung_train_accumulate fails here) */
    sung_train_accumulate(m, blur, sharp, N, H, W, &o, 1.0, NULL, &e);
    g2 = grads(m, &n);
    for (size_t i = 0; i < n; i++) g2[i] *= 0.5f;
    d = rel_diff(g1, g2, n);
    CHECK(d < 1e-5, "%s: accumulate did not add to the gradients (differs by %.3g)", name, d);
    free(g2);

    /* the contiguous gradient buffer holds every tensor's gradient: halving it halves them */
    size_t nb;
    float *buf = sung_model_grads(m, &nb);
    CHECK(buf && nb == n, "%s: gradient buffer of %zu floats, the tensors hold %zu", name, nb, n);
    for (size_t i = 0; buf && i < nb; i++) buf[i] *= 0.5f;
    g2 = grads(m, &n);
    d = rel_diff(g1, g2, n);
    CHECK(d < 1e-5, "%s: the tensors' gradients are not the buffer's (differ by %.3g)", name, d);
    free(g2);

    CHECK(sung_train_accumulate(m, blur, sharp, N, H, W, &o, 0.0, NULL, &e) == SUNG_ERR_ARG, "%s: scale 0", name);
    CHECK(sung_train_accumulate(m, blur, sharp, N, H, W, &o, NAN, NULL, &e) == SUNG_ERR_ARG, "%s: scale NaN", name);
    free(g1);
    sung_model_free(m);
}

static void test_memory(void)
{
    sung_error e;
    sung_model *m;
    CHECK(sung_model_create(&m, SUNG_SUNG, 8, 1, &e) == SUNG_OK, "create: %s", e.msg);
    sung_train_opts o = sung_train_defaults(m);
    size_t m1 = sung_train_memory(m, 1, 64, 64, &o), m2 = sung_train_memory(m, 2, 64, 64, &o);
    size_t m4 = sung_train_memory(m, 4, 64, 64, &o), big = sung_train_memory(m, 1, 128, 128, &o);
    CHECK(m1 > 0 && m1 < m2 && m2 < m4, "memory not growing with the batch: %zu %zu %zu", m1, m2, m4);
    /* activations dominate: twice the images, about twice the memory */
    CHECK(fabs((double)m4 / m2 - 2.0) < 0.1, "memory of 4 images / 2 images = %.3f, not about 2", (double)m4 / m2);
    CHECK(fabs((double)big / m1 - 4.0) < 0.4, "memory of 128² / 64² = %.3f, not about 4", (double)big / m1);
    CHECK(sung_train_memory(m, 1, 60, 64, &o) == 0, "a crop that is not a multiple of 2^(iters+2) was sized");
    /* sizing is only counting: a real pass of that size still runs, and the estimate
     * covers a 64² activation at least */
    float *b = calloc((size_t)2 * 64 * 64 * 3, sizeof *b), *g = calloc((size_t)2 * 64 * 64 * 3, sizeof *g);
    CHECK(b && g && sung_train_grads(m, b, g, 2, 64, 64, &o, NULL, &e) == SUNG_OK, "a pass after sizing: %s", e.msg);
    CHECK(m2 > (size_t)2 * 64 * 64 * 8 * 4, "the estimate %zu is below one activation", m2);
    free(b), free(g);
    sung_model_free(m);
}

int main(void)
{
    float *blur = malloc(sizeof(float) * N * IMG), *sharp = malloc(sizeof(float) * N * IMG);
    for (size_t i = 0; i < (size_t)N * IMG; i++) sharp[i] = test_randf(0, 1);
    for (size_t i = 0; i < (size_t)N * IMG; i++) blur[i] = 0.5f * sharp[i] + test_randf(0, 0.5f);
    test_variant(SUNG_SUNG, blur, sharp);
    test_variant(SUNG_BASE, blur, sharp);
    test_variant(SUNG_SIUN, blur, sharp);
    test_memory();
    free(blur), free(sharp);
    return test_summary("test_train");
}
