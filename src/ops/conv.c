/* Convolution and transposed convolution, forward and backward, as tap convolutions
 * (kernels.h). The data gradient of a stride-2 conv and the transposed conv itself are
 * split into the four output parity classes (sub-pixel convolutions), so no zero is
 * ever stuffed or multiplied. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"
#include "ops.h"

/* ---- dispatch ---------------------------------------------------------------- */

static const kernel_set *ks;

/* The kernel sets from slowest to fastest; a request (ops_set_isa) names the fastest
 * one allowed, and the CPU may hold the choice below it. */
static const char *const isa_names[] = {"generic", "avx2", "avx512", "avx512+bf16"};
static int isa_max = 3;

static const kernel_set *pick(int max)
{
    int has512 = 0, has2 = 0, has16 = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    has512 = __builtin_cpu_supports("avx512f");
    has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#ifdef SUNG_BF16_KERNELS
    has16 = has512 && __builtin_cpu_supports("avx512bf16");
#endif
#endif
#ifdef SUNG_BF16_KERNELS
    if (max >= 3 && has16) return &kernels_avx512bf16;
#else
    (void)has16;
#endif
    if (max >= 2 && has512) return &kernels_avx512;
    if (max >= 1 && has2) return &kernels_avx2;
    return &kernels_generic;
}

static const kernel_set *kern(void)
{
    if (!ks) ks = pick(isa_max); /* idempotent: a race writes the same pointer */
    return ks;
}

int ops_set_isa(const char *name)
{
    int max = 3;
    if (name && *name)
        for (max = 0; strcmp(name, isa_names[max]); max++)
            if (max == 3) return -1;
    if (ks && pick(max) != ks) return -2;
    isa_max = max;
    return 0;
}

const char *ops_isa(void) { return kern()->name; }

int ops_has_bf16(void) { return kern()->conv_row_bf16 != NULL; }

double ops_peak_flops(void)
{
    const kernel_set *k = kern();
    double best = 0;
    long rounds = 20000000;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = 0, t1 = 0;
        int nt = 1;
        float sink = 0;
#pragma omp parallel reduction(+ : sink)
        {
#pragma omp single
            {
#ifdef _OPENMP
                nt = omp_get_num_threads();
                t0 = omp_get_wtime();
#endif
            }
            sink += k->fma_probe(rounds);
        }
#ifdef _OPENMP
        t1 = omp_get_wtime();
#endif
        if (t1 > t0 && sink == sink) {
            double f = (double)rounds * k->probe_flops * nt / (t1 - t0);
            if (f > best) best = f;
        }
    }
    return best;
}

/* ---- shapes and packing ---------------------------------------------------------- */

static int pad_of(const conv_shape *s) { return s->k / 2; }

void conv_out_size(const conv_shape *s, int ih, int iw, int *oh, int *ow)
{
    if (s->transposed) { /* (i−1)·2 − 2·2 + 5 + 1 */
        *oh = 2 * ih;
        *ow = 2 * iw;
    } else {
        *oh = (ih - 1) / s->stride + 1;
        *ow = (iw - 1) / s->stride + 1;
    }
}

size_t conv_fwd_pack_size(const conv_shape *s)
{
    return (size_t)s->k * s->k * s->A * conv_round(s->B);
}

size_t conv_bwd_pack_size(const conv_shape *s)
{
    return (size_t)s->k * s->k * s->B * conv_round(s->A);
}

/* PyTorch index of weight (a = input channel, b = output channel, tap ky, kx) */
static size_t w_index(const conv_shape *s, int a, int b, int ky, int kx)
{
    size_t kk = (size_t)s->k * s->k;
    size_t ab = s->transposed ? (size_t)a * s->B + b : (size_t)b * s->A + a;
    return ab * kk + (size_t)ky * s->k + kx;
}

void conv_pack(const conv_shape *s, const float *w, float *fwd, float *bwd)
{
    int Ap = conv_round(s->A), Bp = conv_round(s->B);
    if (fwd) memset(fwd, 0, conv_fwd_pack_size(s) * sizeof *fwd);
    if (bwd) memset(bwd, 0, conv_bwd_pack_size(s) * sizeof *bwd);
    for (int ky = 0; ky < s->k; ky++)
        for (int kx = 0; kx < s->k; kx++) {
            size_t t = (size_t)ky * s->k + kx;
            for (int a = 0; a < s->A; a++)
                for (int b = 0; b < s->B; b++) {
                    float v = w[w_index(s, a, b, ky, kx)];
                    if (fwd) fwd[(t * s->A + a) * Bp + b] = v;
                    if (bwd) bwd[(t * s->B + b) * Ap + a] = v;
                }
        }
}

/* In blocks of 16 output channels, so that both the rows of gpack read and the part of
 * dw written (16 of its [A][k][k] or [k][k] runs) stay in cache: one side is always
 * strided. */
void conv_unpack_grad(const conv_shape *s, const float *gpack, float *dw)
{
    int Bp = conv_round(s->B), kk = s->k * s->k;
    for (int b0 = 0; b0 < s->B; b0 += 16) {
        int b1 = b0 + 16 < s->B ? b0 + 16 : s->B;
        for (int t = 0; t < kk; t++)
            for (int a = 0; a < s->A; a++) {
                const float *g = gpack + ((size_t)t * s->A + a) * Bp;
                for (int b = b0; b < b1; b++) dw[w_index(s, a, b, t / s->k, t % s->k)] += g[b];
            }
    }
}

static size_t shuffle_group_size(const conv_shape *s)
{
    return (size_t)s->k * s->k * s->A * conv_round(s->B / 4);
}

size_t conv_shuffle_pack_size(const conv_shape *s)
{
    return 4 * (shuffle_group_size(s) + conv_round(s->B / 4));
}

void conv_shuffle_pack(const conv_shape *s, const float *w, const float *bias, float *packed)
{
    assert(!s->transposed && s->stride == 1 && s->B % 4 == 0);
    int C = s->B / 4, Cp = conv_round(C);
    size_t gsize = shuffle_group_size(s);
    memset(packed, 0, conv_shuffle_pack_size(s) * sizeof *packed);
    float *bout = packed + 4 * gsize;
    for (int sub = 0; sub < 4; sub++)
        for (int c = 0; c < C; c++) {
            int b = 4 * c + sub; /* sub = 2i + j */
            if (bias) bout[sub * Cp + c] = bias[b];
            for (int t = 0; t < s->k * s->k; t++)
                for (int a = 0; a < s->A; a++)
                    packed[sub * gsize + ((size_t)t * s->A + a) * Cp + c] =
                        w[w_index(s, a, b, t / s->k, t % s->k)];
        }
}

/* ---- running a tap convolution -------------------------------------------------- */

static void run_conv(const conv_job *j, int n)
{
    if (j->qh <= 0 || j->qw <= 0) return;
    const kernel_set *k = kern();
    int nb = (j->B + k->conv_bblock - 1) / k->conv_bblock;
    void (*row)(const conv_job *, int, int, int) = j->bf16 ? k->conv_row_bf16 : k->conv_row;
    if (j->narrow) { /* every channel in one call */
        assert(!j->bf16 && j->B <= CONV_NARROW_MAX);
        row = k->conv_row_narrow;
        nb = 1;
    }
    assert(row);
    long items = (long)n * j->qh * nb;
#pragma omp parallel for schedule(dynamic, 1)
    for (long it = 0; it < items; it++) {
        int b = (int)(it % nb);
        long r = it / nb;
        row(j, (int)(r / j->qh), (int)(r % j->qh), b * k->conv_bblock);
    }
}

