/* Synthetic blurred/sharp pairs from one sharp photo (SPEC §9).
 *
 * GOPRO_Large made each blurred image by averaging N consecutive 240 fps frames of a
 * hand-held camera; its sharp image is the middle one. SUNG_SYNTH_SHAKE makes the frames
 * from a still photo seen by a camera that shakes in all six degrees of freedom;
 * SUNG_SYNTH_TRAJECTORY is a different family, for testing generalisation only: one
 * random-trajectory kernel convolved with the photo.
 *
 * ---- Geometry ------------------------------------------------------------------------
 * The output (w×h) is a window of a camera frame F (frame_w×frame_h, default the output
 * itself) at an integer place (wx, wy) drawn uniformly inside F; frame pixel P = output
 * pixel + (wx, wy); c = the centre of F, D its diagonal, r = D/2. Sizes scale with
 * σ_F = D / hypot(1280, 720): what is said "at 1280×720" is multiplied by σ_F.
 *
 * ---- SHAKE: the camera path -----------------------------------------------------------
 * A planar path of unit length (after Boracchi & Foi, "Modeling the performance of image
 * restoration from motion blur", IEEE TIP 2012: a particle with inertia, random
 * acceleration, a pull back to where it started and rare impulsive direction changes).
 * Positions are complex numbers x; with T = PATH_STEPS steps of length l = 1/T:
 *   per path:  heading ψ ~ U[0, 2π); drift σ ~ U[0, DRIFT_MAX]; pull κ ~ U[0, PULL_MAX];
 *              shake probability p ~ U[0, SHAKE_MAX]
 *   x_0 = 0,   v_0 = l·e^{iψ}
 *   each step: shake = 2·v·e^{i(π + δ)}, δ ~ U[-1/2, 1/2], with probability p, else 0
 *              v ← v + shake + l·(σ·(n1 + i·n2) − κ·x_t),   n1, n2 ~ N(0, 1)
 *              v ← l·v/|v|;   x_{t+1} = x_t + v
 * It is sampled at the N sub-frame times s_k = k/(N − 1) (N odd, so the middle one is
 * s = 1/2; linear interpolation between steps), relative to x(1/2): u_k.
 *
 * The path is L px long, L = strength·σ_F·L_ref, L_ref log-uniform in [LEN_MIN, LEN_MAX].
 * The focal length is f = φ·D, φ ~ U[FOCAL_MIN, FOCAL_MAX]. A fraction ρ ~ U[0, 1] of
 * the motion is camera rotation (yaw and pitch: perspective, the blur grows towards the
 * edges), the rest translation parallel to a fronto-parallel scene at depth 1 (a uniform
 * shift); on top, roll and a push along the optical axis drift linearly over the
 * exposure: roll(s) = Θ·(s − 1/2), Θ = ROT_SCALE·(L/r)·n_r, tz(s) = Z·(s − 1/2),
 * Z = ZOOM_SCALE·(L/r)·n_z, n ~ N(0, 1) clamped to ±2. Pose k:
 *   yaw b_k = atan(ρ·L·Re u_k / f), pitch a_k = −atan(ρ·L·Im u_k / f), roll g_k,
 *   R_k = Rz(g_k)·Ry(b_k)·Rx(a_k),  t_k = ((1 − ρ)·L·u_k / f, tz(s_k)),
 * and sub-frame k sees frame pixel P where the middle frame sees
 *   Q = c + f·(X'_x, X'_y)/X'_z,  X' = R_k·((P − c)/f, 1) + t_k   (a homography).
 * The middle pose is exactly the identity: sharp is an unwarped crop of the photo.
 *
 * A moving object (probability opts.objects, when `other` is given): an ellipse with
 * semi-axes drawn in [OBJ_MIN, OBJ_MAX]·min(w, h) and a 1.5 px soft edge, textured with a
 * random piece of `other`, centred at a random point of the window in the middle frame,
 * moving in a straight line by V = (0.5 + 1.5u)·max(L, 4σ_F) px over the exposure in a
 * random direction, composited over the scene in every sub-frame.
 *
 * ---- TRAJECTORY: the kernel -----------------------------------------------------------
 * Boracchi & Foi's generator as published (their createTrajectory): TRAJ_STEPS points,
 * total length L = strength·σ_F·L_ref, L_ref log-uniform in [TRAJ_LEN_MIN, TRAJ_LEN_MAX];
 * anxiety A ~ U[0, ANXIETY_MAX], centripetal C ~ U[0, 0.7], Gaussian term G ~ U[0, 10], big-shake
 * frequency F ~ U[0, 0.2]; v_0 = e^{iψ}·L/(T − 1); each step: with probability F·A a
 * shake 2·v·e^{i(π + δ)}, then v += shake + A·(G·(n1 + i·n2) − C·x_t)·L/(T − 1),
 * v ← v·(L/(T − 1))/|v|, x_{t+1} = x_t + v. The exposure keeps the first
 * max(2, round(E·T)) points, E ~ U[TRAJ_EXPOSURE_MIN, 1]. The kernel is those points,
 * centred on their mean, splatted bilinearly onto the integer grid (so the blur is not
 * shifted against the sharp image), normalised to sum 1, and convolved with the photo.
 *
 * ---- Light, highlights, noise ---------------------------------------------------------
 * The photo is decoded to linear light as x^2.2 (x clamped to [0, 1]). With γ = 2.2 the
 * sub-frames (or kernel taps) are averaged in linear light, where saturated pixels (all
 * three channels exactly 1) first have their light multiplied by 1 + H, H ~ U[0,
 * opts.highlights] with probability 1/2 (else 0) — a bright light that the sensor
 * clipped smears into a bright streak, as in real photos — and the average is clipped
 * to 1 (so a still camera changes nothing). With γ = 1 the sRGB values are averaged, as
 * GoPro's blur folder did. Noise, in linear light: y = x + sqrt(a·x + b)·n, n ~ N(0, 1) per value,
 * a = noise·u_a·NOISE_A_MAX, b = (noise·u_b·NOISE_B_MAX)²; then y is clipped, encoded as
 * y^(1/2.2) and rounded to 8 bits (the blurred image is a camera's output). The sharp
 * image is the middle sub-frame (the photo itself for TRAJECTORY), encoded, not rounded.
 *
 * ---- Placement --------------------------------------------------------------------------
 * Every position any output pixel reads (all sub-frames, or the kernel's reach) must lie
 * in the photo: the origin o (photo position of frame pixel (0, 0)) is drawn uniformly
 * among the integer positions that allow it. A photo too small for that is first scaled
 * up (by at most MAX_UPSCALE; beyond, SUNG_ERR_ARG) bilinearly in linear light.
 *
 * ---- Randomness -------------------------------------------------------------------------
 * SplitMix64 (as the weight init) with state = seed; uniforms u = (next >> 11)·2^-53;
 * normals by Box–Muller, one per two uniforms: n = sqrt(−2 ln(1 − u1))·cos(2π u2).
 * Draws, always all of them and in this order, whatever the options: γ's u, N's u,
 * L_ref's u, φ's u, ρ's u, n_r, n_z, H's two u, u_a, u_b, the object's u, the window's
 * two u; then the path (SHAKE: ψ, σ, p, κ, then per step u_shake [, δ], n1, n2;
 * TRAJECTORY: A, C, G, F, ψ, E, then per step u_shake [, δ], n1, n2); then the origin
 * (x, then y); then, if there is an object: its two semi-axes, centre (x, y), direction,
 * speed and texture origin (x, y). The noise of output row y comes from its own
 * SplitMix64 stream, state = mix(seed ^ NOISE_TAG ^ mix(y)), so the result does not
 * depend on the number of threads. No global state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

#define PATH_STEPS 64
#define DRIFT_MAX 0.12  /* σ: heading noise per step, relative to the speed */
#define PULL_MAX 0.2    /* κ: pull towards the start, per unit of distance */
#define SHAKE_MAX 0.008 /* p: 0.26 shakes per path on average */
#define LEN_MIN 8.0     /* px at 1280×720, strength 1 (calibrated: docs/DATA.md) */
#define LEN_MAX 85.0
#define FOCAL_MIN 0.45  /* × the frame's diagonal: diagonal fields of view 96°..53° */
#define FOCAL_MAX 1.0
#define ROT_SCALE 0.25
#define ZOOM_SCALE 0.15
#define OBJ_MIN 0.08
#define OBJ_MAX 0.3
#define TRAJ_STEPS 2000
#define TRAJ_LEN_MIN 12.0
#define ANXIETY_MAX 0.01 /* B&F's demo uses 0.005; at 0.1 the path curls into a knot */
#define TRAJ_LEN_MAX 110.0
#define TRAJ_EXPOSURE_MIN 0.4
#define NOISE_A_MAX 1.5e-3
#define NOISE_B_MAX 8e-4
#define MAX_UPSCALE 8.0
#define MAX_STRENGTH 10.0
#define GAMMA 2.2
#define TWO_PI 6.283185307179586476925
#define NOISE_TAG 0x6e6f6973652d7379ull /* "noise-sy" */

