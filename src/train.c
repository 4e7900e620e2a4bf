/* The trainer around the model's gradients (SPEC §6), in llm.c's shape: a step is
 * zero_grads → backward over micro-batches (sum-based losses, one global normaliser) →
 * a reduction hook over the one contiguous gradient buffer → one Adam update. A run
 * (sung_run) says which pair, crop, flips and synthetic blur every sample of every global
 * batch gets, from per-purpose random streams indexed by the sample's place in its epoch,
 * so a batch is the same whether one process or many take it, in any micro-batches; and
 * its state file holds all a bit-exact resume needs. The graph and its tape stay in
 * src/graph.c, the scale loop in src/scales.c; nothing here touches a tensor. */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "sung.h"

/* ---- steps ------------------------------------------------------------------------------ */

sung_status sung_train_backward(sung_model *m, const float *blur, const float *sharp, int n, int h, int w,
                                const sung_train_opts *o, double norm, sung_losses *sums, sung_error *err)
{
    if (!(norm >= n) || !isfinite(norm)) {
        model_set_error(err, "the loss normaliser must be at least the %d images of the call, got %g", n, norm);
        return SUNG_ERR_ARG;
    }
    /* sung_train_accumulate adds scale × the gradient of the mean over its n images;
     * the mean × n is the sum */
    sung_losses L;
    sung_status st = sung_train_accumulate(m, blur, sharp, n, h, w, o, (double)n / norm, sums ? &L : NULL, err);
    if (st == SUNG_OK && sums) {
        double *d = (double *)&L;
        for (int i = 0; i < SUNG_LOSS_DOUBLES; i++) d[i] *= n;
        *sums = L;
    }
    return st;
}

sung_status sung_train_step(sung_model *m, const float *blur, const float *sharp, int n, int batch, int micro,
                            int h, int w, const sung_train_opts *o, double lr, sung_reduce_fn reduce, void *ctx,
                            sung_losses *mean, sung_error *err)
{
    if (n < 0 || batch < 1 || n > batch || micro < 1 || !(lr > 0) || !isfinite(lr)) {
        model_set_error(err, "a training step needs 0 <= n <= batch, batch >= 1, micro >= 1 and lr > 0 "
                             "(got n %d, batch %d, micro %d, lr %g)", n, batch, micro, lr);
        return SUNG_ERR_ARG;
    }
    sung_losses S;
    memset(&S, 0, sizeof S);
    sung_train_zero_grads(m);
    /* the shard in near-equal micro-batches */
    int parts = (n + micro - 1) / micro;
    size_t img = (size_t)h * w * 3;
    for (int k = 0, at = 0; k < parts; k++) {
        int cnt = n / parts + (k < n % parts);
        sung_losses Sk;
        sung_status st = sung_train_backward(m, blur + at * img, sharp + at * img, cnt, h, w, o, batch, &Sk, err);
        if (st != SUNG_OK) return st;
        double *d = (double *)&S, *dk = (double *)&Sk;
        for (int i = 0; i < SUNG_LOSS_DOUBLES; i++) d[i] += dk[i];
        at += cnt;
    }
    if (reduce) {
        size_t ng;
        float *g = sung_model_grads(m, &ng);
        if (reduce(ctx, g, ng, (double *)&S, SUNG_LOSS_DOUBLES, err)) return SUNG_ERR_IO;
    }
    sung_train_apply(m, lr);
    if (mean) {
        double *d = (double *)&S;
        for (int i = 0; i < SUNG_LOSS_DOUBLES; i++) d[i] /= batch;
        *mean = S;
    }
    return SUNG_OK;
}

int sung_train_micro(sung_model *m, int batch, int h, int w, const sung_train_opts *o, size_t budget,
                     size_t *work)
{
    double model = 8.0 * sizeof(float) * sung_model_param_count(m);
    int micro = 1;
    size_t best = sung_train_memory(m, 1, h, w, o);
    for (int k = 2; k <= batch; k++) {
        size_t mb = sung_train_memory(m, k, h, w, o);
        if (model + (double)mb > (double)budget) break;
        micro = k, best = mb;
    }
    if (work) *work = best;
    return micro;
}

/* ---- runs --------------------------------------------------------------------------------- */

sung_run_opts sung_run_defaults(const sung_model *m)
{
    sung_train_opts t = sung_train_defaults(m);
    return (sung_run_opts){.patch = 256, .batch = 16, .iters = 3, .epochs = 500, .augment = 1, .lr_every = 100,
                           .warmup = 0, .steps = -1, .lr = 1e-4, .w_aux = t.w_edge_aux, .w_sup = t.w_edge_sup,
                           .seed = 0};
}

