/* The whole model against the PyTorch reference (tests/ref/sung_ref.py, written from
 * ../shared/SPEC.md), through the golden files tests/ref/make_golden.py committed in
 * tests/golden/: width 8, seed 1, for each variant. Needs no Python.
 *
 * Tolerances, and why:
 *   init                 bit-exact first/last element, sums to 1e-6 relative: the same
 *                        integer PRNG and the same float64 formula on both sides.
 *   scale outputs, loss  relative L2 error < 1e-4; max abs error < 1e-4 (float32 sums
 *                        of up to ~1800 terms through ~60 layers, in a different order;
 *                        the goldens are float64 results rounded to float32).
 *   gradients            over all parameters together: relative L2 error < 1e-3 (base
 *                        and siun reach ~1e-6; sung ~1e-4, all of it from the flips
 *                        below). Per tensor: < 1e-3 (the bar), or, where a tensor is over
 *                        it, ‖g − ref‖ ≤ 1e-3·‖ref‖ + kink.<param>: at width 8 the
 *                        coarsest U-Net runs on 2×2 pixels and a ReLU input or |·|
 *                        argument within float32 noise of 0 may take the other branch
 *                        (PyTorch in float32 exceeds 1e-3 on dozens of tensors for the
 *                        same reason); kink.<param> bounds what such flips can do
 *                        (tests/ref/README.md). That bound on ‖g − ref‖ is loose (above
 *                        1e-2 of ‖ref‖ for about half the tensors), so each tensor is also
 *                        held to its scale ⟨g − ref, ref⟩/‖ref‖² within 1e-3, after the
 *                        scale errors of all tensors are fitted by flips of the near-kink
 *                        elements (kinkfit.<param>: what each flip does to each tensor's
 *                        scale; coefficients in [0, 1]). A flip moves many tensors at once,
 *                        a wrong gradient moves one: measured, the fit uses 1 flip (sung,
 *                        siun) or none (base) and leaves ≤ 4e-6. The test checks in
 *                        arithmetic that every tensor's gradient ×1.01 or ×0.99 would fail
 *                        it, and the mutation in the source fails it too.
 *   Adam                 the optimizer alone (adam.safetensors: gradients from 1e-12 to
 *                        1, zeros, sign changes) within 1e-3 of a step + t ulps after
 *                        step t (each step rounds p once, and p carries it on). After
 *                        3 steps of the whole model (adam3.delta): relative L2 error of
 *                        the change over all parameters < 1e-1, since Adam's first steps
 *                        are ≈ lr·sign(g) and amplify the gradient noise above into whole
 *                        steps (measured 2e-3 .. 3e-2 depending on the kernel path);
 *                        a wrong bias correction, sign or missed tensor gives ≥ 0.5.
 *   inference output     max abs error < 1e-4 on [0,1] values.
 *   pyramid vs skimage   max abs error < 1e-6. */
#include <string.h>

#include "model.h"
#include "ops.h"
#include "safetensors.h"
#include "testutil.h"

/* A tensor's gradient scale ⟨g, ref⟩/‖ref‖² must be 1 within this, once near-kink flips
 * are fitted (see the header). */
#define SCALE_TOL 1e-3

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/golden"
#endif

static st_file gf;

/* golden tensor as float (NULL + failed check if absent) */
static float *golden(const char *name, size_t *n)
{
    const st_tensor *t = st_find(&gf, name);
    CHECK(t != NULL, "golden tensor '%s' missing", name);
    if (!t) return NULL;
    size_t k = st_numel(t);
    float *d = malloc(k * sizeof *d);
    char err[256];
    if (st_read_f32(&gf, t, d, k, err, sizeof err)) {
        CHECK(0, "%s", err);
        free(d);
        return NULL;
    }
    if (n) *n = k;
    return d;
}

/* A golden tensor that must hold exactly `expect` values (a failure, not a skip or an
 * overread, when it does not). */
static float *golden_n(const char *name, size_t expect)
{
    size_t k = 0;
    float *d = golden(name, &k);
    if (d && k != expect) {
        CHECK(0, "golden tensor '%s' has %zu values, expected %zu", name, k, expect);
        free(d);
        return NULL;
    }
    return d;
}

/* NCHW (golden) → NHWC (ours) */
static float *to_nhwc(const float *src, int n, int c, int h, int w)
{
    float *d = malloc((size_t)n * c * h * w * sizeof *d);
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    d[(((size_t)i * h + y) * w + x) * c + ch] = src[(((size_t)i * c + ch) * h + y) * w + x];
    return d;
}