static conv_job job_base(tensor out, tensor in, int B, int Bp, const float *zeros)
{
    conv_job j = {
        .in = in.d, .ih = in.h, .iw = in.w, .ild = in.ld, .A = in.c, .s = 1,
        .in_n = t_img(&in),
        .out = out.d, .ow = out.w, .old = out.ld, .B = B, .Bp = Bp, .out_n = t_img(&out),
        .qh = out.h, .qw = out.w, .om = 1,
        .zeros = zeros,
    };
    return j;
}

/* Taps of the sub-pixel class r (0/1) of a stride-2, pad-p, k-tap gather whose output
 * index is 2q + r and whose input index is q + (r + p − kk)/2 for kk ≡ r + p (mod 2).
 * Writes the tap indices kk and input offsets; returns how many. */
static int parity_taps(int k, int p, int r, int *kk, int *off)
{
    int n = 0;
    for (int i = 0; i < k; i++)
        if (((r + p - i) & 1) == 0) {
            kk[n] = i;
            off[n] = (r + p - i) / 2;
            n++;
        }
    return n;
}

/* out (+)= sub-pixel conv: for each parity class (ry, rx) of out, the taps above,
 * except class (0, 0) where skip00 (done by the caller).
 * w: packed [k][k][X][Yp] with X = in.c, Y = out.c. */
static void run_subpixel(tensor out, tensor in, const float *w, int Yp, int k, int p,
                         const float *bias, int act, int accumulate, const float *zeros,
                         int n, int bf16, int skip00)
{
    conv_tap taps[64];
    int ky[8], oy[8], kx[8], ox[8];
    assert(k <= 8);
    for (int ry = 0; ry < 2; ry++)
        for (int rx = 0; rx < 2; rx++) {
            if (skip00 && !ry && !rx) continue;
            int ny = parity_taps(k, p, ry, ky, oy), nx = parity_taps(k, p, rx, kx, ox);
            int nt = 0;
            for (int a = 0; a < ny; a++)
                for (int b = 0; b < nx; b++)
                    taps[nt++] = (conv_tap){oy[a], ox[b],
                                            w + ((size_t)ky[a] * k + kx[b]) * in.c * Yp};
            conv_job j = job_base(out, in, out.c, Yp, zeros);
            j.qh = (out.h - ry + 1) / 2;
            j.qw = (out.w - rx + 1) / 2;
            j.om = 2;
            j.oy0 = ry;
            j.ox0 = rx;
            j.taps = taps;
            j.ntaps = nt;
            j.bias = bias;
            j.act = act;
            j.accumulate = accumulate;
            j.bf16 = bf16;
            run_conv(&j, n);
        }
}

/* The tap conv of a stride-s, non-transposed layer: tap (ky, kx) reads the weights at
 * w0 + (ky·k + kx)·tstride (rows Wp apart); the epilogue as conv_forward. */
static void run_taps(const conv_shape *s, tensor out, tensor in, const float *w0, size_t tstride, int Wp,
                     const float *bias, int act, const tensor *res, int accumulate, const float *zeros,
                     int bf16, int narrow)
{
    int p = pad_of(s);
    conv_tap taps[64];
    assert(s->k * s->k <= 64 && (!res || act == ACT_NONE));
    for (int ky = 0; ky < s->k; ky++)
        for (int kx = 0; kx < s->k; kx++)
            taps[ky * s->k + kx] = (conv_tap){ky - p, kx - p, w0 + ((size_t)ky * s->k + kx) * tstride};
    conv_job j = job_base(out, in, s->B, Wp, zeros);
    j.s = s->stride;
    j.bf16 = bf16;
    j.narrow = narrow;
    j.taps = taps;
    j.ntaps = s->k * s->k;
    j.bias = bias;
    j.act = act;
    j.accumulate = accumulate;
    if (res) {
        assert(res->h == out.h && res->w == out.w && res->c == s->B);
        j.res = res->d;
        j.rld = res->ld;
        j.res_n = t_img(res);
    }
    run_conv(&j, in.n);
}

/* in.c is s->A, or for bf16 the number of channel pairs */
static void forward(const conv_shape *s, tensor out, tensor in, const float *wfwd,
                    const float *bias, int act, const tensor *res, int accumulate,
                    const float *zeros, int bf16)
{
    int oh, ow, Bp = conv_round(s->B);
    conv_out_size(s, in.h, in.w, &oh, &ow);
    assert(in.c == (bf16 ? bf16_pairs(s->A) : s->A));
    assert(out.c == s->B && out.h == oh && out.w == ow && out.n == in.n);
    assert(!res || act == ACT_NONE);
    if (s->transposed) {
        assert(!res);
        run_subpixel(out, in, wfwd, Bp, s->k, pad_of(s), bias, act, accumulate, zeros, in.n, bf16, 0);
        return;
    }
    run_taps(s, out, in, wfwd, (size_t)in.c * Bp, Bp, bias, act, res, accumulate, zeros, bf16, 0);
}

static void shuffle_forward_(const conv_shape *s, tensor out, tensor in, const float *packed,
                             int act, const float *zeros, int bf16)
{
    int C = s->B / 4, Cp = conv_round(C), p = pad_of(s);
    size_t gsize = (size_t)s->k * s->k * in.c * Cp;
    assert(in.c == (bf16 ? bf16_pairs(s->A) : s->A));
    assert(out.c == C && out.h == 2 * in.h && out.w == 2 * in.w && out.n == in.n);
    conv_tap taps[64];
    for (int sub = 0; sub < 4; sub++) {
        const float *w = packed + sub * gsize;
        for (int ky = 0; ky < s->k; ky++)
            for (int kx = 0; kx < s->k; kx++)
                taps[ky * s->k + kx] = (conv_tap){ky - p, kx - p,
                                                  w + ((size_t)ky * s->k + kx) * in.c * Cp};
        conv_job j = job_base(out, in, C, Cp, zeros);
        j.qh = in.h;
        j.qw = in.w;
        j.om = 2;
        j.oy0 = sub / 2;
        j.ox0 = sub % 2;
        j.taps = taps;
        j.ntaps = s->k * s->k;
        j.bias = packed + 4 * gsize + sub * Cp;
        j.act = act;
        j.bf16 = bf16;
        run_conv(&j, in.n);
    }
}

void conv_forward(const conv_shape *s, tensor out, tensor in, const float *wfwd,
                  const float *bias, int act, const tensor *res, int accumulate,
                  const float *zeros)
{
    forward(s, out, in, wfwd, bias, act, res, accumulate, zeros, 0);
}

/* A a multiple of CONV_VEC: no partial vector of input channels (which the kernel
 * handles, but slower than the direct conv) */
int conv_narrow_ok(const conv_shape *s)
{
    return s->B <= CONV_NARROW_MAX && !s->transposed && s->A % CONV_VEC == 0;
}

void conv_forward_narrow(const conv_shape *s, tensor out, tensor in, int a0, const float *wbwd,
                         const float *bias, int act, const tensor *res, int accumulate,
                         const float *zeros)
{
    int oh, ow, Ap = conv_round(s->A);
    conv_out_size(s, in.h, in.w, &oh, &ow);
    assert(s->B <= CONV_NARROW_MAX && !s->transposed && a0 >= 0 && a0 + in.c <= s->A);
    assert(out.c == s->B && out.h == oh && out.w == ow && out.n == in.n);
    run_taps(s, out, in, wbwd + a0, (size_t)s->B * Ap, Ap, bias, act, res, accumulate, zeros, 0, 1);
}

