/* sung — image deblurring with the SUNG network (Min & Kang, "Edge Map-guided
 * Scale-iterative Image Deblurring"), in C.
 *
 * The whole public API. A model is one of three variants ("sung", the paper's network;
 * "base", its ablation without edge guidance; "siun", the baseline of Ye et al.) at
 * some width c (the paper's c = 32). Weights are safetensors files whose names and
 * shapes are PyTorch's (../shared/SPEC.md §7).
 *
 *   // deblur-one WEIGHTS IN OUT; build: cc deblur-one.c $(pkg-config --cflags --libs sung)
 *   #include <stdio.h>
 *   #include <sung.h>
 *
 *   int main(int argc, char **argv)
 *   {
 *       if (argc != 4) return 2;
 *       sung_error err;
 *       sung_model *m = NULL;
 *       sung_image in = {0}, out = {0};
 *       int failed = sung_model_load(&m, argv[1], &err) || sung_image_load(&in, argv[2], &err) ||
 *                    sung_deblur(m, &in, 4, &out, &err) || // 4 scale iterations, the paper's best
 *                    sung_image_save(&out, argv[3], &err);
 *       if (failed) fprintf(stderr, "%s\n", err.msg);
 *       sung_image_free(&in);
 *       sung_image_free(&out);
 *       sung_model_free(m);
 *       return failed;
 *   }
 *
 * (a complete program: tests/test_install.sh builds it against an installed copy, shared
 * and static, and runs it.)
 *
 * Training: sung_train_grads() runs forward and backward over the scales of one batch
 * and leaves the gradient of the loss in the model; sung_train_apply() takes one Adam
 * step with it. The trainer (src/train.c) is llm.c's loop: a sung_run says which pairs,
 * crops and flips each global batch holds (per-purpose random streams, independent of
 * how the batch is split), sung_train_step() zeroes, accumulates sum-based losses over
 * micro-batches, calls a reduction hook (MPI_Allreduce in `sung train`) and updates;
 * sung_run_save/load checkpoint it for a bit-exact resume.
 *
 * Conventions: functions return 0 (SUNG_OK) or a sung_status, and then fill err->msg
 * with what went wrong and where. The library never prints and never exits. Freeing
 * NULL is harmless. Images are RGB floats in [0, 1], pixel-interleaved (H×W×3). Sizes
 * are limited to SUNG_MAX_SIDE (2^15) pixels a side, and images read from files to
 * SUNG_MAX_PIXELS (10^8) pixels. Threads: OpenMP (OMP_NUM_THREADS).
 */
#ifndef SUNG_H
#define SUNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SUNG_OK = 0,
    SUNG_ERR_ARG,     /* a bad argument (size, variant, option) */
    SUNG_ERR_IO,      /* a file could not be read or written */
    SUNG_ERR_FORMAT,  /* a file's content is not what it should be */
    SUNG_ERR_NOMEM,   /* out of memory */
} sung_status;

typedef struct {
    char msg[512];
} sung_error;

/* Limits on images. A side above SUNG_MAX_SIDE is refused everywhere; sung_image_load
 * also refuses a PNG or JPEG of more than SUNG_MAX_PIXELS pixels (w·h, 100 Mpx: about
 * 1.2 GB as floats before the network's own memory), read from the file's header before
 * anything is allocated or decoded, so that a small file declaring a huge image (a
 * decompression bomb) costs nothing. */
#define SUNG_MAX_SIDE 32768
#define SUNG_MAX_PIXELS 100000000L

typedef enum { SUNG_SUNG = 0, SUNG_BASE = 1, SUNG_SIUN = 2 } sung_variant;

typedef struct sung_model sung_model;

/* ---- models and weights ---------------------------------------------------------- */

/* Parses "sung", "base" or "siun"; -1 if none. */
int sung_variant_parse(const char *name);
const char *sung_variant_name(sung_variant v);

/* A new model with Glorot-uniform weights from seed (the documented SplitMix64 scheme
 * of docs/WEIGHTS.md, identical in tests/ref/sung_ref.py), zero biases. */
sung_status sung_model_create(sung_model **out, sung_variant v, int width, uint64_t seed,
                              sung_error *err);
/* Reads a safetensors file (F32, F16 or BF16); metadata "variant" and "width" say what
 * to build. Every tensor must be present with its exact shape, and no other. Every value
 * must be finite with |value| <= SUNG_MAX_WEIGHT (1e6; the weights trained here stay
 * below 1): NaN, Inf or a larger value is SUNG_ERR_FORMAT naming the tensor and the flat
 * index. sung_train_state_load checks the same, and that the Adam moments are finite. */
