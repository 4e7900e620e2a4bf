/* sung eval: PSNR and SSIM as the GoPro literature reports them (SPEC §8), of a folder
 * of results against ground truth, or of a model on a GoPro-layout test set. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

typedef struct {
    double psnr, ssim;
    int n;
} totals;

static int to_u8(const char *path, sung_image *im, uint8_t **u)
{
    sung_error err;
    if (sung_image_load(im, path, &err)) return cli_fail("eval", "%s", err.msg);
    *u = malloc((size_t)im->w * im->h * 3);
    if (!*u) return cli_fail("eval", "out of memory");
    sung_image_to_u8(im, *u);
    return 0;
}

/* Scores one result against its ground truth; appends to the CSV and the totals. */
static int score(const char *name, const sung_image *pred, const uint8_t *pu, const char *gt_path,
                 sung_ssim_kind kind, FILE *csv, int iters, totals *t, int verbose)
{
    sung_image gt = {0};
    uint8_t *gu = NULL;
    int rc = to_u8(gt_path, &gt, &gu);
    if (!rc && (gt.w != pred->w || gt.h != pred->h))
        rc = cli_fail("eval", "%s is %dx%d but its ground truth %s is %dx%d", name, pred->w, pred->h,
                      gt_path, gt.w, gt.h);
    if (!rc) {
        double p = sung_psnr_for_mean(pu, gu, gt.w, gt.h), s = sung_ssim(pu, gu, gt.w, gt.h, kind);
        if (isnan(s)) rc = cli_fail("eval", "%s: SSIM undefined (skimage SSIM needs at least 11x11 pixels)", name);
        if (!rc) {
            t->psnr += p, t->ssim += s, t->n++;
            if (verbose) printf("%s  PSNR %.3f  SSIM %.5f\n", name, p, s);
            if (csv) {
                fprintf(csv, "%s,%.4f,%.6f", name, p, s);
                if (iters) fprintf(csv, ",%d", iters);
                fputc('\n', csv);
            }
        }
    }
    sung_image_free(&gt);
    free(gu);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    const char *pred = NULL, *gt = NULL, *model = NULL, *data = NULL, *save = NULL, *csvp = NULL, *precision = "auto",
               *ssim = "matlab", *iters_s = "4", *blur_dir = "blur";
    int quiet = 0, threads = INT_MIN; /* GIVEN */
    cli_opt opts[] = {
        {"--pred", 's', &pred, "folder of results (with --gt: same file names)"},
        {"--gt", 's', &gt, "folder of ground-truth images"},
        {"--model", 's', &model, "weights to evaluate (with --data; default: $SUNG_MODEL or shipped)"},
        {"--data", 's', &data, "GoPro-layout test set: DIR/<seq>/blur|sharp/*.png"},
        {"--blur-dir", 's', &blur_dir, "blur (default) or blur_gamma"},
        {"--iters", 's', &iters_s, "scale iterations: N (default 4) or all (1..4, each a full pass)"},
        {"--save", 's', &save, "also save the deblurred images here (GoPro layout)"},
        {"--precision", 's', &precision, "with a model: auto (default: bf16 where the CPU has avx512_bf16, else "
                                            "fp32), fp32 or bf16, as in sung deblur"},
        {"--ssim", 's', &ssim, "matlab (default; the papers' MATLAB ssim) or skimage"},
        {"--csv", 's', &csvp, "per-image scores: image,psnr,ssim"},
        {"--threads", 'i', &threads, CLI_THREADS_HELP},
        {"--quiet", 'b', &quiet, "only the summary"},
        {0},
    };
    int n = cli_parse("eval", "--pred DIR --gt DIR | [--model W] --data GOPRO_DIR [options]", opts, argc, argv, NULL, 0);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (cli_threads("eval", threads)) return 2;
    int prec = cli_precision_parse(precision);
    if (prec < 0) return cli_bad_value("eval", "--precision must be auto, fp32 or bf16, not '%s'", precision);
    sung_ssim_kind kind;
    if (!strcmp(ssim, "matlab")) kind = SUNG_SSIM_MATLAB;
    else if (!strcmp(ssim, "skimage")) kind = SUNG_SSIM_SKIMAGE;
    else return cli_bad_value("eval", "--ssim must be matlab or skimage, not '%s'", ssim);
    int by_folder = pred || gt;
    if (by_folder && (!pred || !gt)) return cli_bad_value("eval", "--pred and --gt go together");
    if (by_folder && (model || data || save)) return cli_bad_value("eval", "use either --pred/--gt or --data [--model], not both");
    if (!by_folder && !data) return cli_bad_value("eval", "give --pred DIR --gt DIR, or --data GOPRO_DIR (see sung eval --help)");
    int first = 4, last = 4;
    if (!strcmp(iters_s, "all")) {
        first = 1;
    } else {
        char *end;
        long v = strtol(iters_s, &end, 10);
        if (*end || end == iters_s || v < 1 || v > SUNG_MAX_ITERS)
            return cli_bad_value("eval", "--iters must be 1..%d or all, not '%s'", SUNG_MAX_ITERS, iters_s);
        first = last = (int)v;
    }
    if (strcmp(blur_dir, "blur") && strcmp(blur_dir, "blur_gamma"))
        return cli_bad_value("eval", "--blur-dir must be blur or blur_gamma");
    FILE *csv = NULL;
    char csv_tmp[4096];
    if (csvp) {
        snprintf(csv_tmp, sizeof csv_tmp, "%s.tmp", csvp);
        if (!(csv = fopen(csv_tmp, "w"))) return cli_fail("eval", "%s: %s", csv_tmp, strerror(errno));
        fprintf(csv, "image,psnr,ssim%s\n", by_folder || first == last ? "" : ",iters");
    }
    int rc = 0;
    if (by_folder) {
        char **names;
        int k;
        totals t = {0, 0, 0};
        if (dir_images("eval", pred, &names, &k)) rc = 1;
        else if (k == 0) rc = cli_fail("eval", "%s: no images", pred);
        for (int i = 0; i < k && !rc; i++) {
            char pp[4096], gp[4096];
            snprintf(pp, sizeof pp, "%s/%s", pred, names[i]);
            snprintf(gp, sizeof gp, "%s/%s", gt, names[i]);
            sung_image im = {0};
            uint8_t *u = NULL;
            rc = to_u8(pp, &im, &u);
            if (!rc) rc = score(names[i], &im, u, gp, kind, csv, 0, &t, !quiet);
            sung_image_free(&im);
            free(u);
        }
        if (!rc) printf("%d images: PSNR %.4f dB, SSIM (%s) %.5f\n", t.n, t.psnr / t.n, ssim, t.ssim / t.n);
        names_free(names, k);
    } else {
        pairs P;
        sung_model *m = NULL;
        sung_error err;
        const char *mp = cli_model_path("eval", model);
        if (!mp) rc = 1;
        else if (pairs_list("eval", data, blur_dir, &P)) rc = 1;
        else if (sung_model_load(&m, mp, &err)) rc = cli_fail("eval", "%s", err.msg), pairs_free(&P);
        else if (cli_set_precision(m, prec, &err))
            rc = cli_fail("eval", "%s", err.msg), pairs_free(&P), sung_model_free(m), m = NULL;
        for (int it = first; it <= last && !rc; it++) {
            totals t = {0, 0, 0};
            double secs = 0;
            for (int i = 0; i < P.n && !rc; i++) {
                sung_image b = {0}, out = {0};
                uint8_t *u = NULL;
                rc = sung_image_load(&b, P.blur[i], &err) ? cli_fail("eval", "%s", err.msg) : 0;
                double t0 = cli_now();
                if (!rc && sung_deblur(m, &b, it, &out, &err)) rc = cli_fail("eval", "%s: %s", P.blur[i], err.msg);
                secs += cli_now() - t0;
                if (!rc && !(u = malloc((size_t)out.w * out.h * 3))) rc = cli_fail("eval", "out of memory");
                char label[2048]; /* "<seq>/<file>" */
                pair_label(P.blur[i], label, sizeof label);
                if (!rc) {
                    sung_image_to_u8(&out, u);
                    if (!quiet) printf("[%d/%d] %d iterations  %.2f s  ", i + 1, P.n, it, cli_now() - t0);
                    rc = score(label, &out, u, P.sharp[i], kind, csv, first == last ? 0 : it, &t, !quiet);
                }
                if (!rc && save) {
                    char dir[4096], path[8192];
                    const char *file = strrchr(label, '/') + 1;
                    int seqlen = (int)(file - 1 - label);
                    if (first == last)
                        snprintf(dir, sizeof dir, "%s/%.*s/blur", save, seqlen, label);
                    else
                        snprintf(dir, sizeof dir, "%s/iters-%d/%.*s/blur", save, it, seqlen, label);
                    snprintf(path, sizeof path, "%s/%s", dir, file);
                    if (make_dirs(dir)) rc = cli_fail("eval", "%s: cannot create: %s", dir, strerror(errno));
                    else if (sung_image_save(&out, path, &err)) rc = cli_fail("eval", "%s", err.msg);
                }
                sung_image_free(&b), sung_image_free(&out);
                free(u);
            }
            if (!rc)
                printf("%d iterations: %d images, PSNR %.4f dB, SSIM (%s) %.5f, %.2f s/image (%s)\n", it, t.n,
                       t.psnr / t.n, ssim, t.ssim / t.n, secs / t.n, sung_model_precision(m) == SUNG_BF16 ? "bf16" : "fp32");
        }
        if (m) pairs_free(&P);
        sung_model_free(m);
    }
    if (csv) {
        if (fclose(csv) || (!rc && rename(csv_tmp, csvp))) rc = cli_fail("eval", "%s: %s", csvp, strerror(errno));
        if (rc) remove(csv_tmp);
    }
    return rc;
}
