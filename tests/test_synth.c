/* Synthetic pairs (src/synth.c) and JPEG I/O (src/jpeg.c), on images made here.
 *
 * synth: sizes; values in [0, 1]; deterministic for a seed (also across thread counts)
 * and different for another; the sharp image is an exact crop of the photo (the
 * unwarped middle sub-frame); with no motion blur == sharp; blur has less gradient
 * energy than sharp; sub-frames are averaged in linear light (a 0/1 checkerboard keeps
 * mean(blur^2.2) = 1/2 while blur itself brightens); the noise has the σ asked for;
 * photos too small are scaled up, impossible requests are errors.
 * JPEG: quality-100 round trip; gray and progressive files; CMYK, oversized, truncated,
 * corrupt and missing files are errors, never crashes. */
#include <stdio.h> /* before jpeglib.h */
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "jpeg.h"
#include "sung.h"
#include "testutil.h"

static char dir[] = "/tmp/sung-test-synth-XXXXXX";

static const char *tmp_path(const char *name)
{
    static char p[4][4096];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

/* A w×h "photo" of 8-bit values: fine random texture, a few flat rectangles and discs
 * with sharp edges, so that every crop position is unique and motion shows. */
static void make_photo(sung_image *im, int w, int h)
{
    sung_error e;
    CHECK(sung_image_alloc(im, w, h, &e) == SUNG_OK, "%s", e.msg);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *p = im->data + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) p[c] = (float)(int)(256 * test_uniform()) / 255.0f;
            if ((x / 17 + y / 13) % 4 == 0) p[0] = 0.9f, p[1] = 0.2f, p[2] = 0.1f;
            int dx = x - w / 3, dy = y - h / 2;
            if (dx * dx + dy * dy < (h / 5) * (h / 5)) p[0] = p[1] = p[2] = 0.05f;
        }
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static int same_image(const sung_image *a, const sung_image *b)
{
    return a->w == b->w && a->h == b->h && !memcmp(a->data, b->data, (size_t)a->w * a->h * 3 * sizeof(float));
}

/* Σ of squared forward differences over all channels, per pixel */
static double grad_energy(const sung_image *im)
{
    double s = 0;
    for (int y = 0; y + 1 < im->h; y++)
        for (int x = 0; x + 1 < im->w; x++)
            for (int c = 0; c < 3; c++) {
                const float *p = im->data + ((size_t)y * im->w + x) * 3 + c;
                double gx = p[3] - p[0], gy = p[(size_t)im->w * 3] - p[0];
                s += gx * gx + gy * gy;
            }
    return s / ((double)(im->w - 1) * (im->h - 1));
}

/* Where in photo is `crop` to within tol (max abs)? 1 and *ox, *oy if somewhere. */
static int find_crop(const sung_image *photo, const sung_image *crop, double tol, int *ox, int *oy)
{
    for (int y0 = 0; y0 + crop->h <= photo->h; y0++)
        for (int x0 = 0; x0 + crop->w <= photo->w; x0++) {
            int ok = 1;
            for (int y = 0; y < crop->h && ok; y++) {
                const float *a = photo->data + ((size_t)(y0 + y) * photo->w + x0) * 3;
                const float *b = crop->data + (size_t)y * crop->w * 3;
                for (int i = 0; i < crop->w * 3 && ok; i++) ok = fabs((double)a[i] - b[i]) <= tol;
            }
            if (ok) {
                *ox = x0, *oy = y0;
                return 1;
            }
        }
    return 0;
}

