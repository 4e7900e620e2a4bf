/* Synthetic pairs (src/synth.c) and JPEG I/O (src/jpeg.c), on images made here.
 *
 * synth (the model of the comment at the top of src/synth.c):
 *  - basics: the defaults; sizes (w = h = 0: the photo's); values in [0, 1], the blurred
 *    ones on the 8-bit grid k/255; deterministic for a seed, also across thread counts,
 *    and different for another; sharp is an exact crop of the photo (SHAKE without
 *    objects, TRAJECTORY); 7 and 13 sub-frames give different blurs;
 *  - no motion (strength 0, no noise): blur = sharp to within the 8-bit rounding, for
 *    both kinds and both gammas, even where saturated highlights would be boosted;
 *  - motion blurs: less gradient energy than sharp, both kinds;
 *  - linear light: a 0/1 checkerboard keeps mean(blur^2.2) = 1/2 (γ 2.2, blur itself
 *    brightens) or mean(blur) = 1/2 (γ 1); a flat photo stays flat;
 *  - highlights: a boosted saturated square smears into a streak with more light than
 *    the sharp square, and without the boost the light is conserved;
 *  - noise: Poisson-Gaussian in linear light, σ and mean as the model predicts after
 *    encoding and 8-bit rounding; none: exactly the rounded flat value;
 *  - SHAKE varies across the frame (the covariance of a point's blur differs between
 *    points); TRAJECTORY is one kernel everywhere;
 *  - moving objects: textured from `other`, only when asked for and given;
 *  - the frame: blur lengths scale with it, the output does not; smaller than the
 *    output is an error;
 *  - gamma 0 draws both gammas;
 *  - errors: bad options, photos far too small or empty; a photo a little small is
 *    scaled up.
 * JPEG: quality-100 round trip; gray and progressive files; CMYK, oversized, truncated,
 * corrupt and missing files are errors, never crashes. */
#include <stdio.h> /* before jpeglib.h */
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "jpeg.h"
#include "sung.h"
#include "testutil.h"

static char dir[] = "/tmp/sung-test-synth-XXXXXX";

static const char *tmp_path(const char *name) { return test_path(dir, name); }

/* A w×h "photo" of 8-bit values: fine random texture, a few flat rectangles and discs
 * with sharp edges, so that every crop position is unique and motion shows. */
static void make_photo(sung_image *im, int w, int h)
{
    sung_error e;
    CHECK(sung_image_alloc(im, w, h, &e) == SUNG_OK, "%s", e.msg);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *p = im->data + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) p[c] = (float)(int)(256 * test_uniform()) / 255.0f;
            if ((x / 17 + y / 13) % 4 == 0) p[0] = 0.9f, p[1] = 0.2f, p[2] = 0.1f;
            int dx = x - w / 3, dy = y - h / 2;
            if (dx * dx + dy * dy < (h / 5) * (h / 5)) p[0] = p[1] = p[2] = 0.05f;
        }
}

/* A w×h photo of one colour. */
static void make_flat(sung_image *im, int w, int h, float r, float g, float b)
{
    sung_error e;
    CHECK(sung_image_alloc(im, w, h, &e) == SUNG_OK, "%s", e.msg);
    for (size_t i = 0; i < (size_t)w * h; i++) im->data[3 * i] = r, im->data[3 * i + 1] = g, im->data[3 * i + 2] = b;
}

