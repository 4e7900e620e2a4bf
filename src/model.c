/* The SUNG network: structure, parameters, the scale loop, training gradients.
 *
 * Forward code reads like SPEC §1–§4. In training mode every op is also recorded on a
 * tape; backward() replays the tape in reverse. Scales run one at a time (forward,
 * loss, backward) because S_{i+1} enters scale i as a constant, so the activations of
 * one scale are all that is ever held; the arena is reset between scales. */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "rng.h"

#ifdef _OPENMP
#include <omp.h>
#endif

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
    c->fwd_off = m->npacked;
    m->npacked += conv_fwd_pack_size(&c->s);
    c->bwd_off = m->npacked;
    m->npacked += conv_bwd_pack_size(&c->s);
    c->bias_off = m->npacked;
    m->npacked += conv_round(B);
    c->g_off = m->ngpacked;
    m->ngpacked += conv_fwd_pack_size(&c->s);
    c->fwd16_off = m->npacked16;
    m->npacked16 += conv_bf16_pack_size(&c->s);
    c->bwd16_off = m->npacked16_bwd;
    m->npacked16_bwd += conv_bf16_bwd_pack_size(&c->s);
    /* Winograd for every 3×3 stride-1 conv with A a multiple of 16 (at width 32: 32 to
     * 192 input channels): F(4×4, 3×3), except F(2×2) where the weights are large next
     * to the pictures they meet (A·B ≥ 128², the U-Nets' third level, 1/16 of the pixels):
     * F(4×4)'s packs are 4× the weights, F(2×2)'s 16/9×, and there F(4×4) is only 1.17×
     * faster (bench/conv_layers, 64×64): −47 MB for ~1 % of the time at width 32.
     * sung_options.winograd 0: direct convolutions only; 2: F(2×2) from 64 input channels
     * on (before F(4×4)); 4: F(4×4) everywhere. */
    int wm = sung_get_options().winograd;
    if (wm == SUNG_WINOGRAD_AUTO) wm = c->s.A * c->s.B >= 128 * 128 ? 2 : 4;
    c->wino = conv_wino_ok(&c->s) && (wm == 4 || (wm == 2 && c->s.A >= 64)) ? wm : 0;
    if (c->wino) {
        c->wino_off = m->npacked;
        m->npacked += conv_wino_pack_size(&c->s, c->wino);
    }
    /* fp32 training: the data gradient of a 3×3 stride-1 conv is a 3×3 conv from B to A
     * channels, Winograd by the same rule on that shape (A·B is the same). bf16 training
     * keeps the direct bf16 kernels, forward and backward: an fp32 layer there carries
     * differences far below bf16's rounding (another order of the same sums, from another
     * split of the batch) into the bf16 roundings of the layers after it, which then flip,
     * and 2 processes no longer give the weights of 1 (tests/test_mpi.c: 2e-3 instead of
     * < 1e-5 after 4 steps); and it was not clearly faster (docs/BENCHMARKS.md). */
    if (conv_wino_dgrad_ok(&c->s)) {
        conv_shape d = conv_dgrad_shape(&c->s);
        c->wino_bwd = wm == 4 || (wm == 2 && d.A >= 64) ? wm : 0;
        if (c->wino_bwd) {
            c->wino_bwd_off = m->npacked;
            m->npacked += conv_wino_pack_size(&d, c->wino_bwd);
        }
    }
    /* In bf16 inference a Winograd layer stays fp32 F(4×4): faster than the direct bf16
     * conv (bench/conv_layers) and exact to fp32. Its products in bf16 (sung_options.winograd_bf16,
     * for experiments) are faster again but the transforms amplify bf16's rounding ~10×:
     * −3.5 dB on the snapshot (docs/BENCHMARKS.md). */
    c->wino16 = c->wino == 4 && conv_wino_bf16_ok(&c->s) && sung_get_options().winograd_bf16;
    if (c->wino16) {
        c->wino16_off = m->npacked16;
        m->npacked16 += conv_wino_bf16_pack_size(&c->s);
    }
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
    if (p->up >= 0) { /* inference runs it fused with the pixel shuffle */
        conv_layer *L = &b->m->convs[p->up];
        L->shuffled = 1;
        L->shuf_off = b->m->npacked;
        b->m->npacked += conv_shuffle_pack_size(&L->s);
        L->shuf16_off = b->m->npacked16;
        b->m->npacked16 += conv_bf16_shuffle_pack_size(&L->s);
    }
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

sung_status model_alloc(sung_model *m, sung_error *err)
{
    m->mem = calloc(4 * m->nfloats, sizeof *m->mem);
    m->packed = malloc(m->npacked * sizeof *m->packed);
    m->gpacked = calloc(m->ngpacked, sizeof *m->gpacked);
    if (!m->mem || !m->packed || !m->gpacked) goto nomem;
    m->p = m->mem;
    m->g = m->p + m->nfloats;
    m->adam_m = m->g + m->nfloats;
    m->adam_v = m->adam_m + m->nfloats;
    size_t maxc = 16, scratch = 0;
    for (int i = 0; i < m->nconvs; i++) {
        conv_shape *cs = &m->convs[i].s;
        if ((size_t)cs->A > maxc) maxc = cs->A;
        if ((size_t)cs->B > maxc) maxc = cs->B;
        if (conv_scratch_size(cs) > scratch) scratch = conv_scratch_size(cs);
        if (m->convs[i].wino && conv_wino_scratch_size(cs, m->convs[i].wino) > scratch)
            scratch = conv_wino_scratch_size(cs, m->convs[i].wino);
        conv_shape d = conv_dgrad_shape(cs);
        if (m->convs[i].wino_bwd && conv_wino_scratch_size(&d, m->convs[i].wino_bwd) > scratch)
            scratch = conv_wino_scratch_size(&d, m->convs[i].wino_bwd);
    }
    m->nzeros = maxc + 64;
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
    free(m->convs);
    free(m->mem);
    free(m->packed);
    free(m->packed16);
    free(m->packed16_bwd);
    free(m->gpacked);
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
    m->packed_fresh = 0;
}