sung_status sung_model_load(sung_model **out, const char *path, sung_error *err);
#define SUNG_MAX_WEIGHT 1e6
/* Writes F32 (or F16 when half is non-zero) atomically: a temporary file renamed over
 * path, so an existing file is never left half-written. */
sung_status sung_model_save(const sung_model *m, const char *path, int half, sung_error *err);
/* Writes the current gradients with the parameter names (F32). */
sung_status sung_model_save_grads(const sung_model *m, const char *path, sung_error *err);
void sung_model_free(sung_model *m);

sung_variant sung_model_variant(const sung_model *m);
int sung_model_width(const sung_model *m);
size_t sung_model_param_count(const sung_model *m);
int sung_model_tensor_count(const sung_model *m);
/* Convolution FLOPs (2 per multiply-add) of deblurring an h×w image with `iters`
 * scale iterations (after its padding to a multiple of 2^(iters+2)). */
double sung_model_flops(const sung_model *m, int iters, int h, int w);
/* Parameter i (0 ≤ i < tensor count): its name, shape (ndim ≤ 4) and float data in
 * PyTorch layout; grad may be requested too. Returns NULL for a bad index. */
const char *sung_model_tensor(const sung_model *m, int i, int *ndim, int shape[4],
                              float **data, float **grad);

/* ---- images ---------------------------------------------------------------------- */

typedef struct {
    int w, h;
    float *data; /* h·w·3 floats, RGB interleaved, in [0, 1] */
} sung_image;

sung_status sung_image_alloc(sung_image *im, int w, int h, sung_error *err);
/* PNG (8 or 16 bit, gray / RGB / palette, alpha dropped) or JPEG, told apart by their
 * first bytes. Only regular files are read (a FIFO or device is SUNG_ERR_IO, without
 * waiting on it); a side above SUNG_MAX_SIDE or more than SUNG_MAX_PIXELS pixels is
 * SUNG_ERR_FORMAT, found from the header before decoding. An EXIF orientation (JPEG APP1,
 * or a PNG eXIf chunk before the image data) is applied: the pixels come out upright, as a
 * viewer shows them (orientations 5-8 swap w and h; 2-8 take a second copy of the pixels
 * while turning; a malformed or out-of-range tag is ignored, as if it were 1). */
sung_status sung_image_load(sung_image *im, const char *path, sung_error *err);
/* What a file carries besides its pixels, to be written again with them. */
typedef struct {
    int depth;         /* bits per sample in the file: 16 for a 16-bit PNG, else 8 */
    int orientation;   /* the EXIF orientation the file had (1..8; 1 when none or malformed),
                        * already applied to the pixels */
    uint8_t *exif;     /* the EXIF block (TIFF header and IFDs, without JPEG's "Exif\0\0"),
                        * its orientation set to 1 since the pixels are upright; NULL when the
                        * file has none or its IFD0 is unreadable */
    size_t exif_size;
    uint8_t *icc;      /* the ICC profile, kept only for an RGB colour space (the output is
                        * RGB: a gray image's profile would not fit it); NULL when none */
    size_t icc_size;
} sung_image_meta;
/* sung_image_load that also fills *meta (may be NULL). meta->exif and meta->icc are
 * allocated here and freed by sung_image_meta_free; on failure *meta is empty. */
sung_status sung_image_load_ex(sung_image *im, sung_image_meta *meta, const char *path, sung_error *err);
void sung_image_meta_free(sung_image_meta *meta);
/* 8-bit RGB: clamp to [0, 1], round(255·x). PNG, or JPEG (quality 95) when the path
 * ends in .jpg / .jpeg. Atomic like sung_model_save: written to "path.tmp.PID" and
 * renamed; errors name path and the system's reason ("No space left on device").
 * Temporary files of the same path left by a killed writer (PID no longer running) are
 * removed, here and by the weights writers. */
sung_status sung_image_save(const sung_image *im, const char *path, sung_error *err);
typedef struct {
    int depth;         /* 8 (0 means 8) or 16: round(65535·x), PNG only */
    int quality;       /* JPEG quality 1..100 (0 means 95); >= 90 keeps full-resolution chroma */
    const sung_image_meta *meta; /* EXIF and ICC profile to write (NULL: none; its depth and
                        * orientation are not used): PNG eXIf / iCCP chunks, JPEG APP1 "Exif"
                        * (then without the JFIF marker; an EXIF block over 65527 bytes, which
                        * one marker cannot hold, is left out) and APP2 ICC_PROFILE markers */
} sung_image_save_opts;
/* sung_image_save with options (o may be NULL: the defaults); a bad depth or quality, or
 * depth 16 for a JPEG, is SUNG_ERR_ARG. */
