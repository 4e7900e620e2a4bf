/* sung train: the training loop of SPEC §6 — random aligned crops, one per pair per
 * epoch, optional flips, Adam with the learning rate halved every N epochs — with
 * validation, checkpoints (written to a temporary file and renamed), bit-for-bit
 * resume, Ctrl-C that saves, a progress line and RUNDIR/log.csv.
 *
 * RUNDIR holds: last.safetensors (weights), best.safetensors (best validation PSNR),
 * state.safetensors (weights, Adam moments, and in its metadata the options, epoch,
 * position in the epoch's order, the order itself and the RNG state) and log.csv. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data.h"
#include "photos.h"
#include "rng.h"

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { interrupted = sig; } /* SIGINT or SIGTERM */


/* An aligned P×P crop of a pair into db/dg (P·P·3 floats each), flipped if asked. */
static int load_crop(const char *bpath, const char *gpath, int P, int augment, uint64_t *rng,
                     float *db, float *dg)
{
    sung_image b = {0}, g = {0};
    sung_error err;
    int rc = 0;
    if (sung_image_load(&b, bpath, &err) || sung_image_load(&g, gpath, &err)) {
        rc = cli_fail("train", "%s", err.msg);
    } else if (b.w != g.w || b.h != g.h) {
        rc = cli_fail("train", "%s is %dx%d but %s is %dx%d", bpath, b.w, b.h, gpath, g.w, g.h);
    } else if (b.w < P || b.h < P) {
        rc = cli_fail("train", "%s (%dx%d) is smaller than the patch size %d", bpath, b.w, b.h, P);
    } else {
        int x0 = rng_below(rng, b.w - P + 1), y0 = rng_below(rng, b.h - P + 1);
        int fx = augment && rng_below(rng, 2), fy = augment && rng_below(rng, 2);
        for (int y = 0; y < P; y++)
            for (int x = 0; x < P; x++) {
                int sy = y0 + (fy ? P - 1 - y : y), sx = x0 + (fx ? P - 1 - x : x);
                size_t s = ((size_t)sy * b.w + sx) * 3, d = ((size_t)y * P + x) * 3;
                for (int c = 0; c < 3; c++) db[d + c] = b.data[s + c], dg[d + c] = g.data[s + c];
            }
    }
    sung_image_free(&b);
    sung_image_free(&g);
    return rc;
}

#define DEFAULT_MAX_MEMORY 1536 /* MB: a paper-shaped step (batch 16, 256², width 32) runs in 1.3 GB */

/* Everything that defines a run; stored in the state file. */
typedef struct {
    int patch, batch, iters, epochs, augment, val_every, val_iters, lr_every;
    int photos;         /* pairs made on the fly from photos (--photos), not read */
    int crops_per_photo;/* with photos: pairs per photo per epoch */
    long warmup;        /* steps of linear learning-rate warm-up */
    long max_memory;    /* MB for the model and a micro-batch's working memory */
    long steps;         /* stop after this many steps in all (-1: all epochs) */
    double lr, w_aux, w_sup, ckpt_minutes;
    uint64_t seed;
    char blur_dir[32];
    char val[1024];     /* validation data ("" = none) */
    char precision[8];  /* of the training convolutions: fp32 or bf16 */
} run_opts;

/* Where the run is. */
typedef struct {
    long step;      /* optimizer steps done */
    int epoch;      /* epochs completed */
    int pos;        /* pairs of the current epoch already used */
    uint64_t rng;
    double best_psnr, elapsed;
} run_pos;

static double lr_at(const run_opts *o, int epoch, long step)
{
    double warm = o->warmup > 0 && step < o->warmup ? (double)(step + 1) / o->warmup : 1.0;
    return warm * o->lr * pow(0.5, o->lr_every > 0 ? epoch / o->lr_every : 0);
}

/* Flips a P×P×3 crop in place: horizontally (fx), vertically (fy) or both. */
static void flip(float *im, int P, int fx, int fy)
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

