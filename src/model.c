/* The SUNG network's structure and parameters: the layer list built in the words of the
 * spec (SPEC §1–§3), the one parameter/gradient/Adam buffer, deterministic initialisation,
 * create/free and precision. The graph that runs it is src/graph.c; how each conv runs,
 * its conv_plan (src/ops/conv_plan.c), prepared by src/pack.c; the scale loop
 * src/scales.c; FLOPs and the profile src/cost.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rng.h"

int sung_variant_parse(const char *name)
{
    static const char *names[] = {"sung", "base", "siun"};
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, names[i])) return i;
    return -1;
}

const char *sung_variant_name(sung_variant v)
{
    return v == SUNG_SUNG ? "sung" : v == SUNG_BASE ? "base" : v == SUNG_SIUN ? "siun" : "?";
}

const char *sung_isa(void) { return ops_isa(); }

/* ---- structure --------------------------------------------------------------------- */

typedef struct {
    sung_model *m;
    int failed;
    char prefix[64];
} builder;

/* dst = a + "." + b (or b when a is empty); names are short, but a long one fails the
 * build rather than being cut. */
static void join(builder *bd, char *dst, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 2 > n) {
        bd->failed = 1;
        dst[0] = 0;
        return;
    }
    memmove(dst, a, la);
    if (la) dst[la++] = '.';
    memcpy(dst + la, b, lb + 1);
}

static int add_param(builder *b, const char *suffix, int ndim, const int *shape)
{
    sung_model *m = b->m;
    if (m->nparams == m->cap_params) {
        int cap = m->cap_params ? 2 * m->cap_params : 512;
        param_info *p = realloc(m->params, cap * sizeof *p);
        if (!p) return b->failed = 1, -1;
        m->params = p, m->cap_params = cap;
    }
    param_info *p = &m->params[m->nparams];
    memset(p, 0, sizeof *p);
    join(b, p->name, sizeof p->name, b->prefix, suffix);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) p->shape[i] = shape[i], p->numel *= shape[i];
    p->off = m->nfloats;
    m->nfloats += p->numel;
    return m->nparams++;
}

/* A conv named prefix + name, with "weight" (and "bias") parameters. */
static int add_conv(builder *b, const char *name, int k, int stride, int A, int B, int bias,
                    int transposed)
{
    sung_model *m = b->m;
    if (m->nconvs == m->cap_convs) {
        int cap = m->cap_convs ? 2 * m->cap_convs : 256;
        conv_layer *c = realloc(m->convs, cap * sizeof *c);
        if (!c) return b->failed = 1, -1;
        m->convs = c, m->cap_convs = cap;
    }
    char keep[64];
    memcpy(keep, b->prefix, sizeof keep);
    join(b, b->prefix, sizeof b->prefix, keep, name);
    conv_layer *c = &m->convs[m->nconvs];
    memset(c, 0, sizeof *c);
    c->s = (conv_shape){k, stride, A, B, transposed};
    int wshape[4] = {transposed ? A : B, transposed ? B : A, k, k};
    c->w_param = add_param(b, "weight", 4, wshape);
    c->b_param = bias ? add_param(b, "bias", 1, &B) : -1;
    memcpy(b->prefix, keep, sizeof keep);
    return m->nconvs++;
}

/* enter("res.0") ... leave(): nested prefixes */
static void enter(builder *b, const char *name, char *save)
{
    memcpy(save, b->prefix, 64);
    join(b, b->prefix, sizeof b->prefix, save, name);
}
static void leave(builder *b, const char *save) { memcpy(b->prefix, save, 64); }

static m_resblock build_resblock(builder *b, const char *name, int n)
{
    char s[64];
    enter(b, name, s);
    m_resblock r = {add_conv(b, "c1", 3, 1, n, n, 1, 0), add_conv(b, "c2", 3, 1, n, n, 1, 0)};
    leave(b, s);
    return r;
}

static void build_res3(builder *b, m_resblock *res, const char *name, int n)
{
    char s[64], nm[16];
    enter(b, name, s);
    for (int i = 0; i < 3; i++) {
        snprintf(nm, sizeof nm, "%d", i);
        res[i] = build_resblock(b, nm, n);
    }
    leave(b, s);
}

static m_eblock build_eblock(builder *b, const char *name, int a, int n, int stride)
{
    char s[64];
    m_eblock e;
    enter(b, name, s);
    e.conv = add_conv(b, "conv", 5, stride, a, n, 1, 0);
    build_res3(b, e.res, "res", n);
    leave(b, s);
    return e;
}

static m_dblock build_dblock(builder *b, const char *name, int n)
{
    char s[64];
    m_dblock d;
    enter(b, name, s);
    build_res3(b, d.res, "res", 2 * n);
    d.up = add_conv(b, "up", 5, 2, 2 * n, n, 1, 1);
    leave(b, s);
    return d;
}

