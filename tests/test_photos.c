/* tools/photos.c: the training pairs `sung train --photos` makes on the fly. Its filter
 * draws a window again when the sharp image has too little texture (sky, defocused
 * backgrounds); --min-texture sets the threshold, 0 keeps every window. On a photo that
 * is flat over most of its area, the default threshold must make low-texture windows
 * rare among the pairs returned, and 0 must let them through at about their share of
 * the frame; each pair is the same for the same seed. --short-blur scales the camera
 * motion of about that fraction of the pairs down (into [1/8, 1]), which must show as
 * blurred images closer to their sharp ones; at 0 no pair changes. --shrink shrinks each
 * pair's photo by a factor drawn in [1, F] (capped by the photo's size): on a ramp the
 * sharp window's slope is that factor times the photo's; at 1 no pair changes. --noise scales
 * the sensor noise: on a flat photo a pair at 0 has its blurred image within 8-bit rounding
 * of the sharp one, and the blurred images stray further at 1 and further still at 3, with
 * the same sharp image (the same draws). A zeroed photos_draw draws noiseless pairs, so the
 * other checks name the default noise (1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../tools/photos.h"

/* A w×h photo: flat grey except a band of random texture along its left edge (about a
 * fifth of the width) */
static sung_image half_flat(int w, int h)
{
    sung_image im = {w, h, malloc((size_t)w * h * 3 * sizeof(float))};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                im.data[((size_t)y * w + x) * 3 + c] = x < w / 5 ? test_randf(0.1f, 0.9f) : 0.5f;
    return im;
}

/* How many of n pairs (seeds 1..n) have a sharp window with texture under t; *redrawn:
 * how many windows the filter put back on the way */
static int flat_windows(const photo_set *ps, int patch, double min_texture, int n, double t, int *redrawn)
{
    size_t k = (size_t)patch * patch * 3;
    float *b = malloc(k * sizeof *b), *g = malloc(k * sizeof *g);
    int flat = 0;
    *redrawn = 0;
    for (int i = 1; i <= n; i++) {
        int r = -1;
        photos_draw d = {.min_texture = min_texture, .noise = 1};
        CHECK(photos_pair("test", ps, 0, patch, &d, (uint64_t)i, b, g, &r, NULL) == 0, "pair %d", i);
        CHECK(r >= 0 && r <= 7, "pair %d: %d windows put back, not 0-7", i, r);
        sung_image s = {patch, patch, g};
        flat += photos_texture(&s) < t;
        *redrawn += r;
        /* a kept window under the threshold is the last of 8 draws */
        CHECK(min_texture <= 0 || photos_texture(&s) >= min_texture || r == 7,
              "pair %d: kept a window of texture %g < %g after %d put back", i, photos_texture(&s), min_texture, r);
    }
    free(b), free(g);
    return flat;
}

