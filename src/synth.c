/* Synthetic GoPro-like blurred/sharp pairs from one sharp photo (SPEC §9).
 *
 * GOPRO_Large made each blurred image by averaging N consecutive 240 fps frames of a
 * hand-held camera; its sharp image is the middle one. Here the frames are made from a
 * still photo moved along a random camera path.
 *
 * Camera path (after Boracchi & Foi, "Modeling the performance of image restoration
 * from motion blur", IEEE TIP 2012, whose trajectory generator is a particle with
 * inertia, random acceleration, a pull back to where it started, and rare impulsive
 * direction changes). Positions are complex numbers x; the path has unit length and is
 * scaled afterwards. With T = PATH_STEPS steps of length l = 1/T:
 *
 *   per path:  heading ψ ~ U[0, 2π); drift σ ~ U[0, DRIFT_MAX]; pull κ ~ U[0, PULL_MAX];
 *              shake probability p ~ U[0, SHAKE_MAX]
 *   x_0 = 0,   v_0 = l·e^{iψ}
 *   each step: shake = 2·v·e^{i(π + δ)}, δ ~ U[-1/2, 1/2], with probability p, else 0
 *              (an abrupt jerk that turns the motion by about 180° ± 30°)
 *              v ← v + shake + l·(σ·(n1 + i·n2) − κ·x_t),   n1, n2 ~ N(0, 1)
 *              v ← l·v/|v|                       (constant speed, as Boracchi–Foi)
 *              x_{t+1} = x_t + v
 *   smooth drift comes from σ (heading diffusing over the path), curvature and
 *   back-and-forth motion from κ, and the occasional abrupt shake from p.
 *
 * The path is L pixels long, L = strength · (diagonal / diagonal of 1280×720) · L_ref,
 * L_ref log-uniform in [LEN_MIN, LEN_MAX] px: what GOPRO_Large's blurs measure at its
 * 1280×720 (a few pixels to a few tens). An in-plane rotation about the image centre
 * drifts linearly over the exposure: θ(s) = Θ·(s − 1/2), Θ = ROT_SCALE·(L / r)·n with
 * n ~ N(0, 1) clamped to ±2 and r the half-diagonal of the output, so the corners move
 * by at most half the path length from rotation (about 0.2·L on average).
 *
 * Sub-frames: N poses at s_k = k/(N − 1), k = 0..N−1 (N odd, so the middle one is
 * s = 1/2), x(s) linearly interpolated between the path's steps; all poses are taken
 * relative to the middle one, so the middle sub-frame is an unwarped crop of the photo
 * (exact pixels) and the blur is centred on the sharp image, as in GOPRO_Large.
 * Sub-frame k maps output pixel p (centre c) to photo position
 *     q = o + c + R(θ_k)·(p − c) + L·(x(s_k) − x(1/2)),
 * o the crop's integer origin, drawn uniformly among the positions that keep every
 * sub-frame inside the photo. A photo too small for w×h plus the motion is first scaled
 * up (by at most MAX_UPSCALE; beyond that SUNG_ERR_ARG), bilinearly, which makes the
 * sharp image a resampled one.
 *
 * Light: the photo is decoded to linear light as x^2.2 (x clamped to [0, 1]), sampled
 * bilinearly there, the N sub-frames averaged, and the mean re-encoded as y^(1/2.2);
 * sharp is the middle sub-frame re-encoded the same way (= the photo up to float
 * rounding). Noise: blur += noise·n, n ~ N(0, 1) per value, then clamped to [0, 1].
 *
 * Randomness: SplitMix64 (as the weight init, src/model.c) with state = seed; uniforms
 * u = (next >> 11)·2^-53; normals by Box–Muller, one per two uniforms:
 * n = sqrt(−2 ln(1 − u1))·cos(2π u2). Draws, in this order: N (when opts.frames is 0:
 * 7 + 2·floor(4u)), L_ref, ψ, σ, p, κ, then per step u_shake [, δ if it shakes], n1, n2;
 * then Θ's n; then the crop origin (x, then y). The noise of row y comes from its own
 * SplitMix64 stream, state = mix(seed ^ NOISE_TAG ^ mix(y)) with mix the SplitMix64
 * finaliser, so the result does not depend on the number of threads. No global state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define PATH_STEPS 64
/* Chosen so that most paths are gentle arcs and some curl or jerk back: at 1280×720 the
 * sub-frames' end-to-end extent is 0.88 of L at the median, 0.51 at the 5th percentile. */
