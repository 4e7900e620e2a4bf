/* The model's side of the conv plans (ops/conv_plan.h): preparing them all for a pass
 * when the parameters changed, their packed gradients, and what their layouts weigh.
 * What each layout is, and which one a layer runs, is the plans' business. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int model_conv_mode(const sung_model *m, int train)
{
    return (train ? CONV_TRAIN : CONV_INFER) | (m->precision == SUNG_BF16 ? CONV_BF16 : 0);
}

void model_params_changed(sung_model *m)
{
    for (int i = 0; i < m->nconvs; i++)
        if (m->convs[i].plan) conv_plan_invalidate(m->convs[i].plan);
}

int model_repack(sung_model *m, int mode)
{
    size_t most = 0;
    int stale = 0, nt = 1, failed = 0;
    for (int i = 0; i < m->nconvs; i++) {
        const conv_plan *p = m->convs[i].plan;
        stale |= !conv_plan_ready(p, mode);
        if (conv_plan_pack_tmp_size(p, mode) > most) most = conv_plan_pack_tmp_size(p, mode);
    }
    if (!stale) return 0;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    float *tmp = NULL;
    if (most && !(tmp = malloc(most * nt * sizeof *tmp))) return -1;
    /* layer by layer on all threads: packing runs once per training step */
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < m->nconvs; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        const conv_layer *c = &m->convs[i];
        const float *w = m->p + m->params[c->w_param].off;
        const float *b = c->b_param >= 0 ? m->p + m->params[c->b_param].off : NULL;
        if (conv_plan_prepare(c->plan, mode, w, b, tmp ? tmp + (size_t)tid * most : NULL)) {
#pragma omp atomic write
            failed = 1;
        }
    }
    free(tmp);
    return failed ? -1 : 0;
}

void model_grads_zero_packed(sung_model *m)
{
    for (int i = 0; i < m->nconvs; i++) conv_plan_grad_zero(m->convs[i].plan);
}

void model_grads_unpack(sung_model *m)
{
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < m->nconvs; i++) {
        const conv_layer *c = &m->convs[i];
        conv_plan_grad_unpack(c->plan, m->g + m->params[c->w_param].off);
    }
}

/* The raw weights and the layouts of the plans. */
size_t infer_packed_bytes(const sung_model *m)
{
    size_t b = m->nfloats * sizeof(float);
    for (int i = 0; i < m->nconvs; i++) b += conv_plan_bytes(m->convs[i].plan, model_conv_mode(m, 0));
    return b;
}
