#include "photos.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data.h"
#include "rng.h"

int photo_load(const char *cmd, const char *path, int max_side, sung_image *im)
{
    sung_error err;
    sung_image full;
    if (sung_image_load(&full, path, &err)) return cli_fail(cmd, "%s", err.msg);
    if (max_side <= 0) {
        *im = full;
        return 0;
    }
    sung_status st = sung_image_shrink(&full, max_side, im, &err);
    sung_image_free(&full);
    return st ? cli_fail(cmd, "%s: %s", path, err.msg) : 0;
}

int photos_load(const char *cmd, const char *dir, photo_set *ps)
{
    memset(ps, 0, sizeof *ps);
    if (!is_dir(dir)) return cli_fail(cmd, "--photos %s: not a folder", dir);
    if (dir_images(cmd, dir, &ps->names, &ps->n)) return 1;
    if (ps->n == 0) return cli_fail(cmd, "--photos %s: no photos (.png, .jpg or .jpeg)", dir);
    ps->im = calloc(ps->n, sizeof *ps->im);
    if (!ps->im) return cli_fail(cmd, "out of memory");
    double t0 = cli_now(), px = 0;
    for (int i = 0; i < ps->n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, ps->names[i]);
        if (photo_load(cmd, path, PHOTOS_MAX_SIDE, &ps->im[i])) return 1;
        px += (double)ps->im[i].w * ps->im[i].h;
    }
    printf("photos: %d from %s, %.1f Mpx in memory (longer side at most %d), loaded in %.1f s\n", ps->n, dir,
           px / 1e6, PHOTOS_MAX_SIDE, cli_now() - t0);
    return 0;
}

void photos_free(photo_set *ps)
{
    for (int i = 0; ps->im && i < ps->n; i++) sung_image_free(&ps->im[i]);
    free(ps->im);
    names_free(ps->names, ps->n);
    memset(ps, 0, sizeof *ps);
}

double photos_texture(const sung_image *im)
{
    if (im->w < 2 || im->h < 2) return 0; /* no neighbours both ways */
    double s = 0;
    for (int y = 0; y + 1 < im->h; y++)
        for (int x = 0; x + 1 < im->w; x++)
            for (int c = 0; c < 3; c++) {
                const float *p = im->data + ((size_t)y * im->w + x) * 3 + c;
                s += fabsf(p[3] - p[0]) + fabsf(p[(size_t)im->w * 3] - p[0]);
            }
    return s / ((double)(im->w - 1) * (im->h - 1) * 3);
}


#define SHORT_TAG 0x73686f72742d626cull  /* "short-bl" */
#define SHRINK_TAG 0x736872696e6b2d70ull /* "shrink-p" */

double photos_shrink_factor(int w, int h, int patch, const photos_draw *d, uint64_t seed)
{
    /* the pair's own stream, apart from sung_synth_pair's: with shrink <= 1 every pair is
     * what it was before the option existed */
    uint64_t t = rng_mix64(seed ^ SHRINK_TAG);
    double u = rng_uniform(&t);
    if (!(d->shrink > 1)) return 1.0;
    double f = exp(u * log(d->shrink)), room = (double)(w < h ? w : h) / (patch + PHOTOS_SHRINK_MARGIN);
    return fmax(1.0, fmin(f, room));
}

int photos_pair(const char *cmd, const photo_set *ps, int k, int patch, const photos_draw *d, uint64_t seed,
                float *blur, float *sharp, int *redrawn, double *scale)
{
    sung_synth_opts o = sung_synth_defaults();
    /* the pair's own stream, apart from sung_synth_pair's: with short_blur 0 every pair
     * is what it was before the option existed */
    uint64_t t = rng_mix64(seed ^ SHORT_TAG);
    double u_short = rng_uniform(&t), u_scale = rng_uniform(&t);
    if (u_short < d->short_blur) o.strength = pow(PHOTOS_SHORT_SCALE_MIN, u_scale);
    const sung_image *photo = &ps->im[k];
    sung_image small = {0};
    double f = photos_shrink_factor(photo->w, photo->h, patch, d, seed);
    if (f > 1) {
        int big = photo->w > photo->h ? photo->w : photo->h;
        sung_error err;
        if (sung_image_shrink(photo, (int)lround(big / f), &small, &err))
            return cli_fail(cmd, "%s: %s", ps->names[k], err.msg);
        photo = &small;
    }
    if (scale) *scale = o.strength;
    o.noise = d->noise;
    o.w = o.h = patch;
    o.frame_w = 1280, o.frame_h = 720;
    if (o.frame_w < patch) o.frame_w = patch;
    if (o.frame_h < patch) o.frame_h = patch;
    for (int attempt = 0; attempt < 8; attempt++) {
        uint64_t s = rng_mix64(seed + (uint64_t)attempt * RNG_GOLDEN);
        int other = ps->n > 1 ? (k + 1 + (int)(rng_mix64(s ^ 0x6f74686572ull) % (uint64_t)(ps->n - 1))) % ps->n : -1;
        sung_image b, g;
        sung_error err;
        if (sung_synth_pair(photo, other >= 0 ? &ps->im[other] : NULL, &o, s, &b, &g, NULL, &err)) {
            sung_image_free(&small);
            return cli_fail(cmd, "%s: %s", ps->names[k], err.msg);
        }
        int keep = attempt == 7 || d->min_texture <= 0 || photos_texture(&g) >= d->min_texture; /* 0: not measured */
        if (keep) {
            size_t n = (size_t)patch * patch * 3;
            if (redrawn) *redrawn = attempt;
            memcpy(blur, b.data, n * sizeof *blur);
            memcpy(sharp, g.data, n * sizeof *sharp);
        }
        sung_image_free(&b);
        sung_image_free(&g);
        if (keep) break;
    }
    sung_image_free(&small);
    return 0;
}