void conv_shuffle_forward(const conv_shape *s, tensor out, tensor in, const float *packed,
                          int act, const float *zeros)
{
    shuffle_forward_(s, out, in, packed, act, zeros, 0);
}

/* ---- Winograd F(m×m, 3×3) ---------------------------------------------------------- */

int conv_wino_ok(const conv_shape *s)
{
    return s->k == 3 && s->stride == 1 && !s->transposed && s->A % 16 == 0 && s->B >= 16;
}

int conv_wino_bf16_ok(const conv_shape *s) { return conv_wino_ok(s) && s->A % 32 == 0; }

/* Tiles per kernel call: their V and M, (m+2)²·tiles·(A + Bp) floats, stay in L2. A
 * multiple of the conv kernel's 12-pixel register tile for F(4×4). */
static int wino_tiles(const conv_shape *s, int m)
{
    if (m == 2) return 32;
    if (m == 6) return 12;
    return s->A + conv_round(s->B) <= 128 ? 24 : 12;
}

static size_t wino_T(int m) { return (size_t)(m + 2) * (m + 2); }

size_t conv_wino_pack_size(const conv_shape *s, int m)
{
    return wino_T(m) * s->A * conv_round(s->B);
}

/* a thread's V and M (or Z) of a call of `tiles` tiles */
static size_t wino_tiles_scratch(const conv_shape *s, int m, int tiles)
{
    return wino_T(m) * ((size_t)tiles * (s->A + conv_round(s->B)) + 2 * WINO_PAD);
}

static size_t wino_per_thread(const conv_shape *s, int m) { return wino_tiles_scratch(s, m, wino_tiles(s, m)); }

static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

size_t conv_wino_scratch_size(const conv_shape *s, int m) { return (size_t)max_threads() * wino_per_thread(s, m); }

/* U = G g Gᵀ per (a, b), in double:
 *   F(2×2): G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
 *   F(4×4): G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1]
 *   F(6×6): G = [1 0 0; −2/9 −2/9 −2/9; −2/9 2/9 −2/9; 1/90 1/45 2/45; 1/90 −1/45 2/45;
 *                32/45 16/45 8/45; 32/45 −16/45 8/45; 0 0 1] */
/* dgrad: the weights of the data gradient instead (conv_wino_dgrad_pack): the Winograd
 * conv has s->B inputs and s->A outputs, and its tap (ky, kx) is s's (2−ky, 2−kx).
 * Training packs every step, so the sums run over blocks of WP output channels, the
 * innermost loop along b (vectorised; the same sums in the same order as one (a, b) at a
 * time: bit for bit the same U), and each float of U is written once. */
#define WP 32
static const double wino_G2[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};
static const double wino_G4[6][3] = {{1 / 4., 0, 0},         {-1 / 6., -1 / 6., -1 / 6.},
                                     {-1 / 6., 1 / 6., -1 / 6.}, {1 / 24., 1 / 12., 1 / 6.},
                                     {1 / 24., -1 / 12., 1 / 6.}, {0, 0, 1}};
static const double wino_G6[8][3] = {{1, 0, 0},
                                     {-2 / 9., -2 / 9., -2 / 9.},
                                     {-2 / 9., 2 / 9., -2 / 9.},
                                     {1 / 90., 1 / 45., 2 / 45.},
                                     {1 / 90., -1 / 45., 2 / 45.},
                                     {32 / 45., 16 / 45., 8 / 45.},
                                     {32 / 45., -16 / 45., 8 / 45.},
                                     {0, 0, 1}};
static const double (*wino_G(int m))[3] { return m == 2 ? wino_G2 : m == 4 ? wino_G4 : wino_G6; }

static void wino_pack(const conv_shape *s, int m, const float *w, float *U, int dgrad)
{
    assert(m == 2 || m == 4 || m == 6);
    const double(*G)[3] = wino_G(m);
    conv_shape ws = dgrad ? conv_dgrad_shape(s) : *s; /* the Winograd conv's shape */
    int Bp = conv_round(ws.B), n = m + 2;
    for (int a = 0; a < ws.A; a++)
        for (int b0 = 0; b0 < Bp; b0 += WP) {
            int nb = Bp - b0 < WP ? Bp - b0 : WP;
            double g[3][3][WP], t[8][3][WP];
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                    for (int i = 0; i < nb; i++) {
                        int b = b0 + i;
                        g[ky][kx][i] = b >= ws.B ? 0
                                       : dgrad ? w[w_index(s, b, a, 2 - ky, 2 - kx)] : w[w_index(s, a, b, ky, kx)];
                    }
            for (int r = 0; r < n; r++)
                for (int kx = 0; kx < 3; kx++)
                    for (int i = 0; i < nb; i++)
                        t[r][kx][i] = G[r][0] * g[0][kx][i] + G[r][1] * g[1][kx][i] + G[r][2] * g[2][kx][i];
            for (int r = 0; r < n; r++)
                for (int k = 0; k < n; k++) {
                    float *u = U + ((size_t)(n * r + k) * ws.A + a) * Bp + b0;
                    for (int i = 0; i < nb; i++)
                        u[i] = (float)(t[r][0][i] * G[k][0] + t[r][1][i] * G[k][1] + t[r][2][i] * G[k][2]);
                    for (int i = ws.B - b0; i < nb; i++) u[i] = 0; /* +0, not −0 from a negative G */
                }
        }
}
#undef WP

void conv_wino_pack(const conv_shape *s, int m, const float *w, float *U) { wino_pack(s, m, w, U, 0); }

/* conv_wino_transform of the 3×3 kernel whose tap (ky, kx) is fwd's tap taps[3·ky + kx] */
static void wino_transform_taps(const conv_shape *s, int m, const float *fwd, const int *taps, int pairs, float *U)
{
    assert(conv_wino_ok(s) && (m == 2 || m == 4 || m == 6) && (!pairs || s->A % 2 == 0));
    const kernel_set *k = kern();
    int Bp = conv_round(s->B), blk = 4, nblk = (s->A + blk - 1) / blk;
#pragma omp parallel for schedule(static) if (nblk > 1)
    for (int i = 0; i < nblk; i++) {
        int a0 = i * blk, a1 = a0 + blk < s->A ? a0 + blk : s->A;
        k->wino_u_rows(fwd, taps, s->A, Bp, m, U, a0, a1, pairs);
    }
}

