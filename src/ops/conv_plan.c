/* Per-layer convolution plans (conv_plan.h): the algorithm choices, the packed layouts
 * each pass reads, and the calls into the kernels of conv.c. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "conv_plan.h"

/* The packed layouts a pass reads. PK_BF16: bf16 inference; PK_BF16_TRAIN: the bf16
 * forward and data-gradient layouts of bf16 training. */
enum { PK_FWD = 1, PK_BWD = 2, PK_BF16 = 4, PK_BF16_TRAIN = 8, PK_IWINO = 16 /* inference's own Winograd packs */ };

struct conv_plan {
    conv_shape s;
    int has_bias, shuffled;
    int wino;      /* fp32 forward by Winograd F(wino×wino, 3×3); 0: direct */
    int wino_bwd;  /* fp32 training: the data gradient by Winograd F(wino_bwd×wino_bwd)
                      (conv_backward_data_wino); 0: direct */
    int wino_bwd16; /* bf16 training: the same on bf16 operands (conv_backward_data_wino_round),
                       its U transformed at each call from bwd16; 0: direct bf16 */
    int wino_auto; /* CONV_WINOGRAD_AUTO: wino and wino_bwd16 by the picture's size (wino_m) */
    int wino16;    /* bf16 inference forward by Winograd F(4×4) with bf16 products */
    int wgrad_wino; /* training: the weight gradient by Winograd F(wgrad_wino×wgrad_wino)
                       (conv_weight_grad_wino; bf16 training: on bf16-rounded operands); 0: direct */
    int twino;     /* a transposed 5×5 stride-2 layer: its fp32 forward's parity class
                      (0, 0) by Winograd F(twino×twino) (conv_forward_tconv_wino) */
    int tshuf;     /* the same at inference: the whole layer as a 3×3 conv to 4B channels
                      and the pixel shuffle, by Winograd F(tshuf×tshuf) (fp32; in bf16
                      inference where tshuf16) */
    int tshuf16;
    int s2c;       /* a 5×5 stride-2 layer at inference: as a 3×3 conv of its input's
                      space-to-depth by Winograd F(s2c×s2c) (fp32; in bf16 inference where
                      s2c16 or the picture is large: s2c_pays) */
    int s2c16;
    int narrow;    /* forward (fp32, and bf16 inference) by conv_forward_narrow, from bwd */
    int pw32;      /* a 1×1 layer: its bf16 inference forward by the fp32 kernel, from fwd */
    int fresh;     /* PK_*: which layouts match the weights */
    /* each NULL until a pass first needs it; shapes in ops.h */
    float *bias;   /* [Bp], zero-padded, always */
    float *fwd;    /* conv_pack's fwd [k][k][A][Bp]; a Winograd layer's too, transformed
                      at each call (conv_wino_transform into the call's tmp) */
    float *bwd;    /* conv_pack's bwd [k][k][B][Ap]: the data gradient; narrow: the forward */
    float *Ud;     /* conv_wino_dgrad_pack, m = wino_bwd */
    float *shuf;   /* conv_shuffle_pack (weights and bias) */
    float *tsh;    /* conv_tconv_shuffle_pack (weights and bias) */
    float *s2p;    /* conv_s2conv_pack */
    float *fwd16, *bwd16, *shuf16, *U16; /* bf16 pairs of fwd, bwd, shuf; conv_wino_bf16_pack */
    float *g;      /* the weight gradient in the fwd layout [k][k][A][Bp] */
};

static int want_of(int mode)
{
    if (mode & CONV_BF16) return mode & CONV_TRAIN ? PK_BF16_TRAIN : PK_BF16 | PK_IWINO;
    return mode & CONV_TRAIN ? PK_FWD | PK_BWD : PK_FWD | PK_IWINO;
}

