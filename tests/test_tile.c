/* Tiled deblurring (src/tile.c) and the inference memory estimate.
 *
 * A tile that covers the image is sung_deblur bit for bit; tiles with a margin come close
 * to the whole-image pass and closer with a wider margin (measured on a random model,
 * whose effective receptive field is wide); the blend leaves no seam (no jump at tile
 * borders beyond the image's own variation); odd sizes and one-tile-wide strips work;
 * bad tiles are refused; sung_deblur_memory grows with the image and
 * sung_tile_for_memory picks 0 (untiled) for a big budget and a tile that fits for a small
 * one. */
#include <string.h>

#include "sung.h"
#include "testutil.h"

static double max_diff(const sung_image *a, const sung_image *b)
{
    double m = 0;
    for (size_t i = 0; i < (size_t)a->w * a->h * 3; i++) m = fmax(m, fabs((double)a->data[i] - b->data[i]));
    return m;
}

static double psnr_f(const sung_image *a, const sung_image *b)
{
    double s = 0;
    size_t n = (size_t)a->w * a->h * 3;
    for (size_t i = 0; i < n; i++) s += ((double)a->data[i] - b->data[i]) * ((double)a->data[i] - b->data[i]);
    return s > 0 ? 10 * log10(n / s) : INFINITY;
}

int main(void)
{
    sung_error e;
    sung_model *m;
    CHECK(sung_model_create(&m, SUNG_SUNG, 8, 5, &e) == SUNG_OK, "create: %s", e.msg);
    sung_image in;
    int w = 301, h = 203;
    CHECK(sung_image_alloc(&in, w, h, &e) == SUNG_OK, "%s", e.msg);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                in.data[((size_t)y * w + x) * 3 + c] =
                    (float)(0.5 + 0.3 * sin(x * 0.07 + c) * cos(y * 0.05) + 0.1 * test_uniform());
    const int iters = 2; /* grid of 16 */
    sung_image full, t;
    CHECK(sung_deblur(m, &in, iters, &full, &e) == SUNG_OK, "whole: %s", e.msg);

    /* one tile over everything: exactly sung_deblur */
    CHECK(sung_deblur_tiled(m, &in, iters, 320, 32, &t, &e) == SUNG_OK && max_diff(&t, &full) == 0,
          "a covering tile differs from sung_deblur");
    sung_image_free(&t);

    /* wider margins come closer */
    double p[3];
    const int margins[3] = {0, 32, 96};
    for (int i = 0; i < 3; i++) {
        CHECK(sung_deblur_tiled(m, &in, iters, 64, margins[i], &t, &e) == SUNG_OK && t.w == w && t.h == h,
              "tiles of 64, margin %d: %s", margins[i], e.msg);
        p[i] = psnr_f(&t, &full);
        sung_image_free(&t);
    }
    printf("tiles of 64 px against the whole image (random width-8 model): margin 0 %.1f dB, 32 %.1f dB, 96 %.1f dB\n",
           p[0], p[1], p[2]);
    CHECK(p[1] > p[0] + 3 && p[2] > p[1] + 3, "margins 0/32/96 give %.1f/%.1f/%.1f dB: not closer with more context",
          p[0], p[1], p[2]);
    CHECK(p[2] > 40, "tiles with a 96 px margin are only %.1f dB from the whole image", p[2]);

    /* no seam: with margin 32, the difference to the whole image along a tile border is
     * no larger than a few times its typical size elsewhere */
    CHECK(sung_deblur_tiled(m, &in, iters, 64, 32, &t, &e) == SUNG_OK, "%s", e.msg);
    double on = 0, off = 0;
    int non = 0, noff = 0;
    int left = (304 - w) / 2; /* the padded grid: W = 304 */
    for (int y = 0; y < h; y++)
        for (int x = 1; x < w; x++) {
            int px = x + left;
            double d = 0;
            for (int c = 0; c < 3; c++) {
                size_t i = ((size_t)y * w + x) * 3 + c, j = i - 3;
                d += fabs((t.data[i] - t.data[j]) - (full.data[i] - full.data[j]));
            }
            if (px % 64 == 0) on += d, non++;
            else off += d, noff++;
        }
    on /= non, off /= noff;
    CHECK(on < 4 * off + 1e-4, "a seam at tile borders: the gradient error there is %.3g, elsewhere %.3g", on, off);
    sung_image_free(&t);

    /* strips and odd sizes: 1 px high, a tile 16 wide */
    sung_image strip = {0}, s1, s2;
    CHECK(sung_image_alloc(&strip, 70, 1, &e) == SUNG_OK, "%s", e.msg);
    for (int i = 0; i < 70 * 3; i++) strip.data[i] = (float)test_uniform();
    CHECK(sung_deblur_tiled(m, &strip, iters, 16, 16, &s1, &e) == SUNG_OK && s1.w == 70 && s1.h == 1, "strip: %s",
          e.msg);
    CHECK(sung_deblur(m, &strip, iters, &s2, &e) == SUNG_OK, "%s", e.msg);
    int finite = 1;
    for (int i = 0; i < 70 * 3; i++) finite &= s1.data[i] >= 0 && s1.data[i] <= 1;
    CHECK(finite, "strip: values outside [0, 1]");
    sung_image_free(&s1), sung_image_free(&s2), sung_image_free(&strip);

    /* bad tiles */
    CHECK(sung_deblur_tiled(m, &in, iters, 60, 32, &t, &e) == SUNG_ERR_ARG && !t.data, "tile 60 (not on the grid)");
    CHECK(sung_deblur_tiled(m, &in, iters, 64, 20, &t, &e) == SUNG_ERR_ARG && !t.data, "margin 20");
    CHECK(sung_deblur_tiled(m, &in, iters, 0, 0, &t, &e) == SUNG_ERR_ARG && !t.data, "tile 0");

    /* memory */
    /* what grows with the image grows as its pixels; the weights' packs are a constant
     * (at width 8 about half of the 256² total, since Winograd F(4×4) packs) */
    size_t a0 = sung_deblur_memory(m, 128, 128, 4), a = sung_deblur_memory(m, 256, 256, 4),
           b = sung_deblur_memory(m, 512, 512, 4);
    CHECK(a0 > 0 && a > a0 && b > a && (double)(b - a) / (a - a0) > 3.5 && (double)(b - a) / (a - a0) < 4.5,
          "memory (512² − 256²) / (256² − 128²) = %.2f, not about 4", (double)(b - a) / (a - a0));
    CHECK(sung_deblur_memory(m, 0, 10, 4) == 0, "memory of an empty image");
    CHECK(sung_tile_for_memory(m, 2000, 1500, 4, 64, (size_t)1 << 40) == 0, "a huge budget still tiles");
    /* held besides a tile's pass: the input, the output and a blend weight per pixel, the
     * weights and 64 MB for the program (sung_tile_for_memory) */
    size_t held = (size_t)2000 * 1500 * 7 * sizeof(float) + sung_model_param_count(m) * sizeof(float) + ((size_t)64 << 20);
    int tile = sung_tile_for_memory(m, 2000, 1500, 4, 64, held + b);
    CHECK(tile >= 64 && tile % 64 == 0 && tile < 2000, "tile for a 512²-sized budget: %d", tile);
    CHECK(sung_tile_for_memory(m, 2000, 1500, 4, 64, 1000) == -1, "a 1000-byte budget found a tile");

    sung_image_free(&full), sung_image_free(&in);
    sung_model_free(m);
    return test_summary("test_tile");
}
