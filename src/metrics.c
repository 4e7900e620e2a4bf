/* metrics.c: PSNR and SSIM of 8-bit RGB images, as ../shared/SPEC.md §8 defines them.
 *
 * Images are h·w·3 bytes, RGB interleaved. Everything is computed in double.
 *
 * Both SSIMs are the standard formula on Gaussian-weighted local statistics
 * (σ = 1.5, 11 taps, radius 5, weights normalised to 1):
 *
 *   μx = G∗x, μy = G∗y, σx² = G∗x² − μx², σy² = G∗y² − μy², σxy = G∗xy − μx·μy
 *   S  = (2·μx·μy + C1)(2·σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))
 *
 * with C1 = (0.01·255)², C2 = (0.03·255)² (population statistics: no N/(N−1)). They
 * differ in the window and the border:
 *
 *   matlab   MATLAB ssim on the H×W×3 volume: G is the 11×11×11 Gaussian, separable along
 *            height, width and channel, replicate padding of 5 on every axis (so along
 *            the 3 channels the window sees replicated edge channels); the mean of the
 *            whole H×W×3 map. Any size from 1×1 up.
 *   skimage  skimage.metrics.structural_similarity(..., channel_axis=2,
 *            gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
 *            data_range=255): G is a 2-D 11×11 Gaussian per channel, scipy's 'reflect'
 *            border (half-sample symmetric: d c b a | a b c d), a 5-pixel border of the
 *            map dropped, the mean over channels. skimage refuses images with a side
 *            shorter than its window (11 with gaussian_weights): NaN here.
 *
 * Implementation: each output row is filtered on its own (vertically from the 11 input
 * rows it needs, then, for matlab, across channels, then horizontally), so that rows
 * run in parallel (OpenMP) with one scratch block per thread and nothing allocated per
 * row or pixel. The map's row sums are added in row order, so the result does not
 * depend on the number of threads. The formula is symmetric in x and y term by term,
 * so ssim(a, b) == ssim(b, a) exactly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "error.h"
#include "sung.h"

#define SSIM_R 5                   /* window radius: 11 taps */
#define SSIM_TAPS (2 * SSIM_R + 1)
#define SSIM_SIGMA 1.5
#define SSIM_L 255.0
#define SSIM_C1 ((0.01 * SSIM_L) * (0.01 * SSIM_L))
#define SSIM_C2 ((0.03 * SSIM_L) * (0.03 * SSIM_L))
#define MAX_SIDE SUNG_MAX_SIDE
#define NQ 5                       /* filtered quantities: x, y, x², y², xy */

double sung_psnr(const uint8_t *a, const uint8_t *b, int w, int h)
{
    if (!a || !b || w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE) return NAN;
    size_t n = (size_t)w * h * 3;
    /* at most 3·2^30 values of at most 255² each: fits in 64 bits exactly */
    uint64_t sse = 0;
    for (size_t i = 0; i < n; i++) {
        int d = (int)a[i] - (int)b[i];
        sse += (uint64_t)(d * d);
    }
    if (sse == 0) return INFINITY;
    return 10.0 * log10(SSIM_L * SSIM_L / ((double)sse / (double)n));
}

double sung_psnr_for_mean(const uint8_t *a, const uint8_t *b, int w, int h)
{
    double p = sung_psnr(a, b, w, h);
    return isinf(p) ? SUNG_PSNR_EQUAL : p;
}

sung_status sung_image_psnr(const sung_image *a, const sung_image *b, double *psnr, sung_error *err)
{
    if (a->w != b->w || a->h != b->h) {
        model_set_error(err, "images of %dx%d and %dx%d differ in size", a->w, a->h, b->w, b->h);
        return SUNG_ERR_ARG;
    }
    size_t n = (size_t)a->w * a->h * 3;
    uint8_t *u = malloc(n), *v = malloc(n);
    if (!u || !v) {
        free(u), free(v);
        model_set_error(err, "out of memory for two %dx%d images", a->w, a->h);
        return SUNG_ERR_NOMEM;
    }
    sung_image_to_u8(a, u);
    sung_image_to_u8(b, v);
    *psnr = sung_psnr_for_mean(u, v, a->w, a->h);
    free(u), free(v);
    return SUNG_OK;
}

/* border handling: index i of a line of n samples, extended past its ends */
static int clamp_index(int i, int n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }
/* scipy.ndimage 'reflect' (the edge sample repeated), periodic with period 2n, so it
 * holds however far i lies outside */
static int reflect_index(int i, int n)
{
    int p = 2 * n;
    i %= p;
    if (i < 0) i += p;
    return i < n ? i : p - 1 - i;
}

typedef struct {
    const uint8_t *a, *b;
    int w, h;
    int matlab;
    double g[SSIM_TAPS];  /* normalised 1-D Gaussian */
    double mix[3][3];     /* matlab: the channel filter with replicate padding, as a 3×3 map */
} ssim_ctx;

/* Scratch of one thread, in doubles: NQ padded rows of (w + 2R)·3 values, and NQ output
 * rows of w·3 values. */
static size_t ssim_scratch(int w) { return (size_t)NQ * ((size_t)(w + 2 * SSIM_R) * 3 + (size_t)w * 3); }