conv_plan *conv_plan_create(const conv_shape *s, const conv_plan_opts *o)
{
    conv_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->s = *s;
    p->has_bias = o->bias;
    p->shuffled = o->shuffled;
    assert(!p->shuffled || (s->stride == 1 && !s->transposed && s->B % 4 == 0));
    /* The forward of every 3×3 stride-1 conv with A a multiple of 16 (at width 32: 32 to
     * 192 input channels) by Winograd F(6×6, 3×3): 1.05–1.45× faster per layer than
     * F(4×4) (bench/conv_layers; the most in cache), 10–15 % off a whole inference,
     * twice F(4×4)'s rounding error (~4e-6, tests/test_ops.c). Its weights are
     * transformed at each call from the direct layout (conv_wino_transform: ~70 ms of
     * a 512² inference, bound by its stores; small pictures run direct, fwd_kernel), so
     * that the model holds 1× its weights, not 64/9× (docs/BENCHMARKS.md). On pictures
     * under 128² F(4×4) instead (wino_m, on this project's later machines).
     * winograd 0: direct convolutions only; 2: F(2×2) from 64 input channels on; 4:
     * F(4×4) everywhere; 6: F(6×6) everywhere. */
    int wm = o->winograd;
    /* a transposed layer's class (0, 0) is 9 of its 25 taps as a 3×3 conv: the same rule */
    p->twino = !conv_tconv_wino_ok(s) ? 0 : wm == CONV_WINOGRAD_AUTO ? 6 : wm >= 4 ? wm : 0;
    /* At inference the whole transposed layer runs Winograd: 36 taps for its 25 as a 3×3
     * conv to 4B channels, then the pixel shuffle (conv_forward_tconv_shuffle; the skip
     * sum of the DBlock accumulated as it is stored). Per layer 1.35–2.0× the class (0, 0)
     * way of fp32; against the direct bf16 kernel 1.15–1.3× at 64 → 32 but 0.9–1.2× at
     * 128 → 64 (its 4B = 256 channels: U of 8 MB transformed at each call), so bf16
     * inference runs it at A·B ≤ 64·32 only (docs/BENCHMARKS.md). */
    p->tshuf = !conv_tconv_shuffle_ok(s) ? 0 : wm == CONV_WINOGRAD_AUTO ? 6 : wm >= 4 ? wm : 0;
    p->tshuf16 = p->tshuf && s->A * s->B <= 64 * 32;
    /* Likewise a 5×5 stride-2 layer: a 3×3 conv of the space-to-depth of its input (4A
     * channels, read by the input transform at strides of 2), 36 taps for its 25. Per
     * layer 1.2–2.5× the direct fp32 kernel; against the direct bf16 one 1.15–1.35× at
     * 32 → 64, at 64 → 128 (U of 8 MB) 0.65× on a 64² output but 1.23× on 180×320
     * (docs/BENCHMARKS.md): bf16 inference runs it at A·B ≤ 32·64 or from 160² outputs. */
    p->s2c = !conv_s2conv_ok(s) ? 0 : wm == CONV_WINOGRAD_AUTO ? 6 : wm >= 4 ? wm : 0;
    p->s2c16 = p->s2c && s->A * s->B <= 32 * 64;
    p->wino = !conv_wino_ok(s) ? 0
              : wm == CONV_WINOGRAD_AUTO ? 6
              : wm >= 4 || (wm == 2 && s->A >= 64) ? wm : 0;
    /* fp32 training: the data gradient of a 3×3 stride-1 conv is a 3×3 conv from B to A
     * channels, by Winograd with packed weights (each step packs them anyway): in AUTO
     * F(4×4), except F(2×2) where the weights are large next to the pictures they meet
     * (A·B ≥ 128², the U-Nets' third level, 1/16 of the pixels; F(4×4)'s packs are 4×
     * the weights, F(2×2)'s 16/9×, and there F(4×4) was only 1.17× faster). bf16 training
     * runs the F(4×4) ones too, on bf16 operands: dout rounded as it is read and U from the
     * rounded weights (bf16_dgrad_wino; its forward likewise, fwd_kernel), so that a layer
     * computes the direct bf16 kernel's sums to fp32 Winograd's rounding. (A plain fp32
     * layer there carried differences far below bf16's rounding into the bf16 roundings of
     * the layers after it.) At 256²–384² crops the step is 1.1–1.2× faster for it
     * (docs/BENCHMARKS.md). */
    if (conv_wino_dgrad_ok(s)) {
        conv_shape d = conv_dgrad_shape(s);
        int wd = wm == CONV_WINOGRAD_AUTO ? (s->A * s->B >= 128 * 128 ? 2 : 4) : wm;
        p->wino_bwd = wd >= 4 || (wd == 2 && d.A >= 64) ? wd : 0;
        /* bf16 training's: at A·B = 128² too, 1.5× the direct bf16 kernel there (3×3
         * 128 → 128 on 2×96²: 14.0 → 9.1 ms; docs/BENCHMARKS.md); in AUTO F(4×4) or
         * F(6×6) by the picture (wino_m), its U transformed at each call from bwd16 (no
         * pack of (m+2)²/9 times the weights) */
        p->wino_bwd16 = wm == CONV_WINOGRAD_AUTO ? 4 : p->wino_bwd >= 4 ? p->wino_bwd : 0;
    }
    /* Training's weight gradient of a 3×3 stride-1 conv with A and B multiples of 16 by
     * Winograd too, F(6×6) (F(4×4) where winograd is 4): dU[ξ] = Σ_tiles V[ξ]ᵀ·Z[ξ], then
     * Gᵀ·dU·G, 64 products per 36 outputs and tap instead of 324, in fp32 (bf16
     * training: on the rounded operands, as the forward's). Per layer 1.4–1.6× the
     * direct bf16 gradient, F(4×4) 1.2–1.5× (docs/BENCHMARKS.md). winograd 0 and 2: direct.
     * bf16 training multiplies V and Z in bf16 too (conv_weight_grad_wino's round 2): the
     * products 1.6× faster, the 3×3 backward 5–8 % and the step 3–4 % at 384² crops; the
     * gradient is not the direct bf16 one's to fp32 rounding any more but within ~1e-3 of
     * it (relative L2 per layer on a real width-32 step: median 2e-4, largest 1e-3), far
     * under a step's sampling noise, and nothing downstream rounds it again: it goes to
     * Adam (the forward and the data gradient keep fp32 products: there the differences
     * would reach the next layers' roundings; see wino_bwd above). */
    p->wgrad_wino = !conv_wino_wgrad_ok(s) ? 0 : wm == CONV_WINOGRAD_AUTO ? 6 : wm >= 4 ? wm : 0;
    /* In bf16 inference a Winograd layer runs fp32 Winograd, faster than the direct bf16
     * conv (bench/conv_layers), from the bf16 pairs of its weights (½× their size, as
     * every other layer there; the transform makes fp32 of them at each call) on fp32
     * activations. F(4×4)'s products in bf16 (winograd_bf16, for experiments) are faster
     * again but the transforms amplify bf16's rounding ~10×: −3.5 dB on the snapshot
     * (docs/BENCHMARKS.md). */
    p->wino_auto = wm == CONV_WINOGRAD_AUTO;
    p->wino16 = o->winograd_bf16 && p->wino && conv_wino_bf16_ok(s);
    if (p->wino16) p->wino = 4; /* the experiment is F(4×4) */
    /* The 3-channel layers (the tails, oconv): vectorised over input channels instead of
     * output channels, of which 3 would fill a vector of 16 (2–3× faster, and tanh on 3
     * lanes instead of 16; bench/conv_layers). In bf16 inference too (fp32: faster and
     * exact); not in bf16 training (see wino_bwd above). */
    p->narrow = !p->wino && !p->shuffled && conv_narrow_ok(s);
    /* The 1×1 layers (the RDBs' fuse, 7c → c, and fuse1) are bound by reading their
     * wide inputs, not by arithmetic: in bf16 inference the fp32 kernel on the fp32
     * activations beats converting them to pairs first (28 of them at 512²: 36 → 23 ms,
     * 1.5 % of an inference; docs/BENCHMARKS.md), and needs no temporary. They keep their
     * fp32 weights (7c·c floats: 28 KB at width 32), as the narrow layers do. */
    p->pw32 = s->k == 1 && s->stride == 1 && !s->transposed && !p->shuffled && !p->narrow;
    p->bias = aligned_alloc(64, (conv_round(s->B) * sizeof(float) + 63) / 64 * 64);
    if (!p->bias) {
        free(p);
        return NULL;
    }
    return p;
}

