/* sung train: the command around the trainer of src/train.c (SPEC §6) — it parses,
 * loops, logs and checkpoints; which pairs, crops and flips each batch holds, the
 * learning rate, the step and the run state are the library's (sung_run, sung_train_step).
 * Under mpirun it is data-parallel (tools/dist.c): every process takes its shard of each
 * global batch, the gradients are summed with one MPI_Allreduce, every process takes the
 * same Adam step, and rank 0 alone writes checkpoints, the log, the progress line and
 * validates.
 *
 * RUNDIR holds: last.safetensors (weights), best.safetensors (best validation PSNR: with
 * several --val sets, the best mean of their PSNRs), both the weights' moving average when
 * the run keeps one (--ema: what it validates), state.safetensors (weights, Adam moments,
 * and in its metadata the run's options and position: sung_run_save, with this command's
 * own options beside them), log.csv and, with --val, val.csv (each set's PSNR, its input's
 * and how many of its images came out worse than their input, at each validation) and
 * val-images.csv (each image's PSNR and its input's). */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "batches.h"
#include "data.h"
#include "dist.h"
#include "fairshare.h"
#include "photos.h"
#include "valsets.h"

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { interrupted = sig; } /* SIGINT or SIGTERM */

/* MB for the model and a micro-batch: runs stored before the automatic budget had this fixed
 * one, which is also the automatic budget's floor. A micro-batch of one 256² crop at width
 * 32 needs about 0.8 GB, and larger micro-batches keep both cores busier: batch 2 of 256²
 * in one micro-batch instead of two took 12-22 % less time a step on this project's 2-core
 * machines (three interleaved pairs of 26 steps). */
#define DEFAULT_MAX_MEMORY 1536

/* The budget when none is given (stored as 0, so that a resumed run sizes itself to the
 * machine it runs on): a quarter of the RAM, shared by the processes of this host. */
static long auto_max_memory(const dist *d)
{
    long mb = cli_ram_mb() / 4 / (d->local_size > 0 ? d->local_size : 1);
    return mb > DEFAULT_MAX_MEMORY ? mb : DEFAULT_MAX_MEMORY;
}

/* The command's own options, kept in the state file beside the run's. */
typedef struct {
    int photos;          /* pairs made on the fly from photos (--photos), not read */
    int crops_per_photo; /* with photos: pairs per photo per epoch */
    double min_texture;  /* with photos: photos_pair's redraw threshold */
    double short_blur;   /* with photos: photos_pair's fraction of shorter blur */
    double shrink;       /* with photos: photos_pair's largest shrink of a photo (1: none) */
    double noise;        /* with photos: photos_pair's noise scale (1: sung synth's, 0: none) */
    int val_every, val_iters;
    long max_memory;     /* MB for the model and a micro-batch's working memory; 0: auto_max_memory */
    double ckpt_minutes;
    char blur_dir[32];
    char val[1024];      /* validation data: directories separated by commas ("" = none) */
    char precision[8];   /* of the training convolutions: fp32 or bf16 */
} cmd_opts;

static char *path_in(const char *dir, const char *name)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* RUNDIR/name: the weights, or their moving average when the run keeps one. */
static sung_status save_weights(sung_model *m, const char *rundir, const char *name, sung_error *err)
{
    int avg = sung_train_ema_decay(m) > 0;
    if (avg && sung_model_swap_ema(m, err)) return SUNG_ERR_ARG;
    sung_status st = sung_model_save(m, path_in(rundir, name), 0, err);
    if (avg) sung_model_swap_ema(m, NULL);
    return st;
}

/* The state file and last.safetensors (rank 0 only). */
static int save_state(const dist *d, sung_model *m, const sung_run *r, const char *rundir, const cmd_opts *c)
{
    if (d->rank) return 0;
    char v[16][64];
    sung_meta extra[17];
    int n = 0;
#define PUT(key, ...) (snprintf(v[n], sizeof v[n], __VA_ARGS__), extra[n] = (sung_meta){key, v[n]}, n++)
    PUT("run.photos", "%d", c->photos);
    PUT("run.crops_per_photo", "%d", c->crops_per_photo);
    PUT("run.min_texture", "%.17g", c->min_texture);
    PUT("run.short_blur", "%.17g", c->short_blur);
    PUT("run.shrink", "%.17g", c->shrink);
    PUT("run.noise", "%.17g", c->noise);
    PUT("run.max_memory", "%ld", c->max_memory);
    PUT("run.val_every", "%d", c->val_every);
    PUT("run.val_iters", "%d", c->val_iters);
    PUT("run.ckpt_minutes", "%.17g", c->ckpt_minutes);
    PUT("run.blur_dir", "%s", c->blur_dir);
    PUT("run.precision", "%s", c->precision);
#undef PUT
    extra[n++] = (sung_meta){"run.val", c->val};
    sung_error err;
    if (sung_run_save(m, r, path_in(rundir, "state.safetensors"), extra, n, &err) || save_weights(m, rundir, "last.safetensors", &err))
        return cli_fail("train", "saving a checkpoint: %s", err.msg);
    return 0;
}

/* The command's options back from a state's metadata (the first trainer's defaults
 * where a key is missing). */