static sung_status check_opts(const sung_run_opts *o, int npairs, const sung_model *m, sung_error *err)
{
    int mult = o->iters >= 1 && o->iters <= SUNG_MAX_ITERS ? 1 << (o->iters + 2) : 0;
    const char *bad = NULL;
    char why[200];
    if (!mult)
        snprintf(why, sizeof why, "iterations must be 1..%d, not %d", SUNG_MAX_ITERS, o->iters), bad = why;
    else if (o->patch < mult || o->patch % mult || o->patch > 8192)
        snprintf(why, sizeof why, "the patch must be a multiple of %d (2^(iters+2)) up to 8192, not %d", mult,
                 o->patch), bad = why;
    else if (o->batch < 1 || o->batch > 4096)
        snprintf(why, sizeof why, "the batch must be 1..4096, not %d", o->batch), bad = why;
    else if (o->epochs < 1)
        bad = "epochs must be at least 1";
    else if (!(o->lr > 0) || !isfinite(o->lr))
        bad = "the learning rate must be a positive number";
    else if (!(o->w_aux >= 0) || !(o->w_sup >= 0) || !isfinite(o->w_aux) || !isfinite(o->w_sup))
        bad = "the edge loss weights must not be negative";
    else if (m && sung_model_variant(m) == SUNG_SIUN && o->w_sup != 0)
        bad = "siun has no edge path: the edge-supervision weight must be 0";
    else if (o->lr_every < 0 || o->warmup < 0)
        bad = "the learning-rate halving period and the warm-up must not be negative";
    else if (o->steps == 0 || o->steps < -1)
        bad = "the step limit must be at least 1 (or -1: none)";
    else if (npairs < 1)
        bad = "a run needs at least one training pair";
    if (!bad) return SUNG_OK;
    model_set_error(err, "%s", bad);
    return SUNG_ERR_ARG;
}

sung_status sung_run_init(sung_run *r, const sung_run_opts *o, int npairs, const sung_model *m, sung_error *err)
{
    memset(r, 0, sizeof *r);
    sung_status st = check_opts(o, npairs, m, err);
    if (st) return st;
    r->o = *o;
    r->npairs = npairs;
    r->best_psnr = -INFINITY;
    if (!(r->order = malloc((size_t)npairs * sizeof *r->order))) {
        model_set_error(err, "out of memory for the order of %d pairs", npairs);
        return SUNG_ERR_NOMEM;
    }
    sung_epoch_order(o->seed, 0, r->order, npairs);
    return SUNG_OK;
}

void sung_run_free(sung_run *r)
{
    if (!r) return;
    free(r->order);
    r->order = NULL;
}

long sung_run_total(const sung_run *r)
{
    long per_epoch = (r->npairs + r->o.batch - 1) / r->o.batch, total = (long)r->o.epochs * per_epoch;
    return r->o.steps > 0 && r->o.steps < total ? r->o.steps : total;
}

sung_batch sung_run_next(const sung_run *r, const sung_batch *after)
{
    int e = after ? after->epoch : r->epoch, p = after ? after->pos + after->n : r->pos;
    if (p >= r->npairs) e++, p = 0;
    int n = r->npairs - p < r->o.batch ? r->npairs - p : r->o.batch;
    return (sung_batch){e, p, n};
}

double sung_run_lr(const sung_run *r, const sung_batch *b)
{
    const sung_run_opts *o = &r->o;
    double warm = o->warmup > 0 && r->step < o->warmup ? (double)(r->step + 1) / o->warmup : 1.0;
    return warm * o->lr * pow(0.5, o->lr_every > 0 ? b->epoch / o->lr_every : 0);
}

void sung_shard(int n, int rank, int nranks, int *first, int *count)
{
    int q = n / nranks, rem = n % nranks;
    *count = q + (rank < rem);
    *first = rank * q + (rank < rem ? rank : rem);
}

uint64_t sung_stream_seed(uint64_t seed, sung_stream s, uint64_t i)
{
    if (s == SUNG_STREAM_SYNTH) return seed ^ i * 0xD1B54A32D192ED03ull;
    return rng_mix64(rng_mix64(seed ^ (uint64_t)s * RNG_GOLDEN) + i * 0xD1B54A32D192ED03ull);
}