sung_status sung_model_create(sung_model **out, sung_variant v, int width, uint64_t seed,
                              sung_error *err)
{
    sung_status st = model_build(out, v, width, err);
    if (st == SUNG_OK) model_init_weights(*out, seed);
    return st;
}

/* Packs the weights for what the next pass runs — fp32 inference: the forward layouts
 * (direct, Winograd or fused with the shuffle, whichever each layer uses); training:
 * those and the data-gradient ones (Winograd or transposed); bf16 inference: the bf16
 * pairs (the fp32 Winograd layouts of those layers); bf16 training: the bf16 pairs of
 * the direct forward and of the transposed layouts — so that a pass
 * never touches the pages of layouts it does not use. The biases always. Returns -1
 * when out of memory. */
static int repack(sung_model *m, int want)
{
    if ((m->packed_fresh & want) == want) return 0;
    float *tmp = NULL;
    size_t most = 0;
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    if (want & (PACKED_BF16 | PACKED_BF16_TRAIN)) {
        for (int i = 0; i < m->nconvs; i++) {
            const conv_shape *cs = &m->convs[i].s;
            if (conv_fwd_pack_size(cs) > most) most = conv_fwd_pack_size(cs);
            if (conv_bwd_pack_size(cs) > most) most = conv_bwd_pack_size(cs);
            if (m->convs[i].shuffled && conv_shuffle_pack_size(cs) > most) most = conv_shuffle_pack_size(cs);
            if (m->convs[i].wino16 && conv_wino_pack_size(cs, 4) > most) most = conv_wino_pack_size(cs, 4);
        }
        if (!m->packed16 && !(m->packed16 = malloc(m->npacked16 * sizeof *m->packed16))) return -1;
        if (want & PACKED_BF16_TRAIN && !m->packed16_bwd &&
            !(m->packed16_bwd = malloc(m->npacked16_bwd * sizeof *m->packed16_bwd)))
            return -1;
        if (!(tmp = malloc(most * nt * sizeof *tmp))) return -1;
    }
    /* layer by layer on all threads: packing runs once per training step */
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < m->nconvs; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *mine = tmp ? tmp + (size_t)tid * most : NULL;
        conv_layer *c = &m->convs[i];
        const float *w = m->p + m->params[c->w_param].off;
        const float *b = c->b_param >= 0 ? m->p + m->params[c->b_param].off : NULL;
        float *bias = m->packed + c->bias_off;
        memset(bias, 0, conv_round(c->s.B) * sizeof *bias);
        if (b) memcpy(bias, b, c->s.B * sizeof *bias);
        if (want & (PACKED_FWD | PACKED_BWD)) {
            /* a Winograd layer never runs the direct forward layout */
            float *fwd = want & PACKED_FWD && !c->wino ? m->packed + c->fwd_off : NULL;
            conv_pack(&c->s, w, fwd, want & PACKED_BWD && !c->wino_bwd ? m->packed + c->bwd_off : NULL);
        }
        if (want & PACKED_BWD && c->wino_bwd)
            conv_wino_dgrad_pack(&c->s, c->wino_bwd, w, m->packed + c->wino_bwd_off);
        if (want & PACKED_FWD) {
            if (c->wino) conv_wino_pack(&c->s, c->wino, w, m->packed + c->wino_off);
            if (c->shuffled) conv_shuffle_pack(&c->s, w, b, m->packed + c->shuf_off);
        }
        if (want & PACKED_BF16) { /* inference */
            if (c->wino16) {
                conv_wino_pack(&c->s, 4, w, mine);
                conv_wino_bf16_pack(&c->s, mine, m->packed16 + c->wino16_off);
            } else if (c->wino) { /* runs fp32 Winograd */
                if (!(want & PACKED_FWD)) conv_wino_pack(&c->s, c->wino, w, m->packed + c->wino_off);
            }
            if (c->shuffled) { /* a Winograd layer's too: the up conv runs fused with its shuffle */
                conv_shuffle_pack(&c->s, w, b, mine);
                conv_bf16_shuffle_pack(&c->s, mine, m->packed16 + c->shuf16_off);
            }
        }
        /* the direct bf16 forward: inference's non-Winograd layers, and every layer in
         * bf16 training */
        if (want & PACKED_BF16_TRAIN || (want & PACKED_BF16 && !c->wino)) {
            conv_pack(&c->s, w, mine, NULL);
            conv_bf16_pack(&c->s, mine, m->packed16 + c->fwd16_off);
        }
        if (want & PACKED_BF16_TRAIN) {
            conv_pack(&c->s, w, NULL, mine);
            conv_bf16_bwd_pack(&c->s, mine, m->packed16_bwd + c->bwd16_off);
        }
    }
    free(tmp);
    m->packed_fresh |= want;
    return 0;
}