static void read_cmd_opts(const sung_meta *meta, int n, cmd_opts *c)
{
    const char *v;
#define GET(key) sung_meta_get(meta, n, key)
    c->photos = (v = GET("run.photos")) ? atoi(v) : 0;
    c->crops_per_photo = (v = GET("run.crops_per_photo")) ? atoi(v) : 1;
    c->min_texture = (v = GET("run.min_texture")) ? strtod(v, NULL) : PHOTOS_MIN_TEXTURE_OLD;
    c->short_blur = (v = GET("run.short_blur")) ? strtod(v, NULL) : 0;
    c->shrink = (v = GET("run.shrink")) ? strtod(v, NULL) : 1;
    c->noise = (v = GET("run.noise")) ? strtod(v, NULL) : 1;
    c->max_memory = (v = GET("run.max_memory")) ? atol(v) : DEFAULT_MAX_MEMORY;
    c->val_every = (v = GET("run.val_every")) ? atoi(v) : 10;
    c->val_iters = (v = GET("run.val_iters")) ? atoi(v) : 4;
    c->ckpt_minutes = (v = GET("run.ckpt_minutes")) ? strtod(v, NULL) : 10;
    snprintf(c->blur_dir, sizeof c->blur_dir, "%s", (v = GET("run.blur_dir")) ? v : "blur");
    snprintf(c->val, sizeof c->val, "%s", (v = GET("run.val")) ? v : "");
    snprintf(c->precision, sizeof c->precision, "%s", (v = GET("run.precision")) ? v : "fp32");
#undef GET
}

/* Keeps the rows of RUNDIR/name (log.csv, val.csv) up to `step` (a crashed run may have
 * logged past its last checkpoint), so that a resumed log reads as one run. */
