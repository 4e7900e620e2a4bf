/* What the model costs: per-layer-type timing (sung_profile_*) and the FLOPs of one
 * convolution (conv_flops), the one formula that sung_model_flops (src/scales.c, a walk
 * of the graph) and the profile both use. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "graph.h"

/* ---- per-layer-type timing ---------------------------------------------------------------- */

double prof_wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void sung_profile_reset_by(sung_model *m, sung_profile_key key)
{
    m->prof_on = 1;
    m->nprof = 0;
    m->prof_key = key == SUNG_PROFILE_PICTURE ? SUNG_PROFILE_PICTURE : SUNG_PROFILE_LAYER;
}

void sung_profile_reset(sung_model *m) { sung_profile_reset_by(m, SUNG_PROFILE_LAYER); }

int sung_profile_get(const sung_model *m, sung_layer_time *rows, int max)
{
    for (int i = 0; i < m->nprof && i < max; i++) rows[i] = m->prof[i];
    return m->nprof;
}

double conv_flops(const conv_shape *s, double pix)
{
    double out_pix = s->transposed ? pix : pix / ((double)s->stride * s->stride);
    return 2.0 * s->k * s->k * s->A * s->B * out_pix;
}

/* Adds one call of a convolution of shape s whose input is n images of h×w pixels. */
void prof_add(sung_model *m, double t0, const conv_shape *s, int kind, int n, int h, int w, int with_din, int bf16)
{
    if (!m->prof_on || m->act.counting) return;
    double t = prof_wall() - t0, n_in_pix = (double)n * h * w;
    char name[48];
    const char *prec = bf16 ? " bf16" : "";
    if (m->prof_key == SUNG_PROFILE_PICTURE)
        snprintf(name, sizeof name, "%dx%d", w, h);
    else if (s->transposed)
        snprintf(name, sizeof name, "tconv %dx%d x2%s", s->k, s->k, prec);
    else
        snprintf(name, sizeof name, "conv %dx%d%s%s%s", s->k, s->k, s->stride == 2 ? " /2" : "",
                 kind == PROF_SHUFFLE ? " + shuffle" : "", prec);
    if (kind == PROF_BWD) strncat(name, " (backward)", sizeof name - strlen(name) - 1);
    double flops = conv_flops(s, n_in_pix);
    if (kind == PROF_BWD) flops *= with_din ? 2 : 1;
    int i = 0;
    while (i < m->nprof && strcmp(m->prof[i].name, name)) i++;
    if (i == m->nprof) {
        if (m->nprof == (int)(sizeof m->prof / sizeof *m->prof)) return;
        memset(&m->prof[i], 0, sizeof m->prof[i]);
        memcpy(m->prof[i].name, name, sizeof name);
        m->nprof++;
    }
    m->prof[i].calls++;
    m->prof[i].seconds += t;
    m->prof[i].flops += flops;
}