static const double ref_diagonal = 1468.6047800548653; /* hypot(1280, 720) */

/* ---- random numbers ------------------------------------------------------------------ */

static double clamp2(double n) { return fmax(-2.0, fmin(2.0, n)); }

/* ---- the SHAKE camera path ----------------------------------------------------------- */

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
    for (int k = 0; k < n; k++) {
        double f = (double)k * PATH_STEPS / (n - 1);
        int i = (int)f;
        if (i >= PATH_STEPS) i = PATH_STEPS - 1;
        double a = f - i;
        out_x[k] = px[i] + a * (px[i + 1] - px[i]) - px[PATH_STEPS / 2];
        out_y[k] = py[i] + a * (py[i + 1] - py[i]) - py[PATH_STEPS / 2];
    }
}

/* M = Rz(g)·Ry(b)·Rx(a) + t·e3ᵀ (row-major 3×3): X' = M·(d, 1) for d = (P − c)/f. */
static void pose_matrix(double a, double b, double g, const double t[3], double M[9])
{
    double ca = cos(a), sa = sin(a), cb = cos(b), sb = sin(b), cg = cos(g), sg = sin(g);
    double Rx[9] = {1, 0, 0, 0, ca, -sa, 0, sa, ca};
    double Ry[9] = {cb, 0, sb, 0, 1, 0, -sb, 0, cb};
    double Rz[9] = {cg, -sg, 0, sg, cg, 0, 0, 0, 1};
    double T[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) T[3 * i + j] = Ry[3 * i] * Rx[j] + Ry[3 * i + 1] * Rx[3 + j] + Ry[3 * i + 2] * Rx[6 + j];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) M[3 * i + j] = Rz[3 * i] * T[j] + Rz[3 * i + 1] * T[3 + j] + Rz[3 * i + 2] * T[6 + j];
    for (int i = 0; i < 3; i++) M[3 * i + 2] += t[i];
}