static void set_px(sung_image *im, int x, int y, float v)
{
    float *p = im->data + ((size_t)y * im->w + x) * 3;
    p[0] = p[1] = p[2] = v;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static int same_image(const sung_image *a, const sung_image *b)
{
    return a->w == b->w && a->h == b->h && !memcmp(a->data, b->data, (size_t)a->w * a->h * 3 * sizeof(float));
}

/* Are all values in [0, 1] (and not NaN)? */
static int in_unit_range(const sung_image *im)
{
    int ok = 1;
    for (size_t i = 0; i < (size_t)im->w * im->h * 3; i++) ok &= im->data[i] >= 0 && im->data[i] <= 1;
    return ok;
}

/* Are all values k/255 (to 1e-6)? */
static int on_8bit_grid(const sung_image *im)
{
    int ok = 1;
    for (size_t i = 0; i < (size_t)im->w * im->h * 3; i++)
        ok &= fabs(im->data[i] - nearbyint(255.0 * im->data[i]) / 255.0) <= 1e-6;
    return ok;
}

/* Σ of squared forward differences over all channels, per pixel */
static double grad_energy(const sung_image *im)
{
    double s = 0;
    for (int y = 0; y + 1 < im->h; y++)
        for (int x = 0; x + 1 < im->w; x++)
            for (int c = 0; c < 3; c++) {
                const float *p = im->data + ((size_t)y * im->w + x) * 3 + c;
                double gx = p[3] - p[0], gy = p[(size_t)im->w * 3] - p[0];
                s += gx * gx + gy * gy;
            }
    return s / ((double)(im->w - 1) * (im->h - 1));
}

/* Where in photo is `crop` to within tol (max abs)? 1 and *ox, *oy if somewhere. */
static int find_crop(const sung_image *photo, const sung_image *crop, double tol, int *ox, int *oy)
{
    for (int y0 = 0; y0 + crop->h <= photo->h; y0++)
        for (int x0 = 0; x0 + crop->w <= photo->w; x0++) {
            int ok = 1;
            for (int y = 0; y < crop->h && ok; y++) {
                const float *a = photo->data + ((size_t)(y0 + y) * photo->w + x0) * 3;
                const float *b = crop->data + (size_t)y * crop->w * 3;
                for (int i = 0; i < crop->w * 3 && ok; i++) ok = fabs((double)a[i] - b[i]) <= tol;
            }
            if (ok) {
                *ox = x0, *oy = y0;
                return 1;
            }
        }
    return 0;
}

/* sung_synth_pair that must succeed; on failure blur and sharp are empty (data NULL). */
static int pair_ok(const sung_image *photo, const sung_image *other, const sung_synth_opts *o, uint64_t seed,
                   sung_image *b, sung_image *s, sung_synth_info *info, const char *what)
{
    sung_error e;
    e.msg[0] = 0;
    sung_status st = sung_synth_pair(photo, other, o, seed, b, s, info, &e);
    CHECK(st == SUNG_OK, "%s, seed %llu: status %d, '%s'", what, (unsigned long long)seed, st, e.msg);
    return st == SUNG_OK;
}

static void free_pair(sung_image *b, sung_image *s) { sung_image_free(b), sung_image_free(s); }

static const double gamma_ = 2.2;
static const sung_synth_kind kinds[2] = {SUNG_SYNTH_SHAKE, SUNG_SYNTH_TRAJECTORY};
static const char *kind_name(sung_synth_kind k) { return k == SUNG_SYNTH_SHAKE ? "shake" : "trajectory"; }

static void test_synth_basics(const sung_image *photo)
{
    sung_synth_opts d = sung_synth_defaults();
    CHECK(d.w == 0 && d.h == 0 && d.frame_w == 0 && d.frame_h == 0 && d.kind == SUNG_SYNTH_SHAKE && d.frames == 0 &&
              d.gamma == 2.2 && d.noise == 1.0 && d.strength == 1.0 && d.objects == 0.25 && d.highlights == 4.0,
          "defaults: %dx%d frame %dx%d kind %d frames %d gamma %g noise %g strength %g objects %g highlights %g", d.w,
          d.h, d.frame_w, d.frame_h, (int)d.kind, d.frames, d.gamma, d.noise, d.strength, d.objects, d.highlights);

    const size_t n = (size_t)96 * 64 * 3;
    for (int k = 0; k < 2; k++) {
        sung_synth_opts o = d;
        o.w = 96, o.h = 64, o.kind = kinds[k], o.objects = 0;
        const char *kn = kind_name(kinds[k]);
        sung_image b1, s1, b2, s2;
        sung_synth_info i1, i2;
        if (!pair_ok(photo, NULL, &o, 42, &b1, &s1, &i1, kn)) continue;
        CHECK(b1.w == 96 && b1.h == 64 && s1.w == 96 && s1.h == 64, "%s: sizes %dx%d / %dx%d", kn, b1.w, b1.h, s1.w,
              s1.h);
        CHECK(in_unit_range(&b1) && in_unit_range(&s1), "%s: values outside [0, 1] (or NaN)", kn);
        CHECK(on_8bit_grid(&b1), "%s: blurred values are not k/255", kn);
        CHECK(i1.kind == kinds[k] && i1.gamma == 2.2 && i1.length > 0 && i1.scale == 1.0, "%s: info kind %d gamma %g "
              "length %g scale %g", kn, (int)i1.kind, i1.gamma, i1.length, i1.scale);
        CHECK(i1.noise_a > 0 || i1.noise_b > 0, "%s: noise 1 drew no noise (a %g, b %g)", kn, i1.noise_a, i1.noise_b);
        CHECK(max_abs_diff(b1.data, s1.data, n) > 0.05, "%s: blur == sharp", kn);

        /* determinism: same seed, same pixels (also on another number of threads) */
        if (pair_ok(photo, NULL, &o, 42, &b2, &s2, &i2, kn)) {
            CHECK(same_image(&b1, &b2) && same_image(&s1, &s2) && i1.length == i2.length && i1.focal == i2.focal &&
                      i1.frames == i2.frames && i1.noise_a == i2.noise_a && i1.highlight == i2.highlight,
                  "%s: same seed, different pair", kn);
            free_pair(&b2, &s2);
        }
#ifdef _OPENMP
        int threads = omp_get_max_threads();
        omp_set_num_threads(threads > 1 ? 1 : 3);
        if (pair_ok(photo, NULL, &o, 42, &b2, &s2, NULL, kn)) {
            CHECK(same_image(&b1, &b2) && same_image(&s1, &s2), "%s: the result depends on the number of threads", kn);
            free_pair(&b2, &s2);
        }
        omp_set_num_threads(threads);
#endif
        if (pair_ok(photo, NULL, &o, 43, &b2, &s2, NULL, kn)) {
            CHECK(!same_image(&b1, &b2) && !same_image(&s1, &s2), "%s: seeds 42 and 43 give the same pair", kn);
            free_pair(&b2, &s2);
        }

        /* SHAKE's sharp image is the unwarped middle sub-frame, TRAJECTORY's the photo */
        int ox, oy;
        CHECK(find_crop(photo, &s1, 1e-5, &ox, &oy), "%s: sharp is not a crop of the photo", kn);
        free_pair(&b1, &s1);
    }

    /* w = h = 0: the photo's size (the motion margin is found by scaling up) */
    sung_image b1, s1, b2, s2;
    sung_synth_info info;
    if (pair_ok(photo, NULL, &d, 5, &b1, &s1, &info, "at the photo's size")) {
        CHECK(b1.w == photo->w && b1.h == photo->h && s1.w == photo->w && s1.h == photo->h,
              "w = h = 0 gave %dx%d, not the photo's %dx%d", b1.w, b1.h, photo->w, photo->h);
        CHECK(info.scale > 1, "the photo's size needs a margin, but scale is %g", info.scale);
        free_pair(&b1, &s1);
    }

    /* the frame count is obeyed, and it changes the blur */
    sung_synth_opts o7 = d, o13 = d;
    o7.w = o13.w = 96, o7.h = o13.h = 64, o7.frames = 7, o13.frames = 13;
    sung_synth_info i7, i13;
    if (pair_ok(photo, NULL, &o7, 9, &b1, &s1, &i7, "7 frames")) {
        if (pair_ok(photo, NULL, &o13, 9, &b2, &s2, &i13, "13 frames")) {
            CHECK(i7.frames == 7 && i13.frames == 13, "frames drawn: %d and %d", i7.frames, i13.frames);
            CHECK(!same_image(&b1, &b2), "7 and 13 sub-frames give the same blur");
            free_pair(&b2, &s2);
        }
        free_pair(&b1, &s1);
    }
}

/* A still camera changes nothing but the 8-bit rounding, even where saturated
 * highlights are boosted (the average of equal boosted values is clipped back to 1). */
static void test_synth_no_motion(const sung_image *textured)
{
    sung_image photo;
    make_flat(&photo, textured->w, textured->h, 0, 0, 0);
    memcpy(photo.data, textured->data, (size_t)photo.w * photo.h * 3 * sizeof(float));
    for (int y = 20; y < 130; y += 11) /* white blocks and lone white pixels all over */
        for (int x = 15; x < 190; x += 13) {
            set_px(&photo, x, y, 1.0f);
            if ((x + y) % 3 == 0)
                for (int j = 0; j < 4; j++)
                    for (int i = 0; i < 4; i++) set_px(&photo, x + i, y + j, 1.0f);
        }
    sung_synth_opts o = sung_synth_defaults();
    o.noise = 0, o.strength = 0, o.objects = 0;
    /* seeds 0, 1 and the first that boosts (what a seed draws does not depend on the size) */
    uint64_t seeds[3] = {0, 1, 2};
    o.w = o.h = 8;
    for (uint64_t seed = 2; seed < 64; seed++) {
        sung_image b, s;
        sung_synth_info info;
        if (!pair_ok(&photo, NULL, &o, seed, &b, &s, &info, "highlight search")) break;
        free_pair(&b, &s);
        if (info.highlight > 2) {
            seeds[2] = seed;
            break;
        }
    }
    o.w = 120, o.h = 80;
    const size_t n = (size_t)120 * 80 * 3;
    int boosted = 0;
    for (int k = 0; k < 2; k++)
        for (int g = 0; g < 2; g++)
            for (int i = 0; i < 3; i++) {
                uint64_t seed = seeds[i];
                o.kind = kinds[k], o.gamma = g ? 1.0 : 2.2;
                sung_image b, s;
                sung_synth_info info;
                if (!pair_ok(&photo, NULL, &o, seed, &b, &s, &info, "no motion")) continue;
                boosted += info.highlight > 2;
                double d = max_abs_diff(b.data, s.data, n);
                CHECK(d <= 0.5 / 255 + 1e-6, "%s, gamma %g, seed %llu (highlight %g): still camera, blur differs from "
                      "sharp by %g x 1/255", kind_name(o.kind), o.gamma, (unsigned long long)seed, info.highlight,
                      d * 255);
                int ox, oy, whites = 0;
                CHECK(find_crop(&photo, &s, 1e-5, &ox, &oy), "%s, gamma %g: still camera, sharp is not a crop",
                      kind_name(o.kind), o.gamma);
                for (size_t j = 0; j < n; j++) whites += b.data[j] == 1.0f;
                CHECK(whites >= 3 * 16, "%s, gamma %g: only %d white values in the window", kind_name(o.kind),
                      o.gamma, whites);
                free_pair(&b, &s);
            }
    CHECK(boosted >= 2, "%d runs boosted the highlights (by > 2), not 2 (seed %llu, γ 2.2, both kinds)", boosted,
          (unsigned long long)seeds[2]);
    sung_image_free(&photo);
}

static void test_synth_blurs(void)
{
    sung_image photo;
    make_photo(&photo, 320, 240);
    sung_synth_opts o = sung_synth_defaults();
    o.w = 160, o.h = 120, o.noise = 0, o.strength = 4;
    for (int k = 0; k < 2; k++)
        for (uint64_t seed = 0; seed < 4; seed++) {
            o.kind = kinds[k];
            sung_image b, s;
            sung_synth_info info;
            if (!pair_ok(&photo, NULL, &o, seed, &b, &s, &info, "blurs")) continue;
            double gb = grad_energy(&b), gs = grad_energy(&s);
            CHECK(gb < 0.9 * gs, "%s, seed %llu (length %.1f px): blur's gradient energy %g is not below 0.9 x "
                  "sharp's %g", kind_name(o.kind), (unsigned long long)seed, info.length, gb, gs);
            free_pair(&b, &s);
        }
    sung_image_free(&photo);
}

static double mean_of(const sung_image *im)
{
    double m = 0;
    for (size_t i = 0; i < (size_t)im->w * im->h * 3; i++) m += im->data[i];
    return m / ((double)im->w * im->h * 3);
}

/* Averaging 0s and 1s in linear light keeps the linear mean at 1/2, and the re-encoded
 * grey is brighter than 1/2 ((1/2)^(1/2.2) = 0.73 where blurred through); averaging the
 * sRGB values (γ 1) keeps mean(blur) at 1/2 instead.
 * γ 1 needs care with SHAKE: each sub-frame is resampled bilinearly in linear light (as
 * a sensor integrates light) before its sRGB values are averaged, so a pixel-scale
 * checkerboard is already grey, and brighter, in every warped sub-frame. On a board of
 * s-px squares that touches only pixels next to an edge, about 2/s of them, each by
 * E[t^(1/2.2)] − E[t] = 0.1875 on average over the interpolation weight t: mean(blur)
 * exceeds mean(sharp) by at most 0.375/s (+ 0.01 for the window's edges). Averaged in
 * linear light, the same board brightens by far more (> 0.05 at these lengths). */
static void test_synth_linear_light(void)
{
    const int sq = 16;
    sung_image checker, coarse, flat;
    make_flat(&checker, 300, 200, 0, 0, 0);
    make_flat(&coarse, 400, 300, 0, 0, 0);
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 400; x++) {
            if (x < 300 && y < 200 && (x + y) & 1) set_px(&checker, x, y, 1.0f);
            if ((x / sq + y / sq) & 1) set_px(&coarse, x, y, 1.0f);
        }
    make_flat(&flat, 300, 200, 0.3f, 0.5f, 0.7f);
    sung_synth_opts o = sung_synth_defaults();
    /* the boards' white squares are saturated: no boost here, it would add light */
    o.w = 200, o.h = 120, o.noise = 0, o.strength = 4, o.highlights = 0;
    const size_t n = (size_t)200 * 120 * 3;
    for (int k = 0; k < 2; k++)
        for (uint64_t seed = 0; seed < 2; seed++) {
            o.kind = kinds[k];
            const char *kn = kind_name(o.kind);
            sung_image b, s;
            o.gamma = 2.2;
            if (pair_ok(&checker, NULL, &o, seed, &b, &s, NULL, "checkerboard")) {
                double lin = 0;
                for (size_t i = 0; i < n; i++) lin += pow(b.data[i], gamma_);
                lin /= n;
                double enc = mean_of(&b);
                CHECK(fabs(lin - 0.5) < 0.01, "%s, seed %llu: mean(blur^2.2) = %g, not 1/2", kn,
                      (unsigned long long)seed, lin);
                CHECK(enc > 0.55, "%s, seed %llu: mean(blur) = %g: the sub-frames were not averaged in linear light",
                      kn, (unsigned long long)seed, enc);
                free_pair(&b, &s);
            }
            o.gamma = 1;
            if (o.kind == SUNG_SYNTH_TRAJECTORY && pair_ok(&checker, NULL, &o, seed, &b, &s, NULL, "checker, gamma 1")) {
                double enc = mean_of(&b);
                CHECK(fabs(enc - 0.5) < 0.01, "%s, seed %llu, gamma 1: mean(blur) = %g, not 1/2", kn,
                      (unsigned long long)seed, enc);
                free_pair(&b, &s);
            }
            if (o.kind == SUNG_SYNTH_SHAKE) {
                double up[2] = {0, 0};
                for (int g = 0; g < 2; g++) {
                    o.gamma = g ? 1 : 2.2;
                    if (!pair_ok(&coarse, NULL, &o, seed, &b, &s, NULL, "coarse board")) continue;
                    up[g] = mean_of(&b) - mean_of(&s);
                    free_pair(&b, &s);
                }
                CHECK(up[1] > -0.01 && up[1] < 0.375 / sq + 0.01, "shake, seed %llu, gamma 1: a %d-px board brightens "
                      "by %g (sRGB averaging: at most %g)", (unsigned long long)seed, sq, up[1], 0.375 / sq + 0.01);
                CHECK(up[0] > 0.05, "shake, seed %llu, gamma 2.2: a %d-px board brightens by only %g",
                      (unsigned long long)seed, sq, up[0]);
            }
            /* a flat photo stays flat under any motion */
            o.gamma = 2.2;
            if (pair_ok(&flat, NULL, &o, seed, &b, &s, NULL, "flat")) {
                double d = 0;
                for (size_t i = 0; i < n; i++) d = fmax(d, fabs(b.data[i] - (0.3 + 0.2 * (i % 3))));
                CHECK(d <= 0.5 / 255 + 1e-6, "%s, seed %llu: a flat photo's blur is off by %g x 1/255", kn,
                      (unsigned long long)seed, d * 255);
                free_pair(&b, &s);
            }
        }
    sung_image_free(&checker), sung_image_free(&coarse), sung_image_free(&flat);
}