static void shuffle(int *order, int n, uint64_t *rng)
{
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = rng_below(rng, i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

static char *path_in(const char *dir, const char *name)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* ---- the state file -------------------------------------------------------------- */

#define META_MAX 32
typedef struct {
    sung_meta m[META_MAX];
    char v[META_MAX][64];     /* values; long ones (paths, the order) point elsewhere */
    int n;
    char *order;
} meta_out;

static void meta_add(meta_out *mo, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mo->v[mo->n], sizeof mo->v[mo->n], fmt, ap);
    va_end(ap);
    mo->m[mo->n] = (sung_meta){key, mo->v[mo->n]};
    mo->n++;
}

static int save_state(sung_model *m, const char *rundir, const run_opts *o, const run_pos *p,
                      const int *order, int npairs)
{
    meta_out mo = {.n = 0};
    meta_add(&mo, "run.patch", "%d", o->patch);
    meta_add(&mo, "run.batch", "%d", o->batch);
    meta_add(&mo, "run.iters", "%d", o->iters);
    meta_add(&mo, "run.epochs", "%d", o->epochs);
    meta_add(&mo, "run.steps", "%ld", o->steps);
    meta_add(&mo, "run.augment", "%d", o->augment);
    meta_add(&mo, "run.photos", "%d", o->photos);
    meta_add(&mo, "run.crops_per_photo", "%d", o->crops_per_photo);
    meta_add(&mo, "run.warmup", "%ld", o->warmup);
    meta_add(&mo, "run.max_memory", "%ld", o->max_memory);
    meta_add(&mo, "run.val_every", "%d", o->val_every);
    meta_add(&mo, "run.val_iters", "%d", o->val_iters);
    meta_add(&mo, "run.lr_every", "%d", o->lr_every);
    meta_add(&mo, "run.lr", "%.17g", o->lr);
    meta_add(&mo, "run.w_aux", "%.17g", o->w_aux);
    meta_add(&mo, "run.w_sup", "%.17g", o->w_sup);
    meta_add(&mo, "run.ckpt_minutes", "%.17g", o->ckpt_minutes);
    meta_add(&mo, "run.seed", "%" PRIu64, o->seed);
    meta_add(&mo, "run.blur_dir", "%s", o->blur_dir);
    meta_add(&mo, "run.precision", "%s", o->precision);
    mo.m[mo.n++] = (sung_meta){"run.val", o->val};
    meta_add(&mo, "pos.step", "%ld", p->step);
    meta_add(&mo, "pos.epoch", "%d", p->epoch);
    meta_add(&mo, "pos.pos", "%d", p->pos);
    meta_add(&mo, "pos.rng", "%" PRIu64, p->rng);
    meta_add(&mo, "pos.best_psnr", "%.17g", p->best_psnr);
    meta_add(&mo, "pos.elapsed", "%.17g", p->elapsed);
    meta_add(&mo, "pos.npairs", "%d", npairs);
    /* the epoch's order, as decimal indices */
    char *ord = malloc((size_t)npairs * 12 + 1);
    if (!ord) return cli_fail("train", "out of memory saving the state");
    size_t len = 0;
    ord[0] = 0;
    for (int i = 0; i < npairs; i++) len += sprintf(ord + len, "%s%d", i ? "," : "", order[i]);
    mo.m[mo.n++] = (sung_meta){"pos.order", ord};
    sung_error err;
    int rc = 0;
    if (sung_train_state_save(m, path_in(rundir, "state.safetensors"), mo.m, mo.n, &err) ||
        sung_model_save(m, path_in(rundir, "last.safetensors"), 0, &err))
        rc = cli_fail("train", "saving a checkpoint: %s", err.msg);
    free(ord);
    return rc;
}

static const char *meta_get(const sung_meta *m, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(m[i].key, key)) return m[i].value;
    return NULL;
}

/* Reads the run's options and position back; 0 on success. */
static int load_state(const char *rundir, sung_model **m, run_opts *o, run_pos *p, int **order,
                      int npairs)
{
    sung_meta *meta;
    int n, rc = 0;
    sung_error err;
    const char *path = path_in(rundir, "state.safetensors");
    if (sung_train_state_load(m, path, &meta, &n, &err)) return cli_fail("train", "--resume: %s", err.msg);
#define GET(key) meta_get(meta, n, key)
    const char *need[] = {"run.patch", "run.batch", "run.iters", "run.epochs", "run.augment",
                          "run.val_every", "run.val_iters", "run.lr_every", "run.lr", "run.w_aux",
                          "run.w_sup", "run.ckpt_minutes", "run.seed", "run.blur_dir", "pos.step",
                          "pos.epoch", "pos.pos", "pos.rng", "pos.best_psnr", "pos.elapsed",
                          "pos.npairs", "pos.order"};
    for (size_t i = 0; i < sizeof need / sizeof *need && !rc; i++)
        if (!GET(need[i])) rc = cli_fail("train", "--resume: %s has no '%s' (not a sung train state?)", path, need[i]);
    if (!rc) {
        o->patch = atoi(GET("run.patch")), o->batch = atoi(GET("run.batch"));
        o->iters = atoi(GET("run.iters")), o->epochs = atoi(GET("run.epochs"));
        o->steps = GET("run.steps") ? atol(GET("run.steps")) : -1;
        o->photos = GET("run.photos") ? atoi(GET("run.photos")) : 0;
        o->crops_per_photo = GET("run.crops_per_photo") ? atoi(GET("run.crops_per_photo")) : 1;
        o->warmup = GET("run.warmup") ? atol(GET("run.warmup")) : 0;
        o->max_memory = GET("run.max_memory") ? atol(GET("run.max_memory")) : DEFAULT_MAX_MEMORY;
        o->augment = atoi(GET("run.augment")), o->val_every = atoi(GET("run.val_every"));
        o->val_iters = atoi(GET("run.val_iters")), o->lr_every = atoi(GET("run.lr_every"));
        o->lr = strtod(GET("run.lr"), NULL), o->w_aux = strtod(GET("run.w_aux"), NULL);
        o->w_sup = strtod(GET("run.w_sup"), NULL);
        o->ckpt_minutes = strtod(GET("run.ckpt_minutes"), NULL);
        o->seed = strtoull(GET("run.seed"), NULL, 10);
        snprintf(o->blur_dir, sizeof o->blur_dir, "%s", GET("run.blur_dir"));
        snprintf(o->precision, sizeof o->precision, "%s", GET("run.precision") ? GET("run.precision") : "fp32");
        snprintf(o->val, sizeof o->val, "%s", GET("run.val") ? GET("run.val") : "");
        p->step = atol(GET("pos.step")), p->epoch = atoi(GET("pos.epoch")), p->pos = atoi(GET("pos.pos"));
        p->rng = strtoull(GET("pos.rng"), NULL, 10);
        p->best_psnr = strtod(GET("pos.best_psnr"), NULL);
        p->elapsed = strtod(GET("pos.elapsed"), NULL);
        if (atoi(GET("pos.npairs")) != npairs)
            rc = cli_fail("train", "--resume: the run had %s training pairs, the data now has %d",
                          GET("pos.npairs"), npairs);
    }
    if (!rc) {
        *order = malloc(npairs * sizeof **order);
        const char *s = GET("pos.order");
        for (int i = 0; *order && i < npairs && !rc; i++) {
            char *end;
            long v = strtol(s, &end, 10);
            if (end == s || v < 0 || v >= npairs) rc = cli_fail("train", "--resume: corrupt order in %s", path);
            (*order)[i] = (int)v;
            s = *end == ',' ? end + 1 : end;
        }
        if (!*order) rc = cli_fail("train", "out of memory");
    }
#undef GET
    sung_meta_free(meta, n);
    if (rc) sung_model_free(*m), *m = NULL;
    return rc;
}

