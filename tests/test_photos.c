/* tools/photos.c: the training pairs `sung train --photos` makes on the fly. Its filter
 * draws a window again when the sharp image has too little texture (sky, defocused
 * backgrounds); --min-texture sets the threshold, 0 keeps every window. On a photo that
 * is flat over most of its area, the default threshold must make low-texture windows
 * rare among the pairs returned, and 0 must let them through at about their share of
 * the frame; each pair is the same for the same seed. */
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
        CHECK(photos_pair("test", ps, 0, patch, min_texture, (uint64_t)i, b, g, &r) == 0, "pair %d", i);
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
    photos_pair("test", &ps, 0, patch, PHOTOS_MIN_TEXTURE, 7, b1, g1, NULL);
    photos_pair("test", &ps, 0, patch, PHOTOS_MIN_TEXTURE, 7, b2, g2, NULL);
    CHECK(!memcmp(b1, b2, k * 4) && !memcmp(g1, g2, k * 4), "seed 7 twice: different pairs");
    free(b1), free(g1), free(b2), free(g2), free(im.data);
    return test_summary("test_photos");
}
