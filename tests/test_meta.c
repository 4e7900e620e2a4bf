/* What an image file carries besides its pixels (src/image.c, src/jpeg.c, src/exif.c):
 *  - the EXIF orientation, all 8 of them, in a PNG eXIf chunk and a JPEG APP1 marker, in
 *    both byte orders: the loaded pixels are upright (the stored image is made here from
 *    the upright one with the EXIF standard's table of "0th row / 0th column" sides, not
 *    with the loader's formulas), and written again they stay upright with orientation 1;
 *  - EXIF blocks and ICC profiles survive load + save byte for byte (apart from the
 *    orientation value), also a profile split over several JPEG APP2 markers; a gray
 *    profile is not carried onto RGB output;
 *  - 16-bit PNG samples survive load + 16-bit save exactly;
 *  - hostile EXIF (truncated, offsets out of range, huge counts, a looping IFD chain,
 *    wrong types, random bytes) and malformed ICC markers load with no crash, the bad
 *    block ignored. */
#include <png.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exif.h"
#include "sung.h"
#include "testutil.h"

static char dir[] = "/tmp/sung-test-meta-XXXXXX";

static const char *tmp_path(const char *name) { return test_path(dir, name); }

static void put16(uint8_t *p, unsigned v, int be)
{
    if (be) p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
    else p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v, int be)
{
    for (int i = 0; i < 4; i++) p[be ? i : 3 - i] = (uint8_t)(v >> (24 - 8 * i));
}

/* A hand-made EXIF block: TIFF header, IFD0 with Make ("sung", out of line) and the
 * orientation o (a SHORT), then a next-IFD offset of 0. 46 bytes. */
static size_t make_exif(uint8_t *t, int o, int be)
{
    memset(t, 0, 46);
    t[0] = t[1] = be ? 'M' : 'I';
    put16(t + 2, 42, be);
    put32(t + 4, 8, be);
    put16(t + 8, 2, be);                                          /* two entries */
    put16(t + 10, 0x010F, be), put16(t + 12, 2, be), put32(t + 14, 5, be), put32(t + 18, 40, be); /* Make */
    put16(t + 22, 0x0112, be), put16(t + 24, 3, be), put32(t + 26, 1, be), put16(t + 30, (unsigned)o, be);
    put32(t + 34, 0, be);                                         /* no IFD1 */
    memcpy(t + 40, "sung", 5);
    return 46;
}

/* An ICC profile header for colour space cs ("RGB " or "GRAY") with one 'cprt' tag whose
 * text fills the profile to n bytes (n >= 164, a multiple of 4). */
static void make_icc(uint8_t *p, size_t n, const char *cs)
{
    memset(p, 0, n);
    put32(p, (uint32_t)n, 1);
    put32(p + 8, 0x04300000, 1);
    memcpy(p + 12, "mntr", 4);
    memcpy(p + 16, cs, 4);
    memcpy(p + 20, "XYZ ", 4);
    memcpy(p + 36, "acsp", 4);
    put32(p + 68, 0x0000F6D6, 1), put32(p + 72, 0x00010000, 1), put32(p + 76, 0x0000D32D, 1); /* D50 */
    put32(p + 128, 1, 1);
    memcpy(p + 132, "cprt", 4), put32(p + 136, 144, 1), put32(p + 140, (uint32_t)(n - 144), 1);
    memcpy(p + 144, "text", 4);
    for (size_t i = 152; i < n; i++) p[i] = (uint8_t)('a' + i % 26);
}

/* The upright test picture, W×H: for PNG every pixel distinct; for JPEG flat 8×8 blocks of
 * distinct colours (which survive JPEG at quality 100 to a level or two). */
static float upright(int x, int y, int c, int blocks)
{
    if (blocks) return (float)(((x / 8) * 3 + (y / 8) * 5 + c * 7) % 11) / 10.0f;
    return (float)((x * 7 + y * 31 + c * 101) % 251) / 255.0f;
}

/* Which visual side a stored row 0 / column 0 is, per orientation (EXIF 2.3, tag 0x0112):
 * T top, B bottom, L left, R right. */
static const char *const sides[9] = {"", "TL", "TR", "BR", "BL", "LT", "RT", "RB", "LB"};

