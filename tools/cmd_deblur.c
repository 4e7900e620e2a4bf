/* sung deblur: files or folders of PNG/JPEG in, the same names out. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include <omp.h>

#include "data.h"

/* The edge map M (SPEC §3) of an image, brightened ×4 for display. */
/* The edge map M (sung_edge_map), brightened 4× to be seen, pasted at (ox, oy). */
static int edge_display(const sung_image *in, sung_image *out, int ox, int oy)
{
    sung_image e;
    sung_error err;
    if (sung_edge_map(in, &e, &err)) return cli_fail("deblur", "--compare: %s", err.msg);
    for (int y = 0; y < in->h; y++)
        for (int x = 0; x < in->w * 3; x++)
            out->data[(size_t)(y + oy) * out->w * 3 + (size_t)ox * 3 + x] = 4 * e.data[(size_t)y * in->w * 3 + x];
    sung_image_free(&e);
    return 0;
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
    int rc = edge_display(b, &c, 0, b->h + g) || edge_display(d, &c, b->w + g, b->h + g);
    if (!rc && sung_image_save(&c, path, &err)) rc = cli_fail("deblur", "--compare: %s", err.msg);
    sung_image_free(&c);
    return rc;
}

/* The progress bar is drawn with \r; a message in the middle of a run starts a new line. */
static int bar_open;
static void bar_break(void)
{
    if (bar_open) fputc('\n', stderr);
    bar_open = 0;
}

/* How an image is cut: tile > 0 a fixed tile, 0 whatever fits in max_mb, -1 never. */
typedef struct {
    int tile;
    long max_mb;
} tiling;

/* The margin of context around each tile: a multiple of the model's grid, about 128 px
 * (test_tile: wider margins come closer to the whole-image pass). */
static int tile_margin(int iters)
{
    int mult = 1 << (iters + 2);
    return (128 + mult - 1) / mult * mult;
}

/* The bits per sample of out: 8 for a JPEG; for a PNG --depth, else the input's (meta's,
 * 8 when meta is NULL). */
