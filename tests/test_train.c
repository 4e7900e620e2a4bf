/* Micro-batches (sung_train_zero_grads / sung_train_accumulate), the training memory
 * estimate (sung_train_memory) and the trainer of src/train.c, through the public API.
 *
 * A batch of 5 split 2 + 3 (scales 2/5, 3/5) and 1 + 1 + 3 gives the gradient of the
 * one-shot batch to float rounding, for every variant; its losses, weighted the same
 * way, give the batch's; accumulating without zeroing adds; bad scales are refused. The
 * memory estimate grows with the batch and the crop, roughly linearly, and a pass of
 * that size runs.
 *
 * The trainer: sum-based shards (2 + 3 and 0 + 5 "processes", reduced through the hook)
 * take the same step as one process; the samples of a global batch are the same however
 * it is sharded; the schedule, the shard split, crops and flips, the run state (saved and
 * loaded, the first trainer's format too, corrupt ones refused), the checksum and
 * validation. */
#include <string.h>
#include <unistd.h>

#include "sung.h"
#include "testutil.h"

enum { N = 5, H = 32, W = 32, IMG = H * W * 3 };

/* The gradients of all parameters, concatenated (caller frees). */
static float *grads(const sung_model *m, size_t *count)
{
    size_t total = 0;
    int nt = sung_model_tensor_count(m);
    for (int i = 0; i < nt; i++) {
        int nd, shape[4];
        float *d, *g;
        sung_model_tensor(m, i, &nd, shape, &d, &g);
        size_t sz = 1;
        for (int k = 0; k < nd; k++) sz *= (size_t)shape[k];
        total += sz;
    }
    float *out = malloc(total * sizeof *out);
    size_t at = 0;
    for (int i = 0; out && i < nt; i++) {
        int nd, shape[4];
        float *d, *g;
        sung_model_tensor(m, i, &nd, shape, &d, &g);
        size_t sz = 1;
        for (int k = 0; k < nd; k++) sz *= (size_t)shape[k];
        memcpy(out + at, g, sz * sizeof *out);
        at += sz;
    }
    *count = total;
    return out;
}

/* ||a − b|| / ||a|| */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)a[i] * a[i];
    return sqrt(d / (r > 0 ? r : 1));
}

static void test_variant(sung_variant v, const float *blur, const float *sharp)
{
    sung_error e;
    sung_model *m;
    CHECK(sung_model_create(&m, v, 4, 3, &e) == SUNG_OK, "create: %s", e.msg);
    sung_train_opts o = sung_train_defaults(m);
    o.iters = 2;
    const char *name = sung_variant_name(v);

    sung_losses whole, part;
    CHECK(sung_train_grads(m, blur, sharp, N, H, W, &o, &whole, &e) == SUNG_OK, "%s: one shot: %s", name, e.msg);
    size_t n;
    float *g1 = grads(m, &n);

    /* 2 + 3 */
    sung_train_zero_grads(m);
    double total = 0;
    const int split[2] = {2, 3};
    for (int k = 0, at = 0; k < 2; at += split[k], k++) {
        CHECK(sung_train_accumulate(m, blur + (size_t)at * IMG, sharp + (size_t)at * IMG, split[k], H, W, &o,
                                    (double)split[k] / N, &part, &e) == SUNG_OK,
              "%s: part %d: %s", name, k, e.msg);
        total += part.total * split[k] / N;
    }
    float *g2 = grads(m, &n);
    double d = rel_diff(g1, g2, n);
    /* float sums in another order: a few ulps of the largest terms */
    CHECK(d < 1e-5, "%s: 2 + 3 micro-batches: gradient differs by %.3g (relative)", name, d);
    CHECK(fabs(total - whole.total) < 1e-6 * fabs(whole.total) + 1e-9, "%s: weighted losses %.9g, batch %.9g", name,
          total, whole.total);
    free(g2);

    /* 1 + 1 + 3 */
    sung_train_zero_grads(m);
    const int split3[3] = {1, 1, 3};
    for (int k = 0, at = 0; k < 3; at += split3[k], k++)
        sung_train_accumulate(m, blur + (size_t)at * IMG, sharp + (size_t)at * IMG, split3[k], H, W, &o,
                              (double)split3[k] / N, NULL, &e);
    g2 = grads(m, &n);
    d = rel_diff(g1, g2, n);
    CHECK(d < 1e-5, "%s: 1 + 1 + 3 micro-batches: gradient differs by %.3g (relative)", name, d);
    free(g2);

    /* accumulating twice without zeroing doubles the gradient (a mutation that zeroes
     * inside sung_train_accumulate fails here) */
    sung_train_accumulate(m, blur, sharp, N, H, W, &o, 1.0, NULL, &e);
    g2 = grads(m, &n);
    for (size_t i = 0; i < n; i++) g2[i] *= 0.5f;
    d = rel_diff(g1, g2, n);
    CHECK(d < 1e-5, "%s: accumulate did not add to the gradients (differs by %.3g)", name, d);
    free(g2);

    /* the contiguous gradient buffer holds every tensor's gradient: halving it halves them */
    size_t nb;
    float *buf = sung_model_grads(m, &nb);
    CHECK(buf && nb == n, "%s: gradient buffer of %zu floats, the tensors hold %zu", name, nb, n);
    for (size_t i = 0; buf && i < nb; i++) buf[i] *= 0.5f;
    g2 = grads(m, &n);
    d = rel_diff(g1, g2, n);
    CHECK(d < 1e-5, "%s: the tensors' gradients are not the buffer's (differ by %.3g)", name, d);
    free(g2);

    CHECK(sung_train_accumulate(m, blur, sharp, N, H, W, &o, 0.0, NULL, &e) == SUNG_ERR_ARG, "%s: scale 0", name);
    CHECK(sung_train_accumulate(m, blur, sharp, N, H, W, &o, NAN, NULL, &e) == SUNG_ERR_ARG, "%s: scale NaN", name);
    free(g1);
    sung_model_free(m);
}