static void test_synth_basics(const sung_image *photo)
{
    sung_error e;
    sung_synth_opts d = sung_synth_defaults();
    CHECK(d.w == 0 && d.h == 0 && d.frames == 0 && d.strength == 1.0 && d.noise >= 0 && d.noise <= 0.05,
          "defaults: %dx%d frames %d strength %g noise %g", d.w, d.h, d.frames, d.strength, d.noise);

    sung_synth_opts o = d;
    o.w = 96, o.h = 64;
    sung_image b1, s1, b2, s2, b3, s3;
    CHECK(sung_synth_pair(photo, &o, 42, &b1, &s1, &e) == SUNG_OK, "synth: %s", e.msg);
    CHECK(b1.w == 96 && b1.h == 64 && s1.w == 96 && s1.h == 64, "sizes %dx%d / %dx%d", b1.w, b1.h, s1.w, s1.h);
    size_t n = (size_t)96 * 64 * 3;
    int in_range = 1;
    for (size_t i = 0; i < n; i++)
        in_range &= b1.data[i] >= 0 && b1.data[i] <= 1 && s1.data[i] >= 0 && s1.data[i] <= 1;
    CHECK(in_range, "values outside [0, 1] (or NaN)");

    /* determinism: same seed, same pixels (also on one thread); another seed differs */
    CHECK(sung_synth_pair(photo, &o, 42, &b2, &s2, &e) == SUNG_OK, "synth: %s", e.msg);
    CHECK(same_image(&b1, &b2) && same_image(&s1, &s2), "same seed, different pixels");
    sung_image_free(&b2), sung_image_free(&s2);
#ifdef _OPENMP
    int threads = omp_get_max_threads();
    omp_set_num_threads(threads > 1 ? 1 : 3);
    CHECK(sung_synth_pair(photo, &o, 42, &b2, &s2, &e) == SUNG_OK, "synth: %s", e.msg);
    CHECK(same_image(&b1, &b2) && same_image(&s1, &s2), "the result depends on the number of threads");
    omp_set_num_threads(threads);
    sung_image_free(&b2), sung_image_free(&s2);
#endif
    CHECK(sung_synth_pair(photo, &o, 43, &b3, &s3, &e) == SUNG_OK, "synth: %s", e.msg);
    CHECK(!same_image(&b1, &b3) && !same_image(&s1, &s3), "seeds 42 and 43 give the same pair");
    sung_image_free(&b3), sung_image_free(&s3);

    /* the sharp image is the unwarped middle sub-frame: an exact crop of the photo */
    int ox, oy;
    CHECK(find_crop(photo, &s1, 1e-5, &ox, &oy), "sharp is not a crop of the photo");
    sung_image_free(&b1), sung_image_free(&s1);

    /* w = h = 0: the photo's size (the motion margin is found by scaling up) */
    sung_synth_opts z = d;
    CHECK(sung_synth_pair(photo, &z, 5, &b1, &s1, &e) == SUNG_OK, "synth at the photo's size: %s", e.msg);
    CHECK(b1.w == photo->w && b1.h == photo->h && s1.w == photo->w && s1.h == photo->h,
          "w = h = 0 gave %dx%d, not the photo's %dx%d", b1.w, b1.h, photo->w, photo->h);
    sung_image_free(&b1), sung_image_free(&s1);

    /* every frame count is accepted, and it changes the blur */
    CHECK(sung_synth_pair(photo, &(sung_synth_opts){96, 64, 7, 0, 1}, 9, &b1, &s1, &e) == SUNG_OK, "7: %s", e.msg);
    CHECK(sung_synth_pair(photo, &(sung_synth_opts){96, 64, 13, 0, 1}, 9, &b2, &s2, &e) == SUNG_OK, "13: %s", e.msg);
    CHECK(!same_image(&b1, &b2), "7 and 13 sub-frames give the same blur");
    sung_image_free(&b1), sung_image_free(&s1), sung_image_free(&b2), sung_image_free(&s2);
}

