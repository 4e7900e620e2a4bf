/* Training pairs made on the fly from sharp photos (`sung train --photos`): the photos
 * are decoded once and kept in memory, shrunk to at most PHOTOS_MAX_SIDE px; each pair is
 * a fresh sung_synth_pair window of a 1280×720 camera frame. */
#ifndef SUNG_PHOTOS_H
#define SUNG_PHOTOS_H

#include <stdint.h>

#include "sung.h"

#define PHOTOS_MAX_SIDE 1920

typedef struct {
    sung_image *im;
    char **names;
    int n;
} photo_set;

/* One photo, shrunk by area averaging to at most max_side px (0: as it is), into im
 * (allocated here); prints a message for `cmd` and returns non-zero on error. */
int photo_load(const char *cmd, const char *path, int max_side, sung_image *im);
/* Loads every image directly in dir (sorted by name), shrunk; prints a message for `cmd`
 * and returns non-zero on error or when there is none. */
int photos_load(const char *cmd, const char *dir, photo_set *ps);
void photos_free(photo_set *ps);

/* How photos_pair draws a training pair. */
typedef struct {
    /* Windows whose sharp image has almost no texture (a clear sky, a bokeh blob:
     * photos_texture below min_texture; 0 keeps every window) are drawn again with the
     * next seeds, up to 8 times. */
    double min_texture;
    /* This fraction of the pairs (0..1, chosen by the seed) has its camera motion
     * scaled by a factor log-uniform in [PHOTOS_SHORT_SCALE_MIN, 1]: blur of about
     * 1-85 px at 1280x720 instead of sung synth's 8-85, so that a model also sees
     * mildly blurred images, which it must leave sharp rather than over-sharpen. */
    double short_blur;
    /* Each pair's photo is first shrunk (area averaging) by a factor log-uniform in
     * [1, shrink] (<= 1: never), capped so that its shorter side keeps patch +
     * PHOTOS_SHRINK_MARGIN px: the same motion then crosses denser detail, as it does at
     * the pyramid's coarse scales, and soft photos give crisper sharp images. */
    double shrink;
    /* The scale of sung_synth_pair's sensor noise (its opts.noise, 0..10): 1 is the
     * synth's default, 0 none. A zeroed photos_draw therefore draws noiseless pairs;
     * PHOTOS_DRAW_DEFAULT is what `sung train --photos` draws without options. */
    double noise;
} photos_draw;

#define PHOTOS_MIN_TEXTURE 0.004
/* The threshold before 2026-12-01, which runs whose state does not name one trained with.
 * It also put back every window of hazy landscapes, fog and soft skies, which the models
 * then made worse (docs/RESULTS.md, chunk 13). */
#define PHOTOS_MIN_TEXTURE_OLD 0.012
#define PHOTOS_SHORT_SCALE_MIN 0.125
/* px beyond the window that a shrunk photo keeps on its shorter side, for the motion's
 * reach (the synth scales a photo up when it is too small, which would undo the shrink) */
#define PHOTOS_SHRINK_MARGIN 128
#define PHOTOS_SHRINK_MAX 8.0
#define PHOTOS_NOISE_MAX 10.0 /* as sung synth --noise */
#define PHOTOS_DRAW_DEFAULT ((photos_draw){.min_texture = PHOTOS_MIN_TEXTURE, .short_blur = 0, .shrink = 1, .noise = 1})

/* A patch×patch pair from photo k (first shrunk by photos_shrink_factor, as d->shrink
 * says), deterministic for seed: a SHAKE window of a 1280×720 frame, the moving object's
 * texture from another photo chosen by the seed, drawn as *d
 * says. blur and sharp receive patch·patch·3 floats; *redrawn (if not NULL) how many
 * windows were drawn and put back before this one (0–7); *scale (if not NULL) the
 * factor the motion was scaled by (1 but for short_blur's pairs). */
int photos_pair(const char *cmd, const photo_set *ps, int k, int patch, const photos_draw *d, uint64_t seed,
                float *blur, float *sharp, int *redrawn, double *scale);
/* The factor photos_pair shrinks a w×h photo by for seed (1: not shrunk). */
double photos_shrink_factor(int w, int h, int patch, const photos_draw *d, uint64_t seed);
/* The texture measure of that filter: the mean absolute horizontal plus vertical
 * difference of neighbouring values (0 for a flat image; about 0.5 for noise in [0, 1]). */
double photos_texture(const sung_image *im);

#endif