static void test_memory(void)
{
    sung_error e;
    sung_model *m;
    CHECK(sung_model_create(&m, SUNG_SUNG, 8, 1, &e) == SUNG_OK, "create: %s", e.msg);
    sung_train_opts o = sung_train_defaults(m);
    size_t m1 = sung_train_memory(m, 1, 64, 64, &o), m2 = sung_train_memory(m, 2, 64, 64, &o);
    size_t m4 = sung_train_memory(m, 4, 64, 64, &o), big = sung_train_memory(m, 1, 128, 128, &o);
    CHECK(m1 > 0 && m1 < m2 && m2 < m4, "memory not growing with the batch: %zu %zu %zu", m1, m2, m4);
    /* activations dominate: twice the images, about twice the memory */
    CHECK(fabs((double)m4 / m2 - 2.0) < 0.1, "memory of 4 images / 2 images = %.3f, not about 2", (double)m4 / m2);
    CHECK(fabs((double)big / m1 - 4.0) < 0.4, "memory of 128² / 64² = %.3f, not about 4", (double)big / m1);
    CHECK(sung_train_memory(m, 1, 60, 64, &o) == 0, "a crop that is not a multiple of 2^(iters+2) was sized");
    /* sizing is only counting: a real pass of that size still runs, and the estimate
     * covers a 64² activation at least */
    float *b = calloc((size_t)2 * 64 * 64 * 3, sizeof *b), *g = calloc((size_t)2 * 64 * 64 * 3, sizeof *g);
    CHECK(b && g && sung_train_grads(m, b, g, 2, 64, 64, &o, NULL, &e) == SUNG_OK, "a pass after sizing: %s", e.msg);
    CHECK(m2 > (size_t)2 * 64 * 64 * 8 * 4, "the estimate %zu is below one activation", m2);
    free(b), free(g);
    sung_model_free(m);
}

/* ---- the trainer ---------------------------------------------------------------- */

/* A stand-in for MPI_Allreduce between two processes: adds the other one's gradients
 * and loss sums, which it computed before. */
typedef struct {
    float *g;
    sung_losses sums;
    int calls;
} other_proc;

static int add_other(void *ctx, float *grads, size_t n, double *sums, int nsums, sung_error *err)
{
    other_proc *o = ctx;
    (void)err;
    for (size_t i = 0; i < n; i++) grads[i] += o->g[i];
    for (int i = 0; i < nsums; i++) sums[i] += ((double *)&o->sums)[i];
    o->calls++;
    return 0;
}

static int failing_reduce(void *ctx, float *grads, size_t n, double *sums, int nsums, sung_error *err)
{
    (void)ctx, (void)grads, (void)n, (void)sums, (void)nsums;
    snprintf(err->msg, sizeof err->msg, "the network is down");
    return 1;
}

static float *weights(const sung_model *m, size_t *count)
{
    size_t total = 0;
    int nt = sung_model_tensor_count(m);
    float *out = malloc(sung_model_param_count(m) * sizeof *out);
    for (int i = 0; out && i < nt; i++) {
        int nd, shape[4];
        float *d;
        sung_model_tensor(m, i, &nd, shape, &d, NULL);
        size_t sz = 1;
        for (int k = 0; k < nd; k++) sz *= (size_t)shape[k];
        memcpy(out + total, d, sz * sizeof *out);
        total += sz;
    }
    *count = total;
    return out;
}