static double rel_l2(const float *a, const float *ref, size_t n, double *maxabs)
{
    double num = 0, den = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
        if (fabs(d) > mx) mx = fabs(d);
    }
    if (maxabs) *maxabs = mx;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* compare an NHWC tensor of ours with an NCHW golden */
static void cmp_act(const char *name, const float *ours, int n, int c, int h, int w, double tol)
{
    size_t k;
    float *g = golden(name, &k);
    if (!g) return;
    CHECK(k == (size_t)n * c * h * w, "%s: size %zu vs %d×%d×%d×%d", name, k, n, c, h, w);
    if (k != (size_t)n * c * h * w) return;
    float *gn = to_nhwc(g, n, c, h, w);
    double mx, e = rel_l2(ours, gn, k, &mx);
    CHECK(e < tol && mx < tol, "%s: relative L2 error %.3g, max abs %.3g (tolerance %.0e)", name, e, mx, tol);
    free(g), free(gn);
}

/* Scale errors e[K] of the tensors' gradients, explained by flips of S near-kink
 * elements: site j moves tensor k's scale by P[k·S + j] if the engine took its other
 * branch. Box-constrained least squares (c_j in [0, 1]) by coordinate descent; res[K]
 * gets e − P·c. Returns how many sites it uses (c_j > 0.5). */
static int flip_fit(int K, int S, const double *P, const double *e, double *c, double *res)
{
    memcpy(res, e, K * sizeof *res);
    for (int j = 0; j < S; j++) c[j] = 0;
    for (int it = 0; it < 500; it++) {
        double moved = 0;
        for (int j = 0; j < S; j++) {
            double a = 0, b = 0;
            for (int k = 0; k < K; k++) a += P[(size_t)k * S + j] * res[k], b += P[(size_t)k * S + j] * P[(size_t)k * S + j];
            if (b <= 0) continue;
            double cj = c[j] + a / b;
            cj = cj < 0 ? 0 : cj > 1 ? 1 : cj;
            double d = cj - c[j];
            if (d == 0) continue;
            for (int k = 0; k < K; k++) res[k] -= P[(size_t)k * S + j] * d;
            c[j] = cj;
            moved = fmax(moved, fabs(d));
        }
        if (moved < 1e-9) break;
    }
    int n = 0;
    for (int j = 0; j < S; j++) n += c[j] > 0.5;
    return n;
}