void sung_epoch_order(uint64_t seed, int e, int *order, int n)
{
    uint64_t s = sung_stream_seed(seed, SUNG_STREAM_ORDER, (uint64_t)e);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = rng_below(&s, i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

sung_status sung_run_samples(const sung_run *r, const sung_batch *b, int first, int count, sung_sample *out,
                             sung_error *err)
{
    if (first < 0 || count < 0 || first + count > b->n || b->pos < 0 || b->pos + b->n > r->npairs || b->epoch < 0) {
        model_set_error(err, "samples %d..%d of a batch of %d at %d of %d pairs", first, first + count - 1, b->n,
                        b->pos, r->npairs);
        return SUNG_ERR_ARG;
    }
    const int *order = r->order;
    int *fresh = NULL;
    if (b->epoch != r->epoch) {
        if (!(fresh = malloc((size_t)r->npairs * sizeof *fresh))) {
            model_set_error(err, "out of memory for the order of %d pairs", r->npairs);
            return SUNG_ERR_NOMEM;
        }
        sung_epoch_order(r->o.seed, b->epoch, fresh, r->npairs);
        order = fresh;
    }
    for (int k = 0; k < count; k++) {
        int at = b->pos + first + k;
        uint64_t g = (uint64_t)b->epoch * (uint64_t)r->npairs + (uint64_t)at;
        uint64_t f = sung_stream_seed(r->o.seed, SUNG_STREAM_FLIP, g);
        uint64_t bits = rng_next(&f);
        out[k] = (sung_sample){.pair = order[at],
                               .crop_seed = sung_stream_seed(r->o.seed, SUNG_STREAM_CROP, g),
                               .synth_seed = sung_stream_seed(r->o.seed, SUNG_STREAM_SYNTH, g),
                               .flip_x = r->o.augment && (bits & 1),
                               .flip_y = r->o.augment && (bits >> 1 & 1)};
    }
    free(fresh);
    return SUNG_OK;
}

void sung_run_advance(sung_run *r, const sung_batch *b)
{
    assert(b->epoch == r->epoch ? b->pos == r->pos : b->epoch == r->epoch + 1 && b->pos == 0);
    if (b->epoch != r->epoch) {
        r->epoch = b->epoch;
        sung_epoch_order(r->o.seed, r->epoch, r->order, r->npairs);
    }
    r->pos = b->pos + b->n;
    r->step++;
}

void sung_flip(float *im, int P, int fx, int fy)
{
    for (int y = 0; fx && y < P; y++)
        for (int x = 0; x < P / 2; x++)
            for (int c = 0; c < 3; c++) {
                float *a = im + ((size_t)y * P + x) * 3 + c, *b = im + ((size_t)y * P + P - 1 - x) * 3 + c, t = *a;
                *a = *b, *b = t;
            }
    for (int y = 0; fy && y < P / 2; y++)
        for (size_t i = 0; i < (size_t)P * 3; i++) {
            float *a = im + (size_t)y * P * 3 + i, *b = im + (size_t)(P - 1 - y) * P * 3 + i, t = *a;
            *a = *b, *b = t;
        }
}

sung_status sung_crop_pair(const sung_image *b, const sung_image *g, int P, const sung_sample *s, float *db,
                           float *dg, sung_error *err)
{
    if (b->w != g->w || b->h != g->h) {
        model_set_error(err, "a pair of %dx%d and %dx%d images", b->w, b->h, g->w, g->h);
        return SUNG_ERR_ARG;
    }
    if (P < 1 || b->w < P || b->h < P) {
        model_set_error(err, "a %dx%d pair is smaller than the patch size %d", b->w, b->h, P);
        return SUNG_ERR_ARG;
    }
    uint64_t rs = s->crop_seed;
    int x0 = rng_below(&rs, b->w - P + 1), y0 = rng_below(&rs, b->h - P + 1);
    for (int y = 0; y < P; y++) {
        size_t src = ((size_t)(y0 + y) * b->w + x0) * 3, dst = (size_t)y * P * 3;
        memcpy(db + dst, b->data + src, (size_t)P * 3 * sizeof *db);
        memcpy(dg + dst, g->data + src, (size_t)P * 3 * sizeof *dg);
    }
    sung_flip(db, P, s->flip_x, s->flip_y);
    sung_flip(dg, P, s->flip_x, s->flip_y);
    return SUNG_OK;
}

/* ---- the state file ------------------------------------------------------------------------ */

const char *sung_meta_get(const sung_meta *meta, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(meta[i].key, key)) return meta[i].value;
    return NULL;
}

enum { RUN_KEYS = 20 };

sung_status sung_run_save(const sung_model *m, const sung_run *r, const char *path, const sung_meta *extra,
                          int nextra, sung_error *err)
{
    const sung_run_opts *o = &r->o;
    char v[RUN_KEYS][64];
    sung_meta *all = calloc((size_t)RUN_KEYS + 1 + nextra, sizeof *all);
    char *ord = malloc((size_t)r->npairs * 12 + 1);
    if (!all || !ord) {
        free(all), free(ord);
        model_set_error(err, "out of memory saving the run state");
        return SUNG_ERR_NOMEM;
    }
    int n = 0;
#define PUT(key, ...) (snprintf(v[n], sizeof v[n], __VA_ARGS__), all[n] = (sung_meta){key, v[n]}, n++)
    PUT("run.patch", "%d", o->patch);
    PUT("run.batch", "%d", o->batch);
    PUT("run.iters", "%d", o->iters);
    PUT("run.epochs", "%d", o->epochs);
    PUT("run.steps", "%ld", o->steps);
    PUT("run.augment", "%d", o->augment);
    PUT("run.lr_every", "%d", o->lr_every);
    PUT("run.warmup", "%ld", o->warmup);
    PUT("run.lr", "%.17g", o->lr);
    PUT("run.w_aux", "%.17g", o->w_aux);
    PUT("run.w_sup", "%.17g", o->w_sup);
    PUT("run.seed", "%" PRIu64, o->seed);
    PUT("run.streams", "%d", 1); /* data from sung_stream_seed (the first trainer: pos.rng) */
    PUT("pos.step", "%ld", r->step);
    PUT("pos.epoch", "%d", r->epoch);
    PUT("pos.pos", "%d", r->pos);
    PUT("pos.best_psnr", "%.17g", r->best_psnr);
    PUT("pos.elapsed", "%.17g", r->elapsed);
    PUT("pos.npairs", "%d", r->npairs);
#undef PUT
    size_t len = 0;
    ord[0] = 0;
    for (int i = 0; i < r->npairs; i++) len += sprintf(ord + len, "%s%d", i ? "," : "", r->order[i]);
    all[n++] = (sung_meta){"pos.order", ord};
    for (int i = 0; i < nextra; i++) all[n++] = extra[i];
    sung_status st = sung_train_state_save(m, path, all, n, err);
    free(all), free(ord);
    return st;
}

sung_status sung_run_load(sung_model **out, sung_run *r, const char *path, sung_meta **metaout, int *nmetaout,
                          sung_error *err)
{
    sung_meta *meta;
    int n;
    memset(r, 0, sizeof *r);
    *out = NULL;
    sung_status st = sung_train_state_load(out, path, &meta, &n, err);
    if (st) return st;
#define GET(key) sung_meta_get(meta, n, key)
    const char *need[] = {"run.patch", "run.batch", "run.iters", "run.epochs", "run.augment", "run.lr_every",
                          "run.lr", "run.w_aux", "run.w_sup", "run.seed", "pos.step", "pos.epoch", "pos.pos",
                          "pos.best_psnr", "pos.elapsed", "pos.npairs", "pos.order"};
    for (size_t i = 0; i < sizeof need / sizeof *need && !st; i++)
        if (!GET(need[i])) {
            model_set_error(err, "%s has no '%s' (not a sung train state?)", path, need[i]);
            st = SUNG_ERR_FORMAT;
        }
    sung_run_opts o;
    int npairs = 0;
    if (!st) {
        o = (sung_run_opts){.patch = atoi(GET("run.patch")), .batch = atoi(GET("run.batch")),
                            .iters = atoi(GET("run.iters")), .epochs = atoi(GET("run.epochs")),
                            .augment = atoi(GET("run.augment")), .lr_every = atoi(GET("run.lr_every")),
                            .warmup = GET("run.warmup") ? atol(GET("run.warmup")) : 0,
                            .steps = GET("run.steps") ? atol(GET("run.steps")) : -1,
                            .lr = strtod(GET("run.lr"), NULL), .w_aux = strtod(GET("run.w_aux"), NULL),
                            .w_sup = strtod(GET("run.w_sup"), NULL), .seed = strtoull(GET("run.seed"), NULL, 10)};
        npairs = atoi(GET("pos.npairs"));
        if ((st = check_opts(&o, npairs, *out, err))) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err ? err->msg : "");
            model_set_error(err, "%s holds a run that cannot be: %s", path, why);
            st = SUNG_ERR_FORMAT;
        }
    }
    if (!st && (st = sung_run_init(r, &o, npairs, *out, err)) == SUNG_OK) {
        r->step = atol(GET("pos.step")), r->epoch = atoi(GET("pos.epoch")), r->pos = atoi(GET("pos.pos"));
        r->best_psnr = strtod(GET("pos.best_psnr"), NULL), r->elapsed = strtod(GET("pos.elapsed"), NULL);
        if (r->step < 0 || r->epoch < 0 || r->pos < 0 || r->pos > npairs || r->step != sung_train_step_count(*out)) {
            model_set_error(err, "%s: inconsistent position (step %ld, Adam step %ld, epoch %d, pair %d of %d)", path,
                            r->step, sung_train_step_count(*out), r->epoch, r->pos, npairs);
            st = SUNG_ERR_FORMAT;
        }
        /* the current epoch's order as it was drawn (by these streams, or by the first
         * trainer's sequential generator): a permutation of 0..npairs−1 */
        const char *s = GET("pos.order");
        char *seen = calloc((size_t)npairs, 1);
        if (!st && !seen) model_set_error(err, "out of memory"), st = SUNG_ERR_NOMEM;
        for (int i = 0; i < npairs && !st; i++) {
            char *end;
            long v = strtol(s, &end, 10);
            if (end == s || v < 0 || v >= npairs || seen[v] || (*end != ',' && i + 1 < npairs)) {
                model_set_error(err, "%s: corrupt order of the epoch (pos.order)", path);
                st = SUNG_ERR_FORMAT;
                break;
            }
            seen[v] = 1;
            r->order[i] = (int)v;
            s = *end == ',' ? end + 1 : end;
        }
        free(seen);
    }
