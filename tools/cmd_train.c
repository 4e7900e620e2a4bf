/* sung train: the training loop of SPEC §6 (minimal for now: fixed learning rate, no
 * validation or resume), with --dump-grads to check gradients against PyTorch. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char **blur, **sharp;
    int n, cap;
} pairs;

static int is_png(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 4 && !strcmp(e->d_name + n - 4, ".png");
}
static int is_seq(const struct dirent *e) { return e->d_name[0] != '.'; }

static char *path_join3(const char *a, const char *b, const char *c, const char *d)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 4;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s/%s/%s", a, b, c, d);
    return p;
}

/* DIR/<sequence>/blur/X.png with DIR/<sequence>/sharp/X.png, sorted by sequence and name */
static int list_pairs(const char *dir, pairs *P)
{
    struct dirent **seqs;
    int ns = scandir(dir, &seqs, is_seq, alphasort);
    if (ns < 0) return cli_fail("train", "%s: %s", dir, strerror(errno));
    int rc = 0;
    for (int s = 0; s < ns; s++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s/blur", dir, seqs[s]->d_name);
        struct dirent **files;
        int nf = scandir(sub, &files, is_png, alphasort);
        for (int f = 0; f < nf; f++) {
            char *b = path_join3(dir, seqs[s]->d_name, "blur", files[f]->d_name);
            char *g = path_join3(dir, seqs[s]->d_name, "sharp", files[f]->d_name);
            struct stat st;
            if (!rc && (!b || !g)) rc = cli_fail("train", "out of memory");
            if (!rc && stat(g, &st)) rc = cli_fail("train", "%s has no sharp partner %s", b, g);
            if (!rc && P->n == P->cap) {
                P->cap = P->cap ? 2 * P->cap : 64;
                char **nb = realloc(P->blur, P->cap * sizeof *nb);
                if (nb) P->blur = nb;
                char **ng = realloc(P->sharp, P->cap * sizeof *ng);
                if (ng) P->sharp = ng;
                if (!nb || !ng) rc = cli_fail("train", "out of memory");
            }
            if (!rc) {
                P->blur[P->n] = b, P->sharp[P->n] = g, P->n++;
            } else {
                free(b), free(g);
            }
            free(files[f]);
        }
        if (nf >= 0) free(files);
        free(seqs[s]);
    }
    free(seqs);
    if (!rc && P->n == 0)
        rc = cli_fail("train", "%s: no pairs found (expected DIR/<sequence>/blur/*.png with DIR/<sequence>/sharp/*.png)", dir);
    return rc;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static int rng_below(uint64_t *s, int n) { return (int)(rng_next(s) % (uint64_t)n); }

/* An aligned P×P crop of a pair into dst (P·P·3 floats each), flipped if asked. */
static int load_crop(const char *bpath, const char *gpath, int P, int augment, uint64_t *rng,
                     float *db, float *dg)
{
    sung_image b = {0}, g = {0};
    sung_error err;
    int rc = 0;
    if (sung_image_load(&b, bpath, &err) || sung_image_load(&g, gpath, &err)) {
        rc = cli_fail("train", "%s", err.msg);
    } else if (b.w != g.w || b.h != g.h) {
        rc = cli_fail("train", "%s is %dx%d but %s is %dx%d", bpath, b.w, b.h, gpath, g.w, g.h);
    } else if (b.w < P || b.h < P) {
        rc = cli_fail("train", "%s (%dx%d) is smaller than the patch size %d", bpath, b.w, b.h, P);
    } else {
        int x0 = rng_below(rng, b.w - P + 1), y0 = rng_below(rng, b.h - P + 1);
        int fx = augment && rng_below(rng, 2), fy = augment && rng_below(rng, 2);
        for (int y = 0; y < P; y++)
            for (int x = 0; x < P; x++) {
                int sy = y0 + (fy ? P - 1 - y : y), sx = x0 + (fx ? P - 1 - x : x);
                size_t s = ((size_t)sy * b.w + sx) * 3, d = ((size_t)y * P + x) * 3;
                for (int c = 0; c < 3; c++) db[d + c] = b.data[s + c], dg[d + c] = g.data[s + c];
            }
    }
    sung_image_free(&b);
    sung_image_free(&g);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    const char *data = NULL, *model = NULL, *out = NULL, *dump = NULL;
    int patch = 256, batch = 16, iters = 3, steps = 0, no_aug = 0;
    double lr = 1e-4;
    uint64_t seed = 0;
    cli_opt opts[] = {
        {"--data", 's', &data, "training data, GoPro layout: DIR/<seq>/blur|sharp/*.png"},
        {"--model", 's', &model, "initial weights (.safetensors), e.g. from sung init"},
        {"--out", 's', &out, "run directory: RUNDIR/last.safetensors is written there"},
        {"--patch", 'i', &patch, "crop size P (default 256; a multiple of 2^(iters+2))"},
        {"--batch", 'i', &batch, "batch size (default 16)"},
        {"--iters", 'i', &iters, "scale iterations (default 3)"},
        {"--steps", 'i', &steps, "optimizer steps to run"},
        {"--lr", 'f', &lr, "learning rate (default 1e-4)"},
        {"--no-augment", 'b', &no_aug, "no random flips"},
        {"--seed", 'u', &seed, "seed of crops, flips and order (default 0)"},
        {"--dump-grads", 's', &dump, "write the first step's gradients to this file"},
        {0},
    };
    int n = cli_parse("train",
                      "--data DIR --model W.safetensors --out RUNDIR --patch P --batch B --iters I --steps K",
                      opts, argc, argv, NULL, 0);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (!data || !model || !out) return cli_fail("train", "--data, --model and --out are required");
    if (steps < 1) return cli_fail("train", "--steps must be at least 1");
    if (batch < 1 || batch > 4096) return cli_fail("train", "--batch must be 1..4096, not %d", batch);
    if (iters < 1 || iters > SUNG_MAX_ITERS)
        return cli_fail("train", "--iters must be 1..%d, not %d", SUNG_MAX_ITERS, iters);
    int mult = 1 << (iters + 2);
    if (patch < mult || patch % mult || patch > 8192)
        return cli_fail("train", "--patch must be a multiple of %d (2^(iters+2)) up to 8192, not %d", mult, patch);
    if (!(lr > 0)) return cli_fail("train", "--lr must be positive");

    pairs P = {0};
    sung_model *m = NULL;
    sung_error err;
    float *bb = NULL, *gb = NULL;
    int *order = NULL, rc = list_pairs(data, &P);
    if (rc) goto done;
    if (sung_model_load(&m, model, &err)) {
        rc = cli_fail("train", "%s", err.msg);
        goto done;
    }
    if (mkdir(out, 0777) && errno != EEXIST) {
        rc = cli_fail("train", "%s: %s", out, strerror(errno));
        goto done;
    }
    size_t img = (size_t)patch * patch * 3;
    bb = malloc(img * batch * sizeof *bb);
    gb = malloc(img * batch * sizeof *gb);
    order = malloc(P.n * sizeof *order);
    if (!bb || !gb || !order) {
        rc = cli_fail("train", "out of memory for a batch of %d %dx%d crops", batch, patch, patch);
        goto done;
    }
    sung_train_opts to = sung_train_defaults(m);
    to.iters = iters;
    uint64_t rng = seed;
    int pos = P.n; /* position in the shuffled epoch order */
    printf("training %s (width %d) on %d pairs, batch %d, %dx%d crops, %d iterations, %s\n",
           sung_variant_name(sung_model_variant(m)), sung_model_width(m), P.n, batch, patch, patch,
           iters, sung_isa());
    for (int step = 0; step < steps; step++) {
        for (int b = 0; b < batch; b++) {
            if (pos == P.n) { /* a new epoch: Fisher–Yates shuffle */
                for (int i = 0; i < P.n; i++) order[i] = i;
                if (!no_aug || batch < P.n)
                    for (int i = P.n - 1; i > 0; i--) {
                        int j = rng_below(&rng, i + 1), t = order[i];
                        order[i] = order[j], order[j] = t;
                    }
                pos = 0;
            }
            int k = order[pos++];
            if ((rc = load_crop(P.blur[k], P.sharp[k], patch, !no_aug, &rng, bb + b * img, gb + b * img)))
                goto done;
        }
        sung_losses L;
        double t0 = cli_now();
        if (sung_train_grads(m, bb, gb, batch, patch, patch, &to, &L, &err)) {
            rc = cli_fail("train", "%s", err.msg);
            goto done;
        }
        if (step == 0 && dump && sung_model_save_grads(m, dump, &err)) {
            rc = cli_fail("train", "%s", err.msg);
            goto done;
        }
        sung_train_apply(m, lr);
        double pix = 0, aux = 0, sup = 0;
        for (int i = 0; i < iters; i++) pix += L.pixel[i], aux += L.edge_aux[i], sup += L.edge_sup[i];
        printf("step %d/%d  loss %.5f (pixel %.5f, edge-aux %.5f, edge-sup %.5f)  %.2f s\n", step + 1,
               steps, L.total, pix, aux, sup, cli_now() - t0);
        fflush(stdout);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/last.safetensors", out);
    if (sung_model_save(m, path, 0, &err)) {
        rc = cli_fail("train", "%s", err.msg);
        goto done;
    }
    printf("wrote %s\n", path);
done:
    for (int i = 0; i < P.n; i++) free(P.blur[i]), free(P.sharp[i]);
    free(P.blur), free(P.sharp), free(bb), free(gb), free(order);
    sung_model_free(m);
    return rc;
}
