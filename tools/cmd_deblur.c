/* sung deblur: files or folders of PNG/JPEG in, the same names out. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

/* The edge map M (SPEC §3) of an image, brightened ×4 for display. */
static void edge_display(const sung_image *in, sung_image *out, int ox, int oy)
{
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w; x++)
            for (int c = 0; c < 3; c++) {
                const float *p = in->data + ((size_t)y * in->w + x) * 3 + c;
                float dx = x + 1 < in->w ? p[3] - p[0] : 0, dy = y + 1 < in->h ? p[(size_t)in->w * 3] - p[0] : 0;
                out->data[((size_t)(y + oy) * out->w + x + ox) * 3 + c] = 4 * (fabsf(dx) + fabsf(dy));
            }
}

static void paste(const sung_image *in, sung_image *out, int ox, int oy)
{
    for (int y = 0; y < in->h; y++)
        memcpy(out->data + ((size_t)(y + oy) * out->w + ox) * 3, in->data + (size_t)y * in->w * 3,
               (size_t)in->w * 3 * sizeof(float));
}

/* blurred | deblurred over M(blurred) | M(deblurred), a 4-pixel white gutter */
static int write_compare(const sung_image *b, const sung_image *d, const char *path)
{
    sung_image c;
    sung_error err;
    int g = 4;
    if (sung_image_alloc(&c, 2 * b->w + g, 2 * b->h + g, &err)) return cli_fail("deblur", "--compare: %s", err.msg);
    for (size_t i = 0; i < (size_t)c.w * c.h * 3; i++) c.data[i] = 1.0f;
    paste(b, &c, 0, 0);
    paste(d, &c, b->w + g, 0);
    edge_display(b, &c, 0, b->h + g);
    edge_display(d, &c, b->w + g, b->h + g);
    int rc = sung_image_save(&c, path, &err) ? cli_fail("deblur", "--compare: %s", err.msg) : 0;
    sung_image_free(&c);
    return rc;
}

static int deblur_one(sung_model *m, const char *in, const char *out, int iters, const char *compare,
                      int verbose, double *secs)
{
    sung_image im = {0}, res = {0};
    sung_error err;
    int rc = 0;
    if (sung_image_load(&im, in, &err)) return cli_fail("deblur", "%s", err.msg);
    double t0 = cli_now();
    if (sung_deblur(m, &im, iters, &res, &err)) {
        rc = cli_fail("deblur", "%s: %s", in, err.msg);
    } else {
        *secs = cli_now() - t0;
        if (sung_image_save(&res, out, &err))
            rc = cli_fail("deblur", "%s", err.msg);
        else if (compare)
            rc = write_compare(&im, &res, compare);
        if (!rc && verbose)
            printf("%s -> %s: %dx%d, %d iterations, %.2f s (%s%s)\n", in, out, im.w, im.h, iters, *secs, sung_isa(),
                   sung_model_precision(m) == SUNG_BF16 ? ", bf16" : "");
    }
    sung_image_free(&im);
    sung_image_free(&res);
    return rc;
}

static void progress(int done, int total, double secs)
{
    int width = 30, fill = total ? done * width / total : width;
    fprintf(stderr, "\r[%.*s%*s] %d/%d  %.2f s/image", fill, "##############################", width - fill, "",
            done, total, done ? secs / done : 0.0);
    if (done == total) fputc('\n', stderr);
}