#define DRIFT_MAX 0.12  /* σ: heading noise per step, relative to the speed */
#define PULL_MAX 0.2    /* κ: pull towards the start, per unit of distance */
#define SHAKE_MAX 0.008 /* p: 0.26 shakes per path on average */
#define LEN_MIN 4.0     /* px at 1280×720, strength 1 */
#define LEN_MAX 36.0
#define ROT_SCALE 0.25
#define MAX_UPSCALE 8.0
#define MAX_STRENGTH 10.0
#define GAMMA 2.2
#define TWO_PI 6.283185307179586476925
#define NOISE_TAG 0x6e6f6973652d7379ull /* "noise-sy" */

static const double ref_diagonal = 1468.6047800548653; /* hypot(1280, 720) */

/* ---- random numbers ------------------------------------------------------------------ */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t rng_next(uint64_t *s) { return mix64(*s += 0x9E3779B97F4A7C15ull); }
/* [0, 1) */
static double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }
static double rng_normal(uint64_t *s)
{
    double u1 = rng_uniform(s), u2 = rng_uniform(s);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(TWO_PI * u2);
}

/* ---- the camera path ----------------------------------------------------------------- */

typedef struct {
    int n;                              /* sub-frames */
    double tx[13], ty[13], theta[13];   /* poses relative to the middle one, px and rad */
} synth_poses;

/* Draws the path (unit length) and returns its sampled positions at s_k, relative to
 * x(1/2): out_x/out_y[k], k < n. */
static void draw_path(uint64_t *rng, int n, double *out_x, double *out_y)
{
    const double l = 1.0 / PATH_STEPS;
    double px[PATH_STEPS + 1], py[PATH_STEPS + 1];
    double psi = TWO_PI * rng_uniform(rng);
    double sigma = DRIFT_MAX * rng_uniform(rng);
    double p = SHAKE_MAX * rng_uniform(rng);
    double kappa = PULL_MAX * rng_uniform(rng);
    double vx = l * cos(psi), vy = l * sin(psi);
    px[0] = py[0] = 0;
    for (int t = 0; t < PATH_STEPS; t++) {
        double dx = 0, dy = 0;
        if (rng_uniform(rng) < p) { /* shake: 2·v·e^{i(π + δ)} */
            double a = 0.5 * TWO_PI + (rng_uniform(rng) - 0.5);
            dx = 2 * (vx * cos(a) - vy * sin(a));
            dy = 2 * (vx * sin(a) + vy * cos(a));
        }
        double n1 = rng_normal(rng), n2 = rng_normal(rng);
        vx += dx + l * (sigma * n1 - kappa * px[t]);
        vy += dy + l * (sigma * n2 - kappa * py[t]);
        double speed = hypot(vx, vy);
        if (speed > 0) vx *= l / speed, vy *= l / speed;
        else vx = l * cos(psi), vy = l * sin(psi); /* a full stop: keep the first heading */
        px[t + 1] = px[t] + vx;
        py[t + 1] = py[t] + vy;
    }
    /* x(s) by linear interpolation; s_k = k/(n − 1) */
    for (int k = 0; k < n; k++) {
        double f = (double)k * PATH_STEPS / (n - 1);
        int i = (int)f;
        if (i >= PATH_STEPS) i = PATH_STEPS - 1;
        double a = f - i;
        out_x[k] = px[i] + a * (px[i + 1] - px[i]) - px[PATH_STEPS / 2];
        out_y[k] = py[i] + a * (py[i + 1] - py[i]) - py[PATH_STEPS / 2];
    }
}

static void draw_poses(uint64_t *rng, int n, int w, int h, double strength, synth_poses *P)
{
    P->n = n;
    double diag = hypot(w, h);
    double lref = LEN_MIN * exp(log(LEN_MAX / LEN_MIN) * rng_uniform(rng));
    double len = strength * diag / ref_diagonal * lref;
    double ux[13], uy[13];
    draw_path(rng, n, ux, uy);
    double z = fmax(-2.0, fmin(2.0, rng_normal(rng)));
    double big_theta = ROT_SCALE * len / (0.5 * diag) * z;
    for (int k = 0; k < n; k++) {
        P->tx[k] = len * ux[k];
        P->ty[k] = len * uy[k];
        P->theta[k] = big_theta * ((double)k / (n - 1) - 0.5);
    }
    int m = n / 2; /* exactly the identity: the sharp image is the unwarped crop */
    P->tx[m] = P->ty[m] = P->theta[m] = 0;
}

/* ---- the warp ------------------------------------------------------------------------ */