static void check_variant(const char *variant)
{
    char path[256];
    snprintf(path, sizeof path, GOLDEN_DIR "/%s.safetensors", variant);
    char err[512];
    if (st_open(&gf, path, err, sizeof err)) {
        CHECK(0, "cannot open golden %s: %s", path, err);
        return;
    }
    sung_error e;
    sung_model *m;
    int v = sung_variant_parse(variant);
    if (sung_model_create(&m, (sung_variant)v, 8, 1, &e)) {
        CHECK(0, "%s", e.msg);
        st_close(&gf);
        return;
    }

    /* 1. initialisation */
    int init_bad = 0;
    for (int i = 0; i < m->nparams; i++) {
        param_info *p = &m->params[i];
        char nm[128];
        snprintf(nm, sizeof nm, "init.check.%s", p->name);
        float *c = golden_n(nm, 4);
        if (!c) continue;
        const float *w = m->p + p->off;
        double s = 0, s2 = 0;
        for (size_t k = 0; k < p->numel; k++) s += w[k], s2 += (double)w[k] * w[k];
        int ok = w[0] == c[2] && w[p->numel - 1] == c[3] && fabs(s - c[0]) <= 1e-6 * (fabs(c[0]) + 1e-3) &&
                 fabs(s2 - c[1]) <= 1e-6 * c[1] + 1e-12;
        if (!ok && init_bad++ < 3)
            CHECK(0, "%s init %s: sum %.9g/%.9g sumsq %.9g/%.9g first %.9g/%.9g", variant, p->name, s,
                  c[0], s2, c[1], w[0], c[2]);
        free(c);
    }
    CHECK(init_bad == 0, "%s: %d tensors initialised differently from the reference", variant, init_bad);

    /* 2. one training step: scale outputs, losses, gradients */
    float *blur = golden_n("train.blur", (size_t)2 * 3 * 64 * 64), *sharp = golden_n("train.sharp", (size_t)2 * 3 * 64 * 64);
    if (!blur || !sharp) goto done;
    int N = 2, H = 64, W = 64;
    float *bl = to_nhwc(blur, N, 3, H, W), *sh = to_nhwc(sharp, N, 3, H, W);
    model_trace tr;
    memset(&tr, 0, sizeof tr);
    m->trace = &tr;
    sung_train_opts o = sung_train_defaults(m);
    sung_losses L;
    if (sung_train_grads(m, bl, sh, N, H, W, &o, &L, &e)) {
        CHECK(0, "%s train: %s", variant, e.msg);
        goto done2;
    }
    for (int i = 0; i < 3; i++) {
        char nm[64];
        int h = H >> i, w = W >> i;
        snprintf(nm, sizeof nm, "train.S.%d", i);
        cmp_act(nm, tr.S[i], N, 3, h, w, 1e-4);
        snprintf(nm, sizeof nm, "train.F.%d", i);
        cmp_act(nm, tr.F[i], N, 3, h, w, 1e-4);
        if (v != SUNG_SIUN) {
            snprintf(nm, sizeof nm, "train.G.%d", i);
            cmp_act(nm, tr.G[i], N, 3, h, w, 1e-4);
        }
    }
    float *gl = golden("train.loss", NULL), *gt = golden("train.total", NULL);
    if (gl && gt) {
        for (int i = 0; i < 3; i++) {
            double ours[3] = {L.pixel[i], L.edge_aux[i], L.edge_sup[i]};
            for (int k = 0; k < 3; k++)
                CHECK(fabs(ours[k] - gl[i * 3 + k]) <= 1e-5 * fabs(gl[i * 3 + k]) + 1e-7,
                      "%s loss scale %d term %d: %.8g vs %.8g", variant, i, k, ours[k], gl[i * 3 + k]);
        }
        CHECK(fabs(L.total - gt[0]) <= 1e-5 * gt[0], "%s total loss %.8g vs %.8g", variant, L.total, gt[0]);
    }
    free(gl), free(gt);
    double worst = 0, num = 0, den = 0;
    const char *worst_name = "";
    int K = m->nparams, S = -1, fitted = 1;
    double *scale = calloc((size_t)K, sizeof *scale), *og = calloc((size_t)K, sizeof *og), *P = NULL;
    for (int i = 0; i < K; i++) {
        char nm[128];
        snprintf(nm, sizeof nm, "grad.%s", m->params[i].name);
        float *g = golden_n(nm, m->params[i].numel);
        snprintf(nm, sizeof nm, "kink.%s", m->params[i].name);
        float *kink = golden_n(nm, 1);
        snprintf(nm, sizeof nm, "kinkfit.%s", m->params[i].name);
        size_t ns = 0;
        float *kfit = golden(nm, &ns);
        if (kfit && S < 0) S = (int)ns, P = calloc((size_t)K * S, sizeof *P);
        CHECK(!kfit || (int)ns == S, "golden %s has %zu sites, others %d", nm, ns, S);
        if (!g || !kink || !kfit || (int)ns != S) {
            free(g), free(kink), free(kfit);
            fitted = 0;
            continue;
        }
        for (int j = 0; j < S; j++) P[(size_t)i * S + j] = kfit[j];
        const float *ours = m->g + m->params[i].off;
        double dn = 0, rn = 0, dot = 0, o = 0;
        for (size_t k = 0; k < m->params[i].numel; k++) {
            double d = (double)ours[k] - g[k];
            dn += d * d, rn += (double)g[k] * g[k], dot += d * g[k], o += (double)ours[k] * g[k];
        }
        num += dn, den += rn;
        scale[i] = rn > 0 ? dot / rn : 0;   /* ⟨g − ref, ref⟩/‖ref‖² */
        og[i] = rn > 0 ? o / rn : 0;        /* ⟨g, ref⟩/‖ref‖² */
        dn = sqrt(dn), rn = sqrt(rn);
        double r = dn / (rn > 0 ? rn : 1);
        if (r > worst) worst = r, worst_name = m->params[i].name;
        CHECK(r < 1e-3 || dn <= 1e-3 * rn + kink[0],
              "%s gradient %s: relative L2 error %.3g, beyond what near-kink flips explain (%.3g)",
              variant, m->params[i].name, r, kink[0] / (rn > 0 ? rn : 1));
        free(g), free(kink), free(kfit);
    }
    double all = sqrt(num / (den > 0 ? den : 1));
    CHECK(all < 1e-3, "%s gradients: relative L2 error over all parameters %.3g", variant, all);
    if (fitted && S > 0) {
        /* Each tensor's scale, after the best fit of every tensor's scale error by flips. */
        double *c = malloc((size_t)S * sizeof *c), *res = malloc((size_t)K * sizeof *res), *mut = malloc((size_t)K * sizeof *mut);
        int nflip = flip_fit(K, S, P, scale, c, res), worst_k = 0;
        for (int i = 0; i < K; i++) {
            CHECK(fabs(res[i]) <= SCALE_TOL, "%s gradient %s: off in scale by %.3g (%.3g after fitting "
                  "near-kink flips)", variant, m->params[i].name, scale[i], res[i]);
            if (fabs(res[i]) > fabs(res[worst_k])) worst_k = i;
        }
        double worst_res = fabs(res[worst_k]);
        /* The mutation this check exists for, applied in arithmetic: any one tensor's
         * gradient times 1.01 or 0.99 must fail it, whatever flips the fit then picks. */
        int missed = 0;
        for (int i = 0; i < K; i++)
            for (int sgn = -1; sgn <= 1; sgn += 2) {
                memcpy(mut, scale, K * sizeof *mut);
                mut[i] += 0.01 * sgn * og[i];
                flip_fit(K, S, P, mut, c, res);
                int caught = 0;
                for (int k = 0; k < K; k++) caught |= fabs(res[k]) > SCALE_TOL;
                if (!caught) {
                    missed++;
                    CHECK(0, "%s: gradient %s ×%.2f would pass", variant, m->params[i].name, 1 + 0.01 * sgn);
                }
            }
        printf("%s: scale error after fitting %d of %d near-kink flips ≤ %.2e (%s); all %d tensors ×1.01 "
               "and ×0.99 %s\n", variant, nflip, S, worst_res,
               m->params[worst_k].name, K, missed ? "NOT all caught" : "caught");
        free(c), free(res), free(mut);
    } else if (fitted) {
        for (int i = 0; i < K; i++)
            CHECK(fabs(scale[i]) <= SCALE_TOL, "%s gradient %s: off in scale by %.3g", variant,
                  m->params[i].name, scale[i]);
    }
    free(scale), free(og), free(P);
    printf("%s: gradient relative error %.2e over all parameters, worst tensor %.2e (%s)\n", variant,
           all, worst, worst_name);

    /* 3. three Adam steps on the same batch */
    float *w0 = malloc(m->nfloats * sizeof *w0);
    memcpy(w0, m->p, m->nfloats * sizeof *w0);
    m->trace = NULL;
    for (int s = 0; s < 3; s++) {
        if (s && sung_train_grads(m, bl, sh, N, H, W, &o, NULL, &e)) CHECK(0, "%s", e.msg);
        sung_train_apply(m, 1e-4);
    }
    num = den = 0;
    for (int i = 0; i < m->nparams; i++) {
        char nm[128];
        snprintf(nm, sizeof nm, "adam3.delta.%s", m->params[i].name);
        float *dref = golden_n(nm, m->params[i].numel);
        if (!dref) continue;
        size_t k = m->params[i].numel;
        for (size_t j = 0; j < k; j++) {
            double d = (double)m->p[m->params[i].off + j] - w0[m->params[i].off + j];
            num += (d - dref[j]) * (d - dref[j]), den += (double)dref[j] * dref[j];
        }
        free(dref);
    }
    all = sqrt(num / (den > 0 ? den : 1));
    CHECK(all < 1e-1, "%s after 3 Adam steps: relative L2 error of the change %.3g", variant, all);
    printf("%s: after 3 Adam steps, relative error of the change %.2e\n", variant, all);
    free(w0);

    /* 4. inference on an odd-sized image, 4 iterations */
    {
        sung_model *m2;
        if (sung_model_create(&m2, (sung_variant)v, 8, 1, &e)) {
            CHECK(0, "%s: create: %s", variant, e.msg);
            goto done2;
        }
        model_trace tr2;
        memset(&tr2, 0, sizeof tr2);
        m2->trace = &tr2;
        size_t k;
        float *in = golden("infer.input", &k);
        if (in && k == 3 * 37 * 45) {
            sung_image im = {45, 37, to_nhwc(in, 1, 3, 37, 45)}, out;
            if (sung_deblur(m2, &im, 4, &out, &e)) {
                CHECK(0, "%s deblur: %s", variant, e.msg);
            } else {
                cmp_act("infer.output", out.data, 1, 3, 37, 45, 1e-4);
                for (int i = 0; i < 4; i++) {
                    char nm[64];
                    snprintf(nm, sizeof nm, "infer.S.%d", i);
                    cmp_act(nm, tr2.S[i], 1, 3, 64 >> i, 64 >> i, 1e-4);
                }
                sung_image_free(&out);
            }
            sung_image_free(&im);
        }
        free(in);
        model_trace_free(&tr2);
        sung_model_free(m2);
    }
done2:
    model_trace_free(&tr);
    free(bl), free(sh);
done:
    free(blur), free(sharp);
    sung_model_free(m);
    st_close(&gf);
}