sung_status sung_image_save_ex(const sung_image *im, const char *path, const sung_image_save_opts *o,
                               sung_error *err);
/* out = the edge map M of SPEC §3 (per channel |dx| + |dy|, forward differences, 0 in
 * the last column / row), the same function the model and its losses use; out is
 * allocated here. */
sung_status sung_edge_map(const sung_image *in, sung_image *out, sung_error *err);
/* The same 8-bit quantisation into h·w·3 bytes. */
void sung_image_to_u8(const sung_image *im, uint8_t *out);
/* out = im shrunk by area averaging (each output pixel the mean of the input area it
 * covers) so that its longer side is at most max_side; a copy when it already is. */
sung_status sung_image_shrink(const sung_image *im, int max_side, sung_image *out, sung_error *err);
void sung_image_free(sung_image *im);

/* ---- inference ------------------------------------------------------------------- */

/* Deblurs an image of any size with `iters` scale iterations (SPEC §5: reflect-pad to
 * a multiple of 2^(iters+2), run, crop). out is allocated here. */
sung_status sung_deblur(sung_model *m, const sung_image *in, int iters, sung_image *out,
                        sung_error *err);

/* ---- training -------------------------------------------------------------------- */

#define SUNG_MAX_ITERS 8

typedef struct {
    int iters;          /* scale iterations (the paper trains with 3) */
    double w_edge_aux;  /* weight of |M(S) − M(GT)| (1 for sung, 0 otherwise) */
    double w_edge_sup;  /* weight of |G − M(GT)| (1 for sung, 0 otherwise) */
} sung_train_opts;

/* The defaults of SPEC §6 for the model's variant. */
sung_train_opts sung_train_defaults(const sung_model *m);

typedef struct {
    double pixel[SUNG_MAX_ITERS], edge_aux[SUNG_MAX_ITERS], edge_sup[SUNG_MAX_ITERS];
    double total;       /* Σ over scales of the weighted terms */
} sung_losses;

/* blur, sharp: n images of h×w×3 (each image h·w·3 floats, images one after another);
 * h and w divisible by 2^(iters+2). Zeroes the gradients, then runs each scale forward
 * and backward (SPEC §6: S_{i+1} enters scale i as a constant) and accumulates the
 * gradient of the total loss. Fills losses if not NULL. */
sung_status sung_train_grads(sung_model *m, const float *blur, const float *sharp, int n,
                             int h, int w, const sung_train_opts *o, sung_losses *losses,
                             sung_error *err);
/* Micro-batches: sung_train_zero_grads() clears the gradients; each
 * sung_train_accumulate() then adds scale × the gradient of the loss on its n images
 * (same arguments as sung_train_grads; losses, if not NULL, receives that call's unscaled
 * means). A batch of N split into parts of n_k images with scale n_k / N gives the
 * gradient of the whole batch (to float rounding) in the memory of the largest part. */
void sung_train_zero_grads(sung_model *m);
sung_status sung_train_accumulate(sung_model *m, const float *blur, const float *sharp, int n, int h,
                                  int w, const sung_train_opts *o, double scale, sung_losses *losses,
                                  sung_error *err);
/* All parameter gradients as one contiguous buffer of *n floats (each tensor's gradient,
 * as sung_model_tensor gives it, is a slice of it), so that a data-parallel trainer
 * reduces them with one call (MPI_Allreduce) between sung_train_accumulate and
 * sung_train_apply. */
float *sung_model_grads(sung_model *m, size_t *n);
/* Bytes of working memory (activations, their gradients, pyramids) a training pass on n
 * images of h×w needs, found by counting the pass, not running it; 0 on bad arguments.
 * The model itself (weights, gradients, Adam moments, packed copies) comes on top. */
size_t sung_train_memory(sung_model *m, int n, int h, int w, const sung_train_opts *o);

/* Training state: weights, Adam moments and step count in one safetensors file
 * (tensors NAME, adam.m.NAME, adam.v.NAME, and ema.NAME with metadata ema_decay when
 * the model keeps an average of its weights; metadata variant, width, adam_step and the
 * caller's pairs), written atomically, so that training resumes bit for bit. */
typedef struct {
    const char *key, *value;
} sung_meta;
sung_status sung_train_state_save(const sung_model *m, const char *path, const sung_meta *meta,
                                  int nmeta, sung_error *err);