void conv_wino_transform(const conv_shape *s, int m, const float *fwd, int pairs, float *U)
{
    static const int taps[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    wino_transform_taps(s, m, fwd, taps, pairs, U);
}

/* Written through the caches, each line a Winograd layer stores is first read from
 * memory; at 2 threads the full-resolution layers are bound by that traffic
 * (docs/BENCHMARKS.md), so outputs too large to stay in cache are stored around it. */
static size_t wino_stream_bytes = (size_t)4 << 20;

size_t ops_set_wino_stream_bytes(size_t bytes)
{
    size_t old = wino_stream_bytes;
    wino_stream_bytes = bytes;
    return old;
}

int conv_wino_stream(tensor out)
{
    size_t bytes = (size_t)t_img(&out) * out.n * sizeof(float);
    return bytes >= wino_stream_bytes && (uintptr_t)out.d % 64 == 0 && out.ld % 16 == 0 && t_img(&out) % 16 == 0;
}

/* s2d: the conv reads the space-to-depth of in (conv_s2conv_*): a picture of half its
 * height and width whose channel ph·in.c + a is in's channel a at (2y + ph/2, 2x + ph%2) */
static void wino_run(const conv_shape *s, int m, tensor out, tensor in, const float *U,
                     const float *bias, int act, const tensor *res, int accumulate,
                     const float *zeros, float *scratch, int bf16, int shuffle, int om, int round, int s2d)
{
    int iw = in.w;
    size_t in_img = t_img(&in);
    if (s2d) {
        assert(in.h % 2 == 0 && in.w % 2 == 0 && in.c % 16 == 0 && !bf16 && !shuffle && om == 1);
        in.h /= 2, in.w /= 2, in.c *= 4; /* the virtual picture; in.ld and its image stride stay */
    }
    assert(conv_wino_ok(s) && in.c == s->A && (om == 1 || (om == 2 && !shuffle && !res)));
    assert(shuffle ? s->B % 4 == 0 && out.c == s->B / 4 && out.h == 2 * in.h && out.w == 2 * in.w && !res
                   : out.c == s->B && out.h == om * in.h && out.w == om * in.w);
    assert(!res || act == ACT_NONE);
    assert(m == 4 || ((m == 2 || m == 6) && !bf16));
    assert(!round || (m != 2 && !bf16 && ops_has_bf16()));
    const kernel_set *k = kern();
    wino_job j = {
        .in = in.d, .h = in.h, .w = in.w, .ild = in.ld, .A = s->A, .in_n = in_img,
        .s2d = s2d, .iw = iw,
        .out = out.d, .old = out.ld, .B = s->B, .Bp = conv_round(s->B), .out_n = t_img(&out),
        .U = U, .bf16 = bf16, .bias = bias, .act = act, .accumulate = accumulate, .zeros = zeros,
        .shuffle = shuffle, .om = om, .ow = out.w, .round = round,
    };
    if (res) {
        j.res = res->d;
        j.rld = res->ld;
        j.res_n = t_img(res);
        /* at full resolution 4 % off a ResBlock's second conv (its residual in place) */
        j.res_far = om == 1 && t_img(res) * sizeof(float) >= wino_stream_bytes;
    }
    j.stream = conv_wino_stream(out);
    int tiles = wino_tiles(s, m);
    int th = (in.h + m - 1) / m, tw = (in.w + m - 1) / m, chunks = (tw + tiles - 1) / tiles;
    size_t per = wino_per_thread(s, m);
    long items = (long)in.n * th * chunks;
    void (*row)(const wino_job *, int, int, int, int, float *) = m == 2 ? k->wino_row : m == 4 ? k->wino4_row : k->wino6_row;
#pragma omp parallel for schedule(dynamic, 1)
    for (long it = 0; it < items; it++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        int c = (int)(it % chunks), ty = (int)(it / chunks % th), n = (int)(it / chunks / th);
        int tx0 = c * tiles, tx1 = tx0 + tiles < tw ? tx0 + tiles : tw;
        row(&j, n, ty, tx0, tx1, scratch + (size_t)tid * per);
    }
}

void conv_forward_wino(const conv_shape *s, int m, tensor out, tensor in, const float *U,
                       const float *bias, int act, const tensor *res, int accumulate,
                       const float *zeros, float *scratch)
{
    wino_run(s, m, out, in, U, bias, act, res, accumulate, zeros, scratch, 0, 0, 1, 0, 0);
}

void conv_forward_wino_round(const conv_shape *s, int m, tensor out, tensor in, const float *U,
                             const float *bias, int act, const tensor *res, int accumulate,
                             const float *zeros, float *scratch)
{
    wino_run(s, m, out, in, U, bias, act, res, accumulate, zeros, scratch, 0, 0, 1, 1, 0);
}

void conv_shuffle_forward_wino(const conv_shape *s, int m, tensor out, tensor in, const float *U,
                               const float *bias, int act, const float *zeros, float *scratch)
{
    wino_run(s, m, out, in, U, bias, act, NULL, 0, zeros, scratch, 0, 1, 1, 0, 0);
}

/* A transposed 5×5 stride-2 layer's parity class (0, 0) is a 3×3 stride-1 conv of its
 * input: taps (ky, kx) ∈ {0, 2, 4}² at input offsets (2 − ky)/2, i.e. the 3×3 conv whose
 * tap (ty, tx) is the layer's (4 − 2ty, 4 − 2tx). */
conv_shape conv_wino_as(const conv_shape *s, int way)
{
    switch (way) {
    case WINO_AS_TCONV00: return (conv_shape){3, 1, s->A, s->B, 0};
    case WINO_AS_TSHUFFLE: return (conv_shape){3, 1, s->A, 4 * s->B, 0};
    default: assert(way == WINO_AS_S2D); return (conv_shape){3, 1, 4 * s->A, s->B, 0};
    }
}
static conv_shape tconv00_shape(const conv_shape *s) { return conv_wino_as(s, WINO_AS_TCONV00); }

int conv_tconv_wino_ok(const conv_shape *s)
{
    conv_shape c = tconv00_shape(s);
    return s->transposed && s->k == 5 && s->stride == 2 && conv_wino_ok(&c);
}

void conv_forward_tconv_wino(const conv_shape *s, int m, tensor out, tensor in, const float *wfwd,
                             const float *bias, int act, int accumulate, const float *zeros,
                             float *scratch, float *tmp)
{
    assert(conv_tconv_wino_ok(s) && in.c == s->A && out.c == s->B && out.h == 2 * in.h && out.w == 2 * in.w);
    conv_shape c = tconv00_shape(s);
    int taps[9]; /* the class's tap (ty, tx) is the layer's (4 − 2ty, 4 − 2tx) */
    for (int ty = 0; ty < 3; ty++)
        for (int tx = 0; tx < 3; tx++) taps[3 * ty + tx] = (4 - 2 * ty) * 5 + 4 - 2 * tx;
    wino_transform_taps(&c, m, wfwd, taps, 0, tmp);
    wino_run(&c, m, out, in, tmp, bias, act, NULL, accumulate, zeros, scratch, 0, 0, 2, 0, 0);
    run_subpixel(out, in, wfwd, conv_round(s->B), 5, 2, bias, act, accumulate, zeros, in.n, 0, 1);
}

/* The whole transposed layer as one 3×3 stride-1 conv of its input from A to 4B
 * channels, channel 4b + 2r + c being output pixel (2y + r, 2x + c)'s channel b, then
 * the pixel shuffle: parity r's tap ty is the layer's r + 4 − 2ty where that is 0 … 4
 * (class (0, 0) above: 4 − 2ty), else zero; 36 taps for its 25, all by Winograd. */
static conv_shape tconv_shuffle_shape(const conv_shape *s) { return conv_wino_as(s, WINO_AS_TSHUFFLE); }

int conv_tconv_shuffle_ok(const conv_shape *s)
{
    conv_shape c = tconv_shuffle_shape(s);
    return s->transposed && s->k == 5 && s->stride == 2 && conv_wino_ok(&c);
}

size_t conv_tconv_shuffle_pack_size(const conv_shape *s)
{
    conv_shape c = tconv_shuffle_shape(s);
    return conv_fwd_pack_size(&c) + conv_round(c.B);
}

void conv_tconv_shuffle_pack(const conv_shape *s, const float *w, const float *bias, float *packed)
{
    assert(conv_tconv_shuffle_ok(s));
    conv_shape c = tconv_shuffle_shape(s);
    int Bp = conv_round(c.B);
    memset(packed, 0, conv_tconv_shuffle_pack_size(s) * sizeof *packed);
    float *bout = packed + conv_fwd_pack_size(&c);
    for (int b = 0; b < s->B; b++)
        for (int sub = 0; sub < 4; sub++) {
            int r = sub / 2, cc = sub % 2, o = 4 * b + sub;
            if (bias) bout[o] = bias[b];
            for (int ty = 0; ty < 3; ty++)
                for (int tx = 0; tx < 3; tx++) {
                    int ky = r + 4 - 2 * ty, kx = cc + 4 - 2 * tx;
                    if (ky > 4 || kx > 4) continue;
                    for (int a = 0; a < s->A; a++)
                        packed[((size_t)(3 * ty + tx) * s->A + a) * Bp + o] = w[w_index(s, a, b, ky, kx)];
                }
        }
}

void conv_forward_tconv_shuffle(const conv_shape *s, int m, tensor out, tensor in, const float *packed, int bias,
                                int act, int accumulate, const float *zeros, float *scratch, float *tmp)
{
    assert(conv_tconv_shuffle_ok(s) && in.c == s->A && out.c == s->B && out.h == 2 * in.h && out.w == 2 * in.w);
    conv_shape c = tconv_shuffle_shape(s);
    conv_wino_transform(&c, m, packed, 0, tmp);
    wino_run(&c, m, out, in, tmp, bias ? packed + conv_fwd_pack_size(&c) : NULL, act, NULL, accumulate, zeros,
             scratch, 0, 1, 1, 0, 0);
}

/* A 5×5 stride-2 conv (padding 2) as one 3×3 stride-1 conv of the space-to-depth of its
 * input (4A channels, channel ph·A + a being pixel (2y + ph/2, 2x + ph%2)'s channel a):
 * output (y, x) takes input row 2(y + ty − 1) + py, the layer's tap 2ty + py where that
 * is at most 4 (zero otherwise); 36 taps for its 25, all by Winograd, the space-to-depth
 * read by the input transform (wino_job.s2d). */
static conv_shape s2conv_shape(const conv_shape *s) { return conv_wino_as(s, WINO_AS_S2D); }

int conv_s2conv_ok(const conv_shape *s)
{
    conv_shape c = s2conv_shape(s);
    return !s->transposed && s->k == 5 && s->stride == 2 && s->A % 16 == 0 && conv_wino_ok(&c);
}

size_t conv_s2conv_pack_size(const conv_shape *s)
{
    conv_shape c = s2conv_shape(s);
    return conv_fwd_pack_size(&c);
}

void conv_s2conv_pack(const conv_shape *s, const float *w, float *packed)
{
    assert(conv_s2conv_ok(s));
    conv_shape c = s2conv_shape(s);
    int Bp = conv_round(s->B);
    memset(packed, 0, conv_s2conv_pack_size(s) * sizeof *packed);
    for (int ph = 0; ph < 4; ph++)
        for (int ty = 0; ty < 3; ty++)
            for (int tx = 0; tx < 3; tx++) {
                int ky = 2 * ty + ph / 2, kx = 2 * tx + ph % 2;
                if (ky > 4 || kx > 4) continue;
                for (int a = 0; a < s->A; a++)
                    for (int b = 0; b < s->B; b++)
                        packed[((size_t)(3 * ty + tx) * c.A + ph * s->A + a) * Bp + b] = w[w_index(s, a, b, ky, kx)];
            }
}

void conv_forward_s2conv(const conv_shape *s, int m, tensor out, tensor in, const float *packed, const float *bias,
                         int act, const tensor *res, int accumulate, const float *zeros, float *scratch, float *tmp)
{
    assert(conv_s2conv_ok(s) && (m == 4 || m == 6) && in.c == s->A && out.c == s->B && out.h * 2 == in.h && out.w * 2 == in.w);
    conv_shape c = s2conv_shape(s);
    conv_wino_transform(&c, m, packed, 0, tmp);
    wino_run(&c, m, out, in, tmp, bias, act, res, accumulate, zeros, scratch, 0, 0, 1, 0, 1);
}

/* The data gradient of a 3×3 stride-1 conv, din = correlation of dout with the weights
 * flipped and transposed, is a 3×3 stride-1 conv from B to A channels. */
conv_shape conv_dgrad_shape(const conv_shape *s) { return (conv_shape){s->k, 1, s->B, s->A, 0}; }

int conv_wino_dgrad_ok(const conv_shape *s)
{
    conv_shape d = conv_dgrad_shape(s);
    return s->k == 3 && s->stride == 1 && !s->transposed && conv_wino_ok(&d);
}

void conv_wino_dgrad_pack(const conv_shape *s, int m, const float *w, float *U)
{
    assert(conv_wino_dgrad_ok(s));
    wino_pack(s, m, w, U, 1);
}

static void dgrad_wino(const conv_shape *s, int m, const tensor *din, tensor dout, const float *U,
                       const float *zeros, float *scratch, int round)
{
    conv_shape d = conv_dgrad_shape(s);
    tensor g = dout, di = *din;
    g.d = dout.g, g.g = NULL; /* the gradients, viewed as data */
    di.d = din->g, di.g = NULL;
    wino_run(&d, m, di, g, U, NULL, ACT_NONE, NULL, 1, zeros, scratch, 0, 0, 1, round, 0);
}

void conv_wino_dgrad_transform(const conv_shape *s, int m, const float *bwd, int pairs, float *U)
{
    assert(conv_wino_dgrad_ok(s));
    static const int flipped[9] = {8, 7, 6, 5, 4, 3, 2, 1, 0};
    conv_shape d = conv_dgrad_shape(s);
    wino_transform_taps(&d, m, bwd, flipped, pairs, U);
}

void conv_backward_data_wino(const conv_shape *s, int m, const tensor *din, tensor dout, const float *U,
                             const float *zeros, float *scratch)
{
    dgrad_wino(s, m, din, dout, U, zeros, scratch, 0);
}

void conv_backward_data_wino_round(const conv_shape *s, int m, const tensor *din, tensor dout, const float *U,
                                   const float *zeros, float *scratch)
{
    dgrad_wino(s, m, din, dout, U, zeros, scratch, 1);
}

/* ---- bf16 ---------------------------------------------------------------------- */

/* Round to nearest even, as vcvtneps2bf16 (NaN is not expected here). */
static uint32_t bf16_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

float bf16_round(float f)
{
    uint32_t u = bf16_bits(f) << 16;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* [T][A][Yp] floats → [T][A/2 rounded up][Yp] pairs */
static void to_pairs(const float *src, size_t T, int A, int Yp, float *dst)
{
    int A2 = bf16_pairs(A);
    for (size_t t = 0; t < T; t++)
        for (int q = 0; q < A2; q++)
            for (int y = 0; y < Yp; y++) {
                const float *r = src + t * A * Yp;
                uint32_t lo = bf16_bits(r[(size_t)(2 * q) * Yp + y]);
                uint32_t hi = 2 * q + 1 < A ? bf16_bits(r[(size_t)(2 * q + 1) * Yp + y]) : 0;
                uint32_t word = lo | hi << 16;
                memcpy(dst + (t * A2 + q) * Yp + y, &word, sizeof word);
            }
}

size_t conv_bf16_pack_size(const conv_shape *s)
{
    return (size_t)s->k * s->k * bf16_pairs(s->A) * conv_round(s->B);
}

void conv_bf16_pack(const conv_shape *s, const float *fwd, float *pairs)
{
    to_pairs(fwd, (size_t)s->k * s->k, s->A, conv_round(s->B), pairs);
}

size_t conv_bf16_shuffle_pack_size(const conv_shape *s)
{
    int Cp = conv_round(s->B / 4);
    return 4 * ((size_t)s->k * s->k * bf16_pairs(s->A) * Cp + Cp);
}

void conv_bf16_shuffle_pack(const conv_shape *s, const float *shuf, float *pairs)
{
    int Cp = conv_round(s->B / 4);
    size_t g32 = shuffle_group_size(s), g16 = (size_t)s->k * s->k * bf16_pairs(s->A) * Cp;
    for (int sub = 0; sub < 4; sub++) to_pairs(shuf + sub * g32, (size_t)s->k * s->k, s->A, Cp, pairs + sub * g16);
    memcpy(pairs + 4 * g16, shuf + 4 * g32, 4 * Cp * sizeof *pairs); /* the biases, fp32 */
}

void bf16_convert(tensor pairs, tensor in)
{
    assert(pairs.c == bf16_pairs(in.c) && pairs.n == in.n && pairs.h == in.h && pairs.w == in.w);
    const kernel_set *k = kern();
    if (k->to_pairs_row) {
        for (int n = 0; n < in.n; n++)
#pragma omp parallel for
            for (int y = 0; y < in.h; y++)
                k->to_pairs_row(in.d + t_off(&in, n, y, 0), in.ld, in.c, pairs.d + t_off(&pairs, n, y, 0),
                                pairs.ld, in.w);
        return;
    }
    for (int n = 0; n < in.n; n++)
#pragma omp parallel for
        for (int y = 0; y < in.h; y++)
            for (int x = 0; x < in.w; x++) {
                const float *src = in.d + t_off(&in, n, y, x);
                uint32_t *dst = (uint32_t *)(pairs.d + t_off(&pairs, n, y, x));
                for (int q = 0; q < pairs.c; q++) {
                    uint32_t hi = 2 * q + 1 < in.c ? bf16_bits(src[2 * q + 1]) : 0;
                    dst[q] = bf16_bits(src[2 * q]) | hi << 16;
                }
            }
}

void conv_forward_bf16(const conv_shape *s, tensor out, tensor in_pairs, const float *wpairs,
                       const float *bias, int act, const tensor *res, int accumulate,
                       const float *zeros)
{
    assert(ops_has_bf16());
    forward(s, out, in_pairs, wpairs, bias, act, res, accumulate, zeros, 1);
}

void conv_shuffle_forward_bf16(const conv_shape *s, tensor out, tensor in_pairs,
                               const float *pairs, int act, const float *zeros)
{
    assert(ops_has_bf16());
    shuffle_forward_(s, out, in_pairs, pairs, act, zeros, 1);
}

size_t conv_wino_bf16_pack_size(const conv_shape *s)
{
    return wino_T(4) * bf16_pairs(s->A) * conv_round(s->B);
}

void conv_wino_bf16_pack(const conv_shape *s, const float *U, float *pairs)
{
    to_pairs(U, wino_T(4), s->A, conv_round(s->B), pairs);
}

void conv_forward_wino_bf16(const conv_shape *s, tensor out, tensor in, const float *pairs,
                            const float *bias, int act, const tensor *res, int accumulate,
                            const float *zeros, float *scratch)
{
    assert(ops_has_bf16() && conv_wino_bf16_ok(s));
    wino_run(s, 4, out, in, pairs, bias, act, res, accumulate, zeros, scratch, 1, 0, 1, 0, 0);
}

/* ---- backward ------------------------------------------------------------------ */

/* The weight gradient's rows (images × grid rows) are summed in wgrad_parts() fixed
 * parts, whatever the number of threads: the first part onto the gradient itself, each
 * other into a zeroed buffer of scratch, then the buffers added to it in part order. So
 * the same training gives the same bits with 1 or 2 threads (`--threads auto` changes
 * the count with the machine's load) and costs what one buffer per thread did. The
 * parts: the CPUs the process may run on (fixed for a run; the thread count is not). */
static int wgrad_parts(void)
{
    int p = 1;
#ifdef _OPENMP
    p = omp_get_num_procs();
#endif
    return p < 1 ? 1 : p > 64 ? 64 : p;
}

/* ---- the weight gradient by Winograd F(4×4) (kernels: wino4_wgrad_row) ---------------- */

int conv_wino_wgrad_ok(const conv_shape *s)
{
    return s->k == 3 && s->stride == 1 && !s->transposed && s->A % 16 == 0 && s->B % 16 == 0;
}

/* per part: its dU, (m+2)²·A·Bp floats (a pack's size); per thread: V and Z of a chunk
 * of tiles */

/* Tiles per kernel call: the tiles are the GEMM's long dimension, its accumulators
 * loaded and stored once per call; F(6×6) at 24 / 48 tiles against the forward's 12:
 * 384² 32 → 32 10.1 → 9.8 ms, 96² 128 → 128 10.3 → 8.9 ms (docs/BENCHMARKS.md) */
static int wgrad_tiles(const conv_shape *s, int m)
{
    if (m == 4) return wino_tiles(s, m);
    return s->A + conv_round(s->B) <= 64 ? 24 : 48;
}

static size_t wgrad_per_thread(const conv_shape *s, int m) { return wino_tiles_scratch(s, m, wgrad_tiles(s, m)); }

size_t conv_wino_wgrad_scratch_size(const conv_shape *s, int m)
{
    return (size_t)wgrad_parts() * conv_wino_pack_size(s, m) + (size_t)max_threads() * wgrad_per_thread(s, m);
}

void conv_weight_grad_wino(const conv_shape *s, int m, float *gpack, tensor dout, tensor in, const float *zeros,
                           float *scratch, int round)
{
    assert(conv_wino_wgrad_ok(s) && (m == 4 || m == 6) && in.c == s->A && dout.c == s->B && in.n == dout.n &&
           in.h == dout.h && in.w == dout.w && round >= 0 && round <= 2 && (!round || ops_has_bf16()));
    const kernel_set *k = kern();
    void (*row)(const wino_job *, int, int, int, int, float *, float *) = m == 4 ? k->wino4_wgrad_row : k->wino6_wgrad_row;
    int T = m + 2, Bp = conv_round(s->B), tiles = wgrad_tiles(s, m);
    int th = (in.h + m - 1) / m, tw = (in.w + m - 1) / m, chunks = (tw + tiles - 1) / tiles;
    wino_job j = {
        .in = in.d, .h = in.h, .w = in.w, .ild = in.ld, .A = s->A, .in_n = t_img(&in),
        .out = dout.g, .old = dout.ld, .B = s->B, .Bp = Bp, .out_n = t_img(&dout), .round = round,
        .zeros = zeros,
    };
    size_t du = conv_wino_pack_size(s, m), per = wgrad_per_thread(s, m);
    long rows = (long)in.n * th;
    int parts = wgrad_parts();
    if (parts > rows) parts = (int)rows;
    float *tbuf = scratch + (size_t)wgrad_parts() * du;
#pragma omp parallel
    {
        int tid = 0, nt = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        /* part q: tile rows [r0, r1) in order, each row's tiles in order, into its dU */
        for (int q = tid; q < parts; q += nt) {
            float *dU = scratch + (size_t)q * du;
            memset(dU, 0, du * sizeof *dU);
            for (long r = rows * q / parts; r < rows * (q + 1) / parts; r++)
                for (int c = 0; c < chunks; c++) {
                    int tx0 = c * tiles, tx1 = tx0 + tiles < tw ? tx0 + tiles : tw;
                    row(&j, (int)(r / th), (int)(r % th), tx0, tx1, tbuf + (size_t)tid * per, dU);
                }
        }
#pragma omp barrier
        /* the parts added in order, then gpack[ky][kx] += Σ_ij G[i][ky]·G[j][kx]·dU[T·i+j]
         * (G of F(m×m), conv_wino_pack's), each thread a share of the (a, b) */
        size_t ab = (size_t)s->A * Bp, e0 = ab * tid / nt, e1 = ab * (tid + 1) / nt;
        float G[8][3]; /* in float: the gradient's sums are float */
        for (int i = 0; i < T; i++)
            for (int kx = 0; kx < 3; kx++) G[i][kx] = (float)wino_G(m)[i][kx];
        enum { EB = 64 }; /* elements at a time, the innermost loops (vectorised) */
        for (size_t e = e0; e < e1; e += EB) {
            int ne = e1 - e < EB ? (int)(e1 - e) : EB;
            float u[64][EB], t[8][3][EB];
            for (int xi = 0; xi < T * T; xi++) {
                memcpy(u[xi], scratch + (size_t)xi * ab + e, ne * sizeof(float));
                for (int q = 1; q < parts; q++) {
                    const float *src = scratch + (size_t)q * du + (size_t)xi * ab + e;
                    for (int l = 0; l < ne; l++) u[xi][l] += src[l];
                }
            }
            for (int i = 0; i < T; i++)
                for (int kx = 0; kx < 3; kx++) {
                    float *v = t[i][kx];
                    for (int l = 0; l < ne; l++) v[l] = 0;
                    for (int jj = 0; jj < T; jj++)
                        if (G[jj][kx] != 0)
                            for (int l = 0; l < ne; l++) v[l] += G[jj][kx] * u[T * i + jj][l];
                }
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    float *dst = gpack + (size_t)(3 * ky + kx) * ab + e;
                    for (int i = 0; i < T; i++)
                        if (G[i][ky] != 0)
                            for (int l = 0; l < ne; l++) dst[l] += G[i][ky] * t[i][kx][l];
                }
        }
    }
}

size_t conv_scratch_size(const conv_shape *s)
{
    int nt = max_threads();
    int parts = wgrad_parts() - 1;
    return (size_t)(nt > parts ? nt : parts) * conv_fwd_pack_size(s);
}

static void run_wgrad(const wgrad_job *j, int n, float *gpack, size_t gsize, float *scratch, int bf16)
{
    long rows = (long)n * j->qh;
    if (rows <= 0) return;
    const kernel_set *k = kern();
    void (*wrows)(const wgrad_job *, int, int) = bf16 ? k->wgrad_rows_bf16 : k->wgrad_rows;
    assert(wrows);
    int parts = wgrad_parts();
    if (parts > rows) parts = (int)rows;
#pragma omp parallel
    {
        int tid = 0, nt = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        for (int q = tid; q < parts; q += nt) {
            float *dst = q ? scratch + (size_t)(q - 1) * gsize : gpack;
            if (q) memset(dst, 0, gsize * sizeof *dst);
            wgrad_tap taps[64];
            for (int t = 0; t < j->ntaps; t++) {
                taps[t] = j->taps[t];
                taps[t].dw = dst + (j->taps[t].dw - gpack);
            }
            wgrad_job jj = *j;
            jj.taps = taps;
            long r0 = rows * q / parts, r1 = rows * (q + 1) / parts;
            if (r0 < r1) wrows(&jj, (int)r0, (int)r1);
        }
#pragma omp barrier
        /* reduce: thread tid adds its share of the elements, parts in order */
        size_t e0 = gsize * tid / nt, e1 = gsize * (tid + 1) / nt;
        for (int q = 1; q < parts; q++) {
            const float *src = scratch + (size_t)(q - 1) * gsize;
            for (size_t e = e0; e < e1; e++) gpack[e] += src[e];
        }
    }
}

/* dbias[b] += Σ over images and pixels of g[b]: one partial sum per row (pixels in
 * order, vectorised over channels), then the rows added in order, so that the sums do
 * not depend on the thread count. (It summed channel blocks of 8 over the whole tensor
 * before, a scalar pass per block: 1.5–1.8 ms of a 5 ms bf16 weight gradient at 32
 * channels, 256², batch 2; docs/BENCHMARKS.md.) */
/* out[b] = Σ over the pixels of row r (image r / g.h) of g[c0 + b], b < nc ≤ 64, in
 * pixel order; the sums in registers (constant counts for the usual widths) */
static void row_sums(tensor g, long r, int c0, int nc, float *out)
{
    float acc[64] = {0};
    const float *src = g.d + t_off(&g, (int)(r / g.h), (int)(r % g.h), 0) + c0;
#define ROW_SUM(NC) for (int x = 0; x < g.w; x++, src += g.ld) for (int b = 0; b < (NC); b++) acc[b] += src[b]
    if (nc == 64) ROW_SUM(64);
    else if (nc == 32) ROW_SUM(32);
    else if (nc == 16) ROW_SUM(16);
    else ROW_SUM(nc);
#undef ROW_SUM
    memcpy(out, acc, (size_t)nc * sizeof(float));
}

static void bias_grad(tensor g, float *dbias)
{
    long rows = (long)g.n * g.h;
    int C = g.c;
    float *part = malloc(sizeof(float) * (size_t)rows * C);
    if (!part) { /* the same sums, one thread */
        for (long r = 0; r < rows; r++)
            for (int c0 = 0; c0 < C; c0 += 64) {
                float acc[64];
                int nc = C - c0 < 64 ? C - c0 : 64;
                row_sums(g, r, c0, nc, acc);
                for (int b = 0; b < nc; b++) dbias[c0 + b] += acc[b];
            }
        return;
    }
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++)
        for (int c0 = 0; c0 < C; c0 += 64) row_sums(g, r, c0, C - c0 < 64 ? C - c0 : 64, part + (size_t)r * C + c0);
    for (long r = 0; r < rows; r++)
        for (int b = 0; b < C; b++) dbias[b] += part[(size_t)r * C + b];
    free(part);
}