void conv_plan_free(conv_plan *p)
{
    if (!p) return;
    float *all[] = {p->bias, p->fwd,   p->bwd,   p->Ud,     p->shuf, p->tsh,
                    p->s2p,  p->fwd16, p->bwd16, p->shuf16, p->U16,  p->g};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    free(p);
}

const conv_shape *conv_plan_shape(const conv_plan *p) { return &p->s; }

/* Whether bf16 inference reads the bf16 pairs of the direct layout: the direct bf16
 * layers, and the Winograd ones, which transform them at each call, the shuffled up conv
 * too where it is one (it also keeps its own pack for small pictures; a narrow layer runs
 * fp32, the winograd_bf16 experiment its U16) */
static int bf16_direct(const conv_plan *p)
{
    return !p->wino16 && !p->narrow && !p->pw32 && (!p->shuffled || p->wino);
}

/* Whether bf16 training runs this layer's data gradient by Winograd (from Ud of the
 * rounded weights, dout rounded as it is read), where the picture repays it */
static int bf16_dgrad_wino(const conv_plan *p) { return p->wino_bwd16 != 0; }

/* *buf = n floats (64-byte aligned), unless allocated already; -1 when out of memory */
static int reserve(float **buf, size_t n)
{
    if (!*buf) *buf = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    return *buf ? 0 : -1;
}

/* Whether a pass of want may run the transposed layer as a shuffled 3×3 (tsh), and the
 * stride-2 one from its space-to-depth (s2p) */
static int uses_tsh(const conv_plan *p, int want)
{
    return want & PK_IWINO && (want & PK_BF16 ? p->tshuf16 : p->tshuf);
}
static int uses_s2p(const conv_plan *p, int want) { return want & PK_IWINO && p->s2c; }