/* *meta receives all metadata pairs of the file (free with sung_meta_free). */
sung_status sung_train_state_load(sung_model **out, const char *path, sung_meta **meta,
                                  int *nmeta, sung_error *err);
void sung_meta_free(sung_meta *meta, int nmeta);

/* One Adam step (β1 0.9, β2 0.999, ε 1e-8, bias-corrected) with learning rate lr; then,
 * when the model keeps one, the weights' average moves (sung_train_ema). */
void sung_train_apply(sung_model *m, double lr);

/* An exponential moving average of the weights (Polyak averaging; BasicSR's ema_decay):
 * after every sung_train_apply, avg ← avg + (1 − decay)·(weights − avg). Training takes
 * its steps with the weights; the average is what a run validates and ships, since it
 * carries less of the last steps' noise. decay in (0, 1) starts one from the current
 * weights (or changes the decay of the one there); 0 drops it. The training state keeps
 * it (sung_train_state_save: tensors ema.NAME, metadata ema_decay), so a run resumes
 * bit for bit. SUNG_ERR_ARG for a decay outside [0, 1) or while exchanged. */
sung_status sung_train_ema(sung_model *m, double decay, sung_error *err);
/* The average's decay, 0 when the model keeps none. */
double sung_train_ema_decay(const sung_model *m);
/* The average's warm-up (timm's ModelEmaV2 and TensorFlow's num_updates): on, its k-th
 * update (k counted from when the average started, kept by the training state) uses the
 * decay min(decay, (1 + k)/(10 + k)), so that an average started from random weights
 * forgets them in tens of steps instead of thousands (at 0.999 without it, 5 % of them is
 * still in the average after 3,000 steps). Off unless turned on. SUNG_ERR_ARG when the
 * model keeps no average; sung_train_ema(m, 0) drops it with the average. */
sung_status sung_train_ema_warmup(sung_model *m, int on, sung_error *err);
int sung_train_ema_warmup_on(const sung_model *m);
/* Exchanges the weights and their average: until the next call, inference, validation
 * and sung_model_save see the average (and sung_train_apply must not run). SUNG_ERR_ARG
 * when the model keeps no average. */
sung_status sung_model_swap_ema(sung_model *m, sung_error *err);
long sung_train_step_count(const sung_model *m);

/* ---- the trainer (src/train.c): runs, data streams, schedule, steps, validation ------- */

/* Sum-based losses, so that shards of any size combine exactly (llm.c's shape): adds to
 * the gradients (1/norm) × the gradient of Σ over its n images of each image's loss (the
 * loss of one image is SPEC §6's, its terms means over that image's elements), and, if
 * sums is not NULL, stores the unnormalised sums over the n images of every term. A
 * global batch of N images cut into shards (processes) and micro-batches of any sizes,
 * each called with norm = N, leaves Σ gradient / N — the batch's mean gradient — once
 * the shards' gradient buffers (sung_model_grads) and sums are added up. */
sung_status sung_train_backward(sung_model *m, const float *blur, const float *sharp, int n, int h, int w,
                                const sung_train_opts *o, double norm, sung_losses *sums, sung_error *err);

/* The reduction between backward and update: adds the n floats of grads and the nsums
 * doubles of sums over all processes, in place, the same result on every one (MPI:
 * MPI_Allreduce with MPI_SUM). Returns 0, or non-zero on failure (with a message in
 * err). */
typedef int (*sung_reduce_fn)(void *ctx, float *grads, size_t n, double *sums, int nsums, sung_error *err);

/* One optimizer step on this process's shard of a global batch of `batch` images:
 * zeroes the gradients; runs sung_train_backward(norm = batch) over micro-batches of at
 * most `micro` of its n images (n may be 0: a process with no image of a small batch);
 * calls reduce (NULL: one process) on the gradient buffer and the loss sums (a
 * sung_losses is all doubles: SUNG_LOSS_DOUBLES of them); takes one Adam step with lr.
 * mean (may be NULL) receives the global batch's mean losses. */
#define SUNG_LOSS_DOUBLES ((int)(sizeof(sung_losses) / sizeof(double)))
sung_status sung_train_step(sung_model *m, const float *blur, const float *sharp, int n, int batch, int micro,
                            int h, int w, const sung_train_opts *o, double lr, sung_reduce_fn reduce, void *ctx,
                            sung_losses *mean, sung_error *err);

/* The largest micro-batch (1..batch) whose working memory (sung_train_memory) fits in
 * budget bytes beside the model's own (weights, gradients, Adam moments and packed
 * copies: about 8 floats a parameter); 1 even when one image does not fit. *work
 * receives that micro-batch's working memory. */