static void check_pyramid(void)
{
    char err[512];
    if (st_open(&gf, GOLDEN_DIR "/pyramid.safetensors", err, sizeof err)) {
        CHECK(0, "cannot open pyramid golden: %s", err);
        return;
    }
    float *in = golden("pyr.input", NULL);
    if (in) {
        int h = 48, w = 64;
        tensor cur = {to_nhwc(in, 1, 3, h, w), NULL, 1, h, w, 3, 3};
        float *tmp = malloc((size_t)h * w * 3 * sizeof *tmp);
        for (int k = 1; k <= 3; k++) {
            tensor nx = {malloc((size_t)(cur.h / 2) * (cur.w / 2) * 3 * sizeof(float)), NULL, 1,
                         cur.h / 2, cur.w / 2, 3, 3};
            reduce_forward(nx, cur, tmp);
            free(cur.d);
            cur = nx;
            char nm[32];
            snprintf(nm, sizeof nm, "pyr.level.%d", k);
            cmp_act(nm, cur.d, 1, 3, cur.h, cur.w, 1e-6);
        }
        free(cur.d), free(tmp);
    }
    free(in);
    st_close(&gf);
}

/* The optimizer alone: torch.optim.Adam's trajectory on given gradients. */
static void check_adam(void)
{
    char err[512];
    if (st_open(&gf, GOLDEN_DIR "/adam.safetensors", err, sizeof err)) {
        CHECK(0, "cannot open adam golden: %s", err);
        return;
    }
    size_t n;
    float *p = golden("adam.p.0", &n);
    float *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
    for (int t = 1; p && t <= 5; t++) {
        char nm[32];
        snprintf(nm, sizeof nm, "adam.g.%d", t);
        float *g = golden(nm, NULL);
        snprintf(nm, sizeof nm, "adam.p.%d", t);
        float *want = golden(nm, NULL);
        if (!g || !want) {
            free(g), free(want);
            break;
        }
        float before[1024];
        memcpy(before, p, (n < 1024 ? n : 1024) * sizeof *p);
        adam_update(p, g, m, v, n, 1e-4, 0.9, 0.999, 1e-8, t);
        int bad = 0;
        for (size_t i = 0; i < n && i < 1024; i++) {
            double step = fabs((double)want[i] - before[i]);
            /* one float32 rounding per step taken, as p carries its own rounding on */
            double tol = 1e-3 * step + t * (nextafterf(fabsf(want[i]), INFINITY) - fabsf(want[i]));
            bad += fabs((double)p[i] - want[i]) > tol;
        }
        CHECK(bad == 0, "Adam step %d: %d of %zu values off torch.optim.Adam", t, bad, n);
        free(g), free(want);
    }
    free(p), free(m), free(v);
    st_close(&gf);
}