/* Keeps the rows of log.csv up to `step` (a crashed run may have logged past its last
 * checkpoint), so that a resumed log reads as one run. */
static int trim_log(const char *rundir, long step)
{
    const char *path = path_in(rundir, "log.csv"), *tmp = path_in(rundir, "log.csv.tmp");
    FILE *in = fopen(path, "r");
    if (!in) return 0;
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return cli_fail("train", "%s: %s", tmp, strerror(errno));
    }
    char line[1024];
    int first = 1;
    while (fgets(line, sizeof line, in)) {
        if (first || atol(line) <= step) fputs(line, out);
        first = 0;
    }
    fclose(in);
    if (fclose(out) || rename(tmp, path)) return cli_fail("train", "%s: %s", path, strerror(errno));
    return 0;
}

/* ---- validation -------------------------------------------------------------------- */

static int validate_fp32(sung_model *m, const pairs *V, int iters, double *psnr)
{
    double sum = 0;
    for (int i = 0; i < V->n; i++) {
        sung_image b = {0}, g = {0}, out = {0};
        sung_error err;
        uint8_t *u = NULL, *v = NULL;
        int rc = 0;
        if (sung_image_load(&b, V->blur[i], &err) || sung_image_load(&g, V->sharp[i], &err) ||
            sung_deblur(m, &b, iters, &out, &err))
            rc = cli_fail("train", "validation: %s", err.msg);
        else if (g.w != out.w || g.h != out.h)
            rc = cli_fail("train", "validation: %s and %s differ in size", V->blur[i], V->sharp[i]);
        else if (!(u = malloc((size_t)g.w * g.h * 3)) || !(v = malloc((size_t)g.w * g.h * 3)))
            rc = cli_fail("train", "out of memory");
        if (!rc) {
            sung_image_to_u8(&out, u);
            sung_image_to_u8(&g, v);
            double p = sung_psnr(u, v, g.w, g.h);
            sum += isinf(p) ? 100.0 : p;
        }
        free(u), free(v);
        sung_image_free(&b), sung_image_free(&g), sung_image_free(&out);
        if (rc) return rc;
    }
    *psnr = sum / V->n;
    return 0;
}

/* In fp32 whatever the training precision: the model as it will be used by default,
 * and PSNRs comparable between fp32 and bf16 runs. */
static int validate(sung_model *m, const pairs *V, int iters, double *psnr)
{
    sung_precision train_prec = sung_model_precision(m);
    sung_error err;
    sung_model_set_precision(m, SUNG_FP32, &err);
    int rc = validate_fp32(m, V, iters, psnr);
    sung_model_set_precision(m, train_prec, &err); /* it ran before, so it runs again */
    return rc;
}

/* ---- the input pipeline ------------------------------------------------------------- */

/* Where the data stands: the epoch, the pairs of it already used, its order and the RNG
 * of crops and flips. A batch is a function of this, and moves it on. */
typedef struct {
    int epoch, pos;
    uint64_t rng;
    int *order; /* npairs */
} data_pos;

typedef struct {
    const run_opts *o;
    const pairs *P;
    const photo_set *PS;
    int npairs;
    size_t img; /* floats per image */
} data_src;

/* Loads the batch that starts at *d into bb/gb and moves *d past it (first into the next
 * epoch, reshuffled, if this one is used up); the batch's size, or -1 on an error (with a
 * message). */
