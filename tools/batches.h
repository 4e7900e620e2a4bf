/* The input pipeline of `sung train`: the samples a sung_run names, made into crops
 * (from GoPro-layout files or from photos), the next batch on a thread of its own while
 * the current one trains. */
#ifndef SUNG_BATCHES_H
#define SUNG_BATCHES_H

#include <pthread.h>

#include "data.h"
#include "photos.h"
#include "sung.h"

typedef struct {
    const pairs *P;         /* --data: sample.pair indexes these files */
    const photo_set *PS;    /* --photos: sample.pair % PS->n is the photo */
    int patch;
    photos_draw draw;       /* --photos: how pairs are drawn (--min-texture, --short-blur, --shrink, --noise) */
} batch_source;

/* The n samples into bb and gb (patch²·3 floats an image, one after another); 0, or a
 * message and non-zero. *redrawn: the photo windows drawn and put back for too little
 * texture on the way (photos_pair), 0 for --data. */
int batch_load(const batch_source *s, const sung_sample *smp, int n, float *bb, float *gb, int *redrawn);

typedef struct {
    const batch_source *src;
    sung_sample *samples;   /* what to make (up to max) */
    int n, max;
    float *bb, *gb;         /* out: the crops */
    int rc;                 /* out: 0, or non-zero after an error (message printed) */
    int redrawn;            /* out: batch_load's count */
    double seconds;         /* out: time it took */
    pthread_t thread;
    int running;
} prefetch;

/* Buffers for batches of up to max images. */
int prefetch_alloc(prefetch *f, const batch_source *src, int max);
/* Starts making samples s[0..n) (copied); synchronously if no thread can be made. */
void prefetch_start(prefetch *f, const sung_sample *s, int n);
void prefetch_wait(prefetch *f);
void prefetch_free(prefetch *f);

#endif