/* The layouts of want, allocated (the gradient zeroed) where they are not yet. */
static int reserve_for(conv_plan *p, int want)
{
    const conv_shape *s = &p->s;
    int r = 0, had_g = p->g != NULL;
    if (uses_tsh(p, want)) r |= reserve(&p->tsh, conv_tconv_shuffle_pack_size(s));
    if (uses_s2p(p, want)) r |= reserve(&p->s2p, conv_s2conv_pack_size(s));
    if (want & PK_FWD) {
        r |= p->narrow ? reserve(&p->bwd, conv_bwd_pack_size(s)) : reserve(&p->fwd, conv_fwd_pack_size(s));
        if (p->shuffled) r |= reserve(&p->shuf, conv_shuffle_pack_size(s));
    }
    if (want & PK_BWD) {
        conv_shape d = conv_dgrad_shape(s);
        r |= p->wino_bwd ? reserve(&p->Ud, conv_wino_pack_size(&d, p->wino_bwd))
                         : reserve(&p->bwd, conv_bwd_pack_size(s));
    }
    if (want & PK_BF16) {
        if (p->wino16) r |= reserve(&p->U16, conv_wino_bf16_pack_size(s));
        else if (p->narrow) r |= reserve(&p->bwd, conv_bwd_pack_size(s)); /* runs fp32 */
        else if (p->pw32) r |= reserve(&p->fwd, conv_fwd_pack_size(s));   /* likewise */
        if (p->shuffled) r |= reserve(&p->shuf16, conv_bf16_shuffle_pack_size(s));
    }
    if (want & PK_BF16_TRAIN || (want & PK_BF16 && bf16_direct(p)))
        r |= reserve(&p->fwd16, conv_bf16_pack_size(s));
    if (want & PK_BF16_TRAIN) r |= reserve(&p->bwd16, conv_bf16_bwd_pack_size(s));
    if (want & (PK_BWD | PK_BF16_TRAIN)) r |= reserve(&p->g, conv_fwd_pack_size(s));
    if (!had_g && p->g) memset(p->g, 0, conv_fwd_pack_size(s) * sizeof *p->g);
    return r;
}

size_t conv_plan_pack_tmp_size(const conv_plan *p, int mode)
{
    if (!(mode & CONV_BF16)) return 0;
    const conv_shape *s = &p->s;
    size_t most = conv_fwd_pack_size(s);
    if (conv_bwd_pack_size(s) > most) most = conv_bwd_pack_size(s);
    if (p->shuffled && conv_shuffle_pack_size(s) > most) most = conv_shuffle_pack_size(s);
    if (p->wino16 && conv_wino_pack_size(s, 4) > most) most = conv_wino_pack_size(s, 4);
    return most;
}

int conv_plan_ready(const conv_plan *p, int mode)
{
    int want = want_of(mode);
    return (p->fresh & want) == want;
}

void conv_plan_invalidate(conv_plan *p) { p->fresh = 0; }

/* So that a pass never touches the pages of layouts it does not use: fp32 inference
 * packs the forward layouts (direct, Winograd or fused with the shuffle, whichever the
 * layer uses); fp32 training those and the data-gradient ones (Winograd or transposed);
 * bf16 inference the bf16 pairs (the fp32 Winograd layouts of those layers; the 1×1
 * layers their fp32 layout, pw32); bf16
 * training the bf16 pairs of the direct forward and of the transposed layouts. */
int conv_plan_prepare(conv_plan *p, int mode, const float *w, const float *b, float *tmp)
{
    int want = want_of(mode);
    if ((p->fresh & want) == want) return 0;
    if (reserve_for(p, want)) return -1;
    const conv_shape *s = &p->s;
    memset(p->bias, 0, conv_round(s->B) * sizeof *p->bias);
    if (b) memcpy(p->bias, b, s->B * sizeof *p->bias);
    /* a Winograd layer transforms the direct layout at each call; a narrow one runs bwd
     * forward */
    int fwd_direct = (want & PK_FWD && !p->narrow) || (want & PK_BF16 && p->pw32);
    int bwd_direct = (want & PK_BWD && !p->wino_bwd) || (want & (PK_FWD | PK_BF16) && p->narrow);
    if (fwd_direct || bwd_direct) conv_pack(s, w, fwd_direct ? p->fwd : NULL, bwd_direct ? p->bwd : NULL);
    if (want & PK_BWD && p->wino_bwd) conv_wino_dgrad_pack(s, p->wino_bwd, w, p->Ud);
    if (want & PK_FWD && p->shuffled) conv_shuffle_pack(s, w, b, p->shuf);
    if (uses_tsh(p, want)) conv_tconv_shuffle_pack(s, w, b, p->tsh);
    if (uses_s2p(p, want)) conv_s2conv_pack(s, w, p->s2p);
    if (want & PK_BF16) {
        if (p->wino16) {
            conv_wino_pack(s, 4, w, tmp);
            conv_wino_bf16_pack(s, tmp, p->U16);
        }
        if (p->shuffled) { /* a Winograd layer's too: the up conv runs fused with its shuffle */
            conv_shuffle_pack(s, w, b, tmp);
            conv_bf16_shuffle_pack(s, tmp, p->shuf16);
        }
    }
    /* the direct bf16 forward: every layer in training; in inference those of bf16_direct */
    if (want & PK_BF16_TRAIN || (want & PK_BF16 && bf16_direct(p))) {
        conv_pack(s, w, tmp, NULL);
        conv_bf16_pack(s, tmp, p->fwd16);
    }
    if (want & PK_BF16_TRAIN) {
        conv_pack(s, w, NULL, tmp);
        conv_bf16_bwd_pack(s, tmp, p->bwd16); /* the Winograd data gradient's too (wino_bwd16) */
    }
    p->fresh |= want;
    return 0;
}