static int load_batch(const data_src *s, data_pos *d, float *bb, float *gb)
{
    const run_opts *o = s->o;
    if (d->pos == s->npairs) { /* epoch done */
        d->epoch++;
        d->pos = 0;
        shuffle(d->order, s->npairs, &d->rng);
    }
    int nb = s->npairs - d->pos < o->batch ? s->npairs - d->pos : o->batch;
    for (int b = 0; b < nb; b++) {
        int k = d->order[d->pos + b];
        float *bi = bb + b * s->img, *gi = gb + b * s->img;
        if (o->photos) {
            /* a fresh pair: its seed from the run's seed and its place in the run */
            uint64_t seed = o->seed ^ ((uint64_t)d->epoch * (uint64_t)s->npairs + (uint64_t)(d->pos + b)) *
                                          0xD1B54A32D192ED03ull;
            if (photos_pair("train", s->PS, k % s->PS->n, o->patch, seed, bi, gi)) return -1;
            int fx = o->augment && rng_below(&d->rng, 2), fy = o->augment && rng_below(&d->rng, 2);
            flip(bi, o->patch, fx, fy);
            flip(gi, o->patch, fx, fy);
        } else if (load_crop(s->P->blur[k], s->P->sharp[k], o->patch, o->augment, &d->rng, bi, gi)) {
            return -1;
        }
    }
    d->pos += nb;
    return nb;
}

/* The next batch, made on a thread of its own while the current one trains (one
 * OpenMP thread inside, to leave the cores to the step). */
typedef struct {
    const data_src *src;
    data_pos pos;     /* in: where it starts; out: where it leaves the run */
    float *bb, *gb;
    int nb;           /* out: its size, -1 on an error */
    double seconds;   /* out: time it took */
    pthread_t thread;
    int running;
} prefetch;

static void *prefetch_main(void *arg)
{
    prefetch *f = arg;
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    double t0 = cli_now();
    f->nb = load_batch(f->src, &f->pos, f->bb, f->gb);
    f->seconds = cli_now() - t0;
    return NULL;
}

/* Starts loading the batch after *from into f's buffers; synchronously if no thread can
 * be made. */
static void prefetch_start(prefetch *f, const data_pos *from)
{
    memcpy(f->pos.order, from->order, (size_t)f->src->npairs * sizeof *f->pos.order);
    f->pos.epoch = from->epoch, f->pos.pos = from->pos, f->pos.rng = from->rng;
    f->running = !pthread_create(&f->thread, NULL, prefetch_main, f);
    if (!f->running) prefetch_main(f);
}

static void prefetch_wait(prefetch *f)
{
    if (f->running) pthread_join(f->thread, NULL);
    f->running = 0;
}

/* ---- the command ------------------------------------------------------------------- */