static void test_step(const float *blur, const float *sharp)
{
    sung_error e;
    sung_model *one, *a, *b;
    CHECK(sung_model_create(&one, SUNG_SUNG, 4, 5, &e) == SUNG_OK && sung_model_create(&a, SUNG_SUNG, 4, 5, &e) == SUNG_OK &&
              sung_model_create(&b, SUNG_SUNG, 4, 5, &e) == SUNG_OK,
          "create: %s", e.msg);
    sung_train_opts o = sung_train_defaults(one);
    o.iters = 2;
    sung_losses whole, sa, sb;
    /* one process, the batch of 5 in micro-batches of 2 */
    CHECK(sung_train_step(one, blur, sharp, N, N, 2, H, W, &o, 1e-3, NULL, NULL, &whole, &e) == SUNG_OK, "step: %s", e.msg);
    /* sums: sung_train_backward on 2 and 3 images adds up to 5 × the batch's mean */
    sung_train_zero_grads(b);
    CHECK(sung_train_backward(b, blur + 2 * IMG, sharp + 2 * IMG, 3, H, W, &o, N, &sb, &e) == SUNG_OK, "b: %s", e.msg);
    sung_train_zero_grads(a);
    CHECK(sung_train_backward(a, blur, sharp, 2, H, W, &o, N, &sa, &e) == SUNG_OK, "a: %s", e.msg);
    CHECK(fabs((sa.total + sb.total) / N - whole.total) < 1e-6 * whole.total,
          "loss sums %.9g + %.9g over 5 = %.9g, the batch's mean %.9g", sa.total, sb.total, (sa.total + sb.total) / N,
          whole.total);
    CHECK(sung_train_backward(a, blur, sharp, 2, H, W, &o, 1.5, NULL, &e) == SUNG_ERR_ARG,
          "a normaliser below the call's images was accepted");

    /* two "processes", 2 + 3 images: b's part reduced into a's step */
    size_t n;
    other_proc op = {0};
    op.g = grads(b, &n);
    op.sums = sb;
    sung_losses mean;
    CHECK(sung_train_step(a, blur, sharp, 2, N, 8, H, W, &o, 1e-3, add_other, &op, &mean, &e) == SUNG_OK,
          "sharded step: %s", e.msg);
    CHECK(op.calls == 1, "the reduction ran %d times in one step", op.calls);
    float *w1 = weights(one, &n), *w2 = weights(a, &n);
    double d = rel_diff(w1, w2, n);
    CHECK(d < 1e-5, "2 + 3 shards: weights after the step differ from one process's by %.3g", d);
    sung_model *init;
    sung_model_create(&init, SUNG_SUNG, 4, 5, &e);
    float *w0 = weights(init, &n);
    CHECK(rel_diff(w1, w0, n) > 1e-4, "the step left the weights as they were (%.3g)", rel_diff(w1, w0, n));
    free(w0);
    sung_model_free(init);
    CHECK(fabs(mean.total - whole.total) < 1e-6 * whole.total && fabs(mean.pixel[1] - whole.pixel[1]) < 1e-6,
          "sharded mean loss %.9g, one process %.9g", mean.total, whole.total);
    free(w2);

    /* 0 + 5: a process without an image still reduces and updates */
    sung_model *z;
    CHECK(sung_model_create(&z, SUNG_SUNG, 4, 5, &e) == SUNG_OK, "create");
    sung_train_zero_grads(b);
    CHECK(sung_train_backward(b, blur, sharp, N, H, W, &o, N, &op.sums, &e) == SUNG_OK, "b: %s", e.msg);
    free(op.g);
    op.g = grads(b, &n);
    CHECK(sung_train_step(z, NULL, NULL, 0, N, 8, H, W, &o, 1e-3, add_other, &op, &mean, &e) == SUNG_OK,
          "empty shard: %s", e.msg);
    w2 = weights(z, &n);
    d = rel_diff(w1, w2, n);
    CHECK(d < 1e-5 && sung_train_step_count(z) == 1, "0 + 5 shards: weights differ by %.3g", d);
    free(w2);
    /* a failed reduction fails the step before the update */
    long before = sung_train_step_count(z);
    CHECK(sung_train_step(z, blur, sharp, 1, N, 8, H, W, &o, 1e-3, failing_reduce, NULL, NULL, &e) != SUNG_OK &&
              strstr(e.msg, "network") && sung_train_step_count(z) == before,
          "a failed reduction: '%s', steps %ld -> %ld", e.msg, before, sung_train_step_count(z));
    CHECK(sung_train_step(z, blur, sharp, 6, N, 8, H, W, &o, 1e-3, NULL, NULL, NULL, &e) == SUNG_ERR_ARG,
          "a shard larger than the batch was accepted");

    /* the checksum: equal weights agree, one flipped bit does not */
    sung_model *same, *other;
    sung_model_create(&same, SUNG_SUNG, 4, 5, &e), sung_model_create(&other, SUNG_SUNG, 4, 6, &e);
    CHECK(sung_model_checksum(same) == sung_model_checksum(b) && sung_model_checksum(other) != sung_model_checksum(same),
          "the checksum of equal weights differs, or of other weights does not");
    sung_model_free(same), sung_model_free(other);
    uint64_t h = sung_model_checksum(z);
    int nd, shape[4];
    float *data;
    sung_model_tensor(z, 7, &nd, shape, &data, NULL);
    uint32_t bits;
    memcpy(&bits, data + 3, 4);
    bits ^= 1;
    memcpy(data + 3, &bits, 4);
    CHECK(sung_model_checksum(z) != h, "the checksum misses a flipped bit");
    free(w1), free(op.g);
    sung_model_free(one), sung_model_free(a), sung_model_free(b), sung_model_free(z);
}

static int same_sample(const sung_sample *x, const sung_sample *y)
{
    return x->pair == y->pair && x->crop_seed == y->crop_seed && x->synth_seed == y->synth_seed &&
           x->flip_x == y->flip_x && x->flip_y == y->flip_y;
}