typedef struct {
    int n;
    double M[13][9];   /* per sub-frame */
    double f, cx, cy;  /* focal length and frame centre, px */
    int identity[13];  /* the middle sub-frame: exactly the identity */
} shake_poses;

/* Frame pixel (x, y) of sub-frame k → middle-frame position; 0 if behind the camera. */
static int pose_map(const shake_poses *S, int k, double x, double y, double *qx, double *qy)
{
    if (S->identity[k]) {
        *qx = x, *qy = y;
        return 1;
    }
    const double *M = S->M[k];
    double dx = (x - S->cx) / S->f, dy = (y - S->cy) / S->f;
    double X = M[0] * dx + M[1] * dy + M[2], Y = M[3] * dx + M[4] * dy + M[5], Z = M[6] * dx + M[7] * dy + M[8];
    if (!(Z > 0.2)) return 0;
    *qx = S->cx + S->f * X / Z;
    *qy = S->cy + S->f * Y / Z;
    return 1;
}

/* ---- the TRAJECTORY kernel ----------------------------------------------------------- */

typedef struct {
    int n;             /* taps */
    int *dx, *dy;      /* integer offsets: blur(p) = Σ w·scene(p + d) */
    float *w;
    int reach_x0, reach_x1, reach_y0, reach_y1; /* min/max offsets */
} kernel_taps;

static void taps_free(kernel_taps *K)
{
    free(K->dx), free(K->dy), free(K->w);
    memset(K, 0, sizeof *K);
}