/* gpack += in ⊗ g over the taps of s. In fp32 in and g are the tensors (g: the
 * gradient viewed as data); in bf16 their image pairs (n = pairs, c = channels). */
static void weight_grad(const conv_shape *s, float *gpack, tensor g, tensor in, float *scratch, int bf16)
{
    int p = pad_of(s), Bp = conv_round(s->B);
    size_t kk = (size_t)s->k * s->k;
    wgrad_tap wt[64];
    assert(kk <= 64 && in.c == s->A && g.c == s->B && in.n == g.n);
    wgrad_job wj = {
        .a = in.d, .ah = in.h, .aw = in.w, .ald = in.ld, .A = s->A, .a_n = t_img(&in),
        .g = g.d, .gh = g.h, .gw = g.w, .gld = g.ld, .B = s->B, .Bp = Bp, .g_n = t_img(&g),
        .taps = wt, .ntaps = (int)kk,
    };
    for (int ky = 0; ky < s->k; ky++)
        for (int kx = 0; kx < s->k; kx++) {
            float *dw = gpack + ((size_t)ky * s->k + kx) * s->A * Bp;
            if (s->transposed) /* grid = input pixels; dout sampled at 2q + k − p */
                wt[ky * s->k + kx] = (wgrad_tap){0, 0, ky - p, kx - p, dw};
            else /* grid = output pixels; input sampled at s·q + k − p */
                wt[ky * s->k + kx] = (wgrad_tap){ky - p, kx - p, 0, 0, dw};
        }
    if (s->transposed) {
        wj.sa = 1, wj.sg = 2, wj.qh = in.h, wj.qw = in.w;
    } else {
        wj.sa = s->stride, wj.sg = 1, wj.qh = g.h, wj.qw = g.w;
    }
    run_wgrad(&wj, in.n, gpack, conv_fwd_pack_size(s), scratch, bf16);
}

