/* sung synth: GoPro-layout blurred/sharp pairs from a folder of sharp photos (SPEC §9).
 *
 * The photos are the .png/.jpg/.jpeg files directly in --photos, sorted by name; P of
 * them. Pair k (0 <= k < count) comes from photo k mod P with seed S·1000003 + k (mod
 * 2^64), and is written as OUT/<stem>/blur/NNNNNN.png and OUT/<stem>/sharp/NNNNNN.png,
 * NNNNNN = k div P, its number within that photo's sequence (<stem>: the file name
 * without its extension). Every pair has the --size; a photo smaller than that (plus the
 * camera motion) is scaled up by sung_synth_pair (at most 8×). The moving objects of
 * photo p take their texture from photo p + 1 (mod P). Same arguments, same files, byte
 * for byte; existing files are replaced atomically. Each pair's blurred PSNR (MATLAB's,
 * on the 8-bit images as written) is printed, summarised as a histogram at the end, and
 * with --csv written with what the pair drew. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "photos.h"

#define SEED_STRIDE 1000003ull

static int parse_size(const char *s, int *w, int *h)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (errno || end == s || (*end != 'x' && *end != 'X') || a < 1 || a > SUNG_MAX_SIDE) return -1;
    const char *t = end + 1;
    long b = strtol(t, &end, 10);
    if (errno || end == t || *end || b < 1 || b > SUNG_MAX_SIDE) return -1;
    *w = (int)a, *h = (int)b;
    return 0;
}

/* "name.ext" → "name" (malloc'd) */
static char *stem_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    size_t n = dot && dot != name ? (size_t)(dot - name) : strlen(name);
    char *s = malloc(n + 1);
    if (s) memcpy(s, name, n), s[n] = 0;
    return s;
}

