/* Adam, bias-corrected, in the order torch.optim.Adam (PyTorch 1.13, foreach=False)
 * computes it, so that the two agree to rounding. */
#include <math.h>

#include "ops.h"

void ema_update(float *ema, const float *p, size_t n, double decay)
{
    float k = (float)(1 - decay);
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) ema[i] += k * (p[i] - ema[i]);
}

void adam_update(float *p, const float *g, float *m, float *v, size_t n, double lr,
                 double b1, double b2, double eps, long t)
{
    double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
    float step = (float)(lr / bc1), bc2s = (float)sqrt(bc2);
    float fb1 = (float)b1, fb2 = (float)b2, fe = (float)eps;
    float cb1 = (float)(1 - b1), cb2 = (float)(1 - b2);
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        m[i] = m[i] * fb1 + g[i] * cb1;
        v[i] = v[i] * fb2 + cb2 * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2s + fe;
        p[i] += -step * (m[i] / denom);
    }
}
