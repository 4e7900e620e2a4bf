/* Image files against hostile input and failing disks (src/image.c, src/jpeg.c):
 *  - decompression bombs: a PNG or JPEG whose header declares more than SUNG_MAX_PIXELS
 *    is refused from the header, with the size and the limit in the message (the limit
 *    itself is allowed); a side over SUNG_MAX_SIDE is named as such;
 *  - a FIFO or a folder named x.png is refused at once (a FIFO used to hang forever);
 *  - a PNG that libpng gives up on half-way leaks nothing (the row array did);
 *  - a write into a missing folder, or one the disk refuses (RLIMIT_FSIZE: EFBIG, what a
 *    full disk's ENOSPC looks like to the writer), names the output, not its temporary
 *    file, with the system's reason, and leaves neither;
 *  - temporary files of the same output left by a killed writer are removed by the next
 *    write; those of running processes and of other outputs are kept;
 *  - every kind of PNG the README promises reads as RGB k/(2^depth − 1): gray (1, 4, 8
 *    and 16 bits, replicated), gray + alpha and RGBA (alpha dropped, not composited),
 *    palette (2 and 8 bits, the palette's colours), 16-bit RGB. */
#include <errno.h>
#include <png.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "image_common.h"
#include "jpeg.h"
#include "sung.h"
#include "testutil.h"

static char dir[] = "/tmp/sung-test-image-XXXXXX";

static const char *tmp_path(const char *name) { return test_path(dir, name); }

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void put32(unsigned char *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (unsigned char)v; }

/* A PNG of a few dozen bytes that declares w×h RGB (a valid IHDR with its CRC) and then
 * ends (IEND): what a decompression bomb's header looks like. */
static void write_png_header(const char *path, uint32_t w, uint32_t h)
{
    unsigned char b[8 + 25 + 12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char *c = b + 8;
    put32(c, 13);
    memcpy(c + 4, "IHDR", 4);
    put32(c + 8, w), put32(c + 12, h);
    c[16] = 8, c[17] = 2, c[18] = c[19] = c[20] = 0; /* 8-bit RGB, not interlaced */
    put32(c + 21, crc32_png(c + 4, 17));
    c += 25;
    put32(c, 0);
    memcpy(c + 4, "IEND", 4);
    put32(c + 8, crc32_png(c + 4, 4));
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, sizeof b, f) == sizeof b && !fclose(f), "write %s", path);
}

/* a noisy image (so that it does not compress to nothing) */
static void make_noise(sung_image *im, int w, int h)
{
    sung_error e;
    CHECK(sung_image_alloc(im, w, h, &e) == SUNG_OK, "%s", e.msg);
    for (size_t i = 0; im->data && i < (size_t)w * h * 3; i++) im->data[i] = test_randf(0, 1);
}