/* Draws the trajectory (length len px) and turns it into taps; -1 when out of memory. */
static int draw_kernel(uint64_t *rng, double len, kernel_taps *K)
{
    memset(K, 0, sizeof *K);
    const int T = TRAJ_STEPS;
    double anxiety = ANXIETY_MAX * rng_uniform(rng), centripetal = 0.7 * rng_uniform(rng);
    double gauss = 10.0 * rng_uniform(rng), freq = 0.2 * rng_uniform(rng);
    double psi = TWO_PI * rng_uniform(rng);
    double exposure = TRAJ_EXPOSURE_MIN + (1.0 - TRAJ_EXPOSURE_MIN) * rng_uniform(rng);
    double step = len / (T - 1);
    double *px = malloc(sizeof(double) * T), *py = malloc(sizeof(double) * T);
    if (!px || !py) {
        free(px), free(py);
        return -1;
    }
    double vx = step * cos(psi), vy = step * sin(psi);
    px[0] = py[0] = 0;
    for (int t = 0; t < T - 1; t++) {
        double dx = 0, dy = 0;
        if (rng_uniform(rng) < freq * anxiety) {
            double a = 0.5 * TWO_PI + (rng_uniform(rng) - 0.5);
            dx = 2 * (vx * cos(a) - vy * sin(a));
            dy = 2 * (vx * sin(a) + vy * cos(a));
        }
        double n1 = rng_normal(rng), n2 = rng_normal(rng);
        vx += dx + anxiety * (gauss * n1 - centripetal * px[t]) * step;
        vy += dy + anxiety * (gauss * n2 - centripetal * py[t]) * step;
        double speed = hypot(vx, vy);
        if (speed > 0) vx *= step / speed, vy *= step / speed;
        else vx = step * cos(psi), vy = step * sin(psi);
        px[t + 1] = px[t] + vx;
        py[t + 1] = py[t] + vy;
    }
    int m = (int)lround(exposure * T);
    if (m < 2) m = 2;
    if (m > T) m = T;
    double mx = 0, my = 0;
    for (int t = 0; t < m; t++) mx += px[t], my += py[t];
    mx /= m, my /= m;
    double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    for (int t = 0; t < m; t++) {
        px[t] -= mx, py[t] -= my;
        x0 = fmin(x0, px[t]), x1 = fmax(x1, px[t]), y0 = fmin(y0, py[t]), y1 = fmax(y1, py[t]);
    }
    int gx0 = (int)floor(x0), gy0 = (int)floor(y0), gw = (int)floor(x1) + 2 - gx0, gh = (int)floor(y1) + 2 - gy0;
    double *grid = calloc((size_t)gw * gh, sizeof *grid);
    if (!grid) {
        free(px), free(py);
        return -1;
    }
    for (int t = 0; t < m; t++) {
        double fx = floor(px[t]), fy = floor(py[t]), ax = px[t] - fx, ay = py[t] - fy;
        int i = (int)fx - gx0, j = (int)fy - gy0;
        grid[(size_t)j * gw + i] += (1 - ax) * (1 - ay);
        grid[(size_t)j * gw + i + 1] += ax * (1 - ay);
        grid[(size_t)(j + 1) * gw + i] += (1 - ax) * ay;
        grid[(size_t)(j + 1) * gw + i + 1] += ax * ay;
    }
    free(px), free(py);
    int n = 0;
    for (size_t i = 0; i < (size_t)gw * gh; i++) n += grid[i] > 0;
    K->dx = malloc(sizeof(int) * n), K->dy = malloc(sizeof(int) * n), K->w = malloc(sizeof(float) * n);
    if (!K->dx || !K->dy || !K->w) {
        free(grid);
        taps_free(K);
        return -1;
    }
    K->reach_x0 = K->reach_y0 = 1 << 30, K->reach_x1 = K->reach_y1 = -(1 << 30);
    for (int j = 0; j < gh; j++)
        for (int i = 0; i < gw; i++) {
            double v = grid[(size_t)j * gw + i];
            if (!(v > 0)) continue;
            int dx = i + gx0, dy = j + gy0;
            K->dx[K->n] = dx, K->dy[K->n] = dy, K->w[K->n] = (float)(v / m);
            K->n++;
            if (dx < K->reach_x0) K->reach_x0 = dx;
            if (dx > K->reach_x1) K->reach_x1 = dx;
            if (dy < K->reach_y0) K->reach_y0 = dy;
            if (dy > K->reach_y1) K->reach_y1 = dy;
        }
    free(grid);
    return 0;
}

/* ---- pixels ------------------------------------------------------------------------ */

static double clamp01(double x) { return x > 0 ? (x < 1 ? x : 1) : 0; } /* NaN → 0 */
static float decode(float e) { return powf((float)clamp01(e), (float)GAMMA); }
static float encode(double lin) { return powf((float)clamp01(lin), (float)(1.0 / GAMMA)); }

/* A linear-light grid (gw×gh×3) of the virtual (scaled) photo, whose pixel (0, 0) is
 * virtual pixel (gx0, gy0). */
typedef struct {
    float *lin;
    int gx0, gy0, gw, gh;
} lin_grid;

/* Fills g with the virtual photo (the photo scaled by `scale`) over [gx0, gx0 + gw) ×
 * [gy0, gy0 + gh): exact pixels at scale 1, bilinear in linear light above. */
static void lin_px(const float *s, float gain, float out[3])
{
    for (int c = 0; c < 3; c++) out[c] = decode(s[c]);
    if (gain != 1.0f && s[0] >= 1.0f && s[1] >= 1.0f && s[2] >= 1.0f)
        for (int c = 0; c < 3; c++) out[c] *= gain;
}

