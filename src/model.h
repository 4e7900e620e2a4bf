/* The SUNG graph (SPEC §1–§4) and its parameters: internal to the library. */
#ifndef SUNG_MODEL_H
#define SUNG_MODEL_H

#include "sung.h"
#include "error.h"
#include "conv_plan.h"
#include "ops.h"
#include "tensor.h"

typedef struct {
    char name[64];
    int ndim, shape[4];
    size_t off, numel;  /* into the parameter buffer, in floats */
} param_info;

/* A conv layer of the structure: what it is, in the spec's terms. How it runs (the
 * algorithm, the packed weights, the packed gradient) is its plan's (ops/conv_plan.h),
 * made by model_alloc. */
typedef struct {
    conv_shape s;
    int w_param, b_param;          /* param indices; b_param -1 when bias-free */
    int shuffled;                  /* pixel_shuffle follows (a path's up): fused at inference */
    conv_plan *plan;
} conv_layer;

/* Each field is a conv layer index: the words of the spec, so that each box of the
 * paper's Fig. 1 can be found by name. */
typedef struct { int c1, c2; } m_resblock;
typedef struct { int conv; m_resblock res[3]; } m_eblock;
typedef struct { m_resblock res[3]; int up; } m_dblock;
typedef struct {
    m_eblock e1, e2, e3;
    m_dblock d2, d1;
    int image;              /* image U-Net: + ores, oconv */
    m_resblock ores[3];
    int oconv;
} m_unet;
typedef struct { int dense[6], fuse; } m_rdb;
typedef struct {
    int head;
    m_unet unet;
    int n_rdb;
    m_rdb rdbs[3];
    int fuse1, fuse3, up, tail;
} m_path;

/* Tests set sung_model.trace to receive copies of every scale's outputs (dense NHWC,
 * malloc'd here, freed by model_trace_free). Index = scale i. */
typedef struct {
    float *S[SUNG_MAX_ITERS + 1], *F[SUNG_MAX_ITERS + 1], *G[SUNG_MAX_ITERS + 1];
    int h[SUNG_MAX_ITERS + 1], w[SUNG_MAX_ITERS + 1], n;
} model_trace;
void model_trace_free(model_trace *t);

struct sung_model {
    sung_variant variant;
    int width;

    param_info *params;
    int nparams, cap_params;
    size_t nfloats;
    /* one block: parameters, gradients, Adam first and second moments */
    float *mem, *p, *g, *adam_m, *adam_v;
    long step;
    /* the weights' moving average (sung_train_ema): ema_buf owns it; p and ema are
     * exchanged by sung_model_swap_ema (ema_swapped: p is the average now) */
    float *ema, *ema_buf;
    double ema_decay;
    int ema_swapped;
    long ema_updates; /* the average's updates since it started */
    int ema_warmup;   /* sung_train_ema_warmup: its decay ramps up over its first updates */

    conv_layer *convs;
    int nconvs, cap_convs;
    m_path deblur, edge;       /* edge unused for siun */
    m_unet restore;

    /* working memory, sized on first use and then reused */
    arena act, keep;
    float *zeros, *scratch;     /* the conv plans' working memory (conv_plan.h) */
    size_t nzeros, nscratch;
    sung_precision precision;  /* of the convolutions, inference and training */
    /* per-layer-type timing (sung_profile_reset) */
    int prof_on, nprof, prof_key; /* prof_key: sung_profile_key */
    sung_layer_time prof[32];
    model_trace *trace;
    struct node *tape;
    int ntape, cap_tape;
};

/* Glorot init of every parameter from seed (SPEC §6; docs/WEIGHTS.md). */
void model_init_weights(sung_model *m, uint64_t seed);
/* Builds the structure and allocates parameters (zero). */
sung_status model_build(sung_model **out, sung_variant v, int width, sung_error *err);
/* model_build in two halves: the layout (params, convs: a few KB whatever the width),
 * then the buffers (parameters, gradients, Adam moments) and the conv plans (whose packed
 * weights come with the first pass that reads them). A reader checks
 * a file's tensors against the layout before it commits memory to them. */
sung_status model_layout(sung_model **out, sung_variant v, int width, sung_error *err);
sung_status model_alloc(sung_model *m, sung_error *err);
int model_find_param(const sung_model *m, const char *name);

/* src/pack.c, the model's side of the conv plans. The pass (a conv_mode) of m's precision,
 * in training or not. */
int model_conv_mode(const sung_model *m, int train);
/* Prepares every plan for a pass in mode (packing where the parameters changed since);
 * -1 when out of memory. */
int model_repack(sung_model *m, int mode);
/* The parameters changed: every packed copy is stale. */
void model_params_changed(sung_model *m);
/* Training: zero the plans' packed weight gradients; add them into m->g. */
void model_grads_zero_packed(sung_model *m);
void model_grads_unpack(sung_model *m);
/* The bytes of the weight layouts an inference in m's precision touches. */
size_t infer_packed_bytes(const sung_model *m);

/* src/cost.c: FLOPs (2 per multiply-add) of a forward convolution of shape s whose input
 * has pix pixels: the one formula of sung_model_flops and of the profile. */
double conv_flops(const conv_shape *s, double pix);
/* The per-layer-type profile (sung_profile_reset). prof_add adds one call,
 * started at t0 = prof_wall(), of a convolution of shape s whose input is n images of
 * h×w pixels; nothing unless profiling, nor while planning memory. */
enum { PROF_FWD, PROF_SHUFFLE, PROF_BWD };
double prof_wall(void);
void prof_add(sung_model *m, double t0, const conv_shape *s, int kind, int n, int h, int w, int with_din, int bf16);

/* The arguments of sung_deblur (and sung_deblur_tiled): SUNG_OK, or SUNG_ERR_ARG with
 * a message. */
sung_status deblur_check(const sung_image *in, int iters, sung_error *err);
/* Index i reflected into 0..n−1 without repeating the edge (…2 1 | 0 1 2 … n−1 | n−2…),
 * as sung_deblur pads. */
int reflect101(int i, int n);

#endif
