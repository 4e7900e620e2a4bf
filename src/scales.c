/* The scale loop (SPEC §4) around the graph: inference (sung_deblur) and training
 * gradients (sung_train_accumulate), their argument checks and memory plans.
 *
 * Scales run one at a time (forward, loss, backward) because S_{i+1} enters scale i as a
 * constant, so the activations of one scale are all that is ever held; the arena is reset
 * between scales. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

/* ---- pyramid, padding, the scale loop ------------------------------------------------------ */

/* Pyramid level 0 is in; levels 1..iters are reduced copies, allocated in m->keep. */
static int build_pyramid(sung_model *m, tensor in, int iters, tensor *pyr)
{
    pyr[0] = in;
    float *tmp = arena_alloc(&m->keep, (size_t)in.h * in.w * in.c * sizeof(float));
    if (!tmp) return -1;
    for (int k = 1; k <= iters; k++) {
        tensor t = {NULL, NULL, in.n, pyr[k - 1].h / 2, pyr[k - 1].w / 2, in.c, in.c};
        t.d = arena_alloc(&m->keep, t_img(&t) * t.n * sizeof(float));
        if (!t.d) return -1;
        reduce_forward(t, pyr[k - 1], tmp);
        pyr[k] = t;
    }
    return 0;
}

static void fail_nomem(sung_error *err, const char *what, int n, int h, int w)
{
    model_set_error(err, "out of memory %s (%d image(s) of %dx%d)", what, n, w, h);
}

/* whole-sample reflection (numpy 'reflect'), repeated for long pads */
int reflect101(int i, int n)
{
    if (n == 1) return 0;
    int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

size_t sung_deblur_memory(sung_model *m, int w, int h, int iters)
{
    if (iters < 1 || iters > SUNG_MAX_ITERS || w < 1 || h < 1 || w > SUNG_MAX_SIDE || h > SUNG_MAX_SIDE) return 0;
    int mult = 1 << (iters + 2);
    int H = (h + mult - 1) / mult * mult, W = (w + mult - 1) / mult * mult;
    /* the largest scale's pass, counted as sung_deblur plans it */
    tensor pyr[SUNG_MAX_ITERS + 1];
    for (int i = 0; i <= iters; i++) pyr[i] = (tensor){NULL, NULL, 1, H >> i, W >> i, 3, 3};
    ctx c = {.m = m, .train = 0};
    arena_plan_begin(&m->act);
    scale_step(&c, pyr[1], pyr[1], pyr[0]);
    size_t peak = m->act.peak;
    m->act.counting = 0;
    arena_reset(&m->act);
    /* kept: the padded input, its pyramid (with a temporary), each scale's result, the
     * output image */
    double px = (double)H * W * 3 * sizeof(float), keep = 2 * px;
    for (int i = 0; i <= iters; i++) keep += 2 * px / (double)(1 << (2 * i));
    return peak + (size_t)keep + infer_packed_bytes(m);
}

sung_status deblur_check(const sung_image *in, int iters, sung_error *err)
{
    if (iters < 1 || iters > SUNG_MAX_ITERS) {
        model_set_error(err, "iterations must be 1..%d, got %d", SUNG_MAX_ITERS, iters);
        return SUNG_ERR_ARG;
    }
    if (!in || !in->data || in->w < 1 || in->h < 1 || in->w > SUNG_MAX_SIDE || in->h > SUNG_MAX_SIDE) {
        model_set_error(err, "image size %dx%d out of range (1..%d)", in ? in->w : 0, in ? in->h : 0, SUNG_MAX_SIDE);
        return SUNG_ERR_ARG;
    }
    return SUNG_OK;
}

sung_status sung_deblur(sung_model *m, const sung_image *in, int iters, sung_image *out,
                        sung_error *err)
{
    memset(out, 0, sizeof *out);
    sung_status chk = deblur_check(in, iters, err);
    if (chk != SUNG_OK) return chk;
    int mult = 1 << (iters + 2);
    int H = (in->h + mult - 1) / mult * mult, W = (in->w + mult - 1) / mult * mult;
    int top = (H - in->h) / 2, left = (W - in->w) / 2;
    if (model_repack(m, model_conv_mode(m, 0))) {
        model_set_error(err, "out of memory packing the weights");
        return SUNG_ERR_NOMEM;
    }
    arena_reset(&m->keep);
    tensor pyr[SUNG_MAX_ITERS + 1], S;
    tensor B0 = {arena_alloc(&m->keep, (size_t)H * W * 3 * sizeof(float)), NULL, 1, H, W, 3, 3};
    if (!B0.d) goto nomem;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const float *src = in->data + ((size_t)reflect101(y - top, in->h) * in->w +
                                           reflect101(x - left, in->w)) * 3;
            memcpy(B0.d + ((size_t)y * W + x) * 3, src, 3 * sizeof(float));
        }
    if (build_pyramid(m, B0, iters, pyr)) goto nomem;
    S = pyr[iters];
    ctx c = {.m = m, .train = 0};
    /* plan the largest (last) scale, so that all scales run in one block */
    arena_plan_begin(&m->act);
    scale_step(&c, pyr[1], pyr[1], pyr[0]);
    if (arena_plan_end(&m->act)) goto nomem;
    for (int i = iters - 1; i >= 0; i--) {
        arena_reset(&m->act);
        step_out o = scale_step(&c, pyr[i + 1], S, pyr[i]);
        if (c.failed) goto nomem;
        trace_step(m, i, &o);
        tensor keep = o.S;
        keep.d = arena_alloc(&m->keep, t_img(&keep) * sizeof(float));
        keep.ld = 3;
        if (!keep.d) goto nomem;
        copy_forward(keep, o.S);
        S = keep;
    }
    arena_reset(&m->act);
    sung_status st = sung_image_alloc(out, in->w, in->h, err);
    if (st) return st;
    for (int y = 0; y < in->h; y++)
        memcpy(out->data + (size_t)y * in->w * 3, S.d + ((size_t)(y + top) * W + left) * 3,
               (size_t)in->w * 3 * sizeof(float));
    for (size_t i = 0; i < (size_t)in->w * in->h * 3; i++)
        out->data[i] = fminf(fmaxf(out->data[i], 0.0f), 1.0f);
    return SUNG_OK;
nomem:
    arena_reset(&m->act);
    fail_nomem(err, "deblurring", 1, in->h, in->w);
    return SUNG_ERR_NOMEM;
}