int cmd_deblur(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *compare = NULL, *precision = "fp32", *pos[4096];
    int iters = 4, quiet = 0;
    cli_opt opts[] = {
        {"--model", 's', &model, "weights (.safetensors; default: $SUNG_MODEL or the shipped weights)"},
        {"--iters", 'i', &iters, "scale iterations (default 4, the paper's best)"},
        {"-o", 's', &out, "output file (one input file) or folder (folders, several files)"},
        {"--compare", 's', &compare, "also write blurred | deblurred | edge maps of both (one input file)"},
        {"--precision", 's', &precision, "fp32 (default) or bf16 (faster; needs avx512_bf16)"},
        {"--quiet", 'b', &quiet, "no per-image lines or progress bar"},
        {0},
    };
    int n = cli_parse("deblur", "[--model W.safetensors] [--iters N] IN... -o OUT", opts, argc, argv, pos,
                      (int)(sizeof pos / sizeof *pos));
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (n == 0) return cli_bad_value("deblur", "no input given (files or folders of PNG/JPEG; see sung deblur --help)");
    if (!out) return cli_bad_value("deblur", "an output is required: -o OUT");
    int prec = sung_precision_parse(precision);
    if (prec < 0) return cli_bad_value("deblur", "--precision must be fp32 or bf16, not '%s'", precision);
    if (iters < 1 || iters > SUNG_MAX_ITERS)
        return cli_bad_value("deblur", "--iters must be between 1 and %d, not %d", SUNG_MAX_ITERS, iters);
    int single = n == 1 && !is_dir(pos[0]);
    if (compare && !single) return cli_bad_value("deblur", "--compare needs exactly one input image");
    if (single && is_dir(out)) return cli_bad_value("deblur", "%s is a folder; for one input image, -o names the output file", out);
    for (int i = 0; i < n; i++)
        if (!is_dir(pos[i]) && !is_image_name(pos[i]))
            return cli_bad_value("deblur", "%s: not a folder or a .png/.jpg/.jpeg image", pos[i]);
    if (!is_image_name(out) && single)
        return cli_bad_value("deblur", "%s: the output must end in .png, .jpg or .jpeg", out);

    const char *mp = cli_model_path("deblur", model);
    if (!mp) return 1;
    sung_model *m = NULL;
    sung_error err;
    if (sung_model_load(&m, mp, &err)) return cli_fail("deblur", "%s", err.msg);
    if (sung_model_set_precision(m, (sung_precision)prec, &err)) {
        sung_model_free(m);
        return cli_fail("deblur", "%s", err.msg);
    }
    int rc = 0;
    double secs = 0, t;
    if (single) {
        rc = deblur_one(m, pos[0], out, iters, compare, !quiet, &secs);
        sung_model_free(m);
        return rc;
    }
    /* folders and lists: OUT is a folder; a folder's images keep their names */
    if (make_dirs(out)) {
        sung_model_free(m);
        return cli_fail("deblur", "%s: cannot create the output folder: %s", out, strerror(errno));
    }
    int total = 0, done = 0;
    for (int i = 0; i < n; i++) {
        if (!is_dir(pos[i])) {
            total++;
            continue;
        }
        char **names;
        int k;
        if (dir_images("deblur", pos[i], &names, &k)) {
            sung_model_free(m);
            return 1;
        }
        total += k;
        names_free(names, k);
    }
    for (int i = 0; i < n && !rc; i++) {
        char **names = NULL;
        int k = 1;
        if (is_dir(pos[i]) && dir_images("deblur", pos[i], &names, &k)) rc = 1;
        for (int j = 0; j < k && !rc; j++) {
            char src[4096], dst[4096];
            const char *base = names ? names[j] : strrchr(pos[i], '/') ? strrchr(pos[i], '/') + 1 : pos[i];
            if (names)
                snprintf(src, sizeof src, "%s/%s", pos[i], names[j]);
            else
                snprintf(src, sizeof src, "%s", pos[i]);
            snprintf(dst, sizeof dst, "%s/%s", out, base);
            rc = deblur_one(m, src, dst, iters, NULL, 0, &t);
            secs += t;
            done++;
            if (!quiet) progress(done, total, secs);
        }
        names_free(names, k);
    }
    if (!rc && !quiet) printf("%d images -> %s, %.2f s in all (%s)\n", done, out, secs, sung_isa());
    sung_model_free(m);
    return rc;
}