static void test_synth_no_motion(const sung_image *photo)
{
    sung_error e;
    sung_synth_opts o = {.w = 120, .h = 80, .frames = 0, .noise = 0, .strength = 0};
    for (uint64_t seed = 0; seed < 3; seed++) {
        sung_image b, s;
        CHECK(sung_synth_pair(photo, &o, seed, &b, &s, &e) == SUNG_OK, "synth: %s", e.msg);
        size_t n = (size_t)b.w * b.h * 3;
        double d = max_abs_diff(b.data, s.data, n);
        CHECK(d <= 1e-5, "strength 0: blur differs from sharp by %g", d);
        int ox, oy;
        CHECK(find_crop(photo, &s, 1e-5, &ox, &oy), "strength 0: sharp is not a crop of the photo");
        sung_image_free(&b), sung_image_free(&s);
    }
}

static void test_synth_blurs(void)
{
    sung_error e;
    sung_image photo;
    make_photo(&photo, 320, 240);
    sung_synth_opts o = {.w = 160, .h = 120, .frames = 0, .noise = 0, .strength = 5};
    for (uint64_t seed = 0; seed < 6; seed++) {
        sung_image b, s;
        CHECK(sung_synth_pair(&photo, &o, seed, &b, &s, &e) == SUNG_OK, "synth: %s", e.msg);
        double gb = grad_energy(&b), gs = grad_energy(&s);
        CHECK(gb < 0.9 * gs, "seed %llu: blur's gradient energy %g is not below 0.9 x sharp's %g",
              (unsigned long long)seed, gb, gs);
        sung_image_free(&b), sung_image_free(&s);
    }
    sung_image_free(&photo);
}

static void test_synth_linear_light(void)
{
    sung_error e;
    sung_image photo, flat;
    CHECK(sung_image_alloc(&photo, 300, 200, &e) == SUNG_OK && sung_image_alloc(&flat, 300, 200, &e) == SUNG_OK,
          "%s", e.msg);
    for (int y = 0; y < 200; y++)
        for (int x = 0; x < 300; x++)
            for (int c = 0; c < 3; c++) {
                photo.data[((size_t)y * 300 + x) * 3 + c] = (float)((x + y) & 1);
                flat.data[((size_t)y * 300 + x) * 3 + c] = 0.3f + 0.2f * c;
            }
    sung_synth_opts o = {.w = 200, .h = 120, .frames = 0, .noise = 0, .strength = 4};
    for (uint64_t seed = 0; seed < 3; seed++) {
        sung_image b, s;
        CHECK(sung_synth_pair(&photo, &o, seed, &b, &s, &e) == SUNG_OK, "synth: %s", e.msg);
        size_t n = (size_t)b.w * b.h * 3;
        double lin = 0, enc = 0;
        for (size_t i = 0; i < n; i++) lin += pow(b.data[i], 2.2), enc += b.data[i];
        lin /= n, enc /= n;
        /* averaging 0s and 1s in linear light keeps the linear mean at 1/2, and the
         * re-encoded grey is brighter than 1/2; averaging the sRGB values would keep
         * mean(blur) at 1/2 instead */
        CHECK(fabs(lin - 0.5) < 0.01, "seed %llu: mean(blur^2.2) = %g, not 1/2", (unsigned long long)seed, lin);
        CHECK(enc > 0.55, "seed %llu: mean(blur) = %g: the sub-frames were not averaged in linear light",
              (unsigned long long)seed, enc);
        sung_image_free(&b), sung_image_free(&s);
        /* a flat photo stays flat under any motion */
        CHECK(sung_synth_pair(&flat, &o, seed, &b, &s, &e) == SUNG_OK, "synth: %s", e.msg);
        double d = 0;
        for (size_t i = 0; i < n; i++) d = fmax(d, fabs(b.data[i] - (0.3 + 0.2 * (i % 3))));
        CHECK(d < 1e-5, "seed %llu: a flat photo's blur is off by %g", (unsigned long long)seed, d);
        sung_image_free(&b), sung_image_free(&s);
    }
    sung_image_free(&photo), sung_image_free(&flat);
}

