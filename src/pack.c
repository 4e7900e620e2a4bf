/* Weight packing: the packed copies of the parameters each kind of pass reads (the
 * layouts add_conv in src/model.c reserved), made when a pass needs them and the
 * parameters changed. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Packs the weights for what the next pass runs — fp32 inference: the forward layouts
 * (direct, Winograd or fused with the shuffle, whichever each layer uses); training:
 * those and the data-gradient ones (Winograd or transposed); bf16 inference: the bf16
 * pairs (the fp32 Winograd layouts of those layers); bf16 training: the bf16 pairs of
 * the direct forward and of the transposed layouts — so that a pass
 * never touches the pages of layouts it does not use. The biases always. Returns -1
 * when out of memory. */
int model_repack(sung_model *m, int want)
{
    if ((m->packed_fresh & want) == want) return 0;
    float *tmp = NULL;
    size_t most = 0;
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    if (want & (PACKED_BF16 | PACKED_BF16_TRAIN)) {
        for (int i = 0; i < m->nconvs; i++) {
            const conv_shape *cs = &m->convs[i].s;
            if (conv_fwd_pack_size(cs) > most) most = conv_fwd_pack_size(cs);
            if (conv_bwd_pack_size(cs) > most) most = conv_bwd_pack_size(cs);
            if (m->convs[i].shuffled && conv_shuffle_pack_size(cs) > most) most = conv_shuffle_pack_size(cs);
            if (m->convs[i].wino16 && conv_wino_pack_size(cs, 4) > most) most = conv_wino_pack_size(cs, 4);
        }
        if (!m->packed16 && !(m->packed16 = malloc(m->npacked16 * sizeof *m->packed16))) return -1;
        if (want & PACKED_BF16_TRAIN && !m->packed16_bwd &&
            !(m->packed16_bwd = malloc(m->npacked16_bwd * sizeof *m->packed16_bwd)))
            return -1;
        if (!(tmp = malloc(most * nt * sizeof *tmp))) return -1;
    }
    /* layer by layer on all threads: packing runs once per training step */
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < m->nconvs; i++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *mine = tmp ? tmp + (size_t)tid * most : NULL;
        conv_layer *c = &m->convs[i];
        const float *w = m->p + m->params[c->w_param].off;
        const float *b = c->b_param >= 0 ? m->p + m->params[c->b_param].off : NULL;
        float *bias = m->packed + c->bias_off;
        memset(bias, 0, conv_round(c->s.B) * sizeof *bias);
        if (b) memcpy(bias, b, c->s.B * sizeof *bias);
        if (want & (PACKED_FWD | PACKED_BWD)) {
            /* a Winograd layer never runs the direct forward layout */
            float *fwd = want & PACKED_FWD && !c->wino ? m->packed + c->fwd_off : NULL;
            conv_pack(&c->s, w, fwd, want & PACKED_BWD && !c->wino_bwd ? m->packed + c->bwd_off : NULL);
        }
        if (want & PACKED_BWD && c->wino_bwd)
            conv_wino_dgrad_pack(&c->s, c->wino_bwd, w, m->packed + c->wino_bwd_off);
        if (want & PACKED_FWD) {
            if (c->wino) conv_wino_pack(&c->s, c->wino, w, m->packed + c->wino_off);
            if (c->shuffled) conv_shuffle_pack(&c->s, w, b, m->packed + c->shuf_off);
        }
        if (want & PACKED_BF16) { /* inference */
            if (c->wino16) {
                conv_wino_pack(&c->s, 4, w, mine);
                conv_wino_bf16_pack(&c->s, mine, m->packed16 + c->wino16_off);
            } else if (c->wino) { /* runs fp32 Winograd */
                if (!(want & PACKED_FWD)) conv_wino_pack(&c->s, c->wino, w, m->packed + c->wino_off);
            }
            if (c->shuffled) { /* a Winograd layer's too: the up conv runs fused with its shuffle */
                conv_shuffle_pack(&c->s, w, b, mine);
                conv_bf16_shuffle_pack(&c->s, mine, m->packed16 + c->shuf16_off);
            }
        }
        /* the direct bf16 forward: inference's non-Winograd layers, and every layer in
         * bf16 training */
        if (want & PACKED_BF16_TRAIN || (want & PACKED_BF16 && !c->wino)) {
            conv_pack(&c->s, w, mine, NULL);
            conv_bf16_pack(&c->s, mine, m->packed16 + c->fwd16_off);
        }
        if (want & PACKED_BF16_TRAIN) {
            conv_pack(&c->s, w, NULL, mine);
            conv_bf16_bwd_pack(&c->s, mine, m->packed16_bwd + c->bwd16_off);
        }
    }
    free(tmp);
    m->packed_fresh |= want;
    return 0;
}

/* The weight layouts an inference in m's precision touches (model_repack): the raw weights,
 * the biases, and per layer its direct, Winograd or shuffle pack (fp32) or its bf16 one. */
size_t infer_packed_bytes(const sung_model *m)
{
    size_t f = m->nfloats;
    for (int i = 0; i < m->nconvs; i++) {
        const conv_layer *c = &m->convs[i];
        f += conv_round(c->s.B);
        if (m->precision == SUNG_BF16)
            f += (c->wino16 ? conv_wino_bf16_pack_size(&c->s)
                  : c->wino ? conv_wino_pack_size(&c->s, c->wino) : conv_bf16_pack_size(&c->s)) +
                 (c->shuffled ? conv_bf16_shuffle_pack_size(&c->s) : 0);
        else
            f += (c->wino ? conv_wino_pack_size(&c->s, c->wino) : conv_fwd_pack_size(&c->s)) +
                 (c->shuffled ? conv_shuffle_pack_size(&c->s) : 0);
    }
    return f * sizeof(float);
}