/* ---- running ---------------------------------------------------------------------- */

enum { K_DIRECT, K_WINO, K_BF16, K_WINO_BF16, K_NARROW, K_TWINO, K_WINO_ROUND, K_TSHUF, K_S2C };

/* The forward kernel of a pass in mode, for the whole layer or a block of its inputs.
 * In bf16 inference the Winograd layers run fp32 Winograd from bf16 weights (see wino16
 * above); in bf16 training from the same, on the input rounded to bf16 (see wino_bwd). */
static int wino_pays(tensor in) { return (long)in.h * in.w > 32 * 32; }

/* F(6×6) or F(4×4) for a Winograd layer of an AUTO plan, forward and bf16 training's
 * data gradient alike, by the picture's size (m: the plan's choice otherwise). F(6×6)
 * does 64/36 multiplies per output against F(4×4)'s 36/16, but its tiles are larger (at
 * 96² 1.05–1.2× slower per layer, a row of 16 tiles a thread's only call) and each call
 * transforms 64/36 as many weights; from 128² it is 1.02–1.12× faster (bench/conv_layers,
 * one thread). bf16 training steps 1.2× faster on 128² crops and 1.05× on 384² than with
 * F(6×6) forwards and F(4×4) data gradients throughout (docs/BENCHMARKS.md). */
static long wino_large_px = 128L * 128;

long ops_set_wino_large_px(long px)
{
    long old = wino_large_px;
    if (px >= 0) wino_large_px = px;
    return old;
}

static int wino_m(const conv_plan *p, int m, tensor pic)
{
    if (!p->wino_auto || !m) return m;
    return (long)pic.h * pic.w >= wino_large_px ? 6 : 4;
}

/* The scratch of shape c's Winograd conv at every size wino_m may pick from m (0: none) */
static size_t wino_scratch_most(const conv_plan *p, const conv_shape *c, int m)
{
    if (!m) return 0;
    if (!p->wino_auto) return conv_wino_scratch_size(c, m);
    size_t a = conv_wino_scratch_size(c, 4), b = conv_wino_scratch_size(c, 6);
    return a > b ? a : b;
}

/* The up conv with its pixel shuffle at inference: Winograd where the layer is (in bf16
 * from the pairs of its weights, as the other Winograd layers: 1.5× the direct bf16
 * kernel at 1280×720, docs/BENCHMARKS.md) */
static int shuffle_wino(const conv_plan *p, tensor in) { return p->wino && wino_pays(in); }

/* The stride-2 layer from its space-to-depth at inference (s2c above) */
static int s2c_pays(const conv_plan *p, int bf16, tensor in)
{
    long out_px = (long)(in.h / 2) * (in.w / 2);
    return p->s2c && in.h % 2 == 0 && in.w % 2 == 0 && out_px > 32 * 32 && (!bf16 || p->s2c16 || out_px >= 160 * 160);
}

