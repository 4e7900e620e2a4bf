/* The ops of the SUNG network: forward and backward, on NHWC tensor views.
 *
 * Convention (as llm.c): outputs first; backward passes *accumulate* (+=) into
 * gradients, so one buffer can collect the contributions of several consumers.
 * Shapes in the comments are N×H×W×C. Every op is checked against finite
 * differences in tests/test_ops.c. */
#ifndef SUNG_OPS_H
#define SUNG_OPS_H

#include "tensor.h"

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_TANH_HALF = 2 /* tanh(x)/2 + 0.5 */ };

/* ---- convolution ------------------------------------------------------------
 * Weights stay in PyTorch's layout in the model's parameter buffer; the kernels use
 * packed copies made by conv_pack():
 *   fwd [k][k][A][Bp]  (A input, B output channels, Bp = B rounded up to CONV_VEC)
 *   bwd [k][k][B][Ap]  (the transpose, for the data gradient)
 * A transposed conv (PyTorch weight [A][B][k][k]) packs the same way. */
#define CONV_VEC 16

typedef struct {
    int k, stride, A, B;
    int transposed;           /* 5×5 stride-2 transposed conv, padding 2, output_padding 1 */
} conv_shape;

static inline int conv_round(int n) { return (n + CONV_VEC - 1) / CONV_VEC * CONV_VEC; }
size_t conv_fwd_pack_size(const conv_shape *s);   /* floats */
size_t conv_bwd_pack_size(const conv_shape *s);
/* w: PyTorch layout ([B][A][k][k] conv, [A][B][k][k] transposed); fwd or bwd may be
 * NULL (inference needs no data-gradient weights; a Winograd layer no direct ones). */
void conv_pack(const conv_shape *s, const float *w, float *fwd, float *bwd);
/* gpack [k][k][A][Bp] (the fwd layout) → dw (PyTorch layout), accumulating. */
void conv_unpack_grad(const conv_shape *s, const float *gpack, float *dw);

/* Convolution followed by pixel_shuffle(·, 2) in one pass, for inference: the conv's
 * output channels 4c + 2i + j go straight to sub-pixel (i, j) of channel c, so the
 * 4×-wide intermediate never exists. Stride 1, B a multiple of 4. The packed layout is
 * per sub-pixel: [i·2+j][k][k][A][Cp], Cp = conv_round(B/4); bias [i·2+j][Cp]. */
size_t conv_shuffle_pack_size(const conv_shape *s);   /* floats, weights and bias */
void conv_shuffle_pack(const conv_shape *s, const float *w, const float *bias, float *packed);
/* out N×2h×2w×B/4 = pixel_shuffle(act(conv(in) + bias)), in N×h×w×A */
void conv_shuffle_forward(const conv_shape *s, tensor out, tensor in, const float *packed,
                          int act, const float *zeros);

/* Winograd F(m×m, 3×3), m = 2, 4 or 6, for the 3×3 stride-1 convolutions with A a
 * multiple of 16 and B ≥ 16 (conv_wino_ok): (m+2)² multiplies per m×m outputs instead of
 * 9m² (16 for 4 with m = 2, 36 for 16 with m = 4, 64 for 36 with m = 6); the weights transformed once
 * (conv_wino_pack, [(m+2)²][A][Bp]); same arguments and epilogue as conv_forward, plus
 * scratch of conv_wino_scratch_size() floats. */
int conv_wino_ok(const conv_shape *s);
size_t conv_wino_pack_size(const conv_shape *s, int m);
size_t conv_wino_scratch_size(const conv_shape *s, int m);
void conv_wino_pack(const conv_shape *s, int m, const float *w, float *U);
/* The same U from the direct forward layout (conv_pack's fwd) in fp32, on all threads:
 * the weight transform a Winograd layer does at each call (conv_plan), so that a model
 * keeps 1× its weights and not (m+2)²/9×. The same U as conv_wino_pack's but for fp32
 * rounding (a few ulp). pairs: fwd is instead that layout's bf16 pairs (conv_bf16_pack,
 * A even; bf16 inference keeps ½× its weights): the U of the bf16-rounded weights. */