static void test_run(void)
{
    sung_error e;
    sung_model *m;
    CHECK(sung_model_create(&m, SUNG_SUNG, 4, 1, &e) == SUNG_OK, "create");
    sung_run_opts o = sung_run_defaults(m);
    CHECK(o.patch == 256 && o.batch == 16 && o.iters == 3 && o.epochs == 500 && o.lr == 1e-4 && o.lr_every == 100 &&
              o.augment && o.w_aux == 1 && o.w_sup == 1,
          "defaults are not SPEC §6's");
    o.batch = 3, o.patch = 32, o.iters = 1, o.epochs = 4, o.warmup = 4, o.lr_every = 2, o.seed = 11;
    sung_run r;
    CHECK(sung_run_init(&r, &o, 7, m, &e) == SUNG_OK, "run: %s", e.msg);
    CHECK(sung_run_total(&r) == 4 * 3, "7 pairs in batches of 3 for 4 epochs: %ld steps", sung_run_total(&r));
    /* bad options, each named */
    sung_run bad;
    sung_run_opts ob = o;
    ob.patch = 36;
    CHECK(sung_run_init(&bad, &ob, 7, m, &e) == SUNG_ERR_ARG && strstr(e.msg, "patch"), "patch 40: %s", e.msg);
    ob = o, ob.batch = 0;
    CHECK(sung_run_init(&bad, &ob, 7, m, &e) == SUNG_ERR_ARG && strstr(e.msg, "batch"), "batch 0: %s", e.msg);
    ob = o, ob.lr = -1;
    CHECK(sung_run_init(&bad, &ob, 7, m, &e) == SUNG_ERR_ARG && strstr(e.msg, "learning rate"), "lr -1: %s", e.msg);
    CHECK(sung_run_init(&bad, &o, 0, m, &e) == SUNG_ERR_ARG, "no pairs");

    /* batches: 3 + 3 + 1 per epoch, then the next epoch in a new order */
    sung_batch b1 = sung_run_next(&r, NULL), b2 = sung_run_next(&r, &b1), b3 = sung_run_next(&r, &b2),
               b4 = sung_run_next(&r, &b3);
    CHECK(b1.epoch == 0 && b1.pos == 0 && b1.n == 3 && b2.pos == 3 && b3.pos == 6 && b3.n == 1 && b4.epoch == 1 &&
              b4.pos == 0 && b4.n == 3,
          "batches (%d,%d,%d) (%d,%d,%d) (%d,%d,%d) (%d,%d,%d)", b1.epoch, b1.pos, b1.n, b2.epoch, b2.pos, b2.n,
          b3.epoch, b3.pos, b3.n, b4.epoch, b4.pos, b4.n);
    /* the schedule: warm-up 1/4 .. 4/4 of lr, halved from epoch 2 */
    double l1 = sung_run_lr(&r, &b1);
    r.step = 3;
    double l4 = sung_run_lr(&r, &b4);
    sung_batch late = {2, 0, 3};
    r.step = 10;
    double l9 = sung_run_lr(&r, &late);
    r.step = 0;
    CHECK(fabs(l1 - 0.25e-4) < 1e-12 && fabs(l4 - 1e-4) < 1e-12 && fabs(l9 - 0.5e-4) < 1e-12,
          "learning rates %g %g %g (want 2.5e-5, 1e-4, 5e-5)", l1, l4, l9);

    /* the samples of a batch are the same however it is sharded (1, 2 or 3 processes) */
    sung_sample all[3], part[3];
    CHECK(sung_run_samples(&r, &b4, 0, 3, all, &e) == SUNG_OK, "samples");
    for (int np = 1; np <= 3; np++) {
        int ok = 1, covered = 0;
        for (int rank = 0; rank < np; rank++) {
            int first, cnt;
            sung_shard(3, rank, np, &first, &cnt);
            CHECK(first == covered, "shard %d of %d starts at %d, not %d", rank, np, first, covered);
            sung_run_samples(&r, &b4, first, cnt, part, &e);
            for (int k = 0; k < cnt; k++) ok &= same_sample(&part[k], &all[first + k]);
            covered += cnt;
        }
        CHECK(ok && covered == 3, "samples differ when the batch is split over %d processes", np);
    }
    CHECK(sung_run_samples(&r, &b4, 2, 2, part, &e) == SUNG_ERR_ARG, "samples beyond the batch were given");
    int first, cnt;
    sung_shard(3, 1, 2, &first, &cnt);
    CHECK(first == 2 && cnt == 1, "batch 3, rank 1 of 2: images %d..+%d (want 2..+1)", first, cnt);
    sung_shard(1, 1, 2, &first, &cnt);
    CHECK(cnt == 0, "batch 1, rank 1 of 2 got %d images", cnt);
    /* epoch orders are permutations, differ between epochs; the streams differ */
    int o0[7], o1[7], seen[7] = {0};
    sung_epoch_order(11, 0, o0, 7);
    sung_epoch_order(11, 1, o1, 7);
    for (int i = 0; i < 7; i++) seen[o0[i]]++;
    int perm = 1, differ = 0;
    for (int i = 0; i < 7; i++) perm &= seen[i] == 1, differ |= o0[i] != o1[i];
    CHECK(perm && differ, "epoch orders: a permutation %d, epoch 0 and 1 differ %d", perm, differ);
    CHECK(sung_stream_seed(11, SUNG_STREAM_CROP, 5) != sung_stream_seed(11, SUNG_STREAM_FLIP, 5) &&
              sung_stream_seed(11, SUNG_STREAM_CROP, 5) != sung_stream_seed(11, SUNG_STREAM_CROP, 6) &&
              sung_stream_seed(11, SUNG_STREAM_CROP, 5) != sung_stream_seed(12, SUNG_STREAM_CROP, 5),
          "streams collide");
    CHECK(sung_stream_seed(7, SUNG_STREAM_SYNTH, 10 * 900 + 72) == (7 ^ (uint64_t)(10 * 900 + 72) * 0xD1B54A32D192ED03ull),
          "the synthesis stream is not the first trainer's formula");
    int flips = 0;
    for (int ep = 0; ep < 8; ep++) {
        sung_batch bb = {ep, 0, 3};
        sung_run_samples(&r, &bb, 0, 3, part, &e);
        for (int k = 0; k < 3; k++) flips += part[k].flip_x + 2 * part[k].flip_y;
    }
    CHECK(flips > 0 && flips < 24 * 3, "flips never or always drawn (%d)", flips);

    /* advancing: the run takes batches in order; a new epoch brings its order */
    sung_run_advance(&r, &b1), sung_run_advance(&r, &b2), sung_run_advance(&r, &b3);
    CHECK(r.step == 3 && r.epoch == 0 && r.pos == 7, "after an epoch: step %ld epoch %d pos %d", r.step, r.epoch, r.pos);
    sung_batch n4 = sung_run_next(&r, NULL);
    CHECK(n4.epoch == b4.epoch && n4.pos == b4.pos && n4.n == b4.n, "the next batch after the epoch");
    sung_run_advance(&r, &n4);
    CHECK(r.epoch == 1 && r.pos == 3 && !memcmp(r.order, o1, sizeof o1) ? 1 : 0, "epoch 1's order after advancing");
    sung_run_samples(&r, &b4, 0, 3, part, &e);
    CHECK(same_sample(&part[0], &all[0]) && same_sample(&part[2], &all[2]),
          "a batch's samples changed once the run reached its epoch");

    /* the state file: saved and loaded, the same run */
    char path[64];
    snprintf(path, sizeof path, "/tmp/sung-test-train-%d.safetensors", (int)getpid());
    r.best_psnr = 21.5, r.elapsed = 12.25;
    sung_train_zero_grads(m); /* the model's Adam steps match the run's (zero gradients: no change) */
    for (int i = 0; i < 4; i++) sung_train_apply(m, 1e-4);
    sung_meta extra[1] = {{"run.note", "kept"}};
    CHECK(sung_run_save(m, &r, path, extra, 1, &e) == SUNG_OK, "save: %s", e.msg);
    sung_model *m2;
    sung_run r2;
    sung_meta *meta;
    int nm;
    CHECK(sung_run_load(&m2, &r2, path, &meta, &nm, &e) == SUNG_OK, "load: %s", e.msg);
    if (m2) {
        CHECK(r2.step == r.step && r2.epoch == r.epoch && r2.pos == r.pos && r2.npairs == 7 &&
                  !memcmp(r2.order, r.order, sizeof o1) && r2.best_psnr == 21.5 && r2.elapsed == 12.25 &&
                  !memcmp(&r2.o, &r.o, sizeof r.o),
              "the loaded run differs from the saved one");
        const char *note = sung_meta_get(meta, nm, "run.note");
        CHECK(note && !strcmp(note, "kept"), "extra metadata lost");
        CHECK(sung_model_checksum(m2) == sung_model_checksum(m), "loaded weights differ");
        sung_meta_free(meta, nm);
        sung_run_free(&r2);
        sung_model_free(m2);
    }
    /* the first trainer's format (pos.rng, no run.streams, no run.warmup/steps): accepted,
     * with its epoch's order as written; a corrupt order or a missing key refused */
    const char *order_old = "6,5,4,3,2,1,0", *order_bad = "6,5,4,3,2,1,1";
    for (int variant = 0; variant < 3; variant++) {
        sung_meta mo[] = {{"run.patch", "32"}, {"run.batch", "3"}, {"run.iters", "1"}, {"run.epochs", "4"},
                          {"run.augment", "1"}, {"run.lr_every", "2"}, {"run.lr", "0.0001"}, {"run.w_aux", "1"},
                          {"run.w_sup", "1"}, {"run.seed", "11"}, {"pos.step", "0"}, {"pos.epoch", "0"},
                          {"pos.pos", "3"}, {"pos.rng", "123"}, {"pos.best_psnr", "-inf"}, {"pos.elapsed", "1"},
                          {"pos.npairs", "7"}, {"pos.order", variant == 1 ? order_bad : order_old}};
        int nmo = sizeof mo / sizeof *mo - (variant == 2);
        sung_model *fresh;
        sung_model_create(&fresh, SUNG_SUNG, 4, 1, &e);
        CHECK(sung_train_state_save(fresh, path, mo, nmo, &e) == SUNG_OK, "old state: %s", e.msg);
        sung_model_free(fresh);
        sung_status st = sung_run_load(&m2, &r2, path, NULL, NULL, &e);
        if (variant == 0) {
            CHECK(st == SUNG_OK && r2.pos == 3 && r2.order[0] == 6 && r2.order[6] == 0 && r2.o.warmup == 0 &&
                      r2.o.steps == -1,
                  "the first trainer's state: %s", st ? e.msg : "wrong values");
            if (!st) sung_run_free(&r2), sung_model_free(m2);
        } else {
            CHECK(st == SUNG_ERR_FORMAT && !m2 && strstr(e.msg, variant == 1 ? "order" : "pos.order"),
                  "a state with %s: status %d, '%s'", variant == 1 ? "a repeated pair" : "no order", st, e.msg);
        }
    }
    unlink(path);
    sung_run_free(&r);
    sung_model_free(m);
}