static int fwd_kernel(const conv_plan *p, int mode, tensor in)
{
    int whole = in.c == p->s.A, bf16 = mode & CONV_BF16, train = mode & CONV_TRAIN;
    if (p->narrow && !(bf16 && train)) return K_NARROW;
    if (p->pw32 && bf16 && !train) return K_DIRECT;
    if (!train && whole && wino_pays(in) && (bf16 ? p->tshuf16 : p->tshuf)) return K_TSHUF;
    if (!train && whole && s2c_pays(p, bf16, in)) return K_S2C;
    /* bf16 training: a Winograd layer's forward runs fp32 Winograd on the operands of
     * the direct bf16 conv (input and weights rounded to bf16; see wino_bwd above): the
     * 3×3 forwards of a step on 384² crops 1.55 → 1.29 s (docs/BENCHMARKS.md) */
    if (bf16 && train) return p->wino && whole && wino_pays(in) ? K_WINO_ROUND : K_BF16;
    if (p->wino && whole) {
        if (p->wino16 && bf16) return K_WINO_BF16;
        /* A Winograd layer transforms its weights at each call ((m+2)²·A·B floats
         * written: 4 MB at 128 → 128 with F(6×6)), which a picture of at most 32×32
         * pixels does not repay: those calls run the direct conv from the same layout
         * (fp32, or bf16 pairs in bf16). (The U-Nets' smallest levels; whole inference:
         * 37×23 px 0.36 → 0.13–0.20 s, 512² −5 %, 1280×720 unchanged;
         * docs/BENCHMARKS.md.) */
        return wino_pays(in) ? K_WINO : bf16 ? K_BF16 : K_DIRECT;
    }
    if (bf16) return K_BF16;
    return p->twino && whole && wino_pays(in) ? K_TWINO : K_DIRECT;
}

size_t conv_plan_zeros_size(const conv_plan *p)
{
    size_t c = 16;
    if ((size_t)p->s.A > c) c = p->s.A;
    if ((size_t)p->s.B > c) c = p->s.B;
    return c + 64;
}

size_t conv_plan_scratch_size(const conv_plan *p)
{
    size_t n = conv_scratch_size(&p->s);
    if (wino_scratch_most(p, &p->s, p->wino) > n) n = wino_scratch_most(p, &p->s, p->wino);
    int ways[3][2] = {{p->twino, WINO_AS_TCONV00}, {p->tshuf, WINO_AS_TSHUFFLE}, {p->s2c, WINO_AS_S2D}};
    for (int i = 0; i < 3; i++) {
        conv_shape c = conv_wino_as(&p->s, ways[i][1]);
        if (ways[i][0] && conv_wino_scratch_size(&c, ways[i][0]) > n) n = conv_wino_scratch_size(&c, ways[i][0]);
    }
    if (p->wgrad_wino && conv_wino_wgrad_scratch_size(&p->s, p->wgrad_wino) > n)
        n = conv_wino_wgrad_scratch_size(&p->s, p->wgrad_wino);
    if (p->wino_bwd) {
        conv_shape d = conv_dgrad_shape(&p->s);
        if (conv_wino_scratch_size(&d, p->wino_bwd) > n) n = conv_wino_scratch_size(&d, p->wino_bwd);
        if (wino_scratch_most(p, &d, p->wino_bwd16) > n) n = wino_scratch_most(p, &d, p->wino_bwd16);
    }
    return n;
}

/* A 1×1 layer's bf16 training forward converts its input to pairs a band of rows at a
 * time, each band then run, so that its temporary is at most PAIRS_BAND bytes instead of
 * the whole input: the RDBs' fuse layers (7c = 224 channels in, at the paths' resolution)
 * set the peak of a bf16 inference with their 28 MB of pairs at 512² when it ran them so
 * (docs/BENCHMARKS.md; bf16 inference now runs them fp32, pw32). Every output pixel's
 * sums are the same whatever the band. Returns in.h for one piece
 * (every other layer: its taps reach across rows). */
#define PAIRS_BAND (1u << 20)
static int pairs_band_rows(const conv_plan *p, tensor in)
{
    if (p->s.k != 1 || p->s.stride != 1 || p->s.transposed) return in.h;
    size_t row = (size_t)in.w * bf16_pairs(in.c) * sizeof(float);
    size_t rows = PAIRS_BAND / row;
    return rows < 1 ? 1 : rows >= (size_t)in.h ? in.h : (int)rows;
}

/* Rows y0 … y0+h−1 of image i of t, as a tensor of one image */
static tensor rows_of(tensor t, int i, int y0, int h)
{
    return (tensor){t.d + t_off(&t, i, y0, 0), NULL, 1, h, t.w, t.c, t.ld};
}

/* The transformed weights of a 5×5 stride-2 layer's Winograd way (conv_wino_as) */
static size_t equiv_pack_size(const conv_plan *p, int way, int m)
{
    conv_shape c = conv_wino_as(&p->s, way);
    return conv_wino_pack_size(&c, m);
}