static void test_synth_noise(void)
{
    sung_error e;
    sung_image grey, b, s;
    CHECK(sung_image_alloc(&grey, 200, 150, &e) == SUNG_OK, "%s", e.msg);
    for (size_t i = 0; i < (size_t)200 * 150 * 3; i++) grey.data[i] = 0.5f;
    sung_synth_opts o = {.w = 160, .h = 120, .frames = 9, .noise = 0.05, .strength = 1};
    CHECK(sung_synth_pair(&grey, &o, 3, &b, &s, &e) == SUNG_OK, "synth: %s", e.msg);
    size_t n = (size_t)b.w * b.h * 3;
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++) m += b.data[i] - s.data[i];
    m /= n;
    for (size_t i = 0; i < n; i++) v += (b.data[i] - s.data[i] - m) * (b.data[i] - s.data[i] - m);
    double sd = sqrt(v / n);
    CHECK(fabs(m) < 0.002 && fabs(sd - 0.05) < 0.002, "noise: mean %g, sigma %g (want 0, 0.05)", m, sd);
    sung_image_free(&b), sung_image_free(&s), sung_image_free(&grey);
}

static void test_synth_errors(const sung_image *photo)
{
    sung_error e;
    sung_image b, s, tiny, small;
    const sung_synth_opts bad[] = {
        {96, 64, 8, 0, 1},          /* even frame count */
        {96, 64, 5, 0, 1},          /* too few */
        {96, 64, 15, 0, 1},         /* too many */
        {96, 64, 0, -0.1, 1},       /* negative noise */
        {96, 64, 0, 0, -1},         /* negative strength */
        {96, 64, 0, 0, 11},         /* too strong */
        {96, 64, 0, NAN, 1},        /* NaN */
        {40000, 64, 0, 0, 1},       /* too wide */
        {-5, 64, 0, 0, 1},          /* negative size */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        e.msg[0] = 0;
        sung_status st = sung_synth_pair(photo, &bad[i], 1, &b, &s, &e);
        CHECK(st == SUNG_ERR_ARG && e.msg[0] && !b.data && !s.data, "bad options %zu: status %d, '%s'", i, st, e.msg);
    }
    /* a photo far too small for the request: an error, not an 80× zoom */
    CHECK(sung_image_alloc(&tiny, 4, 3, &e) == SUNG_OK, "%s", e.msg);
    for (int i = 0; i < 36; i++) tiny.data[i] = 0.5f;
    sung_synth_opts o = {200, 150, 0, 0, 1};
    e.msg[0] = 0;
    CHECK(sung_synth_pair(&tiny, &o, 1, &b, &s, &e) == SUNG_ERR_ARG && strstr(e.msg, "too small") && !b.data,
          "a 4x3 photo for 200x150 pairs: '%s'", e.msg);
    sung_image empty = {0};
    CHECK(sung_synth_pair(&empty, &o, 1, &b, &s, &e) == SUNG_ERR_ARG, "an empty photo");
    /* a photo somewhat smaller than the pairs is scaled up */
    make_photo(&small, 60, 40);
    o = (sung_synth_opts){96, 64, 0, 0.01, 1};
    CHECK(sung_synth_pair(&small, &o, 1, &b, &s, &e) == SUNG_OK && b.w == 96 && s.h == 64, "scale up: %s", e.msg);
    sung_image_free(&b), sung_image_free(&s), sung_image_free(&small), sung_image_free(&tiny);
}

/* ---- JPEG ---------------------------------------------------------------------------- */

/* A JPEG written straight with libjpeg: comps 1 (gray), 3 (RGB) or 4 (CMYK). */
static void write_raw_jpeg(const char *path, int w, int h, int comps, int progressive)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = w, c.image_height = h, c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    unsigned char *row = malloc((size_t)w * comps);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < w * comps; i++) row[i] = (unsigned char)((i * 7 + c.next_scanline * 3) & 255);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    fclose(f);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* copies the first `keep` bytes of src to dst, then `junk` bytes from offset `at` on
 * are overwritten with a pattern (junk 0: none) */