static void test_crop(void)
{
    sung_error e;
    sung_image b, g;
    sung_image_alloc(&b, 40, 24, &e);
    sung_image_alloc(&g, 40, 24, &e);
    for (size_t i = 0; i < (size_t)40 * 24 * 3; i++) b.data[i] = (float)i, g.data[i] = -(float)i;
    float db[16 * 16 * 3], dg[16 * 16 * 3], fb[16 * 16 * 3], fg[16 * 16 * 3];
    int xs = 0, ys = 0;
    for (uint64_t seed = 0; seed < 40; seed++) {
        sung_sample s = {0, seed, 0, 0, 0};
        CHECK(sung_crop_pair(&b, &g, 16, &s, db, dg, &e) == SUNG_OK, "crop: %s", e.msg);
        /* an aligned window of the pair: the top-left value says where */
        int at = (int)db[0] / 3, x0 = at % 40, y0 = at / 40;
        CHECK(x0 <= 40 - 16 && y0 <= 24 - 16 && db[(15 * 16 + 15) * 3 + 2] == b.data[((y0 + 15) * 40 + x0 + 15) * 3 + 2] &&
                  dg[5] == -db[5],
              "crop %d,%d is not an aligned window", x0, y0);
        xs |= 1 << (x0 > 12), ys |= 1 << (y0 > 4);
        s.flip_x = s.flip_y = 1;
        sung_crop_pair(&b, &g, 16, &s, fb, fg, &e);
        CHECK(fb[0] == db[(15 * 16 + 15) * 3] && fg[3 * 16 * 16 - 1] == dg[2], "flips: not both mirrored");
    }
    CHECK(xs == 3 && ys == 3, "crops do not spread over the image");
    sung_sample s = {0};
    CHECK(sung_crop_pair(&b, &g, 32, &s, db, dg, &e) == SUNG_ERR_ARG, "a patch larger than the image");
    sung_image_free(&g);
    sung_image_alloc(&g, 40, 20, &e);
    CHECK(sung_crop_pair(&b, &g, 16, &s, db, dg, &e) == SUNG_ERR_ARG, "a pair of two sizes");
    sung_image_free(&b), sung_image_free(&g);
}