static void test_bombs(void)
{
    sung_image im;
    sung_error e;
    const struct {
        uint32_t w, h;
        const char *want; /* NULL: the size is allowed (the file fails later, for lack of data) */
    } cases[] = {
        {32768, 32768, "32768x32768 is 1073.7 Mpx, more than the limit of 100 Mpx"},
        {20000, 6000, "20000x6000 is 120.0 Mpx, more than the limit of 100 Mpx"},
        {10000, 10001, "10000x10001 is 100.0 Mpx, more than the limit of 100 Mpx"},
        {1000000, 1000000, "1000000x1000000 is 1000000.0 Mpx"},
        {40000, 10, "40000x10 is more than 32768 pixels a side"},
        {10000, 10000, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = tmp_path("bomb.png");
        write_png_header(p, cases[i].w, cases[i].h);
        e.msg[0] = 0;
        sung_status st = sung_image_load(&im, p, &e);
        CHECK(st == SUNG_ERR_FORMAT && !im.data, "PNG %ux%u: status %d", cases[i].w, cases[i].h, st);
        if (cases[i].want)
            CHECK(strstr(e.msg, cases[i].want) && strstr(e.msg, p), "PNG %ux%u: '%s' (want '%s' and the path)",
                  cases[i].w, cases[i].h, e.msg, cases[i].want);
        else
            CHECK(!strstr(e.msg, "Mpx") && !strstr(e.msg, "a side"), "PNG %ux%u: refused as too large: '%s'",
                  cases[i].w, cases[i].h, e.msg);
    }
    /* the limit on its own */
    CHECK(image_check_size("x", 10000, 10000, &e) == SUNG_OK, "100 Mpx exactly is allowed: %s", e.msg);
    CHECK(image_check_size("x", 32768, 3051, &e) == SUNG_OK, "32768x3051 is allowed: %s", e.msg);
    CHECK(image_check_size("x", 32769, 1, &e) == SUNG_ERR_FORMAT, "32769 a side");
    CHECK(image_check_size("x", 4294967295ul, 4294967295ul, &e) == SUNG_ERR_FORMAT, "2^32-1 squared");

    /* JPEG: a real 16×16 file whose SOF is patched to 20000×6000 */
    sung_image small;
    make_noise(&small, 16, 16);
    const char *src = tmp_path("small.jpg");
    CHECK(sung_image_save(&small, src, &e) == SUNG_OK, "%s", e.msg);
    sung_image_free(&small);
    static unsigned char buf[1 << 16];
    FILE *f = fopen(src, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    long sof = -1;
    for (size_t i = 2; i + 9 < n && sof < 0; i++)
        if (buf[i] == 0xFF && buf[i + 1] >= 0xC0 && buf[i + 1] <= 0xC2) sof = (long)i;
    CHECK(sof > 0, "no SOF marker in %s", src);
    if (sof > 0) {
        const struct {
            unsigned w, h;
            const char *want;
        } jc[] = {{20000, 6000, "20000x6000 is 120.0 Mpx, more than the limit of 100 Mpx"},
                  {32768, 32768, "32768x32768 is 1073.7 Mpx, more than the limit of 100 Mpx"},
                  {65500, 65500, "65500x65500 is 4290.2 Mpx"}};
        for (size_t i = 0; i < sizeof jc / sizeof *jc; i++) {
            buf[sof + 5] = jc[i].h >> 8, buf[sof + 6] = jc[i].h & 255; /* after marker, length, precision */
            buf[sof + 7] = jc[i].w >> 8, buf[sof + 8] = jc[i].w & 255;
            const char *p = tmp_path("bomb.jpg");
            f = fopen(p, "wb");
            CHECK(f && fwrite(buf, 1, n, f) == n && !fclose(f), "write %s", p);
            e.msg[0] = 0;
            sung_status st = sung_image_load(&im, p, &e);
            CHECK(st == SUNG_ERR_FORMAT && !im.data && strstr(e.msg, jc[i].want) && strstr(e.msg, p),
                  "JPEG %ux%u: status %d, '%s' (want '%s')", jc[i].w, jc[i].h, st, e.msg, jc[i].want);
        }
    }
}

static void test_not_regular(void)
{
    sung_image im;
    sung_error e;
    const char *fifo = tmp_path("fifo.png"), *folder = tmp_path("folder.png");
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    CHECK(mkdir(folder, 0700) == 0, "mkdir: %s", strerror(errno));
    /* a FIFO without a writer: open() would wait forever (alarm() in main ends a hang) */
    e.msg[0] = 0;
    CHECK(sung_image_load(&im, fifo, &e) == SUNG_ERR_IO && !im.data && strstr(e.msg, "not a regular file") &&
              strstr(e.msg, "FIFO") && strstr(e.msg, fifo),
          "FIFO: '%s'", e.msg);
    e.msg[0] = 0;
    CHECK(sung_image_load(&im, folder, &e) == SUNG_ERR_IO && !im.data && strstr(e.msg, "not a regular file"),
          "folder: '%s'", e.msg);
    CHECK(image_load_jpeg(&im, fifo, &e) == SUNG_ERR_IO && !im.data, "FIFO as JPEG: '%s'", e.msg);
    e.msg[0] = 0;
    CHECK(sung_image_load(&im, "/dev/null", &e) == SUNG_ERR_IO && strstr(e.msg, "device"), "/dev/null: '%s'",
          e.msg);
}

/* Bytes the heap holds (glibc): the small-block arena plus mmapped blocks. */
static long heap_in_use(void)
{
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();
    return (long)(mi.uordblks + mi.hblkhd);
#else
    return -1;
#endif
}

static void test_corrupt_png_leaks_nothing(void)
{
    /* 1×30000: png_read_info succeeds, then png_read_image runs off the truncated data
     * and longjmps with the 240 KB row-pointer array allocated */
    sung_image tall;
    sung_error e;
    make_noise(&tall, 1, 30000);
    const char *p = tmp_path("tall.png");
    CHECK(sung_image_save(&tall, p, &e) == SUNG_OK, "%s", e.msg);
    sung_image_free(&tall);
    struct stat st;
    CHECK(stat(p, &st) == 0 && truncate(p, st.st_size / 2) == 0, "truncate %s", p);
    sung_image im;
    CHECK(sung_image_load(&im, p, &e) == SUNG_ERR_FORMAT && !im.data && strstr(e.msg, "corrupt PNG"),
          "truncated PNG: '%s'", e.msg);
    long before = heap_in_use();
    for (int i = 0; i < 20; i++) sung_image_load(&im, p, &e);
    long grew = heap_in_use() - before;
    if (before >= 0) CHECK(grew < 100000, "20 loads of a corrupt PNG left %ld bytes allocated", grew);
}

/* In a child (RLIMIT_FSIZE is for good): a write the file system refuses. */
static int write_refused(const char *name)
{
    pid_t pid = fork();
    if (pid == 0) {
        test_failures = 0; /* the child's own */
        signal(SIGXFSZ, SIG_IGN); /* then write() fails with EFBIG */
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        sung_image im;
        sung_error e;
        make_noise(&im, 256, 256);
        const char *p = tmp_path(name);
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
        e.msg[0] = 0;
        CHECK(sung_image_save(&im, p, &e) == SUNG_ERR_IO, "%s written past RLIMIT_FSIZE", name);
        CHECK(strstr(e.msg, p) && strstr(e.msg, strerror(EFBIG)) && !strstr(e.msg, ".tmp."),
              "%s: '%s' (want the output's name and '%s')", name, e.msg, strerror(EFBIG));
        CHECK(!exists(p) && !exists(tmp), "%s: a file was left behind", name);
        sung_image_free(&im);
        _exit(test_failures != 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_write_errors(void)
{
    sung_image im;
    sung_error e;
    make_noise(&im, 8, 8);
    const char *names[] = {"missing/x.png", "missing/x.jpg"};
    for (int i = 0; i < 2; i++) {
        const char *p = tmp_path(names[i]);
        e.msg[0] = 0;
        CHECK(sung_image_save(&im, p, &e) == SUNG_ERR_IO && strstr(e.msg, p) && strstr(e.msg, strerror(ENOENT)) &&
                  !strstr(e.msg, ".tmp."),
              "%s: '%s' (want the output's name, not its temporary file's, and '%s')", names[i], e.msg,
              strerror(ENOENT));
    }
    sung_image_free(&im);
    CHECK(write_refused("big.png") == 0, "PNG: a refused write (the child's messages are above)");
    CHECK(write_refused("big.jpg") == 0, "JPEG: a refused write (the child's messages are above)");
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fputs("partial", f) >= 0 && !fclose(f), "create %s", path);
}

static void test_stale_temporaries(void)
{
    pid_t dead = fork(); /* a PID that no longer runs */
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    long live = (long)getppid();
    char stale[600], running[600], other[600], odd[600];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", tmp_path("s.png"), (long)dead);
    snprintf(running, sizeof running, "%s.tmp.%ld", tmp_path("s.png"), live);
    snprintf(other, sizeof other, "%s.tmp.%ld", tmp_path("t.png"), (long)dead);
    snprintf(odd, sizeof odd, "%s.tmp.%ldx", tmp_path("s.png"), (long)dead);
    touch(stale), touch(running), touch(other), touch(odd);
    sung_image im;
    sung_error e;
    make_noise(&im, 8, 8);
    CHECK(sung_image_save(&im, tmp_path("s.png"), &e) == SUNG_OK, "%s", e.msg);
    CHECK(!exists(stale), "a killed writer's %s was not removed", stale);
    CHECK(exists(running) && exists(other) && exists(odd),
          "removed too much: running %d, other output %d, not a PID %d", exists(running), exists(other),
          exists(odd));
    sung_image_free(&im);
}

/* sung_edge_map is SPEC §3's M: per channel |I(x+1) − I(x)| + |I(y+1) − I(y)|, the
 * differences 0 in the last column and row. */
static void test_edge_map(void)
{
    sung_error e;
    sung_image im, m;
    CHECK(sung_image_alloc(&im, 5, 4, &e) == SUNG_OK, "%s", e.msg);
    for (int i = 0; i < 5 * 4 * 3; i++) im.data[i] = (float)((i * 37) % 11) / 10.0f;
    CHECK(sung_edge_map(&im, &m, &e) == SUNG_OK && m.w == 5 && m.h == 4, "edge map: %s", e.msg);
    int bad = 0;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++)
            for (int c = 0; c < 3; c++) {
                float p = im.data[(y * 5 + x) * 3 + c];
                float dx = x < 4 ? im.data[(y * 5 + x + 1) * 3 + c] - p : 0;
                float dy = y < 3 ? im.data[((y + 1) * 5 + x) * 3 + c] - p : 0;
                bad += fabsf(m.data[(y * 5 + x) * 3 + c] - (fabsf(dx) + fabsf(dy))) > 1e-6f;
            }
    CHECK(bad == 0, "edge map: %d values differ from SPEC §3", bad);
    sung_image_free(&m), sung_image_free(&im);
    sung_image empty = {0};
    CHECK(sung_edge_map(&empty, &m, &e) == SUNG_ERR_ARG && !m.data, "edge map of an empty image");
}

/* A w×h PNG written with libpng: colour type ct at `depth` bits, sample (x, y, channel
 * c of the file's channels) = v(x, y, c) (a palette index for a palette image). */
static int kind_sample(int kind, int x, int y, int c) { return (x * 7 + y * 13 + c * 29 + kind * 3) & 0xffff; }

static void write_png_kind(const char *path, int w, int h, int ct, int depth, int kind, const png_color *pal,
                           int npal)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!f || !png || !info || setjmp(png_jmpbuf(png))) {
        CHECK(0, "writing %s", path);
        if (png) png_destroy_write_struct(&png, &info);
        if (f) fclose(f);
        return;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, ct, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    png_write_info(png, info);
    int nc = ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_PALETTE ? 1 : ct == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
             : ct == PNG_COLOR_TYPE_RGB ? 3 : 4;
    int maxv = pal ? npal - 1 : (1 << depth) - 1;
    unsigned char row[4 * 2 * 64];
    for (int y = 0; y < h; y++) {
        memset(row, 0, sizeof row);
        for (int x = 0; x < w; x++)
            for (int c = 0; c < nc; c++) {
                int v = kind_sample(kind, x, y, c) % (maxv + 1), i = x * nc + c;
                if (depth == 16) row[2 * i] = (unsigned char)(v >> 8), row[2 * i + 1] = (unsigned char)v;
                else if (depth == 8) row[i] = (unsigned char)v;
                else row[i * depth / 8] |= (unsigned char)(v << (8 - depth - (i * depth) % 8));
            }
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void test_png_kinds(void)
{
    static const png_color pal[5] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}, {200, 100, 50}};
    static const struct {
        const char *what;
        int ct, depth, npal;
    } kinds[] = {
        {"gray 1-bit", PNG_COLOR_TYPE_GRAY, 1, 0},        {"gray 4-bit", PNG_COLOR_TYPE_GRAY, 4, 0},
        {"gray 8-bit", PNG_COLOR_TYPE_GRAY, 8, 0},        {"gray 16-bit", PNG_COLOR_TYPE_GRAY, 16, 0},
        {"gray+alpha 8-bit", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0}, {"RGBA 8-bit", PNG_COLOR_TYPE_RGB_ALPHA, 8, 0},
        {"RGBA 16-bit", PNG_COLOR_TYPE_RGB_ALPHA, 16, 0}, {"RGB 16-bit", PNG_COLOR_TYPE_RGB, 16, 0},
        {"palette 2-bit", PNG_COLOR_TYPE_PALETTE, 2, 4},  {"palette 8-bit", PNG_COLOR_TYPE_PALETTE, 8, 5},
    };
    const int w = 13, h = 7; /* odd: partial bytes at the end of packed rows */
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        const char *p = tmp_path("kind.png");
        int pl = kinds[k].ct == PNG_COLOR_TYPE_PALETTE;
        write_png_kind(p, w, h, kinds[k].ct, kinds[k].depth, (int)k, pl ? pal : NULL, kinds[k].npal);
        sung_image im;
        sung_image_meta meta;
        sung_error e;
        if (sung_image_load_ex(&im, &meta, p, &e)) {
            CHECK(0, "%s PNG: %s", kinds[k].what, e.msg);
            continue;
        }
        CHECK(im.w == w && im.h == h && meta.depth == (kinds[k].depth == 16 ? 16 : 8), "%s PNG: %dx%d, depth %d",
              kinds[k].what, im.w, im.h, meta.depth);
        int gray = kinds[k].ct == PNG_COLOR_TYPE_GRAY || kinds[k].ct == PNG_COLOR_TYPE_GRAY_ALPHA;
        double maxv = pl ? 1 : (1 << kinds[k].depth) - 1, worst = 0;
        for (int y = 0; y < h && im.w == w && im.h == h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    double want;
                    if (pl) {
                        int i = kind_sample((int)k, x, y, 0) % kinds[k].npal;
                        want = (c == 0 ? pal[i].red : c == 1 ? pal[i].green : pal[i].blue) / 255.0;
                    } else {
                        want = kind_sample((int)k, x, y, gray ? 0 : c) % ((int)maxv + 1) / maxv;
                    }
                    worst = fmax(worst, fabs(im.data[((size_t)y * w + x) * 3 + c] - want));
                }
        CHECK(worst < 1e-6, "%s PNG: a sample is %g from k/(2^depth - 1) (gray replicated, alpha dropped, "
              "palette colours)", kinds[k].what, worst);
        sung_image_free(&im);
        sung_image_meta_free(&meta);
    }
}

int main(void)
{
    alarm(120); /* a hang (the FIFO) is a failure, not a stuck `make test` */
    if (!mkdtemp(dir)) return 1;
    test_bombs();
    test_edge_map();
    test_not_regular();
    test_corrupt_png_leaks_nothing();
    test_write_errors();
    test_stale_temporaries();
    test_png_kinds();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!test_failures) CHECK(system(cmd) == 0, "cleanup");
    else fprintf(stderr, "left %s for inspection\n", dir);
    return test_summary("test_image");
}