/* di (data) += conv^T(g). wbwd: the bwd pack [k][k][g.c][Ap]; in bf16 g holds channel
 * pairs (g.c = bf16_pairs(B)) and wbwd the matching pairs. */
static void data_grad(const conv_shape *s, tensor di, tensor g, const float *wbwd, const float *zeros, int bf16)
{
    int p = pad_of(s), Ap = conv_round(s->A);
    size_t kk = (size_t)s->k * s->k, tstride = (size_t)g.c * Ap;
    conv_tap taps[64];
    if (s->transposed || s->stride == 1) {
        /* transposed: the adjoint of the sub-pixel conv, a stride-2 gather from dout;
         * stride 1: correlation with the flipped kernel */
        for (int ky = 0; ky < s->k; ky++)
            for (int kx = 0; kx < s->k; kx++) {
                int dy = s->transposed ? ky - p : p - ky, dx = s->transposed ? kx - p : p - kx;
                taps[ky * s->k + kx] = (conv_tap){dy, dx, wbwd + ((size_t)ky * s->k + kx) * tstride};
            }
        conv_job j = job_base(di, g, s->A, Ap, zeros);
        j.s = s->transposed ? 2 : 1;
        j.taps = taps;
        j.ntaps = (int)kk;
        j.accumulate = 1;
        j.bf16 = bf16;
        run_conv(&j, di.n);
    } else { /* stride 2: the four parity classes of din, as the transposed conv */
        assert(s->stride == 2);
        run_subpixel(di, g, wbwd, Ap, s->k, p, NULL, ACT_NONE, 1, zeros, di.n, bf16, 0);
    }
}