/* prefix must already name the U-Net ("deblur.unet", "restore") */
static void build_unet(builder *b, m_unet *u, int a, int c, int image)
{
    u->e1 = build_eblock(b, "e1", a, c, 1);
    u->e2 = build_eblock(b, "e2", c, 2 * c, 2);
    u->e3 = build_eblock(b, "e3", 2 * c, 4 * c, 2);
    u->d2 = build_dblock(b, "d2", 2 * c);
    u->d1 = build_dblock(b, "d1", c);
    u->image = image;
    if (image) {
        build_res3(b, u->ores, "ores", c);
        u->oconv = add_conv(b, "oconv", 5, 1, c, 3, 1, 0);
    }
}

static void build_path(builder *b, m_path *p, const char *name, int n_rdb, int c)
{
    char s[64], s2[64], nm[16];
    enter(b, name, s);
    p->head = add_conv(b, "head", 3, 1, 6, c, 1, 0);
    enter(b, "unet", s2);
    build_unet(b, &p->unet, c, c, 0);
    leave(b, s2);
    p->n_rdb = n_rdb;
    for (int k = 0; k < n_rdb; k++) {
        char s3[64], s4[64];
        snprintf(nm, sizeof nm, "%d", k);
        enter(b, "rdbs", s3);
        enter(b, nm, s4);
        for (int j = 0; j < 6; j++) {
            char dn[24];
            snprintf(dn, sizeof dn, "dense.%d", j);
            p->rdbs[k].dense[j] = add_conv(b, dn, 3, 1, (1 + j) * c, c, 0, 0);
        }
        p->rdbs[k].fuse = add_conv(b, "fuse", 1, 1, 7 * c, c, 0, 0);
        leave(b, s4);
        leave(b, s3);
    }
    p->fuse1 = n_rdb > 1 ? add_conv(b, "fuse1", 1, 1, n_rdb * c, c, 1, 0) : -1;
    p->fuse3 = add_conv(b, "fuse3", 3, 1, c, c, 1, 0);
    p->up = add_conv(b, "up", 3, 1, c, 4 * c, 1, 0);
    if (p->up >= 0) b->m->convs[p->up].shuffled = 1; /* inference fuses it with the shuffle */
    p->tail = add_conv(b, "tail", 3, 1, c, 3, 1, 0);
    leave(b, s);
}

sung_status model_layout(sung_model **out, sung_variant v, int width, sung_error *err)
{
    *out = NULL;
    if ((int)v < 0 || v > SUNG_SIUN) {
        model_set_error(err, "unknown variant %d", (int)v);
        return SUNG_ERR_ARG;
    }
    if (width < 1 || width > 1024) {
        model_set_error(err, "width %d out of range (1..1024)", width);
        return SUNG_ERR_ARG;
    }
    sung_model *m = calloc(1, sizeof *m);
    if (!m) goto nomem;
    m->variant = v;
    m->width = width;
    builder b = {m, 0, ""};
    build_path(&b, &m->deblur, "deblur", 3, width);
    if (v != SUNG_SIUN) build_path(&b, &m->edge, "edge", 1, width);
    char s[64];
    enter(&b, "restore", s);
    build_unet(&b, &m->restore, v == SUNG_SIUN ? 6 : 9, width, 1);
    leave(&b, s);
    if (b.failed) goto nomem;
    *out = m;
    return SUNG_OK;
nomem:
    sung_model_free(m);
    model_set_error(err, "out of memory building a width-%d model", width);
    return SUNG_ERR_NOMEM;
}

/* The buffers, and each conv layer's plan with the Winograd choices of sung_options (its
 * packed layouts come with the first pass that needs them, model_repack). */
sung_status model_alloc(sung_model *m, sung_error *err)
{
    m->mem = calloc(4 * m->nfloats, sizeof *m->mem);
    if (!m->mem) goto nomem;
    /* the parameters are written as the model loads (9,000 page faults of 4 KB at width
     * 32, a third of `sung deblur`'s start on this VM); the gradients and Adam's moments
     * behind them stay untouched, and so unallocated, until training */
    mem_advise_huge(m->mem, 4 * m->nfloats * sizeof *m->mem);
    m->p = m->mem;
    m->g = m->p + m->nfloats;
    m->adam_m = m->g + m->nfloats;
    m->adam_v = m->adam_m + m->nfloats;
    sung_options o = sung_get_options();
    size_t zeros = 0, scratch = 0;
    for (int i = 0; i < m->nconvs; i++) {
        conv_layer *L = &m->convs[i];
        conv_plan_opts po = {o.winograd == SUNG_WINOGRAD_AUTO ? CONV_WINOGRAD_AUTO : o.winograd, o.winograd_bf16,
                             L->b_param >= 0, L->shuffled};
        if (!(L->plan = conv_plan_create(&L->s, &po))) goto nomem;
        if (conv_plan_zeros_size(L->plan) > zeros) zeros = conv_plan_zeros_size(L->plan);
        if (conv_plan_scratch_size(L->plan) > scratch) scratch = conv_plan_scratch_size(L->plan);
    }
    m->nzeros = zeros;
    m->zeros = calloc(m->nzeros, sizeof *m->zeros);
    m->nscratch = scratch;
    m->scratch = malloc(scratch * sizeof *m->scratch);
    if (!m->zeros || !m->scratch) goto nomem;
    return SUNG_OK;
nomem:
    model_set_error(err, "out of memory for a width-%d model (%.0f MB of parameters and optimizer state)",
                    m->width, 16.0 * m->nfloats / 1048576.0);
    return SUNG_ERR_NOMEM;
}

