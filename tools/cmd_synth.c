/* sung synth: GoPro-layout blurred/sharp pairs from a folder of sharp photos (SPEC §9).
 *
 * The photos are the .png/.jpg/.jpeg files directly in --photos, sorted by name; P of
 * them. Pair k (0 <= k < count) comes from photo k mod P with seed S·1000003 + k (mod
 * 2^64), and is written as OUT/<stem>/blur/NNNNNN.png and OUT/<stem>/sharp/NNNNNN.png,
 * NNNNNN = k div P, its number within that photo's sequence (<stem>: the file name
 * without its extension). Every pair has the --size; a photo smaller than that (plus the
 * camera motion) is scaled up by sung_synth_pair (at most 8×). Same arguments, same
 * files, byte for byte; existing files are replaced atomically. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

#define SEED_STRIDE 1000003ull

static int parse_size(const char *s, int *w, int *h)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (errno || end == s || (*end != 'x' && *end != 'X') || a < 1 || a > 32768) return -1;
    const char *t = end + 1;
    long b = strtol(t, &end, 10);
    if (errno || end == t || *end || b < 1 || b > 32768) return -1;
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

/* All pairs of one photo: k = p, p + P, … < count. */
static int synth_photo(const char *photos, const char *out, const char *name, const char *stem, int p,
                       int nphotos, int count, uint64_t seed, const sung_synth_opts *o, int quiet)
{
    char path[4096], blur_dir[4096], sharp_dir[4096];
    if (snprintf(path, sizeof path, "%s/%s", photos, name) >= (int)sizeof path ||
        snprintf(blur_dir, sizeof blur_dir, "%s/%s/blur", out, stem) >= (int)sizeof blur_dir ||
        snprintf(sharp_dir, sizeof sharp_dir, "%s/%s/sharp", out, stem) >= (int)sizeof sharp_dir)
        return cli_fail("synth", "%s/%s: path too long", out, stem);
    sung_error err;
    sung_image photo;
    if (sung_image_load(&photo, path, &err)) return cli_fail("synth", "%s", err.msg);
    if (make_dirs(blur_dir) || make_dirs(sharp_dir)) {
        sung_image_free(&photo);
        return cli_fail("synth", "cannot create %s/%s/{blur,sharp}: %s", out, stem, strerror(errno));
    }
    int small = photo.w < o->w || photo.h < o->h, rc = 0;
    for (int k = p; k < count && !rc; k += nphotos) {
        int j = k / nphotos;
        uint64_t s = seed * SEED_STRIDE + (uint64_t)k;
        sung_image blur, sharp;
        char bp[4200], sp[4200];
        snprintf(bp, sizeof bp, "%s/%06d.png", blur_dir, j);
        snprintf(sp, sizeof sp, "%s/%06d.png", sharp_dir, j);
        if (sung_synth_pair(&photo, o, s, &blur, &sharp, &err))
            rc = cli_fail("synth", "%s: %s", path, err.msg);
        else if (sung_image_save(&blur, bp, &err) || sung_image_save(&sharp, sp, &err))
            rc = cli_fail("synth", "%s", err.msg);
        else if (!quiet)
            printf("%d/%d  %s/%s/{blur,sharp}/%06d.png  from %s%s, seed %llu\n", k + 1, count, out, stem, j,
                   name, small ? " (scaled up)" : "", (unsigned long long)s);
        sung_image_free(&blur);
        sung_image_free(&sharp);
    }
    sung_image_free(&photo);
    return rc;
}

int cmd_synth(int argc, char **argv)
{
    const char *photos = NULL, *out = NULL, *size = "1280x720";
    sung_synth_opts o = sung_synth_defaults();
    int count = -1, quiet = 0;
    uint64_t seed = 0;
    char noise_help[96];
    snprintf(noise_help, sizeof noise_help, "sigma of the Gaussian noise added to the blurred image (default %g)",
             o.noise);
    cli_opt opts[] = {
        {"--photos", 's', &photos, "folder of sharp photos (.png, .jpg, .jpeg)"},
        {"--out", 's', &out, "output folder: OUT/<photo>/{blur,sharp}/NNNNNN.png"},
        {"--count", 'i', &count, "number of pairs (cycling over the photos)"},
        {"--size", 's', &size, "WxH of every pair (default 1280x720, GoPro's)"},
        {"--seed", 'u', &seed, "seed S; pair k uses S*1000003 + k (default 0)"},
        {"--frames", 'i', &o.frames, "sub-frames per blur, odd 7..13 (default 0: random per pair)"},
        {"--noise", 'f', &o.noise, noise_help},
        {"--strength", 'f', &o.strength, "scale of the camera motion, 0..10 (default 1: GoPro-like)"},
        {"--quiet", 'b', &quiet, "print only the summary"},
        {0},
    };
    const char *usage = "--photos DIR --out DIR --count N [--size WxH] [--seed S] [--frames N] [--noise X] "
                        "[--strength X]";
    int n = cli_parse("synth", usage, opts, argc, argv, NULL, 0);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (!photos) return cli_bad_value("synth", "a folder of photos is required: --photos DIR");
    if (!out) return cli_bad_value("synth", "an output folder is required: --out DIR");
    if (count == -1) return cli_bad_value("synth", "the number of pairs is required: --count N");
    if (count < 1 || count > 1000000)
        return cli_bad_value("synth", "--count must be 1..1000000 (six-digit file names), not %d", count);
    if (parse_size(size, &o.w, &o.h))
        return cli_bad_value("synth", "--size must be WxH with sides 1..32768, like 1280x720, not '%s'", size);
    if (o.frames != 0 && (o.frames < 7 || o.frames > 13 || o.frames % 2 == 0))
        return cli_bad_value("synth", "--frames must be odd and 7..13 (or 0: random), not %d", o.frames);
    if (!(o.noise >= 0 && o.noise <= 1)) return cli_bad_value("synth", "--noise must be 0..1, not %g", o.noise);
    if (!(o.strength >= 0 && o.strength <= 10))
        return cli_bad_value("synth", "--strength must be 0..10, not %g", o.strength);
    if (!is_dir(photos)) return cli_fail("synth", "%s: not a folder", photos);

    char **names;
    int np;
    if (dir_images("synth", photos, &names, &np)) return 1;
    if (np == 0) {
        names_free(names, np);
        return cli_fail("synth", "%s: no photos (.png, .jpg or .jpeg); scripts/get-photos.sh fetches some", photos);
    }
    char **stems = calloc(np, sizeof *stems);
    int rc = stems ? 0 : cli_fail("synth", "out of memory");
    for (int i = 0; i < np && !rc; i++) {
        if (!(stems[i] = stem_of(names[i]))) rc = cli_fail("synth", "out of memory");
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp(stems[i], stems[j]))
                rc = cli_fail("synth", "%s and %s in %s would both make the sequence '%s'; rename one",
                              names[j], names[i], photos, stems[i]);
    }
    double t0 = cli_now();
    for (int p = 0; p < np && p < count && !rc; p++)
        rc = synth_photo(photos, out, names[p], stems[p], p, np, count, seed, &o, quiet);
    if (!rc)
        printf("synth: %d pairs of %dx%d from %d photo%s into %s (%.1f s)\n", count, o.w, o.h,
               count < np ? count : np, (count < np ? count : np) == 1 ? "" : "s", out, cli_now() - t0);
    for (int i = 0; stems && i < np; i++) free(stems[i]);
    free(stems);
    names_free(names, np);
    return rc;
}