/* bf16 inference: the same picture as fp32 to within bf16's rounding, and the refusals.
 * The kernels themselves are checked tightly in test_ops; here the whole network is. A
 * random width-8 network amplifies the rounding of its ~100 layers (measured: 34.6 dB
 * between the two; a width-32 one gives 42 dB on a photo, a trained one far more, see
 * docs/BENCHMARKS.md), while a wiring mistake (a wrong weight offset, a missed pair)
 * gives garbage, below 20 dB: hence the 30 dB bound. Width 16 too: there every 3×3 conv
 * from 16 channels on is Winograd (fp32 in bf16 inference), the paths' up conv included,
 * whose bf16 shuffle pack must still be made. */
static void check_bf16_width(int width);
static void check_bf16(void)
{
    check_bf16_width(8);
    check_bf16_width(16);
}

static void check_bf16_width(int width)
{
    sung_error e;
    sung_model *m, *odd;
    if (sung_model_create(&m, SUNG_SUNG, width, 3, &e) || sung_model_create(&odd, SUNG_SUNG, 7, 3, &e)) {
        CHECK(0, "bf16: create: %s", e.msg);
        return;
    }
    CHECK(sung_model_set_precision(odd, SUNG_BF16, &e) == SUNG_ERR_ARG, "bf16 with an odd width must be refused");
    CHECK(sung_precision_parse("bf16") == SUNG_BF16 && sung_precision_parse("fp16") == -1, "precision names");
    if (!ops_has_bf16()) {
        CHECK(sung_model_set_precision(m, SUNG_BF16, &e) == SUNG_ERR_ARG, "bf16 without avx512_bf16 must be refused");
        SKIP("bf16 inference: not available with kernels %s (%s)", sung_isa(), e.msg);
    } else {
        sung_image in, a, b;
        sung_image_alloc(&in, 45, 37, &e);
        for (int y = 0; y < 37; y++)
            for (int x = 0; x < 45; x++)
                for (int c = 0; c < 3; c++)
                    in.data[(y * 45 + x) * 3 + c] = 0.5f + 0.4f * sinf(0.3f * x + 0.2f * y + c);
        CHECK(sung_deblur(m, &in, 4, &a, &e) == SUNG_OK, "fp32 deblur: %s", e.msg);
        CHECK(sung_model_set_precision(m, SUNG_BF16, &e) == SUNG_OK, "bf16: %s", e.msg);
        CHECK(sung_deblur(m, &in, 4, &b, &e) == SUNG_OK, "bf16 deblur: %s", e.msg);
        double mse = 0, worst = 0;
        for (size_t i = 0; i < (size_t)45 * 37 * 3; i++) {
            double d = a.data[i] - b.data[i];
            mse += d * d / (45 * 37 * 3);
            worst = fmax(worst, fabs(d));
        }
        double psnr = 10 * log10(1 / fmax(mse, 1e-30));
        printf("bf16 vs fp32 deblur (width %d, random weights): PSNR %.1f dB, max difference %.4f\n", width, psnr,
               worst);
        CHECK(psnr > 30 && worst > 0, "bf16 vs fp32: PSNR %.1f dB, max difference %g", psnr, worst);
        sung_model_set_precision(m, SUNG_FP32, &e);
        sung_image c;
        CHECK(sung_deblur(m, &in, 4, &c, &e) == SUNG_OK && !memcmp(c.data, a.data, (size_t)45 * 37 * 3 * 4),
              "back to fp32 gives the fp32 result again");
        sung_image_free(&in), sung_image_free(&a), sung_image_free(&b), sung_image_free(&c);
    }
    sung_model_free(m);
    sung_model_free(odd);
}

