/* Gaussian-pyramid reduce (SPEC §5): 7-tap Gaussian, σ = 2/3, half-sample symmetric
 * boundary, then the mean of each 2×2 block; equals skimage's pyramid_reduce on even
 * sizes. Forward only: the pyramid is built from inputs, never differentiated. */
#include <assert.h>
#include <math.h>

#include "ops.h"

#define R 3

static void gauss_taps(float *k)
{
    double w[2 * R + 1], sum = 0, sigma = 2.0 / 3.0;
    for (int i = -R; i <= R; i++) sum += w[i + R] = exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i < 2 * R + 1; i++) k[i] = (float)(w[i] / sum);
}

/* d c b a | a b c d: index i mirrored into [0, n) (repeatedly, for tiny n) */
static int reflect(int i, int n)
{
    for (;;) {
        if (i < 0)
            i = -i - 1;
        else if (i >= n)
            i = 2 * n - 1 - i;
        else
            return i;
    }
}

void reduce_forward(tensor out, tensor in, float *tmp)
{
    assert(in.h % 2 == 0 && in.w % 2 == 0 && out.h == in.h / 2 && out.w == in.w / 2);
    assert(out.c == in.c);
    float k[2 * R + 1];
    gauss_taps(k);
    int C = in.c;
    for (int n = 0; n < in.n; n++) {
        /* vertical pass into tmp (h×w×C, dense) */
#pragma omp parallel for
        for (int y = 0; y < in.h; y++)
            for (int x = 0; x < in.w; x++)
                for (int c = 0; c < C; c++) {
                    float s = 0;
                    for (int i = -R; i <= R; i++)
                        s += k[i + R] * in.d[t_off(&in, n, reflect(y + i, in.h), x) + c];
                    tmp[((size_t)y * in.w + x) * C + c] = s;
                }
        /* horizontal pass at the needed columns, then 2×2 means */
#pragma omp parallel for
        for (int oy = 0; oy < out.h; oy++)
            for (int ox = 0; ox < out.w; ox++)
                for (int c = 0; c < C; c++) {
                    float s = 0;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            int y = 2 * oy + dy, x = 2 * ox + dx;
                            float h = 0;
                            for (int i = -R; i <= R; i++)
                                h += k[i + R] * tmp[((size_t)y * in.w + reflect(x + i, in.w)) * C + c];
                            s += h;
                        }
                    out.d[t_off(&out, n, oy, ox) + c] = 0.25f * s;
                }
    }
}