/* Σ over the image of (value^2.2 − bg^2.2): the linear light above a background bg */
static double light_above(const sung_image *im, double bg)
{
    double s = 0, lbg = pow(bg, gamma_);
    for (size_t i = 0; i < (size_t)im->w * im->h * 3; i++) s += pow(im->data[i], gamma_) - lbg;
    return s;
}

/* Is every value within `band` px of the image's border equal to v (to 1e-6)? */
static int border_is(const sung_image *im, int band, double v)
{
    int ok = 1;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            if (x < band || y < band || x >= im->w - band || y >= im->h - band)
                for (int c = 0; c < 3; c++) ok &= fabs(im->data[((size_t)y * im->w + x) * 3 + c] - v) <= 1e-6;
    return ok;
}

static int count_value(const sung_image *im, float v)
{
    int n = 0;
    for (size_t i = 0; i < (size_t)im->w * im->h * 3; i++) n += im->data[i] == v;
    return n;
}

/* A saturated square on a dark photo, under a strong shake: boosted (info.highlight >
 * 2), its light smears into a streak that is clipped where it overlaps itself but still
 * carries clearly more light than the square had; not boosted, the light is conserved
 * (a homography changes areas a little, hence a few %). Seeds are searched for, in
 * order, among those whose streak stays inside the window (the border keeps the
 * background), so that all the light is counted. */