/* validation: the mean PSNR of deblurring each pair, as sung_psnr scores it */
static void test_validate(void)
{
    sung_error e;
    sung_model *m;
    sung_model_create(&m, SUNG_BASE, 4, 2, &e);
    sung_image b, g, out;
    char pb[2][64], pg[2][64];
    double want = 0, want_each[2];
    for (int i = 0; i < 2; i++) {
        sung_image_alloc(&b, 32, 32, &e), sung_image_alloc(&g, 32, 32, &e);
        for (size_t k = 0; k < 32 * 32 * 3; k++) g.data[k] = test_randf(0, 1), b.data[k] = 0.5f * g.data[k] + 0.25f;
        snprintf(pb[i], 64, "/tmp/sung-test-val-%d-b%d.png", (int)getpid(), i);
        snprintf(pg[i], 64, "/tmp/sung-test-val-%d-g%d.png", (int)getpid(), i);
        sung_image_save(&b, pb[i], &e), sung_image_save(&g, pg[i], &e);
        sung_image_free(&b), sung_image_free(&g);
        sung_image_load(&b, pb[i], &e), sung_image_load(&g, pg[i], &e);
        sung_deblur(m, &b, 2, &out, &e);
        uint8_t u[32 * 32 * 3], v[32 * 32 * 3];
        sung_image_to_u8(&out, u), sung_image_to_u8(&g, v);
        want_each[i] = sung_psnr(u, v, 32, 32);
        want += want_each[i] / 2;
        sung_image_free(&b), sung_image_free(&g), sung_image_free(&out);
    }
    const char *blur[2] = {pb[0], pb[1]}, *sharp[2] = {pg[0], pg[1]};
    double psnr = 0;
    CHECK(sung_validate(m, blur, sharp, 2, 2, &psnr, &e) == SUNG_OK && fabs(psnr - want) < 1e-9,
          "validation %.6f dB, by hand %.6f", psnr, want);
    /* per pair: the same PSNRs in order (the pairs differ, so a swap would show) */
    double each[2] = {0, 0};
    CHECK(sung_validate_each(m, blur, sharp, 2, 2, each, &e) == SUNG_OK && fabs(each[0] - want_each[0]) < 1e-9 &&
              fabs(each[1] - want_each[1]) < 1e-9 && each[0] != each[1],
          "validation per pair %.6f, %.6f dB, by hand %.6f, %.6f", each[0], each[1], want_each[0], want_each[1]);
    const char *missing[1] = {"/nonexistent/x.png"};
    CHECK(sung_validate(m, missing, sharp, 1, 2, &psnr, &e) == SUNG_ERR_IO && strstr(e.msg, "/nonexistent/x.png"),
          "a missing validation image: '%s'", e.msg);
    for (int i = 0; i < 2; i++) unlink(pb[i]), unlink(pg[i]);
    sung_model_free(m);
}

/* The weights' moving average: its formula over three steps (against the weights after
 * each step, by hand), that it leaves the steps themselves alone, the exchange, the
 * state file (a resumed run's average and weights are the uninterrupted run's, bit for
 * bit), and bad decays. */
/* The average's warm-up: update k uses min(decay, (1 + k)/(10 + k)); the state keeps the
 * count and the setting, so one more step after loading is one more step here. */