int main(void)
{
    sung_image im = half_flat(1280, 720);
    char *names[] = {"half-flat"};
    photo_set ps = {&im, names, 1};
    float grey[8 * 8 * 3], line[8 * 3];
    for (int i = 0; i < 8 * 8 * 3; i++) grey[i] = 0.25f;
    sung_image flat = {8, 8, grey}, thin = {8, 1, line};
    CHECK(photos_texture(&flat) == 0, "a flat image has texture %g", photos_texture(&flat));
    CHECK(photos_texture(&thin) == 0, "one row has no pairs of rows: texture %g, not 0", photos_texture(&thin));
    grey[3] = 1.25f; /* pixel (1, 0) 1 off: its left, right and lower differences, over 7·7·3 */
    CHECK(fabs(photos_texture(&flat) - 3.0 / 147) < 1e-9, "one step: texture %g, not %g", photos_texture(&flat),
          3.0 / 147);

    int n = 40, patch = 64;
    int put_back, none_back;
    int with_filter = flat_windows(&ps, patch, PHOTOS_MIN_TEXTURE, n, PHOTOS_MIN_TEXTURE, &put_back);
    int without = flat_windows(&ps, patch, 0, n, PHOTOS_MIN_TEXTURE, &none_back);
    /* 4/5 of the frame is flat: without the filter most windows are; with it, a window is
     * flat only when 8 draws in a row were (about 0.8^8 = 17 % if the draws were
     * independent and uniform) */
    printf("low-texture windows among %d pairs: %d with the default filter, %d without\n", n, with_filter, without);
    CHECK(without >= n / 2, "--min-texture 0: %d of %d windows flat, expected most", without, n);
    CHECK(with_filter <= n / 3 && with_filter < without,
          "default filter: %d of %d windows flat (without it: %d), expected few", with_filter, n, without);
    /* the count the trainer prints: none without the filter; with it, at least the flat
     * windows that 0 let through (the same seeds draw the same first windows) */
    printf("windows put back: %d with the default filter, %d without\n", put_back, none_back);
    CHECK(none_back == 0, "--min-texture 0 put %d windows back", none_back);
    CHECK(put_back >= without, "default filter: %d windows put back, fewer than the %d flat first draws", put_back,
          without);

    /* deterministic: the same seed gives the same pair */
    size_t k = (size_t)patch * patch * 3;
    float *b1 = malloc(k * 4), *g1 = malloc(k * 4), *b2 = malloc(k * 4), *g2 = malloc(k * 4);
    photos_draw dflt = PHOTOS_DRAW_DEFAULT;
    photos_pair("test", &ps, 0, patch, &dflt, 7, b1, g1, NULL, NULL);
    photos_pair("test", &ps, 0, patch, &dflt, 7, b2, g2, NULL, NULL);
    CHECK(!memcmp(b1, b2, k * 4) && !memcmp(g1, g2, k * 4), "seed 7 twice: different pairs");

    /* --short-blur, on a photo of smooth waves all over (a blurred window differs from its
     * sharp one about in proportion to the blur's length) and without the texture
     * filter: pairs by seed with fractions 0, 1/2 and 1 */
    sung_image tex = {640, 480, malloc((size_t)640 * 480 * 3 * sizeof(float))};
    for (int y = 0; y < 480; y++)
        for (int x = 0; x < 640; x++)
            for (int c = 0; c < 3; c++)
                tex.data[((size_t)y * 640 + x) * 3 + c] =
                    0.5f + 0.2f * sinf(x / (7.0f + c)) + 0.2f * sinf(y / 5.0f + x / 11.0f);
    photo_set ts = {&tex, names, 1};
    int m = 40, scaled_half = 0, scaled_all = 0, closer = 0;
    double diff0 = 0, diff1 = 0;
    for (int i = 1; i <= m; i++) {
        photos_draw d0 = {.noise = 1}, dh = {.short_blur = 0.5, .noise = 1}, d1 = {.short_blur = 1, .noise = 1};
        double s0 = 0, sh = 0, s1 = 0;
        /* the 1/2 pair only for its scale: the 1 pair then overwrites its buffers */
        CHECK(photos_pair("test", &ts, 0, patch, &d0, (uint64_t)i, b1, g1, NULL, &s0) == 0 &&
                  photos_pair("test", &ts, 0, patch, &dh, (uint64_t)i, b2, g2, NULL, &sh) == 0 &&
                  photos_pair("test", &ts, 0, patch, &d1, (uint64_t)i, b2, g2, NULL, &s1) == 0,
              "short-blur pair %d", i);
        CHECK(s0 == 1, "pair %d: --short-blur 0 scaled the motion by %g", i, s0);
        CHECK(s1 >= PHOTOS_SHORT_SCALE_MIN && s1 < 1, "pair %d: --short-blur 1 scaled the motion by %g, not in [1/8, 1)", i,
              s1);
        CHECK(sh == 1 || sh == s1, "pair %d: --short-blur 0.5 scaled by %g, neither 1 nor %g", i, sh, s1);
        scaled_half += sh != 1, scaled_all += s1 != 1;
        /* the window's place depends on the motion's reach: each pair against its own sharp image */
        double e0 = 0, e1 = 0;
        for (size_t j = 0; j < k; j++) e0 += fabsf(b1[j] - g1[j]), e1 += fabsf(b2[j] - g2[j]);
        diff0 += e0 / k, diff1 += e1 / k, closer += e1 < e0;
    }
    printf("--short-blur: %d of %d pairs scaled at 1/2, %d at 1; mean |blur - sharp| %.4f at 0, %.4f at 1 (%d closer)\n",
           scaled_half, m, scaled_all, diff0 / m, diff1 / m, closer);
    CHECK(scaled_all == m, "--short-blur 1: %d of %d pairs scaled", scaled_all, m);
    CHECK(scaled_half >= m / 4 && scaled_half <= 3 * m / 4, "--short-blur 0.5: %d of %d pairs scaled", scaled_half, m);
    CHECK(diff1 < 0.8 * diff0 && closer >= 3 * m / 4,
          "--short-blur 1: mean |blur - sharp| %g against %g at 0 (%d of %d pairs closer): not milder", diff1 / m,
          diff0 / m, closer, m);
    free(tex.data);

    /* --shrink on a horizontal ramp (value x / W in every channel: its sharp windows have
     * slope 1 / W a pixel, times the shrink), without the texture filter; 1200 px high, so
     * that factors up to 3 fit */
    int rw = 1600, rh = 1200;
    sung_image ramp = {rw, rh, malloc((size_t)rw * rh * 3 * sizeof(float))};
    for (int y = 0; y < rh; y++)
        for (int x = 0; x < rw; x++)
            for (int c = 0; c < 3; c++) ramp.data[((size_t)y * rw + x) * 3 + c] = (float)x / rw;
    photo_set rs = {&ramp, names, 1};
    int shrunk = 0;
    double fmax_seen = 1, fmin_seen = 3;
    for (int i = 1; i <= m; i++) {
        photos_draw d1 = {.noise = 1}, d3 = {.shrink = 3, .noise = 1}, dsmall = {.shrink = 3, .noise = 1};
        double f = photos_shrink_factor(rw, rh, patch, &d3, (uint64_t)i);
        CHECK(f >= 1 && f <= 3, "pair %d: --shrink 3 drew %g, not in [1, 3]", i, f);
        CHECK(photos_shrink_factor(rw, rh, patch, &d1, (uint64_t)i) == 1, "pair %d: no --shrink shrinks", i);
        /* a photo with no room to spare (shorter side patch + 256 px) is never shrunk */
        CHECK(photos_shrink_factor(rw, patch + PHOTOS_SHRINK_MARGIN, patch, &dsmall, (uint64_t)i) == 1,
              "pair %d: a photo of %d px shrunk", i, patch + PHOTOS_SHRINK_MARGIN);
        CHECK(fabs(photos_shrink_factor(rw, 400, 64, &d3, (uint64_t)i) - fmin(f, 400.0 / (64 + PHOTOS_SHRINK_MARGIN))) < 1e-12,
              "pair %d: the cap of a 400 px photo", i);
        CHECK(photos_pair("test", &rs, 0, patch, &d1, (uint64_t)i, b1, g1, NULL, NULL) == 0 &&
                  photos_pair("test", &rs, 0, patch, &d3, (uint64_t)i, b2, g2, NULL, NULL) == 0,
              "shrink pair %d", i);
        /* the slope of the sharp window, away from its last column */
        double s1 = 0, s3 = 0;
        for (int y = 0; y < patch; y++)
            for (int x = 0; x + 1 < patch; x++) {
                size_t j = ((size_t)y * patch + x) * 3;
                s1 += g1[j + 3] - g1[j], s3 += g2[j + 3] - g2[j];
            }
        s1 /= (double)patch * (patch - 1), s3 /= (double)patch * (patch - 1);
        CHECK(fabs(s1 * rw - 1) < 1e-3, "pair %d: unshrunk slope %g a px, not 1/%d", i, s1, rw);
        CHECK(fabs(s3 / s1 - f) < 2e-3 * f, "pair %d: shrunk slope %g times the photo's, not the factor %g", i,
              s3 / s1, f);
        shrunk += f > 1.05;
        fmax_seen = fmax(fmax_seen, f), fmin_seen = fmin(fmin_seen, f);
    }
    photos_draw none = {.noise = 1}, one = {.shrink = 1, .noise = 1};
    photos_pair("test", &rs, 0, patch, &none, 5, b1, g1, NULL, NULL);
    photos_pair("test", &rs, 0, patch, &one, 5, b2, g2, NULL, NULL);
    CHECK(!memcmp(b1, b2, k * 4) && !memcmp(g1, g2, k * 4), "--shrink 1 changed a pair");
    printf("--shrink 3: %d of %d pairs shrunk by over 1.05, factors %.3f..%.3f\n", shrunk, m, fmin_seen, fmax_seen);
    CHECK(shrunk >= m / 2 && fmax_seen > 2.2, "--shrink 3: %d of %d pairs shrunk, at most by %g", shrunk, m, fmax_seen);
    free(ramp.data);

    /* --noise on a flat grey photo (0.5, no texture filter): the blur changes nothing, so
     * what separates a blurred image from its sharp one is the noise and the 8-bit
     * rounding; mean |blur - sharp| over m pairs at noise 0, 1 and 3 */
    sung_image grey_photo = {640, 480, malloc((size_t)640 * 480 * 3 * sizeof(float))};
    for (size_t j = 0; j < (size_t)640 * 480 * 3; j++) grey_photo.data[j] = 0.5f;
    photo_set gs = {&grey_photo, names, 1};
    float *b3 = malloc(k * 4), *g3 = malloc(k * 4);
    double dev[3] = {0, 0, 0}, worst0 = 0;
    int same_sharp = 1, louder = 0;
    for (int i = 1; i <= m; i++) {
        photos_draw n0 = {.noise = 0}, n1 = {.noise = 1}, n3 = {.noise = 3};
        CHECK(photos_pair("test", &gs, 0, patch, &n0, (uint64_t)i, b1, g1, NULL, NULL) == 0 &&
                  photos_pair("test", &gs, 0, patch, &n1, (uint64_t)i, b2, g2, NULL, NULL) == 0 &&
                  photos_pair("test", &gs, 0, patch, &n3, (uint64_t)i, b3, g3, NULL, NULL) == 0,
              "noise pair %d", i);
        double e[3] = {0, 0, 0};
        for (size_t j = 0; j < k; j++) {
            e[0] += fabsf(b1[j] - g1[j]), e[1] += fabsf(b2[j] - g2[j]), e[2] += fabsf(b3[j] - g3[j]);
            worst0 = fmax(worst0, fabsf(b1[j] - g1[j]));
        }
        same_sharp &= !memcmp(g1, g2, k * 4) && !memcmp(g1, g3, k * 4);
        louder += e[2] > e[1];
        for (int q = 0; q < 3; q++) dev[q] += e[q] / k / m;
    }
    printf("--noise: mean |blur - sharp| on a flat photo %.5f at 0, %.5f at 1, %.5f at 3 (largest at 0: %.5f)\n",
           dev[0], dev[1], dev[2], worst0);
    CHECK(worst0 <= 0.5 / 255 + 1e-6, "--noise 0: a blurred value %g from its sharp one, beyond 8-bit rounding", worst0);
    CHECK(dev[1] > 2 * dev[0] + 0.5 / 255, "--noise 1: mean deviation %g, no noise over the rounding's %g", dev[1], dev[0]);
    CHECK(dev[2] > 1.5 * dev[1] && louder >= 3 * m / 4, "--noise 3: mean deviation %g against %g at 1 (%d of %d louder)",
          dev[2], dev[1], louder, m);
    CHECK(same_sharp, "--noise changed a sharp image (the draws moved)");
    free(grey_photo.data), free(b3), free(g3);
    free(b1), free(g1), free(b2), free(g2), free(im.data);
    return test_summary("test_photos");
}