#undef GET
    if (st) {
        sung_meta_free(meta, n);
        sung_run_free(r);
        sung_model_free(*out);
        *out = NULL;
        return st;
    }
    if (metaout) *metaout = meta, *nmetaout = n;
    else sung_meta_free(meta, n);
    return SUNG_OK;
}

/* ---- validation and agreement ------------------------------------------------------------------ */

static sung_status validate_images(sung_model *m, const char *const *blur, const char *const *sharp, int n,
                                   int iters, double *each, sung_error *err)
{
    for (int i = 0; i < n; i++) {
        sung_image b = {0}, g = {0}, out = {0};
        sung_status st = sung_image_load(&b, blur[i], err);
        if (!st) st = sung_image_load(&g, sharp[i], err);
        if (!st) st = sung_deblur(m, &b, iters, &out, err);
        if (!st && (st = sung_image_psnr(&out, &g, &each[i], err)) == SUNG_ERR_ARG) {
            model_set_error(err, "%s and %s differ in size", blur[i], sharp[i]);
            st = SUNG_ERR_FORMAT;
        }
        sung_image_free(&b), sung_image_free(&g), sung_image_free(&out);
        if (st) return st;
    }
    return SUNG_OK;
}

sung_status sung_validate_each(sung_model *m, const char *const *blur, const char *const *sharp, int n, int iters,
                               double *psnr, sung_error *err)
{
    if (n < 1) {
        model_set_error(err, "validation needs at least one pair");
        return SUNG_ERR_ARG;
    }
    /* in fp32 whatever the training precision: the model as it is used by default, and
     * PSNRs comparable between fp32 and bf16 runs */
    sung_precision train = sung_model_precision(m);
    sung_status st = sung_model_set_precision(m, SUNG_FP32, err);
    if (!st) st = validate_images(m, blur, sharp, n, iters, psnr, err);
    sung_error e2;
    if (train != SUNG_FP32 && sung_model_set_precision(m, train, &e2) && !st) {
        *err = e2;
        st = SUNG_ERR_ARG;
    }
    return st;
}