int sung_train_micro(sung_model *m, int batch, int h, int w, const sung_train_opts *o, size_t budget,
                     size_t *work);

/* Everything that defines a training run (SPEC §6); kept in its state file. */
typedef struct {
    int patch;      /* crop side, a multiple of 2^(iters+2) */
    int batch;      /* the global batch: images per optimizer step, however many processes */
    int iters;      /* scale iterations (3) */
    int epochs;     /* 500 */
    int augment;    /* random horizontal / vertical flips */
    int lr_every;   /* halve the learning rate every this many epochs (0: never) */
    long warmup;    /* steps of linear learning-rate warm-up (0: none) */
    long steps;     /* stop after this many steps in all (-1: when the epochs are done) */
    double lr, w_aux, w_sup;
    uint64_t seed;  /* of the data order, crops, flips and synthesis */
} sung_run_opts;

/* The defaults of SPEC §6 for the model (patch 256, batch 16, 3 iterations, 500 epochs,
 * flips, lr 1e-4 halved every 100 epochs, seed 0). */
sung_run_opts sung_run_defaults(const sung_model *m);

/* A run and where it stands: `epoch` (0-based) is the epoch of the last batch taken,
 * `pos` the pairs of its order used (pos == npairs: the epoch is complete), `order` that
 * epoch's order of the npairs pairs. Read the fields; change them only through the
 * functions below. */
typedef struct {
    sung_run_opts o;
    int npairs;         /* pairs per epoch */
    long step;          /* optimizer steps done */
    int epoch, pos;
    int *order;         /* npairs */
    double best_psnr;   /* best validation PSNR so far (-inf: none) */
    double elapsed;     /* seconds of training so far, over all sessions */
} sung_run;

/* Checks the options (each bad one is SUNG_ERR_ARG naming it) and starts a run over
 * npairs pairs at step 0 with epoch 0's order. */
sung_status sung_run_init(sung_run *r, const sung_run_opts *o, int npairs, const sung_model *m, sung_error *err);
void sung_run_free(sung_run *r);
/* Steps in the whole run: epochs × ⌈npairs / batch⌉, or o.steps if fewer. */
long sung_run_total(const sung_run *r);

/* A global batch: n pairs, at places pos..pos+n−1 of epoch `epoch`'s order. */
typedef struct {
    int epoch, pos, n;
} sung_batch;
/* The global batch after `after` (NULL: after the run's position); an epoch's last batch
 * may be smaller than o.batch. Pure: the run does not move. */
sung_batch sung_run_next(const sung_run *r, const sung_batch *after);
/* Learning rate of batch b, the run's (step + 1)-th: o.lr × min(1, (step + 1) / warmup)
 * × 0.5^⌊epoch / lr_every⌋. */
double sung_run_lr(const sung_run *r, const sung_batch *b);
/* Process `rank` of `nranks` takes images first..first+count−1 of a global batch of n:
 * the first n mod nranks processes one more than the others. */
void sung_shard(int n, int rank, int nranks, int *first, int *count);

/* Per-purpose random streams. What sample k of a global batch is depends only on the
 * seed, the epoch and its place in the epoch (g = epoch · npairs + pos + k): not on how
 * the batch is split between processes and micro-batches, nor on earlier batches. */
typedef enum {
    SUNG_STREAM_ORDER = 1, /* an epoch's shuffle, index = epoch */
    SUNG_STREAM_CROP = 2,  /* where a crop sits, index = g */
    SUNG_STREAM_FLIP = 3,  /* its flips, index = g */
    SUNG_STREAM_SYNTH = 4  /* the seed of a pair made from a photo, index = g */
} sung_stream;
/* The seed of stream s at index i: SplitMix64 mixes of (seed, s, i); for
 * SUNG_STREAM_SYNTH seed ^ i · 0xD1B54A32D192ED03, the formula of the first trainer,
 * so that runs made by it draw the same pairs when resumed. */
uint64_t sung_stream_seed(uint64_t seed, sung_stream s, uint64_t i);
/* Epoch e's order: a Fisher–Yates shuffle of 0..n−1 drawn from SUNG_STREAM_ORDER. */
void sung_epoch_order(uint64_t seed, int e, int *order, int n);

/* What one sample of a batch is. */
typedef struct {
    int pair;               /* which pair of the data (0..npairs−1) */
    uint64_t crop_seed;     /* where its crop sits (sung_crop_pair) */
    uint64_t synth_seed;    /* the seed of a pair made from a photo */
    int flip_x, flip_y;     /* flips (0 without o.augment) */
} sung_sample;
/* Samples first..first+count−1 of batch b into out: SUNG_ERR_ARG if they are not in b,
 * SUNG_ERR_NOMEM when b is in another epoch than the run's and its order cannot be
 * allocated. */