static int trim_log(const char *rundir, const char *name, long step)
{
    char tname[256];
    snprintf(tname, sizeof tname, "%s.tmp", name);
    const char *path = path_in(rundir, name), *tmp = path_in(rundir, tname);
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

/* Loads the training data the options name; *npairs: pairs per epoch. */
static int load_data(const char *data, const char *photos, const cmd_opts *c, pairs *P, photo_set *PS, int *npairs)
{
    if (photos) {
        if (photos_load("train", photos, PS)) return 1;
        *npairs = PS->n * c->crops_per_photo;
    } else {
        if (pairs_list("train", data, c->blur_dir, P)) return 1;
        *npairs = P->n;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------- */

int cmd_train(int argc, char **argv)
{
    const char *threads_opt = NULL, *data = NULL, *model = NULL, *out = NULL, *dump = NULL, *resume = NULL,
               *val = NULL, *variant = NULL, *blur_dir = NULL, *photos = NULL, *prec = NULL;
    int ema_warmup = 0;
    /* options not given hold INT_MIN, LONG_MIN or NAN (GIVEN), so that any value given,
     * -1 too, reaches the checks */
    int patch = INT_MIN, batch = INT_MIN, iters = INT_MIN, epochs = INT_MIN, no_aug = 0, val_every = INT_MIN,
        val_iters = INT_MIN, lr_every = INT_MIN, width = INT_MIN, cpp = INT_MIN;
    long steps = LONG_MIN, warmup = LONG_MIN, max_memory = LONG_MIN, check_every = 10;
    double lr = NAN, w_aux = NAN, w_sup = NAN, ckpt = NAN, ema = NAN, min_texture = NAN, short_blur = NAN,
           shrink = NAN, noise = NAN;
    uint64_t seed = UINT64_MAX, init_seed = 0;
    cli_opt opts[] = {
        {"--data", 's', &data, "training data, GoPro layout: DIR/<seq>/blur|sharp/*.png"},
        {"--photos", 's', &photos, "or sharp photos: pairs made on the fly (sung synth's blur, fresh each epoch)"},
        {"--crops-per-photo", 'i', &cpp, "with --photos: pairs per photo per epoch (default 20)"},
        {"--min-texture", 'f', &min_texture, "with --photos: windows whose sharp image has less texture (mean absolute "
                                             "difference of neighbouring values) are drawn again, up to 8 times "
                                             "(default 0.004: a clear sky, a bokeh blob; 0: keep every window)"},
        {"--short-blur", 'f', &short_blur, "with --photos: this fraction of the pairs (0..1) has its camera motion scaled "
                                           "down by a factor log-uniform in [1/8, 1], blur of 1-85 px at 1280x720 instead "
                                           "of 8-85, so that the model learns to leave mildly blurred images sharp "
                                           "(default 0)"},
        {"--shrink", 'f', &shrink, "with --photos: each pair's photo is first shrunk by a factor log-uniform in "
                                   "[1, F] (area averaging; at most to patch + 128 px on its shorter side), so that "
                                   "the same motion crosses denser detail, as at the pyramid's coarse scales "
                                   "(default 1: photos as loaded, at most 1920 px)"},
        {"--noise", 'f', &noise, "with --photos: scale of the pairs' Poisson-Gaussian sensor noise, 0..10, as sung "
                                 "synth --noise (default 1; 0: none)"},
        {"--out", 's', &out, "run directory (created): checkpoints, log.csv"},
        {"--resume", 's', &resume, "continue the run in this directory exactly where it stopped"},
        {"--model", 's', &model, "initial weights (.safetensors); else a new model:"},
        {"--variant", 's', &variant, "  sung (default), base or siun"},
        {"--width", 'i', &width, "  width c (default 32)"},
        {"--init-seed", 'u', &init_seed, "  initialisation seed (default 0)"},
        {"--blur-dir", 's', &blur_dir, "blur or blur_gamma (default blur)"},
        {"--patch", 'i', &patch, "crop size (default 256; a multiple of 2^(iters+2))"},
        {"--batch", 'i', &batch, "batch size (default 16)"},
        {"--iters", 'i', &iters, "scale iterations (default 3, the paper's; may change on --resume)"},
        {"--epochs", 'i', &epochs, "epochs (default 500)"},
        {"--steps", 'l', &steps, "stop after this many optimizer steps in all (default: all epochs)"},
        {"--lr", 'f', &lr, "learning rate (default 1e-4)"},
        {"--lr-halve-every", 'i', &lr_every, "halve the learning rate every N epochs (default 100)"},
        {"--warmup", 'l', &warmup, "raise the learning rate linearly over the first N steps (default 0)"},
        {"--max-memory", 'l', &max_memory, "MB for the model and one micro-batch; the batch runs in micro-batches "
                                           "that fit (default: a quarter of the RAM, shared by the processes on a host, "
                                           "at least 1536)"},
        {"--w-aux", 'f', &w_aux, "weight of the edge-aux loss (default 1 for sung, else 0)"},
        {"--w-sup", 'f', &w_sup, "weight of the edge-sup loss (default 1 for sung, else 0)"},
        {"--no-augment", 'b', &no_aug, "no random flips"},
        {"--seed", 'u', &seed, "seed of crops, flips and order (default 0)"},
        {"--val", 's', &val, "validation data (GoPro layout), PSNR on whole images; several sets as DIR,DIR,... "
                             "(up to 8: best.safetensors is then the best mean of their PSNRs)"},
        {"--val-every", 'i', &val_every, "validate every N epochs (default 10)"},
        {"--val-iters", 'i', &val_iters, "scale iterations for validation (default 4)"},
        {"--checkpoint-minutes", 'f', &ckpt, "save a checkpoint every N minutes (default 10)"},
        {"--dump-grads", 's', &dump, "write the first step's gradients to this file"},
        {"--precision", 's', &prec, "bf16 (default where the CPU has avx512_bf16 and the width is even): mixed-precision "
                                    "convolutions, fp32 weights, Adam, losses and validation; or fp32"},
        {"--ema", 'f', &ema, "keep a moving average of the weights with this decay (e.g. 0.999; 0: none, the "
                             "default), validated and written as last/best.safetensors; the steps use the weights"},
        {"--ema-warmup", 'b', &ema_warmup, "the average's k-th update uses the decay min(decay, (1+k)/(10+k)), so that "
                                           "it forgets its starting weights within tens of steps (kept by the run)"},
        {"--threads", 's', &threads_opt, "OpenMP threads: N, or auto (default): every CPU while the machine is otherwise "
                                         "idle, fewer while other processes keep CPUs busy (measured every few seconds; "
                                         "OMP_NUM_THREADS or mpirun fixes the count)"},
        {"--check-every", 'l', &check_every, "under MPI: check that the processes' weights agree every N steps "
                                             "(default 10)"},
        {0},
    };
    int n = cli_parse("train", "--data DIR | --photos DIR  --out RUNDIR [--model W.safetensors | --variant V --width C] [options]\n"
                      "       sung train --data DIR | --photos DIR  --resume RUNDIR [--steps K] [--epochs E] [--lr X] [--val DIR]\n"
                      "       mpirun -np N sung train ...   (data-parallel: the same run, N processes)",
                      opts, argc, argv, NULL, 0);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (!data && !photos) return cli_bad_value("train", "training data is required: --data DIR (GoPro layout) or --photos DIR");
    if (data && photos) return cli_bad_value("train", "give either --data or --photos, not both");
    if (!photos && GIVEN(cpp)) return cli_bad_value("train", "--crops-per-photo goes with --photos");
    if (GIVEN(cpp) && (cpp < 1 || cpp > 100000)) return cli_bad_value("train", "--crops-per-photo must be 1..100000");
    if (!photos && GIVEN(min_texture)) return cli_bad_value("train", "--min-texture goes with --photos");
    if (GIVEN(min_texture) && !(min_texture >= 0 && min_texture <= 1))
        return cli_bad_value("train", "--min-texture must be in [0, 1], not %g", min_texture);
    if (!photos && GIVEN(short_blur)) return cli_bad_value("train", "--short-blur goes with --photos");
    if (GIVEN(short_blur) && !(short_blur >= 0 && short_blur <= 1))
        return cli_bad_value("train", "--short-blur must be a fraction in [0, 1], not %g", short_blur);
    if (!photos && GIVEN(shrink)) return cli_bad_value("train", "--shrink goes with --photos");
    if (GIVEN(shrink) && !(shrink >= 1 && shrink <= PHOTOS_SHRINK_MAX))
        return cli_bad_value("train", "--shrink must be a factor in [1, %g], not %g", PHOTOS_SHRINK_MAX, shrink);
    if (!photos && GIVEN(noise)) return cli_bad_value("train", "--noise goes with --photos");
    if (GIVEN(noise) && !(noise >= 0 && noise <= PHOTOS_NOISE_MAX))
        return cli_bad_value("train", "--noise must be in [0, %g], not %g", PHOTOS_NOISE_MAX, noise);
    if (GIVEN(warmup) && warmup < 0) return cli_bad_value("train", "--warmup must not be negative");
    if (GIVEN(max_memory) && (max_memory < 64 || max_memory > (1L << 30)))
        return cli_bad_value("train", "--max-memory must be at least 64 (MB)");
    if (check_every < 1) return cli_bad_value("train", "--check-every must be at least 1");
    if (GIVEN(ema) && !(ema >= 0 && ema < 1))
        return cli_bad_value("train", "--ema must be a decay in [0, 1) (0: no average), not %g", ema);
    int threads = 0; /* 0: auto */
    if (threads_opt && strcmp(threads_opt, "auto")) {
        char *end;
        long t = strtol(threads_opt, &end, 10);
        if (end == threads_opt || *end || t < 1 || t > CLI_THREADS_MAX)
            return cli_bad_value("train", "--threads must be auto or a number of threads 1..%d, not '%s'", CLI_THREADS_MAX,
                                 threads_opt);
        threads = (int)t;
    }
    if (resume && out) return cli_bad_value("train", "give either --out (a new run) or --resume (an existing one), not both");
    if (!resume && !out) return cli_bad_value("train", "--out RUNDIR is required");
    if (resume && (model || variant || GIVEN(width) || blur_dir || GIVEN(patch) || GIVEN(batch) ||
                   no_aug || seed != UINT64_MAX || dump ||
                   GIVEN(cpp) || GIVEN(warmup)))
        return cli_bad_value("train", "--resume continues a run with its own options (stored in RUNDIR/state.safetensors); "
                                 "only --steps, --epochs, --lr, --lr-halve-every, --iters, --w-aux, --w-sup, --max-memory, --precision, "
                                 "--val, --val-every, --val-iters, --checkpoint-minutes, --min-texture, --short-blur, --shrink, --noise, "
                                 "--ema, --ema-warmup and --threads may change");
    if (model && (variant || GIVEN(width))) return cli_bad_value("train", "--model and --variant/--width exclude each other");
    if (GIVEN(steps) && steps < 1) return cli_bad_value("train", "--steps must be at least 1");
    if (prec && sung_precision_parse(prec) < 0) return cli_bad_value("train", "--precision must be fp32 or bf16, not '%s'", prec);

    dist d;
    if (dist_init(&d, NULL, NULL)) return 1;
#ifdef _OPENMP
    if (threads) omp_set_num_threads(d.threads = threads);
#endif
    /* auto: one process whose thread count nobody fixed follows the free CPUs */
    fairshare fs;
    fair_init(&fs, !threads && d.size == 1 && !getenv("OMP_NUM_THREADS"), d.threads);
    if (d.rank > 0 && !freopen("/dev/null", "w", stdout)) { /* rank 0 speaks for the job */
        dist_finalize(&d);
        return cli_fail("train", "rank %d: cannot silence stdout", d.rank);
    }
    const char *rundir = resume ? resume : out;
    cmd_opts c;
    sung_run run = {0};
    sung_model *m = NULL;
    sung_error err;
    pairs P = {0};
    val_sets VS = {0};
    photo_set PS = {0};
    int npairs = 0, rc = 0, P_ = 0, shard_max = 1, val_changed = 0;
    float *bb = NULL, *gb = NULL;
    sung_sample *smp = NULL;
    prefetch pf = {0};
    batch_source src;
    FILE *log = NULL, *vlog = NULL, *ilog = NULL;

    if (resume) {
        sung_meta *meta;
        int nm;
        if (sung_run_load(&m, &run, path_in(rundir, "state.safetensors"), &meta, &nm, &err)) {
            rc = cli_fail("train", "--resume: %s", err.msg);
            goto setup_done;
        }
        read_cmd_opts(meta, nm, &c);
        sung_meta_free(meta, nm);
        if (c.photos != !!photos) {
            rc = cli_bad_value("train", "--resume: the run in %s trained on %s; give %s again", rundir,
                               c.photos ? "photos" : "pairs", c.photos ? "--photos DIR" : "--data DIR");
            goto setup_done;
        }
        if ((rc = load_data(data, photos, &c, &P, &PS, &npairs))) goto setup_done;
        if (npairs != run.npairs) {
            rc = cli_fail("train", "--resume: the run had %d training pairs, the data now has %d", run.npairs, npairs);
            goto setup_done;
        }
        if (GIVEN(lr)) run.o.lr = lr;
        if (GIVEN(lr_every)) run.o.lr_every = lr_every;
        if (GIVEN(iters)) run.o.iters = iters; /* a curriculum step: the crops stay as they are */
        if (GIVEN(w_aux)) run.o.w_aux = w_aux; /* the edge terms' weights: SPEC's options */
        if (GIVEN(w_sup)) run.o.w_sup = w_sup;
        if (GIVEN(epochs)) run.o.epochs = epochs;
        if (GIVEN(steps)) run.o.steps = steps;
        if (GIVEN(max_memory)) c.max_memory = max_memory;
        if (GIVEN(val_every)) c.val_every = val_every;
        if (GIVEN(val_iters)) c.val_iters = val_iters;
        if (GIVEN(ckpt)) c.ckpt_minutes = ckpt;
        if (val && strcmp(val, c.val)) {
            if (snprintf(c.val, sizeof c.val, "%s", val) >= (int)sizeof c.val) {
                rc = cli_fail("train", "--val: list too long");
                goto setup_done;
            }
            val_changed = 1;
        }
        if (prec) snprintf(c.precision, sizeof c.precision, "%s", prec);
        if (GIVEN(min_texture)) c.min_texture = min_texture;
        if (GIVEN(short_blur)) c.short_blur = short_blur;
        if (GIVEN(shrink)) c.shrink = shrink;
        if (GIVEN(noise)) c.noise = noise;
        sung_run check; /* the changed options checked as a new run's */
        if (sung_run_init(&check, &run.o, npairs, m, &err)) {
            rc = cli_bad_value("train", "%s", err.msg);
            goto setup_done;
        }
        sung_run_free(&check);
        if (d.rank == 0 && ((rc = trim_log(rundir, "log.csv", run.step)) || (rc = trim_log(rundir, "val.csv", run.step)) ||
                            (rc = trim_log(rundir, "val-images.csv", run.step))))
            goto setup_done;
    } else {
        c = (cmd_opts){.photos = !!photos, .crops_per_photo = GIVEN(cpp) ? cpp : photos ? 20 : 1,
                       .min_texture = GIVEN(min_texture) ? min_texture : PHOTOS_DRAW_DEFAULT.min_texture,
                       .short_blur = GIVEN(short_blur) ? short_blur : PHOTOS_DRAW_DEFAULT.short_blur,
                       .shrink = GIVEN(shrink) ? shrink : PHOTOS_DRAW_DEFAULT.shrink,
                       .noise = GIVEN(noise) ? noise : PHOTOS_DRAW_DEFAULT.noise,
                       .val_every = GIVEN(val_every) ? val_every : 10, .val_iters = GIVEN(val_iters) ? val_iters : 4,
                       .max_memory = GIVEN(max_memory) ? max_memory : 0,
                       .ckpt_minutes = GIVEN(ckpt) ? ckpt : 10};
        snprintf(c.blur_dir, sizeof c.blur_dir, "%s", blur_dir ? blur_dir : "blur");
        if (val && snprintf(c.val, sizeof c.val, "%s", val) >= (int)sizeof c.val) {
            rc = cli_fail("train", "--val: path too long");
            goto setup_done;
        }
        if (strcmp(c.blur_dir, "blur") && strcmp(c.blur_dir, "blur_gamma")) {
            rc = cli_bad_value("train", "--blur-dir must be blur or blur_gamma, not '%s'", c.blur_dir);
            goto setup_done;
        }
        if (model) {
            if (sung_model_load(&m, model, &err)) rc = cli_fail("train", "%s", err.msg);
        } else {
            int v = sung_variant_parse(variant ? variant : "sung");
            if (v < 0)
                rc = cli_bad_value("train", "--variant must be sung, base or siun, not '%s'", variant);
            else if (sung_model_create(&m, (sung_variant)v, GIVEN(width) ? width : 32, init_seed, &err))
                rc = cli_fail("train", "%s", err.msg);
        }
        if (rc) goto setup_done;
        /* default: bf16 where it runs (avx512_bf16, an even width); its loss curve and
         * validation PSNR match fp32 (docs/BENCHMARKS.md) at a fraction of the time */
        snprintf(c.precision, sizeof c.precision, "%s",
                 prec ? prec : sung_model_set_precision(m, SUNG_BF16, NULL) == SUNG_OK ? "bf16" : "fp32");
        sung_run_opts ro = sung_run_defaults(m);
        if (GIVEN(patch)) ro.patch = patch;
        if (GIVEN(batch)) ro.batch = batch;
        if (GIVEN(iters)) ro.iters = iters;
        if (GIVEN(epochs)) ro.epochs = epochs;
        if (GIVEN(lr)) ro.lr = lr;
        if (GIVEN(lr_every)) ro.lr_every = lr_every;
        if (GIVEN(warmup)) ro.warmup = warmup;
        if (GIVEN(w_aux)) ro.w_aux = w_aux;
        if (GIVEN(w_sup)) ro.w_sup = w_sup;
        if (seed != UINT64_MAX) ro.seed = seed;
        ro.steps = GIVEN(steps) ? steps : -1, ro.augment = !no_aug;
        /* the options first (a usage error needs no data), then the data */
        if (sung_run_init(&run, &ro, 1, m, &err)) {
            rc = cli_bad_value("train", "%s", err.msg);
            goto setup_done;
        }
        sung_run_free(&run);
        if ((rc = load_data(data, photos, &c, &P, &PS, &npairs))) goto setup_done;
        if (sung_run_init(&run, &ro, npairs, m, &err)) {
            rc = cli_fail("train", "%s", err.msg);
            goto setup_done;
        }
    }
    if (c.val_every < 1) rc = cli_bad_value("train", "--val-every must be at least 1");
    else if (c.val_iters < 1 || c.val_iters > SUNG_MAX_ITERS) rc = cli_bad_value("train", "--val-iters must be 1..%d", SUNG_MAX_ITERS);
    else if (!(c.ckpt_minutes > 0)) rc = cli_bad_value("train", "--checkpoint-minutes must be positive");
    else if (sung_precision_parse(c.precision) < 0)
        rc = cli_bad_value("train", "the run's precision '%s' is not fp32 or bf16", c.precision);
    else if (sung_model_set_precision(m, (sung_precision)sung_precision_parse(c.precision), &err))
        rc = cli_bad_value("train", "--precision %s: %s", c.precision, err.msg);
    else if (GIVEN(ema) && sung_train_ema(m, ema, &err))
        rc = cli_fail("train", "--ema %g: %s", ema, err.msg);
    else if (ema_warmup && sung_train_ema_decay(m) == 0)
        rc = cli_bad_value("train", "--ema-warmup warms up an average: give --ema DECAY too");
    else if (ema_warmup)
        sung_train_ema_warmup(m, 1, NULL);
    if (rc) goto setup_done;
    if ((rc = val_sets_load("train", c.val, d.rank == 0, &VS))) goto setup_done;
    if (val_changed && run.best_psnr > -INFINITY) {
        /* a best chosen on other data is no bar for this data's PSNRs: its weights are kept
         * aside (under a name not yet taken), and the next validation starts a new best */
        char kept[96];
        int moved = 0;
        if (d.rank == 0 && access(path_in(rundir, "best.safetensors"), F_OK) == 0) {
            for (int k = 1; k < 100 && !moved; k++) {
                snprintf(kept, sizeof kept, k == 1 ? "best-until-step%ld.safetensors" : "best-until-step%ld-%d.safetensors",
                         run.step, k);
                if (access(path_in(rundir, kept), F_OK) == 0) continue;
                if (rename(path_in(rundir, "best.safetensors"), path_in(rundir, kept))) {
                    rc = cli_fail("train", "%s: %s", path_in(rundir, kept), strerror(errno));
                    goto setup_done;
                }
                moved = 1;
            }
            if (!moved) {
                rc = cli_fail("train", "%s: no free name to keep best.safetensors under", rundir);
                goto setup_done;
            }
        }
        if (moved)
            printf("the validation data changed: the best so far (%.3f dB) is kept as %s; the next validation starts a "
                   "new best\n", run.best_psnr, path_in(rundir, kept));
        else if (d.rank == 0)
            printf("the validation data changed: the next validation starts a new best\n");
        run.best_psnr = -INFINITY;
        /* at once: a state that still named the old data and its best, after that best was
         * moved, would let the next validation on the old data take it for lost */
        if ((rc = save_state(&d, m, &run, rundir, &c))) goto setup_done;
    }
    if (d.rank == 0 && !resume && make_dirs(rundir)) {
        rc = cli_fail("train", "%s: cannot create the run directory: %s", rundir, strerror(errno));
        goto setup_done;
    }
    if (d.rank == 0 && !resume && access(path_in(rundir, "state.safetensors"), F_OK) == 0) {
        rc = cli_fail("train", "%s already holds a run: continue it with --resume %s, or choose another --out", rundir, rundir);
        goto setup_done;
    }
    P_ = run.o.patch, shard_max = (run.o.batch + d.size - 1) / d.size;
    src = (batch_source){photos ? NULL : &P, photos ? &PS : NULL, P_, {.min_texture = c.min_texture, .short_blur = c.short_blur, .shrink = c.shrink, .noise = c.noise}};
    bb = malloc((size_t)P_ * P_ * 3 * shard_max * sizeof *bb);
    gb = malloc((size_t)P_ * P_ * 3 * shard_max * sizeof *gb);
    smp = malloc((size_t)shard_max * sizeof *smp);
    if (!bb || !gb || !smp || prefetch_alloc(&pf, &src, shard_max)) {
        rc = cli_fail("train", "out of memory for a batch of %d %dx%d crops", shard_max, P_, P_);
        goto setup_done;
    }
    if (d.rank == 0) {
        log = fopen(path_in(rundir, "log.csv"), "a");
        if (!log) {
            rc = cli_fail("train", "%s: %s", path_in(rundir, "log.csv"), strerror(errno));
            goto setup_done;
        }
        if (ftell(log) == 0) fprintf(log, "step,epoch,lr,loss,pixel,edge_aux,edge_sup,val_psnr,seconds\n");
        if (VS.n && !(vlog = fopen(path_in(rundir, "val.csv"), "a"))) {
            rc = cli_fail("train", "%s: %s", path_in(rundir, "val.csv"), strerror(errno));
            goto setup_done;
        }
        if (VS.n && !(ilog = fopen(path_in(rundir, "val-images.csv"), "a"))) {
            rc = cli_fail("train", "%s: %s", path_in(rundir, "val-images.csv"), strerror(errno));
            goto setup_done;
        }
    }
setup_done:
    /* every process goes on, or none does */
    if ((rc = dist_agree(&d, rc))) goto done;
    if (!resume && (rc = dist_bcast_weights(&d, m))) goto done;
    if ((rc = dist_check_weights(&d, m, run.step))) goto done;

    sung_train_opts to = {run.o.iters, run.o.w_aux, run.o.w_sup};
    long total = sung_run_total(&run), per_epoch = (npairs + run.o.batch - 1) / run.o.batch;
    size_t work;
    long budget = c.max_memory ? c.max_memory : auto_max_memory(&d);
    int micro = sung_train_micro(m, shard_max, P_, P_, &to, (size_t)budget << 20, &work);
    double model_mb = 8.0 * sizeof(float) * sung_model_param_count(m) / 1048576.0, micro_mb = work / 1048576.0;
    printf("training %s (width %d) on %d %s, batch %d, %dx%d crops, %d iterations, %d epochs (%ld steps each), %s, %s\n",
           sung_variant_name(sung_model_variant(m)), sung_model_width(m), npairs,
           c.photos ? "pairs made from photos per epoch" : "pairs", run.o.batch, P_, P_, run.o.iters, run.o.epochs,
           per_epoch, sung_isa(), c.precision);
    printf("loss weights: pixel 1, edge-aux %g (--w-aux), edge-sup %g (--w-sup)\n", run.o.w_aux, run.o.w_sup);
    if (VS.n) {
        printf("validating on");
        for (int i = 0; i < VS.n; i++) printf("%s %s", i ? "," : "", VS.s[i].name);
        printf(" every %d epoch%s and at the end, %d iterations (--val-every, --val-iters)\n", c.val_every,
               c.val_every == 1 ? "" : "s", c.val_iters);
    }
    printf("a checkpoint every %g minutes (--checkpoint-minutes)\n", c.ckpt_minutes);
    if (c.photos) printf("photo windows with texture under %g are drawn again (--min-texture)\n", c.min_texture);
    if (c.photos && c.short_blur > 0)
        printf("%.0f %% of the pairs have their camera motion scaled by 1/8..1 (--short-blur %g)\n",
               100.0 * c.short_blur, c.short_blur);
    if (c.photos && c.shrink > 1)
        printf("each pair's photo is shrunk by a factor of 1..%g first (--shrink %g)\n", c.shrink, c.shrink);
    if (c.photos && c.noise != 1) printf("the pairs' sensor noise is scaled by %g (--noise %g)\n", c.noise, c.noise);
    if (d.size > 1)
        printf("data-parallel: %d processes (%d on this host), %d thread%s each, up to %d images of each batch a process\n",
               d.size, d.local_size, d.threads, d.threads == 1 ? "" : "s", shard_max);
    printf("micro-batches of %d (%d per step): about %.0f MB for the model and %.0f MB of working memory, of %ld MB%s%s\n",
           micro, (shard_max + micro - 1) / micro, model_mb, micro_mb, budget, c.max_memory ? "" : " (a quarter of the RAM)",
           model_mb + micro_mb > budget ? " -- more than --max-memory, even one image at a time" : "");
    if (resume) printf("resuming at step %ld (epoch %d)\n", run.step, run.epoch + 1);
    if (sung_train_ema_decay(m) > 0)
        printf("keeping a moving average of the weights (decay %g%s): validated, and written as last/best.safetensors\n",
               sung_train_ema_decay(m), sung_train_ema_warmup_on(m) ? ", warmed up: min(decay, (1+k)/(10+k)) at update k" : "");
    fflush(stdout);
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term); /* what schedulers, mpirun and `docker stop` send: save too */
    d.stop = &interrupted, d.dump_grads = dump, d.model = m;
    int tty = isatty(STDOUT_FILENO);
    double t_start = cli_now(), t_ckpt = t_start, elapsed0 = run.elapsed, t_data = 0;
    long step0 = run.step, ep_kept = 0, ep_redrawn = 0; /* photo windows since the epoch began (or the resume) */
    /* the input pipeline: batch j + 1 is made while batch j trains; the run moves past a
     * batch only when it has trained, so a checkpoint never counts a batch made but not
     * trained on */
    sung_batch cur = sung_run_next(&run, NULL);
    int first, cnt;
    sung_shard(cur.n, d.rank, d.size, &first, &cnt);
    if (run.step < total) {
        if (sung_run_samples(&run, &cur, first, cnt, smp, &err)) {
            rc = cli_fail("train", "%s", err.msg);
            dist_abort(&d, rc);
            goto done;
        }
        prefetch_start(&pf, smp, cnt);
    }
    while (run.step < total && !(d.size > 1 ? d.agreed_stop : interrupted)) {
        double t_data0 = cli_now();
        prefetch_wait(&pf);
        if (pf.rc) {
            rc = 1;
            dist_abort(&d, rc);
            goto done;
        }
        float *t = bb; /* take the batch: swap the buffers */
        bb = pf.bb, pf.bb = t;
        t = gb, gb = pf.gb, pf.gb = t;
        int here = cnt;
        ep_kept += here, ep_redrawn += pf.redrawn; /* read before the next batch's thread writes it */
        sung_batch next = sung_run_next(&run, &cur);
        sung_shard(next.n, d.rank, d.size, &first, &cnt);
        if (run.step + 1 < total) {
            if (sung_run_samples(&run, &next, first, cnt, smp, &err)) {
                rc = cli_fail("train", "%s", err.msg);
                dist_abort(&d, rc);
                goto done;
            }
            prefetch_start(&pf, smp, cnt);
        }
        sung_losses L;
        double t0 = cli_now(), lr_now = sung_run_lr(&run, &cur);
        t_data += t0 - t_data0;
        d.step = run.step;
        if (sung_train_step(m, bb, gb, here, cur.n, micro, P_, P_, &to, lr_now, dist_reduce, &d, &L, &err)) {
            rc = cli_fail("train", "%s", err.msg);
            dist_abort(&d, rc);
            goto done;
        }
        sung_run_advance(&run, &cur);
        cur = next;
        double now = cli_now(), dt = now - t0;
        if (fair_step(&fs))
            printf("%sthreads: %d (other processes used %.1f of the %d CPUs)\n", tty ? "\n" : "", fs.cur, fs.others,
                   fs.cpus);
        run.elapsed = elapsed0 + (now - t_start);
        double pix = 0, aux = 0, sup = 0;
        for (int i = 0; i < run.o.iters; i++) pix += L.pixel[i], aux += L.edge_aux[i], sup += L.edge_sup[i];
        if (log)
            fprintf(log, "%ld,%d,%.6g,%.6f,%.6f,%.6f,%.6f,,%.1f\n", run.step, run.epoch + 1, lr_now, L.total, pix,
                    aux, sup, run.elapsed);
        double rate = (now - t_start) / (run.step - step0), eta = rate * (total - run.step);
        printf("%sepoch %d  step %ld/%ld  loss %.5f (pixel %.5f  edge-aux %.5f  edge-sup %.5f)  %.1f img/s  "
               "data %.0f%%  ETA %dh%02dm%s",
               tty ? "\r" : "", run.epoch + 1, run.step, total, L.total, pix, aux, sup, run.o.batch / dt,
               100.0 * t_data / (now - t_start), (int)(eta / 3600), (int)fmod(eta / 60, 60), tty ? "   " : "\n");
        fflush(stdout);
        int epoch_end = run.pos == npairs;
        if (epoch_end && c.photos && c.min_texture > 0) {
            if (d.rank == 0)
                printf("%sepoch %d: %ld of %ld photo windows drawn (%.1f %%) put back for texture under %g%s\n",
                       tty ? "\n" : "", run.epoch + 1, ep_redrawn, ep_kept + ep_redrawn,
                       100.0 * ep_redrawn / (ep_kept + ep_redrawn ? ep_kept + ep_redrawn : 1), c.min_texture,
                       d.size > 1 ? " (this process's share)" : "");
            ep_kept = ep_redrawn = 0;
        }
        if (d.rank == 0 && VS.n && epoch_end && ((run.epoch + 1) % c.val_every == 0 || run.step == total)) {
            double psnr;
            int avg = sung_train_ema_decay(m) > 0; /* the average is what the run ships */
            if (avg) sung_model_swap_ema(m, NULL);
            sung_status vst = val_sets_run(m, &VS, c.val_iters, &psnr, &err);
            if (avg) sung_model_swap_ema(m, NULL);
            if (vst) {
                rc = cli_fail("train", "validation: %s", err.msg);
                dist_abort(&d, rc);
                goto done;
            }
            fprintf(log, "%ld,%d,,,,,,%.4f,%.1f\n", run.step, run.epoch + 1, psnr, run.elapsed);
            if (val_sets_log(vlog, ilog, &VS, run.step, run.epoch + 1)) {
                rc = cli_fail("train", "%s or %s: %s", path_in(rundir, "val.csv"), path_in(rundir, "val-images.csv"),
                              strerror(errno));
                dist_abort(&d, rc);
                goto done;
            }
            val_sets_print(&VS, run.epoch + 1, psnr, psnr > run.best_psnr, tty ? "\n" : "");
            if (psnr > run.best_psnr) {
                run.best_psnr = psnr;
                if (save_weights(m, rundir, "best.safetensors", &err)) {
                    rc = cli_fail("train", "%s", err.msg);
                    dist_abort(&d, rc);
                    goto done;
                }
            }
        }
        if (log) fflush(log);
        if ((run.step % check_every == 0 || run.step == total) && (rc = dist_check_weights(&d, m, run.step)))
            goto done;
        if (now - t_ckpt >= c.ckpt_minutes * 60 || run.step == total) {
            if ((rc = save_state(&d, m, &run, rundir, &c))) {
                dist_abort(&d, rc);
                goto done;
            }
            t_ckpt = now;
        }
    }
    if (tty) printf("\n");
    int stop = d.size > 1 ? d.agreed_stop : interrupted;
    if (stop) {
        if ((rc = save_state(&d, m, &run, rundir, &c))) goto done;
        printf("interrupted at step %ld: saved %s; continue with: sung train %s %s --resume %s\n", run.step,
               path_in(rundir, "state.safetensors"), c.photos ? "--photos" : "--data", c.photos ? photos : data, rundir);
        rc = 128 + stop; /* 130 for Ctrl-C, 143 for SIGTERM */
    } else {
        printf("done: %ld steps; wrote %s\n", run.step, path_in(rundir, "last.safetensors"));
        if (d.size > 1 && run.step > step0)
            printf("reductions: %.3f s a step (%.1f%% of the time), and %.3f s a step waiting for the slowest process\n",
                   d.reduce_seconds / (run.step - step0), 100 * d.reduce_seconds / (cli_now() - t_start),
                   d.wait_seconds / (run.step - step0));
    }
    /* every process waits for rank 0's checkpoint: mpirun ends a job whose process exits
     * non-zero, and must not end rank 0 while it writes */
    if (dist_agree(&d, rc > 128 ? 0 : rc)) rc = rc ? rc : 1;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
done:
    prefetch_free(&pf);
    if (log) fclose(log);
    if (vlog) fclose(vlog);
    if (ilog) fclose(ilog);
    pairs_free(&P);
    val_sets_free(&VS);
    photos_free(&PS);
    free(bb), free(gb), free(smp);
    sung_run_free(&run);
    sung_model_free(m);
    dist_finalize(&d);
    return rc;
}
