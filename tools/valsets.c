#include "valsets.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The PSNR of each blurred image of P against its sharp one, as validation scores the
 * deblurred ones (sung_psnr_for_mean). */
static int input_psnrs(const char *cmd, const pairs *P, double *out)
{
    for (int i = 0; i < P->n; i++) {
        sung_image b = {0}, g = {0};
        sung_error err;
        sung_status st;
        int rc = 0;
        if (sung_image_load(&b, P->blur[i], &err) || sung_image_load(&g, P->sharp[i], &err))
            rc = cli_fail(cmd, "--val: %s", err.msg);
        else if ((st = sung_image_psnr(&b, &g, &out[i], &err)) == SUNG_ERR_ARG)
            rc = cli_fail(cmd, "--val: %s (%dx%d) and %s (%dx%d) differ in size", P->blur[i], b.w, b.h, P->sharp[i],
                          g.w, g.h);
        else if (st)
            rc = cli_fail(cmd, "--val: %s: %s", P->blur[i], err.msg);
        sung_image_free(&b), sung_image_free(&g);
        if (rc) return rc;
    }
    return 0;
}

int val_sets_load(const char *cmd, const char *list, int inputs, val_sets *v)
{
    memset(v, 0, sizeof *v);
    if (!*list) return 0;
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!len) {
            val_sets_free(v);
            return cli_bad_value(cmd, "--val: an empty name in the list '%s'", list);
        }
        if (v->n == VAL_SETS_MAX) {
            val_sets_free(v);
            return cli_bad_value(cmd, "--val: at most %d sets", VAL_SETS_MAX);
        }
        val_set *s = &v->s[v->n];
        if (!(s->dir = strndup(p, len))) {
            val_sets_free(v);
            return cli_fail(cmd, "out of memory");
        }
        v->n++;
        size_t l = len;
        while (l > 1 && s->dir[l - 1] == '/') s->dir[--l] = 0; /* "val/" names val */
        const char *slash = strrchr(s->dir, '/');
        s->name = slash && slash[1] ? slash + 1 : s->dir;
        if (pairs_list(cmd, s->dir, "blur", &s->P)) {
            val_sets_free(v);
            return 1;
        }
        s->input = calloc(s->P.n, sizeof *s->input);
        s->psnr = calloc(s->P.n, sizeof *s->psnr);
        if (!s->input || !s->psnr) {
            val_sets_free(v);
            return cli_fail(cmd, "out of memory");
        }
        if (inputs) {
            int rc = input_psnrs(cmd, &s->P, s->input);
            if (rc) {
                val_sets_free(v);
                return rc;
            }
            double sum = 0;
            for (int i = 0; i < s->P.n; i++) sum += s->input[i];
            s->input_mean = sum / s->P.n;
        }
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

void val_sets_free(val_sets *v)
{
    for (int k = 0; k < v->n; k++) {
        val_set *s = &v->s[k];
        free(s->dir), free(s->input), free(s->psnr);
        pairs_free(&s->P);
    }
    memset(v, 0, sizeof *v);
}

sung_status val_sets_run(sung_model *m, val_sets *v, int iters, double *score, sung_error *err)
{
    double sum = 0;
    for (int k = 0; k < v->n; k++) {
        val_set *s = &v->s[k];
        sung_status st = sung_validate_each(m, (const char *const *)s->P.blur, (const char *const *)s->P.sharp,
                                            s->P.n, iters, s->psnr, err);
        if (st) return st;
        double t = 0;
        s->worse = 0;
        for (int i = 0; i < s->P.n; i++) {
            t += s->psnr[i];
            s->worse += s->psnr[i] < s->input[i];
        }
        s->mean = t / s->P.n;
        sum += s->mean;
    }
    *score = v->n ? sum / v->n : 0;
    return SUNG_OK;
}

static void print_set(const val_set *s)
{
    printf("PSNR %.3f dB on %d images (input %.3f, %+.3f; %d worse than their input)", s->mean, s->P.n, s->input_mean,
           s->mean - s->input_mean, s->worse);
}

void val_sets_print(const val_sets *v, int epoch, double score, int best, const char *lead)
{
    printf("%svalidation after epoch %d: ", lead, epoch);
    if (v->n == 1) {
        print_set(&v->s[0]);
        printf("%s\n", best ? " (best)" : "");
        return;
    }
    printf("%d sets, mean %.3f dB%s\n", v->n, score, best ? " (best)" : "");
    for (int k = 0; k < v->n; k++) {
        printf("  %s: ", v->s[k].name);
        print_set(&v->s[k]);
        printf("\n");
    }
}

/* s as one CSV field: quoted where it holds a quote, comma or line break */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, "\",\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int val_sets_log(FILE *sets, FILE *images, const val_sets *v, long step, int epoch)
{
    if (ftell(sets) == 0) fputs(VAL_SETS_CSV_HEADER, sets);
    if (images && ftell(images) == 0) fputs(VAL_IMAGES_CSV_HEADER, images);
    for (int k = 0; k < v->n; k++) {
        const val_set *s = &v->s[k];
        fprintf(sets, "%ld,%d,", step, epoch);
        csv_field(sets, s->dir);
        fprintf(sets, ",%d,%.4f,%.4f,%.4f,%d\n", s->P.n, s->mean, s->input_mean, s->mean - s->input_mean, s->worse);
        for (int i = 0; images && i < s->P.n; i++) {
            char label[4096];
            pair_label(s->P.blur[i], label, sizeof label);
            fprintf(images, "%ld,%d,", step, epoch);
            csv_field(images, s->dir);
            fputc(',', images);
            csv_field(images, label);
            fprintf(images, ",%.4f,%.4f\n", s->psnr[i], s->input[i]);
        }
    }
    int bad = fflush(sets) || ferror(sets);
    if (images) bad |= fflush(images) || ferror(images);
    return bad;
}