/* Where sub-frame k sends output pixel (x, y), relative to the crop origin, in the
 * (possibly up-scaled) photo. */
static void pose_map(const synth_poses *P, int k, double cx, double cy, double x, double y,
                     double *qx, double *qy)
{
    double c = cos(P->theta[k]), s = sin(P->theta[k]);
    double dx = x - cx, dy = y - cy;
    *qx = cx + c * dx - s * dy + P->tx[k];
    *qy = cy + s * dx + c * dy + P->ty[k];
}

/* Bilinear sample of a linear-light region (rw×rh×3) at (x, y), clamped to its edge. */
static void sample(const float *lin, int rw, int rh, double x, double y, double out[3])
{
    double fx = floor(x), fy = floor(y);
    double ax = x - fx, ay = y - fy;
    int x0 = (int)fx, y0 = (int)fy;
    if (x0 < 0) x0 = 0, ax = 0;
    if (y0 < 0) y0 = 0, ay = 0;
    if (x0 > rw - 1) x0 = rw - 1, ax = 0;
    if (y0 > rh - 1) y0 = rh - 1, ay = 0;
    int x1 = x0 + 1 < rw ? x0 + 1 : x0, y1 = y0 + 1 < rh ? y0 + 1 : y0;
    const float *a = lin + ((size_t)y0 * rw + x0) * 3, *b = lin + ((size_t)y0 * rw + x1) * 3;
    const float *c = lin + ((size_t)y1 * rw + x0) * 3, *d = lin + ((size_t)y1 * rw + x1) * 3;
    for (int ch = 0; ch < 3; ch++)
        out[ch] = (1 - ay) * ((1 - ax) * a[ch] + ax * b[ch]) + ay * ((1 - ax) * c[ch] + ax * d[ch]);
}

static double clamp01(double x) { return x > 0 ? (x < 1 ? x : 1) : 0; } /* NaN → 0 */
static float encode(double lin) { return powf((float)clamp01(lin), (float)(1.0 / GAMMA)); }

/* ---- the public functions ------------------------------------------------------------ */

sung_synth_opts sung_synth_defaults(void)
{
    /* w = h = 0: the photo's size; frames 0: random odd 7..13; noise σ 0.01 (about 2.5
     * grey levels of 255: sensor noise, which the averaged frames of a real camera keep
     * some of); strength 1: GOPRO_Large-like blur lengths. */
    return (sung_synth_opts){.w = 0, .h = 0, .frames = 0, .noise = 0.01, .strength = 1.0};
}

