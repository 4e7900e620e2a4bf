/* What the model costs: per-layer-type timing (sung_profile_*) and FLOP counts
 * (sung_model_flops), from one formula per convolution. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "model.h"

/* ---- per-layer-type timing ---------------------------------------------------------------- */

double prof_wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void sung_profile_reset(sung_model *m)
{
    m->prof_on = 1;
    m->nprof = 0;
}

int sung_profile_get(const sung_model *m, sung_layer_time *rows, int max)
{
    for (int i = 0; i < m->nprof && i < max; i++) rows[i] = m->prof[i];
    return m->nprof;
}

/* FLOPs (2 per multiply-add) of a forward convolution of shape s whose input has `pix`
 * pixels: the one formula of sung_model_flops and of the profile. */
static double shape_flops(const conv_shape *s, double pix)
{
    double out_pix = s->transposed ? pix : pix / ((double)s->stride * s->stride);
    return 2.0 * s->k * s->k * s->A * s->B * out_pix;
}

/* Adds one call of a convolution of shape s whose input has n×in_pix pixels. */
void prof_add(sung_model *m, double t0, const conv_shape *s, int kind, double n_in_pix,
                     int with_din, int bf16)
{
    if (!m->prof_on || m->act.counting) return;
    double t = prof_wall() - t0;
    char name[48];
    const char *prec = bf16 ? " bf16" : "";
    if (s->transposed)
        snprintf(name, sizeof name, "tconv %dx%d x2%s", s->k, s->k, prec);
    else
        snprintf(name, sizeof name, "conv %dx%d%s%s%s", s->k, s->k, s->stride == 2 ? " /2" : "",
                 kind == PROF_SHUFFLE ? " + shuffle" : "", prec);
    if (kind == PROF_BWD) strncat(name, " (backward)", sizeof name - strlen(name) - 1);
    double flops = shape_flops(s, n_in_pix);
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

/* ---- cost ------------------------------------------------------------------------------------ */

/* FLOPs (2 per multiply-add) of conv layer L whose input has `pix` pixels per image. */
static double conv_flops(const sung_model *m, int layer, double pix) { return shape_flops(&m->convs[layer].s, pix); }

static double res3_flops(const sung_model *m, const m_resblock *r, double pix)
{
    double f = 0;
    for (int i = 0; i < 3; i++) f += conv_flops(m, r[i].c1, pix) + conv_flops(m, r[i].c2, pix);
    return f;
}

static double unet_flops(const sung_model *m, const m_unet *u, double pix)
{
    double f = conv_flops(m, u->e1.conv, pix) + res3_flops(m, u->e1.res, pix);
    f += conv_flops(m, u->e2.conv, pix) + res3_flops(m, u->e2.res, pix / 4);
    f += conv_flops(m, u->e3.conv, pix / 4) + res3_flops(m, u->e3.res, pix / 16);
    f += res3_flops(m, u->d2.res, pix / 16) + conv_flops(m, u->d2.up, pix / 16);
    f += res3_flops(m, u->d1.res, pix / 4) + conv_flops(m, u->d1.up, pix / 4);
    if (u->image) f += res3_flops(m, u->ores, pix) + conv_flops(m, u->oconv, pix);
    return f;
}

static double path_flops(const sung_model *m, const m_path *p, double pix)
{
    double f = conv_flops(m, p->head, pix) + unet_flops(m, &p->unet, pix);
    for (int k = 0; k < p->n_rdb; k++) {
        for (int j = 0; j < 6; j++) f += conv_flops(m, p->rdbs[k].dense[j], pix);
        f += conv_flops(m, p->rdbs[k].fuse, pix);
    }
    if (p->n_rdb > 1) f += conv_flops(m, p->fuse1, pix);
    f += conv_flops(m, p->fuse3, pix) + conv_flops(m, p->up, pix) + conv_flops(m, p->tail, 4 * pix);
    return f;
}

double sung_model_flops(const sung_model *m, int iters, int h, int w)
{
    int mult = 1 << (iters + 2);
    double H = (h + mult - 1) / mult * mult, W = (w + mult - 1) / mult * mult, f = 0;
    for (int i = iters - 1; i >= 0; i--) {
        double out = H * W / ((double)(1 << i) * (1 << i)); /* S_i's pixels; paths run at 1/4 */
        f += path_flops(m, &m->deblur, out / 4) + unet_flops(m, &m->restore, out);
        if (m->variant != SUNG_SIUN) f += path_flops(m, &m->edge, out / 4);
    }
    return f;
}