static void test_synth_highlights(void)
{
    /* the background 26/255 (about 0.1) lies on the 8-bit grid: rounding leaves it exact,
     * so it adds nothing to the light above it */
    const float bg = 26.0f / 255.0f;
    sung_image photo;
    make_flat(&photo, 240, 180, bg, bg, bg);
    for (int y = 87; y < 93; y++)
        for (int x = 117; x < 123; x++) set_px(&photo, x, y, 1.0f);
    sung_synth_opts o = sung_synth_defaults();
    o.w = 200, o.h = 150, o.noise = 0, o.strength = 6, o.objects = 0;
    sung_synth_opts o0 = o;
    o0.highlights = 0;
    int found_gain = 0, found_one = 0;
    for (uint64_t seed = 0; seed < 40 && !(found_gain && found_one); seed++) {
        sung_image b, s, b0, s0;
        sung_synth_info info;
        if (!pair_ok(&photo, NULL, &o, seed, &b, &s, &info, "highlights")) continue;
        int inside = border_is(&b, 3, bg) && count_value(&s, 1.0f) >= 3 * 36;
        int want_gain = !found_gain && info.highlight > 2, want_one = !found_one && info.highlight == 1;
        if (inside && (want_gain || want_one) && pair_ok(&photo, NULL, &o0, seed, &b0, &s0, NULL, "highlights 0")) {
            double es = light_above(&s, bg), eb = light_above(&b, bg), eb0 = light_above(&b0, bg);
            CHECK(border_is(&b0, 3, bg), "seed %llu: the streak leaves the window without the boost only",
                  (unsigned long long)seed);
            CHECK(same_image(&s, &s0), "seed %llu: the boost changed the sharp image", (unsigned long long)seed);
            CHECK(fabs(eb0 / es - 1) < 0.04, "seed %llu (length %.1f px): no boost, the blur has %.3f x the sharp's "
                  "light", (unsigned long long)seed, info.length, eb0 / es);
            if (want_gain) {
                found_gain = 1;
                CHECK(eb < 1.04 * info.highlight * es, "seed %llu (highlight %.2f): the streak has %.3f x the sharp's "
                      "light, more than the gain", (unsigned long long)seed, info.highlight, eb / es);
                CHECK(eb > 1.3 * es, "seed %llu (highlight %.2f, length %.1f px): the boosted streak has only %.3f x the "
                      "sharp's light", (unsigned long long)seed, info.highlight, info.length, eb / es);
                int sat = count_value(&b, 1.0f), sat0 = count_value(&b0, 1.0f);
                CHECK(sat > sat0, "seed %llu: the boosted streak has %d clipped values, the plain one %d",
                      (unsigned long long)seed, sat, sat0);
            } else {
                found_one = 1;
                CHECK(same_image(&b, &b0), "seed %llu: highlight 1 drawn, but the blur differs from highlights = 0",
                      (unsigned long long)seed);
            }
            free_pair(&b0, &s0);
        }
        free_pair(&b, &s);
    }
    CHECK(found_gain && found_one, "no seed in 0..39 with the streak inside and highlight %s",
          found_gain ? "== 1" : "> 2");
    sung_image_free(&photo);
}

/* Mean and standard deviation of round(255·(clip(x + σn))^(1/2.2))/255, n ~ N(0, 1), by
 * quadrature on a fine grid (the rounding makes the integrand a step function; at
 * 2·10^4 points the error is far below the tolerances used). */
static void encoded_noise_stats(double x, double sigma, double *mean, double *sd)
{
    const int m = 20000;
    double s0 = 0, s1 = 0, s2 = 0;
    for (int i = 0; i <= m; i++) {
        double n = -8.0 + 16.0 * i / m, p = exp(-0.5 * n * n);
        double y = fmax(0.0, fmin(1.0, x + sigma * n));
        double v = nearbyint(255.0 * pow(y, 1.0 / gamma_)) / 255.0;
        s0 += p, s1 += p * v, s2 += p * v * v;
    }
    *mean = s1 / s0;
    *sd = sqrt(fmax(0.0, s2 / s0 - *mean * *mean));
}

/* Mean and standard deviation of all the values of an image. */
static void image_stats(const sung_image *im, double *mean, double *sd)
{
    const size_t n = (size_t)im->w * im->h * 3;
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++) m += im->data[i];
    m /= n;
    for (size_t i = 0; i < n; i++) v += (im->data[i] - m) * (im->data[i] - m);
    *mean = m, *sd = sqrt(v / n);
}

/* Poisson-Gaussian noise added in linear light, then clipped, encoded and rounded, on
 * flat photos and a still camera (so the blurred image is the photo plus noise): on
 * grey (where a·x dominates) and on black (where only b acts, half the noise clipped). */