/* ... saturated pixels (all channels 1) multiplied by gain. */
static sung_status grid_fill(lin_grid *g, const sung_image *photo, double scale, float gain, sung_error *err)
{
    g->lin = malloc((size_t)g->gw * g->gh * 3 * sizeof *g->lin);
    if (!g->lin) {
        model_set_error(err, "synth: out of memory for a %dx%d region", g->gw, g->gh);
        return SUNG_ERR_NOMEM;
    }
    const int pw = photo->w, ph = photo->h;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < g->gh; y++) {
        float *dst = g->lin + (size_t)y * g->gw * 3;
        if (scale == 1.0) {
            int sy = g->gy0 + y;
            sy = sy < 0 ? 0 : sy > ph - 1 ? ph - 1 : sy;
            for (int x = 0; x < g->gw; x++) {
                int sx = g->gx0 + x;
                sx = sx < 0 ? 0 : sx > pw - 1 ? pw - 1 : sx;
                lin_px(photo->data + ((size_t)sy * pw + sx) * 3, gain, dst + 3 * x);
            }
            continue;
        }
        double fy = (g->gy0 + y + 0.5) / scale - 0.5, by = floor(fy), ay = fy - by;
        int y0 = (int)by, y1 = y0 + 1;
        y0 = y0 < 0 ? 0 : y0 > ph - 1 ? ph - 1 : y0, y1 = y1 < 0 ? 0 : y1 > ph - 1 ? ph - 1 : y1;
        for (int x = 0; x < g->gw; x++) {
            double fx = (g->gx0 + x + 0.5) / scale - 0.5, bx = floor(fx), ax = fx - bx;
            int x0 = (int)bx, x1 = x0 + 1;
            x0 = x0 < 0 ? 0 : x0 > pw - 1 ? pw - 1 : x0, x1 = x1 < 0 ? 0 : x1 > pw - 1 ? pw - 1 : x1;
            float a[3], b[3], c[3], d[3];
            lin_px(photo->data + ((size_t)y0 * pw + x0) * 3, gain, a);
            lin_px(photo->data + ((size_t)y0 * pw + x1) * 3, gain, b);
            lin_px(photo->data + ((size_t)y1 * pw + x0) * 3, gain, c);
            lin_px(photo->data + ((size_t)y1 * pw + x1) * 3, gain, d);
            for (int ch = 0; ch < 3; ch++)
                dst[3 * x + ch] = (float)((1 - ay) * ((1 - ax) * a[ch] + ax * b[ch]) + ay * ((1 - ax) * c[ch] + ax * d[ch]));
        }
    }
    return SUNG_OK;
}

/* Bilinear sample of g at grid position (x, y), clamped to its edge. */
static void grid_sample(const lin_grid *g, double x, double y, double out[3])
{
    double fx = floor(x), fy = floor(y);
    double ax = x - fx, ay = y - fy;
    int x0 = (int)fx, y0 = (int)fy;
    if (x0 < 0) x0 = 0, ax = 0;
    if (y0 < 0) y0 = 0, ay = 0;
    if (x0 > g->gw - 1) x0 = g->gw - 1, ax = 0;
    if (y0 > g->gh - 1) y0 = g->gh - 1, ay = 0;
    int x1 = x0 + 1 < g->gw ? x0 + 1 : x0, y1 = y0 + 1 < g->gh ? y0 + 1 : y0;
    const float *a = g->lin + ((size_t)y0 * g->gw + x0) * 3, *b = g->lin + ((size_t)y0 * g->gw + x1) * 3;
    const float *c = g->lin + ((size_t)y1 * g->gw + x0) * 3, *d = g->lin + ((size_t)y1 * g->gw + x1) * 3;
    for (int ch = 0; ch < 3; ch++)
        out[ch] = (1 - ay) * ((1 - ax) * a[ch] + ax * b[ch]) + ay * ((1 - ax) * c[ch] + ax * d[ch]);
}

/* What one sub-frame (or tap) adds to the sum: its linear light (γ 2.2), or its sRGB
 * value (γ 1). */
typedef struct {
    int linear;        /* γ 2.2 */
} light;

static void light_add(const light *L, const double lin[3], double sum[3], double wgt)
{
    for (int c = 0; c < 3; c++) sum[c] += wgt * (L->linear ? lin[c] : encode(lin[c]));
}

/* The mean of the contributions → the noisy, clipped, encoded, 8-bit blurred value. */
static float finish(const light *L, double mean, double na, double nb, uint64_t *nrng)
{
    double lin = L->linear ? clamp01(mean) : pow(clamp01(mean), GAMMA);
    if (na > 0 || nb > 0) lin += sqrt(na * lin + nb) * rng_normal(nrng);
    return (float)(nearbyint(255.0 * encode(lin)) / 255.0);
}

/* ---- the moving object ------------------------------------------------------------- */

typedef struct {
    int on;
    double ax, ay;       /* semi-axes, px */
    double cx, cy;       /* centre in the middle frame (frame coordinates) */
    double vx, vy;       /* motion over the exposure, px */
    lin_grid tex;        /* (2ax + 3)×(2ay + 3) piece of `other`, linear light */
} moving_object;