/* The sum of the SSIM map over row y, columns [x0, x1), all three channels. */
static double ssim_row(const ssim_ctx *c, int y, int x0, int x1, double *scratch)
{
    const int w = c->w, n = 3 * w, stride = 3 * (w + 2 * SSIM_R);
    int (*map)(int, int) = c->matlab ? clamp_index : reflect_index;
    double *pad = scratch;                 /* [NQ][(w + 2R)·3] */
    double *out = scratch + NQ * stride;   /* [NQ][w·3] */

    /* vertical: 11 rows of x, y, x², y², xy into the middle of the padded rows */
    for (int q = 0; q < NQ; q++) memset(pad + q * stride + 3 * SSIM_R, 0, (size_t)n * sizeof *pad);
    double *v0 = pad + 3 * SSIM_R, *v1 = v0 + stride, *v2 = v1 + stride, *v3 = v2 + stride,
           *v4 = v3 + stride;
    for (int k = 0; k < SSIM_TAPS; k++) {
        size_t r = (size_t)map(y + k - SSIM_R, c->h);
        const uint8_t *pa = c->a + r * n, *pb = c->b + r * n;
        const double gk = c->g[k];
        for (int j = 0; j < n; j++) {
            double xa = pa[j], xb = pb[j];
            v0[j] += gk * xa;
            v1[j] += gk * xb;
            v2[j] += gk * (xa * xa);
            v3[j] += gk * (xb * xb);
            v4[j] += gk * (xa * xb);
        }
    }

    for (int q = 0; q < NQ; q++) {
        double *v = pad + q * stride + 3 * SSIM_R;
        /* matlab: along the channel axis (replicate-padded, folded into mix) */
        if (c->matlab)
            for (int x = 0; x < w; x++) {
                double t0 = v[3 * x], t1 = v[3 * x + 1], t2 = v[3 * x + 2];
                for (int ch = 0; ch < 3; ch++)
                    v[3 * x + ch] = c->mix[ch][0] * t0 + c->mix[ch][1] * t1 + c->mix[ch][2] * t2;
            }
        /* the horizontal border */
        for (int p = 1; p <= SSIM_R; p++) {
            int sl = map(-p, w), sr = map(w - 1 + p, w);
            for (int ch = 0; ch < 3; ch++) {
                v[3 * -p + ch] = v[3 * sl + ch];
                v[3 * (w - 1 + p) + ch] = v[3 * sr + ch];
            }
        }
        /* horizontal, for the columns wanted */
        double *o = out + (size_t)q * n;
        const double *src = pad + q * stride;  /* src[3·(x + k) + ch] is tap k of (x, ch) */
        for (int j = 3 * x0; j < 3 * x1; j++) o[j] = 0;
        for (int k = 0; k < SSIM_TAPS; k++) {
            const double gk = c->g[k];
            const double *s = src + 3 * k;
            for (int j = 3 * x0; j < 3 * x1; j++) o[j] += gk * s[j];
        }
    }

    const double *ux = out, *uy = out + n, *uxx = out + 2 * n, *uyy = out + 3 * n, *uxy = out + 4 * n;
    double sum = 0;
    for (int j = 3 * x0; j < 3 * x1; j++) {
        double vx = uxx[j] - ux[j] * ux[j];
        double vy = uyy[j] - uy[j] * uy[j];
        double vxy = uxy[j] - ux[j] * uy[j];
        double a1 = 2 * ux[j] * uy[j] + SSIM_C1, a2 = 2 * vxy + SSIM_C2;
        double b1 = ux[j] * ux[j] + uy[j] * uy[j] + SSIM_C1, b2 = vx + vy + SSIM_C2;
        sum += (a1 * a2) / (b1 * b2);
    }
    return sum;
}

double sung_ssim(const uint8_t *a, const uint8_t *b, int w, int h, sung_ssim_kind kind)
{
    if (!a || !b || w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE) return NAN;
    if (kind != SUNG_SSIM_MATLAB && kind != SUNG_SSIM_SKIMAGE) return NAN;
    if (kind == SUNG_SSIM_SKIMAGE && (w < SSIM_TAPS || h < SSIM_TAPS)) return NAN;

    ssim_ctx c = {.a = a, .b = b, .w = w, .h = h, .matlab = kind == SUNG_SSIM_MATLAB};
    double gs = 0;
    for (int k = 0; k < SSIM_TAPS; k++) {
        double x = k - SSIM_R;
        c.g[k] = exp(-0.5 / (SSIM_SIGMA * SSIM_SIGMA) * x * x);
        gs += c.g[k];
    }
    for (int k = 0; k < SSIM_TAPS; k++) c.g[k] /= gs;
    /* output channel ch = Σ_k g[k]·x[clamp(ch + k − R)]: which input channel each tap reads */
    memset(c.mix, 0, sizeof c.mix);
    for (int ch = 0; ch < 3; ch++)
        for (int k = 0; k < SSIM_TAPS; k++) c.mix[ch][clamp_index(ch + k - SSIM_R, 3)] += c.g[k];

    /* the map's extent: all of it (matlab), or without a border of R (skimage) */
    int crop = c.matlab ? 0 : SSIM_R;
    int y0 = crop, y1 = h - crop, x0 = crop, x1 = w - crop;

    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    size_t per = ssim_scratch(w);
    double *mem = malloc(((size_t)nt * per + (size_t)h) * sizeof *mem);
    if (!mem) return NAN;
    double *rowsum = mem + (size_t)nt * per;

#pragma omp parallel num_threads(nt)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *scratch = mem + (size_t)tid * per;
#pragma omp for schedule(static)
        for (int y = y0; y < y1; y++) rowsum[y] = ssim_row(&c, y, x0, x1, scratch);
    }

    double total = 0;
    for (int y = y0; y < y1; y++) total += rowsum[y];
    free(mem);
    return total / ((double)(y1 - y0) * (double)(x1 - x0) * 3.0);
}