static void test_synth_noise(void)
{
    /* grey 128/255 rather than 0.5: 0.5 is halfway between two 8-bit values, and which
     * one the noiseless output rounds to would be up to float rounding */
    const float grey = 128.0f / 255.0f;
    sung_image photo, black, b, s;
    make_flat(&photo, 200, 150, grey, grey, grey);
    make_flat(&black, 200, 150, 0, 0, 0);
    sung_synth_opts o = sung_synth_defaults();
    o.noise = 5, o.strength = 0, o.objects = 0;
    sung_synth_info info = {0};
    uint64_t seed = 0;
    o.w = o.h = 8; /* what a seed draws does not depend on the size */
    for (; seed < 64; seed++) {
        if (!pair_ok(&photo, NULL, &o, seed, &b, &s, &info, "noise search")) break;
        free_pair(&b, &s);
        if (info.noise_a >= 2e-3 && info.noise_b >= 4e-6) break;
    }
    CHECK(info.noise_a >= 2e-3 && info.noise_b >= 4e-6, "no seed in 0..63 draws noise_a >= 2e-3 and noise_b >= "
          "4e-6 at noise 5 (last %g, %g)", info.noise_a, info.noise_b);
    /* noise is a scale: of the standard deviations, so a grows with it and b as its square */
    sung_synth_info half = {0};
    o.noise = 2.5;
    if (pair_ok(&photo, NULL, &o, seed, &b, &s, &half, "noise 2.5")) free_pair(&b, &s);
    CHECK(fabs(info.noise_a / half.noise_a - 2) < 1e-9 && fabs(info.noise_b / half.noise_b - 4) < 1e-9,
          "noise 5 vs 2.5: a %g vs %g, b %g vs %g (want x 2 and x 4)", info.noise_a, half.noise_a, info.noise_b,
          half.noise_b);
    o.noise = 5;
    o.w = 160, o.h = 120;
    const size_t n = (size_t)160 * 120 * 3;
    sung_synth_info i2;
    double m, sd, em, esd;
    if (pair_ok(&photo, NULL, &o, seed, &b, &s, &i2, "noise")) {
        CHECK(i2.noise_a == info.noise_a && i2.noise_b == info.noise_b, "the noise drawn depends on the size");
        image_stats(&b, &m, &sd);
        /* the prediction linearised at x: σ_enc = slope·sqrt(a·x + b), plus the 8-bit rounding */
        double x = pow(grey, gamma_), var_lin = i2.noise_a * x + i2.noise_b;
        double slope = (1 / gamma_) * pow(x, 1 / gamma_ - 1);
        double sd_lin = sqrt(slope * slope * var_lin + 1.0 / (12.0 * 255 * 255));
        CHECK(fabs(sd / sd_lin - 1) < 0.1, "noise on grey (a %g, b %g): sigma %g, linearised prediction %g",
              i2.noise_a, i2.noise_b, sd, sd_lin);
        /* and exactly: the encoding is concave, so the mean drops below grey by about
         * ½·|f''|·(a·x + b) (1.6e-3 here); the sampling error of the mean is
         * sd/sqrt(57600) ≈ 1.5e-4, of sigma 0.3 %, so 6e-4 and 3 % are > 4σ margins */
        encoded_noise_stats(x, sqrt(var_lin), &em, &esd);
        CHECK(fabs(m - em) < 6e-4 && fabs(sd / esd - 1) < 0.03, "noise on grey (a %g, b %g): mean %.5f, sigma "
              "%.5f; the model's %.5f, %.5f", i2.noise_a, i2.noise_b, m, sd, em, esd);
        CHECK(grey - em > 1e-3, "the test does not see the mean shift (model mean %.5f)", em);
        free_pair(&b, &s);
    }
    /* black: y = max(0, sqrt(b)·n), about 20/255 once encoded for these b */
    if (pair_ok(&black, NULL, &o, seed, &b, &s, &i2, "noise on black")) {
        image_stats(&b, &m, &sd);
        encoded_noise_stats(0, sqrt(i2.noise_b), &em, &esd);
        CHECK(em > 5.0 / 255 && fabs(m / em - 1) < 0.03 && fabs(sd / esd - 1) < 0.03, "noise on black (b %g): mean "
              "%.5f, sigma %.5f; the model's %.5f, %.5f", i2.noise_b, m, sd, em, esd);
        free_pair(&b, &s);
    }
    o.noise = 0;
    if (pair_ok(&photo, NULL, &o, seed, &b, &s, &i2, "no noise")) {
        CHECK(i2.noise_a == 0 && i2.noise_b == 0, "noise 0 drew a %g, b %g", i2.noise_a, i2.noise_b);
        int exact = 1;
        for (size_t i = 0; i < n; i++) exact &= b.data[i] == grey;
        CHECK(exact, "noise 0: a flat 128/255 is not exactly 128/255");
        free_pair(&b, &s);
    }
    sung_image_free(&photo), sung_image_free(&black);
}

/* Intensity-weighted covariances (xx, xy, yy; linear light of channel 0) of the blur in
 * (2r + 1)² windows around the points that are lit (> 0.25) in sharp, with their window
 * wholly inside; also each window's light relative to the point's own, and the distance
 * from the point to the light's centroid. Returns the number of points (at most max). */
static int point_covariances(const sung_image *b, const sung_image *s, int r, double point_light, double (*cov)[3],
                             double *light, double *shift, int max)
{
    int n = 0;
    for (int py = r; py < s->h - r; py++)
        for (int px = r; px < s->w - r && n < max; px++) {
            if (!(s->data[((size_t)py * s->w + px) * 3] > 0.25f)) continue;
            double w0 = 0, mx = 0, my = 0, xx = 0, xy = 0, yy = 0;
            for (int y = py - r; y <= py + r; y++)
                for (int x = px - r; x <= px + r; x++) {
                    double wt = pow(b->data[((size_t)y * b->w + x) * 3], gamma_);
                    w0 += wt, mx += wt * x, my += wt * y;
                }
            if (!(w0 > 0)) continue;
            mx /= w0, my /= w0;
            for (int y = py - r; y <= py + r; y++)
                for (int x = px - r; x <= px + r; x++) {
                    double wt = pow(b->data[((size_t)y * b->w + x) * 3], gamma_);
                    xx += wt * (x - mx) * (x - mx), xy += wt * (x - mx) * (y - my), yy += wt * (y - my) * (y - my);
                }
            cov[n][0] = xx / w0, cov[n][1] = xy / w0, cov[n][2] = yy / w0;
            light[n] = w0 / point_light;
            shift[n] = hypot(mx - px, my - py);
            n++;
        }
    return n;
}

/* The largest relative Frobenius distance between two of the covariances. */
static double max_cov_spread(double (*cov)[3], int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) {
            double d = sqrt(pow(cov[i][0] - cov[j][0], 2) + 2 * pow(cov[i][1] - cov[j][1], 2) +
                            pow(cov[i][2] - cov[j][2], 2));
            double ni = sqrt(cov[i][0] * cov[i][0] + 2 * cov[i][1] * cov[i][1] + cov[i][2] * cov[i][2]);
            double nj = sqrt(cov[j][0] * cov[j][0] + 2 * cov[j][1] * cov[j][1] + cov[j][2] * cov[j][2]);
            m = fmax(m, d / fmax(ni, nj));
        }
    return m;
}

/* Grey points on black, every 100 px: the blur of each point is the blur kernel there.
 * SHAKE (rotation: perspective, roll, zoom) makes it vary across the frame; TRAJECTORY
 * is one kernel everywhere. */