/* The object's linear value and coverage at middle-frame position (qx, qy) at time s. */
static double object_at(const moving_object *O, double qx, double qy, double s, double out[3])
{
    double ux = qx - (O->cx + O->vx * (s - 0.5)), uy = qy - (O->cy + O->vy * (s - 0.5));
    if (fabs(ux) > O->ax + 1 || fabs(uy) > O->ay + 1) return 0;
    double rho = hypot(ux / O->ax, uy / O->ay);
    double alpha = (1.0 - rho) * fmin(O->ax, O->ay) / 1.5 + 0.5;
    if (alpha <= 0) return 0;
    grid_sample(&O->tex, ux + O->ax + 1, uy + O->ay + 1, out);
    return alpha < 1 ? alpha : 1;
}

/* ---- the public functions ------------------------------------------------------------ */

sung_synth_opts sung_synth_defaults(void)
{
    return (sung_synth_opts){.w = 0, .h = 0, .frame_w = 0, .frame_h = 0, .kind = SUNG_SYNTH_SHAKE,
                             .frames = 0, .gamma = GAMMA, .noise = 1.0, .strength = 1.0, .objects = 0.25,
                             .highlights = 4.0};
}

static sung_status check_opts(const sung_image *photo, const sung_synth_opts *o, int w, int h, int fw, int fh,
                              sung_error *err)
{
    if (!photo || !photo->data || photo->w < 1 || photo->h < 1) {
        model_set_error(err, "synth: empty photo");
        return SUNG_ERR_ARG;
    }
    if (w < 1 || h < 1 || w > SUNG_MAX_SIDE || h > SUNG_MAX_SIDE) {
        model_set_error(err, "synth: output size %dx%d out of range (1..%d)", w, h, SUNG_MAX_SIDE);
        return SUNG_ERR_ARG;
    }
    if (fw < w || fh < h || fw > SUNG_MAX_SIDE || fh > SUNG_MAX_SIDE) {
        model_set_error(err, "synth: the frame %dx%d must hold the output %dx%d (and be at most %d)", fw, fh, w, h,
                        SUNG_MAX_SIDE);
        return SUNG_ERR_ARG;
    }
    if (o->kind != SUNG_SYNTH_SHAKE && o->kind != SUNG_SYNTH_TRAJECTORY) {
        model_set_error(err, "synth: unknown kind %d", (int)o->kind);
        return SUNG_ERR_ARG;
    }
    if (o->frames != 0 && (o->frames < 7 || o->frames > 13 || o->frames % 2 == 0)) {
        model_set_error(err, "synth: frames must be odd and 7..13 (or 0 for random), not %d", o->frames);
        return SUNG_ERR_ARG;
    }
    if (o->gamma != 0 && o->gamma != 1 && o->gamma != GAMMA) {
        model_set_error(err, "synth: gamma must be 2.2, 1 or 0 (random), not %g", o->gamma);
        return SUNG_ERR_ARG;
    }
    if (!(o->noise >= 0 && o->noise <= 10)) {
        model_set_error(err, "synth: noise %g out of range (0..10)", o->noise);
        return SUNG_ERR_ARG;
    }
    if (!(o->strength >= 0 && o->strength <= MAX_STRENGTH)) {
        model_set_error(err, "synth: strength %g out of range (0..%g)", o->strength, MAX_STRENGTH);
        return SUNG_ERR_ARG;
    }
    if (!(o->highlights >= 0 && o->highlights <= 100)) {
        model_set_error(err, "synth: highlights %g out of range (0..100)", o->highlights);
        return SUNG_ERR_ARG;
    }
    if (!(o->objects >= 0 && o->objects <= 1)) {
        model_set_error(err, "synth: objects %g out of range (0..1)", o->objects);
        return SUNG_ERR_ARG;
    }
    return SUNG_OK;
}