sung_status sung_synth_pair(const sung_image *photo, const sung_synth_opts *o, uint64_t seed,
                            sung_image *blur, sung_image *sharp, sung_error *err)
{
    memset(blur, 0, sizeof *blur);
    memset(sharp, 0, sizeof *sharp);
    if (!photo || !photo->data || photo->w < 1 || photo->h < 1) {
        model_set_error(err, "synth: empty photo");
        return SUNG_ERR_ARG;
    }
    int w = o->w ? o->w : photo->w, h = o->h ? o->h : photo->h;
    if (w < 1 || h < 1 || w > 32768 || h > 32768) {
        model_set_error(err, "synth: output size %dx%d out of range (1..32768)", w, h);
        return SUNG_ERR_ARG;
    }
    if (o->frames != 0 && (o->frames < 7 || o->frames > 13 || o->frames % 2 == 0)) {
        model_set_error(err, "synth: frames must be odd and 7..13 (or 0 for random), not %d", o->frames);
        return SUNG_ERR_ARG;
    }
    if (!(o->noise >= 0 && o->noise <= 1)) {
        model_set_error(err, "synth: noise %g out of range (0..1)", o->noise);
        return SUNG_ERR_ARG;
    }
    if (!(o->strength >= 0 && o->strength <= MAX_STRENGTH)) {
        model_set_error(err, "synth: strength %g out of range (0..%g)", o->strength, MAX_STRENGTH);
        return SUNG_ERR_ARG;
    }

    uint64_t rng = seed;
    int n = o->frames ? o->frames : 7 + 2 * (int)(4 * rng_uniform(&rng));
    synth_poses P;
    draw_poses(&rng, n, w, h, o->strength, &P);

    /* the extent of all sub-frames around the crop (relative to its origin): the map is
     * affine, so the corners bound it */
    double cx = 0.5 * (w - 1), cy = 0.5 * (h - 1);
    double xmin = 0, xmax = w - 1, ymin = 0, ymax = h - 1;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < 4; j++) {
            double qx, qy;
            pose_map(&P, k, cx, cy, j & 1 ? w - 1 : 0, j & 2 ? h - 1 : 0, &qx, &qy);
            xmin = fmin(xmin, qx), xmax = fmax(xmax, qx);
            ymin = fmin(ymin, qy), ymax = fmax(ymax, qy);
        }
    /* origin o: o + min >= 0 and o + max <= size − 1 (in the up-scaled photo) */
    double left = ceil(-xmin), top = ceil(-ymin);
    double need_w = left + xmax + 1, need_h = top + ymax + 1;
    double scale = fmax(1.0, fmax(need_w / photo->w, need_h / photo->h));
    if (scale > MAX_UPSCALE) {
        model_set_error(err, "synth: a %dx%d photo is too small for %dx%d pairs with %.0fx%.0f px of "
                        "motion (it would need scaling by %.1f, more than %g)",
                        photo->w, photo->h, w, h, need_w - w, need_h - h, scale, MAX_UPSCALE);
        return SUNG_ERR_ARG;
    }
    double vw = scale * photo->w, vh = scale * photo->h; /* the up-scaled photo */
    double span_x = floor(vw - 1 - xmax - left + 1e-9), span_y = floor(vh - 1 - ymax - top + 1e-9);
    double ox = left + floor(rng_uniform(&rng) * (fmax(span_x, 0) + 1));
    double oy = top + floor(rng_uniform(&rng) * (fmax(span_y, 0) + 1));

    /* photo coordinates of a virtual position q: (q + 1/2)/scale − 1/2, exact when
     * scale is 1; the region of the photo that is read, decoded once to linear light */
    double inv = 1.0 / scale, off = scale > 1 ? 0.5 * inv - 0.5 : 0.0;
    int bx0 = (int)floor((ox + xmin) * inv + off), by0 = (int)floor((oy + ymin) * inv + off);
    int bx1 = (int)ceil((ox + xmax) * inv + off) + 1, by1 = (int)ceil((oy + ymax) * inv + off) + 1;
    bx0 = bx0 < 0 ? 0 : bx0, by0 = by0 < 0 ? 0 : by0;
    bx1 = bx1 > photo->w - 1 ? photo->w - 1 : bx1, by1 = by1 > photo->h - 1 ? photo->h - 1 : by1;
    int rw = bx1 - bx0 + 1, rh = by1 - by0 + 1;
    float *lin = malloc((size_t)rw * rh * 3 * sizeof *lin);
    sung_status st = lin ? sung_image_alloc(blur, w, h, err) : SUNG_ERR_NOMEM;
    if (st == SUNG_OK) st = sung_image_alloc(sharp, w, h, err);
    if (st != SUNG_OK) {
        if (!lin) model_set_error(err, "synth: out of memory for a %dx%d photo region", rw, rh);
        free(lin);
        sung_image_free(blur);
        sung_image_free(sharp);
        return st;
    }
#pragma omp parallel for schedule(static)
    for (int y = 0; y < rh; y++) {
        const float *src = photo->data + ((size_t)(by0 + y) * photo->w + bx0) * 3;
        float *dst = lin + (size_t)y * rw * 3;
        for (int i = 0; i < rw * 3; i++) dst[i] = powf((float)clamp01(src[i]), (float)GAMMA);
    }

    double cs[13], sn[13];
    for (int k = 0; k < n; k++) cs[k] = cos(P.theta[k]), sn[k] = sin(P.theta[k]);
    const int mid = n / 2;
    const double sigma = o->noise;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        uint64_t nrng = mix64(seed ^ NOISE_TAG ^ mix64((uint64_t)y));
        float *b = blur->data + (size_t)y * w * 3, *s = sharp->data + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            double sum[3] = {0, 0, 0}, v[3];
            double dx = x - cx, dy = y - cy;
            for (int k = 0; k < n; k++) {
                double qx = ox + cx + cs[k] * dx - sn[k] * dy + P.tx[k];
                double qy = oy + cy + sn[k] * dx + cs[k] * dy + P.ty[k];
                sample(lin, rw, rh, qx * inv + off - bx0, qy * inv + off - by0, v);
                for (int c = 0; c < 3; c++) sum[c] += v[c];
                if (k == mid)
                    for (int c = 0; c < 3; c++) s[3 * x + c] = encode(v[c]);
            }
            for (int c = 0; c < 3; c++) {
                double e = encode(sum[c] / n);
                if (sigma > 0) e = clamp01(e + sigma * rng_normal(&nrng));
                b[3 * x + c] = (float)e;
            }
        }
    }
    free(lin);
    return SUNG_OK;
}
