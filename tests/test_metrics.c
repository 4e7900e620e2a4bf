/* PSNR and SSIM (SPEC §8) against tests/golden/metrics.safetensors, written by
 * tests/ref/make_metrics_golden.py: crops of real photos (skimage.data) with distorted
 * versions, an identical, a constant and a black/white pair, and sizes below skimage's
 * minimum. Needs no Python.
 *
 * Tolerance: |C − golden| ≤ 1e-4 for every PSNR and SSIM value (the bar). The
 * goldens are float64 (psnr and ssim_skimage from skimage itself, ssim_matlab from the
 * script's scipy implementation of SPEC §8), read here without rounding; the C code
 * differs from them only in summation order, ~1e-13. Also: PSNR = +inf and SSIM = 1 for
 * identical images, ssim(a, b) == ssim(b, a) to 1e-12, NaN for bad arguments, and a
 * result independent of the thread count. */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "safetensors.h"
#include "sung.h"
#include "testutil.h"

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/golden"
#endif

#define TOL 1e-4

static st_file gf;

/* a float64 scalar of the golden, unrounded (st_read_f32 would round it to float32) */
static int golden_f64(const char *name, double *v)
{
    const st_tensor *t = st_find(&gf, name);
    CHECK(t && t->dtype == ST_F64 && st_numel(t) == 1, "golden '%s' missing or not one F64", name);
    if (!t || t->dtype != ST_F64 || st_numel(t) != 1) return 0;
    memcpy(v, gf.buf + gf.data_start + t->begin, sizeof *v);  /* little-endian host */
    return 1;
}

/* an H×W×3 U8 golden image as interleaved bytes (its own layout); NULL if absent */
static uint8_t *golden_image(const char *name, int *w, int *h)
{
    const st_tensor *t = st_find(&gf, name);
    CHECK(t && t->dtype == ST_U8 && t->ndim == 3 && t->shape[2] == 3, "golden image '%s' missing or not U8 [h,w,3]",
          name);
    if (!t || t->dtype != ST_U8 || t->ndim != 3 || t->shape[2] != 3) return NULL;
    size_t n = st_numel(t);
    float *f = malloc(n * sizeof *f);
    uint8_t *u = malloc(n);
    char err[256];
    int bad = !f || !u || st_read_f32(&gf, t, f, n, err, sizeof err);
    CHECK(!bad, "reading %s: %s", name, f && u ? err : "out of memory");
    if (bad) {
        free(f), free(u);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) u[i] = (uint8_t)f[i];
    free(f);
    *h = (int)t->shape[0], *w = (int)t->shape[1];
    return u;
}

/* ours against golden: equal infinities / NaNs, else within TOL; tracks the worst error */
static void cmp(const char *what, const char *k, double ours, double ref, double *worst)
{
    if (isnan(ref) || isinf(ref)) {
        int same = isnan(ref) ? isnan(ours) : ours == ref;
        CHECK(same, "%s.%s: %.17g, golden %g", what, k, ours, ref);
        return;
    }
    double d = fabs(ours - ref);
    CHECK(d <= TOL, "%s.%s: %.12f, golden %.12f (|diff| %.3g > %.0e)", what, k, ours, ref, d, TOL);
    if (!(d <= *worst)) *worst = d;
}