/* ---- per-layer-type timing ---------------------------------------------------------------- */

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void sung_profile_reset(sung_model *m)
{
    m->prof_on = 1;
    m->nprof = 0;
}

int sung_profile_get(const sung_model *m, sung_layer_time *rows, int max)
{
    for (int i = 0; i < m->nprof && i < max; i++) rows[i] = m->prof[i];
    return m->nprof;
}

enum { PROF_FWD, PROF_SHUFFLE, PROF_BWD };

/* FLOPs (2 per multiply-add) of a forward convolution of shape s whose input has `pix`
 * pixels: the one formula of sung_model_flops and of the profile. */
static double shape_flops(const conv_shape *s, double pix)
{
    double out_pix = s->transposed ? pix : pix / ((double)s->stride * s->stride);
    return 2.0 * s->k * s->k * s->A * s->B * out_pix;
}

/* Adds one call of a convolution of shape s whose input has n×in_pix pixels. */
static void prof_add(sung_model *m, double t0, const conv_shape *s, int kind, double n_in_pix,
                     int with_din, int bf16)
{
    if (!m->prof_on || m->act.counting) return;
    double t = wall() - t0;
    char name[48];
    const char *prec = bf16 ? " bf16" : "";
    if (s->transposed)
        snprintf(name, sizeof name, "tconv %dx%d x2%s", s->k, s->k, prec);
    else
        snprintf(name, sizeof name, "conv %dx%d%s%s%s", s->k, s->k, s->stride == 2 ? " /2" : "",
                 kind == PROF_SHUFFLE ? " + shuffle" : "", prec);
    if (kind == PROF_BWD) strncat(name, " (backward)", sizeof name - strlen(name) - 1);
    double flops = shape_flops(s, n_in_pix);
    if (kind == PROF_BWD) flops *= with_din ? 2 : 1;
    int i = 0;
    while (i < m->nprof && strcmp(m->prof[i].name, name)) i++;
    if (i == m->nprof) {
        if (m->nprof == (int)(sizeof m->prof / sizeof *m->prof)) return;
        memset(&m->prof[i], 0, sizeof m->prof[i]);
        memcpy(m->prof[i].name, name, sizeof name);
        m->nprof++;
    }
    m->prof[i].calls++;
    m->prof[i].seconds += t;
    m->prof[i].flops += flops;
}

/* ---- the graph, with its tape ----------------------------------------------------------- */

enum { N_CONV, N_ADD, N_COPY, N_SHUFFLE, N_EDGE, N_L1 };

typedef struct node {
    int kind, layer, act;
    tensor in, out, res; /* N_ADD: in + res = out; N_L1: in vs res */
    double w;
} node;

typedef struct {
    sung_model *m;
    int train;     /* record the tape, give tensors gradients */
    int failed;    /* sticky: after a failure every op is a no-op */
    size_t bwd16;  /* bf16 training: the most words a conv's backward converts (planning) */
} ctx;

/* No op runs: after a failure (sticky), and while planning memory (arena counting). */
static int idle(const ctx *c) { return c->failed || c->m->act.counting; }

static tensor new_tensor(ctx *c, int n, int h, int w, int ch, int grad)
{
    tensor t = {NULL, NULL, n, h, w, ch, ch};
    if (c->failed) return t;
    size_t bytes = (size_t)n * h * w * ch * sizeof(float);
    t.d = arena_alloc(&c->m->act, bytes);
    if (grad && c->train) {
        t.g = arena_alloc(&c->m->act, bytes);
        if (t.g && !idle(c)) memset(t.g, 0, bytes);
    }
    if (!t.d || (grad && c->train && !t.g)) c->failed = 1;
    return t;
}

static void record(ctx *c, node nd)
{
    if (!c->train || idle(c)) return;
    sung_model *m = c->m;
    if (m->ntape == m->cap_tape) {
        int cap = m->cap_tape ? 2 * m->cap_tape : 512;
        node *t = realloc(m->tape, cap * sizeof *t);
        if (!t) {
            c->failed = 1;
            return;
        }
        m->tape = t, m->cap_tape = cap;
    }
    m->tape[m->ntape++] = nd;
}

/* Runs layer L (or the part s of it whose input channels start at a0: fuse1 summed
 * block by block) in the model's precision, in training as in inference; in bf16
 * inference the Winograd layers stay fp32 (see add_conv; not in bf16 training, see the
 * data gradient there). In bf16 the input is first converted to pairs, in a temporary
 * freed at once. */
