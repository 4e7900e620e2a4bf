/* The SUNG graph (SPEC §1–§4): paths, U-Nets, RDBs and one scale step, on a ctx.
 *
 * Forward code reads like the spec. In training mode every op is also recorded on a
 * tape; graph_backward() replays the tape in reverse. The scale loop around it is
 * src/scales.c. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

/* ---- the graph, with its tape ----------------------------------------------------------- */

enum { N_CONV, N_ADD, N_COPY, N_SHUFFLE, N_EDGE, N_L1 };

typedef struct node {
    int kind, layer, act;
    tensor in, out, res; /* N_ADD: in + res = out; N_L1: in vs res */
    double w;
} node;

/* No op runs: after a failure (sticky), and while planning memory (arena counting). */
static int idle(const ctx *c) { return c->failed || c->m->act.counting; }

tensor new_tensor(ctx *c, int n, int h, int w, int ch, int grad)
{
    tensor t = {NULL, NULL, n, h, w, ch, ch};
    if (c->failed) return t;
    size_t bytes = (size_t)n * h * w * ch * sizeof(float);
    t.d = arena_alloc(&c->m->act, bytes);
    if (grad && c->train) {
        t.g = arena_alloc(&c->m->act, bytes);
        if (t.g && !idle(c)) zero_fill(t.g, bytes);
    }
    if (!t.d || (grad && c->train && !t.g)) c->failed = 1;
    return t;
}

static void record(ctx *c, node nd)
{
    if (!c->train || idle(c)) return;
    sung_model *m = c->m;
    if (m->ntape == m->cap_tape) {
        int cap = m->cap_tape ? 2 * m->cap_tape : 512;
        node *t = realloc(m->tape, cap * sizeof *t);
        if (!t) {
            c->failed = 1;
            return;
        }
        m->tape = t, m->cap_tape = cap;
    }
    m->tape[m->ntape++] = nd;
}

/* The temporary a plan asks for to run op on input in (bf16: the input converted to
 * pairs), from the activation arena (the caller releases it); NULL when none, or with
 * c->failed set when out of memory. */
static float *plan_tmp(ctx *c, const conv_plan *p, int op, tensor in)
{
    size_t n = conv_plan_tmp_size(p, model_conv_mode(c->m, c->train), op, in);
    float *t = n ? arena_alloc(&c->m->act, n * sizeof(float)) : NULL;
    if (n && !t) c->failed = 1;
    return t;
}

/* Runs layer `layer` through its plan, in training as in inference: the whole layer, or
 * (in.c < its A) the block of its input channels from a0 (fuse1 summed block by block).
 * bias: 1 adds the layer's bias, if it has one. */
static void run_forward(ctx *c, int layer, tensor out, tensor in, int a0, int bias, int act,
                        const tensor *res, int accumulate)
{
    sung_model *m = c->m;
    if (c->failed) return;
    const conv_layer *L = &m->convs[layer];
    conv_shape s = L->s;
    s.A = in.c;
    double t0 = m->prof_on ? prof_wall() : 0;
    arena_pos mk = arena_mark(&m->act);
    float *tmp = plan_tmp(c, L->plan, CONV_OP_FORWARD, in);
    if (c->failed) return;
    int bf16 = 0;
    if (!idle(c))
        bf16 = conv_plan_forward(L->plan, model_conv_mode(m, c->train), out, in, a0, bias, act, res, accumulate,
                                 m->zeros, m->scratch, tmp);
    arena_release(&m->act, mk);
    c->flops += conv_flops(&s, (double)in.n * in.h * in.w);
    prof_add(m, t0, &s, PROF_FWD, in.n, in.h, in.w, 0, bf16);
}