/* The stored image of orientation o whose display is the upright W×H picture. */
static void make_stored(sung_image *s, int o, int W, int H, int blocks)
{
    sung_error e;
    int swap = sides[o][0] == 'L' || sides[o][0] == 'R';
    CHECK(sung_image_alloc(s, swap ? H : W, swap ? W : H, &e) == SUNG_OK, "%s", e.msg);
    for (int r = 0; r < s->h; r++)
        for (int k = 0; k < s->w; k++) {
            int vx = 0, vy = 0; /* the visual pixel that stored row r, column k shows */
            char rs = sides[o][0], cs = sides[o][1];
            /* row r runs along the visual side rs (r-th from it), column k from side cs */
            if (rs == 'T') vy = r;
            else if (rs == 'B') vy = H - 1 - r;
            else if (rs == 'L') vx = r;
            else vx = W - 1 - r;
            if (cs == 'L') vx = k;
            else if (cs == 'R') vx = W - 1 - k;
            else if (cs == 'T') vy = k;
            else vy = H - 1 - k;
            for (int c = 0; c < 3; c++) s->data[((size_t)r * s->w + k) * 3 + c] = upright(vx, vy, c, blocks);
        }
}

static float max_diff_upright(const sung_image *im, int W, int H, int blocks)
{
    if (im->w != W || im->h != H) return 1e9f;
    float d = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                d = fmaxf(d, fabsf(im->data[((size_t)y * W + x) * 3 + c] - upright(x, y, c, blocks)));
    return d;
}

static void test_orientation(void)
{
    const int W = 24, H = 16;
    for (int jpeg = 0; jpeg < 2; jpeg++)
        for (int o = 1; o <= 8; o++)
            for (int be = 0; be < 2; be++) {
                sung_image s, im = {0}, back = {0};
                sung_image_meta meta, meta2;
                sung_error e;
                uint8_t exif[46], want[46];
                size_t n = make_exif(exif, o, be);
                make_exif(want, 1, be);
                make_stored(&s, o, W, H, jpeg);
                sung_image_meta in = {8, 1, exif, n, NULL, 0};
                sung_image_save_opts so = {8, 100, &in};
                const char *p = tmp_path(jpeg ? "o.jpg" : "o.png"), *p2 = tmp_path(jpeg ? "o2.jpg" : "o2.png");
                float tol = jpeg ? 3.0f / 255 : 0;
                CHECK(sung_image_save_ex(&s, p, &so, &e) == SUNG_OK, "%s", e.msg);
                CHECK(sung_image_load_ex(&im, &meta, p, &e) == SUNG_OK, "%s", e.msg);
                float d = max_diff_upright(&im, W, H, jpeg);
                CHECK(d <= tol, "%s orientation %d (%s): %dx%d, max diff %g from upright", jpeg ? "JPEG" : "PNG", o,
                      be ? "MM" : "II", im.w, im.h, d);
                CHECK(meta.orientation == o && meta.exif_size == n && meta.exif && !memcmp(meta.exif, want, n),
                      "%s orientation %d: meta says %d, its EXIF is not the input's with orientation 1",
                      jpeg ? "JPEG" : "PNG", o, meta.orientation);
                /* written again: upright pixels, orientation 1, the same EXIF */
                so.meta = &meta;
                CHECK(sung_image_save_ex(&im, p2, &so, &e) == SUNG_OK, "%s", e.msg);
                CHECK(sung_image_load_ex(&back, &meta2, p2, &e) == SUNG_OK, "%s", e.msg);
                CHECK(max_diff_upright(&back, W, H, jpeg) <= 2 * tol && meta2.orientation == 1 &&
                          meta2.exif_size == n && meta2.exif && !memcmp(meta2.exif, want, n),
                      "%s orientation %d: written again, not upright with orientation 1", jpeg ? "JPEG" : "PNG", o);
                /* sung_image_load turns the pixels upright as well */
                sung_image_free(&back);
                CHECK(sung_image_load(&back, p, &e) == SUNG_OK && max_diff_upright(&back, W, H, jpeg) <= tol,
                      "sung_image_load: orientation %d not applied", o);
                sung_image_free(&s), sung_image_free(&im), sung_image_free(&back);
                sung_image_meta_free(&meta), sung_image_meta_free(&meta2);
            }
}