sung_status sung_synth_pair(const sung_image *photo, const sung_image *other, const sung_synth_opts *o,
                            uint64_t seed, sung_image *blur, sung_image *sharp, sung_synth_info *info,
                            sung_error *err)
{
    memset(blur, 0, sizeof *blur);
    memset(sharp, 0, sizeof *sharp);
    int w = o->w ? o->w : (photo ? photo->w : 0), h = o->h ? o->h : (photo ? photo->h : 0);
    int fw = o->frame_w ? o->frame_w : w, fh = o->frame_h ? o->frame_h : h;
    sung_status st = check_opts(photo, o, w, h, fw, fh, err);
    if (st != SUNG_OK) return st;
    const int shake = o->kind == SUNG_SYNTH_SHAKE;

    /* the pair's draws, all of them, whatever the options */
    uint64_t rng = seed;
    double u_gamma = rng_uniform(&rng), u_frames = rng_uniform(&rng), u_len = rng_uniform(&rng);
    double u_focal = rng_uniform(&rng), rho = rng_uniform(&rng);
    double n_roll = clamp2(rng_normal(&rng)), n_zoom = clamp2(rng_normal(&rng));
    double u_hl_on = rng_uniform(&rng), u_hl = rng_uniform(&rng);
    double u_na = rng_uniform(&rng), u_nb = rng_uniform(&rng), u_obj = rng_uniform(&rng);
    double u_wx = rng_uniform(&rng), u_wy = rng_uniform(&rng);

    const double diag = hypot(fw, fh), sigma_f = diag / ref_diagonal;
    light L = {.linear = o->gamma == 0 ? u_gamma >= 0.5 : o->gamma != 1};
    const double hl_gain = L.linear && u_hl_on < 0.5 ? o->highlights * u_hl : 0.0;
    const double na = o->noise * u_na * NOISE_A_MAX, nb = pow(o->noise * u_nb * NOISE_B_MAX, 2);
    const int wx = (int)floor(u_wx * (fw - w + 1)), wy = (int)floor(u_wy * (fh - h + 1));
    sung_synth_info I = {.kind = o->kind, .gamma = L.linear ? GAMMA : 1.0, .noise_a = na, .noise_b = nb,
                         .highlight = 1.0 + hl_gain, .scale = 1.0};

    /* geometry: the extent (frame coordinates) of everything the window reads */
    shake_poses S = {0};
    kernel_taps K = {0};
    double xmin = wx, xmax = wx + w - 1, ymin = wy, ymax = wy + h - 1;
    if (shake) {
        int n = o->frames ? o->frames : 7 + 2 * (int)(4 * u_frames);
        double len = o->strength * sigma_f * LEN_MIN * exp(log(LEN_MAX / LEN_MIN) * u_len);
        double ux[13], uy[13];
        draw_path(&rng, n, ux, uy);
        S.n = n, S.f = (FOCAL_MIN + (FOCAL_MAX - FOCAL_MIN) * u_focal) * diag;
        S.cx = 0.5 * (fw - 1), S.cy = 0.5 * (fh - 1);
        double r = 0.5 * diag, theta = ROT_SCALE * len / r * n_roll, zoom = ZOOM_SCALE * len / r * n_zoom;
        for (int k = 0; k < n; k++) {
            double s = (double)k / (n - 1) - 0.5;
            double t[3] = {(1 - rho) * len * ux[k] / S.f, (1 - rho) * len * uy[k] / S.f, zoom * s};
            pose_matrix(-atan(rho * len * uy[k] / S.f), atan(rho * len * ux[k] / S.f), theta * s, t, S.M[k]);
        }
        S.identity[n / 2] = 1;
        for (int k = 0; k < n; k++)
            for (int j = 0; j < 4; j++) {
                double qx, qy;
                if (!pose_map(&S, k, j & 1 ? wx + w - 1 : wx, j & 2 ? wy + h - 1 : wy, &qx, &qy)) {
                    model_set_error(err, "synth: a camera pose looks behind the camera (strength %g too high)",
                                    o->strength);
                    return SUNG_ERR_ARG;
                }
                xmin = fmin(xmin, qx), xmax = fmax(xmax, qx), ymin = fmin(ymin, qy), ymax = fmax(ymax, qy);
            }
        I.frames = n, I.length = len, I.focal = S.f, I.roll = theta, I.zoom = zoom;
    } else {
        double len = o->strength * sigma_f * TRAJ_LEN_MIN * exp(log(TRAJ_LEN_MAX / TRAJ_LEN_MIN) * u_len);
        if (draw_kernel(&rng, len, &K)) {
            model_set_error(err, "synth: out of memory for the kernel");
            return SUNG_ERR_NOMEM;
        }
        xmin += K.reach_x0, xmax += K.reach_x1, ymin += K.reach_y0, ymax += K.reach_y1;
        I.length = len, I.kernel_w = K.reach_x1 - K.reach_x0 + 1, I.kernel_h = K.reach_y1 - K.reach_y0 + 1;
    }

    /* placement: origin o with o + min >= 0 and o + max <= size − 1 (the scaled photo) */
    double left = ceil(-xmin), top = ceil(-ymin);
    double need_w = left + xmax + 1, need_h = top + ymax + 1;
    double scale = fmax(1.0, fmax(need_w / photo->w, need_h / photo->h));
    if (scale > MAX_UPSCALE) {
        model_set_error(err, "synth: a %dx%d photo is too small for %dx%d pairs with %.0fx%.0f px of "
                        "motion (it would need scaling by %.1f, more than %g)",
                        photo->w, photo->h, w, h, need_w - w, need_h - h, scale, MAX_UPSCALE);
        taps_free(&K);
        return SUNG_ERR_ARG;
    }
    double vw = scale * photo->w, vh = scale * photo->h; /* the scaled photo */
    double span_x = floor(vw - 1 - xmax - left + 1e-9), span_y = floor(vh - 1 - ymax - top + 1e-9);
    double ox = left + floor(rng_uniform(&rng) * (fmax(span_x, 0) + 1));
    double oy = top + floor(rng_uniform(&rng) * (fmax(span_y, 0) + 1));
    I.scale = scale;

    /* the linear-light grid of the scaled photo that the window reads (one px of margin) */
    lin_grid G = {.gx0 = (int)floor(ox + xmin) - 1, .gy0 = (int)floor(oy + ymin) - 1};
    G.gw = (int)ceil(ox + xmax) + 2 - G.gx0, G.gh = (int)ceil(oy + ymax) + 2 - G.gy0;

    moving_object O = {0};
    if (shake && other && other->data && u_obj < o->objects && other->w >= 16 && other->h >= 16) {
        double m = fmin(w, h);
        O.on = 1;
        O.ax = fmin((OBJ_MIN + (OBJ_MAX - OBJ_MIN) * rng_uniform(&rng)) * m, 0.5 * (other->w - 3));
        O.ay = fmin((OBJ_MIN + (OBJ_MAX - OBJ_MIN) * rng_uniform(&rng)) * m, 0.5 * (other->h - 3));
        O.ax = fmax(O.ax, 2), O.ay = fmax(O.ay, 2);
        O.cx = wx + rng_uniform(&rng) * (w - 1), O.cy = wy + rng_uniform(&rng) * (h - 1);
        double dir = TWO_PI * rng_uniform(&rng), v = (0.5 + 1.5 * rng_uniform(&rng)) * fmax(I.length, 4 * sigma_f);
        O.vx = v * cos(dir), O.vy = v * sin(dir);
        O.tex.gw = (int)ceil(2 * O.ax) + 3, O.tex.gh = (int)ceil(2 * O.ay) + 3;
        O.tex.gx0 = (int)floor(rng_uniform(&rng) * (other->w - O.tex.gw + 1));
        O.tex.gy0 = (int)floor(rng_uniform(&rng) * (other->h - O.tex.gh + 1));
        I.object = 1;
    }

    st = grid_fill(&G, photo, scale, (float)(1.0 + hl_gain), err);
    if (st == SUNG_OK && O.on) st = grid_fill(&O.tex, other, 1.0, 1.0f, err);
    if (st == SUNG_OK) st = sung_image_alloc(blur, w, h, err);
    if (st == SUNG_OK) st = sung_image_alloc(sharp, w, h, err);
    if (st != SUNG_OK) {
        free(G.lin), free(O.tex.lin);
        taps_free(&K);
        sung_image_free(blur);
        sung_image_free(sharp);
        return st;
    }

    /* grid position of frame position (x, y): x + ox − gx0 */
    const double gox = ox - G.gx0, goy = oy - G.gy0;
    const int igx = (int)ox - G.gx0 + wx, igy = (int)oy - G.gy0 + wy; /* output (0, 0) in the grid */
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        uint64_t nrng = rng_mix64(seed ^ NOISE_TAG ^ rng_mix64((uint64_t)y));
        float *b = blur->data + (size_t)y * w * 3, *s = sharp->data + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            double sum[3] = {0, 0, 0}, v[3], ov[3];
            int taps;
            if (shake) {
                taps = S.n;
                for (int k = 0; k < S.n; k++) {
                    double qx, qy, t = (double)k / (S.n - 1);
                    pose_map(&S, k, x + wx, y + wy, &qx, &qy);
                    grid_sample(&G, qx + gox, qy + goy, v);
                    double a = O.on ? object_at(&O, qx, qy, t, ov) : 0;
                    if (a > 0)
                        for (int c = 0; c < 3; c++) v[c] = a * ov[c] + (1 - a) * v[c];
                    light_add(&L, v, sum, 1.0);
                    if (S.identity[k])
                        for (int c = 0; c < 3; c++) s[3 * x + c] = encode(v[c]); /* clipped */
                }
            } else {
                taps = 1; /* the weights sum to 1 */
                const float *g0 = G.lin + ((size_t)(y + igy) * G.gw + (size_t)(x + igx)) * 3;
                for (int c = 0; c < 3; c++) s[3 * x + c] = encode(g0[c]);
                for (int j = 0; j < K.n; j++) {
                    const float *g = g0 + ((ptrdiff_t)K.dy[j] * G.gw + K.dx[j]) * 3;
                    light_add(&L, (double[3]){g[0], g[1], g[2]}, sum, K.w[j]);
                }
            }
            for (int c = 0; c < 3; c++) b[3 * x + c] = finish(&L, sum[c] / taps, na, nb, &nrng);
        }
    }
    free(G.lin), free(O.tex.lin);
    taps_free(&K);
    if (info) *info = I;
    return SUNG_OK;
}