void conv_wino_transform(const conv_shape *s, int m, const float *fwd, int pairs, float *U);
/* The 5×5 stride-2 layers' Winograd paths below each run a 3×3 stride-1 conv: of the
 * transposed layer's parity class (0, 0) (A → B), of the whole transposed layer to
 * 4B channels before the pixel shuffle, or of the stride-2 layer's input space-to-depth
 * (4A → B). conv_wino_as gives that shape; their tmp (the transformed weights) and
 * scratch are conv_wino_pack_size and conv_wino_scratch_size of it. */
enum { WINO_AS_TCONV00, WINO_AS_TSHUFFLE, WINO_AS_S2D };
conv_shape conv_wino_as(const conv_shape *s, int way);
/* The transposed 5×5 stride-2 conv (conv_forward's transposed case, fp32, from its fwd
 * pack) with the output parity class (0, 0), 9 of its 25 taps, by Winograd F(m×m) as a
 * 3×3 conv (conv_tconv_wino_ok: A a multiple of 16, B ≥ 16), the other three classes
 * direct. tmp and scratch: conv_wino_pack_size and conv_wino_scratch_size of the layer
 * as WINO_AS_TCONV00. */
/* The whole transposed 5×5 stride-2 layer at inference as one 3×3 conv from A to 4B
 * channels by Winograd F(m×m), then the pixel shuffle (conv_tconv_shuffle_ok: A a
 * multiple of 16): its 25 taps among 36 (the other 11 zero). packed:
 * conv_tconv_shuffle_pack (weights in the direct layout of that conv, and its biases),
 * transformed at each call into tmp; tmp and scratch as the layer WINO_AS_TSHUFFLE's.
 * out = act(tconv(in) + bias (bias 1)) [+ out]. */
/* A 5×5 stride-2 layer (A a multiple of 16, even input sizes) as one 3×3 conv of the
 * space-to-depth of its input (4A channels) by Winograd F(m×m): its 25 taps among 36.
 * packed: conv_s2conv_pack (the direct layout of that conv), transformed at each call
 * into tmp; tmp and scratch as the layer WINO_AS_S2D's. The rest as conv_forward. */
int conv_s2conv_ok(const conv_shape *s);
size_t conv_s2conv_pack_size(const conv_shape *s);
void conv_s2conv_pack(const conv_shape *s, const float *w, float *packed);
void conv_forward_s2conv(const conv_shape *s, int m, tensor out, tensor in, const float *packed, const float *bias,
                         int act, const tensor *res, int accumulate, const float *zeros, float *scratch, float *tmp);

int conv_tconv_shuffle_ok(const conv_shape *s);
size_t conv_tconv_shuffle_pack_size(const conv_shape *s);
void conv_tconv_shuffle_pack(const conv_shape *s, const float *w, const float *bias, float *packed);
void conv_forward_tconv_shuffle(const conv_shape *s, int m, tensor out, tensor in, const float *packed, int bias,
                                int act, int accumulate, const float *zeros, float *scratch, float *tmp);
int conv_tconv_wino_ok(const conv_shape *s);
void conv_forward_tconv_wino(const conv_shape *s, int m, tensor out, tensor in, const float *wfwd,
                             const float *bias, int act, int accumulate, const float *zeros,
                             float *scratch, float *tmp);
/* out N×2h×2w×B/4 = pixel_shuffle(act(conv(in) + bias), 2) by Winograd F(m×m) (B a
 * multiple of 4; bias B floats or NULL), in one pass: the output transform writes each
 * channel to its sub-pixel. */
void conv_shuffle_forward_wino(const conv_shape *s, int m, tensor out, tensor in, const float *U,
                               const float *bias, int act, const float *zeros, float *scratch);
void conv_forward_wino(const conv_shape *s, int m, tensor out, tensor in, const float *U,
                       const float *bias, int act, const tensor *res, int accumulate,
                       const float *zeros, float *scratch);
/* conv_forward_wino (m 4 or 6) of the input rounded to bf16 as it is read (round to
 * nearest even, as bf16_convert): from U of bf16-rounded weights, the operands of the
 * direct bf16 conv, with fp32 transforms and products (bf16 training; ops_has_bf16) */
