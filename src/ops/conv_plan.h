/* A convolution layer's plan: its algorithm, its packed weights and its kernels.
 *
 * The network says what a layer is (its shape, whether it has a bias, whether pixel_shuffle
 * follows it) and what pass comes (a conv_mode); the plan chooses how: direct, Winograd
 * F(2×2), F(4×4) or F(6×6) (at inference the 5×5 stride-2 and transposed layers too, as
 * 3×3 convs of their input's space-to-depth or to 4B channels and the pixel shuffle), the
 * data and weight gradients by Winograd, bf16 direct or bf16 Winograd, each with the
 * packed copy of the weights that algorithm reads, and the packed weight gradient.
 * The network holds weights and gradients in PyTorch's layout and never sees a packed one,
 * so that another backend (a GPU, with memory of its own) can implement the same calls.
 * This is ncnn's layer shape: each layer owns its packing and picks its kernel; the
 * network only calls forward and backward.
 *
 * Lifetime: conv_plan_create (small: the choices and the biases) → conv_plan_prepare
 * before each pass (packs, on first use allocating, the layouts that pass reads, unless
 * fresh) → conv_plan_forward / _shuffle_forward / _backward, any number → conv_plan_free.
 * conv_plan_invalidate after the weights change. Memory: each layout is allocated once,
 * the first time a pass needs it, and kept; no call allocates after prepare. The
 * working memory (zeros, scratch, per-call temporaries) is the caller's, sized by the
 * *_size functions, so that it can be planned once with the activations. */
#ifndef SUNG_CONV_PLAN_H
#define SUNG_CONV_PLAN_H

#include "ops.h"

typedef struct conv_plan conv_plan;

/* A pass: CONV_INFER or CONV_TRAIN, | CONV_BF16 for the bf16 convolutions (ops_has_bf16,
 * even channel counts where pairs are formed). */
enum { CONV_INFER = 0, CONV_TRAIN = 1, CONV_BF16 = 2 };

#define CONV_WINOGRAD_AUTO (-1)

typedef struct {
    int winograd;      /* CONV_WINOGRAD_AUTO: F(6×6) on pictures from 128², F(4×4) on
                        * smaller ones (fp32 training's data gradient: F(4×4), F(2×2)
                        * where A·B ≥ 128²); 0: direct only; 2: F(2×2) from 64 input
                        * channels on; 4: F(4×4) everywhere; 6: F(6×6) everywhere
                        * (sung_options.winograd) */
    int winograd_bf16; /* 1: bf16 inference multiplies the F(4×4) layers in bf16 */
    int bias;          /* the layer has a bias */
    int shuffled;      /* pixel_shuffle(·, 2) follows at inference: conv_plan_shuffle_forward */
} conv_plan_opts;

/* NULL when out of memory. s: stride 1 and B a multiple of 4 where o->shuffled. */
conv_plan *conv_plan_create(const conv_shape *s, const conv_plan_opts *o);
void conv_plan_free(conv_plan *p); /* NULL is harmless */
const conv_shape *conv_plan_shape(const conv_plan *p);

/* Packs w (PyTorch layout: [B][A][k][k], transposed [A][B][k][k]) and b (B floats, NULL
 * when bias-free) into the layouts a pass in `mode` reads, unless they are fresh; the
 * biases always. tmp: conv_plan_pack_tmp_size(p, mode) floats, private to the call (the
 * plans of a network pack in parallel). Returns -1 when out of memory (nothing marked
 * fresh). */
int conv_plan_prepare(conv_plan *p, int mode, const float *w, const float *b, float *tmp);
/* Whether a pass in mode can run without conv_plan_prepare. */
int conv_plan_ready(const conv_plan *p, int mode);
void conv_plan_invalidate(conv_plan *p);
size_t conv_plan_pack_tmp_size(const conv_plan *p, int mode);

/* The working memory of every call: zeros, at least conv_plan_zeros_size floats of zero;
 * scratch, conv_plan_scratch_size floats (the largest call's); tmp, per call,
 * conv_plan_tmp_size(p, mode, op, in) floats (0: NULL will do), where in is the call's
 * input (forward, shuffle) or the input of the forward it differentiates (backward). */
enum { CONV_OP_FORWARD, CONV_OP_SHUFFLE, CONV_OP_BACKWARD };
size_t conv_plan_zeros_size(const conv_plan *p);
size_t conv_plan_scratch_size(const conv_plan *p);
size_t conv_plan_tmp_size(const conv_plan *p, int mode, int op, tensor in);

/* out = act(conv(in) + bias) [+ out, if accumulate] [+ res, if res != NULL], as
 * conv_forward: in N×ih×iw×A, out N×oh×ow×B. A block of the input channels runs alone
 * when in.c < A: in holds channels a0 … a0 + in.c − 1 (a 1×1 layer summed block by block;
 * a0 even in bf16). bias: 1 adds the layer's (if it has one), 0 not. Returns 1 when the
 * products were bf16, else 0 (for the profile). */
int conv_plan_forward(const conv_plan *p, int mode, tensor out, tensor in, int a0, int bias, int act,
                      const tensor *res, int accumulate, const float *zeros, float *scratch, float *tmp);
/* Inference, o->shuffled: out N×2h×2w×B/4 = pixel_shuffle(act(conv(in) + bias), 2), in
 * N×h×w×A, in one pass. Returns 1 when the products were bf16. */
int conv_plan_shuffle_forward(const conv_plan *p, int mode, tensor out, tensor in, int act,
                              const float *zeros, float *scratch, float *tmp);

/* Training: given dout (the gradient w.r.t. the output before act, already masked) and
 * the forward's input in:
 *   din.g += conv^T(dout)   (skipped if din is NULL)
 *   the plan's packed weight gradient += in ⊗ dout
 *   dbias += sum of dout    (skipped if dbias is NULL)
 * Returns 1 when the products were bf16. */
int conv_plan_backward(conv_plan *p, int mode, const tensor *din, float *dbias, tensor dout, tensor in,
                       const float *zeros, float *scratch, float *tmp);
/* The packed weight gradient (allocated by the first training prepare): zeroed, and
 * added into dw (PyTorch layout, as w). */
void conv_plan_grad_zero(conv_plan *p);
void conv_plan_grad_unpack(const conv_plan *p, float *dw);

/* The bytes of the packed layouts (biases included) a pass in mode reads. */
size_t conv_plan_bytes(const conv_plan *p, int mode);

#endif