static void test_synth_spatial(void)
{
    sung_image photo;
    make_flat(&photo, 800, 600, 0, 0, 0);
    for (int y = 50; y < 600; y += 100)
        for (int x = 50; x < 800; x += 100) set_px(&photo, x, y, 0.5f);
    sung_synth_opts o = sung_synth_defaults();
    o.w = 480, o.h = 360, o.noise = 0, o.strength = 2, o.objects = 0, o.highlights = 0, o.gamma = 2.2;
    const int r = 45; /* a point's streak is at most ~L/2 = 35 px from it at strength 2 */
    const double point_light = pow(0.5, gamma_);
    double cov[32][3], light[32], shift[32];
    for (int k = 0; k < 2; k++) {
        o.kind = kinds[k];
        const char *kn = kind_name(o.kind);
        double spread_max = 0;
        for (uint64_t seed = 0; seed < 4; seed++) {
            sung_image b, s;
            sung_synth_info info;
            if (!pair_ok(&photo, NULL, &o, seed, &b, &s, &info, "points")) continue;
            int n = point_covariances(&b, &s, r, point_light, cov, light, shift, 32);
            CHECK(n >= 6, "%s, seed %llu: only %d points inside the window", kn, (unsigned long long)seed, n);
            double lo = 1e9, hi = 0;
            for (int i = 0; i < n; i++) lo = fmin(lo, light[i]), hi = fmax(hi, light[i]);
            CHECK(lo > 0.85 && hi < 1.15, "%s, seed %llu: the windows hold %.3f..%.3f of a point's light (the "
                  "window misses light or holds a neighbour's)", kn, (unsigned long long)seed, lo, hi);
            double spread = max_cov_spread(cov, n);
            spread_max = fmax(spread_max, spread);
            if (o.kind == SUNG_SYNTH_TRAJECTORY) {
                CHECK(spread < 0.02, "trajectory, seed %llu: the blur of a point varies by %.3f across the frame",
                      (unsigned long long)seed, spread);
                /* the kernel is centred on its mean: the blur is not shifted against sharp
                 * (bilinear splats keep the mean; the 8-bit rounding moves it a little) */
                double far = 0;
                for (int i = 0; i < n; i++) far = fmax(far, shift[i]);
                CHECK(far < 0.3, "trajectory, seed %llu: a point's blur is centred %.2f px away from it",
                      (unsigned long long)seed, far);
            }
            free_pair(&b, &s);
        }
        if (o.kind == SUNG_SYNTH_SHAKE)
            CHECK(spread_max > 0.1, "shake: the blur of a point varies by at most %.3f across the frame in seeds 0..3",
                  spread_max);
    }
    sung_image_free(&photo);
}

static int count_green(const sung_image *im)
{
    int n = 0;
    for (size_t i = 0; i < (size_t)im->w * im->h; i++) {
        const float *p = im->data + 3 * i;
        n += p[1] - fmaxf(p[0], p[2]) > 0.5f;
    }
    return n;
}

static void test_synth_objects(void)
{
    sung_image photo, green;
    make_photo(&photo, 200, 150);
    for (size_t i = 0; i < (size_t)200 * 150; i++) { /* no green of its own */
        float *p = photo.data + 3 * i;
        p[1] = fminf(p[1], fmaxf(p[0], p[2]));
    }
    make_flat(&green, 128, 128, 0, 1, 0);
    sung_synth_opts o = sung_synth_defaults();
    o.w = 96, o.h = 64, o.objects = 1;
    for (uint64_t seed = 0; seed < 3; seed++) {
        sung_image b, s;
        sung_synth_info info;
        int ox, oy;
        o.objects = 1;
        if (pair_ok(&photo, &green, &o, seed, &b, &s, &info, "object")) {
            CHECK(info.object == 1, "seed %llu: objects 1, but no object drawn", (unsigned long long)seed);
            CHECK(count_green(&s) > 0, "seed %llu: the object is not in the sharp image", (unsigned long long)seed);
            CHECK(!find_crop(&photo, &s, 1e-5, &ox, &oy), "seed %llu: with an object, sharp is still a crop",
                  (unsigned long long)seed);
            free_pair(&b, &s);
        }
        o.objects = 0;
        if (pair_ok(&photo, &green, &o, seed, &b, &s, &info, "objects 0")) {
            CHECK(info.object == 0 && count_green(&s) == 0 && count_green(&b) == 0 && find_crop(&photo, &s, 1e-5, &ox, &oy),
                  "seed %llu: objects 0, but object %d, %d green pixels", (unsigned long long)seed, info.object,
                  count_green(&s));
            free_pair(&b, &s);
        }
        o.objects = 1;
        if (pair_ok(&photo, NULL, &o, seed, &b, &s, &info, "no other")) {
            CHECK(info.object == 0 && count_green(&s) == 0 && count_green(&b) == 0 && find_crop(&photo, &s, 1e-5, &ox, &oy),
                  "seed %llu: no `other`, but object %d, %d green pixels", (unsigned long long)seed, info.object,
                  count_green(&s));
            free_pair(&b, &s);
        }
    }
    sung_image_free(&photo), sung_image_free(&green);
}

/* The output is a window of the frame; lengths are relative to the frame. */
static void test_synth_frame(const sung_image *photo)
{
    sung_error e;
    for (int k = 0; k < 2; k++) {
        sung_synth_opts o = sung_synth_defaults();
        o.kind = kinds[k], o.w = 96, o.h = 64, o.frame_w = 192, o.frame_h = 128;
        sung_image b, s;
        sung_synth_info i1 = {0}, i2 = {0};
        if (pair_ok(photo, NULL, &o, 7, &b, &s, &i1, "frame 192x128")) free_pair(&b, &s);
        o.frame_w = 384, o.frame_h = 256;
        if (pair_ok(photo, NULL, &o, 7, &b, &s, &i2, "frame 384x256")) {
            CHECK(b.w == 96 && b.h == 64 && s.w == 96 && s.h == 64, "%s, frame 384x256: output %dx%d / %dx%d",
                  kind_name(o.kind), b.w, b.h, s.w, s.h);
            free_pair(&b, &s);
        }
        CHECK(i1.length > 0 && fabs(i2.length / i1.length - 2) < 2e-9, "%s: doubling the frame took the length from "
              "%g to %g px", kind_name(o.kind), i1.length, i2.length);
        o.frame_w = 95, o.frame_h = 64;
        e.msg[0] = 0;
        CHECK(sung_synth_pair(photo, NULL, &o, 7, &b, &s, NULL, &e) == SUNG_ERR_ARG && e.msg[0] && !b.data && !s.data,
              "%s: a 95x64 frame for 96x64 pairs: '%s'", kind_name(o.kind), e.msg);
    }
}

static void test_synth_gamma_random(const sung_image *photo)
{
    sung_synth_opts o = sung_synth_defaults();
    o.w = o.h = 16, o.gamma = 0, o.noise = 0;
    int n22 = 0, n1 = 0, other = 0;
    for (uint64_t seed = 0; seed < 40; seed++) {
        sung_image b, s;
        sung_synth_info info;
        if (!pair_ok(photo, NULL, &o, seed, &b, &s, &info, "gamma 0")) continue;
        n22 += info.gamma == 2.2, n1 += info.gamma == 1, other += info.gamma != 2.2 && info.gamma != 1;
        free_pair(&b, &s);
    }
    CHECK(n22 > 0 && n1 > 0 && !other, "gamma 0 over 40 seeds: %d x 2.2, %d x 1, %d others", n22, n1, other);
}