void conv_forward_wino_round(const conv_shape *s, int m, tensor out, tensor in, const float *U,
                             const float *bias, int act, const tensor *res, int accumulate,
                             const float *zeros, float *scratch);

/* The data gradient of a 3×3 stride-1 conv is itself a 3×3 stride-1 "same" conv of dout,
 * from B to A channels (conv_dgrad_shape), with the weights flipped and transposed, so it
 * runs as Winograd where that shape is conv_wino_ok (B a multiple of 16, A ≥ 16):
 * conv_wino_dgrad_ok. conv_wino_dgrad_pack transforms w (s's PyTorch layout) into
 * conv_wino_pack_size(&dgrad shape, m) floats; conv_backward_data_wino does
 *   din.g += conv^T(dout.g)      (accumulating, like conv_backward's din)
 * with scratch of conv_wino_scratch_size(&dgrad shape, m) floats. */
conv_shape conv_dgrad_shape(const conv_shape *s);
int conv_wino_dgrad_ok(const conv_shape *s);
void conv_wino_dgrad_pack(const conv_shape *s, int m, const float *w, float *U);
/* The same U from conv_pack's bwd layout of s ([k][k][B][Ap]; pairs: conv_bf16_bwd_pack's
 * bf16 pairs of it, then U is that of the rounded weights), vectorised and on all
 * threads (as conv_wino_transform), in fp32: within fp32 rounding of conv_wino_dgrad_pack's */
void conv_wino_dgrad_transform(const conv_shape *s, int m, const float *bwd, int pairs, float *U);
void conv_backward_data_wino(const conv_shape *s, int m, const tensor *din, tensor dout, const float *U,
                             const float *zeros, float *scratch);
/* The same (m 4 or 6) with dout.g rounded to bf16 as it is read, from U of bf16-rounded
 * weights: the direct bf16 data gradient's operands (bf16 training; ops_has_bf16) */
void conv_backward_data_wino_round(const conv_shape *s, int m, const tensor *din, tensor dout, const float *U,
                                   const float *zeros, float *scratch);

/* The weight gradient of a 3×3 stride-1 conv by Winograd F(m×m, 3×3), m 4 or 6
 * (conv_wino_wgrad_ok: A and B multiples of 16):
 *   gpack += in ⊗ dout.g          (as conv_backward's, fwd-packed layout)
 * from the tiles' transforms, dU[ξ] = Σ_tiles V[ξ]ᵀ·Z[ξ] per plane, then Gᵀ·dU·G:
 * (m+2)² multiplies per m² outputs and tap instead of 9m². round 1: in and dout.g rounded to bf16
 * as they are read (the direct bf16 gradient's operands), the products in fp32; round 2
 * (bf16 training): also V and Z rounded to bf16 and multiplied in pairs of tiles by
 * vdpbf16ps, 1.6× faster products at a relative error of ~1e-3 of the gradient (see
 * conv_plan.c). Scratch:
 * conv_wino_wgrad_scratch_size() floats, zeros at least A. The same bits for any number of threads (parts
 * fixed by the CPUs, as conv_backward's). */
int conv_wino_wgrad_ok(const conv_shape *s);
size_t conv_wino_wgrad_scratch_size(const conv_shape *s, int m);
void conv_weight_grad_wino(const conv_shape *s, int m, float *gpack, tensor dout, tensor in, const float *zeros,
                           float *scratch, int round);

/* bf16 (ops_has_bf16()): convolution inputs and weights are rounded to
 * bfloat16 (round to nearest even) and stored as pairs of channels in 32-bit words
 * (channel 2i in the low half, a missing last channel zero), so that a tensor of pairs
 * is an ordinary tensor whose c is the number of pairs; products are summed in fp32 and
 * the epilogue (bias, act, residual, accumulate) is fp32 as in conv_forward. */