void conv_backward(const conv_shape *s, const tensor *din, float *gpack, float *dbias,
                   tensor dout, tensor in, const float *wbwd, const float *zeros,
                   float *scratch)
{
    tensor g = dout;
    g.d = dout.g; /* the gradient, viewed as data */
    g.g = NULL;
    if (dbias) bias_grad(g, dbias);
    if (gpack) weight_grad(s, gpack, g, in, scratch, 0);
    if (!din) return;
    tensor di = *din;
    di.d = din->g;
    di.g = NULL;
    data_grad(s, di, g, wbwd, zeros, 0);
}

/* ---- bf16 backward --------------------------------------------------------------- */

size_t conv_bf16_bwd_pack_size(const conv_shape *s)
{
    return (size_t)s->k * s->k * bf16_pairs(s->B) * conv_round(s->A);
}

void conv_bf16_bwd_pack(const conv_shape *s, const float *bwd, float *pairs)
{
    to_pairs(bwd, (size_t)s->k * s->k, s->B, conv_round(s->A), pairs);
}

#define BF16_SLACK 64 /* words after each temporary: the kernels read up to 2 vectors past a pixel's channels */

size_t conv_bf16_bwd_tmp_size(const conv_shape *s, int n, int ih, int iw)
{
    int oh, ow;
    conv_out_size(s, ih, iw, &oh, &ow);
    size_t n2 = (size_t)(n + 1) / 2, opix = (size_t)oh * ow;
    return n2 * ih * iw * s->A + n2 * opix * s->B + (size_t)n * opix * bf16_pairs(s->B) + 3 * BF16_SLACK;
}

