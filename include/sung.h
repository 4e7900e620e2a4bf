/* sung — image deblurring with the SUNG network (Min & Kang, "Edge Map-guided
 * Scale-iterative Image Deblurring"), in C.
 *
 * The whole public API. A model is one of three variants ("sung", the paper's network;
 * "base", its ablation without edge guidance; "siun", the baseline of Ye et al.) at
 * some width c (the paper's c = 32). Weights are safetensors files whose names and
 * shapes are PyTorch's (../shared/SPEC.md §7).
 *
 *   sung_error err;
 *   sung_model *m;
 *   if (sung_model_load(&m, "sung.safetensors", &err)) { fprintf(stderr, "%s\n", err.msg); ... }
 *   sung_image in, out;
 *   sung_image_load(&in, "blurry.png", &err);
 *   sung_deblur(m, &in, 4, &out, &err);          // 4 scale iterations, the paper's best
 *   sung_image_save(&out, "sharp.png", &err);
 *   sung_image_free(&in); sung_image_free(&out); sung_model_free(m);
 *
 * Training: sung_train_grads() runs forward and backward over the scales of one batch
 * and leaves the gradient of the loss in the model; sung_train_apply() takes one Adam
 * step with it.
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
 * SUNG_ERR_FORMAT, found from the header before decoding. */
sung_status sung_image_load(sung_image *im, const char *path, sung_error *err);
/* 8-bit RGB: clamp to [0, 1], round(255·x). PNG, or JPEG (quality 95) when the path
 * ends in .jpg / .jpeg. Atomic like sung_model_save: written to "path.tmp.PID" and
 * renamed; errors name path and the system's reason ("No space left on device").
 * Temporary files of the same path left by a killed writer (PID no longer running) are
 * removed, here and by the weights writers. */
sung_status sung_image_save(const sung_image *im, const char *path, sung_error *err);
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
 * (tensors NAME, adam.m.NAME, adam.v.NAME; metadata variant, width, adam_step and the
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

/* One Adam step (β1 0.9, β2 0.999, ε 1e-8, bias-corrected) with learning rate lr. */
void sung_train_apply(sung_model *m, double lr);
long sung_train_step_count(const sung_model *m);

/* ---- metrics (SPEC §8) ------------------------------------------------------------- */

/* 8-bit RGB images, pixel-interleaved (h·w·3 bytes), as the GoPro literature scores them. */
typedef enum {
    SUNG_SSIM_MATLAB = 0, /* MATLAB ssim on the H×W×3 volume: 11×11×11 Gaussian, σ 1.5 */
    SUNG_SSIM_SKIMAGE = 1 /* skimage structural_similarity, per channel, mean */
} sung_ssim_kind;

/* MATLAB's psnr: 10·log10(255² / MSE) over all h·w·3 values; +inf for equal images. */
double sung_psnr(const uint8_t *a, const uint8_t *b, int w, int h);
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

/* "avx512+bf16", "avx512", "avx2" or "generic": the convolution kernels this CPU runs
 * (or SUNG_ISA chose). */
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
/* The largest tile whose pass fits in `budget` bytes with the output (0: the whole
 * image fits untiled; -1: not even the smallest tile, or bad arguments). */
int sung_tile_for_memory(sung_model *m, int w, int h, int iters, int margin, size_t budget);

/* Arithmetic of the convolutions of sung_deblur and of training: SUNG_FP32 (default), or
 * SUNG_BF16 — convolution inputs and weights rounded to bfloat16, products summed in
 * fp32 (avx512_bf16 dot products), all else fp32. In training (mixed precision) that is
 * the forward convolutions and both gradients of each (data: dout and the weights
 * rounded; weights: the input and dout rounded); the weights, their gradients, Adam,
 * the losses, edge maps and pyramids stay fp32. SUNG_BF16 fails with SUNG_ERR_ARG on a
 * CPU without avx512_bf16 or for an odd width. */
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

#ifdef __cplusplus
}
#endif
#endif
