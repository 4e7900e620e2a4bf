/* The graph (src/graph.c) as the scale loop (src/scales.c) drives it: internal to the
 * library. */
#ifndef SUNG_GRAPH_H
#define SUNG_GRAPH_H

#include "model.h"

typedef struct {
    sung_model *m;
    int train;     /* record the tape, give tensors gradients */
    int failed;    /* sticky: after a failure every op is a no-op */
    size_t bwd_tmp; /* training: the largest temporary a conv's backward asks for, in floats
                       (planning) */
    double flops;   /* of the convolutions run (or counted) so far: 2 per multiply-add */
} ctx;

typedef struct {
    tensor S, F, G; /* G.d NULL for siun */
} step_out;

/* A tensor n×h×w×ch in the activation arena (with a zeroed gradient when grad and
 * training); sets c->failed when out of memory. */
tensor new_tensor(ctx *c, int n, int h, int w, int ch, int grad);
/* into = edge map of in (recorded when in carries a gradient) */
void graph_edge(ctx *c, tensor into, tensor in);
/* The L1 loss of a against b; recorded with weight w unless w is 0. */
double graph_l1(ctx *c, tensor a, tensor b, double w);
/* One scale step (SPEC §4): Bn = B_{i+1}, Sn = S_{i+1} (h×w), Bi (2h×2w); constants. */
step_out scale_step(ctx *c, tensor Bn, tensor Sn, tensor Bi);
/* Copies scale i's outputs into m->trace, when a test set one. */
void trace_step(sung_model *m, int i, const step_out *o);
/* Replays the tape in reverse; -1 when out of memory (a bf16 temporary) */
int graph_backward(sung_model *m);

#endif