static inline int bf16_pairs(int c) { return (c + 1) / 2; }
float bf16_round(float f);
/* pairs N×H×W×bf16_pairs(C) ← in N×H×W×C */
void bf16_convert(tensor pairs, tensor in);
size_t conv_bf16_pack_size(const conv_shape *s);            /* words */
/* from the fp32 forward pack of conv_pack */
void conv_bf16_pack(const conv_shape *s, const float *fwd, float *pairs);
size_t conv_bf16_shuffle_pack_size(const conv_shape *s);    /* words, with fp32 biases */
/* from the fp32 pack of conv_shuffle_pack */
void conv_bf16_shuffle_pack(const conv_shape *s, const float *shuf, float *pairs);
void conv_forward_bf16(const conv_shape *s, tensor out, tensor in_pairs, const float *wpairs,
                       const float *bias, int act, const tensor *res, int accumulate,
                       const float *zeros);
void conv_shuffle_forward_bf16(const conv_shape *s, tensor out, tensor in_pairs,
                               const float *pairs, int act, const float *zeros);
/* Winograd F(4×4, 3×3) with the products in bf16 (A a multiple of 32: conv_wino_bf16_ok):
 * the input is fp32 (not pairs) and the transforms are fp32; V is rounded to bf16 pairs as
 * the input transform stores it, U is the m = 4 conv_wino_pack rounded to pairs. Scratch:
 * conv_wino_scratch_size(s, 4). */
int conv_wino_bf16_ok(const conv_shape *s);
size_t conv_wino_bf16_pack_size(const conv_shape *s);       /* words */
void conv_wino_bf16_pack(const conv_shape *s, const float *U, float *pairs);
void conv_forward_wino_bf16(const conv_shape *s, tensor out, tensor in, const float *pairs,
                            const float *bias, int act, const tensor *res, int accumulate,
                            const float *zeros, float *scratch);

/* Output size of a conv (padding k/2) or of the transposed conv. */
void conv_out_size(const conv_shape *s, int ih, int iw, int *oh, int *ow);

/* out = act(conv(in) + bias) [+ out, if accumulate] [+ res, if res != NULL]
 * in N×ih×iw×A, out N×oh×ow×B, res like out; bias may be NULL (padded to Bp).
 * zeros: at least A zero floats. act must be ACT_NONE when res is given. */
void conv_forward(const conv_shape *s, tensor out, tensor in, const float *wfwd,
                  const float *bias, int act, const tensor *res, int accumulate,
                  const float *zeros);
/* The same for a narrow layer (at most CONV_NARROW_MAX = 4 output channels, not
 * transposed: the 3-channel tails and oconv), vectorised over the input channels, from
 * the bwd pack ([k][k][B][Ap], conv_pack). A block of the inputs: in.c channels from a0
 * (in.c < s->A). conv_narrow_ok: where it is the faster kernel (also A a multiple of
 * CONV_VEC). */
#define CONV_NARROW_MAX 4
int conv_narrow_ok(const conv_shape *s);
void conv_forward_narrow(const conv_shape *s, tensor out, tensor in, int a0, const float *wbwd,
                         const float *bias, int act, const tensor *res, int accumulate,
                         const float *zeros);

/* Given dout (gradient w.r.t. the conv's output *before* act, i.e. already masked):
 *   din  += conv^T(dout)         (skipped if din is NULL)
 *   gpack += in ⊗ dout           (fwd-packed layout, see conv_unpack_grad; skipped if
 *                                 gpack is NULL: conv_weight_grad_wino did it)
 *   dbias += sum of dout         (skipped if dbias is NULL)
 * scratch: conv_scratch_size() floats for partial sums. gpack gets the same bits for
 * any number of threads (the rows are summed in parts fixed by the CPUs the process
 * may use, not by the threads; bias sums by channel). */
void conv_backward(const conv_shape *s, const tensor *din, float *gpack, float *dbias,
                   tensor dout, tensor in, const float *wbwd, const float *zeros,
                   float *scratch);
size_t conv_scratch_size(const conv_shape *s);

/* bf16 training (ops_has_bf16()): conv_backward with dout, in and the weights rounded
 * to bfloat16 and the products summed in fp32; the results are fp32 and accumulate as
 * in conv_backward (dbias from the fp32 dout). The data gradient runs the bf16 conv
 * kernels on channel pairs of dout; the weight gradient pairs *images* (2i, 2i+1 in one
 * word: the reduction runs over images and pixels), so any batch works and odd ones
 * pair their last image with zeros. wbwd16: conv_bf16_bwd_pack of the fp32 bwd pack.
 * tmp: conv_bf16_bwd_tmp_size(s, in.n, in.h, in.w) words for the converted tensors. */