/* bf16 mixed-precision training: one batch's losses and gradients against fp32 on the
 * same weights and data. The kernels are checked tightly in test_ops (against fp32 on
 * bf16-rounded data); here the wiring is: every layer's forward, both its gradients and
 * the temporaries planned. Rounding inputs, weights and gradients to 8 significant bits
 * over ~100 layers moves a width-8 model's gradient by a few per cent (measured below,
 * printed); a wrong offset or a missed pair moves it by order 1, hence the 0.1 bound on
 * the whole gradient and 1e-2 on the loss. An odd batch (3) pairs an image with zeros. */
static void check_bf16_train(void)
{
    sung_error e;
    sung_model *m;
    if (!ops_has_bf16()) {
        SKIP("bf16 training: not available with kernels %s", sung_isa());
        return;
    }
    if (sung_model_create(&m, SUNG_SUNG, 8, 5, &e)) {
        CHECK(0, "bf16 train: create: %s", e.msg);
        return;
    }
    int N = 3, H = 32, W = 64;
    size_t k = (size_t)N * H * W * 3;
    float *bl = malloc(k * 4), *sh = malloc(k * 4);
    for (int n = 0; n < N; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) {
                    size_t i = (((size_t)n * H + y) * W + x) * 3 + c;
                    sh[i] = 0.5f + 0.4f * sinf(0.37f * x + 0.23f * y * (n + 1) + c);
                    bl[i] = 0.5f + 0.3f * sinf(0.37f * x + 0.23f * y * (n + 1) + c + 0.2f);
                }
    sung_train_opts o = sung_train_defaults(m);
    sung_losses L32, L16;
    float *g32 = malloc(m->nfloats * 4);
    CHECK(sung_train_grads(m, bl, sh, N, H, W, &o, &L32, &e) == SUNG_OK, "fp32 train: %s", e.msg);
    memcpy(g32, m->g, m->nfloats * 4);
    CHECK(sung_model_set_precision(m, SUNG_BF16, &e) == SUNG_OK, "bf16: %s", e.msg);
    size_t plan = sung_train_memory(m, N, H, W, &o);
    CHECK(sung_train_grads(m, bl, sh, N, H, W, &o, &L16, &e) == SUNG_OK, "bf16 train: %s", e.msg);
    double num = 0, den = 0, worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < m->nparams; i++) {
        double dn = 0, rn = 0;
        for (size_t j = m->params[i].off; j < m->params[i].off + m->params[i].numel; j++)
            dn += ((double)m->g[j] - g32[j]) * ((double)m->g[j] - g32[j]), rn += (double)g32[j] * g32[j];
        num += dn, den += rn;
        if (rn > 0 && sqrt(dn / rn) > worst) worst = sqrt(dn / rn), worst_name = m->params[i].name;
    }
    double all = sqrt(num / den), dl = fabs(L16.total - L32.total) / L32.total;
    printf("bf16 vs fp32 training (width 8, batch 3): loss %.6f vs %.6f, gradient relative error %.3g over all "
           "parameters, worst tensor %.3g (%s)\n", L16.total, L32.total, all, worst, worst_name);
    CHECK(all < 0.1 && all > 0 && dl < 1e-2, "bf16 training: gradient relative error %.3g, loss %.3g", all, dl);
    /* the backward's temporaries were planned: the pass fit in what sung_train_memory counted */
    CHECK(m->act.total <= plan, "bf16 training used %zu bytes of activations, %zu planned", m->act.total, plan);
    sung_model_free(m);
    free(bl), free(sh), free(g32);
}