static void test_synth_errors(const sung_image *photo)
{
    sung_error e;
    sung_image b, s, tiny, small;
    const sung_synth_opts d = sung_synth_defaults();
    sung_synth_opts base = d;
    base.w = 96, base.h = 64;
    struct {
        sung_synth_opts o;
        const char *what;
    } bad[20];
    int nbad = 0;
#define BAD(field, value) (bad[nbad].o = base, bad[nbad].o.field = (value), bad[nbad++].what = #field " = " #value)
    BAD(frames, 8), BAD(frames, 5), BAD(frames, 15);
    BAD(noise, -0.1), BAD(noise, NAN);
    BAD(strength, -1), BAD(strength, 10.5);
    BAD(objects, 1.5), BAD(gamma, 1.5), BAD(highlights, -1), BAD(kind, (sung_synth_kind)7);
    BAD(w, 40000), BAD(w, -5), BAD(h, -1), BAD(frame_w, 50), BAD(frame_h, 63);
#undef BAD
    for (int i = 0; i < nbad; i++) {
        e.msg[0] = 0;
        sung_status st = sung_synth_pair(photo, NULL, &bad[i].o, 1, &b, &s, NULL, &e);
        CHECK(st == SUNG_ERR_ARG && e.msg[0] && !b.data && !s.data, "bad options %s: status %d, '%s'", bad[i].what,
              st, e.msg);
        if (st == SUNG_OK) free_pair(&b, &s);
    }
    /* the same options, good: the table fails for the reason it names */
    if (pair_ok(photo, NULL, &base, 1, &b, &s, NULL, "the table's base")) free_pair(&b, &s);

    /* a photo far too small for the request: an error, not a 50× zoom */
    make_flat(&tiny, 4, 3, 0.5f, 0.5f, 0.5f);
    sung_synth_opts o = d;
    o.w = 200, o.h = 150;
    e.msg[0] = 0;
    CHECK(sung_synth_pair(&tiny, NULL, &o, 1, &b, &s, NULL, &e) == SUNG_ERR_ARG && strstr(e.msg, "too small") &&
              !b.data && !s.data,
          "a 4x3 photo for 200x150 pairs: '%s'", e.msg);
    sung_image empty = {0};
    e.msg[0] = 0;
    CHECK(sung_synth_pair(&empty, NULL, &o, 1, &b, &s, NULL, &e) == SUNG_ERR_ARG && e.msg[0] && !b.data,
          "an empty photo: '%s'", e.msg);
    /* a photo somewhat smaller than the pairs is scaled up */
    make_photo(&small, 60, 40);
    o.w = 96, o.h = 64;
    sung_synth_info info = {0};
    if (pair_ok(&small, NULL, &o, 1, &b, &s, &info, "scale up")) {
        CHECK(b.w == 96 && b.h == 64 && s.w == 96 && s.h == 64 && info.scale > 1, "scale up: %dx%d, scale %g", b.w,
              b.h, info.scale);
        free_pair(&b, &s);
    }
    sung_image_free(&small), sung_image_free(&tiny);
}

/* ---- JPEG ---------------------------------------------------------------------------- */

/* A JPEG written straight with libjpeg: comps 1 (gray), 3 (RGB) or 4 (CMYK). */
static void write_raw_jpeg(const char *path, int w, int h, int comps, int progressive)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w, c.image_height = h, c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    unsigned char *row = malloc((size_t)w * comps);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < w * comps; i++) row[i] = (unsigned char)((i * 7 + c.next_scanline * 3) & 255);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    fclose(f);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* copies the first `keep` bytes of src to dst, then `junk` bytes from offset `at` on
 * are overwritten with a pattern (junk 0: none) */
static void copy_damaged(const char *src, const char *dst, long keep, long at, long junk)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    CHECK(a && b, "copy %s", src);
    if (!a || !b) {
        if (a) fclose(a);
        if (b) fclose(b);
        return;
    }
    for (long i = 0; i < keep; i++) {
        int ch = fgetc(a);
        if (ch == EOF) break;
        if (i >= at && i < at + junk) ch = (int)((i * 37 + 11) & 255);
        fputc(ch, b);
    }
    fclose(a), fclose(b);
}