static void run_forward(ctx *c, const conv_layer *L, const conv_shape *s, tensor out, tensor in,
                        int a0, const float *bias, int act, const tensor *res, int accumulate)
{
    sung_model *m = c->m;
    if (c->failed) return;
    double t0 = m->prof_on ? wall() : 0;
    int Bp = conv_round(s->B);
    int wino = L->wino && s == &L->s; /* the whole layer, not a block of fuse1 */
    int bf16 = m->precision == SUNG_BF16 && (c->train || !(wino && !L->wino16));
    if (bf16 && !c->train && wino) { /* bf16 Winograd products: SUNG_WINOGRAD_BF16=1 */
        if (!idle(c))
            conv_forward_wino_bf16(s, out, in, m->packed16 + L->wino16_off, bias, act, res, accumulate,
                                   m->zeros, m->scratch);
    } else if (bf16) {
        assert(a0 % 2 == 0);
        arena_pos mk = arena_mark(&m->act);
        tensor pairs = new_tensor(c, in.n, in.h, in.w, bf16_pairs(in.c), 0);
        if (c->failed) return;
        if (!idle(c)) {
            bf16_convert(pairs, in);
            conv_forward_bf16(s, out, pairs, m->packed16 + L->fwd16_off + (size_t)(a0 / 2) * Bp,
                              bias, act, res, accumulate, m->zeros);
        }
        arena_release(&m->act, mk);
    } else if (!idle(c) && wino) {
        conv_forward_wino(s, L->wino, out, in, m->packed + L->wino_off, bias, act, res, accumulate, m->zeros,
                          m->scratch);
    } else if (!idle(c)) {
        conv_forward(s, out, in, m->packed + L->fwd_off + (size_t)a0 * Bp, bias, act, res,
                     accumulate, m->zeros);
    }
    prof_add(m, t0, s, PROF_FWD, (double)in.n * in.h * in.w, 0, bf16);
}

/* out = act(conv_layer(in)) [+ res]; into *into when given, else a new tensor */
static tensor conv(ctx *c, int layer, tensor in, int act, const tensor *res, const tensor *into)
{
    sung_model *m = c->m;
    conv_layer *L = &m->convs[layer];
    int oh, ow;
    conv_out_size(&L->s, in.h, in.w, &oh, &ow);
    tensor out = into ? *into : new_tensor(c, in.n, oh, ow, L->s.B, 1);
    if (c->failed) return out; /* planning goes on: run_forward may allocate */
    assert(out.h == oh && out.w == ow && out.c == L->s.B && in.c == L->s.A);
    run_forward(c, L, &L->s, out, in, 0, L->b_param >= 0 ? m->packed + L->bias_off : NULL,
                act, res, 0);
    if (c->train && m->precision == SUNG_BF16) {
        size_t need = conv_bf16_bwd_tmp_size(&L->s, in.n, in.h, in.w);
        if (need > c->bwd16) c->bwd16 = need;
    }
    node nd = {N_CONV, layer, act, in, out, {0}, 0};
    if (res) nd.res = *res;
    record(c, nd);
    return out;
}

/* Inference only: skip += relu(conv_layer(in)), the U-Net's skip sum in place. */
static void conv_add_into(ctx *c, int layer, tensor in, tensor skip)
{
    assert(!c->train);
    if (c->failed) return;
    sung_model *m = c->m;
    conv_layer *L = &m->convs[layer];
    run_forward(c, L, &L->s, skip, in, 0, L->b_param >= 0 ? m->packed + L->bias_off : NULL,
                ACT_RELU, NULL, 1);
}

static tensor add(ctx *c, tensor a, tensor b)
{
    tensor out = new_tensor(c, a.n, a.h, a.w, a.c, 1);
    if (idle(c)) return out;
    add_forward(out, a, b);
    record(c, (node){N_ADD, -1, 0, a, out, b, 0});
    return out;
}

static void copy(ctx *c, tensor into, tensor in)
{
    if (idle(c)) return;
    copy_forward(into, in);
    if (in.g) record(c, (node){N_COPY, -1, 0, in, into, {0}, 0});
}

static tensor shuffle(ctx *c, tensor in)
{
    tensor out = new_tensor(c, in.n, 2 * in.h, 2 * in.w, in.c / 4, 1);
    if (idle(c)) return out;
    shuffle_forward(out, in);
    record(c, (node){N_SHUFFLE, -1, 0, in, out, {0}, 0});
    return out;
}

static void edge(ctx *c, tensor into, tensor in)
{
    if (idle(c)) return;
    edge_forward(into, in);
    if (in.g) record(c, (node){N_EDGE, -1, 0, in, into, {0}, 0});
}

static double l1(ctx *c, tensor a, tensor b, double w)
{
    if (idle(c)) return 0;
    double v = l1_forward(a, b);
    if (w != 0) record(c, (node){N_L1, -1, 0, a, {0}, b, w});
    return v;
}

/* ResBlock: x + c2(relu(c1(x))). At inference x is dead afterwards (it is always a
 * block-internal tensor), so the sum overwrites it and the temporary is freed: the
 * kernel reads the residual of a pixel before writing that pixel. */
static tensor resblock(ctx *c, const m_resblock *r, tensor x)
{
    if (c->train) {
        tensor t = conv(c, r->c1, x, ACT_RELU, NULL, NULL);
        return conv(c, r->c2, t, ACT_NONE, &x, NULL);
    }
    arena_pos mark = arena_mark(&c->m->act);
    tensor t = conv(c, r->c1, x, ACT_RELU, NULL, NULL);
    conv(c, r->c2, t, ACT_NONE, &x, &x);
    arena_release(&c->m->act, mark);
    return x;
}

static tensor res3(ctx *c, const m_resblock *r, tensor x)
{
    for (int i = 0; i < 3; i++) x = resblock(c, &r[i], x);
    return x;
}

static tensor eblock(ctx *c, const m_eblock *e, tensor x, const tensor *into)
{
    return res3(c, e->res, conv(c, e->conv, x, ACT_RELU, NULL, into));
}

static tensor dblock(ctx *c, const m_dblock *d, tensor x)
{
    return conv(c, d->up, res3(c, d->res, x), ACT_RELU, NULL, NULL);
}