sung_status sung_run_samples(const sung_run *r, const sung_batch *b, int first, int count, sung_sample *out,
                             sung_error *err);
/* Moves the run past batch b (which must be sung_run_next(r, NULL)): one more step. */
void sung_run_advance(sung_run *r, const sung_batch *b);

/* An aligned patch×patch crop of a pair (same size, each side ≥ patch) at the place
 * crop_seed draws, flipped as s says, into db and dg (patch·patch·3 floats each). */
sung_status sung_crop_pair(const sung_image *blur, const sung_image *sharp, int patch, const sung_sample *s,
                           float *db, float *dg, sung_error *err);
/* Flips a patch×patch×3 image in place (fx: left-right, fy: up-down). */
void sung_flip(float *im, int patch, int fx, int fy);

/* The run state: weights, Adam moments, the run's options and position (metadata run.*
 * and pos.*, with the current epoch's order) and the caller's extra pairs, written
 * atomically (sung_train_state_save). */
sung_status sung_run_save(const sung_model *m, const sung_run *r, const char *path, const sung_meta *extra,
                          int nextra, sung_error *err);
/* Reads a state written by sung_run_save or by the first trainer (whose remaining
 * epochs then draw from the streams above: the data after the resumed epoch differs
 * from what that trainer would have drawn). *meta receives all metadata pairs (free with
 * sung_meta_free), for the caller's extra keys. */
sung_status sung_run_load(sung_model **m, sung_run *r, const char *path, sung_meta **meta, int *nmeta,
                          sung_error *err);
/* The value of key in meta, or NULL. */
const char *sung_meta_get(const sung_meta *meta, int nmeta, const char *key);

/* Mean PSNR (SPEC §8, 8-bit) of deblurring each blur[i] with `iters` iterations against
 * sharp[i], whole images (an equal pair counts 100 dB). */
sung_status sung_validate(sung_model *m, const char *const *blur, const char *const *sharp, int n, int iters,
                          double *psnr, sung_error *err);
/* The same per pair: psnr[i] (n values) of deblurring blur[i] against sharp[i]. */
sung_status sung_validate_each(sung_model *m, const char *const *blur, const char *const *sharp, int n, int iters,
                               double *psnr, sung_error *err);
/* A cheap checksum of the weights (a hash of their bits), to check that processes
 * agree. */
uint64_t sung_model_checksum(const sung_model *m);

/* ---- metrics (SPEC §8) ------------------------------------------------------------- */

/* 8-bit RGB images, pixel-interleaved (h·w·3 bytes), as the GoPro literature scores them. */
typedef enum {
    SUNG_SSIM_MATLAB = 0, /* MATLAB ssim on the H×W×3 volume: 11×11×11 Gaussian, σ 1.5 */
    SUNG_SSIM_SKIMAGE = 1 /* skimage structural_similarity, per channel, mean */
} sung_ssim_kind;

/* MATLAB's psnr: 10·log10(255² / MSE) over all h·w·3 values; +inf for equal images. */
double sung_psnr(const uint8_t *a, const uint8_t *b, int w, int h);
/* PSNR as a test set's mean counts it (`sung eval`, validation): sung_psnr, with equal
 * images counted as SUNG_PSNR_EQUAL dB (100, as is common) instead of +inf. */
#define SUNG_PSNR_EQUAL 100.0
double sung_psnr_for_mean(const uint8_t *a, const uint8_t *b, int w, int h);
/* *psnr = sung_psnr_for_mean of two images of the same size, each quantised to 8 bits
 * (sung_image_to_u8) as saving it would: how `sung eval` and validation score a result.
 * SUNG_ERR_ARG when the sizes differ (*psnr untouched), SUNG_ERR_NOMEM. */
sung_status sung_image_psnr(const sung_image *a, const sung_image *b, double *psnr, sung_error *err);
/* SSIM as SPEC §8; NaN when out of memory, or for skimage when a side is under 11
 * (its 11×11 Gaussian window; skimage itself raises there). */
double sung_ssim(const uint8_t *a, const uint8_t *b, int w, int h, sung_ssim_kind kind);

/* ---- synthetic training data (SPEC §9) ---------------------------------------------- */

typedef enum {
    SUNG_SYNTH_SHAKE = 0,       /* a 6-DoF camera shake sampled at sub-frames (training data) */
    SUNG_SYNTH_TRAJECTORY = 1   /* one random-trajectory kernel, convolved (testing only) */
} sung_synth_kind;