sung_status sung_validate(sung_model *m, const char *const *blur, const char *const *sharp, int n, int iters,
                          double *psnr, sung_error *err)
{
    double *each = n > 0 ? malloc((size_t)n * sizeof *each) : NULL;
    if (n > 0 && !each) {
        model_set_error(err, "out of memory validating %d pairs", n);
        return SUNG_ERR_NOMEM;
    }
    sung_status st = sung_validate_each(m, blur, sharp, n, iters, each, err);
    if (!st) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += each[i];
        *psnr = sum / n;
    }
    free(each);
    return st;
}

uint64_t sung_model_checksum(const sung_model *m)
{
    /* every tensor's bits, folded by position: any single flipped bit changes it */
    uint64_t h = 0;
    int nt = sung_model_tensor_count(m);
    size_t at = 0;
    for (int t = 0; t < nt; t++) {
        int nd, shape[4];
        float *d;
        sung_model_tensor(m, t, &nd, shape, &d, NULL);
        size_t sz = 1;
        for (int k = 0; k < nd; k++) sz *= (size_t)shape[k];
        for (size_t i = 0; i < sz; i++, at++) {
            uint32_t bits;
            memcpy(&bits, d + i, sizeof bits);
            h += rng_mix64(((uint64_t)bits << 32 | (at & 0xffffffffu)) ^ at >> 32);
        }
    }
    return h;
}