/* out = act(conv_layer(in)) [+ res]; into *into when given, else a new tensor */
static tensor conv(ctx *c, int layer, tensor in, int act, const tensor *res, const tensor *into)
{
    sung_model *m = c->m;
    conv_layer *L = &m->convs[layer];
    int oh, ow;
    conv_out_size(&L->s, in.h, in.w, &oh, &ow);
    tensor out = into ? *into : new_tensor(c, in.n, oh, ow, L->s.B, 1);
    if (c->failed) return out; /* planning goes on: run_forward may allocate */
    assert(out.h == oh && out.w == ow && out.c == L->s.B && in.c == L->s.A);
    run_forward(c, layer, out, in, 0, 1, act, res, 0);
    if (c->train) {
        size_t need = conv_plan_tmp_size(L->plan, model_conv_mode(m, 1), CONV_OP_BACKWARD, in);
        if (need > c->bwd_tmp) c->bwd_tmp = need;
    }
    node nd = {N_CONV, layer, act, in, out, {0}, 0};
    if (res) nd.res = *res;
    record(c, nd);
    return out;
}

/* Inference only: skip += relu(conv_layer(in)), the U-Net's skip sum in place. */
static void conv_add_into(ctx *c, int layer, tensor in, tensor skip)
{
    assert(!c->train);
    run_forward(c, layer, skip, in, 0, 1, ACT_RELU, NULL, 1);
}

static tensor add(ctx *c, tensor a, tensor b)
{
    tensor out = new_tensor(c, a.n, a.h, a.w, a.c, 1);
    if (idle(c)) return out;
    add_forward(out, a, b);
    record(c, (node){N_ADD, -1, 0, a, out, b, 0});
    return out;
}

static void copy(ctx *c, tensor into, tensor in)
{
    if (idle(c)) return;
    copy_forward(into, in);
    if (in.g) record(c, (node){N_COPY, -1, 0, in, into, {0}, 0});
}

static tensor shuffle(ctx *c, tensor in)
{
    tensor out = new_tensor(c, in.n, 2 * in.h, 2 * in.w, in.c / 4, 1);
    if (idle(c)) return out;
    shuffle_forward(out, in);
    record(c, (node){N_SHUFFLE, -1, 0, in, out, {0}, 0});
    return out;
}

void graph_edge(ctx *c, tensor into, tensor in)
{
    if (idle(c)) return;
    edge_forward(into, in);
    if (in.g) record(c, (node){N_EDGE, -1, 0, in, into, {0}, 0});
}

double graph_l1(ctx *c, tensor a, tensor b, double w)
{
    if (idle(c)) return 0;
    double v = l1_forward(a, b);
    if (w != 0) record(c, (node){N_L1, -1, 0, a, {0}, b, w});
    return v;
}

/* Inference frees what a block no longer needs and writes results over inputs that are
 * dead afterwards; training keeps every tensor for the backward pass. The blocks below are
 * written once, for both: release() frees back to a mark at inference only; at_infer(t)
 * is where a result goes at inference (a dead input, or a tensor allocated earlier) and
 * NULL, a new tensor, in training. */
static void release(ctx *c, arena_pos mark)
{
    if (!c->train) arena_release(&c->m->act, mark);
}
static const tensor *at_infer(const ctx *c, const tensor *t) { return c->train ? NULL : t; }

/* ResBlock: x + c2(relu(c1(x))). At inference x is dead afterwards (it is always a
 * block-internal tensor), so the sum overwrites it and the temporary is freed: the
 * kernel reads the residual of a pixel before writing that pixel. */
static tensor resblock(ctx *c, const m_resblock *r, tensor x)
{
    arena_pos mark = arena_mark(&c->m->act);
    tensor t = conv(c, r->c1, x, ACT_RELU, NULL, NULL);
    tensor y = conv(c, r->c2, t, ACT_NONE, &x, at_infer(c, &x));
    release(c, mark);
    return y;
}

static tensor res3(ctx *c, const m_resblock *r, tensor x)
{
    for (int i = 0; i < 3; i++) x = resblock(c, &r[i], x);
    return x;
}

static tensor eblock(ctx *c, const m_eblock *e, tensor x, const tensor *into)
{
    return res3(c, e->res, conv(c, e->conv, x, ACT_RELU, NULL, into));
}

