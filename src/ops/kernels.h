/* The inner loops of convolution, compiled once per instruction set
 * (kern_avx512.c, kern_avx2.c, kern_generic.c include kernels.inc) and picked at run
 * time. Every convolution the model needs (forward, data gradient, transposed) is a
 * "tap convolution":
 *
 *   out[n, qy*om+oy0, qx*om+ox0, b] (+)= Σ_t Σ_a in[n, qy*s+dy_t, qx*s+dx_t, a] · W_t[a][b]
 *
 * over a grid qy < qh, qx < qw, with input outside the image reading as zero. The
 * weight gradient is the matching outer-product sum (wgrad_job). */
#ifndef SUNG_KERNELS_H
#define SUNG_KERNELS_H

#include <stddef.h>

typedef struct {
    int dy, dx;
    const float *w;     /* [A][Bp] */
} conv_tap;

typedef struct {
    const float *in;
    int ih, iw, ild, A, s;
    size_t in_n;        /* floats per input image */
    float *out;
    int ow, old, B, Bp; /* ow: width of the output tensor (for addressing) */
    size_t out_n;
    int qh, qw, om, oy0, ox0;
    const conv_tap *taps;
    int ntaps;
    const float *bias;  /* Bp floats or NULL */
    int act, accumulate;
    const float *res;   /* same geometry as out except its own ld */
    int rld;
    size_t res_n;
    const float *zeros; /* >= A zeros */
    int bf16;           /* in and taps hold bf16 pairs; A counts pairs */
    int narrow;         /* B ≤ CONV_NARROW_MAX (ops.h), fp32: each tap's w holds [B][Bp] rows, Bp the
                           row stride (≥ A); conv_row_narrow */
} conv_job;

typedef struct {
    int ay, ax, gy, gx; /* offsets of the sampled a / g pixel for this tap */
    float *dw;          /* [A][Bp] accumulator */
} wgrad_tap;

/* dw_t[a][b] += Σ_{n,qy,qx} a[n, qy*sa+ay, qx*sa+ax, a] · g[n, qy*sg+gy, qx*sg+gx, b] */
typedef struct {
    const float *a;
    int ah, aw, ald, A, sa;
    size_t a_n;
    const float *g;
    int gh, gw, gld, B, Bp, sg;
    size_t g_n;
    int qh, qw;
    const wgrad_tap *taps;
    int ntaps;
} wgrad_job;

/* Winograd F(m×m, 3×3), m = 2, 4 or 6, stride 1, padding 1: out (same size as in) =
 * act(conv + bias) [+ out][+ res]. A is a multiple of 16 (of 32 with bf16). One call
 * does tiles tx0 ≤ tx < tx1 of tile row ty (output rows m·ty … m·ty+m−1) of image n:
 * input transform V = BᵀdB of each (m+2)² tile into scratch, then per ξ < (m+2)² the
 * product V[ξ]·U[ξ] with the conv kernel, then the output transform AᵀMA. With bf16
 * (m = 4 only) V is rounded to bf16 pairs as it is stored and U holds pairs: the
 * products run on vdpbf16ps, the transforms stay fp32. */
#define WINO_PAD 16

typedef struct {
    const float *in;
    int h, w, ild, A;
    size_t in_n;
    float *out;
    int old, B, Bp;
    size_t out_n;
    const float *U;     /* [(m+2)²][A][Bp] transformed weights (A/2 pairs with bf16) */
    int bf16;
    const float *bias;
    int act, accumulate;
    const float *res;
    int rld;
    size_t res_n;
    const float *zeros;
    int shuffle;        /* out = pixel_shuffle(·, 2) of the result: out is 2h×2w×B/4, old its ld
                           (no res, no accumulate) */
    int om, ow;         /* result pixel (y, x) goes to out pixel (om·y, om·x) of an ow-wide out
                           (om 1: ow = w, or 2w with shuffle; 2: one parity class of a
                           transposed conv) */
    int round;          /* fp32 jobs of F(4×4) and F(6×6) (bf16 kernels only): the input
                           rounded to bf16 as it is read (bf16 training); 2, the weight
                           gradient only: its Winograd-domain products in bf16 too */
    int stream;         /* the inner tiles' plain stores bypass the caches (non-temporal;
                           out, its ld and its image stride 64-byte aligned): for an out
                           too large to stay in cache for the next layer */
    int res_far;        /* res (om 1) too large to be in cache (as stream): prefetched for
                           each row of tiles before its products */
    int s2d, iw;        /* s2d: in is read as its space-to-depth (h, w the halves of its
                           height and width, iw its own width; channel ph·A/4 + a is its
                           channel a at pixel (2y + ph/2, 2x + ph%2)); fp32 jobs */
} wino_job;