size_t conv_bf16_bwd_pack_size(const conv_shape *s);   /* words */
void conv_bf16_bwd_pack(const conv_shape *s, const float *bwd, float *pairs);
size_t conv_bf16_bwd_tmp_size(const conv_shape *s, int n, int ih, int iw);
void conv_backward_bf16(const conv_shape *s, const tensor *din, float *gpack, float *dbias,
                        tensor dout, tensor in, const float *wbwd16, const float *zeros,
                        float *scratch, float *tmp);

/* Multiplies g by act'(y) in place (y is the activated output). */
void act_backward(tensor y_and_g, int act);

/* ---- everything else --------------------------------------------------------*/
/* out = a + b (all N×H×W×C). */
void add_forward(tensor out, tensor a, tensor b);
/* out = in (a copy between views). */
/* memset(p, 0, bytes), by all threads when it is large (the gradients of a training
 * pass are zeroed as they are allocated) */
void zero_fill(void *p, size_t bytes);
void copy_forward(tensor out, tensor in);
/* out = pixel_shuffle(in, 2): in N×h×w×4C → out N×2h×2w×C. */
void shuffle_forward(tensor out, tensor in);
void shuffle_backward(float *din, tensor in_shape, tensor dout);
/* Edge map M (SPEC §3), per channel: out = |dx| + |dy|, forward differences. */
void edge_forward(tensor out, tensor in);
void edge_backward(tensor din, tensor in, tensor dout);
/* mean |a − b| over all elements (double), and its gradient scaled by w into a.g / b.g. */
double l1_forward(tensor a, tensor b);
void l1_backward(tensor a, tensor b, double w);

/* Gaussian-pyramid reduce (SPEC §5): in N×h×w×C, h and w even → out N×h/2×w/2×C. */
void reduce_forward(tensor out, tensor in, float *scratch /* h*w*c floats */);

/* Adam (not AdamW), bias-corrected, as torch.optim.Adam; t is the 1-based step. */
void adam_update(float *p, const float *g, float *m, float *v, size_t n, double lr,
                 double b1, double b2, double eps, long t);
/* The weights' moving average: ema ← ema + (1 − decay)·(p − ema), n floats. */
void ema_update(float *ema, const float *p, size_t n, double decay);

/* ---- CPU dispatch -------------------------------------------------------------*/
/* "avx512+bf16", "avx512", "avx2" or "generic": the kernels in use, chosen on the first
 * call of this or of any kernel: the fastest set the CPU runs, at most the one named to
 * ops_set_isa. */
const char *ops_isa(void);
/* Allows at most kernel set `name` (one of the four above; NULL or "": any), for tests
 * and comparisons; the CPU may hold the choice lower, never higher. Returns 0, -1 for an
 * unknown name, -2 when the kernels are chosen already and the request would change
 * them (packed weights and a model's precision were made for them). Not thread-safe. */
int ops_set_isa(const char *name);
/* Winograd layers store the inner tiles of an output of at least `bytes` (default 4 MB)
 * non-temporally, around the caches, where out, its ld and its image stride are 64-byte
 * aligned (conv_wino_stream says whether a tensor qualifies); the values are the same.
 * For tests and measurements; returns the previous value. Not thread-safe. */
size_t ops_set_wino_stream_bytes(size_t bytes);
/* A plan with CONV_WINOGRAD_AUTO runs its Winograd 3×3 layers F(6×6) on pictures of at
 * least `px` pixels and F(4×4) on smaller ones (conv_plan.c, wino_m). For tests and
 * measurements; returns the previous value (px < 0: only that). Not thread-safe. */
long ops_set_wino_large_px(long px);
int conv_wino_stream(tensor out);
/* Whether the bf16 convolutions (avx512_bf16) can run here. */
int ops_has_bf16(void);
/* Peak FP32 FLOP/s of this machine with those kernels, all threads (an FMA probe). */
double ops_peak_flops(void);

#endif
