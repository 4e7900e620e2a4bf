/* The edge map M of SPEC §3 and the L1 loss. */
#include <assert.h>
#include <math.h>

#include "ops.h"

static inline float sgn(float v) { return (float)((v > 0) - (v < 0)); }

/* out = |I[y][x+1] − I[y][x]| + |I[y+1][x] − I[y][x]|, a difference being 0 in the
 * last column / row. */
void edge_forward(tensor out, tensor in)
{
    assert(in.c == out.c && in.h == out.h && in.w == out.w);
#pragma omp parallel for collapse(2)
    for (int n = 0; n < in.n; n++)
        for (int y = 0; y < in.h; y++)
            for (int x = 0; x < in.w; x++) {
                const float *p = in.d + t_off(&in, n, y, x);
                const float *r = x + 1 < in.w ? in.d + t_off(&in, n, y, x + 1) : p;
                const float *d = y + 1 < in.h ? in.d + t_off(&in, n, y + 1, x) : p;
                float *o = out.d + t_off(&out, n, y, x);
                for (int c = 0; c < in.c; c++) o[c] = fabsf(r[c] - p[c]) + fabsf(d[c] - p[c]);
            }
}

/* din.g += ∂M/∂I · dout.g, with sign(0) = 0. Rows are independent only in pairs, so
 * threads split images, and each image runs serially. */
void edge_backward(tensor din, tensor in, tensor dout)
{
#pragma omp parallel for
    for (int n = 0; n < in.n; n++)
        for (int y = 0; y < in.h; y++)
            for (int x = 0; x < in.w; x++) {
                size_t o = t_off(&in, n, y, x);
                const float *g = dout.g + t_off(&dout, n, y, x);
                const float *p = in.d + o;
                float *dp = din.g + o;
                if (x + 1 < in.w) {
                    size_t orr = t_off(&in, n, y, x + 1);
                    for (int c = 0; c < in.c; c++) {
                        float s = sgn(in.d[orr + c] - p[c]) * g[c];
                        din.g[orr + c] += s;
                        dp[c] -= s;
                    }
                }
                if (y + 1 < in.h) {
                    size_t od = t_off(&in, n, y + 1, x);
                    for (int c = 0; c < in.c; c++) {
                        float s = sgn(in.d[od + c] - p[c]) * g[c];
                        din.g[od + c] += s;
                        dp[c] -= s;
                    }
                }
            }
}

/* Rows are summed in parallel into a small array and then serially, so the result does
 * not depend on thread timing (a training run resumes bit for bit). */
double l1_forward(tensor a, tensor b)
{
    assert(a.n == b.n && a.h == b.h && a.w == b.w && a.c == b.c);
    double sum = 0;
    enum { CHUNK = 256 };
    double rows[CHUNK];
    for (int n = 0; n < a.n; n++)
        for (int y0 = 0; y0 < a.h; y0 += CHUNK) {
            int ny = a.h - y0 < CHUNK ? a.h - y0 : CHUNK;
#pragma omp parallel for
            for (int r = 0; r < ny; r++) {
                double row = 0;
                for (int x = 0; x < a.w; x++) {
                    const float *pa = a.d + t_off(&a, n, y0 + r, x), *pb = b.d + t_off(&b, n, y0 + r, x);
                    for (int c = 0; c < a.c; c++) row += fabsf(pa[c] - pb[c]);
                }
                rows[r] = row;
            }
            for (int r = 0; r < ny; r++) sum += rows[r];
        }
    return sum / ((double)a.n * a.h * a.w * a.c);
}

/* a.g += w·sign(a − b)/count, b.g −= the same (each where not NULL) */
void l1_backward(tensor a, tensor b, double w)
{
    float s = (float)(w / ((double)a.n * a.h * a.w * a.c));
#pragma omp parallel for collapse(2)
    for (int n = 0; n < a.n; n++)
        for (int y = 0; y < a.h; y++)
            for (int x = 0; x < a.w; x++) {
                size_t oa = t_off(&a, n, y, x), ob = t_off(&b, n, y, x);
                for (int c = 0; c < a.c; c++) {
                    float g = s * sgn(a.d[oa + c] - b.d[ob + c]);
                    if (a.g) a.g[oa + c] += g;
                    if (b.g) b.g[ob + c] -= g;
                }
            }
}