static void test_icc(void)
{
    sung_image im, back = {0};
    sung_error e;
    CHECK(sung_image_alloc(&im, 16, 8, &e) == SUNG_OK, "%s", e.msg);
    for (size_t i = 0; i < 16 * 8 * 3; i++) im.data[i] = (float)(i % 7) / 6;
    static uint8_t big[70000], small[164], gray[164];
    make_icc(big, sizeof big, "RGB "); /* two APP2 markers in a JPEG */
    make_icc(small, sizeof small, "RGB ");
    make_icc(gray, sizeof gray, "GRAY");
    const struct {
        const uint8_t *icc;
        size_t n;
    } profiles[] = {{small, sizeof small}, {big, sizeof big}};
    const char *names[] = {"icc.png", "icc.jpg"};
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < 2; f++) {
            sung_image_meta in = {8, 1, NULL, 0, (uint8_t *)profiles[k].icc, profiles[k].n}, meta;
            sung_image_save_opts so = {0, 0, &in};
            const char *p = tmp_path(names[f]);
            CHECK(sung_image_save_ex(&im, p, &so, &e) == SUNG_OK, "%s", e.msg);
            CHECK(sung_image_load_ex(&back, &meta, p, &e) == SUNG_OK, "%s", e.msg);
            CHECK(meta.icc && meta.icc_size == profiles[k].n && !memcmp(meta.icc, profiles[k].icc, profiles[k].n),
                  "%s: an ICC profile of %zu bytes came back as %zu bytes, or changed", names[f], profiles[k].n,
                  meta.icc_size);
            CHECK(!meta.exif && meta.depth == 8 && meta.orientation == 1, "%s: EXIF from nowhere", names[f]);
            sung_image_free(&back);
            sung_image_meta_free(&meta);
        }
    /* a gray profile does not describe the RGB output: not carried */
    sung_image_meta in = {8, 1, NULL, 0, gray, sizeof gray}, meta;
    sung_image_save_opts so = {0, 0, &in};
    CHECK(sung_image_save_ex(&im, tmp_path("gray.jpg"), &so, &e) == SUNG_OK, "%s", e.msg);
    CHECK(sung_image_load_ex(&back, &meta, tmp_path("gray.jpg"), &e) == SUNG_OK && !meta.icc,
          "a GRAY profile was kept for RGB pixels");
    sung_image_free(&back), sung_image_meta_free(&meta);
    sung_image_meta_free(NULL);
    sung_image_free(&im);
}