static void check_golden(void)
{
    char err[512];
    if (st_open(&gf, GOLDEN_DIR "/metrics.safetensors", err, sizeof err)) {
        CHECK(0, "cannot open golden: %s", err);
        return;
    }
    const char *list = st_meta_get(&gf, "cases");
    CHECK(list != NULL, "golden has no 'cases' metadata");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list ? list : "");
    double worst_psnr = 0, worst_mat = 0, worst_sk = 0;
    int ncases = 0, nskimage = 0;
    for (char *save = NULL, *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        char name[128];
        int w, h, w2, h2;
        snprintf(name, sizeof name, "a.%s", k);
        uint8_t *a = golden_image(name, &w, &h);
        snprintf(name, sizeof name, "b.%s", k);
        uint8_t *b = golden_image(name, &w2, &h2);
        if (a && b) {
            CHECK(w == w2 && h == h2, "%s: a is %d×%d, b %d×%d", k, h, w, h2, w2);
            double p, sm, ss;
            snprintf(name, sizeof name, "psnr.%s", k);
            if (golden_f64(name, &p)) cmp("psnr", k, sung_psnr(a, b, w, h), p, &worst_psnr);
            snprintf(name, sizeof name, "ssim_matlab.%s", k);
            if (golden_f64(name, &sm)) {
                double m1 = sung_ssim(a, b, w, h, SUNG_SSIM_MATLAB), m2 = sung_ssim(b, a, w, h, SUNG_SSIM_MATLAB);
                cmp("ssim_matlab", k, m1, sm, &worst_mat);
                CHECK(fabs(m1 - m2) <= 1e-12, "ssim_matlab.%s not symmetric: %.17g vs %.17g", k, m1, m2);
            }
            snprintf(name, sizeof name, "ssim_skimage.%s", k);
            if (golden_f64(name, &ss)) {
                double s1 = sung_ssim(a, b, w, h, SUNG_SSIM_SKIMAGE), s2 = sung_ssim(b, a, w, h, SUNG_SSIM_SKIMAGE);
                cmp("ssim_skimage", k, s1, ss, &worst_sk);
                CHECK(isnan(ss) || fabs(s1 - s2) <= 1e-12, "ssim_skimage.%s not symmetric: %.17g vs %.17g", k, s1,
                      s2);
                nskimage += !isnan(ss);
            }
            /* identical images: each against itself */
            CHECK(isinf(sung_psnr(a, a, w, h)) && sung_psnr(a, a, w, h) > 0, "psnr(%s, itself) is not +inf", k);
            CHECK(sung_psnr_for_mean(a, a, w, h) == SUNG_PSNR_EQUAL, "psnr_for_mean(%s, itself) is not 100 dB", k);
            CHECK(isinf(sung_psnr(a, b, w, h)) || sung_psnr_for_mean(a, b, w, h) == sung_psnr(a, b, w, h),
                  "psnr_for_mean(%s) is not psnr", k);
            CHECK(fabs(sung_ssim(b, b, w, h, SUNG_SSIM_MATLAB) - 1) <= 1e-12, "ssim_matlab(%s, itself) = %.17g", k,
                  sung_ssim(b, b, w, h, SUNG_SSIM_MATLAB));
            if (w >= 11 && h >= 11)
                CHECK(fabs(sung_ssim(b, b, w, h, SUNG_SSIM_SKIMAGE) - 1) <= 1e-12, "ssim_skimage(%s, itself) = %.17g",
                      k, sung_ssim(b, b, w, h, SUNG_SSIM_SKIMAGE));
            ncases++;
        }
        free(a), free(b);
    }
    /* the golden must exercise what the checks above rely on */
    CHECK(ncases >= 10 && nskimage >= 8, "golden has only %d cases (%d with a skimage value)", ncases, nskimage);
    printf("max |C - golden|: psnr %.3g, ssim matlab %.3g, ssim skimage %.3g (%d cases)\n", worst_psnr, worst_mat,
           worst_sk, ncases);
    st_close(&gf);
}

static void check_args(void)
{
    uint8_t img[12 * 12 * 3], img2[12 * 12 * 3];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)(i * 37), img2[i] = (uint8_t)(i * 11);
    CHECK(isnan(sung_psnr(NULL, img, 1, 1)), "psnr(NULL) not NaN");
    CHECK(isnan(sung_psnr_for_mean(NULL, img, 1, 1)), "psnr_for_mean(NULL) not NaN");
    CHECK(isnan(sung_psnr(img, NULL, 1, 1)), "psnr(., NULL) not NaN");
    CHECK(isnan(sung_psnr(img, img2, 0, 4)), "psnr w = 0 not NaN");
    CHECK(isnan(sung_psnr(img, img2, 4, -1)), "psnr h = -1 not NaN");
    CHECK(isnan(sung_psnr(img, img2, 40000, 1)), "psnr w = 40000 not NaN");
    for (int kind = 0; kind < 2; kind++) {
        CHECK(isnan(sung_ssim(NULL, img, 12, 12, (sung_ssim_kind)kind)), "ssim kind %d (NULL) not NaN", kind);
        CHECK(isnan(sung_ssim(img, NULL, 12, 12, (sung_ssim_kind)kind)), "ssim kind %d (., NULL) not NaN", kind);
        CHECK(isnan(sung_ssim(img, img2, 0, 12, (sung_ssim_kind)kind)), "ssim kind %d w = 0 not NaN", kind);
        CHECK(isnan(sung_ssim(img, img2, 12, -3, (sung_ssim_kind)kind)), "ssim kind %d h = -3 not NaN", kind);
        CHECK(isnan(sung_ssim(img, img2, 1, 1 << 20, (sung_ssim_kind)kind)), "ssim kind %d h = 2^20 not NaN", kind);
    }
    CHECK(isnan(sung_ssim(img, img2, 12, 12, (sung_ssim_kind)7)), "ssim of an unknown kind not NaN");
    /* skimage's window is 11 wide: 11 is the smallest side it accepts */
    for (int s = 1; s <= 10; s++) {
        CHECK(isnan(sung_ssim(img, img2, s, 12, SUNG_SSIM_SKIMAGE)), "ssim_skimage w = %d not NaN", s);
        CHECK(isnan(sung_ssim(img, img2, 12, s, SUNG_SSIM_SKIMAGE)), "ssim_skimage h = %d not NaN", s);
    }
    CHECK(!isnan(sung_ssim(img, img2, 11, 11, SUNG_SSIM_SKIMAGE)), "ssim_skimage 11×11 is NaN");
    CHECK(!isnan(sung_ssim(img, img2, 1, 1, SUNG_SSIM_MATLAB)), "ssim_matlab 1×1 is NaN");
}