/* relu(up(res3(x))) + skip, a U-Net's skip sum; at inference summed into skip in place */
static tensor dblock(ctx *c, const m_dblock *d, tensor x, tensor skip)
{
    tensor r = res3(c, d->res, x);
    if (c->train) return add(c, conv(c, d->up, r, ACT_RELU, NULL, NULL), skip);
    conv_add_into(c, d->up, r, skip);
    return skip;
}

/* Feature U-Net returns u1; the image U-Net writes tanh(oconv(ores(u1)))/2 + 0.5.
 * into (inference, feature U-Net): where u1 goes. At inference each level's tensors are
 * freed when it is done, the skip sums are taken in place (u2 = relu(up(·)) + e2 written
 * over e2, u1 over e1) and the ResBlocks work in place, so the peak is two
 * full-resolution feature maps. */
static tensor unet(ctx *c, const m_unet *u, tensor x, const tensor *into)
{
    assert(!(c->train && into));
    arena *a = &c->m->act;
    tensor out = {0};
    if (u->image && !c->train) out = new_tensor(c, x.n, x.h, x.w, 3, 0);
    tensor e1 = eblock(c, &u->e1, x, into);
    arena_pos level2 = arena_mark(a);
    tensor e2 = eblock(c, &u->e2, e1, NULL);
    arena_pos level3 = arena_mark(a);
    tensor u2 = dblock(c, &u->d2, eblock(c, &u->e3, e2, NULL), e2);
    release(c, level3);
    tensor u1 = dblock(c, &u->d1, u2, e1);
    release(c, level2);
    if (!u->image) return u1;
    return conv(c, u->oconv, res3(c, u->ores, u1), ACT_TANH_HALF, NULL, at_infer(c, &out));
}

/* The dense part of an RDB: h_{j+1} = concat(h_j, relu(dense.j(h_j))), grown in the 7c
 * buffer h whose first c channels hold its input. */
static void rdb_dense(ctx *c, const m_rdb *r, tensor h)
{
    int ch = h.c / 7;
    for (int j = 0; j < 6; j++) {
        tensor grow = t_slice(h, (1 + j) * ch, ch);
        conv(c, r->dense[j], t_slice(h, 0, (1 + j) * ch), ACT_RELU, NULL, &grow);
    }
}

/* The RDB chain of a path from the U-Net's input f0 (SPEC §2): r_0 = unet(f0), r_k =
 * rdbs.k(r_{k-1}) = r_{k-1} + fuse(h_6), then fuse1(concat(r_1..r_n)) when n_rdb > 1.
 * Training keeps every intermediate for the backward pass: each RDB grows in a 7c buffer
 * of its own, its input copied into the first c channels, and writes its output into its
 * slot of the concatenation for fuse1. Inference runs in about ten feature maps at the
 * path's resolution (training holds some thirty): one 7c buffer holds each RDB's growing
 * concatenation, the U-Net writes its output into its first c channels and each RDB's
 * output is copied back there for the next; fuse1 is summed RDB by RDB (its 1×1 weights
 * split by input block), so the n·c concatenation never exists. */