/* Feature U-Net returns u1; the image U-Net writes tanh(oconv(ores(u1)))/2 + 0.5.
 * into (inference, feature U-Net): where u1 goes. */
static tensor unet(ctx *c, const m_unet *u, tensor x, const tensor *into)
{
    if (c->train) {
        assert(!into);
        tensor e1 = eblock(c, &u->e1, x, NULL);
        tensor e2 = eblock(c, &u->e2, e1, NULL);
        tensor e3 = eblock(c, &u->e3, e2, NULL);
        tensor u2 = add(c, dblock(c, &u->d2, e3), e2);
        tensor u1 = add(c, dblock(c, &u->d1, u2), e1);
        if (!u->image) return u1;
        return conv(c, u->oconv, res3(c, u->ores, u1), ACT_TANH_HALF, NULL, NULL);
    }
    /* Inference: each level's tensors are freed when it is done, the skip sums are
     * taken in place (u2 = relu(up(·)) + e2 written over e2, u1 over e1) and the
     * ResBlocks work in place, so the peak is two full-resolution feature maps. */
    arena *a = &c->m->act;
    tensor out = {0};
    if (u->image) out = new_tensor(c, x.n, x.h, x.w, 3, 0);
    tensor e1 = eblock(c, &u->e1, x, into);
    arena_pos level2 = arena_mark(a);
    tensor e2 = eblock(c, &u->e2, e1, NULL);
    arena_pos level3 = arena_mark(a);
    conv_add_into(c, u->d2.up, res3(c, u->d2.res, eblock(c, &u->e3, e2, NULL)), e2);
    arena_release(a, level3);
    conv_add_into(c, u->d1.up, res3(c, u->d1.res, e2), e1);
    arena_release(a, level2);
    if (!u->image) return e1;
    conv(c, u->oconv, res3(c, u->ores, e1), ACT_TANH_HALF, NULL, &out);
    return out;
}

/* The dense part of an RDB: h_{j+1} = concat(h_j, relu(dense.j(h_j))), grown in the 7c
 * buffer h whose first c channels hold its input. */
static void rdb_dense(ctx *c, const m_rdb *r, tensor h)
{
    int ch = h.c / 7;
    for (int j = 0; j < 6; j++) {
        tensor grow = t_slice(h, (1 + j) * ch, ch);
        conv(c, r->dense[j], t_slice(h, 0, (1 + j) * ch), ACT_RELU, NULL, &grow);
    }
}

/* RDB: x + fuse(h_6) */
static tensor rdb(ctx *c, const m_rdb *r, tensor x, const tensor *into)
{
    int ch = x.c;
    tensor h = new_tensor(c, x.n, x.h, x.w, 7 * ch, 1);
    copy(c, t_slice(h, 0, ch), x);
    rdb_dense(c, r, h);
    return conv(c, r->fuse, h, ACT_NONE, &x, into);
}

/* Path (SPEC §2) for training: head, U-Net, RDBs, fuse, up + pixel shuffle, tail →
 * *into (3 ch). Every intermediate is kept for the backward pass. */
static void path_train(ctx *c, const m_path *p, tensor x, int act, tensor into)
{
    tensor f0 = conv(c, p->head, x, ACT_NONE, NULL, NULL);
    tensor h = unet(c, &p->unet, f0, NULL);
    int ch = f0.c;
    if (p->n_rdb > 1) {
        tensor cat = new_tensor(c, h.n, h.h, h.w, p->n_rdb * ch, 1);
        tensor r = h;
        for (int k = 0; k < p->n_rdb; k++) {
            tensor slot = t_slice(cat, k * ch, ch);
            r = rdb(c, &p->rdbs[k], r, &slot);
        }
        h = conv(c, p->fuse1, cat, ACT_NONE, NULL, NULL);
    } else {
        h = rdb(c, &p->rdbs[0], h, NULL);
    }
    h = conv(c, p->fuse3, h, ACT_NONE, &f0, NULL);
    h = shuffle(c, conv(c, p->up, h, ACT_NONE, NULL, NULL));
    conv(c, p->tail, h, act, NULL, &into);
}

/* The same path for inference, in about ten feature maps at the path's resolution (the
 * training path holds some thirty): one 7c buffer holds each RDB's growing
 * concatenation, the U-Net writes its output into its first c channels and each RDB's
 * output is copied back there for the next; fuse1 is summed RDB by RDB (its 1×1
 * weights split by input block), so the 3c concatenation never exists; fuse3 adds into
 * f0 in place; the up conv writes through the pixel shuffle. */