static void test_jpeg(const sung_image *photo)
{
    sung_error e;
    sung_image back;
    const char *p100 = tmp_path("q100.jpg");
    CHECK(image_save_jpeg(photo, p100, 100, &e) == SUNG_OK, "save q100: %s", e.msg);
    CHECK(sung_image_load(&back, p100, &e) == SUNG_OK, "load q100: %s", e.msg);
    if (back.data) {
        CHECK(back.w == photo->w && back.h == photo->h, "q100 size %dx%d", back.w, back.h);
        size_t n = (size_t)back.w * back.h * 3;
        double mae = 0;
        for (size_t i = 0; i < n; i++) mae += fabs(back.data[i] - photo->data[i]);
        mae /= n;
        CHECK(mae < 2.0 / 255, "q100 round trip: mean abs error %g x 1/255", mae * 255);
        int k8 = 1; /* values are k/255 */
        for (size_t i = 0; i < n; i++) k8 &= fabsf(back.data[i] * 255 - rintf(back.data[i] * 255)) < 1e-4f;
        CHECK(k8, "decoded values are not k/255");
    }
    sung_image_free(&back);

    /* through sung_image_save (.jpg: quality 95, atomic) */
    const char *p95 = tmp_path("q95.JPG");
    CHECK(sung_image_save(photo, p95, &e) == SUNG_OK, "sung_image_save .JPG: %s", e.msg);
    CHECK(sung_image_load(&back, p95, &e) == SUNG_OK && back.w == photo->w, "load q95: %s", e.msg);
    sung_image_free(&back);

    /* argument errors of the writer */
    CHECK(image_save_jpeg(photo, tmp_path("q0.jpg"), 0, &e) == SUNG_ERR_ARG, "quality 0 accepted");
    CHECK(image_save_jpeg(photo, tmp_path("q101.jpg"), 101, &e) == SUNG_ERR_ARG, "quality 101 accepted");
    CHECK(image_save_jpeg(photo, tmp_path("no/such/dir.jpg"), 90, &e) == SUNG_ERR_IO, "unwritable path: %s", e.msg);

    /* gray → replicated; progressive decodes like baseline */
    write_raw_jpeg(tmp_path("gray.jpg"), 33, 21, 1, 0);
    CHECK(sung_image_load(&back, tmp_path("gray.jpg"), &e) == SUNG_OK, "gray: %s", e.msg);
    if (back.data) {
        int rep = back.w == 33 && back.h == 21;
        for (int i = 0; i < back.w * back.h && rep; i++)
            rep = back.data[3 * i] == back.data[3 * i + 1] && back.data[3 * i] == back.data[3 * i + 2];
        CHECK(rep, "gray JPEG: channels not replicated (or size %dx%d)", back.w, back.h);
    }
    sung_image_free(&back);
    sung_image base, prog;
    write_raw_jpeg(tmp_path("base.jpg"), 64, 48, 3, 0);
    write_raw_jpeg(tmp_path("prog.jpg"), 64, 48, 3, 1);
    CHECK(sung_image_load(&base, tmp_path("base.jpg"), &e) == SUNG_OK, "baseline: %s", e.msg);
    CHECK(sung_image_load(&prog, tmp_path("prog.jpg"), &e) == SUNG_OK, "progressive: %s", e.msg);
    if (base.data && prog.data)
        CHECK(max_abs_diff(base.data, prog.data, (size_t)64 * 48 * 3) <= 2.0 / 255, "progressive decodes differently");

    /* CMYK: a clear error */
    write_raw_jpeg(tmp_path("cmyk.jpg"), 16, 16, 4, 0);
    e.msg[0] = 0;
    CHECK(sung_image_load(&back, tmp_path("cmyk.jpg"), &e) == SUNG_ERR_FORMAT && strstr(e.msg, "CMYK") && !back.data,
          "CMYK: '%s'", e.msg);

    /* truncated (at several points) and corrupted files: errors, no crash, nothing kept */
    long size = file_size(tmp_path("base.jpg"));
    CHECK(size > 200, "base.jpg is %ld bytes", size);
    const long cuts[] = {3, 20, size / 3, size / 2, size - 2};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        copy_damaged(tmp_path("base.jpg"), tmp_path("cut.jpg"), cuts[i], 0, 0);
        e.msg[0] = 0;
        sung_status st = sung_image_load(&back, tmp_path("cut.jpg"), &e);
        CHECK(st == SUNG_ERR_FORMAT && e.msg[0] && !back.data, "truncated at %ld of %ld bytes: status %d '%s'",
              cuts[i], size, st, e.msg);
        sung_image_free(&back);
    }
    copy_damaged(tmp_path("base.jpg"), tmp_path("junk.jpg"), size, 3, 40); /* headers overwritten */
    CHECK(sung_image_load(&back, tmp_path("junk.jpg"), &e) != SUNG_OK && !back.data, "corrupt headers accepted");
    copy_damaged(tmp_path("base.jpg"), tmp_path("junk2.jpg"), size, size - 300, 200); /* scan data */
    CHECK(sung_image_load(&back, tmp_path("junk2.jpg"), &e) != SUNG_OK && !back.data, "corrupt scan data accepted");
    /* the loader called directly on a file that is not a JPEG */
    CHECK(image_load_jpeg(&back, tmp_path("gray.jpg/nothing"), &e) == SUNG_ERR_IO, "missing file");
    FILE *f = fopen(tmp_path("text.jpg"), "wb");
    if (f) fputs("not a jpeg at all", f), fclose(f);
    CHECK(image_load_jpeg(&back, tmp_path("text.jpg"), &e) == SUNG_ERR_FORMAT && !back.data, "text as JPEG");

    /* sides over 32768: the SOF header of base.jpg patched to 40000×48 */
    f = fopen(tmp_path("base.jpg"), "rb");
    unsigned char *buf = malloc(size);
    CHECK(f && buf && fread(buf, 1, size, f) == (size_t)size, "read base.jpg");
    if (f) fclose(f);
    long sof = -1;
    for (long i = 0; buf && i + 9 < size && sof < 0; i++)
        if (buf[i] == 0xFF && (buf[i + 1] == 0xC0 || buf[i + 1] == 0xC2)) sof = i;
    CHECK(sof > 0, "no SOF marker in base.jpg");
    if (sof > 0) {
        buf[sof + 7] = 40000 >> 8, buf[sof + 8] = 40000 & 255; /* width: after length, precision, height */
        f = fopen(tmp_path("huge.jpg"), "wb");
        if (f) fwrite(buf, 1, size, f), fclose(f);
        e.msg[0] = 0;
        CHECK(sung_image_load(&back, tmp_path("huge.jpg"), &e) == SUNG_ERR_FORMAT && strstr(e.msg, "32768") &&
                  !back.data,
              "a 40000-wide JPEG: '%s'", e.msg);
    }
    free(buf);
    sung_image_free(&base), sung_image_free(&prog);
}

/* sung_image_shrink: area averaging. An integer factor gives exact block means; any
 * factor keeps the image's mean and the longer side; small images are copied. */
static void test_shrink(const sung_image *photo)
{
    sung_error e;
    sung_image out;
    CHECK(sung_image_shrink(photo, 100, &out, &e) == SUNG_OK && out.w == 100 && out.h == 75, "shrink /2: %dx%d",
          out.w, out.h);
    double worst = 0;
    for (int y = 0; y < out.h; y++)
        for (int x = 0; x < out.w; x++)
            for (int c = 0; c < 3; c++) {
                double m = 0;
                for (int j = 0; j < 2; j++)
                    for (int i = 0; i < 2; i++) m += photo->data[((size_t)(2 * y + j) * photo->w + 2 * x + i) * 3 + c];
                worst = fmax(worst, fabs(m / 4 - out.data[((size_t)y * out.w + x) * 3 + c]));
            }
    CHECK(worst < 1e-6, "shrink /2: block means off by %g", worst);
    sung_image_free(&out);
    CHECK(sung_image_shrink(photo, 77, &out, &e) == SUNG_OK && out.w == 77, "shrink to 77: %dx%d", out.w, out.h);
    double a = 0, b = 0;
    for (size_t i = 0; i < (size_t)photo->w * photo->h * 3; i++) a += photo->data[i];
    for (size_t i = 0; i < (size_t)out.w * out.h * 3; i++) b += out.data[i];
    a /= (double)photo->w * photo->h * 3, b /= (double)out.w * out.h * 3;
    CHECK(fabs(a - b) < 2e-3, "shrink to 77: mean %g, was %g", b, a);
    sung_image_free(&out);
    CHECK(sung_image_shrink(photo, 500, &out, &e) == SUNG_OK && same_image(photo, &out), "no shrink: not a copy");
    sung_image_free(&out);
    CHECK(sung_image_shrink(photo, 0, &out, &e) == SUNG_ERR_ARG && !out.data, "max_side 0 accepted");
    CHECK(sung_image_shrink(photo, 2, &out, &e) == SUNG_ERR_ARG && !out.data, "a factor of 100 accepted");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    sung_image photo;
    make_photo(&photo, 200, 150);
    test_synth_basics(&photo);
    test_synth_no_motion(&photo);
    test_synth_blurs();
    test_synth_linear_light();
    test_synth_highlights();
    test_synth_noise();
    test_synth_spatial();
    test_synth_objects();
    test_synth_frame(&photo);
    test_synth_gamma_random(&photo);
    test_synth_errors(&photo);
    test_shrink(&photo);
    test_jpeg(&photo);
    sung_image_free(&photo);

    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!test_failures) CHECK(system(cmd) == 0, "cleanup");
    else fprintf(stderr, "left %s for inspection\n", dir);
    return test_summary("test_synth");
}