static tensor rdbs(ctx *c, const m_path *p, tensor f0)
{
    int n = f0.n, h = f0.h, w = f0.w, ch = f0.c, nr = p->n_rdb, train = c->train;
    tensor hb = {0}, x0 = {0}, cat = {0}, y = {0}, acc = {0};
    if (!train) hb = new_tensor(c, n, h, w, 7 * ch, 0), x0 = t_slice(hb, 0, ch);
    tensor r = unet(c, &p->unet, f0, at_infer(c, &x0));
    if (train && nr > 1) cat = new_tensor(c, n, h, w, nr * ch, 1);
    if (!train) y = new_tensor(c, n, h, w, ch, 0), acc = nr > 1 ? new_tensor(c, n, h, w, ch, 0) : y;
    for (int k = 0; k < nr; k++) {
        tensor x = r; /* the RDB's input, its residual in training */
        if (train) {
            hb = new_tensor(c, n, h, w, 7 * ch, 1), x0 = t_slice(hb, 0, ch);
            copy(c, x0, x);
        } else if (k) {
            copy(c, x0, y);
        }
        rdb_dense(c, &p->rdbs[k], hb);
        tensor slot = train && nr > 1 ? t_slice(cat, k * ch, ch) : y;
        r = conv(c, p->rdbs[k].fuse, hb, ACT_NONE, train ? &x : &x0, train && nr == 1 ? NULL : &slot);
        if (!train && nr > 1) {
            assert(c->m->convs[p->fuse1].s.k == 1 && c->m->convs[p->fuse1].s.A == nr * ch);
            run_forward(c, p->fuse1, acc, y, k * ch, k == 0, ACT_NONE, NULL, k > 0);
        }
    }
    if (nr == 1) return r;
    return train ? conv(c, p->fuse1, cat, ACT_NONE, NULL, NULL) : acc;
}

/* pixel_shuffle(up(h)), 4c → c channels at twice the size; at inference the up conv
 * writes through the shuffle, in one kernel. */
static tensor up_shuffle(ctx *c, int layer, tensor f0)
{
    if (c->train) return shuffle(c, conv(c, layer, f0, ACT_NONE, NULL, NULL));
    sung_model *m = c->m;
    const conv_layer *U = &m->convs[layer];
    tensor sh = new_tensor(c, f0.n, 2 * f0.h, 2 * f0.w, f0.c, 0);
    if (c->failed) return sh;
    double t0 = m->prof_on ? prof_wall() : 0;
    arena_pos mk = arena_mark(&m->act);
    float *tmp = plan_tmp(c, U->plan, CONV_OP_SHUFFLE, f0);
    if (c->failed) return sh;
    int bf16 = 0;
    if (!idle(c)) bf16 = conv_plan_shuffle_forward(U->plan, model_conv_mode(m, 0), sh, f0, ACT_NONE, m->zeros, m->scratch, tmp);
    arena_release(&m->act, mk);
    c->flops += conv_flops(&U->s, (double)f0.n * f0.h * f0.w);
    prof_add(m, t0, &U->s, PROF_SHUFFLE, f0.n, f0.h, f0.w, 0, bf16);
    return sh;
}

/* Path (SPEC §2): head, U-Net, RDBs, fuse, up + pixel shuffle, tail → into (3 ch). At
 * inference fuse3 adds into f0 in place and the RDBs' buffers are freed before the
 * shuffle's full-size output is taken. */
static void path(ctx *c, const m_path *p, tensor x, int act, tensor into)
{
    tensor f0 = conv(c, p->head, x, ACT_NONE, NULL, NULL);
    arena_pos mark = arena_mark(&c->m->act);
    tensor h = conv(c, p->fuse3, rdbs(c, p, f0), ACT_NONE, &f0, at_infer(c, &f0));
    release(c, mark);
    conv(c, p->tail, up_shuffle(c, p->up, h), act, NULL, &into);
}

static float *dense_copy(tensor t)
{
    float *d = malloc((size_t)t.n * t.h * t.w * t.c * sizeof *d);
    if (d) copy_forward((tensor){d, NULL, t.n, t.h, t.w, t.c, t.c}, t);
    return d;
}

void trace_step(sung_model *m, int i, const step_out *o)
{
    model_trace *t = m->trace;
    if (!t) return;
    free(t->S[i]), free(t->F[i]), free(t->G[i]);
    t->S[i] = dense_copy(o->S);
    t->F[i] = dense_copy(o->F);
    t->G[i] = o->G.d ? dense_copy(o->G) : NULL;
    t->h[i] = o->S.h, t->w[i] = o->S.w, t->n = o->S.n;
}

void model_trace_free(model_trace *t)
{
    for (int i = 0; i <= SUNG_MAX_ITERS; i++) {
        free(t->S[i]), free(t->F[i]), free(t->G[i]);
        t->S[i] = t->F[i] = t->G[i] = NULL;
    }
}