typedef struct {
    int w, h;            /* output size (a crop of the photo, rescaled if the photo is smaller);
                          * 0 = the photo's size */
    int frame_w, frame_h;/* the camera frame the output is a window of (0 = the output): blur
                          * lengths, focal length, roll and zoom are relative to the frame, and
                          * the window sits at a random place in it */
    sung_synth_kind kind;
    int frames;          /* SHAKE: sub-frames, odd, 7..13; 0 = random in that range */
    double gamma;        /* 2.2: frames averaged (kernel applied) in linear light, like GoPro's
                          * blur_gamma; 1: in sRGB values, like its blur; 0: either, at random */
    double noise;        /* scale of the Poisson-Gaussian sensor noise (1 = default, 0 = none) */
    double strength;     /* scale of the motion (1 = calibrated: GoPro-like blurred PSNR) */
    double objects;      /* SHAKE: probability of an independently moving object (0..1) */
    double highlights;   /* γ 2.2: saturated pixels' light is multiplied by up to 1 + this
                          * before the clip (default 4; 0 = never) */
} sung_synth_opts;

/* What one pair drew (for statistics and tests). */
typedef struct {
    sung_synth_kind kind;
    int frames;          /* sub-frames (SHAKE) */
    double gamma;        /* 2.2 or 1 */
    double length;       /* path length, px of the output */
    double focal;        /* focal length, px (SHAKE) */
    double roll, zoom;   /* end-to-end roll (rad) and relative zoom over the exposure (SHAKE) */
    double noise_a, noise_b; /* noise variance a·x + b, x in linear light */
    double highlight;    /* factor on saturated pixels' light before clipping (1 = none) */
    int object;          /* 1 if a moving object was drawn (SHAKE) */
    int kernel_w, kernel_h; /* kernel extent (TRAJECTORY) */
    double scale;        /* the photo was scaled up by this (1 = not) */
} sung_synth_info;

sung_synth_opts sung_synth_defaults(void);
/* One blurred/sharp pair from a sharp photo, deterministic for (photo, other, opts, seed)
 * and independent of the thread count (SPEC §9, src/synth.c says exactly how):
 * SHAKE: a random 6-DoF camera path (rotation about three axes and translation: a
 * homography per sub-frame, so the blur varies across the frame) sampled at N poses; the
 * sub-frames are averaged (in linear light or sRGB, opts.gamma) with saturated highlights
 * boosted before the clip; `other` (may be NULL) supplies the texture of a moving object;
 * sharp = the middle sub-frame. TRAJECTORY: the photo convolved with one random-trajectory
 * kernel. Both add Poisson-Gaussian noise and round the blurred image to 8 bits. blur and
 * sharp are allocated here; info (may be NULL) receives what was drawn. */
sung_status sung_synth_pair(const sung_image *photo, const sung_image *other,
                            const sung_synth_opts *o, uint64_t seed, sung_image *blur,
                            sung_image *sharp, sung_synth_info *info, sung_error *err);

/* ---- options ------------------------------------------------------------------------ */

/* Engine choices for the whole process, for tests and comparisons; the defaults are the
 * fastest exact ones. The library reads no environment variable: the `sung` command maps
 * SUNG_ISA, SUNG_WINOGRAD and SUNG_WINOGRAD_BF16 onto these fields. */
#define SUNG_WINOGRAD_AUTO (-1)
typedef struct {
    const char *isa;   /* the convolution kernels: NULL or "" the fastest set this CPU runs;
                        * "avx512+bf16", "avx512" (without bf16), "avx2" or "generic": at most
                        * that set, the fastest the CPU runs at or below it (never one it lacks) */
    int winograd;      /* 3×3 stride-1 convolutions with a multiple of 16 input channels,
                        * their weight gradients in training, and at inference the 5×5
                        * stride-2 and transposed layers (as 3×3 convs):
                        * SUNG_WINOGRAD_AUTO F(6×6, 3×3) (fp32 training's data gradient:
                        * F(4×4), F(2×2) where in·out channels ≥ 128²); 0 direct
                        * convolutions only; 2 F(2×2) from 64 input channels on (the rest
                        * direct); 4 F(4×4) everywhere; 6 F(6×6) everywhere */
    int winograd_bf16; /* 1 (an experiment): in bf16 inference the F(4×4) layers multiply in
                        * bf16 too, faster but −3.5 dB on the training snapshot
                        * (docs/BENCHMARKS.md); 0 (default): they stay fp32 */
} sung_options;
/* {NULL, SUNG_WINOGRAD_AUTO, 0}. */
sung_options sung_options_default(void);
/* Sets all three. SUNG_ERR_ARG (nothing changed) for an unknown kernel set or value, or
 * for a kernel set that would change the kernels once they are chosen (by the first
 * model, convolution or sung_isa()): set it first. The Winograd fields apply to the
 * models created or loaded afterwards. Not thread-safe: call before other threads use
 * the library. */