/* ---- training ------------------------------------------------------------------------------ */

sung_train_opts sung_train_defaults(const sung_model *m)
{
    double e = m->variant == SUNG_SUNG ? 1.0 : 0.0;
    return (sung_train_opts){3, e, e};
}

void sung_train_zero_grads(sung_model *m) { memset(m->g, 0, m->nfloats * sizeof *m->g); }

sung_status sung_train_grads(sung_model *m, const float *blur, const float *sharp, int n,
                             int h, int w, const sung_train_opts *o, sung_losses *losses,
                             sung_error *err)
{
    sung_train_zero_grads(m);
    return sung_train_accumulate(m, blur, sharp, n, h, w, o, 1.0, losses, err);
}

/* The checks shared by the training entry points. */
static sung_status train_check(const sung_model *m, int n, int h, int w, const sung_train_opts *o, sung_error *err)
{
    int iters = o->iters, mult = 1 << (iters < 1 || iters > SUNG_MAX_ITERS ? 2 : iters + 2);
    if (iters < 1 || iters > SUNG_MAX_ITERS) {
        model_set_error(err, "iterations must be 1..%d, got %d", SUNG_MAX_ITERS, iters);
        return SUNG_ERR_ARG;
    }
    if (n < 1 || h < mult || w < mult || h % mult || w % mult || h > SUNG_MAX_SIDE || w > SUNG_MAX_SIDE) {
        model_set_error(err, "training crops must be multiples of %d (2^(iters+2)) and at most %d, got %dx%d",
                        mult, SUNG_MAX_SIDE, w, h);
        return SUNG_ERR_ARG;
    }
    if (m->variant == SUNG_SIUN && o->w_edge_sup != 0) {
        model_set_error(err, "siun has no edge path: the edge-supervision weight must be 0");
        return SUNG_ERR_ARG;
    }
    return SUNG_OK;
}

/* Counts (arena_plan_begin) the largest, last scale of a training pass over B (n images
 * of h×w) with its loss tensors, as sung_train_accumulate's loop allocates them, and the
 * largest temporary of the backward pass (bf16: converted copies). */
static void plan_train_scale(ctx *c, const tensor *B, int n, int h, int w)
{
    arena_plan_begin(&c->m->act);
    scale_step(c, B[1], B[1], B[0]);
    new_tensor(c, n, h, w, 3, 0);
    new_tensor(c, n, h, w, 3, 1);
    if (c->bwd_tmp) arena_alloc(&c->m->act, c->bwd_tmp * sizeof(float));
}

