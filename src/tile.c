/* Deblurring in tiles, for images whose whole-image pass would not fit in memory.
 *
 * The image is first thought of as sung_deblur pads it: reflected (101) to H×W, the next
 * multiples of 2^(iters+2), centred. That padded image is cut into tiles on a grid of
 * stride `tile` (a multiple of 2^(iters+2)), each run on its region grown by `margin` on
 * every side and clipped to the padded image: all region edges sit on the model's grid,
 * so each tile's pyramid is exactly the crop of the whole image's, and a tile differs
 * from the whole-image pass only through what its convolutions see beyond its region,
 * which the margin keeps away from the pixels it contributes. Between two tiles the
 * outputs are blended with complementary linear ramps over `margin` px centred on their
 * border (each tile drops the outer margin/2 of its region there); at the padded
 * image's own edges nothing is dropped. The weights are separable, sum to 1 everywhere
 * and are normalised anyway. Memory: the output, one weight per pixel and one region's
 * pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Weight of position x (padded coordinates) in the tile whose stride cell is [c0, c1),
 * in a padded extent [0, n). */
static float ramp(int x, int c0, int c1, int n, int margin)
{
    if (margin == 0) return x >= c0 && x < c1 ? 1.0f : 0.0f;
    float w = 1.0f;
    if (c0 > 0) { /* a tile before: ramp up over [c0 − margin/2, c0 + margin/2) */
        float t = (x + 0.5f - (c0 - 0.5f * margin)) / margin;
        w = fminf(w, fmaxf(t, 0.0f));
    }
    if (c1 < n) {
        float t = ((c1 + 0.5f * margin) - (x + 0.5f)) / margin;
        w = fminf(w, fmaxf(t, 0.0f));
    }
    return fminf(w, 1.0f);
}

sung_status sung_deblur_tiled(sung_model *m, const sung_image *in, int iters, int tile, int margin,
                              sung_image *out, sung_error *err)
{
    memset(out, 0, sizeof *out);
    sung_status chk = deblur_check(in, iters, err);
    if (chk != SUNG_OK) return chk;
    int mult = 1 << (iters + 2);
    if (tile < mult || tile % mult || margin < 0 || margin % mult || tile > SUNG_MAX_SIDE || margin > SUNG_MAX_SIDE) {
        model_set_error(err, "tile %d and margin %d must be multiples of %d (2^(iters+2)), the tile at least that",
                        tile, margin, mult);
        return SUNG_ERR_ARG;
    }
    int H = (in->h + mult - 1) / mult * mult, W = (in->w + mult - 1) / mult * mult;
    int top = (H - in->h) / 2, left = (W - in->w) / 2;
    if (tile >= W && tile >= H) return sung_deblur(m, in, iters, out, err);

    sung_status st = sung_image_alloc(out, in->w, in->h, err);
    if (st) return st;
    memset(out->data, 0, (size_t)in->w * in->h * 3 * sizeof *out->data);
    float *wsum = calloc((size_t)in->w * in->h, sizeof *wsum);
    sung_image region = {0}, res = {0};
    int rmax = tile + 2 * margin;
    if (!wsum || sung_image_alloc(&region, rmax < W ? rmax : W, rmax < H ? rmax : H, err)) {
        free(wsum);
        sung_image_free(&region);
        sung_image_free(out);
        model_set_error(err, "out of memory for tiles of %d px (+%d margin) of a %dx%d image", tile, margin, in->w,
                        in->h);
        return SUNG_ERR_NOMEM;
    }
    for (int ty = 0; ty < H; ty += tile)
        for (int tx = 0; tx < W; tx += tile) {
            int cx1 = tx + tile < W ? tx + tile : W, cy1 = ty + tile < H ? ty + tile : H;
            int rx0 = tx - margin > 0 ? tx - margin : 0, ry0 = ty - margin > 0 ? ty - margin : 0;
            int rx1 = cx1 + margin < W ? cx1 + margin : W, ry1 = cy1 + margin < H ? cy1 + margin : H;
            region.w = rx1 - rx0, region.h = ry1 - ry0;
            for (int y = 0; y < region.h; y++)
                for (int x = 0; x < region.w; x++) {
                    const float *s = in->data + ((size_t)reflect101(ry0 + y - top, in->h) * in->w +
                                                 reflect101(rx0 + x - left, in->w)) * 3;
                    memcpy(region.data + ((size_t)y * region.w + x) * 3, s, 3 * sizeof(float));
                }
            st = sung_deblur(m, &region, iters, &res, err);
            if (st) {
                free(wsum);
                sung_image_free(&region);
                sung_image_free(out);
                return st;
            }
            /* add the region's output, weighted, where it lands in the image */
            for (int y = ry0; y < ry1; y++) {
                int iy = y - top;
                if (iy < 0 || iy >= in->h) continue;
                float wy = ramp(y, ty, cy1, H, margin);
                if (wy <= 0) continue;
                for (int x = rx0; x < rx1; x++) {
                    int ix = x - left;
                    if (ix < 0 || ix >= in->w) continue;
                    float w = wy * ramp(x, tx, cx1, W, margin);
                    if (w <= 0) continue;
                    const float *r = res.data + ((size_t)(y - ry0) * res.w + (x - rx0)) * 3;
                    float *o = out->data + ((size_t)iy * in->w + ix) * 3;
                    for (int c = 0; c < 3; c++) o[c] += w * r[c];
                    wsum[(size_t)iy * in->w + ix] += w;
                }
            }
            sung_image_free(&res);
        }
    for (size_t i = 0; i < (size_t)in->w * in->h; i++)
        for (int c = 0; c < 3; c++) out->data[3 * i + c] = fminf(fmaxf(out->data[3 * i + c] / wsum[i], 0.0f), 1.0f);
    free(wsum);
    sung_image_free(&region);
    return SUNG_OK;
}

int sung_tile_for_memory(sung_model *m, int w, int h, int iters, int margin, size_t budget)
{
    int mult = 1 << (iters + 2);
    if (iters < 1 || iters > SUNG_MAX_ITERS || w < 1 || h < 1 || margin < 0 || margin % mult) return -1;
    /* held for the whole run: the caller's input image, the model's weights and the
     * program itself (code, libraries, thread stacks, the allocator's slack: an 8000×6000
     * run peaked 18 MB beyond the rest; 64 MB keeps a margin); tiled, also the output and
     * a blend weight per pixel */
    size_t img = (size_t)w * h * 3 * sizeof(float);
    size_t held = img + sung_model_param_count(m) * sizeof(float) + ((size_t)64 << 20);
    if (held + sung_deblur_memory(m, w, h, iters) <= budget) return 0;
    size_t fixed = held + img + (size_t)w * h * sizeof(float);
    int best = -1;
    for (int t = mult; t <= SUNG_MAX_SIDE; t += mult) {
        int rw = t + 2 * margin, rh = t + 2 * margin;
        size_t need = fixed + sung_deblur_memory(m, rw, rh, iters) + 2 * (size_t)rw * rh * 3 * sizeof(float);
        if (need > budget) break;
        best = t;
        if (t >= w && t >= h) break;
    }
    return best;
}