static void path_infer(ctx *c, const m_path *p, tensor x, int act, tensor into)
{
    sung_model *m = c->m;
    tensor f0 = conv(c, p->head, x, ACT_NONE, NULL, NULL);
    int n = f0.n, h = f0.h, w = f0.w, ch = f0.c;
    arena_pos mark = arena_mark(&m->act);
    tensor hb = new_tensor(c, n, h, w, 7 * ch, 0), x0 = t_slice(hb, 0, ch);
    unet(c, &p->unet, f0, &x0);
    tensor y = new_tensor(c, n, h, w, ch, 0);
    tensor acc = p->n_rdb > 1 ? new_tensor(c, n, h, w, ch, 0) : y;
    for (int k = 0; k < p->n_rdb; k++) {
        if (k) copy(c, x0, y);
        rdb_dense(c, &p->rdbs[k], hb);
        conv(c, p->rdbs[k].fuse, hb, ACT_NONE, &x0, &y);
        if (p->n_rdb > 1 && !c->failed) {
            const conv_layer *F = &m->convs[p->fuse1];
            conv_shape part = F->s;
            part.A = ch;
            assert(part.k == 1 && F->s.A == p->n_rdb * ch);
            const float *bias = k == 0 && F->b_param >= 0 ? m->packed + F->bias_off : NULL;
            run_forward(c, F, &part, acc, y, k * ch, bias, ACT_NONE, NULL, k > 0);
        }
    }
    conv(c, p->fuse3, acc, ACT_NONE, &f0, &f0);
    arena_release(&m->act, mark);
    tensor sh = new_tensor(c, n, 2 * h, 2 * w, ch, 0);
    if (!c->failed) {
        const conv_layer *U = &m->convs[p->up];
        double t0 = m->prof_on ? wall() : 0;
        if (m->precision == SUNG_BF16) {
            arena_pos mk = arena_mark(&m->act);
            tensor pairs = new_tensor(c, n, h, w, bf16_pairs(ch), 0);
            if (c->failed) return;
            if (!idle(c)) {
                bf16_convert(pairs, f0);
                conv_shuffle_forward_bf16(&U->s, sh, pairs, m->packed16 + U->shuf16_off, ACT_NONE,
                                          m->zeros);
            }
            arena_release(&m->act, mk);
        } else if (!idle(c)) {
            conv_shuffle_forward(&U->s, sh, f0, m->packed + U->shuf_off, ACT_NONE, m->zeros);
        }
        prof_add(m, t0, &U->s, PROF_SHUFFLE, (double)n * h * w, 0, m->precision == SUNG_BF16);
    }
    conv(c, p->tail, sh, act, NULL, &into);
}

static void path(ctx *c, const m_path *p, tensor x, int act, tensor into)
{
    if (c->train)
        path_train(c, p, x, act, into);
    else
        path_infer(c, p, x, act, into);
}

typedef struct {
    tensor S, F, G; /* G.d NULL for siun */
} step_out;

static float *dense_copy(tensor t)
{
    float *d = malloc((size_t)t.n * t.h * t.w * t.c * sizeof *d);
    if (d) copy_forward((tensor){d, NULL, t.n, t.h, t.w, t.c, t.c}, t);
    return d;
}

static void trace_step(sung_model *m, int i, const step_out *o)
{
    model_trace *t = m->trace;
    if (!t) return;
    free(t->S[i]), free(t->F[i]), free(t->G[i]);
    t->S[i] = dense_copy(o->S);
    t->F[i] = dense_copy(o->F);
    t->G[i] = o->G.d ? dense_copy(o->G) : NULL;
    t->h[i] = o->S.h, t->w[i] = o->S.w, t->n = o->S.n;
}

void model_trace_free(model_trace *t)
{
    for (int i = 0; i <= SUNG_MAX_ITERS; i++) {
        free(t->S[i]), free(t->F[i]), free(t->G[i]);
        t->S[i] = t->F[i] = t->G[i] = NULL;
    }
}

/* One scale step (SPEC §4): Bn = B_{i+1}, Sn = S_{i+1} (h×w), Bi (2h×2w); constants. */
static step_out scale_step(ctx *c, tensor Bn, tensor Sn, tensor Bi)
{
    sung_model *m = c->m;
    int n = Bn.n, h = Bn.h, w = Bn.w, siun = m->variant == SUNG_SIUN;
    step_out o = {0};
    tensor din = new_tensor(c, n, h, w, 6, 0);
    tensor rin = new_tensor(c, n, 2 * h, 2 * w, siun ? 6 : 9, 1);
    if (c->failed) return o;
    copy(c, t_slice(din, 0, 3), Bn);
    copy(c, t_slice(din, 3, 3), Sn);
    copy(c, t_slice(rin, 0, 3), Bi);
    o.F = t_slice(rin, 3, 3);
    arena_pos before = arena_mark(&m->act);
    path(c, &m->deblur, din, ACT_TANH_HALF, o.F);
    if (!c->train) arena_release(&m->act, before); /* F is in rin, allocated earlier */
    if (!siun) {
        tensor ein = din;
        if (m->variant == SUNG_SUNG) {
            ein = new_tensor(c, n, h, w, 6, 0);
            edge(c, t_slice(ein, 0, 3), Bn);
            edge(c, t_slice(ein, 3, 3), Sn);
        }
        o.G = t_slice(rin, 6, 3);
        path(c, &m->edge, ein, ACT_NONE, o.G);
        if (!c->train) arena_release(&m->act, before);
    }
    o.S = unet(c, &m->restore, rin, NULL);
    return o;
}

static void grad_add(tensor dst, tensor src)
{
    tensor d = dst, s = src;
    d.d = dst.g, d.g = NULL;
    s.d = src.g, s.g = NULL;
    add_forward(d, d, s);
}

