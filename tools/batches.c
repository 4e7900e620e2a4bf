#include "batches.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"

static int load_one(const batch_source *s, const sung_sample *smp, float *bi, float *gi, int *redrawn)
{
    int P = s->patch;
    *redrawn = 0;
    if (s->PS) {
        /* a fresh pair from its photo, flipped as drawn */
        if (photos_pair("train", s->PS, smp->pair % s->PS->n, P, &s->draw, smp->synth_seed, bi, gi, redrawn, NULL))
            return 1;
        sung_flip(bi, P, smp->flip_x, smp->flip_y);
        sung_flip(gi, P, smp->flip_x, smp->flip_y);
        return 0;
    }
    const char *bp = s->P->blur[smp->pair], *gp = s->P->sharp[smp->pair];
    sung_image b = {0}, g = {0};
    sung_error err;
    int rc = 0;
    if (sung_image_load(&b, bp, &err) || sung_image_load(&g, gp, &err))
        rc = cli_fail("train", "%s", err.msg);
    else if (sung_crop_pair(&b, &g, P, smp, bi, gi, &err))
        rc = cli_fail("train", "%s and %s: %s", bp, gp, err.msg);
    sung_image_free(&b);
    sung_image_free(&g);
    return rc;
}

int batch_load(const batch_source *s, const sung_sample *smp, int n, float *bb, float *gb, int *redrawn)
{
    size_t img = (size_t)s->patch * s->patch * 3;
    *redrawn = 0;
    for (int k = 0; k < n; k++) {
        int r;
        if (load_one(s, smp + k, bb + k * img, gb + k * img, &r)) return 1;
        *redrawn += r;
    }
    return 0;
}

static void *prefetch_main(void *arg)
{
    prefetch *f = arg;
#ifdef _OPENMP
    omp_set_num_threads(1); /* the cores are the step's */
#endif
    double t0 = cli_now();
    f->rc = batch_load(f->src, f->samples, f->n, f->bb, f->gb, &f->redrawn);
    f->seconds = cli_now() - t0;
    return NULL;
}

int prefetch_alloc(prefetch *f, const batch_source *src, int max)
{
    size_t img = (size_t)src->patch * src->patch * 3;
    memset(f, 0, sizeof *f);
    f->src = src;
    f->max = max;
    f->samples = malloc((size_t)(max ? max : 1) * sizeof *f->samples);
    f->bb = malloc((max ? max : 1) * img * sizeof *f->bb);
    f->gb = malloc((max ? max : 1) * img * sizeof *f->gb);
    return f->samples && f->bb && f->gb ? 0 : -1;
}

void prefetch_start(prefetch *f, const sung_sample *s, int n)
{
    memcpy(f->samples, s, (size_t)n * sizeof *s);
    f->n = n;
    f->running = !pthread_create(&f->thread, NULL, prefetch_main, f);
    if (!f->running) prefetch_main(f);
}

void prefetch_wait(prefetch *f)
{
    if (f->running) pthread_join(f->thread, NULL);
    f->running = 0;
}

void prefetch_free(prefetch *f)
{
    prefetch_wait(f);
    free(f->samples), free(f->bb), free(f->gb);
    memset(f, 0, sizeof *f);
}