/* Reads a PNG's samples as they are in the file (16-bit big-endian kept). */
static int read_raw_png(const char *path, int *depth, uint16_t *out, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    *depth = png_get_bit_depth(png, info);
    size_t rb = png_get_rowbytes(png, info);
    if (png_get_color_type(png, info) != PNG_COLOR_TYPE_RGB || (size_t)w * h * 3 > max || rb > 1 << 16)
        png_error(png, "not the test's RGB");
    static unsigned char row[1 << 16];
    for (png_uint_32 y = 0; y < h; y++) {
        png_read_row(png, row, NULL);
        for (size_t i = 0; i < (size_t)w * 3; i++)
            out[y * w * 3 + i] = *depth == 16 ? (uint16_t)(row[2 * i] << 8 | row[2 * i + 1]) : row[i];
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return 0;
}

/* A 16-bit RGB gradient written with libpng: every sample distinct, most not k·257 */
static void write_png16(const char *path, int w, int h, uint16_t *v)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!f || setjmp(png_jmpbuf(png))) {
        CHECK(0, "writing %s", path);
        return;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    static unsigned char row[1 << 16];
    for (int y = 0; y < h; y++) {
        for (int i = 0; i < w * 3; i++) {
            uint16_t s = v[(size_t)y * w * 3 + i] = (uint16_t)((y * w * 3 + i) * 65535L / (w * h * 3 - 1));
            row[2 * i] = (unsigned char)(s >> 8), row[2 * i + 1] = (unsigned char)s;
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void test_16bit(void)
{
    enum { W = 40, H = 30 };
    static uint16_t v[W * H * 3], got[W * H * 3];
    write_png16(tmp_path("g16.png"), W, H, v);
    sung_image im;
    sung_image_meta meta;
    sung_error e;
    CHECK(sung_image_load_ex(&im, &meta, tmp_path("g16.png"), &e) == SUNG_OK && meta.depth == 16, "16-bit: %s",
          e.msg);
    sung_image_save_opts so = {16, 0, &meta};
    int depth = 0;
    CHECK(sung_image_save_ex(&im, tmp_path("g16out.png"), &so, &e) == SUNG_OK, "%s", e.msg);
    CHECK(read_raw_png(tmp_path("g16out.png"), &depth, got, W * H * 3) == 0 && depth == 16 &&
              !memcmp(v, got, sizeof v),
          "16-bit samples did not survive load + 16-bit save (depth %d)", depth);
    int not257 = 0;
    for (int i = 0; i < W * H * 3; i++) not257 += v[i] % 257 != 0;
    CHECK(not257 > W * H * 3 / 2, "the gradient would survive 8 bits");
    so.depth = 0; /* the default: 8 */
    CHECK(sung_image_save_ex(&im, tmp_path("g8out.png"), &so, &e) == SUNG_OK &&
              read_raw_png(tmp_path("g8out.png"), &depth, got, W * H * 3) == 0 && depth == 8,
          "default depth is not 8");
    so.depth = 16;
    CHECK(sung_image_save_ex(&im, tmp_path("g16.jpg"), &so, &e) == SUNG_ERR_ARG && strstr(e.msg, "8 bits") &&
              access(tmp_path("g16.jpg"), F_OK) != 0,
          "16-bit JPEG: '%s'", e.msg);
    so.depth = 12;
    CHECK(sung_image_save_ex(&im, tmp_path("g12.png"), &so, &e) == SUNG_ERR_ARG, "depth 12 accepted");
    so.depth = 8, so.quality = 101;
    CHECK(sung_image_save_ex(&im, tmp_path("q.jpg"), &so, &e) == SUNG_ERR_ARG, "quality 101 accepted");
    sung_image_free(&im);
    sung_image_meta_free(&meta);
}

/* A JPEG whose bytes after SOI start with the marker m (type FF t, payload n bytes). */
static void jpeg_with_marker(const char *path, const char *from, int t, const uint8_t *pay, size_t n)
{
    static uint8_t buf[1 << 20];
    FILE *f = fopen(from, "rb");
    size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    f = fopen(path, "wb");
    uint8_t hd[4] = {0xFF, (uint8_t)t, (uint8_t)((n + 2) >> 8), (uint8_t)(n + 2)};
    CHECK(f && len > 2 && n + 2 <= 65535 && fwrite(buf, 1, 2, f) == 2 && fwrite(hd, 1, 4, f) == 4 &&
              fwrite(pay, 1, n, f) == n && fwrite(buf + 2, 1, len - 2, f) == len - 2 && !fclose(f),
          "writing %s", path);
}

static void test_hostile(void)
{
    sung_image s;
    sung_error e;
    make_stored(&s, 1, 24, 16, 1);
    uint8_t good[46];
    make_exif(good, 6, 0);
    enum { NB = 12 };
    uint8_t bad[NB][64];
    size_t len[NB];
    int want[NB]; /* the orientation that should be applied (1: the block is ignored) */
    for (int i = 0; i < NB; i++) memcpy(bad[i], good, 46), len[i] = 46, want[i] = 1;
    len[0] = 4;                                    /* truncated in the header */
    len[1] = 20;                                   /* truncated in the entries */
    put32(bad[2] + 4, 4000, 0);                    /* IFD0 beyond the block */
    put32(bad[3] + 4, 0xFFFFFFFFu, 0);             /* IFD0 at 2^32 - 1 */
    put16(bad[4] + 8, 0xFFFF, 0);                  /* 65535 entries */
    put16(bad[5] + 24, 4, 0);                      /* orientation as a LONG */
    put32(bad[6] + 26, 0x40000000, 0);             /* count 2^30 */
    put16(bad[7] + 30, 9, 0);                      /* orientation 9 */
    put16(bad[8] + 30, 0, 0);                      /* orientation 0 */
    put32(bad[9] + 34, 8, 0), want[9] = 6;         /* IFD0's next IFD is itself: a loop, not followed */
    memcpy(bad[10], "XX", 2);                      /* no byte order */
    put16(bad[11] + 2, 43, 0);                     /* not 42 */
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < NB + 200; i++) {
            uint8_t rnd[64];
            const uint8_t *x = i < NB ? bad[i] : rnd;
            size_t n = i < NB ? len[i] : 1 + (size_t)(test_uniform() * 63);
            if (i >= NB) { /* the good block with random bytes changed: whatever it says, no crash */
                memcpy(rnd, good, 46);
                for (int k = 0; k < 1 + i % 5; k++) rnd[(int)(test_uniform() * 46)] = (uint8_t)(test_uniform() * 256);
            }
            sung_image_meta in = {8, 1, (uint8_t *)x, n, NULL, 0}, meta;
            sung_image_save_opts so = {8, 100, &in};
            const char *p = tmp_path(f ? "bad.jpg" : "bad.png");
            sung_image im = {0};
            CHECK(sung_image_save_ex(&s, p, &so, &e) == SUNG_OK, "%s", e.msg);
            sung_status st = sung_image_load_ex(&im, &meta, p, &e);
            CHECK(st == SUNG_OK, "%s with hostile EXIF %d: %s", p, i, e.msg);
            if (i < NB)
                CHECK(meta.orientation == want[i] && (want[i] == 1 ? im.w == 24 : im.w == 16),
                      "%s: hostile EXIF %d gave orientation %d (want %d)", p, i, meta.orientation, want[i]);
            else
                CHECK(st != SUNG_OK || (meta.orientation >= 1 && meta.orientation <= 8), "orientation %d",
                      meta.orientation);
            sung_image_free(&im);
            sung_image_meta_free(&meta);
        }
    /* exif.h on its own, at the edges: NULL, sizes 0..8 */
    CHECK(exif_check(NULL, 100) && !exif_orientation(NULL, 100) && exif_check(good, 7) && !exif_orientation(good, 30) &&
              exif_orientation(good, 46) == 6,
          "exif.h at the edges");
    /* malformed ICC markers (sequence 3 of 2, sequence 0, an empty one) are skipped */
    CHECK(sung_image_save(&s, tmp_path("plain.jpg"), &e) == SUNG_OK, "%s", e.msg);
    const uint8_t icc_bad[][16] = {"ICC_PROFILE\0\3\2ab", "ICC_PROFILE\0\0\1ab", "ICC_PROFILE\0\1\1"};
    const size_t icc_len[] = {16, 16, 14};
    for (int i = 0; i < 3; i++) {
        sung_image im = {0};
        sung_image_meta meta;
        jpeg_with_marker(tmp_path("badicc.jpg"), tmp_path("plain.jpg"), 0xE2, icc_bad[i], icc_len[i]);
        CHECK(sung_image_load_ex(&im, &meta, tmp_path("badicc.jpg"), &e) == SUNG_OK && !meta.icc && im.w == 24,
              "malformed ICC marker %d: %s", i, e.msg);
        sung_image_free(&im);
        sung_image_meta_free(&meta);
    }
    /* an "Exif" APP1 with nothing after it, and a second one after a good one (the first counts) */
    {
        sung_image im = {0};
        sung_image_meta meta;
        jpeg_with_marker(tmp_path("e0.jpg"), tmp_path("plain.jpg"), 0xE1, (const uint8_t *)"Exif\0\0", 6);
        CHECK(sung_image_load_ex(&im, &meta, tmp_path("e0.jpg"), &e) == SUNG_OK && !meta.exif && meta.orientation == 1,
              "an empty Exif marker: %s", e.msg);
        sung_image_free(&im), sung_image_meta_free(&meta);
    }
    sung_image_free(&s);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    test_orientation();
    test_icc();
    test_16bit();
    test_hostile();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!test_failures) CHECK(system(cmd) == 0, "cleanup");
    else fprintf(stderr, "left %s for inspection\n", dir);
    return test_summary("test_meta");
}
