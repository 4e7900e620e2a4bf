/* The validation sets of `sung train --val DIR[,DIR...]`: each set's pairs, the PSNR of
 * its blurred inputs (the bar a model must clear on each image), and the last validation's
 * PSNR of each pair. Several sets let one run watch strongly and mildly blurred images at
 * once: a model can gain on one and lose on the other (docs/RESULTS.md, chunk 15). */
#ifndef SUNG_VALSETS_H
#define SUNG_VALSETS_H

#include <stdio.h>

#include "data.h"
#include "sung.h"

#define VAL_SETS_MAX 8

typedef struct {
    char *dir;         /* as given in the list, less trailing slashes */
    const char *name;  /* its last path component, for messages */
    pairs P;
    double *input;     /* [P.n] PSNR of each blurred image against its sharp one (SPEC §8) */
    double *psnr;      /* [P.n] the last validation's, each pair */
    double mean, input_mean;
    int worse;         /* pairs whose deblurred PSNR is under their input's */
} val_set;

typedef struct {
    val_set s[VAL_SETS_MAX];
    int n;
} val_sets;

/* Lists the sets of a comma-separated list of GoPro-layout directories ("" = none) and,
 * with inputs, scores each blurred image against its sharp one (decoding every pair; the
 * process that validates). Prints a message for cmd and returns non-zero on error: an
 * empty name in the list, more than VAL_SETS_MAX sets, a set without pairs, a pair that
 * cannot be read or whose two images differ in size. */
int val_sets_load(const char *cmd, const char *list, int inputs, val_sets *v);
void val_sets_free(val_sets *v);

/* Validates m on every set (sung_validate_each, `iters` iterations), filling each set's
 * psnr, mean and worse; *score: the mean of the sets' means, the number a run's best is
 * chosen on (with one set, its mean PSNR as before). */
sung_status val_sets_run(sung_model *m, val_sets *v, int iters, double *score, sung_error *err);

/* The result of val_sets_run on stdout (one line for one set; a line per set and the
 * score for several), "(best)" where best. */
void val_sets_print(const val_sets *v, int epoch, double score, int best, const char *lead);

/* Appends a row per set to an open val.csv and, when images is not NULL, a row per image
 * to an open val-images.csv (each header first when its file is empty; the image named as
 * `sung eval --csv` names it, so that the rows of two runs or of a run and `sung eval`
 * pair up); non-zero when writing fails. */
#define VAL_SETS_CSV_HEADER "step,epoch,set,images,psnr,input_psnr,gain,worse\n"
#define VAL_IMAGES_CSV_HEADER "step,epoch,set,image,psnr,input_psnr\n"
int val_sets_log(FILE *sets, FILE *images, const val_sets *v, long step, int epoch);

#endif