size_t sung_train_memory(sung_model *m, int n, int h, int w, const sung_train_opts *o)
{
    sung_error err;
    if (train_check(m, n, h, w, o, &err) != SUNG_OK) return 0;
    int iters = o->iters;
    /* the largest scale's pass, counted, not run (as sung_train_accumulate plans it) */
    tensor B[SUNG_MAX_ITERS + 1];
    for (int i = 0; i <= iters; i++) B[i] = (tensor){NULL, NULL, n, h >> i, w >> i, 3, 3};
    ctx c = {.m = m, .train = 1};
    plan_train_scale(&c, B, n, h, w);
    size_t peak = m->act.peak;
    m->act.counting = 0;
    arena_reset(&m->act);
    m->ntape = 0;
    /* kept across scales: both pyramids (with one full-size temporary) and each S_i */
    double px = (double)n * h * w * 3 * sizeof(float), keep = 0;
    for (int i = 0; i <= iters; i++) keep += 3 * px / (double)(1 << (2 * i));
    return peak + (size_t)(keep + px);
}

sung_status sung_train_accumulate(sung_model *m, const float *blur, const float *sharp, int n, int h, int w,
                                  const sung_train_opts *o, double scale, sung_losses *losses, sung_error *err)
{
    int iters = o->iters;
    sung_status st = train_check(m, n, h, w, o, err);
    if (st != SUNG_OK) return st;
    if (!(scale > 0) || !isfinite(scale)) {
        model_set_error(err, "the loss scale must be a positive number, got %g", scale);
        return SUNG_ERR_ARG;
    }
    if (model_repack(m, model_conv_mode(m, 1))) {
        model_set_error(err, "out of memory packing the weights");
        return SUNG_ERR_NOMEM;
    }
    model_grads_zero_packed(m); /* unpacked (added) into m->g below */
    sung_losses L;
    memset(&L, 0, sizeof L);
    arena_reset(&m->keep);
    /* the inputs, as tensors (they are already NHWC with 3 channels) */
    tensor Bt = {(float *)blur, NULL, n, h, w, 3, 3}, Gt = {(float *)sharp, NULL, n, h, w, 3, 3};
    tensor B[SUNG_MAX_ITERS + 1], GT[SUNG_MAX_ITERS + 1], S;
    if (build_pyramid(m, Bt, iters, B) || build_pyramid(m, Gt, iters, GT)) goto nomem;
    S = B[iters];
    ctx c = {.m = m, .train = 1};
    plan_train_scale(&c, B, n, h, w);
    if (arena_plan_end(&m->act)) goto nomem;
    for (int i = iters - 1; i >= 0; i--) {
        arena_reset(&m->act);
        m->ntape = 0;
        step_out so = scale_step(&c, B[i + 1], S, B[i]);
        tensor mgt = new_tensor(&c, n, GT[i].h, GT[i].w, 3, 0);
        if (c.failed) goto nomem;
        trace_step(m, i, &so);
        edge_forward(mgt, GT[i]);
        L.pixel[i] = graph_l1(&c, so.S, GT[i], scale);
        if (o->w_edge_aux != 0 || m->variant == SUNG_SUNG) {
            tensor ms = new_tensor(&c, n, GT[i].h, GT[i].w, 3, 1);
            graph_edge(&c, ms, so.S);
            L.edge_aux[i] = graph_l1(&c, ms, mgt, scale * o->w_edge_aux);
        }
        if (so.G.d) L.edge_sup[i] = graph_l1(&c, so.G, mgt, scale * o->w_edge_sup);
        if (c.failed) goto nomem;
        L.total += L.pixel[i] + o->w_edge_aux * L.edge_aux[i] + o->w_edge_sup * L.edge_sup[i];
        if (graph_backward(m)) goto nomem;
        /* S_i goes on to the next scale as a constant */
        tensor keep = so.S;
        keep.g = NULL;
        keep.d = arena_alloc(&m->keep, t_img(&keep) * n * sizeof(float));
        keep.ld = 3;
        if (!keep.d) goto nomem;
        copy_forward(keep, so.S);
        S = keep;
    }
    arena_reset(&m->act);
    m->ntape = 0;
    model_grads_unpack(m);
    if (losses) *losses = L;
    return SUNG_OK;
nomem:
    arena_reset(&m->act);
    m->ntape = 0;
    fail_nomem(err, "training", n, h, w);
    return SUNG_ERR_NOMEM;
}