/* dst (n = ⌈src.n/2⌉, compact) ← image pairs of src: word = bf16(image 2i) | bf16(image 2i+1) << 16 */
static void image_pairs(tensor dst, tensor src)
{
    assert(dst.n == (src.n + 1) / 2 && dst.c == src.c && dst.h == src.h && dst.w == src.w && dst.ld == dst.c);
    long rows = (long)dst.n * src.h;
    const kernel_set *k = kern();
#pragma omp parallel for
    for (long r = 0; r < rows; r++) {
        int i = (int)(r / src.h), y = (int)(r % src.h);
        int hi_n = 2 * i + 1 < src.n;
        if (k->image_pairs_row) {
            k->image_pairs_row(src.d + t_off(&src, 2 * i, y, 0), hi_n ? src.d + t_off(&src, 2 * i + 1, y, 0) : NULL,
                               src.ld, src.c, dst.d + t_off(&dst, i, y, 0), src.w);
            continue;
        }
        for (int x = 0; x < src.w; x++) {
            const float *lo = src.d + t_off(&src, 2 * i, y, x);
            const float *hi = hi_n ? src.d + t_off(&src, 2 * i + 1, y, x) : NULL;
            uint32_t *o = (uint32_t *)(dst.d + t_off(&dst, i, y, x));
            for (int c = 0; c < src.c; c++) o[c] = bf16_bits(lo[c]) | (hi ? bf16_bits(hi[c]) << 16 : 0);
        }
    }
}

void conv_backward_bf16(const conv_shape *s, const tensor *din, float *gpack, float *dbias,
                        tensor dout, tensor in, const float *wbwd16, const float *zeros,
                        float *scratch, float *tmp)
{
    assert(ops_has_bf16());
    tensor g = dout;
    g.d = dout.g;
    g.g = NULL;
    if (dbias) bias_grad(g, dbias);
    int n2 = (in.n + 1) / 2;
    tensor a2 = {tmp, NULL, n2, in.h, in.w, in.c, in.c};
    tensor g2 = {a2.d + n2 * t_img(&a2) + BF16_SLACK, NULL, n2, g.h, g.w, g.c, g.c};
    if (gpack) {
        image_pairs(a2, in);
        image_pairs(g2, g);
        memset(g2.d + n2 * t_img(&g2), 0, BF16_SLACK * sizeof(float));
        weight_grad(s, gpack, g2, a2, scratch, 1);
    }
    if (!din) return;
    tensor di = *din;
    di.d = din->g;
    di.g = NULL;
    tensor gc = {g2.d + n2 * t_img(&g2) + BF16_SLACK, NULL, g.n, g.h, g.w, bf16_pairs(g.c), bf16_pairs(g.c)};
    bf16_convert(gc, g);
    data_grad(s, di, gc, wbwd16, zeros, 1);
}

void act_backward(tensor t, int act)
{
    if (act == ACT_NONE) return;
#pragma omp parallel for collapse(2)
    for (int n = 0; n < t.n; n++)
        for (int y = 0; y < t.h; y++)
            for (int x = 0; x < t.w; x++) {
                size_t o = t_off(&t, n, y, x);
                const float *yv = t.d + o;
                float *g = t.g + o;
                for (int c = 0; c < t.c; c++) {
                    if (act == ACT_RELU)
                        g[c] = yv[c] > 0 ? g[c] : 0.0f;
                    else /* y = tanh(z)/2 + 1/2  ⇒  dy/dz = (1 − tanh²)/2 = 2y(1 − y) */
                        g[c] *= 2.0f * yv[c] * (1.0f - yv[c]);
                }
            }
}