typedef struct {
    const char *name;
    /* One output row (image n, grid row qy) for output channels [b0, b0 + 2·VL·…) */
    void (*conv_row)(const conv_job *j, int n, int qy, int b0);
    int conv_bblock;    /* output channels per conv_row call */
    /* One output row of a narrow job (all its B ≤ CONV_NARROW_MAX channels; b0 unused) */
    void (*conv_row_narrow)(const conv_job *j, int n, int qy, int b0);
    /* The same on bf16 pairs (conv_job.bf16), or NULL where the CPU lacks avx512_bf16 */
    void (*conv_row_bf16)(const conv_job *j, int n, int qy, int b0);
    /* npix pixels of c floats, ld apart → bf16 pairs, dld words apart (with bf16) */
    void (*to_pairs_row)(const float *src, int ld, int c, float *dst, int dld, int npix);
    /* Rows r0..r1 of the flattened (n, qy) grid, all taps, all of A and B. */
    void (*wgrad_rows)(const wgrad_job *j, int r0, int r1);
    /* The same on bf16 pairs of images (a and g words hold images 2i, 2i+1; n counts
     * pairs), or NULL where the CPU lacks avx512_bf16 */
    void (*wgrad_rows_bf16)(const wgrad_job *j, int r0, int r1);
    /* npix pixels of images lo and hi (NULL: zeros), c floats ld apart → bf16 image
     * pairs, c words per pixel (with bf16) */
    void (*image_pairs_row)(const float *lo, const float *hi, int ld, int c, float *dst, int npix);
    /* scratch: 16·(tx1 − tx0)·(A + Bp) floats */
    void (*wino_row)(const wino_job *j, int n, int ty, int tx0, int tx1, float *scratch);
    /* F(4×4, 3×3); scratch: 36·((tx1 − tx0)·(A + Bp) + 2·WINO_PAD) floats; bf16 jobs only where
     * conv_row_bf16 exists */
    void (*wino4_row)(const wino_job *j, int n, int ty, int tx0, int tx1, float *scratch);
    /* F(6×6, 3×3), fp32 only; scratch: 64·((tx1 − tx0)·(A + Bp) + 2·WINO_PAD) floats */
    void (*wino6_row)(const wino_job *j, int n, int ty, int tx0, int tx1, float *scratch);
    /* The weight gradient by F(4×4) of those tiles, fp32 (round: on bf16-rounded
     * operands), added into dU [36][A][Bp]; scratch as wino4_row's */
    void (*wino4_wgrad_row)(const wino_job *j, int n, int ty, int tx0, int tx1, float *scratch, float *dU);
    /* F(6×6), dU [64][A][Bp]; scratch as wino6_row's */
    void (*wino6_wgrad_row)(const wino_job *j, int n, int ty, int tx0, int tx1, float *scratch, float *dU);
    /* The transformed weights of input channels a0 … a1−1: fwd [k][k][A][Bp] (conv_pack;
     * pairs: its bf16 pairs, conv_bf16_pack), whose tap taps[3·ky + kx] is the 3×3
     * kernel's (ky, kx) → U [(m+2)²][A][Bp] (conv_wino_transform) */
    void (*wino_u_rows)(const float *fwd, const int *taps, int A, int Bp, int m, float *U, int a0, int a1,
                        int pairs);
    float (*fma_probe)(long rounds);   /* rounds × probe_flops FLOPs */
    int probe_flops;
} kernel_set;

extern const kernel_set kernels_avx512, kernels_avx2, kernels_generic;
#ifdef SUNG_BF16_KERNELS
extern const kernel_set kernels_avx512bf16;
#endif

#endif