void sung_train_apply(sung_model *m, double lr)
{
    assert(!m->ema_swapped); /* the weights, not their average, take the step */
    m->step++;
    adam_update(m->p, m->g, m->adam_m, m->adam_v, m->nfloats, lr, 0.9, 0.999, 1e-8, m->step);
    if (m->ema) {
        double d = m->ema_decay, k = (double)++m->ema_updates;
        if (m->ema_warmup && (1 + k) / (10 + k) < d) d = (1 + k) / (10 + k);
        ema_update(m->ema, m->p, m->nfloats, d);
    }
    model_params_changed(m);
}

sung_status sung_train_ema(sung_model *m, double decay, sung_error *err)
{
    if (!m || !(decay >= 0 && decay < 1)) {
        model_set_error(err, "the weights' average needs a decay in [0, 1) (0: none), not %g", decay);
        return SUNG_ERR_ARG;
    }
    if (m->ema_swapped) {
        model_set_error(err, "the weights and their average are exchanged: swap them back first");
        return SUNG_ERR_ARG;
    }
    if (decay == 0) {
        free(m->ema_buf);
        m->ema = m->ema_buf = NULL, m->ema_decay = 0, m->ema_updates = 0, m->ema_warmup = 0;
        return SUNG_OK;
    }
    if (!m->ema) {
        if (!(m->ema_buf = malloc(m->nfloats * sizeof *m->ema_buf))) {
            model_set_error(err, "out of memory for the weights' average (%zu floats)", m->nfloats);
            return SUNG_ERR_NOMEM;
        }
        memcpy(m->ema_buf, m->p, m->nfloats * sizeof *m->ema_buf);
        m->ema = m->ema_buf;
        m->ema_updates = 0;
    }
    m->ema_decay = decay;
    return SUNG_OK;
}

double sung_train_ema_decay(const sung_model *m) { return m && m->ema ? m->ema_decay : 0; }

sung_status sung_train_ema_warmup(sung_model *m, int on, sung_error *err)
{
    if (!m || !m->ema) {
        model_set_error(err, "the model has no average of its weights to warm up (sung_train_ema)");
        return SUNG_ERR_ARG;
    }
    m->ema_warmup = on != 0;
    return SUNG_OK;
}

int sung_train_ema_warmup_on(const sung_model *m) { return m && m->ema && m->ema_warmup; }

sung_status sung_model_swap_ema(sung_model *m, sung_error *err)
{
    if (!m || !m->ema) {
        model_set_error(err, "the model has no average of its weights (sung_train_ema)");
        return SUNG_ERR_ARG;
    }
    float *t = m->p;
    m->p = m->ema, m->ema = t;
    m->ema_swapped = !m->ema_swapped;
    model_params_changed(m);
    return SUNG_OK;
}

sung_status sung_edge_map(const sung_image *in, sung_image *out, sung_error *err)
{
    memset(out, 0, sizeof *out);
    if (!in || !in->data || in->w < 1 || in->h < 1) {
        model_set_error(err, "edge map: empty image");
        return SUNG_ERR_ARG;
    }
    sung_status st = sung_image_alloc(out, in->w, in->h, err);
    if (st) return st;
    tensor i = {in->data, NULL, 1, in->h, in->w, 3, 3}, o = {out->data, NULL, 1, in->h, in->w, 3, 3};
    edge_forward(o, i);
    return SUNG_OK;
}

/* ---- cost: the graph walked without running -------------------------------------------------- */

/* The inference graph itself, walked without running (the arena only counts, as when
 * sung_deblur plans its memory), adds up the FLOPs of the convolutions it would run: one
 * structure for both. The walk is on a copy of the model with an arena of its own, so
 * that m stays untouched. */
double sung_model_flops(const sung_model *m, int iters, int h, int w)
{
    if (iters < 1 || iters > SUNG_MAX_ITERS || h < 1 || w < 1) return 0;
    int mult = 1 << (iters + 2);
    int H = (h + mult - 1) / mult * mult, W = (w + mult - 1) / mult * mult;
    sung_model walk = *m;
    walk.act = (arena){0};
    walk.prof_on = 0;
    walk.trace = NULL;
    ctx c = {.m = &walk, .train = 0};
    arena_plan_begin(&walk.act);
    for (int i = iters - 1; i >= 0; i--) {
        arena_reset(&walk.act);
        tensor Bn = {NULL, NULL, 1, H >> (i + 1), W >> (i + 1), 3, 3}, Bi = {NULL, NULL, 1, H >> i, W >> i, 3, 3};
        scale_step(&c, Bn, Bn, Bi);
    }
    arena_free(&walk.act);
    return c.flops;
}