sung_status model_build(sung_model **out, sung_variant v, int width, sung_error *err)
{
    sung_status st = model_layout(out, v, width, err);
    if (!st && (st = model_alloc(*out, err))) {
        sung_model_free(*out);
        *out = NULL;
    }
    return st;
}

void sung_model_free(sung_model *m)
{
    if (!m) return;
    free(m->params);
    for (int i = 0; m->convs && i < m->nconvs; i++) conv_plan_free(m->convs[i].plan);
    free(m->convs);
    free(m->mem);
    free(m->ema_buf);
    free(m->zeros);
    free(m->scratch);
    free(m->tape);
    arena_free(&m->act);
    arena_free(&m->keep);
    free(m);
}

int model_find_param(const sung_model *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (!strcmp(m->params[i].name, name)) return i;
    return -1;
}

sung_variant sung_model_variant(const sung_model *m) { return m->variant; }
int sung_model_width(const sung_model *m) { return m->width; }
size_t sung_model_param_count(const sung_model *m) { return m->nfloats; }
int sung_model_tensor_count(const sung_model *m) { return m->nparams; }
long sung_train_step_count(const sung_model *m) { return m->step; }

const char *sung_model_tensor(const sung_model *m, int i, int *ndim, int shape[4],
                              float **data, float **grad)
{
    if (i < 0 || i >= m->nparams) return NULL;
    const param_info *p = &m->params[i];
    if (ndim) *ndim = p->ndim;
    if (shape)
        for (int k = 0; k < 4; k++) shape[k] = k < p->ndim ? p->shape[k] : 1;
    if (data) *data = m->p + p->off;
    if (grad) *grad = m->g + p->off;
    return p->name;
}

/* ---- initialisation ------------------------------------------------------------------
 * Per parameter tensor: state = seed ^ FNV-1a-64(name); SplitMix64 draws; element i (flat,
 * PyTorch layout) = float((2u − 1)·limit), u = (next >> 40)·2^-24, limit =
 * sqrt(6 / (fan_in + fan_out)), fan = channels·k·k. Biases are zero. Per-tensor streams
 * make the result independent of the order tensors are visited in. */

void model_init_weights(sung_model *m, uint64_t seed)
{
    for (int i = 0; i < m->nparams; i++) {
        param_info *p = &m->params[i];
        float *w = m->p + p->off;
        if (p->ndim != 4) {
            memset(w, 0, p->numel * sizeof *w);
            continue;
        }
        uint64_t h = 0xcbf29ce484222325ull;
        for (const char *c = p->name; *c; c++) h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
        uint64_t state = seed ^ h;
        double fans = (double)(p->shape[0] + p->shape[1]) * p->shape[2] * p->shape[3];
        double limit = sqrt(6.0 / fans);
        for (size_t e = 0; e < p->numel; e++) {
            double u = (double)(rng_next(&state) >> 40) * 0x1.0p-24;
            w[e] = (float)((2 * u - 1) * limit);
        }
    }
    model_params_changed(m);
}

sung_status sung_model_create(sung_model **out, sung_variant v, int width, uint64_t seed,
                              sung_error *err)
{
    sung_status st = model_build(out, v, width, err);
    if (st == SUNG_OK) model_init_weights(*out, seed);
    return st;
}

/* ---- precision -------------------------------------------------------------------------------- */

int sung_precision_parse(const char *name)
{
    if (name && !strcmp(name, "fp32")) return SUNG_FP32;
    if (name && !strcmp(name, "bf16")) return SUNG_BF16;
    return -1;
}

sung_precision sung_model_precision(const sung_model *m) { return m->precision; }

sung_status sung_model_set_precision(sung_model *m, sung_precision p, sung_error *err)
{
    if (p == SUNG_FP32) {
        m->precision = p;
        return SUNG_OK;
    }
    if (p != SUNG_BF16) {
        model_set_error(err, "unknown precision %d", (int)p);
        return SUNG_ERR_ARG;
    }
    if (!ops_has_bf16()) {
        model_set_error(err, "bf16 needs the avx512_bf16 kernels, and those in use are %s (a CPU without avx512_bf16, or a kernel set chosen in sung_options: SUNG_ISA for sung)", ops_isa());
        return SUNG_ERR_ARG;
    }
    if (m->width % 2) {
        model_set_error(err, "bf16 needs an even width (pairs of channels), this model's is %d", m->width);
        return SUNG_ERR_ARG;
    }
    m->precision = p;
    return SUNG_OK;
}

float *sung_model_grads(sung_model *m, size_t *n)
{
    *n = m->nfloats;
    return m->g;
}