static void test_ema_warmup(const float *blur, const float *sharp)
{
    sung_error e;
    sung_model *m;
    sung_train_opts o = {1, 1, 1};
    CHECK(sung_model_create(&m, SUNG_SUNG, 4, 9, &e) == SUNG_OK, "create: %s", e.msg);
    CHECK(sung_train_ema_warmup(m, 1, &e) == SUNG_ERR_ARG && !sung_train_ema_warmup_on(m), "warm-up without an average");
    const double decay = 0.999;
    CHECK(sung_train_ema(m, decay, &e) == SUNG_OK && sung_train_ema_warmup(m, 1, &e) == SUNG_OK &&
              sung_train_ema_warmup_on(m),
          "warm-up: %s", e.msg);
    size_t n, n2;
    float *avg = weights(m, &n);
    for (int k = 1; k <= 3; k++) {
        CHECK(sung_train_step(m, blur, sharp, 2, 2, 2, H, W, &o, 1e-3, NULL, NULL, NULL, &e) == SUNG_OK, "step: %s", e.msg);
        float *w = weights(m, &n2);
        double d = (1.0 + k) / (10.0 + k) < decay ? (1.0 + k) / (10.0 + k) : decay;
        for (size_t i = 0; i < n; i++) avg[i] += (float)(1 - d) * (w[i] - avg[i]);
        free(w);
    }
    sung_model_swap_ema(m, NULL);
    float *got = weights(m, &n2);
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)got[i] - avg[i]));
    CHECK(worst <= 1e-7, "warmed-up average after 3 steps: off by %g from the formula", worst);
    sung_model_swap_ema(m, NULL);
    char path[64];
    snprintf(path, sizeof path, "/tmp/sung-test-emaw-%d.safetensors", (int)getpid());
    sung_model *r = NULL;
    CHECK(sung_train_state_save(m, path, NULL, 0, &e) == SUNG_OK && sung_train_state_load(&r, path, NULL, NULL, &e) == SUNG_OK,
          "state: %s", e.msg);
    if (r) {
        CHECK(sung_train_ema_warmup_on(r), "the state lost the warm-up");
        sung_train_step(m, blur, sharp, 2, 2, 2, H, W, &o, 1e-3, NULL, NULL, NULL, &e);
        sung_train_step(r, blur, sharp, 2, 2, 2, H, W, &o, 1e-3, NULL, NULL, NULL, &e);
        sung_model_swap_ema(m, NULL), sung_model_swap_ema(r, NULL);
        float *a = weights(m, &n2), *b = weights(r, &n2);
        CHECK(memcmp(a, b, n * sizeof *a) == 0, "resumed warmed-up average differs (the update count lost?)");
        free(a), free(b);
        sung_model_swap_ema(m, NULL);
        sung_model_free(r);
    }
    /* a state whose warm-up metadata is not "1" is refused, naming it */
    {
        sung_model *c = NULL, *bad = NULL;
        sung_meta junk = {"ema_warmup", "yes"};
        CHECK(sung_model_create(&c, SUNG_SUNG, 4, 9, &e) == SUNG_OK && sung_train_ema(c, decay, &e) == SUNG_OK &&
                  sung_train_state_save(c, path, &junk, 1, &e) == SUNG_OK,
              "state with junk: %s", e.msg);
        CHECK(sung_train_state_load(&bad, path, NULL, NULL, &e) != SUNG_OK && !bad && strstr(e.msg, "ema_warmup"),
              "a state with ema_warmup 'yes' was loaded (or the error does not name it: %s)", e.msg);
        sung_model_free(c);
    }
    /* dropping the average drops its warm-up */
    CHECK(sung_train_ema(m, 0, &e) == SUNG_OK && !sung_train_ema_warmup_on(m), "warm-up outlived its average");
    unlink(path);
    free(avg), free(got);
    sung_model_free(m);
}

static void test_ema(const float *blur, const float *sharp)
{
    sung_error e;
    sung_model *m, *plain;
    sung_train_opts o = {1, 1, 1};
    CHECK(sung_model_create(&m, SUNG_SUNG, 4, 9, &e) == SUNG_OK && sung_model_create(&plain, SUNG_SUNG, 4, 9, &e) == SUNG_OK,
          "create: %s", e.msg);
    CHECK(sung_train_ema_decay(m) == 0, "a new model keeps no average");
    CHECK(sung_model_swap_ema(m, &e) == SUNG_ERR_ARG, "swap without an average");
    CHECK(sung_train_ema(m, 1.0, &e) == SUNG_ERR_ARG && sung_train_ema(m, -0.1, &e) == SUNG_ERR_ARG &&
              sung_train_ema(m, NAN, &e) == SUNG_ERR_ARG,
          "decays outside [0, 1)");
    const double decay = 0.75;
    CHECK(sung_train_ema(m, decay, &e) == SUNG_OK && sung_train_ema_decay(m) == decay, "start: %s", e.msg);
    size_t n;
    float *avg = weights(m, &n); /* the average starts at the weights */
    for (int t = 0; t < 3; t++) {
        CHECK(sung_train_step(m, blur, sharp, 2, 2, 2, H, W, &o, 1e-3, NULL, NULL, NULL, &e) == SUNG_OK &&
                  sung_train_step(plain, blur, sharp, 2, 2, 2, H, W, &o, 1e-3, NULL, NULL, NULL, &e) == SUNG_OK,
              "step %d: %s", t, e.msg);
        size_t n2;
        float *w = weights(m, &n2);
        for (size_t i = 0; i < n; i++) avg[i] += (float)(1 - decay) * (w[i] - avg[i]);
        free(w);
    }
    size_t n3;
    float *w = weights(m, &n3), *wp = weights(plain, &n3);
    CHECK(memcmp(w, wp, n * sizeof *w) == 0, "the average changed the training steps");
    CHECK(sung_model_swap_ema(m, &e) == SUNG_OK, "swap: %s", e.msg);
    float *got = weights(m, &n3);
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)got[i] - avg[i]));
    CHECK(worst <= 1e-7, "average after 3 steps: off by %g from the formula", worst);
    CHECK(rel_diff(got, w, n) > 1e-4, "the exchanged weights are the weights (%g)", rel_diff(got, w, n));
    char path[64];
    snprintf(path, sizeof path, "/tmp/sung-test-ema-%d.safetensors", (int)getpid());
    CHECK(sung_train_state_save(m, path, NULL, 0, &e) == SUNG_ERR_ARG, "a state written while exchanged");
    CHECK(sung_model_swap_ema(m, &e) == SUNG_OK, "swap back");
    free(got);
    got = weights(m, &n3);
    CHECK(memcmp(got, w, n * sizeof *w) == 0, "two exchanges are not the identity");
    free(got);
    /* the state keeps the average; one more step after loading = one more step here */
    sung_model *r = NULL;
    CHECK(sung_train_state_save(m, path, NULL, 0, &e) == SUNG_OK && sung_train_state_load(&r, path, NULL, NULL, &e) == SUNG_OK,
          "state: %s", e.msg);
    if (r) {
        CHECK(sung_train_ema_decay(r) == decay, "the state lost the decay (%g)", sung_train_ema_decay(r));
        CHECK(sung_train_step(m, blur, sharp, 2, 2, 2, H, W, &o, 1e-3, NULL, NULL, NULL, &e) == SUNG_OK &&
                  sung_train_step(r, blur, sharp, 2, 2, 2, H, W, &o, 1e-3, NULL, NULL, NULL, &e) == SUNG_OK,
              "step after load: %s", e.msg);
        float *a = weights(m, &n3), *b = weights(r, &n3);
        CHECK(memcmp(a, b, n * sizeof *a) == 0, "resumed weights differ");
        free(a), free(b);
        sung_model_swap_ema(m, NULL), sung_model_swap_ema(r, NULL);
        a = weights(m, &n3), b = weights(r, &n3);
        CHECK(memcmp(a, b, n * sizeof *a) == 0, "resumed average differs");
        free(a), free(b);
        sung_model_swap_ema(m, NULL), sung_model_swap_ema(r, NULL);
        /* dropped: the next state has no ema tensors, and loads without one */
        sung_model *d = NULL;
        CHECK(sung_train_ema(r, 0, &e) == SUNG_OK && sung_train_ema_decay(r) == 0, "drop");
        CHECK(sung_train_state_save(r, path, NULL, 0, &e) == SUNG_OK && sung_train_state_load(&d, path, NULL, NULL, &e) == SUNG_OK &&
                  sung_train_ema_decay(d) == 0,
              "a state without an average: %s", e.msg);
        sung_model_free(d);
    }
    unlink(path);
    free(avg), free(w), free(wp);
    sung_model_free(r), sung_model_free(m), sung_model_free(plain);
}