/* One scale step (SPEC §4): Bn = B_{i+1}, Sn = S_{i+1} (h×w), Bi (2h×2w); constants. */
step_out scale_step(ctx *c, tensor Bn, tensor Sn, tensor Bi)
{
    sung_model *m = c->m;
    int n = Bn.n, h = Bn.h, w = Bn.w, siun = m->variant == SUNG_SIUN;
    step_out o = {0};
    tensor din = new_tensor(c, n, h, w, 6, 0);
    tensor rin = new_tensor(c, n, 2 * h, 2 * w, siun ? 6 : 9, 1);
    if (c->failed) return o;
    copy(c, t_slice(din, 0, 3), Bn);
    copy(c, t_slice(din, 3, 3), Sn);
    copy(c, t_slice(rin, 0, 3), Bi);
    o.F = t_slice(rin, 3, 3);
    arena_pos before = arena_mark(&m->act);
    path(c, &m->deblur, din, ACT_TANH_HALF, o.F);
    if (!c->train) arena_release(&m->act, before); /* F is in rin, allocated earlier */
    if (!siun) {
        tensor ein = din;
        if (m->variant == SUNG_SUNG) {
            ein = new_tensor(c, n, h, w, 6, 0);
            graph_edge(c, t_slice(ein, 0, 3), Bn);
            graph_edge(c, t_slice(ein, 3, 3), Sn);
        }
        o.G = t_slice(rin, 6, 3);
        path(c, &m->edge, ein, ACT_NONE, o.G);
        if (!c->train) arena_release(&m->act, before);
    }
    o.S = unet(c, &m->restore, rin, NULL);
    return o;
}

static void grad_add(tensor dst, tensor src)
{
    tensor d = dst, s = src;
    d.d = dst.g, d.g = NULL;
    s.d = src.g, s.g = NULL;
    add_forward(d, d, s);
}

/* Replays the tape in reverse; -1 when out of memory (a bf16 temporary) */
int graph_backward(sung_model *m)
{
    int mode = model_conv_mode(m, 1);
    for (int i = m->ntape - 1; i >= 0; i--) {
        node *nd = &m->tape[i];
        switch (nd->kind) {
        case N_CONV: {
            conv_layer *L = &m->convs[nd->layer];
            act_backward(nd->out, nd->act);
            if (nd->res.g) grad_add(nd->res, nd->out);
            double t0 = m->prof_on ? prof_wall() : 0;
            const tensor *din = nd->in.g ? &nd->in : NULL;
            float *dbias = L->b_param >= 0 ? m->g + m->params[L->b_param].off : NULL;
            /* the plan's temporary (bf16: converted copies), planned (ctx.bwd_tmp) */
            arena_pos mk = arena_mark(&m->act);
            size_t n = conv_plan_tmp_size(L->plan, mode, CONV_OP_BACKWARD, nd->in);
            float *tmp = n ? arena_alloc(&m->act, n * sizeof(float)) : NULL;
            if (n && !tmp) return -1;
            int bf16 = conv_plan_backward(L->plan, mode, din, dbias, nd->out, nd->in, m->zeros, m->scratch, tmp);
            arena_release(&m->act, mk);
            prof_add(m, t0, &L->s, PROF_BWD, nd->in.n, nd->in.h, nd->in.w, nd->in.g != NULL, bf16);
            break;
        }
        case N_ADD:
            if (nd->in.g) grad_add(nd->in, nd->out);
            if (nd->res.g) grad_add(nd->res, nd->out);
            break;
        case N_COPY:
            grad_add(nd->in, nd->out);
            break;
        case N_SHUFFLE:
            shuffle_backward(nd->in.g, nd->in, nd->out);
            break;
        case N_EDGE:
            edge_backward(nd->in, nd->in, nd->out);
            break;
        case N_L1:
            l1_backward(nd->in, nd->res, nd->w);
            break;
        }
    }
    return 0;
}