/* Replays the tape in reverse; -1 when out of memory (a bf16 temporary) */
static int backward(sung_model *m)
{
    for (int i = m->ntape - 1; i >= 0; i--) {
        node *nd = &m->tape[i];
        switch (nd->kind) {
        case N_CONV: {
            conv_layer *L = &m->convs[nd->layer];
            act_backward(nd->out, nd->act);
            if (nd->res.g) grad_add(nd->res, nd->out);
            double t0 = m->prof_on ? wall() : 0;
            const tensor *din = nd->in.g ? &nd->in : NULL;
            float *dbias = L->b_param >= 0 ? m->g + m->params[L->b_param].off : NULL;
            int bf16 = m->precision == SUNG_BF16;
            if (din && L->wino_bwd && !bf16) { /* the data gradient by Winograd, the rest below */
                conv_backward_data_wino(&L->s, L->wino_bwd, din, nd->out, m->packed + L->wino_bwd_off, m->zeros,
                                        m->scratch);
                din = NULL;
            }
            if (bf16) { /* converted copies in a temporary, planned (ctx.bwd16) */
                arena_pos mk = arena_mark(&m->act);
                float *tmp = arena_alloc(&m->act, conv_bf16_bwd_tmp_size(&L->s, nd->in.n, nd->in.h, nd->in.w) *
                                                      sizeof(float));
                if (!tmp) return -1;
                conv_backward_bf16(&L->s, din, m->gpacked + L->g_off, dbias, nd->out, nd->in,
                                   m->packed16_bwd + L->bwd16_off, m->zeros, m->scratch, tmp);
                arena_release(&m->act, mk);
            } else {
                conv_backward(&L->s, din, m->gpacked + L->g_off, dbias, nd->out, nd->in,
                              m->packed + L->bwd_off, m->zeros, m->scratch);
            }
            prof_add(m, t0, &L->s, PROF_BWD, (double)nd->in.n * nd->in.h * nd->in.w, nd->in.g != NULL, bf16);
            break;
        }
        case N_ADD:
            if (nd->in.g) grad_add(nd->in, nd->out);
            if (nd->res.g) grad_add(nd->res, nd->out);
            break;
        case N_COPY:
            grad_add(nd->in, nd->out);
            break;
        case N_SHUFFLE:
            shuffle_backward(nd->in.g, nd->in, nd->out);
            break;
        case N_EDGE:
            edge_backward(nd->in, nd->in, nd->out);
            break;
        case N_L1:
            l1_backward(nd->in, nd->res, nd->w);
            break;
        }
    }
    return 0;
}

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

/* The weight layouts an inference in m's precision touches (repack): the raw weights,
 * the biases, and per layer its direct, Winograd or shuffle pack (fp32) or its bf16 one. */
static size_t infer_packed_bytes(const sung_model *m)
{
    size_t f = m->nfloats;
    for (int i = 0; i < m->nconvs; i++) {
        const conv_layer *c = &m->convs[i];
        f += conv_round(c->s.B);
        if (m->precision == SUNG_BF16)
            f += (c->wino16 ? conv_wino_bf16_pack_size(&c->s)
                  : c->wino ? conv_wino_pack_size(&c->s, c->wino) : conv_bf16_pack_size(&c->s)) +
                 (c->shuffled ? conv_bf16_shuffle_pack_size(&c->s) : 0);
        else
            f += (c->wino ? conv_wino_pack_size(&c->s, c->wino) : conv_fwd_pack_size(&c->s)) +
                 (c->shuffled ? conv_shuffle_pack_size(&c->s) : 0);
    }
    return f * sizeof(float);
}