static void copy_damaged(const char *src, const char *dst, long keep, long at, long junk)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    CHECK(a && b, "copy %s", src);
    if (!a || !b) {
        if (a) fclose(a);
        if (b) fclose(b);
        return;
    }
    for (long i = 0; i < keep; i++) {
        int ch = fgetc(a);
        if (ch == EOF) break;
        if (i >= at && i < at + junk) ch = (int)((i * 37 + 11) & 255);
        fputc(ch, b);
    }
    fclose(a), fclose(b);
}

static void test_jpeg(const sung_image *photo)
{
    sung_error e;
    sung_image back;
    const char *p100 = tmp_path("q100.jpg");
    CHECK(image_save_jpeg(photo, p100, 100, &e) == SUNG_OK, "save q100: %s", e.msg);
    CHECK(sung_image_load(&back, p100, &e) == SUNG_OK, "load q100: %s", e.msg);
    if (back.data) {
        CHECK(back.w == photo->w && back.h == photo->h, "q100 size %dx%d", back.w, back.h);
        size_t n = (size_t)back.w * back.h * 3;
        double mae = 0;
        for (size_t i = 0; i < n; i++) mae += fabs(back.data[i] - photo->data[i]);
        mae /= n;
        CHECK(mae < 2.0 / 255, "q100 round trip: mean abs error %g x 1/255", mae * 255);
        int k8 = 1; /* values are k/255 */
        for (size_t i = 0; i < n; i++) k8 &= fabsf(back.data[i] * 255 - rintf(back.data[i] * 255)) < 1e-4f;
        CHECK(k8, "decoded values are not k/255");
    }
    sung_image_free(&back);

    /* through sung_image_save (.jpg: quality 95, atomic) */
    const char *p95 = tmp_path("q95.JPG");
    CHECK(sung_image_save(photo, p95, &e) == SUNG_OK, "sung_image_save .JPG: %s", e.msg);
    CHECK(sung_image_load(&back, p95, &e) == SUNG_OK && back.w == photo->w, "load q95: %s", e.msg);
    sung_image_free(&back);

    /* argument errors of the writer */
    CHECK(image_save_jpeg(photo, tmp_path("q0.jpg"), 0, &e) == SUNG_ERR_ARG, "quality 0 accepted");
    CHECK(image_save_jpeg(photo, tmp_path("q101.jpg"), 101, &e) == SUNG_ERR_ARG, "quality 101 accepted");
    CHECK(image_save_jpeg(photo, tmp_path("no/such/dir.jpg"), 90, &e) == SUNG_ERR_IO, "unwritable path: %s", e.msg);

    /* gray → replicated; progressive decodes like baseline */
    write_raw_jpeg(tmp_path("gray.jpg"), 33, 21, 1, 0);
    CHECK(sung_image_load(&back, tmp_path("gray.jpg"), &e) == SUNG_OK, "gray: %s", e.msg);
    if (back.data) {
        int rep = back.w == 33 && back.h == 21;
        for (int i = 0; i < back.w * back.h && rep; i++)
            rep = back.data[3 * i] == back.data[3 * i + 1] && back.data[3 * i] == back.data[3 * i + 2];
        CHECK(rep, "gray JPEG: channels not replicated (or size %dx%d)", back.w, back.h);
    }
    sung_image_free(&back);
    sung_image base, prog;
    write_raw_jpeg(tmp_path("base.jpg"), 64, 48, 3, 0);
    write_raw_jpeg(tmp_path("prog.jpg"), 64, 48, 3, 1);
    CHECK(sung_image_load(&base, tmp_path("base.jpg"), &e) == SUNG_OK, "baseline: %s", e.msg);
    CHECK(sung_image_load(&prog, tmp_path("prog.jpg"), &e) == SUNG_OK, "progressive: %s", e.msg);
    if (base.data && prog.data)
        CHECK(max_abs_diff(base.data, prog.data, (size_t)64 * 48 * 3) <= 2.0 / 255, "progressive decodes differently");

    /* CMYK: a clear error */
    write_raw_jpeg(tmp_path("cmyk.jpg"), 16, 16, 4, 0);
    e.msg[0] = 0;
    CHECK(sung_image_load(&back, tmp_path("cmyk.jpg"), &e) == SUNG_ERR_FORMAT && strstr(e.msg, "CMYK") && !back.data,
          "CMYK: '%s'", e.msg);

    /* truncated (at several points) and corrupted files: errors, no crash, nothing kept */
    long size = file_size(tmp_path("base.jpg"));
    CHECK(size > 200, "base.jpg is %ld bytes", size);
    const long cuts[] = {3, 20, size / 3, size / 2, size - 2};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        copy_damaged(tmp_path("base.jpg"), tmp_path("cut.jpg"), cuts[i], 0, 0);
        e.msg[0] = 0;
        sung_status st = sung_image_load(&back, tmp_path("cut.jpg"), &e);
        CHECK(st == SUNG_ERR_FORMAT && e.msg[0] && !back.data, "truncated at %ld of %ld bytes: status %d '%s'",
              cuts[i], size, st, e.msg);
        sung_image_free(&back);
    }
    copy_damaged(tmp_path("base.jpg"), tmp_path("junk.jpg"), size, 3, 40); /* headers overwritten */
    CHECK(sung_image_load(&back, tmp_path("junk.jpg"), &e) != SUNG_OK && !back.data, "corrupt headers accepted");
    copy_damaged(tmp_path("base.jpg"), tmp_path("junk2.jpg"), size, size - 300, 200); /* scan data */
    CHECK(sung_image_load(&back, tmp_path("junk2.jpg"), &e) != SUNG_OK && !back.data, "corrupt scan data accepted");
    /* the loader called directly on a file that is not a JPEG */
    CHECK(image_load_jpeg(&back, tmp_path("gray.jpg/nothing"), &e) == SUNG_ERR_IO, "missing file");
    FILE *f = fopen(tmp_path("text.jpg"), "wb");
    if (f) fputs("not a jpeg at all", f), fclose(f);
    CHECK(image_load_jpeg(&back, tmp_path("text.jpg"), &e) == SUNG_ERR_FORMAT && !back.data, "text as JPEG");

    /* sides over 32768: the SOF header of base.jpg patched to 40000×48 */
    f = fopen(tmp_path("base.jpg"), "rb");
    unsigned char *buf = malloc(size);
    CHECK(f && buf && fread(buf, 1, size, f) == (size_t)size, "read base.jpg");
    if (f) fclose(f);
    long sof = -1;
    for (long i = 0; buf && i + 9 < size && sof < 0; i++)
        if (buf[i] == 0xFF && (buf[i + 1] == 0xC0 || buf[i + 1] == 0xC2)) sof = i;
    CHECK(sof > 0, "no SOF marker in base.jpg");
    if (sof > 0) {
        buf[sof + 7] = 40000 >> 8, buf[sof + 8] = 40000 & 255; /* width: after length, precision, height */
        f = fopen(tmp_path("huge.jpg"), "wb");
        if (f) fwrite(buf, 1, size, f), fclose(f);
        e.msg[0] = 0;
        CHECK(sung_image_load(&back, tmp_path("huge.jpg"), &e) == SUNG_ERR_FORMAT && strstr(e.msg, "32768") &&
                  !back.data,
              "a 40000-wide JPEG: '%s'", e.msg);
    }
    free(buf);
    sung_image_free(&base), sung_image_free(&prog);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    sung_image photo;
    make_photo(&photo, 200, 150);
    test_synth_basics(&photo);
    test_synth_no_motion(&photo);
    test_synth_blurs();
    test_synth_linear_light();
    test_synth_noise();
    test_synth_errors(&photo);
    test_jpeg(&photo);
    sung_image_free(&photo);

    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!test_failures) CHECK(system(cmd) == 0, "cleanup");
    else fprintf(stderr, "left %s for inspection\n", dir);
    return test_summary("test_synth");
}