/* sung_image_psnr: the 8-bit quantisation of both images, then sung_psnr_for_mean; a size
 * mismatch is an error that leaves *psnr alone */
static void check_image_psnr(void)
{
    sung_image a = {0}, b = {0}, c = {0};
    sung_error err;
    int w = 37, h = 23;
    CHECK(!sung_image_alloc(&a, w, h, &err) && !sung_image_alloc(&b, w, h, &err) &&
              !sung_image_alloc(&c, w + 1, h, &err),
          "alloc");
    if (!a.data || !b.data || !c.data) goto done;
    size_t n = (size_t)w * h * 3;
    for (size_t i = 0; i < n; i++) {
        /* values outside [0, 1] too: the quantisation clamps them */
        a.data[i] = (float)(test_uniform() * 1.2 - 0.1);
        b.data[i] = a.data[i] + (float)(test_uniform() * 0.1 - 0.05);
    }
    uint8_t *u = malloc(n), *v = malloc(n);
    CHECK(u && v, "out of memory");
    if (u && v) {
        sung_image_to_u8(&a, u), sung_image_to_u8(&b, v);
        double p = -1, want = sung_psnr_for_mean(u, v, w, h);
        CHECK(!sung_image_psnr(&a, &b, &p, &err) && p == want && want > 10 && want < 60,
              "image_psnr %.17g, psnr_for_mean of the 8-bit copies %.17g", p, want);
        CHECK(!sung_image_psnr(&a, &a, &p, &err) && p == SUNG_PSNR_EQUAL, "image_psnr of an image and itself: %g", p);
        p = -1;
        CHECK(sung_image_psnr(&a, &c, &p, &err) == SUNG_ERR_ARG && p == -1 && strstr(err.msg, "differ in size"),
              "image_psnr of 37x23 and 38x23: not SUNG_ERR_ARG, or *psnr written (%g), or '%s'", p, err.msg);
    }
    free(u), free(v);
done:
    sung_image_free(&a), sung_image_free(&b), sung_image_free(&c);
}

/* a larger image, 1 thread against all: row sums are added in row order, so equal bits */
static void check_threads(void)
{
    int w = 333, h = 211;
    size_t n = (size_t)w * h * 3;
    uint8_t *a = malloc(n), *b = malloc(n);
    CHECK(a && b, "out of memory");
    if (!a || !b) {
        free(a), free(b);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int x = (int)(i / 3 % (size_t)w), y = (int)(i / 3 / (size_t)w);
        a[i] = (uint8_t)(128 + 100 * sin(x * 0.07 + (double)(i % 3)) * cos(y * 0.05));
        int v = a[i] + (int)(test_uniform() * 41) - 20;
        b[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    double m = sung_ssim(a, b, w, h, SUNG_SSIM_MATLAB), s = sung_ssim(a, b, w, h, SUNG_SSIM_SKIMAGE);
    CHECK(m > 0 && m < 1 && s > 0 && s < 1, "ssim of a noisy pair out of (0, 1): %g, %g", m, s);
#ifdef _OPENMP
    int nt = omp_get_max_threads();
    omp_set_num_threads(nt > 1 ? 1 : 3);
    double m1 = sung_ssim(a, b, w, h, SUNG_SSIM_MATLAB), s1 = sung_ssim(a, b, w, h, SUNG_SSIM_SKIMAGE);
    omp_set_num_threads(nt);
    CHECK(m1 == m && s1 == s, "thread count changes ssim: matlab %.17g vs %.17g, skimage %.17g vs %.17g", m1, m,
          s1, s);
#endif
    free(a), free(b);
}

int main(void)
{
    check_golden();
    check_args();
    check_threads();
    check_image_psnr();
    return test_summary("test_metrics");
}