size_t sung_deblur_memory(sung_model *m, int w, int h, int iters)
{
    if (iters < 1 || iters > SUNG_MAX_ITERS || w < 1 || h < 1 || w > SUNG_MAX_SIDE || h > SUNG_MAX_SIDE) return 0;
    int mult = 1 << (iters + 2);
    int H = (h + mult - 1) / mult * mult, W = (w + mult - 1) / mult * mult;
    /* the largest scale's pass, counted as sung_deblur plans it */
    tensor pyr[SUNG_MAX_ITERS + 1];
    for (int i = 0; i <= iters; i++) pyr[i] = (tensor){NULL, NULL, 1, H >> i, W >> i, 3, 3};
    ctx c = {m, 0, 0, 0};
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
    if (repack(m, m->precision == SUNG_BF16 ? PACKED_BF16 : PACKED_FWD)) {
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
    ctx c = {m, 0, 0, 0};
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

size_t sung_train_memory(sung_model *m, int n, int h, int w, const sung_train_opts *o)
{
    sung_error err;
    if (train_check(m, n, h, w, o, &err) != SUNG_OK) return 0;
    int iters = o->iters;
    /* the largest scale's pass, counted, not run (as sung_train_accumulate plans it) */
    tensor B[SUNG_MAX_ITERS + 1];
    for (int i = 0; i <= iters; i++) B[i] = (tensor){NULL, NULL, n, h >> i, w >> i, 3, 3};
    ctx c = {m, 1, 0, 0};
    arena_plan_begin(&m->act);
    scale_step(&c, B[1], B[1], B[0]);
    new_tensor(&c, n, h, w, 3, 0);
    new_tensor(&c, n, h, w, 3, 1);
    if (c.bwd16) arena_alloc(&m->act, c.bwd16 * sizeof(float)); /* bf16: the backward's conversions */
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
    if (repack(m, m->precision == SUNG_BF16 ? PACKED_BF16_TRAIN : PACKED_FWD | PACKED_BWD)) {
        model_set_error(err, "out of memory packing the weights");
        return SUNG_ERR_NOMEM;
    }
    memset(m->gpacked, 0, m->ngpacked * sizeof *m->gpacked); /* unpacked (added) into m->g below */
    sung_losses L;
    memset(&L, 0, sizeof L);
    arena_reset(&m->keep);
    /* the inputs, as tensors (they are already NHWC with 3 channels) */
    tensor Bt = {(float *)blur, NULL, n, h, w, 3, 3}, Gt = {(float *)sharp, NULL, n, h, w, 3, 3};
    tensor B[SUNG_MAX_ITERS + 1], GT[SUNG_MAX_ITERS + 1], S;
    if (build_pyramid(m, Bt, iters, B) || build_pyramid(m, Gt, iters, GT)) goto nomem;
    S = B[iters];
    ctx c = {m, 1, 0, 0};
    /* plan the largest (last) scale with its loss tensors (as in the loop below) and,
     * in bf16, the largest temporary of the backward pass */
    arena_plan_begin(&m->act);
    scale_step(&c, B[1], B[1], B[0]);
    new_tensor(&c, n, h, w, 3, 0);
    new_tensor(&c, n, h, w, 3, 1);
    if (c.bwd16) arena_alloc(&m->act, c.bwd16 * sizeof(float));
    if (arena_plan_end(&m->act)) goto nomem;
    for (int i = iters - 1; i >= 0; i--) {
        arena_reset(&m->act);
        m->ntape = 0;
        step_out so = scale_step(&c, B[i + 1], S, B[i]);
        tensor mgt = new_tensor(&c, n, GT[i].h, GT[i].w, 3, 0);
        if (c.failed) goto nomem;
        trace_step(m, i, &so);
        edge_forward(mgt, GT[i]);
        L.pixel[i] = l1(&c, so.S, GT[i], scale);
        if (o->w_edge_aux != 0 || m->variant == SUNG_SUNG) {
            tensor ms = new_tensor(&c, n, GT[i].h, GT[i].w, 3, 1);
            edge(&c, ms, so.S);
            L.edge_aux[i] = l1(&c, ms, mgt, scale * o->w_edge_aux);
        }
        if (so.G.d) L.edge_sup[i] = l1(&c, so.G, mgt, scale * o->w_edge_sup);
        if (c.failed) goto nomem;
        L.total += L.pixel[i] + o->w_edge_aux * L.edge_aux[i] + o->w_edge_sup * L.edge_sup[i];
        if (backward(m)) goto nomem;
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
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < m->nconvs; i++) {
        conv_layer *cl = &m->convs[i];
        conv_unpack_grad(&cl->s, m->gpacked + cl->g_off, m->g + m->params[cl->w_param].off);
    }
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
    m->step++;
    adam_update(m->p, m->g, m->adam_m, m->adam_v, m->nfloats, lr, 0.9, 0.999, 1e-8, m->step);
    m->packed_fresh = 0;
}

/* ---- cost ------------------------------------------------------------------------------------ */

/* FLOPs (2 per multiply-add) of conv layer L whose input has `pix` pixels per image. */
static double conv_flops(const sung_model *m, int layer, double pix) { return shape_flops(&m->convs[layer].s, pix); }

static double res3_flops(const sung_model *m, const m_resblock *r, double pix)
{
    double f = 0;
    for (int i = 0; i < 3; i++) f += conv_flops(m, r[i].c1, pix) + conv_flops(m, r[i].c2, pix);
    return f;
}

static double unet_flops(const sung_model *m, const m_unet *u, double pix)
{
    double f = conv_flops(m, u->e1.conv, pix) + res3_flops(m, u->e1.res, pix);
    f += conv_flops(m, u->e2.conv, pix) + res3_flops(m, u->e2.res, pix / 4);
    f += conv_flops(m, u->e3.conv, pix / 4) + res3_flops(m, u->e3.res, pix / 16);
    f += res3_flops(m, u->d2.res, pix / 16) + conv_flops(m, u->d2.up, pix / 16);
    f += res3_flops(m, u->d1.res, pix / 4) + conv_flops(m, u->d1.up, pix / 4);
    if (u->image) f += res3_flops(m, u->ores, pix) + conv_flops(m, u->oconv, pix);
    return f;
}

static double path_flops(const sung_model *m, const m_path *p, double pix)
{
    double f = conv_flops(m, p->head, pix) + unet_flops(m, &p->unet, pix);
    for (int k = 0; k < p->n_rdb; k++) {
        for (int j = 0; j < 6; j++) f += conv_flops(m, p->rdbs[k].dense[j], pix);
        f += conv_flops(m, p->rdbs[k].fuse, pix);
    }
    if (p->n_rdb > 1) f += conv_flops(m, p->fuse1, pix);
    f += conv_flops(m, p->fuse3, pix) + conv_flops(m, p->up, pix) + conv_flops(m, p->tail, 4 * pix);
    return f;
}

double sung_model_flops(const sung_model *m, int iters, int h, int w)
{
    int mult = 1 << (iters + 2);
    double H = (h + mult - 1) / mult * mult, W = (w + mult - 1) / mult * mult, f = 0;
    for (int i = iters - 1; i >= 0; i--) {
        double out = H * W / ((double)(1 << i) * (1 << i)); /* S_i's pixels; paths run at 1/4 */
        f += path_flops(m, &m->deblur, out / 4) + unet_flops(m, &m->restore, out);
        if (m->variant != SUNG_SIUN) f += path_flops(m, &m->edge, out / 4);
    }
    return f;
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

float *sung_model_grads(sung_model *m, size_t *n)
{
    *n = m->nfloats;
    return m->g;
}