static int out_depth(int depth, const sung_image_meta *meta, const char *out)
{
    const char *dot = strrchr(out, '.');
    if (dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"))) return 8;
    return depth ? depth : meta ? meta->depth : 8;
}

/* Deblurs in into out, upright, with in's EXIF (orientation 1) and ICC profile. */
static int deblur_one(sung_model *m, const char *in, const char *out, int iters, const char *compare,
                      const tiling *tl, int depth, int verbose, double *secs)
{
    sung_image im = {0}, res = {0};
    sung_image_meta meta;
    sung_error err;
    int rc = 0;
    *secs = 0;
    if (sung_image_load_ex(&im, &meta, in, &err)) {
        bar_break();
        return cli_fail("deblur", "%s", err.msg);
    }
    double t0 = cli_now();
    int margin = tile_margin(iters), tile = tl->tile;
    if (tile == 0) {
        tile = sung_tile_for_memory(m, im.w, im.h, iters, margin, (size_t)tl->max_mb << 20);
        if (tile < 0) {
            bar_break();
            rc = cli_fail("deblur", "%s (%dx%d): even the smallest tile does not fit in --max-memory %ld MB", in,
                          im.w, im.h, tl->max_mb);
            sung_image_free(&im);
            sung_image_meta_free(&meta);
            return rc;
        }
    }
    if (tile > 0 && (tile < im.w || tile < im.h) && verbose)
        printf("%s: %dx%d in tiles of %d px with %d px of context (%s)\n", in, im.w, im.h, tile, margin,
               tl->tile > 0 ? "--tile" : "to fit --max-memory");
    sung_status st = tile > 0 ? sung_deblur_tiled(m, &im, iters, tile, margin, &res, &err)
                              : sung_deblur(m, &im, iters, &res, &err);
    if (st) {
        bar_break();
        rc = cli_fail("deblur", "%s: %s", in, err.msg);
    } else {
        *secs = cli_now() - t0;
        sung_image_save_opts so = {out_depth(depth, &meta, out), 0, &meta};
        if (sung_image_save_ex(&res, out, &so, &err)) {
            bar_break();
            rc = cli_fail("deblur", "%s", err.msg);
        } else if (compare) {
            rc = write_compare(&im, &res, compare);
        }
        if (!rc && verbose) {
            int nt = omp_get_max_threads();
            printf("%s -> %s: %dx%d, %d iterations, %.2f s (%s, %s, %d thread%s)\n", in, out, im.w, im.h, iters, *secs,
                   sung_isa(), sung_model_precision(m) == SUNG_BF16 ? "bf16" : "fp32", nt, nt == 1 ? "" : "s");
        }
    }
    sung_image_free(&im);
    sung_image_free(&res);
    sung_image_meta_free(&meta);
    return rc;
}

static void progress(int done, int total, double secs)
{
    int width = 30, fill = total ? done * width / total : width;
    fprintf(stderr, "\r[%.*s%*s] %d/%d  %.2f s/image", fill, "##############################", width - fill, "",
            done, total, done ? secs / done : 0.0);
    bar_open = done < total;
    if (done == total) fputc('\n', stderr);
}

/* One image to deblur: src -> dst. */
typedef struct {
    char *src, *dst;
} job;

static void jobs_free(job *jobs, int n)
{
    for (int i = 0; jobs && i < n; i++) free(jobs[i].src), free(jobs[i].dst);
    free(jobs);
}

static char *join2(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* The work of one run, listed before any is done: with single, pos[0] -> out; otherwise
 * each file pos[i] and each image of each folder pos[i] -> out/NAME. A named file that
 * does not exist is an error here, before the model is loaded. */
static int jobs_make(const char **pos, int n, const char *out, int single, job **jobs_out, int *njobs)
{
    job *jobs = NULL;
    int count = 0, cap = 0, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char **names = NULL;
        int k = 1;
        if (is_dir(pos[i])) {
            if (dir_images("deblur", pos[i], &names, &k)) {
                rc = 1;
                break;
            }
        } else {
            struct stat st;
            if (stat(pos[i], &st)) {
                rc = cli_fail("deblur", "%s: %s", pos[i], strerror(errno));
                break;
            }
        }
        if (count + k > cap) {
            int nc = cap + k + 64;
            job *nj = realloc(jobs, nc * sizeof *nj);
            if (!nj) {
                names_free(names, k);
                rc = cli_fail("deblur", "out of memory");
                break;
            }
            jobs = nj, cap = nc;
        }
        for (int j = 0; j < k && !rc; j++) {
            const char *slash = strrchr(pos[i], '/'), *base = names ? names[j] : slash ? slash + 1 : pos[i];
            job *J = &jobs[count++];
            J->src = names ? join2(pos[i], names[j]) : strdup(pos[i]);
            J->dst = single ? strdup(out) : join2(out, base);
            if (!J->src || !J->dst) rc = cli_fail("deblur", "out of memory");
        }
        names_free(names, k);
    }
    if (rc) {
        jobs_free(jobs, count);
        return rc;
    }
    *jobs_out = jobs, *njobs = count;
    return 0;
}

/* An input file, by identity: the same (st_dev, st_ino) is the same file under any name
 * (./x.png, x.png, a symlink, a hard link). */
typedef struct {
    dev_t dev;
    ino_t ino;
    int job;
} file_id;

static int id_cmp(const void *a, const void *b)
{
    const file_id *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int dst_cmp(const void *a, const void *b)
{
    const job *x = *(const job *const *)a, *y = *(const job *const *)b;
    return strcmp(x->dst, y->dst);
}

/* The input that path is (its job index), or -1 when path is none of them (or absent). */
static int input_at(const file_id *ids, int nids, const char *path)
{
    struct stat st;
    if (stat(path, &st)) return -1;
    file_id key = {st.st_dev, st.st_ino, -1};
    const file_id *hit = bsearch(&key, ids, nids, sizeof *ids, id_cmp);
    return hit ? hit->job : -1;
}

/* Never destroy input. Refused before any work (message, exit 2):
 *  - two inputs that would be written to one output name (one result would be lost);
 *  - an output that is the input of *another* image (that image would read a result);
 *  - --compare onto -o;
 * and, unless overwrite: -o an input folder, an output (or --compare) that is its own input
 * under any name. With overwrite, an image is replaced by its own result, atomically (a
 * temporary file renamed over the name given: a symbolic link there becomes the result
 * and its target is kept). Outputs that exist but are not inputs are replaced, atomically. */
static int check_outputs(const job *jobs, int n, const char **pos, int npos, const char *out, int single,
                         const char *compare, int overwrite)
{
    struct stat so, si;
    if (!single && !overwrite && !stat(out, &so))
        for (int i = 0; i < npos; i++)
            if (!stat(pos[i], &si) && S_ISDIR(si.st_mode) && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
                return cli_bad_value("deblur", "-o %s is the input folder %s: its images would be replaced by the "
                                               "results; choose another output folder (or --overwrite)", out, pos[i]);
    const job **byname = malloc((n ? n : 1) * sizeof *byname);
    file_id *ids = malloc((n ? n : 1) * sizeof *ids);
    int nids = 0, rc = 0;
    if (!byname || !ids) rc = cli_fail("deblur", "out of memory");
    for (int i = 0; !rc && i < n; i++) byname[i] = &jobs[i];
    if (!rc) qsort(byname, n, sizeof *byname, dst_cmp);
    for (int i = 1; !rc && i < n; i++)
        if (!strcmp(byname[i - 1]->dst, byname[i]->dst))
            rc = cli_bad_value("deblur", "%s and %s would both be written to %s; only one would be kept (deblur them "
                                         "into different folders)", byname[i - 1]->src, byname[i]->src, byname[i]->dst);
    for (int i = 0; !rc && i < n; i++)
        if (!stat(jobs[i].src, &si)) ids[nids++] = (file_id){si.st_dev, si.st_ino, i};
    if (!rc) qsort(ids, nids, sizeof *ids, id_cmp);
    /* the same file named twice as input is caught above (one output name) */
    for (int i = 0; !rc && i < n; i++) {
        int k = input_at(ids, nids, jobs[i].dst);
        const char *same = k >= 0 && strcmp(jobs[i].dst, jobs[k].src) ? " (the same file)" : "";
        if (k >= 0 && k != i)
            rc = cli_bad_value("deblur", "the output %s is the input %s%s of another image, which would read a "
                                         "result instead; choose another output", jobs[i].dst, jobs[k].src, same);
        else if (k == i && !overwrite)
            rc = cli_bad_value("deblur", "the output %s is the input %s%s, which would be lost; choose another "
                                         "output (or --overwrite to replace it)", jobs[i].dst, jobs[k].src, same);
    }
    if (!rc && compare) {
        int k = input_at(ids, nids, compare);
        if (!strcmp(compare, out) ||
            (!stat(compare, &si) && !stat(out, &so) && si.st_dev == so.st_dev && si.st_ino == so.st_ino))
            rc = cli_bad_value("deblur", "--compare %s and -o %s are the same file", compare, out);
        else if (k >= 0 && !overwrite)
            rc = cli_bad_value("deblur", "--compare %s is the input %s, which would be lost; choose another name "
                                         "(or --overwrite)", compare, jobs[k].src);
    }
    free(byname), free(ids);
    return rc;
}

int cmd_deblur(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *compare = NULL, *precision = "auto", *pos[4096];
    int iters = 4, quiet = 0, tile = 0, overwrite = 0, depth = 0, threads = INT_MIN; /* GIVEN */
    long max_mb = LONG_MIN; /* GIVEN */
    cli_opt opts[] = {
        {"--model", 's', &model, "weights (.safetensors; default: $SUNG_MODEL or the shipped weights)"},
        {"--iters", 'i', &iters, "scale iterations (default 4, the paper's best)"},
        {"-o", 's', &out, "output file (one input file) or folder (folders, several files); not an input unless "
                        "--overwrite"},
        {"--compare", 's', &compare, "also write blurred | deblurred | edge maps of both (one input file)"},
        {"--precision", 's', &precision, "auto (default: bf16 where the CPU has avx512_bf16, else fp32), fp32 (the "
                                            "reference's arithmetic) or bf16 (docs/BENCHMARKS.md)"},
        {"--tile", 'i', &tile, "deblur in tiles of N px (a multiple of 2^(iters+2)); 0 (default): only when "
                               "needed to fit --max-memory; -1: never"},
        {"--max-memory", 'l', &max_mb, "MB an image may use (default: 4096 or half the RAM, whichever is less)"},
        {"--depth", 'i', &depth, "8 or 16 bits per sample of PNG outputs (default: 16 for a 16-bit PNG input, "
                                 "else 8; JPEG is 8)"},
        {"--overwrite", 'b', &overwrite, "allow an output to replace its own input (atomically); without it, that "
                                         "is refused"},
        {"--threads", 'i', &threads, CLI_THREADS_HELP},
        {"--quiet", 'b', &quiet, "no per-image lines or progress bar"},
        {0},
    };
    int n = cli_parse("deblur", "[--model W.safetensors] [--iters N] [--overwrite] IN... -o OUT", opts, argc, argv, pos,
                      (int)(sizeof pos / sizeof *pos));
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (n == 0) return cli_bad_value("deblur", "no input given (files or folders of PNG/JPEG; see sung deblur --help)");
    if (!out) return cli_bad_value("deblur", "an output is required: -o OUT");
    if (cli_threads("deblur", threads)) return 2;
    int prec = cli_precision_parse(precision);
    if (prec < 0) return cli_bad_value("deblur", "--precision must be auto, fp32 or bf16, not '%s'", precision);
    if (iters < 1 || iters > SUNG_MAX_ITERS)
        return cli_bad_value("deblur", "--iters must be between 1 and %d, not %d", SUNG_MAX_ITERS, iters);
    int mult = 1 << (iters + 2);
    if (tile < -1 || (tile > 0 && (tile % mult || tile > SUNG_MAX_SIDE)))
        return cli_bad_value("deblur", "--tile must be a multiple of %d (2^(iters+2)), 0 or -1, not %d", mult, tile);
    if (!GIVEN(max_mb)) {
        long ram = cli_ram_mb(), half = ram ? ram / 2 : 4096;
        max_mb = half < 4096 ? half : 4096;
    } else if (max_mb < 64) {
        return cli_bad_value("deblur", "--max-memory must be at least 64 (MB), not %ld", max_mb);
    }
    if (depth != 0 && depth != 8 && depth != 16)
        return cli_bad_value("deblur", "--depth must be 8 or 16, not %d", depth);
    tiling tl = {tile, max_mb};
    int single = n == 1 && !is_dir(pos[0]);
    if (compare && !single) return cli_bad_value("deblur", "--compare needs exactly one input image");
    if (single && is_dir(out)) return cli_bad_value("deblur", "%s is a folder; for one input image, -o names the output file", out);
    for (int i = 0; i < n; i++)
        if (!is_dir(pos[i]) && !is_image_name(pos[i]))
            return cli_bad_value("deblur", "%s: not a folder or a .png/.jpg/.jpeg image", pos[i]);
    if (!is_image_name(out) && single)
        return cli_bad_value("deblur", "%s: the output must end in .png, .jpg or .jpeg", out);


    /* everything that could make the run destroy an input is refused before any work */
    job *jobs = NULL;
    int njobs = 0;
    if (jobs_make(pos, n, out, single, &jobs, &njobs)) return 1;
    int refused = check_outputs(jobs, njobs, pos, n, out, single, compare, overwrite);
    for (int i = 0; !refused && depth == 16 && i < njobs; i++) /* a folder's JPEG inputs give JPEG outputs */
        if (out_depth(16, NULL, jobs[i].dst) != 16)
            refused = cli_bad_value("deblur", "--depth 16: %s would be a JPEG, which holds 8 bits (write PNG)", jobs[i].dst);
    if (refused) {
        jobs_free(jobs, njobs);
        return refused;
    }
    const char *mp = cli_model_path("deblur", model);
    sung_model *m = NULL;
    sung_error err;
    int rc = 0;
    if (!mp) {
        rc = 1;
    } else if (sung_model_load(&m, mp, &err) || cli_set_precision(m, prec, &err)) {
        rc = cli_fail("deblur", "%s", err.msg);
    } else if (single) {
        double t;
        rc = deblur_one(m, jobs[0].src, jobs[0].dst, iters, compare, &tl, depth, !quiet, &t);
    } else if (make_dirs(out)) {
        /* folders and lists: OUT is a folder; a folder's images keep their names */
        rc = cli_fail("deblur", "%s: cannot create the output folder: %s", out, strerror(errno));
    } else {
        /* a bad image is reported and skipped; the run goes on and its status says so */
        int failed = 0;
        double secs = 0, t;
        for (int i = 0; i < njobs; i++) {
            if (deblur_one(m, jobs[i].src, jobs[i].dst, iters, NULL, &tl, depth, 0, &t)) failed++;
            secs += t;
            if (!quiet) progress(i + 1, njobs, secs);
        }
        if (failed)
            rc = cli_fail("deblur", "%d of %d images failed (see above); the other %d are in %s", failed, njobs,
                          njobs - failed, out);
        else if (!quiet)
            printf("%d images -> %s, %.2f s in all (%s)\n", njobs, out, secs, sung_isa());
    }
    sung_model_free(m);
    jobs_free(jobs, njobs);
    return rc;
}