size_t conv_plan_tmp_size(const conv_plan *p, int mode, int op, tensor in)
{
    size_t pairs = (size_t)in.n * in.h * in.w * bf16_pairs(in.c); /* the input as bf16 pairs */
    switch (op) {
    case CONV_OP_FORWARD:
        switch (fwd_kernel(p, mode, in)) {
        case K_BF16: {
            int rows = pairs_band_rows(p, in);
            return rows < in.h ? (size_t)rows * in.w * bf16_pairs(in.c) : pairs;
        }
        case K_WINO:
        case K_WINO_ROUND: return conv_wino_pack_size(&p->s, wino_m(p, p->wino, in)); /* the transformed weights */
        case K_TWINO: return equiv_pack_size(p, WINO_AS_TCONV00, p->twino);
        case K_TSHUF: return equiv_pack_size(p, WINO_AS_TSHUFFLE, p->tshuf);
        case K_S2C: return equiv_pack_size(p, WINO_AS_S2D, p->s2c);
        default: return 0;
        }
    case CONV_OP_SHUFFLE:
        return shuffle_wino(p, in) ? conv_wino_pack_size(&p->s, wino_m(p, p->wino, in)) : mode & CONV_BF16 ? pairs : 0;
    default: {
        if (!(mode & CONV_BF16)) return 0;
        size_t n = conv_bf16_bwd_tmp_size(&p->s, in.n, in.h, in.w);
        if (bf16_dgrad_wino(p) && wino_pays(in)) { /* the data gradient's U, used up before that */
            conv_shape d = conv_dgrad_shape(&p->s);
            size_t u = conv_wino_pack_size(&d, wino_m(p, p->wino_bwd16, in));
            if (u > n) n = u;
        }
        return n;
    }
    }
}

int conv_plan_forward(const conv_plan *p, int mode, tensor out, tensor in, int a0, int bias, int act,
                      const tensor *res, int accumulate, const float *zeros, float *scratch, float *tmp)
{
    conv_shape s = p->s;
    s.A = in.c;
    assert(a0 >= 0 && a0 + in.c <= p->s.A);
    const float *b = bias && p->has_bias ? p->bias : NULL;
    size_t Bp = conv_round(s.B);
    int kernel = fwd_kernel(p, mode, in);
    switch (kernel) {
    case K_WINO_BF16: /* sung_options.winograd_bf16 */
        conv_forward_wino_bf16(&s, out, in, p->U16, b, act, res, accumulate, zeros, scratch);
        return 1;
    case K_BF16: {
        assert(a0 % 2 == 0);
        const float *w16 = p->fwd16 + (size_t)(a0 / 2) * Bp;
        int rows = pairs_band_rows(p, in);
        if (rows >= in.h) {
            tensor pairs = {tmp, NULL, in.n, in.h, in.w, bf16_pairs(in.c), bf16_pairs(in.c)};
            bf16_convert(pairs, in);
            conv_forward_bf16(&s, out, pairs, w16, b, act, res, accumulate, zeros);
            return 1;
        }
        assert(out.h == in.h && out.w == in.w && (!res || (res->h == in.h && res->w == in.w)));
        for (int i = 0; i < in.n; i++)
            for (int y0 = 0; y0 < in.h; y0 += rows) {
                int h = in.h - y0 < rows ? in.h - y0 : rows;
                tensor pairs = {tmp, NULL, 1, h, in.w, bf16_pairs(in.c), bf16_pairs(in.c)};
                tensor ob = rows_of(out, i, y0, h), rb = res ? rows_of(*res, i, y0, h) : ob;
                bf16_convert(pairs, rows_of(in, i, y0, h));
                conv_forward_bf16(&s, ob, pairs, w16, b, act, res ? &rb : NULL, accumulate, zeros);
            }
        return 1;
    }
    case K_WINO: /* fp32, or bf16 inference from the pairs */
    case K_WINO_ROUND: { /* bf16 training: from the pairs, the input rounded as it is read */
        int m = wino_m(p, p->wino, in), pairs = (mode & CONV_BF16) != 0;
        conv_wino_transform(&s, m, pairs ? p->fwd16 : p->fwd, pairs, tmp);
        (kernel == K_WINO_ROUND ? conv_forward_wino_round : conv_forward_wino)(&s, m, out, in, tmp, b, act, res,
                                                                            accumulate, zeros, scratch);
        return 0;
    }
    case K_NARROW:
        conv_forward_narrow(&p->s, out, in, a0, p->bwd, b, act, res, accumulate, zeros);
        return 0;
    case K_TSHUF:
        assert(!res && a0 == 0);
        conv_forward_tconv_shuffle(&p->s, p->tshuf, out, in, p->tsh, b != NULL, act, accumulate, zeros, scratch, tmp);
        return 0;
    case K_S2C:
        assert(a0 == 0);
        conv_forward_s2conv(&p->s, p->s2c, out, in, p->s2p, b, act, res, accumulate, zeros, scratch, tmp);
        return 0;
    case K_TWINO:
        assert(!res);
        conv_forward_tconv_wino(&p->s, p->twino, out, in, p->fwd, b, act, accumulate, zeros, scratch, tmp);
        return 0;
    default:
        conv_forward(&s, out, in, p->fwd + (size_t)a0 * Bp, b, act, res, accumulate, zeros);
        return 0;
    }
}

