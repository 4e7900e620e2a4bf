/* Element-wise and data-movement ops: add, copy, pixel shuffle. */
#include <assert.h>
#include <string.h>

#include "ops.h"

#define FOR_PIXELS(t)                                                                  \
    _Pragma("omp parallel for collapse(2)") for (int n = 0; n < (t).n; n++)            \
        for (int y = 0; y < (t).h; y++)                                                \
            for (int x = 0; x < (t).w; x++)

void add_forward(tensor out, tensor a, tensor b)
{
    assert(a.c == out.c && b.c == out.c && a.h == out.h && b.w == out.w);
    FOR_PIXELS(out)
    {
        float *o = out.d + t_off(&out, n, y, x);
        const float *pa = a.d + t_off(&a, n, y, x), *pb = b.d + t_off(&b, n, y, x);
        for (int c = 0; c < out.c; c++) o[c] = pa[c] + pb[c];
    }
}

void zero_fill(void *p, size_t bytes)
{
    enum { CHUNK = 256 << 10 };
    if (bytes <= CHUNK) {
        memset(p, 0, bytes);
        return;
    }
    long chunks = (long)((bytes + CHUNK - 1) / CHUNK);
#pragma omp parallel for
    for (long i = 0; i < chunks; i++) {
        size_t off = (size_t)i * CHUNK, n = bytes - off < CHUNK ? bytes - off : CHUNK;
        memset((char *)p + off, 0, n);
    }
}

void copy_forward(tensor out, tensor in)
{
    assert(in.c == out.c && in.h == out.h && in.w == out.w && in.n == out.n);
    FOR_PIXELS(out)
    {
        float *o = out.d + t_off(&out, n, y, x);
        const float *p = in.d + t_off(&in, n, y, x);
        for (int c = 0; c < out.c; c++) o[c] = p[c];
    }
}

/* out[n, 2y+i, 2x+j, c] = in[n, y, x, 4c + 2i + j] (PyTorch's F.pixel_shuffle) */
void shuffle_forward(tensor out, tensor in)
{
    assert(in.c == 4 * out.c && out.h == 2 * in.h && out.w == 2 * in.w);
    FOR_PIXELS(in)
    {
        const float *p = in.d + t_off(&in, n, y, x);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                float *o = out.d + t_off(&out, n, 2 * y + i, 2 * x + j);
                for (int c = 0; c < out.c; c++) o[c] = p[4 * c + 2 * i + j];
            }
    }
}

/* din (in's layout) += the inverse permutation of dout.g */
void shuffle_backward(float *din, tensor in, tensor dout)
{
    FOR_PIXELS(in)
    {
        float *p = din + t_off(&in, n, y, x);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                const float *g = dout.g + t_off(&dout, n, 2 * y + i, 2 * x + j);
                for (int c = 0; c < dout.c; c++) p[4 * c + 2 * i + j] += g[c];
            }
    }
}