/* All pairs of one photo: k = p, p + P, … < count; their blurred PSNR into psnr[k]. */
static int synth_photo(const char *photos, const char *out, const char *name, const char *stem,
                       const char *other_name, int p, int nphotos, int count, uint64_t seed,
                       const sung_synth_opts *o, int max_side, int quiet, double *psnr, FILE *csv)
{
    char path[4096], blur_dir[4096], sharp_dir[4096];
    if (snprintf(path, sizeof path, "%s/%s", photos, name) >= (int)sizeof path ||
        snprintf(blur_dir, sizeof blur_dir, "%s/%s/blur", out, stem) >= (int)sizeof blur_dir ||
        snprintf(sharp_dir, sizeof sharp_dir, "%s/%s/sharp", out, stem) >= (int)sizeof sharp_dir)
        return cli_fail("synth", "%s/%s: path too long", out, stem);
    sung_error err;
    sung_image photo;
    if (photo_load("synth", path, max_side, &photo)) return 1;
    sung_image other = {0};
    int use_other = o->kind == SUNG_SYNTH_SHAKE && o->objects > 0 && strcmp(other_name, name);
    char opath[4096];
    if (use_other) {
        snprintf(opath, sizeof opath, "%s/%s", photos, other_name);
        if (photo_load("synth", opath, max_side, &other)) {
            sung_image_free(&photo);
            return 1;
        }
    }
    if (make_dirs(blur_dir) || make_dirs(sharp_dir)) {
        sung_image_free(&photo);
        sung_image_free(&other);
        return cli_fail("synth", "cannot create %s/%s/{blur,sharp}: %s", out, stem, strerror(errno));
    }
    int small = photo.w < o->w || photo.h < o->h, rc = 0;
    uint8_t *b8 = malloc((size_t)o->w * o->h * 3), *s8 = malloc((size_t)o->w * o->h * 3);
    if (!b8 || !s8) rc = cli_fail("synth", "out of memory");
    for (int k = p; k < count && !rc; k += nphotos) {
        int j = k / nphotos;
        uint64_t s = seed * SEED_STRIDE + (uint64_t)k;
        sung_image blur, sharp;
        char bp[4200], sp[4200];
        snprintf(bp, sizeof bp, "%s/%06d.png", blur_dir, j);
        snprintf(sp, sizeof sp, "%s/%06d.png", sharp_dir, j);
        sung_synth_info in;
        if (sung_synth_pair(&photo, use_other ? &other : NULL, o, s, &blur, &sharp, &in, &err)) {
            rc = cli_fail("synth", "%s: %s", path, err.msg);
        } else if (sung_image_save(&blur, bp, &err) || sung_image_save(&sharp, sp, &err)) {
            rc = cli_fail("synth", "%s", err.msg);
        } else {
            sung_image_to_u8(&blur, b8), sung_image_to_u8(&sharp, s8);
            psnr[k] = sung_psnr(b8, s8, o->w, o->h);
            if (!quiet)
                printf("%d/%d  %s/%s/{blur,sharp}/%06d.png  from %s%s, seed %llu: PSNR %.2f dB\n", k + 1, count,
                       out, stem, j, name, small ? " (scaled up)" : "", (unsigned long long)s, psnr[k]);
            if (csv)
                fprintf(csv, "%s/%06d.png,%s,%llu,%.4f,%s,%d,%g,%.3f,%.1f,%.5f,%.5f,%.3g,%.3g,%.3f,%d,%d,%d,%.3f\n", stem,
                        j, name, (unsigned long long)s, psnr[k], in.kind == SUNG_SYNTH_SHAKE ? "shake" : "trajectory",
                        in.frames, in.gamma, in.length, in.focal, in.roll, in.zoom, in.noise_a, in.noise_b,
                        in.highlight, in.object, in.kernel_w, in.kernel_h, in.scale);
        }
        sung_image_free(&blur);
        sung_image_free(&sharp);
    }
    free(b8), free(s8);
    sung_image_free(&photo);
    sung_image_free(&other);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean, spread and a 1 dB histogram of the blurred PSNRs. */
static void print_summary(const double *psnr, int n)
{
    double *v = malloc(sizeof *v * n);
    if (!v) return;
    double mean = 0;
    for (int i = 0; i < n; i++) v[i] = psnr[i], mean += psnr[i];
    mean /= n;
    qsort(v, n, sizeof *v, cmp_double);
    printf("blurred PSNR: mean %.2f dB, median %.2f, 5%% %.2f, 95%% %.2f, min %.2f, max %.2f\n", mean, v[n / 2],
           v[(int)(0.05 * (n - 1))], v[(int)(0.95 * (n - 1))], v[0], v[n - 1]);
    if (n >= 10 && isfinite(v[n - 1])) {
        int lo = (int)floor(v[0]), hi = (int)floor(v[n - 1]), most = 0;
        int *bins = calloc(hi - lo + 1, sizeof *bins);
        if (bins) {
            for (int i = 0; i < n; i++) bins[(int)floor(v[i]) - lo]++;
            for (int b = 0; b <= hi - lo; b++) most = bins[b] > most ? bins[b] : most;
            for (int b = 0; b <= hi - lo; b++)
                printf("  %3d-%-3d dB %5d %.*s\n", lo + b, lo + b + 1, bins[b], (bins[b] * 50 + most - 1) / most,
                       "##################################################");
        }
        free(bins);
    }
    free(v);
}

int cmd_synth(int argc, char **argv)
{
    const char *photos = NULL, *out = NULL, *size = "1280x720", *frame = NULL, *kind = "shake", *csv_path = NULL;
    sung_synth_opts o = sung_synth_defaults();
    int count = INT_MIN /* GIVEN */, quiet = 0, max_side = 0, threads = INT_MIN /* GIVEN */;
    uint64_t seed = 0;
    char objects_help[96];
    snprintf(objects_help, sizeof objects_help, "probability of a moving object in a pair (default %g)", o.objects);
    cli_opt opts[] = {
        {"--photos", 's', &photos, "folder of sharp photos (.png, .jpg, .jpeg)"},
        {"--out", 's', &out, "output folder: OUT/<photo>/{blur,sharp}/NNNNNN.png"},
        {"--count", 'i', &count, "number of pairs (cycling over the photos)"},
        {"--size", 's', &size, "WxH of every pair (default 1280x720, GoPro's)"},
        {"--frame", 's', &frame, "WxH of the camera frame each pair is a window of (default: --size)"},
        {"--kind", 's', &kind, "shake (default: 6-DoF camera shake) or trajectory (kernels, for tests)"},
        {"--seed", 'u', &seed, "seed S; pair k uses S*1000003 + k (default 0)"},
        {"--frames", 'i', &o.frames, "sub-frames per blur, odd 7..13 (default 0: random per pair)"},
        {"--gamma", 'f', &o.gamma, "2.2 (default: average in linear light, GoPro blur_gamma), 1 (sRGB), 0 (random)"},
        {"--noise", 'f', &o.noise, "scale of the Poisson-Gaussian noise, 0..10 (default 1; 0: none)"},
        {"--strength", 'f', &o.strength, "scale of the motion, 0..10 (default 1: GoPro-like)"},
        {"--objects", 'f', &o.objects, objects_help},
        {"--highlights", 'f', &o.highlights, "saturated lights' gain before the clip: up to 1 + X (default 4; 0: none)"},
        {"--max-side", 'i', &max_side, "first shrink each photo to this longer side, as train --photos does (0: no)"},
        {"--csv", 's', &csv_path, "write each pair's blurred PSNR and draws to this CSV file"},
        {"--threads", 'i', &threads, CLI_THREADS_HELP},
        {"--quiet", 'b', &quiet, "print only the summary"},
        {0},
    };
    const char *usage = "--photos DIR --out DIR --count N [--size WxH] [--kind shake|trajectory] [--seed S] "
                        "[options]";
    int n = cli_parse("synth", usage, opts, argc, argv, NULL, 0);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (cli_threads("synth", threads)) return 2;
    if (!photos) return cli_bad_value("synth", "a folder of photos is required: --photos DIR");
    if (!out) return cli_bad_value("synth", "an output folder is required: --out DIR");
    if (!GIVEN(count)) return cli_bad_value("synth", "the number of pairs is required: --count N");
    if (count < 1 || count > 1000000)
        return cli_bad_value("synth", "--count must be 1..1000000 (six-digit file names), not %d", count);
    if (parse_size(size, &o.w, &o.h))
        return cli_bad_value("synth", "--size must be WxH with sides 1..%d, like 1280x720, not '%s'", SUNG_MAX_SIDE, size);
    if (frame && parse_size(frame, &o.frame_w, &o.frame_h))
        return cli_bad_value("synth", "--frame must be WxH with sides 1..%d, like 1280x720, not '%s'", SUNG_MAX_SIDE,
                             frame);
    if (frame && (o.frame_w < o.w || o.frame_h < o.h))
        return cli_bad_value("synth", "--frame %s must hold --size %s", frame, size);
    if (!strcmp(kind, "shake")) o.kind = SUNG_SYNTH_SHAKE;
    else if (!strcmp(kind, "trajectory")) o.kind = SUNG_SYNTH_TRAJECTORY;
    else return cli_bad_value("synth", "--kind must be shake or trajectory, not '%s'", kind);
    if (o.frames != 0 && (o.frames < 7 || o.frames > 13 || o.frames % 2 == 0))
        return cli_bad_value("synth", "--frames must be odd and 7..13 (or 0: random), not %d", o.frames);
    if (o.gamma != 0 && o.gamma != 1 && o.gamma != 2.2)
        return cli_bad_value("synth", "--gamma must be 2.2, 1 or 0 (random), not %g", o.gamma);
    if (!(o.noise >= 0 && o.noise <= 10)) return cli_bad_value("synth", "--noise must be 0..10, not %g", o.noise);
    if (!(o.strength >= 0 && o.strength <= 10))
        return cli_bad_value("synth", "--strength must be 0..10, not %g", o.strength);
    if (!(o.objects >= 0 && o.objects <= 1)) return cli_bad_value("synth", "--objects must be 0..1, not %g", o.objects);
    if (!(o.highlights >= 0 && o.highlights <= 100))
        return cli_bad_value("synth", "--highlights must be 0..100, not %g", o.highlights);
    if (max_side < 0 || max_side > SUNG_MAX_SIDE) return cli_bad_value("synth", "--max-side must be 0..%d, not %d", SUNG_MAX_SIDE, max_side);
    if (!is_dir(photos)) return cli_fail("synth", "%s: not a folder", photos);
    char **names;
    int np;
    if (dir_images("synth", photos, &names, &np)) return 1;
    if (np == 0) {
        names_free(names, np);
        return cli_fail("synth", "%s: no photos (.png, .jpg or .jpeg); scripts/get-photos.sh fetches some", photos);
    }
    char **stems = calloc(np, sizeof *stems);
    double *psnr = calloc(count, sizeof *psnr);
    int rc = stems && psnr ? 0 : cli_fail("synth", "out of memory");
    for (int i = 0; i < np && !rc; i++) {
        if (!(stems[i] = stem_of(names[i]))) rc = cli_fail("synth", "out of memory");
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp(stems[i], stems[j]))
                rc = cli_fail("synth", "%s and %s in %s would both make the sequence '%s'; rename one",
                              names[j], names[i], photos, stems[i]);
    }
    FILE *csv = NULL;
    if (!rc && csv_path) {
        if (!(csv = fopen(csv_path, "w"))) rc = cli_fail("synth", "cannot write %s: %s", csv_path, strerror(errno));
        else
            fprintf(csv, "pair,photo,seed,blurred_psnr,kind,frames,gamma,length_px,focal_px,roll_rad,zoom,noise_a,"
                         "noise_b,highlight_gain,object,kernel_w,kernel_h,upscale\n");
    }
    double t0 = cli_now();
    for (int p = 0; p < np && p < count && !rc; p++)
        rc = synth_photo(photos, out, names[p], stems[p], names[(p + 1) % np], p, np, count, seed, &o, max_side, quiet, psnr,
                         csv);
    if (csv && fclose(csv) && !rc) rc = cli_fail("synth", "cannot write %s: %s", csv_path, strerror(errno));
    if (!rc) {
        printf("synth: %d pairs of %dx%d from %d photo%s into %s (%.1f s)\n", count, o.w, o.h,
               count < np ? count : np, (count < np ? count : np) == 1 ? "" : "s", out, cli_now() - t0);
        print_summary(psnr, count);
    }
    for (int i = 0; stems && i < np; i++) free(stems[i]);
    free(stems);
    free(psnr);
    names_free(names, np);
    return rc;
}