int conv_plan_shuffle_forward(const conv_plan *p, int mode, tensor out, tensor in, int act,
                              const float *zeros, float *scratch, float *tmp)
{
    assert(p->shuffled && !(mode & CONV_TRAIN));
    if (shuffle_wino(p, in)) {
        int pairs = (mode & CONV_BF16) != 0, m = wino_m(p, p->wino, in);
        conv_wino_transform(&p->s, m, pairs ? p->fwd16 : p->fwd, pairs, tmp);
        conv_shuffle_forward_wino(&p->s, m, out, in, tmp, p->has_bias ? p->bias : NULL, act, zeros, scratch);
        return 0;
    }
    if (mode & CONV_BF16) {
        tensor pairs = {tmp, NULL, in.n, in.h, in.w, bf16_pairs(in.c), bf16_pairs(in.c)};
        bf16_convert(pairs, in);
        conv_shuffle_forward_bf16(&p->s, out, pairs, p->shuf16, act, zeros);
        return 1;
    }
    conv_shuffle_forward(&p->s, out, in, p->shuf, act, zeros);
    return 0;
}

int conv_plan_backward(conv_plan *p, int mode, const tensor *din, float *dbias, tensor dout, tensor in,
                       const float *zeros, float *scratch, float *tmp)
{
    assert(mode & CONV_TRAIN);
    float *g = p->g;
    if (p->wgrad_wino && wino_pays(dout)) { /* the weight gradient by Winograd, the rest below */
        conv_weight_grad_wino(&p->s, p->wgrad_wino, p->g, dout, in, zeros, scratch, mode & CONV_BF16 ? 2 : 0);
        g = NULL;
    }
    if (mode & CONV_BF16) {
        if (din && bf16_dgrad_wino(p) && wino_pays(dout)) { /* as the forward: see fwd_kernel */
            int m = wino_m(p, p->wino_bwd16, dout); /* its U in tmp, before conv_backward_bf16 uses it */
            conv_wino_dgrad_transform(&p->s, m, p->bwd16, 1, tmp);
            conv_backward_data_wino_round(&p->s, m, din, dout, tmp, zeros, scratch);
            din = NULL;
        }
        conv_backward_bf16(&p->s, din, g, dbias, dout, in, p->bwd16, zeros, scratch, tmp);
        return 1;
    }
    if (din && p->wino_bwd) { /* the data gradient by Winograd, the rest below */
        conv_backward_data_wino(&p->s, p->wino_bwd, din, dout, p->Ud, zeros, scratch);
        din = NULL;
    }
    conv_backward(&p->s, din, g, dbias, dout, in, p->bwd, zeros, scratch);
    return 0;
}

void conv_plan_grad_zero(conv_plan *p)
{
    if (p->g) memset(p->g, 0, conv_fwd_pack_size(&p->s) * sizeof *p->g);
}

void conv_plan_grad_unpack(const conv_plan *p, float *dw)
{
    if (p->g) conv_unpack_grad(&p->s, p->g, dw);
}

size_t conv_plan_bytes(const conv_plan *p, int mode)
{
    const conv_shape *s = &p->s;
    int want = want_of(mode);
    size_t f = conv_round(s->B);
    if (want & PK_FWD)
        f += (p->narrow ? conv_bwd_pack_size(s) : conv_fwd_pack_size(s)) +
             (p->shuffled ? conv_shuffle_pack_size(s) : 0);
    if (want & PK_BWD) {
        conv_shape d = conv_dgrad_shape(s);
        if (p->wino_bwd) f += conv_wino_pack_size(&d, p->wino_bwd);
        else if (!p->narrow) f += conv_bwd_pack_size(s); /* narrow: the forward's, counted */
    }
    if (want & PK_BF16)
        f += (p->wino16   ? conv_wino_bf16_pack_size(s)
              : p->narrow ? conv_bwd_pack_size(s)
              : p->pw32 ? conv_fwd_pack_size(s)
              : bf16_direct(p) ? conv_bf16_pack_size(s) : 0) +
             (p->shuffled ? conv_bf16_shuffle_pack_size(s) : 0);
    if (uses_tsh(p, want)) f += conv_tconv_shuffle_pack_size(s);
    if (uses_s2p(p, want)) f += conv_s2conv_pack_size(s);
    if (want & PK_BF16_TRAIN) f += conv_bf16_pack_size(s) + conv_bf16_bwd_pack_size(s);
    if (want & (PK_BWD | PK_BF16_TRAIN)) f += conv_fwd_pack_size(s);
    return f * sizeof(float);
}