/* sung_options: bad values refused with nothing changed; a kernel set that would change
 * the kernels in use refused once they are chosen, the same set accepted; the kernel set
 * in use never above the one asked for (so the SUNG_ISA runs of make test run what they
 * say); the Winograd mode reaching the models made after it (memory with the Winograd
 * packs: F(4×4) > F(2×2) > none) and giving the direct convolutions' result within the
 * inference tolerance. */
static int isa_rank(const char *name)
{
    static const char *const names[] = {"generic", "avx2", "avx512", "avx512+bf16"};
    for (int r = 0; r < 4; r++)
        if (name && !strcmp(name, names[r])) return r;
    return 4;
}

static void check_options(void)
{
    sung_error e;
    const sung_options env = sung_get_options();
    sung_options o = env;
    o.winograd = 3;
    CHECK(sung_set_options(&o, &e) == SUNG_ERR_ARG && strstr(e.msg, "winograd"), "winograd 3 accepted: %s", e.msg);
    o = env, o.winograd_bf16 = 2;
    CHECK(sung_set_options(&o, &e) == SUNG_ERR_ARG && strstr(e.msg, "winograd_bf16"), "winograd_bf16 2 accepted");
    o = env, o.isa = "avx1024", o.winograd = 0;
    CHECK(sung_set_options(&o, &e) == SUNG_ERR_ARG && strstr(e.msg, "avx1024"), "kernel set avx1024 accepted");
    CHECK(sung_get_options().winograd == env.winograd && sung_get_options().isa == env.isa,
          "a refused sung_set_options changed the options");
    const char *isa = sung_isa(); /* the kernels are chosen from here on */
    CHECK(isa_rank(isa) < 4 && isa_rank(isa) <= (env.isa ? isa_rank(env.isa) : 3),
          "kernels %s in use, at most %s asked for", isa, env.isa ? env.isa : "(any)");
    if (isa_rank(isa) > 0) {
        o = env, o.isa = "generic";
        CHECK(sung_set_options(&o, &e) == SUNG_ERR_ARG && !strcmp(sung_isa(), isa),
              "the kernel set changed after the kernels were chosen (%s -> generic)", isa);
    }
    o = env, o.isa = isa;
    CHECK(sung_set_options(&o, &e) == SUNG_OK && !strcmp(sung_isa(), isa), "the set in use refused: %s", e.msg);

    /* Each Winograd mode reaches the model: its output differs from the direct
     * convolutions' in the last bits (a 136×132 picture: the layers of more than
     * 32×32 pixels run Winograd, F(2×2) the U-Nets' 64-channel level), and by less
     * than 1e-4. (The modes' memory
     * no longer differs: Winograd layers keep the direct layout and transform it into
     * each call's temporary.) */
    static const int modes[4] = {0, 2, 4, 6};
    sung_model *m[4] = {NULL, NULL, NULL, NULL};
    sung_image in, out[4];
    memset(out, 0, sizeof out);
    CHECK(sung_image_alloc(&in, 136, 132, &e) == SUNG_OK, "alloc: %s", e.msg);
    for (int y = 0; y < 132; y++)
        for (int x = 0; x < 136; x++)
            for (int c = 0; c < 3; c++) in.data[(y * 136 + x) * 3 + c] = 0.5f + 0.4f * sinf(0.3f * x + 0.2f * y + c);
    for (int k = 0; k < 4; k++) {
        o = env, o.winograd = modes[k];
        CHECK(sung_set_options(&o, &e) == SUNG_OK, "winograd %d: %s", modes[k], e.msg);
        CHECK(sung_model_create(&m[k], SUNG_SUNG, 16, 5, &e) == SUNG_OK, "create: %s", e.msg);
        if (!m[k]) continue;
        CHECK(sung_deblur(m[k], &in, 2, &out[k], &e) == SUNG_OK, "deblur with winograd %d: %s", modes[k], e.msg);
    }
    CHECK(sung_set_options(&env, &e) == SUNG_OK, "options of the environment back: %s", e.msg);
    for (int k = 1; k < 4; k++)
        if (out[0].data && out[k].data) {
            double worst = 0;
            for (size_t i = 0; i < (size_t)136 * 132 * 3; i++) worst = fmax(worst, fabs(out[k].data[i] - out[0].data[i]));
            printf("winograd %d against direct convolutions (width 16, 136x132): max difference %.2g\n", modes[k], worst);
            CHECK(worst > 0 && worst < 1e-4,
                  "winograd %d against direct convolutions: max difference %g (0: the mode did not reach the model)",
                  modes[k], worst);
        }
    for (int k = 0; k < 4; k++) sung_model_free(m[k]), sung_image_free(&out[k]);
    sung_image_free(&in);
}