sung_status sung_set_options(const sung_options *o, sung_error *err);
/* The options as last set (isa as requested: NULL for the default). */
sung_options sung_get_options(void);
/* "avx512+bf16", "avx512", "avx2" or "generic": the convolution kernels in use (the
 * fastest this CPU runs, at most sung_options.isa); choosing them on the first call. */
const char *sung_isa(void);

/* ---- precision and profiling -------------------------------------------------------- */

typedef enum { SUNG_FP32 = 0, SUNG_BF16 = 1 } sung_precision;
/* Bytes of memory sung_deblur needs for a w×h image (working memory, the padded input,
 * pyramids, the result, packed weights), found by counting the pass; 0 on bad arguments. */
size_t sung_deblur_memory(sung_model *m, int w, int h, int iters);
/* sung_deblur in tiles, for images too big for one pass (src/tile.c): tiles of `tile` px
 * on the model's grid, each run with `margin` px of context on every side and blended
 * with linear ramps over `margin` px; both multiples of 2^(iters+2). A tile that covers
 * the image is exactly sung_deblur. Memory: the output, a weight per pixel and one pass
 * of (tile + 2·margin)². */
sung_status sung_deblur_tiled(sung_model *m, const sung_image *in, int iters, int tile, int margin,
                              sung_image *out, sung_error *err);
/* The largest tile whose pass fits in `budget` bytes of the whole process: with the
 * caller's w×h input image, the model's weights, the output and the blend weights (0: the
 * whole image fits untiled; -1: not even the smallest tile, or bad arguments). */
int sung_tile_for_memory(sung_model *m, int w, int h, int iters, int margin, size_t budget);

/* Arithmetic of the convolutions of sung_deblur and of training: SUNG_FP32 (default), or
 * SUNG_BF16 — convolution weights rounded to bfloat16 and the inputs of the direct
 * convolutions too, products summed in fp32 (avx512_bf16 dot products), all else fp32;
 * at inference the Winograd layers (3×3, stride 1, channels a multiple of 16, pictures
 * over 32²) transform the fp32 input and the rounded weights in fp32. In training (mixed
 * precision) every convolution's operands are rounded: the forward's input and weights,
 * the data gradient's dout and weights, the weight gradient's input and dout (the
 * Winograd layers round their input or dout as they read it and sum in fp32); the
 * weights, their gradients, Adam, the losses, edge maps and pyramids stay fp32.
 * SUNG_BF16 fails with SUNG_ERR_ARG on a CPU without avx512_bf16 or for an odd width.
 * (`sung deblur` and `sung eval` choose SUNG_BF16 where it runs: --precision auto.) */
sung_status sung_model_set_precision(sung_model *m, sung_precision p, sung_error *err);
sung_precision sung_model_precision(const sung_model *m);
/* Parses "fp32" or "bf16"; -1 if neither. */
int sung_precision_parse(const char *name);

/* Time per layer type, for benchmarks: sung_profile_reset() zeroes the counters and
 * starts counting; sung_deblur / sung_train_grads then add each convolution's time
 * (forward and backward separately) under its type; sung_profile_get() copies up to max
 * rows (the types met so far) and returns how many there are. */
typedef struct {
    char name[48];      /* e.g. "conv 3x3", "conv 5x5 /2", "tconv 5x5 x2 (backward)" */
    long calls;
    double seconds, flops;
} sung_layer_time;
void sung_profile_reset(sung_model *m);
int sung_profile_get(const sung_model *m, sung_layer_time *rows, int max);
/* sung_profile_reset with the rows keyed by layer type (SUNG_PROFILE_LAYER, as
 * sung_profile_reset) or by the size of each convolution's input picture, WxH per image
 * (SUNG_PROFILE_PICTURE: "64x64", "64x64 (backward)"): where the small pictures of the
 * coarse scales spend their time. */
typedef enum { SUNG_PROFILE_LAYER = 0, SUNG_PROFILE_PICTURE = 1 } sung_profile_key;
void sung_profile_reset_by(sung_model *m, sung_profile_key key);

#ifdef __cplusplus
}
#endif
#endif