/* bf16 training with Winograd layers (width 16, crops over 32²: the 3×3 forwards run fp32
 * Winograd on bf16-rounded operands, the rest bf16 direct): a batch of 3 in micro-batches
 * of 2 + 1 gives the gradient of the whole batch to float rounding (each image's passes
 * do not depend on the others). (Two Adam steps of 2 + 1
 * against 3 are no test at this width: Adam turns the rounding differences of gradients
 * near 0 into steps of up to lr, 1e-5 to 1e-3 apart whichever kernels run;
 * docs/BENCHMARKS.md.) */
static void test_bf16_split(void)
{
    enum { n = 3, h = 64, w = 64 };
    sung_error e;
    sung_model *m;
    CHECK(sung_model_create(&m, SUNG_SUNG, 16, 9, &e) == SUNG_OK, "create: %s", e.msg);
    if (sung_model_set_precision(m, SUNG_BF16, NULL) != SUNG_OK) {
        SKIP("bf16 training: this CPU has no avx512_bf16");
        sung_model_free(m);
        return;
    }
    float *blur = malloc(sizeof(float) * n * h * w * 3), *sharp = malloc(sizeof(float) * n * h * w * 3);
    for (int i = 0; i < n; i++) /* smooth pictures: the edge maps and their losses say something */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    size_t at = (((size_t)i * h + y) * w + x) * 3 + c;
                    sharp[at] = 0.5f + 0.4f * sinf(0.2f * (x + 3 * i) + 0.1f * c) * cosf(0.15f * y);
                    blur[at] = 0.7f * sharp[at] + 0.15f + test_randf(-0.05f, 0.05f);
                }
    sung_train_opts o = sung_train_defaults(m);
    o.iters = 2;
    sung_losses whole;
    CHECK(sung_train_grads(m, blur, sharp, n, h, w, &o, &whole, &e) == SUNG_OK, "bf16 one shot: %s", e.msg);
    size_t cnt;
    float *g1 = grads(m, &cnt);
    sung_train_zero_grads(m);
    size_t img = (size_t)h * w * 3;
    CHECK(sung_train_accumulate(m, blur, sharp, 2, h, w, &o, 2.0 / n, NULL, &e) == SUNG_OK &&
              sung_train_accumulate(m, blur + 2 * img, sharp + 2 * img, 1, h, w, &o, 1.0 / n, NULL, &e) == SUNG_OK,
          "bf16 2 + 1: %s", e.msg);
    float *g2 = grads(m, &cnt);
    double d = rel_diff(g1, g2, cnt);
    CHECK(d < 1e-5, "bf16 width 16, 2 + 1 against 3: gradients differ by %.3g", d);
    if (getenv("SUNG_TEST_VERBOSE")) printf("bf16 width 16, 2 + 1 against 3: gradients %.3g apart\n", d);
    free(g1), free(g2), free(blur), free(sharp);
    sung_model_free(m);
}

int main(void)
{
    float *blur = malloc(sizeof(float) * N * IMG), *sharp = malloc(sizeof(float) * N * IMG);
    for (size_t i = 0; i < (size_t)N * IMG; i++) sharp[i] = test_randf(0, 1);
    for (size_t i = 0; i < (size_t)N * IMG; i++) blur[i] = 0.5f * sharp[i] + test_randf(0, 0.5f);
    test_variant(SUNG_SUNG, blur, sharp);
    test_variant(SUNG_BASE, blur, sharp);
    test_variant(SUNG_SIUN, blur, sharp);
    test_memory();
    test_step(blur, sharp);
    test_run();
    test_crop();
    test_validate();
    test_ema(blur, sharp);
    test_ema_warmup(blur, sharp);
    test_bf16_split();
    free(blur), free(sharp);
    return test_summary("test_train");
}