/* sung_model_flops counts what the graph runs: the forward FLOPs the profile adds up over
 * a deblur equal it for every variant, and one figure is pinned (the structure walk it
 * replaced gave 533,053,440 for sung, width 8, 2 iterations, 64×64). */
static void check_flops(void)
{
    sung_error e;
    for (int v = 0; v < 3; v++) {
        sung_model *m;
        if (sung_model_create(&m, (sung_variant)v, 8, 1, &e)) {
            CHECK(0, "create: %s", e.msg);
            return;
        }
        int w = 64, h = 48; /* multiples of 16: no padding at 2 iterations */
        float *px = calloc((size_t)w * h * 3, sizeof *px);
        for (int i = 0; i < w * h * 3; i++) px[i] = (float)((i * 37) % 101) / 100;
        sung_image in = {w, h, px}, out;
        sung_profile_reset(m);
        CHECK(sung_deblur(m, &in, 2, &out, &e) == SUNG_OK, "deblur: %s", e.msg);
        sung_layer_time rows[64];
        int n = sung_profile_get(m, rows, 64);
        double ran = 0;
        for (int i = 0; i < n && i < 64; i++) ran += rows[i].flops;
        double f = sung_model_flops(m, 2, h, w);
        CHECK(f > 0 && ran == f, "%s: sung_model_flops %.0f, the deblur ran %.0f", sung_variant_name((sung_variant)v), f, ran);
        if (v == SUNG_SUNG)
            CHECK(sung_model_flops(m, 2, 64, 64) == 533053440.0, "sung, width 8, 64x64: %.0f FLOPs, not 533053440",
                  sung_model_flops(m, 2, 64, 64));
        sung_image_free(&out);
        /* keyed by input picture: the same FLOPs, every row a picture of the pyramid's
         * scales or the U-Nets' levels below them (64x48 down to 4x3), 64x48 among them */
        sung_profile_reset_by(m, SUNG_PROFILE_PICTURE);
        CHECK(sung_deblur(m, &in, 2, &out, &e) == SUNG_OK, "deblur: %s", e.msg);
        n = sung_profile_get(m, rows, 64);
        ran = 0;
        int named = 1, full = 0;
        for (int i = 0; i < n && i < 64; i++) {
            int pw = 0, ph = 0;
            char rest = 0;
            if (sscanf(rows[i].name, "%dx%d%c", &pw, &ph, &rest) != 2 || pw * 3 != ph * 4 || 64 % pw) named = 0;
            if (pw == 64 && ph == 48) full = 1;
            ran += rows[i].flops;
        }
        CHECK(n >= 4 && named && full, "%s: %d picture rows, named WxH of the pyramid: %d, 64x48 among them: %d",
              sung_variant_name((sung_variant)v), n, named, full);
        CHECK(ran == f, "%s: by picture %.0f FLOPs, sung_model_flops %.0f", sung_variant_name((sung_variant)v), ran, f);
        sung_image_free(&out);
        sung_profile_reset(m); /* back to layer types */
        CHECK(sung_deblur(m, &in, 2, &out, &e) == SUNG_OK, "deblur: %s", e.msg);
        n = sung_profile_get(m, rows, 64);
        CHECK(n > 0 && !strncmp(rows[0].name, "conv", 4), "sung_profile_reset keys by layer type again: '%s'",
              n > 0 ? rows[0].name : "");
        sung_image_free(&out);
        free(px);
        sung_model_free(m);
    }
}

int main(void)
{
    test_env_options();
    printf("kernels: %s\n", sung_isa());
    check_options();
    check_pyramid();
    check_adam();
    check_variant("sung");
    check_variant("base");
    check_variant("siun");
    check_bf16();
    check_bf16_train();
    check_flops();
    return test_summary("test_model");
}