int cmd_train(int argc, char **argv)
{
    const char *data = NULL, *model = NULL, *out = NULL, *dump = NULL, *resume = NULL,
               *val = NULL, *variant = NULL, *blur_dir = NULL, *photos = NULL, *prec = NULL;
    int patch = -1, batch = -1, iters = -1, epochs = -1, no_aug = 0, val_every = -1,
        val_iters = -1, lr_every = -1, width = -1, cpp = -1;
    long steps = -1, warmup = -1, max_memory = -1;
    double lr = -1, w_aux = -1, w_sup = -1, ckpt = -1;
    uint64_t seed = UINT64_MAX, init_seed = 0;
    cli_opt opts[] = {
        {"--data", 's', &data, "training data, GoPro layout: DIR/<seq>/blur|sharp/*.png"},
        {"--photos", 's', &photos, "or sharp photos: pairs made on the fly (sung synth's blur, fresh each epoch)"},
        {"--crops-per-photo", 'i', &cpp, "with --photos: pairs per photo per epoch (default 20)"},
        {"--out", 's', &out, "run directory (created): checkpoints, log.csv"},
        {"--resume", 's', &resume, "continue the run in this directory exactly where it stopped"},
        {"--model", 's', &model, "initial weights (.safetensors); else a new model:"},
        {"--variant", 's', &variant, "  sung (default), base or siun"},
        {"--width", 'i', &width, "  width c (default 32)"},
        {"--init-seed", 'u', &init_seed, "  initialisation seed (default 0)"},
        {"--blur-dir", 's', &blur_dir, "blur or blur_gamma (default blur)"},
        {"--patch", 'i', &patch, "crop size (default 256; a multiple of 2^(iters+2))"},
        {"--batch", 'i', &batch, "batch size (default 16)"},
        {"--iters", 'i', &iters, "scale iterations (default 3)"},
        {"--epochs", 'i', &epochs, "epochs (default 500)"},
        {"--steps", 'l', &steps, "stop after this many optimizer steps in all (default: all epochs)"},
        {"--lr", 'f', &lr, "learning rate (default 1e-4)"},
        {"--lr-halve-every", 'i', &lr_every, "halve the learning rate every N epochs (default 100)"},
        {"--warmup", 'l', &warmup, "raise the learning rate linearly over the first N steps (default 0)"},
        {"--max-memory", 'l', &max_memory, "MB for the model and one micro-batch; the batch runs in micro-batches "
                                           "that fit (default 1536)"},
        {"--w-aux", 'f', &w_aux, "weight of the edge-aux loss (default 1 for sung, else 0)"},
        {"--w-sup", 'f', &w_sup, "weight of the edge-sup loss (default 1 for sung, else 0)"},
        {"--no-augment", 'b', &no_aug, "no random flips"},
        {"--seed", 'u', &seed, "seed of crops, flips and order (default 0)"},
        {"--val", 's', &val, "validation data (GoPro layout), PSNR on whole images"},
        {"--val-every", 'i', &val_every, "validate every N epochs (default 10)"},
        {"--val-iters", 'i', &val_iters, "scale iterations for validation (default 4)"},
        {"--checkpoint-minutes", 'f', &ckpt, "save a checkpoint every N minutes (default 10)"},
        {"--dump-grads", 's', &dump, "write the first step's gradients to this file"},
        {"--precision", 's', &prec, "bf16 (default where the CPU has avx512_bf16 and the width is even): mixed-precision "
                                    "convolutions, fp32 weights, Adam, losses and validation; or fp32"},
        {0},
    };
    int n = cli_parse("train", "--data DIR | --photos DIR  --out RUNDIR [--model W.safetensors | --variant V --width C] [options]\n"
                      "       sung train --data DIR | --photos DIR  --resume RUNDIR [--steps K] [--epochs E] [--lr X] [--val DIR]",
                      opts, argc, argv, NULL, 0);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (!data && !photos) return cli_bad_value("train", "training data is required: --data DIR (GoPro layout) or --photos DIR");
    if (data && photos) return cli_bad_value("train", "give either --data or --photos, not both");
    if (!photos && cpp != -1) return cli_bad_value("train", "--crops-per-photo goes with --photos");
    if (cpp != -1 && (cpp < 1 || cpp > 100000)) return cli_bad_value("train", "--crops-per-photo must be 1..100000");
    if (warmup < -1) return cli_bad_value("train", "--warmup must not be negative");
    if (max_memory != -1 && (max_memory < 64 || max_memory > (1L << 30)))
        return cli_bad_value("train", "--max-memory must be at least 64 (MB)");
    if (resume && out) return cli_bad_value("train", "give either --out (a new run) or --resume (an existing one), not both");
    if (!resume && !out) return cli_bad_value("train", "--out RUNDIR is required");
    if (resume && (model || variant || width != -1 || blur_dir || patch != -1 || batch != -1 ||
                   iters != -1 || w_aux != -1 || w_sup != -1 || no_aug || seed != UINT64_MAX || dump ||
                   cpp != -1 || warmup != -1))
        return cli_bad_value("train", "--resume continues a run with its own options (stored in RUNDIR/state.safetensors); "
                                 "only --steps, --epochs, --lr, --lr-halve-every, --max-memory, --precision, --val, "
                                 "--val-every, --val-iters and --checkpoint-minutes may change");
    if (model && (variant || width != -1)) return cli_bad_value("train", "--model and --variant/--width exclude each other");
    if (prec && sung_precision_parse(prec) < 0) return cli_bad_value("train", "--precision must be fp32 or bf16, not '%s'", prec);

    const char *rundir = resume ? resume : out;
    run_opts o;
    run_pos p = {0, 0, 0, 0, -INFINITY, 0};
    sung_model *m = NULL;
    sung_error err;
    pairs P = {0}, V = {0};
    photo_set PS = {0};
    int npairs = 0;
    float *bb = NULL, *gb = NULL;
    prefetch pf = {0};
    data_src src;
    int *order = NULL, rc = 0;
    FILE *log = NULL;

    if (resume) {
        pairs tmp;
        /* the blur dir is part of the state: read it first with a throwaway listing */
        memset(&o, 0, sizeof o);
        sung_meta *meta;
        int nm;
        sung_model *peek;
        if (sung_train_state_load(&peek, path_in(rundir, "state.safetensors"), &meta, &nm, &err))
            return cli_fail("train", "--resume: %s", err.msg);
        const char *bd = meta_get(meta, nm, "run.blur_dir"), *ph = meta_get(meta, nm, "run.photos");
        const char *cp = meta_get(meta, nm, "run.crops_per_photo");
        snprintf(o.blur_dir, sizeof o.blur_dir, "%s", bd ? bd : "blur");
        int was_photos = ph && atoi(ph), was_cpp = cp ? atoi(cp) : 1;
        sung_meta_free(meta, nm);
        sung_model_free(peek);
        if (was_photos != !!photos) {
            return cli_bad_value("train", "--resume: the run in %s trained on %s; give %s again", rundir,
                                 was_photos ? "photos" : "pairs", was_photos ? "--photos DIR" : "--data DIR");
        }
        if (photos) {
            if (photos_load("train", photos, &PS)) {
                photos_free(&PS);
                return 1;
            }
            npairs = PS.n * was_cpp;
        } else {
            if (pairs_list("train", data, o.blur_dir, &tmp)) return 1;
            P = tmp;
            npairs = P.n;
        }
        if ((rc = load_state(rundir, &m, &o, &p, &order, npairs))) goto done;
        if (lr != -1) o.lr = lr;
        if (max_memory != -1) o.max_memory = max_memory;
        if (lr_every != -1) o.lr_every = lr_every;
        if (epochs != -1) o.epochs = epochs;
        if (steps != -1) o.steps = steps;
        if (val_every != -1) o.val_every = val_every;
        if (val_iters != -1) o.val_iters = val_iters;
        if (ckpt != -1) o.ckpt_minutes = ckpt;
        if (val) snprintf(o.val, sizeof o.val, "%s", val);
        if (prec) snprintf(o.precision, sizeof o.precision, "%s", prec);
        if ((rc = trim_log(rundir, p.step))) goto done;
    } else {
        o = (run_opts){
            .patch = patch != -1 ? patch : 256, .batch = batch != -1 ? batch : 16,
            .iters = iters != -1 ? iters : 3, .epochs = epochs != -1 ? epochs : 500,
            .augment = !no_aug, .val_every = val_every != -1 ? val_every : 10,
            .val_iters = val_iters != -1 ? val_iters : 4, .lr_every = lr_every != -1 ? lr_every : 100,
            .steps = steps, .lr = lr != -1 ? lr : 1e-4, .ckpt_minutes = ckpt != -1 ? ckpt : 10,
            .seed = seed != UINT64_MAX ? seed : 0, .photos = !!photos,
            .crops_per_photo = cpp != -1 ? cpp : photos ? 20 : 1, .warmup = warmup != -1 ? warmup : 0,
            .max_memory = max_memory != -1 ? max_memory : DEFAULT_MAX_MEMORY,
        };
        snprintf(o.blur_dir, sizeof o.blur_dir, "%s", blur_dir ? blur_dir : "blur");
        if (val && snprintf(o.val, sizeof o.val, "%s", val) >= (int)sizeof o.val)
            return cli_fail("train", "--val: path too long");
        if (strcmp(o.blur_dir, "blur") && strcmp(o.blur_dir, "blur_gamma"))
            return cli_bad_value("train", "--blur-dir must be blur or blur_gamma, not '%s'", o.blur_dir);
        if (model) {
            if (sung_model_load(&m, model, &err)) return cli_fail("train", "%s", err.msg);
        } else {
            int v = sung_variant_parse(variant ? variant : "sung");
            if (v < 0) return cli_bad_value("train", "--variant must be sung, base or siun, not '%s'", variant);
            if (sung_model_create(&m, (sung_variant)v, width != -1 ? width : 32, init_seed, &err))
                return cli_fail("train", "%s", err.msg);
        }
        /* default: bf16 where it runs (avx512_bf16, an even width); its loss curve and
         * validation PSNR match fp32 (docs/BENCHMARKS.md) at a fraction of the time */
        snprintf(o.precision, sizeof o.precision, "%s",
                 prec ? prec : sung_model_set_precision(m, SUNG_BF16, NULL) == SUNG_OK ? "bf16" : "fp32");
        sung_train_opts d = sung_train_defaults(m);
        o.w_aux = w_aux != -1 ? w_aux : d.w_edge_aux;
        o.w_sup = w_sup != -1 ? w_sup : d.w_edge_sup;
        if (photos) {
            if ((rc = photos_load("train", photos, &PS))) goto done;
            npairs = PS.n * o.crops_per_photo;
        } else {
            if ((rc = pairs_list("train", data, o.blur_dir, &P))) goto done;
            npairs = P.n;
        }
    }
    int mult = 1 << (o.iters + 2);
    if (o.iters < 1 || o.iters > SUNG_MAX_ITERS) rc = cli_bad_value("train", "--iters must be 1..%d, not %d", SUNG_MAX_ITERS, o.iters);
    else if (o.patch < mult || o.patch % mult || o.patch > 8192)
        rc = cli_bad_value("train", "--patch must be a multiple of %d (2^(iters+2)) up to 8192, not %d", mult, o.patch);
    else if (o.batch < 1 || o.batch > 4096) rc = cli_bad_value("train", "--batch must be 1..4096, not %d", o.batch);
    else if (o.epochs < 1) rc = cli_bad_value("train", "--epochs must be at least 1");
    else if (!(o.lr > 0) || !isfinite(o.lr)) rc = cli_bad_value("train", "--lr must be a positive number");
    else if (o.w_aux < 0 || o.w_sup < 0) rc = cli_bad_value("train", "--w-aux and --w-sup must not be negative");
    else if (sung_model_variant(m) == SUNG_SIUN && o.w_sup != 0) rc = cli_bad_value("train", "siun has no edge path: --w-sup must be 0");
    else if (o.val_every < 1) rc = cli_bad_value("train", "--val-every must be at least 1");
    else if (o.val_iters < 1 || o.val_iters > SUNG_MAX_ITERS) rc = cli_bad_value("train", "--val-iters must be 1..%d", SUNG_MAX_ITERS);
    else if (!(o.ckpt_minutes > 0)) rc = cli_bad_value("train", "--checkpoint-minutes must be positive");
    else if (steps == 0 || steps < -1) rc = cli_bad_value("train", "--steps must be at least 1");
    else if (sung_precision_parse(o.precision) < 0) rc = cli_bad_value("train", "the run's precision '%s' is not fp32 or bf16", o.precision);
    else if (sung_model_set_precision(m, (sung_precision)sung_precision_parse(o.precision), &err))
        rc = cli_bad_value("train", "--precision %s: %s", o.precision, err.msg);
    if (rc) goto done;
    if (*o.val && (rc = pairs_list("train", o.val, "blur", &V))) goto done;
    if (!resume && make_dirs(rundir)) {
        rc = cli_fail("train", "%s: cannot create the run directory: %s", rundir, strerror(errno));
        goto done;
    }
    if (!resume && access(path_in(rundir, "state.safetensors"), F_OK) == 0) {
        rc = cli_fail("train", "%s already holds a run: continue it with --resume %s, or choose another --out", rundir, rundir);
        goto done;
    }
    size_t img = (size_t)o.patch * o.patch * 3;
    bb = malloc(img * o.batch * sizeof *bb);
    gb = malloc(img * o.batch * sizeof *gb);
    pf.bb = malloc(img * o.batch * sizeof *pf.bb);
    pf.gb = malloc(img * o.batch * sizeof *pf.gb);
    pf.pos.order = malloc(npairs * sizeof *pf.pos.order);
    if (!order) {
        order = malloc(npairs * sizeof *order);
        if (order) {
            p.rng = o.seed;
            shuffle(order, npairs, &p.rng);
        }
    }
    if (!bb || !gb || !order || !pf.bb || !pf.gb || !pf.pos.order) {
        rc = cli_fail("train", "out of memory for a batch of %d %dx%d crops", o.batch, o.patch, o.patch);
        goto done;
    }
    log = fopen(path_in(rundir, "log.csv"), "a");
    if (!log) {
        rc = cli_fail("train", "%s: %s", path_in(rundir, "log.csv"), strerror(errno));
        goto done;
    }
    if (ftell(log) == 0) fprintf(log, "step,epoch,lr,loss,pixel,edge_aux,edge_sup,val_psnr,seconds\n");

    int per_epoch = (npairs + o.batch - 1) / o.batch;
    long total = (long)o.epochs * per_epoch;
    if (o.steps > 0 && o.steps < total) total = o.steps;
    sung_train_opts to = {o.iters, o.w_aux, o.w_sup};
    /* micro-batch: the most images whose working memory fits beside the model (weights,
     * gradients, Adam moments and packed copies: about 8 floats per parameter) */
    double model_mb = 8.0 * sizeof(float) * sung_model_param_count(m) / 1048576.0, micro_mb = 0;
    int micro = 1;
    for (int k = 1; k <= o.batch; k++) {
        double mb = sung_train_memory(m, k, o.patch, o.patch, &to) / 1048576.0;
        if (k > 1 && model_mb + mb > o.max_memory) break;
        micro = k, micro_mb = mb;
    }
    printf("training %s (width %d) on %d %s, batch %d, %dx%d crops, %d iterations, %d epochs (%d steps each), %s, %s\n",
           sung_variant_name(sung_model_variant(m)), sung_model_width(m), npairs,
           o.photos ? "pairs made from photos per epoch" : "pairs", o.batch, o.patch, o.patch, o.iters, o.epochs,
           per_epoch, sung_isa(), o.precision);
    printf("micro-batches of %d (%d per step): about %.0f MB for the model and %.0f MB of working memory%s\n", micro,
           (o.batch + micro - 1) / micro, model_mb, micro_mb,
           model_mb + micro_mb > o.max_memory ? " -- more than --max-memory, even one image at a time" : "");
    if (resume) printf("resuming at step %ld (epoch %d)\n", p.step, p.epoch + 1);
    struct sigaction sa = {0}, old_sa;
    struct sigaction old_term;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_sa);
    sigaction(SIGTERM, &sa, &old_term); /* what schedulers and `docker stop` send: save too */
    int tty = isatty(STDOUT_FILENO);
    double t_start = cli_now(), t_ckpt = t_start, elapsed0 = p.elapsed, t_data = 0;
    long step0 = p.step;
    /* the input pipeline: batch j + 1 is made while batch j trains; the run's position p
     * moves to where a batch leaves it only when that batch is taken, so that a
     * checkpoint never counts a batch that was made but not trained on */
    src = (data_src){&o, &P, &PS, npairs, img};
    pf.src = &src;
    data_pos here = {p.epoch, p.pos, p.rng, order};
    if (p.step < total) prefetch_start(&pf, &here);
    while (p.step < total && !interrupted) {
        double t_data0 = cli_now();
        prefetch_wait(&pf);
        if (pf.nb < 0) {
            rc = 1;
            goto done;
        }
        int nb = pf.nb;
        float *t = bb; /* take the batch: swap the buffers and the position */
        bb = pf.bb, pf.bb = t;
        t = gb, gb = pf.gb, pf.gb = t;
        int *to_order = order;
        order = pf.pos.order, pf.pos.order = to_order;
        p.epoch = pf.pos.epoch, p.pos = pf.pos.pos, p.rng = pf.pos.rng;
        here = (data_pos){p.epoch, p.pos, p.rng, order};
        if (p.step + 1 < total) prefetch_start(&pf, &here);
        sung_losses L;
        double t0 = cli_now(), lr_now = lr_at(&o, p.epoch, p.step);
        t_data += t0 - t_data0;
        /* the batch in near-equal micro-batches, each weighted by its share */
        int parts = (nb + micro - 1) / micro;
        memset(&L, 0, sizeof L);
        sung_train_zero_grads(m);
        for (int k = 0, at = 0; k < parts; k++) {
            int cnt = nb / parts + (k < nb % parts);
            double share = (double)cnt / nb;
            sung_losses Lk;
            if (sung_train_accumulate(m, bb + (size_t)at * img, gb + (size_t)at * img, cnt, o.patch, o.patch, &to,
                                      share, &Lk, &err)) {
                rc = cli_fail("train", "%s", err.msg);
                goto done;
            }
            for (int i = 0; i < o.iters; i++) {
                L.pixel[i] += share * Lk.pixel[i];
                L.edge_aux[i] += share * Lk.edge_aux[i];
                L.edge_sup[i] += share * Lk.edge_sup[i];
            }
            L.total += share * Lk.total;
            at += cnt;
        }
        if (p.step == 0 && dump && sung_model_save_grads(m, dump, &err)) {
            rc = cli_fail("train", "%s", err.msg);
            goto done;
        }
        sung_train_apply(m, lr_now);
        p.step++;
        double now = cli_now(), dt = now - t0;
        p.elapsed = elapsed0 + (now - t_start);
        double pix = 0, aux = 0, sup = 0;
        for (int i = 0; i < o.iters; i++) pix += L.pixel[i], aux += L.edge_aux[i], sup += L.edge_sup[i];
        fprintf(log, "%ld,%d,%.6g,%.6f,%.6f,%.6f,%.6f,,%.1f\n", p.step, p.epoch + 1, lr_now, L.total, pix,
                aux, sup, p.elapsed);
        double rate = (now - t_start) / (p.step - step0), eta = rate * (total - p.step);
        printf("%sepoch %d  step %ld/%ld  loss %.5f (pixel %.5f  edge-aux %.5f  edge-sup %.5f)  %.1f img/s  "
               "data %.0f%%  ETA %dh%02dm%s",
               tty ? "\r" : "", p.epoch + 1, p.step, total, L.total, pix, aux, sup, nb / dt,
               100.0 * t_data / (now - t_start), (int)(eta / 3600), (int)fmod(eta / 60, 60), tty ? "   " : "\n");
        fflush(stdout);
        int epoch_end = p.pos == npairs;
        if (V.n && epoch_end && ((p.epoch + 1) % o.val_every == 0 || p.step == total)) {
            double psnr;
            if ((rc = validate(m, &V, o.val_iters, &psnr))) goto done;
            fprintf(log, "%ld,%d,,,,,,%.4f,%.1f\n", p.step, p.epoch + 1, psnr, p.elapsed);
            printf("%svalidation after epoch %d: PSNR %.3f dB on %d images%s\n", tty ? "\n" : "",
                   p.epoch + 1, psnr, V.n, psnr > p.best_psnr ? " (best)" : "");
            if (psnr > p.best_psnr) {
                p.best_psnr = psnr;
                if (sung_model_save(m, path_in(rundir, "best.safetensors"), 0, &err)) {
                    rc = cli_fail("train", "%s", err.msg);
                    goto done;
                }
            }
        }
        fflush(log);
        if (now - t_ckpt >= o.ckpt_minutes * 60 || p.step == total) {
            if ((rc = save_state(m, rundir, &o, &p, order, npairs))) goto done;
            t_ckpt = now;
        }
    }
    if (tty) printf("\n");
    if (interrupted) {
        if ((rc = save_state(m, rundir, &o, &p, order, npairs))) goto done;
        printf("interrupted at step %ld: saved %s; continue with: sung train %s %s --resume %s\n", p.step,
               path_in(rundir, "state.safetensors"), o.photos ? "--photos" : "--data", o.photos ? photos : data, rundir);
        rc = 128 + interrupted; /* 130 for Ctrl-C, 143 for SIGTERM */
    } else {
        printf("done: %ld steps; wrote %s\n", p.step, path_in(rundir, "last.safetensors"));
    }
    sigaction(SIGINT, &old_sa, NULL);
    sigaction(SIGTERM, &old_term, NULL);
done:
    prefetch_wait(&pf);
    if (log) fclose(log);
    pairs_free(&P);
    pairs_free(&V);
    photos_free(&PS);
    free(bb), free(gb), free(order);
    free(pf.bb), free(pf.gb), free(pf.pos.order);
    sung_model_free(m);
    return rc;
}
