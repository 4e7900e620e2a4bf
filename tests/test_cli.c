/* The `sung` command end to end: bad arguments are rejected with a non-zero exit,
 * deblur handles files and folders, synth is deterministic, an interrupted and resumed
 * train gives the same weights as an uninterrupted one (also after Ctrl-C), eval and
 * plot work on what train and synth made. Data is made here (procedural photos). */
#define _DEFAULT_SOURCE /* wait4 */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sung.h"
#include "testutil.h"

#ifndef SUNG_BIN
#define SUNG_BIN "build/sung"
#endif

static char dir[] = "/tmp/sung-test-cli-XXXXXX";

static void no_sanitizer_report(const char *rel, const char *what, int status);

/* Runs `sung ARGS` in the test folder through the shell (with prefix, e.g. a timeout),
 * output to out.txt / err.txt; its exit status. With kb, also the peak resident memory
 * (KB) of the process tree it started (wait4: the child's and its waited-for
 * descendants' maximum). */
static int vrun(const char *prefix, long *kb, const char *fmt, va_list ap)
{
    char args[4096], cmd[8192];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=2 %s%s/%s %s >out.txt 2>err.txt", dir, prefix, getenv("PWD"),
             SUNG_BIN, args);
    int st;
    if (!kb) {
        st = system(cmd);
    } else {
        *kb = -1;
        pid_t pid = fork();
        if (pid < 0) return 255;
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        struct rusage ru;
        if (wait4(pid, &st, 0, &ru) != pid) return 255;
        *kb = ru.ru_maxrss;
    }
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 255;
    no_sanitizer_report("err.txt", args, rc);
    return rc;
}

/* runs a command line (after "sung ") quietly; returns its exit status */
static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vrun("", NULL, fmt, ap);
    va_end(ap);
    return rc;
}

/* the same with environment variables set (env: "NAME=VALUE ...") */
static int run_env(const char *env, const char *fmt, ...)
{
    char prefix[512];
    snprintf(prefix, sizeof prefix, "env %s ", env);
    va_list ap;
    va_start(ap, fmt);
    int rc = vrun(prefix, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

/* the same, killed after 60 s (exit status 124): for what used to hang */
static int run_limited(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vrun("timeout 60 ", NULL, fmt, ap);
    va_end(ap);
    return rc;
}

/* run(), and the peak resident memory (KB) of what it started */
static int run_rss(long *kb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vrun("", kb, fmt, ap);
    va_end(ap);
    return rc;
}

static int exists(const char *rel)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    struct stat st;
    return stat(p, &st) == 0;
}

static int same_file(const char *a, const char *b)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && cmp -s %s %s", dir, a, b);
    return system(cmd) == 0;
}

static int file_has(const char *rel, const char *needle) { return test_file_has(dir, rel, needle); }

/* The offset of the first `needle` in a binary file (a safetensors header after its
 * length's NUL bytes), or -1 when it is not there or the file cannot be read. */
static long find_bytes(const char *rel, const char *needle)
{
    size_t n, k = strlen(needle);
    unsigned char *buf = test_read_all(test_path(dir, rel), &n);
    long at = -1;
    for (size_t i = 0; buf && i + k <= n && at < 0; i++)
        if (!memcmp(buf + i, needle, k)) at = (long)i;
    free(buf);
    return at;
}

static int file_has_bytes(const char *rel, const char *needle) { return find_bytes(rel, needle) >= 0; }

/* Replaces the first `from` in the file by `to` (the same length); 1 if it was there. */
static int replace_in_file(const char *rel, const char *from, const char *to)
{
    size_t k = strlen(from);
    long at = strlen(to) == k ? find_bytes(rel, from) : -1;
    if (at < 0) return 0;
    FILE *f = fopen(test_path(dir, rel), "r+b");
    int done = f && fseek(f, at, SEEK_SET) == 0 && fwrite(to, 1, k, f) == k;
    if (f && fclose(f) != 0) done = 0;
    return done;
}

/* The mean PSNR (sung_psnr_for_mean) of each blurred image of the GoPro-layout set rel
 * against its sharp one, computed here by the library; NAN where one cannot be read. */
static double input_mean(const char *rel)
{
    double sum = 0;
    int n = 0;
    DIR *top = opendir(test_path(dir, rel));
    struct dirent *e;
    while (top && (e = readdir(top))) {
        if (e->d_name[0] == '.') continue;
        char bdir[4096];
        snprintf(bdir, sizeof bdir, "%s/%s/%s/blur", dir, rel, e->d_name);
        DIR *bd = opendir(bdir);
        struct dirent *f;
        while (bd && (f = readdir(bd))) {
            if (f->d_name[0] == '.') continue;
            char pb[8192], pg[8192];
            snprintf(pb, sizeof pb, "%s/%s", bdir, f->d_name);
            snprintf(pg, sizeof pg, "%s/%s/%s/sharp/%s", dir, rel, e->d_name, f->d_name);
            sung_image b = {0}, g = {0};
            sung_error err;
            if (sung_image_load(&b, pb, &err) || sung_image_load(&g, pg, &err) || b.w != g.w || b.h != g.h) sum = NAN;
            else {
                uint8_t *u = malloc((size_t)b.w * b.h * 3), *v = malloc((size_t)b.w * b.h * 3);
                sung_image_to_u8(&b, u), sung_image_to_u8(&g, v);
                sum += sung_psnr_for_mean(u, v, b.w, b.h);
                free(u), free(v);
            }
            sung_image_free(&b), sung_image_free(&g);
            n++;
        }
        if (bd) closedir(bd);
    }
    if (top) closedir(top);
    return n ? sum / n : NAN;
}

/* Field k (0-based) of the last line of a CSV file that starts with `prefix` and holds
 * `has`, as a number; NAN where there is none. */
static double csv_last(const char *rel, const char *prefix, const char *has, int k)
{
    FILE *f = fopen(test_path(dir, rel), "r");
    char line[4096];
    double v = NAN;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, prefix, strlen(prefix)) || !strstr(line, has)) continue;
        char *p = line;
        for (int i = 0; i < k && p; i++) p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
        v = p && *p && *p != ',' ? strtod(p, NULL) : NAN;
    }
    if (f) fclose(f);
    return v;
}

/* Under make asan: a sanitizer's report in a child's stderr, or its exit status (86 ASan,
 * 87 UBSan, as the Makefile sets them), fails the test whatever the status the check
 * wanted: a check that expects a refusal (non-zero) would otherwise pass on a crash. */
static void no_sanitizer_report(const char *rel, const char *what, int status)
{
    static const char *const marks[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"};
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
        CHECK(!file_has(rel, marks[i]), "sung %s: a sanitizer report (%s) in %s/%s", what, marks[i], dir, rel);
    if (getenv("ASAN_OPTIONS") || getenv("UBSAN_OPTIONS"))
        CHECK(status != 86 && status != 87, "sung %s: exit status %d, a sanitizer's", what, status);
}

/* a procedural "photo": shaded background, sharp-edged discs and bars */
static void make_photo(const char *rel, int w, int h, int seed)
{
    sung_image im;
    sung_error e;
    sung_image_alloc(&im, w, h, &e);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *p = im.data + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) p[c] = 0.2f + 0.5f * (float)((x * (c + 1) + y * (3 - c) + seed * 17) % 97) / 97;
            for (int k = 0; k < 6; k++) {
                int cx = (37 * (k + 1) * (seed + 3)) % w, cy = (53 * (k + 2) * (seed + 5)) % h, r = 5 + (k * 7) % 13;
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r)
                    for (int c = 0; c < 3; c++) p[c] = (float)((k + c) % 3) / 2;
            }
            if ((x / 9 + y / 23) % 5 == 0) p[1] = 0.95f;
        }
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    CHECK(sung_image_save(&im, p, &e) == SUNG_OK, "%s", e.msg);
    sung_image_free(&im);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/photos %s/imgs", dir, dir);
    CHECK(system(cmd) == 0, "mkdir");
    make_photo("photos/a.png", 160, 128, 1);
    make_photo("photos/b.png", 150, 140, 2);
    make_photo("imgs/x.png", 45, 37, 3);
    make_photo("imgs/y.png", 20, 30, 4);

    /* bad arguments: non-zero exit and a message, never a crash */
    CHECK(run("frobnicate") == 2, "unknown command");
    CHECK(run("deblur --bogus 1") == 2 && file_has("err.txt", "--bogus"), "unknown option");
    CHECK(run("deblur imgs/x.png") != 0 && file_has("err.txt", "-o"), "deblur without -o");
    CHECK(run("deblur --iters 0 --model m.safetensors imgs/x.png -o o.png") == 2, "--iters 0: a usage error");
    CHECK(run("deblur --iters x imgs/x.png -o o.png") == 2, "--iters not a number");
    CHECK(run("init --variant nope -o m.safetensors") == 2 && !exists("m.safetensors"), "bad variant");
    CHECK(run("init --width -3 -o m.safetensors") != 0 && !exists("m.safetensors"), "bad width");
    CHECK(run("info photos/a.png") != 0, "info on a PNG");
    CHECK(run("eval --ssim foo --pred imgs --gt imgs") == 2, "bad --ssim");
    CHECK(run("eval --pred imgs") == 2, "--pred without --gt");
    CHECK(run("train --data photos --out r") != 0, "train on a folder without pairs");
    CHECK(run("train --data photos") == 2 && file_has("err.txt", "--out"), "train without --out: a usage error");
    CHECK(run("synth --photos photos --out s --count 0") == 2, "synth --count 0");
    CHECK(run("synth --photos nowhere --out s --count 2") != 0, "synth without photos");
    CHECK(run("plot nowhere") != 0, "plot without a run");

    /* init, info */
    CHECK(run("init --variant sung --width 4 --seed 5 -o m.safetensors") == 0, "init");
    CHECK(run("info m.safetensors") == 0 && file_has("out.txt", "width       4"), "info");
    CHECK(run("init --from m.safetensors --f16 -o h.safetensors") == 0 && run("info h.safetensors") == 0 &&
              file_has("out.txt", "width       4"),
          "init --from: an F16 copy");
    CHECK(run("init --from m.safetensors --width 8 -o h2.safetensors") == 2 && !exists("h2.safetensors"),
          "init --from with --width: a usage error");
    /* -1 is a value like any other, not "not given" (it made a width-32 model, and was
     * let through with --from; synth called it a missing --count) */
    CHECK(run("init --width -1 -o h4.safetensors") == 1 && file_has("err.txt", "out of range") &&
              !exists("h4.safetensors"),
          "init --width -1: not refused");
    CHECK(run("init --from m.safetensors --width -1 -o h4.safetensors") == 2 && !exists("h4.safetensors"),
          "init --from with --width -1: not a usage error");
    CHECK(run("synth --photos photos --out s --count -1") == 2 && file_has("err.txt", "--count must be") &&
              !exists("s"),
          "synth --count -1: not named as out of range");
    CHECK(run("init --from nothing.safetensors -o h3.safetensors") == 1 && !exists("h3.safetensors"),
          "init --from a missing file");
    /* no weights anywhere (a copy of the binary with no share/ or models/ beside it):
     * where it looked and what to do; nothing written */
    {
        char cmd[8192];
        snprintf(cmd, sizeof cmd,
                 "cd %s && mkdir -p lone/bin && cp %s/%s lone/bin/sung && env -u SUNG_MODEL OMP_NUM_THREADS=2 "
                 "lone/bin/sung deblur imgs/x.png -o nm.png >out.txt 2>err.txt",
                 dir, getenv("PWD"), SUNG_BIN);
        int st = system(cmd), rc = WIFEXITED(st) ? WEXITSTATUS(st) : 255;
        no_sanitizer_report("err.txt", "deblur by a lone copy of the binary", rc);
        CHECK(rc == 1 && file_has("err.txt", "no default weights were found (looked for ") &&
                  file_has("err.txt", "/lone/bin/../share/sung/sung.safetensors and ") &&
                  file_has("err.txt", "/lone/bin/../models/sung.safetensors)") && file_has("err.txt", "--model FILE") &&
                  !exists("nm.png"),
              "deblur without weights: not refused, or the places not named");
    }
    /* build/sung of this source tree uses its shipped weights, models/sung.safetensors */
    {
        char shipped[PATH_MAX];
        snprintf(shipped, sizeof shipped, "%s/models/sung.safetensors", getenv("PWD"));
        CHECK(access(shipped, R_OK) == 0, "models/sung.safetensors (the shipped weights) missing");
        CHECK(run_env("-u SUNG_MODEL", "deblur --precision fp32 imgs/x.png -o dflt.png") == 0 &&
                  run("deblur --precision fp32 --model %s imgs/x.png -o shipped.png", shipped) == 0 &&
                  same_file("dflt.png", "shipped.png"),
              "deblur without --model: not the shipped models/sung.safetensors");
    }
    CHECK(run("deblur --model nothing.safetensors imgs/x.png -o o.png") != 0 && file_has("err.txt", "nothing.safetensors"),
          "missing model file");
    CHECK(run("deblur --model m.safetensors imgs/missing.png -o o.png") != 0 && !exists("o.png"), "missing input");
    CHECK(run("deblur --model m.safetensors --precision fp16 imgs/x.png -o o.png") == 2 &&
              file_has("err.txt", "auto, fp32 or bf16") && !exists("o.png"),
          "bad --precision");
    CHECK(run("eval --model m.safetensors --precision half --data s1") == 2, "eval: bad --precision");
    CHECK(run("bench --bogus") == 2 && file_has("err.txt", "--bogus"), "bench: unknown option");
    /* the engine options: read from the environment by the command (the library reads
     * none) and given to sung_set_options; a value that cannot be is a usage error */
    CHECK(run_env("SUNG_ISA=generic", "deblur --model m.safetensors imgs/x.png -o g.png") == 0 &&
              file_has("out.txt", "(generic"),
          "SUNG_ISA=generic did not reach the kernels");
    CHECK(run_env("SUNG_ISA=avx1024", "info m.safetensors") == 2 && file_has("err.txt", "SUNG_ISA=avx1024"),
          "SUNG_ISA=avx1024: not a usage error naming it");
    CHECK(run_env("SUNG_WINOGRAD=3", "info m.safetensors") == 2 && file_has("err.txt", "SUNG_WINOGRAD must"),
          "SUNG_WINOGRAD=3: not a usage error naming it");
    CHECK(run_env("SUNG_WINOGRAD_BF16=yes", "info m.safetensors") == 2 && file_has("err.txt", "SUNG_WINOGRAD_BF16"),
          "SUNG_WINOGRAD_BF16=yes: not a usage error naming it");
    CHECK(run_env("SUNG_ISA= SUNG_WINOGRAD=0 SUNG_WINOGRAD_BF16=1", "info m.safetensors") == 0,
          "empty SUNG_ISA, SUNG_WINOGRAD=0, SUNG_WINOGRAD_BF16=1 refused");
    CHECK(run("bench --what layers --size 12") == 2, "bench: bad size");
    CHECK(run("bench --what train-layer") == 2, "bench: bad --what");
    CHECK(run("bench --what pictures --size 64x64 --runs 1 --width 4 --iters 2") == 0 &&
              file_has("out.txt", "time per input picture") && file_has("out.txt", "  64x64 ") &&
              file_has("out.txt", "  16x16 "),
          "bench --what pictures: a row per input picture");
    /* width 4 is even: bf16 runs where the kernels have it, and is refused clearly where not */
    {
        int rc = run("deblur --model m.safetensors --precision bf16 imgs/x.png -o b.png");
        CHECK(rc == 0 ? exists("b.png") : (rc == 1 && file_has("err.txt", "avx512_bf16") && !exists("b.png")),
              "deblur --precision bf16: exit %d", rc);
        /* the default, auto: bf16 where it runs, else fp32, and the line says which */
        int bf16 = rc == 0;
        CHECK(run("deblur --model m.safetensors --precision fp32 imgs/x.png -o f.png") == 0 &&
                  file_has("out.txt", ", fp32, "),
              "deblur --precision fp32");
        CHECK(run("deblur --model m.safetensors imgs/x.png -o d.png") == 0 &&
                  same_file("d.png", bf16 ? "b.png" : "f.png") && file_has("out.txt", bf16 ? ", bf16, " : ", fp32, "),
              "deblur's default is not %s", bf16 ? "bf16" : "fp32");
        CHECK(run("deblur --model m.safetensors --precision auto imgs/x.png -o a.png") == 0 && same_file("a.png", "d.png"),
              "deblur --precision auto is not the default");
        if (bf16) CHECK(!same_file("b.png", "f.png"), "bf16 and fp32 gave the same bits: one of them did not run");
    }

    /* --threads of deblur, eval, synth and bench: 1..1024 or a usage error naming it; it
     * reaches OpenMP (bench says how many threads ran) and changes no bit of a result */
    CHECK(run("deblur --model m.safetensors --threads 0 imgs/x.png -o t0.png") == 2 &&
              file_has("err.txt", "--threads must be a number of threads 1..1024, not 0") && !exists("t0.png"),
          "deblur --threads 0: not a usage error");
    CHECK(run("eval --model m.safetensors --threads 1025 --data s1") == 2 && file_has("err.txt", "--threads must be"),
          "eval --threads 1025: not a usage error");
    CHECK(run("synth --photos photos --out st --count 1 --threads -1") == 2 && file_has("err.txt", "--threads must be") &&
              !exists("st"),
          "synth --threads -1: not a usage error");
    CHECK(run("bench --threads two") == 2 && file_has("err.txt", "--threads"), "bench --threads two: not a usage error");
    CHECK(run("bench --what infer --size 64x64 --runs 1 --width 4 --iters 2 --threads 3") == 0 &&
              file_has("out.txt", ", 3 threads;"),
          "bench --threads 3 did not run 3 threads");
    CHECK(run("bench --what infer --size 64x64 --runs 1 --width 4 --iters 2 --threads 1") == 0 &&
              file_has("out.txt", ", 1 thread;"),
          "bench --threads 1 did not run 1 thread");
    CHECK(run("deblur --model m.safetensors --threads 1 imgs/x.png -o t1.png") == 0 && same_file("t1.png", "d.png") &&
              file_has("out.txt", ", 1 thread)"),
          "deblur --threads 1 changed the result, or its line does not say 1 thread");
    CHECK(run("deblur --model m.safetensors --threads 3 imgs/x.png -o t3.png") == 0 && same_file("t3.png", "d.png") &&
              file_has("out.txt", ", 3 threads)"),
          "deblur --threads 3 changed the result, or its line does not say 3 threads");

    /* deblur: one file (PNG in, JPEG out, with --compare), a folder, keeping names */
    CHECK(run("deblur --model m.safetensors imgs/x.png -o o.jpg --compare c.png") == 0, "deblur one file");
    CHECK(exists("o.jpg") && exists("c.png"), "deblur outputs");
    /* metadata: a portrait JPEG (EXIF orientation 6, ICC profile) comes out upright with
     * orientation 1 and the same profile; a 16-bit PNG comes out 16-bit unless --depth 8 */
    {
        sung_image im, back = {0};
        sung_image_meta meta, in = {8, 1, NULL, 0, NULL, 0};
        sung_error e;
        uint8_t exif[26] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 1, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
        uint8_t icc[132] = {0, 0, 0, 132};
        memcpy(icc + 16, "RGB XYZ ", 8), memcpy(icc + 36, "acsp", 4);
        in.exif = exif, in.exif_size = sizeof exif, in.icc = icc, in.icc_size = sizeof icc;
        sung_image_save_opts so = {8, 95, &in};
        char p[4096];
        CHECK(sung_image_alloc(&im, 48, 32, &e) == SUNG_OK, "%s", e.msg);
        for (size_t i = 0; i < 48 * 32 * 3; i++) im.data[i] = (float)(i % 13) / 12;
        snprintf(p, sizeof p, "%s/portrait.jpg", dir);
        CHECK(sung_image_save_ex(&im, p, &so, &e) == SUNG_OK, "%s", e.msg);
        CHECK(run("deblur --model m.safetensors portrait.jpg -o portrait-out.jpg") == 0 &&
                  file_has("out.txt", "32x48"),
              "deblur of an orientation-6 JPEG: not said upright (32x48)");
        snprintf(p, sizeof p, "%s/portrait-out.jpg", dir);
        CHECK(sung_image_load_ex(&back, &meta, p, &e) == SUNG_OK && back.w == 32 && back.h == 48 &&
                  meta.orientation == 1 && meta.exif && meta.icc_size == sizeof icc && !memcmp(meta.icc, icc, sizeof icc),
              "deblurred portrait: %dx%d, orientation %d, EXIF %d, ICC %zu bytes", back.w, back.h, meta.orientation,
              meta.exif != NULL, meta.icc_size);
        sung_image_free(&back), sung_image_meta_free(&meta);
        /* 16 bit */
        so = (sung_image_save_opts){16, 0, NULL};
        snprintf(p, sizeof p, "%s/deep.png", dir);
        for (size_t i = 0; i < 48 * 32 * 3; i++) im.data[i] = (float)i / (48 * 32 * 3);
        CHECK(sung_image_save_ex(&im, p, &so, &e) == SUNG_OK, "%s", e.msg);
        CHECK(run("deblur --model m.safetensors deep.png -o deep-out.png") == 0, "deblur of a 16-bit PNG");
        snprintf(p, sizeof p, "%s/deep-out.png", dir);
        CHECK(sung_image_load_ex(&back, &meta, p, &e) == SUNG_OK && meta.depth == 16, "16-bit in, %d-bit out",
              meta.depth);
        int fine = 0; /* values between the 8-bit levels: the 16 bits are really used */
        for (size_t i = 0; back.data && i < (size_t)back.w * back.h * 3; i++)
            fine += fabsf(back.data[i] * 255 - rintf(back.data[i] * 255)) > 0.01f;
        CHECK(fine > 48 * 32 * 3 / 2, "16-bit output holds 8-bit values (%d of %d between levels)", fine, 48 * 32 * 3);
        sung_image_free(&back), sung_image_meta_free(&meta);
        CHECK(run("deblur --model m.safetensors --depth 8 deep.png -o deep8.png") == 0, "deblur --depth 8");
        snprintf(p, sizeof p, "%s/deep8.png", dir);
        CHECK(sung_image_load_ex(&back, &meta, p, &e) == SUNG_OK && meta.depth == 8, "--depth 8 gave %d", meta.depth);
        sung_image_free(&back), sung_image_meta_free(&meta);
        CHECK(run("deblur --model m.safetensors --depth 16 imgs/x.png -o deep16.png") == 0, "deblur --depth 16");
        snprintf(p, sizeof p, "%s/deep16.png", dir);
        CHECK(sung_image_load_ex(&back, &meta, p, &e) == SUNG_OK && meta.depth == 16, "--depth 16 gave %d", meta.depth);
        sung_image_free(&back), sung_image_meta_free(&meta);
        CHECK(run("deblur --model m.safetensors --depth 16 deep.png -o deep.jpg") == 2 && file_has("err.txt", "8 bits") &&
                  !exists("deep.jpg"),
              "--depth 16 into a JPEG: a usage error");
        CHECK(run("deblur --model m.safetensors --depth 12 deep.png -o deep12.png") == 2 && !exists("deep12.png"),
              "--depth 12: a usage error");
        CHECK(run("deblur --model m.safetensors --max-memory -1 deep.png -o deep12.png") == 2 &&
                  file_has("err.txt", "--max-memory must be") && !exists("deep12.png"),
              "--max-memory -1: not a usage error (taken for the default?)");
        sung_image_free(&im);
    }

    /* tiles: explicit, or when the image would not fit; the result is close to the whole pass */
    make_photo("big.png", 200, 150, 5);
    CHECK(run("deblur --model m.safetensors --tile 64 big.png -o t.png") == 0 && file_has("out.txt", "in tiles of 64 px") &&
              exists("t.png"),
          "deblur --tile 64");
    CHECK(run("deblur --model m.safetensors --tile -1 big.png -o u.png") == 0 && !file_has("out.txt", "tiles") &&
              exists("u.png"),
          "deblur --tile -1: whole");
    CHECK(run("deblur --model m.safetensors big.png -o v.png") == 0 && !file_has("out.txt", "tiles") &&
              same_file("u.png", "v.png"),
          "deblur: a small image is not tiled by default");
    /* --max-memory is the whole process's peak: tiles chosen for it keep the resident
     * memory under it (measured; the sanitizers' shadow memory would not, so not under
     * make asan) */
    make_photo("wide.png", 1200, 900, 6);
    long kb;
    int mrc = run_rss(&kb, "deblur --model m.safetensors --max-memory 160 wide.png -o w.png");
    CHECK(mrc == 0 && file_has("out.txt", "in tiles of") && exists("w.png"), "deblur --max-memory 160: tiled");
#if defined(__SANITIZE_ADDRESS__)
    SKIP("peak RSS against --max-memory (%ld KB): not meaningful under AddressSanitizer", kb);
#else
    CHECK(kb > 0 && kb <= 160 * 1024, "deblur --max-memory 160 peaked at %ld KB", kb);
#endif
    CHECK(run("deblur --model m.safetensors --tile 60 imgs/x.png -o t2.png") == 2 && !exists("t2.png"),
          "--tile 60: not on the grid");
    CHECK(run("deblur --model m.safetensors --max-memory 10 imgs/x.png -o t2.png") == 2 && !exists("t2.png"),
          "--max-memory 10: a usage error");
    CHECK(run("deblur --model m.safetensors imgs -o outdir") == 0, "deblur a folder");
    CHECK(exists("outdir/x.png") && exists("outdir/y.png"), "folder out keeps the names");
    CHECK(run("deblur --model m.safetensors imgs/x.png -o outdir") != 0, "one file into a folder name");
    CHECK(run("eval --pred imgs --gt imgs --csv same.csv") == 0 && file_has("out.txt", "PSNR 100.0000") &&
              file_has("out.txt", "SSIM (matlab) 1.00000") && file_has("same.csv", "image,psnr,ssim\n"),
          "eval of identical folders");

    /* never destroy input: an output that is an input (under any name), -o the input
     * folder, two inputs with one output name, --compare onto an input are refused before
     * any work (exit 2, a usage error), and the inputs stay byte for byte as they were */
    snprintf(cmd, sizeof cmd,
             "cd %s && mkdir -p keep imgs2 mixed && cp imgs/x.png imgs/y.png keep/ && cp imgs/x.png imgs2/x.png && "
             "ln -s imgs/x.png link.png && cp imgs/x.png mixed/a.png && cp imgs/y.png mixed/c.png && "
             "echo 'not an image' >mixed/b.png && mkfifo mixed/fifo.png && mkdir -p q && cp imgs/y.png q/b.png && "
             "cp q/b.png keep/b.png && ln -s b.png q/a.png",
             dir);
    CHECK(system(cmd) == 0, "setting up the overwrite cases");
    const struct {
        const char *args, *says;
    } refused[] = {
        {"imgs/x.png -o imgs/x.png", "is the input imgs/x.png, which would be lost"},
        {"imgs/x.png -o ./imgs/x.png", "is the input imgs/x.png (the same file)"},
        {"link.png -o imgs/x.png", "is the input link.png (the same file)"},
        {"imgs/x.png -o link.png", "is the input imgs/x.png (the same file)"},
        {"imgs/x.png -o o2.png --compare imgs/x.png", "--compare imgs/x.png is the input"},
        {"imgs/x.png -o o2.png --compare o2.png", "are the same file"},
        {"--quiet imgs -o imgs", "-o imgs is the input folder imgs"},
        {"--quiet imgs -o ./imgs/", "-o ./imgs/ is the input folder imgs"},
        {"--quiet photos imgs -o imgs", "-o imgs is the input folder imgs"},
        {"--quiet photos/a.png imgs/y.png -o imgs", "the output imgs/y.png is the input imgs/y.png"},
        {"--quiet imgs/x.png imgs2/x.png -o dup", "imgs/x.png and imgs2/x.png would both be written to dup/x.png"},
        {"--quiet imgs imgs2 -o dup", "imgs/x.png and imgs2/x.png would both be written to dup/x.png"},
        /* what --overwrite does not allow: one result lost, or an image reading another's result */
        {"--overwrite --quiet imgs/x.png imgs2/x.png -o dup", "would both be written to dup/x.png"},
        {"--overwrite --quiet imgs/x.png imgs/x.png -o dup", "would both be written to dup/x.png"},
        {"--overwrite --quiet imgs imgs2 -o imgs", "would both be written to imgs/x.png"},
        {"--overwrite imgs/x.png -o o2.png --compare o2.png", "are the same file"},
        {"--overwrite --quiet photos/a.png q/b.png -o q", "the output q/a.png is the input q/b.png (the same file) "
                                                          "of another image"},
        {"--quiet photos/a.png q/b.png -o q", "of another image"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        int rc = run("deblur --model m.safetensors %s", refused[i].args);
        CHECK(rc == 2 && file_has("err.txt", refused[i].says), "deblur %s: exit %d (want 2), message lacks '%s'",
              refused[i].args, rc, refused[i].says);
        CHECK(same_file("imgs/x.png", "keep/x.png") && same_file("imgs/y.png", "keep/y.png") &&
                  same_file("imgs2/x.png", "keep/x.png") && same_file("q/b.png", "keep/b.png") && !exists("o2.png") &&
                  !exists("dup"),
              "deblur %s: an input changed, or work was done before the refusal", refused[i].args);
    }
    CHECK(run("deblur --help") == 0 && file_has("out.txt", "--overwrite"), "deblur --help tells of --overwrite");
    /* --overwrite: an image replaced by its own result (a valid image of its size, not the
     * input), alone or as a folder in place; a symbolic link given as -o becomes the result
     * and its target is kept */
    snprintf(cmd, sizeof cmd, "cd %s && mkdir -p ow && cp imgs/x.png imgs/y.png ow/ && cp imgs/x.png ow1.png && "
                              "ln -s keep/x.png owlink.png", dir);
    CHECK(system(cmd) == 0, "setting up the --overwrite cases");
    CHECK(run("deblur --model m.safetensors --overwrite ow1.png -o ow1.png") == 0 && !same_file("ow1.png", "keep/x.png"),
          "--overwrite one file in place");
    CHECK(run("deblur --model m.safetensors imgs/x.png -o ow2.png") == 0 && same_file("ow1.png", "ow2.png"),
          "--overwrite in place: not the result of deblurring the input");
    CHECK(run("deblur --model m.safetensors --overwrite --quiet ow -o ow") == 0 && same_file("ow/x.png", "ow2.png") &&
              !same_file("ow/y.png", "keep/y.png"),
          "--overwrite a folder in place");
    {
        struct stat ls;
        char p[4096];
        snprintf(p, sizeof p, "%s/owlink.png", dir);
        CHECK(run("deblur --model m.safetensors --overwrite keep/x.png -o owlink.png") == 0 && same_file("owlink.png", "ow2.png") &&
                  same_file("keep/x.png", "imgs/x.png") && lstat(p, &ls) == 0 && S_ISREG(ls.st_mode),
              "--overwrite onto a symbolic link to the input: the link becomes the result, the target is kept");
    }
    /* other files in the output folder are replaced, as before */
    CHECK(run("deblur --model m.safetensors --quiet imgs -o outdir") == 0 && exists("outdir/x.png"),
          "deblur into a folder that has the outputs already");

    /* a folder with a corrupt image and a FIFO: both reported, the rest done, exit 1 */
    {
        int rc = run_limited("deblur --model m.safetensors mixed -o mixedout");
        CHECK(rc == 1 && exists("mixedout/a.png") && exists("mixedout/c.png") && !exists("mixedout/b.png") &&
                  !exists("mixedout/fifo.png"),
              "folder with bad images: exit %d (want 1; 124 is a hang), a.png %d, c.png %d", rc,
              exists("mixedout/a.png"), exists("mixedout/c.png"));
        CHECK(file_has("err.txt", "mixed/b.png: neither a PNG nor a JPEG") &&
                  file_has("err.txt", "mixed/fifo.png: not a regular file") &&
                  file_has("err.txt", "2 of 4 images failed"),
              "folder with bad images: the messages");
    }
    CHECK(run_limited("deblur --model m.safetensors mixed/fifo.png -o fifo-out.png") == 1 &&
              file_has("err.txt", "not a regular file") && !exists("fifo-out.png"),
          "a FIFO named on the command line");
    CHECK(run("deblur --model m.safetensors imgs/missing.png imgs/x.png -o missingout") == 1 &&
              file_has("err.txt", "imgs/missing.png") && !exists("missingout"),
          "a missing input file is refused before any work");

    /* weights with a NaN are refused by info and deblur, naming the tensor */
    {
        sung_model *nm;
        sung_error e;
        CHECK(sung_model_create(&nm, SUNG_SUNG, 4, 5, &e) == SUNG_OK, "%s", e.msg);
        int ndim, shape[4];
        float *data;
        char tname[96]; /* a copy: the model's own name goes with sung_model_free (found by make asan) */
        snprintf(tname, sizeof tname, "%s", sung_model_tensor(nm, 3, &ndim, shape, &data, NULL));
        data[1] = NAN;
        char p[4096];
        snprintf(p, sizeof p, "%s/nan.safetensors", dir);
        CHECK(sung_model_save(nm, p, 0, &e) == SUNG_OK, "%s", e.msg);
        sung_model_free(nm);
        CHECK(run("info nan.safetensors") == 1 && file_has("err.txt", tname) && file_has("err.txt", "NaN at index 1"),
              "info of weights with a NaN");
        CHECK(run("deblur --model nan.safetensors imgs/x.png -o nan.png") == 1 && file_has("err.txt", tname) &&
                  !exists("nan.png"),
              "deblur with weights with a NaN");
    }

    /* synth: deterministic, GoPro layout */
    CHECK(run("synth --photos photos --out s1 --count 4 --size 64x64 --seed 3") == 0, "synth");
    CHECK(run("train --data s1 --out rb --batch 0") == 2 && !exists("rb/last.safetensors"), "train --batch 0: a usage error");
    CHECK(run("synth --photos photos --out s2 --count 4 --size 64x64 --seed 3") == 0, "synth again");
    CHECK(same_file("s1/a/blur/000000.png", "s2/a/blur/000000.png") &&
              same_file("s1/b/sharp/000001.png", "s2/b/sharp/000001.png"),
          "synth is not deterministic (or not in the GoPro layout)");

    /* train: 4 steps in one go == 2 steps, then --resume to 4 */
    const char *base = "train --data s1 --variant sung --width 4 --patch 32 --batch 2 --iters 1 --val s1 --val-every 1";
    CHECK(run("%s --out r1 --steps 4", base) == 0, "train 4 steps");
    CHECK(run("%s --out r2 --steps 2", base) == 0, "train 2 steps");
    CHECK(run("train --data s1 --resume r2 --steps 4") == 0, "resume to 4 steps");
    CHECK(same_file("r1/last.safetensors", "r2/last.safetensors"), "resumed weights differ from uninterrupted ones");
    CHECK(exists("r1/best.safetensors") && file_has("r1/log.csv", "step,epoch,lr,loss"), "best / log");
    CHECK(run("%s --out r1 --steps 4", base) != 0 && file_has("err.txt", "--resume"), "refuse to overwrite a run");
    CHECK(run("train --data s1 --resume r2 --batch 3") == 2 && file_has("err.txt", "--short-blur, --shrink, --noise, --ema"),
          "resume with a changed option: not a usage error naming what may change");
    /* the edge terms' weights (SPEC's options) may change on a resume, are kept and printed */
    CHECK(run("%s --out rw --steps 1", base) == 0 && file_has("out.txt", "edge-aux 1 (--w-aux), edge-sup 1 (--w-sup)") &&
              run("train --data s1 --resume rw --steps 2 --w-aux 2.5 --w-sup 0.5") == 0 &&
              file_has("out.txt", "edge-aux 2.5 (--w-aux), edge-sup 0.5 (--w-sup)") &&
              run("train --data s1 --resume rw --steps 3") == 0 && file_has("out.txt", "edge-aux 2.5 (--w-aux), edge-sup 0.5"),
          "--w-aux / --w-sup on resume: not taken, kept or printed");
    CHECK(run("train --data s1 --resume rw --steps 4 --w-aux -1") == 2 && !file_has("rw/log.csv", "\n4,"),
          "--w-aux -1 on resume: not a usage error");
    /* --iters may change on a resume (a curriculum step), and the run keeps the new count;
     * one that the crops do not allow (32 is no multiple of 2^(4+2)) is a usage error that
     * leaves the run as it was */
    CHECK(run("%s --out ri --steps 2", base) == 0 && run("train --data s1 --resume ri --steps 3 --iters 2") == 0 &&
              file_has("out.txt", ", 2 iterations,") && run("train --data s1 --resume ri --steps 4") == 0 &&
              file_has("out.txt", ", 2 iterations,") && file_has("ri/log.csv", "\n4,"),
          "train --resume --iters 2: refused, or not kept by the run");
    /* -1 is a value like any other, not "not given": each is refused, and a resume too */
    {
        static const char *const minus1[] = {"--batch -1", "--iters -1", "--epochs -1", "--lr -1", "--w-aux -1",
                                             "--warmup -1", "--steps -1", "--ema -1", "--lr-halve-every -1",
                                             "--checkpoint-minutes -1", "--patch -1"};
        for (size_t i = 0; i < sizeof minus1 / sizeof *minus1; i++)
            CHECK(run("%s --out rm %s", base, minus1[i]) == 2 && !exists("rm/state.safetensors"),
                  "train %s: not a usage error (taken for an option not given?)", minus1[i]);
        CHECK(run("train --data s1 --resume ri --steps 5 --iters -1") == 2 && file_has("err.txt", "iterations must be"),
              "train --resume --iters -1: not refused");
    }
    CHECK(run("train --data s1 --resume ri --steps 5 --iters 4") == 2 && file_has("err.txt", "multiple") &&
              !file_has("ri/log.csv", "\n5,") && run("train --data s1 --resume ri --steps 5") == 0 &&
              file_has("out.txt", "resuming at step 4") && file_has("out.txt", ", 2 iterations,"),
          "train --resume --iters 4 with 32-pixel crops: not a usage error, or the run changed");
    CHECK(run("%s --out re --steps 1 --ema 1.5", base) == 2 && file_has("err.txt", "--ema") && !exists("re/last.safetensors"),
          "train --ema 1.5: a usage error");
    /* --val: one set's line names its input's PSNR and the images made worse (all 4 by
     * width-4 weights after 2 steps: 7 dB against 27); several
     * sets (a comma list) are each validated, val.csv holds a row per set with the input's
     * PSNR as the library computes it, and the run's score (log.csv, best) is their mean */
    CHECK(run("%s --out v0 --steps 2", base) == 0 && file_has("out.txt", "validation after epoch 1: PSNR ") &&
              file_has("out.txt", "worse than their input)") &&
              file_has("v0/val.csv", "step,epoch,set,images,psnr,input_psnr,gain,worse\n") &&
              file_has("v0/val.csv", "\n2,1,s1,4,") && csv_last("v0/val.csv", "2,1,", ",s1,", 7) == 4 &&
              fabs(csv_last("v0/val.csv", "2,1,", ",s1,", 6) -
                   (csv_last("v0/val.csv", "2,1,", ",s1,", 4) - csv_last("v0/val.csv", "2,1,", ",s1,", 5))) < 2e-4,
          "train --val: the input PSNR or the count of worse images not printed, or val.csv missing");
    CHECK(run("synth --photos photos --out s3 --count 3 --size 64x64 --seed 5 --strength 0.25") == 0, "synth a mild set");
    CHECK(run("%s --out v1 --steps 2 --val s1,s3/", base) == 0 && file_has("out.txt", "2 sets, mean ") &&
              file_has("out.txt", "\n  s1: PSNR ") && file_has("out.txt", "\n  s3: PSNR ") &&
              file_has("out.txt", "on 3 images (input "),
          "train --val s1,s3/: both sets not validated");
    double in1 = input_mean("s1"), in3 = input_mean("s3");
    double c1 = csv_last("v1/val.csv", "2,1,", ",s1,", 5), c3 = csv_last("v1/val.csv", "2,1,", ",s3,", 5);
    CHECK(fabs(c1 - in1) < 1e-3 && fabs(c3 - in3) < 1e-3 && fabs(in1 - in3) > 0.01,
          "val.csv's input PSNRs %.4f, %.4f against the library's %.4f, %.4f", c1, c3, in1, in3);
    double p1 = csv_last("v1/val.csv", "2,1,", ",s1,", 4), p3 = csv_last("v1/val.csv", "2,1,", ",s3,", 4);
    double score = csv_last("v1/log.csv", "2,1,,", "", 7);
    CHECK(fabs(score - (p1 + p3) / 2) < 2e-4 && fabs(p1 - p3) > 0.01,
          "log.csv's validation %.4f is not the mean of the sets' %.4f and %.4f", score, p1, p3);
    /* the start says what it validates and how often, and when it checkpoints; --val-every
     * may change on a resume and is kept */
    CHECK(file_has("out.txt", "validating on s1, s3 every 1 epoch and at the end, 4 iterations (--val-every, --val-iters)\n") &&
              file_has("out.txt", "a checkpoint every 10 minutes (--checkpoint-minutes)\n"),
          "train --val s1,s3/: the validation or the checkpoints not announced");
    CHECK(run("train --data s1 --resume v1 --steps 3 --val-every 2") == 0 && file_has("out.txt", " every 2 epochs and ") &&
              run("train --data s1 --resume v1 --steps 4") == 0 && file_has("out.txt", " every 2 epochs and "),
          "train --resume --val-every 2: not announced or not kept");
    /* a --val pair whose two images differ in size: named, exit 1, no run created */
    CHECK(run("synth --photos photos --out sx --count 4 --size 64x64 --seed 3") == 0 &&
              run("synth --photos photos --out sy --count 4 --size 96x64 --seed 3") == 0 &&
              rename(test_path(dir, "sy/a/sharp/000000.png"), test_path(dir, "sx/a/sharp/000000.png")) == 0 &&
              run("%s --out vx --steps 2 --val sx", base) == 1 && file_has("err.txt", "(64x64) and ") &&
              file_has("err.txt", "(96x64) differ in size") && !exists("vx/state.safetensors"),
          "train --val with a pair of two sizes: not refused with both sizes named");
    /* val-images.csv: a row per image, named as `sung eval --csv` names it ("<seq>/<file>";
     * synth makes a sequence per photo, a and b), whose PSNRs average to the set's row in
     * val.csv and whose input PSNRs to its input's */
    {
        static const char *const names[] = {"a/000000.png", "a/000001.png", "b/000000.png", "b/000001.png"};
        double sp = 0, si = 0;
        int n1 = 0, n3 = 0;
        for (int i = 0; i < 4; i++) {
            char key[64];
            snprintf(key, sizeof key, ",s3,%s,", names[i]);
            double p = csv_last("v1/val-images.csv", "2,1,", key, 4), q = csv_last("v1/val-images.csv", "2,1,", key, 5);
            if (!isnan(p) && !isnan(q)) sp += p, si += q, n3++;
            snprintf(key, sizeof key, ",s1,%s,", names[i]);
            n1 += !isnan(csv_last("v1/val-images.csv", "2,1,", key, 4));
        }
        CHECK(file_has("v1/val-images.csv", "step,epoch,set,image,psnr,input_psnr\n") && n1 == 4 && n3 == 3 &&
                  fabs(sp / n3 - p3) < 2e-4 && fabs(si / n3 - c3) < 2e-4,
              "val-images.csv: %d of s1's 4 images, %d of s3's 3, their mean %.4f / input %.4f against val.csv's "
              "%.4f / %.4f",
              n1, n3, n3 ? sp / n3 : NAN, n3 ? si / n3 : NAN, p3, c3);
    }
    /* a resume on other validation data keeps the best chosen on the old data aside and
     * starts a new one; the same data given again changes nothing */
    CHECK(run("train --data s1 --resume v1 --steps 4 --val s1,s3/") == 0 && !file_has("out.txt", "validation data changed") &&
              run("train --data s1 --resume v1 --steps 6 --val s3") == 0 &&
              file_has("out.txt", "the validation data changed: the best so far (") &&
              file_has("out.txt", "best-until-step4.safetensors") && exists("v1/best-until-step4.safetensors") &&
              file_has("out.txt", "validation after epoch 3: PSNR ") && file_has("out.txt", "(best)") &&
              !same_file("v1/best.safetensors", "v1/best-until-step4.safetensors"),
          "resume with other --val: the old best not kept aside, or no new best");
    /* the change is saved at once (the state names the new data and no best), even with
     * no step to run */
    CHECK(run("train --data s1 --resume v1 --steps 6 --val s1") == 0 && file_has("out.txt", "validation data changed") &&
              exists("v1/best-until-step6.safetensors") && file_has_bytes("v1/state.safetensors", "\"run.val\":\"s1\"") &&
              file_has_bytes("v1/state.safetensors", "\"pos.best_psnr\":\"-inf\""),
          "resume with other --val and no step to run: the change not saved");
    CHECK(run("%s --out vx --steps 1 --val s1,,s3", base) == 2 && file_has("err.txt", "an empty name") && !exists("vx"),
          "--val with an empty name: a usage error");
    CHECK(run("%s --out vx --steps 1 --val s1,nothere", base) == 1 && file_has("err.txt", "nothere") && !exists("vx"),
          "--val naming a missing set: an error before anything is made");
    /* --ema: last.safetensors is the average (not the weights of the run without one), and
     * a resumed run's equals the uninterrupted one's; --ema can start on a resume */
    CHECK(run("%s --out e1 --steps 4 --ema 0.5", base) == 0 && run("%s --out e2 --steps 2 --ema 0.5", base) == 0 &&
              run("train --data s1 --resume e2 --steps 4") == 0 && same_file("e1/last.safetensors", "e2/last.safetensors") &&
              !same_file("e1/last.safetensors", "r1/last.safetensors") && file_has("out.txt", "moving average"),
          "train --ema: resumed average differs from the uninterrupted one, or is the plain weights");
    /* init --from STATE --state: the weights the steps use, which --ema does not change (e1's
     * are r1's), not the average; a state is not a weights file without --state */
    CHECK(run("init --from e1/state.safetensors --state -o e1w.safetensors") == 0 &&
              same_file("e1w.safetensors", "r1/last.safetensors") && file_has("out.txt", "weights of the state"),
          "init --from a state --state: not the weights its steps use");
    CHECK(run("init --from e1/state.safetensors -o e1x.safetensors") == 1 && !exists("e1x.safetensors") &&
              file_has("err.txt", "adam."),
          "init --from a state without --state: should fail naming an optimizer tensor");
    CHECK(run("init --from r1/last.safetensors --state -o e1y.safetensors") == 1 && !exists("e1y.safetensors"),
          "init --state on a weights file: should fail");
    CHECK(run("init --state -o e1z.safetensors") == 2 && !exists("e1z.safetensors"), "init --state without --from: a usage error");
    /* --ema-warmup: another average, which a resume keeps (the same as uninterrupted);
     * without --ema a usage error */
    CHECK(run("%s --out w1 --steps 4 --ema 0.5 --ema-warmup", base) == 0 && file_has("out.txt", "warmed up") &&
              run("%s --out w2 --steps 2 --ema 0.5 --ema-warmup", base) == 0 &&
              run("train --data s1 --resume w2 --steps 4") == 0 && file_has("out.txt", "warmed up") &&
              same_file("w1/last.safetensors", "w2/last.safetensors") &&
              !same_file("w1/last.safetensors", "e1/last.safetensors"),
          "train --ema-warmup: not kept by a resume, or the same average as without it");
    CHECK(run("%s --out w3 --steps 1 --ema-warmup", base) == 2 && file_has("err.txt", "--ema") &&
              !exists("w3/last.safetensors"),
          "train --ema-warmup without --ema: a usage error");
    CHECK(run("%s --out e3 --steps 2", base) == 0 && run("train --data s1 --resume e3 --steps 4 --ema 0.5") == 0 &&
              !same_file("e3/last.safetensors", "r1/last.safetensors"),
          "train --ema on a resume");
    CHECK(run("%s --out rt --steps 1 --threads 0", base) == 2 && file_has("err.txt", "--threads") &&
              !exists("rt/last.safetensors"),
          "train --threads 0: a usage error");
    CHECK(run("%s --out rt --steps 1 --threads two", base) == 2 && file_has("err.txt", "--threads"),
          "train --threads two: a usage error");
    CHECK(run("%s --out rt --steps 2 --threads 1", base) == 0 && run("train --data s1 --resume rt --steps 3 --threads auto") == 0 &&
              file_has("rt/log.csv", "\n3,"),
          "train --threads 1, resumed with --threads auto");
    CHECK(run("%s --out rp --steps 1 --precision fp16", base) == 2 && file_has("err.txt", "--precision"),
          "train --precision fp16: a usage error");
    /* precision: part of the run (a resume goes on in it, bit for bit); bf16 is the
     * default where it runs, and it is not the fp32 run */
    CHECK(run("%s --out f1 --steps 4 --precision fp32", base) == 0 && run("%s --out f2 --steps 2 --precision fp32", base) == 0 &&
              run("train --data s1 --resume f2 --steps 4") == 0 && same_file("f1/last.safetensors", "f2/last.safetensors"),
          "fp32 training: resumed weights differ from uninterrupted ones");
    if (strstr(sung_isa(), "bf16")) {
        CHECK(run("%s --out b1 --steps 4 --precision bf16", base) == 0 && same_file("b1/last.safetensors", "r1/last.safetensors"),
              "bf16 training is not the default here");
        CHECK(!same_file("b1/last.safetensors", "f1/last.safetensors"), "bf16 training gave the fp32 weights");
    } else {
        CHECK(same_file("f1/last.safetensors", "r1/last.safetensors"), "fp32 training is not the default without bf16");
        CHECK(run("%s --out b1 --steps 1 --precision bf16", base) == 2, "bf16 training refused without avx512_bf16");
    }
    CHECK(run("plot r1 -o curves.svg") == 0 && file_has("curves.svg", "<svg"), "plot");
    /* batches of 3 of 4 pairs (3 + 1 an epoch): resumed mid-epoch and after a short
     * batch, twice, still the uninterrupted run's weights */
    const char *base3 = "train --data s1 --variant sung --width 4 --patch 32 --batch 3 --iters 1";
    CHECK(run("%s --out q6 --steps 5", base3) == 0 && run("%s --out q7 --steps 1", base3) == 0 &&
              run("train --data s1 --resume q7 --steps 2") == 0 && run("train --data s1 --resume q7 --steps 5") == 0,
          "batch 3: 5 steps, and 1 + 1 + 3 resumed");
    CHECK(same_file("q6/last.safetensors", "q7/last.safetensors") && file_has("q7/log.csv", "\n5,3,"),
          "batch 3: resumed mid-epoch, the weights differ (or step 5 is not in epoch 3)");

    /* train --photos: pairs made on the fly; also resumes bit for bit, and refuses to mix
     * sources */
    const char *pbase = "train --photos photos --variant sung --width 4 --patch 32 --batch 2 --iters 1 "
                        "--crops-per-photo 3 --warmup 3";
    CHECK(run("%s --out p1 --steps 4", pbase) == 0 && file_has("out.txt", "6 pairs made from photos"),
          "train --photos 4 steps");
    CHECK(run("%s --out p2 --steps 2", pbase) == 0, "train --photos 2 steps");
    CHECK(run("train --photos photos --resume p2 --steps 4") == 0, "train --photos: resume to 4 steps");
    CHECK(same_file("p1/last.safetensors", "p2/last.safetensors"), "--photos: resumed weights differ");
    CHECK(file_has("p1/log.csv", "\n1,1,3.33333e-05,") && file_has("p1/log.csv", "\n3,1,0.0001,"),
          "--warmup: the learning rate does not rise 1/3, 2/3, 1 of --lr");
    CHECK(run("train --data s1 --resume p2 --steps 5") == 2 && file_has("err.txt", "--photos"),
          "resume of a --photos run with --data");
    CHECK(run("train --photos photos --resume r2 --steps 5") == 2 && file_has("err.txt", "--data"),
          "resume of a --data run with --photos");
    CHECK(run("train --photos photos --resume p2 --steps 5 --lr 1e-5") == 0 && file_has("p2/log.csv", "\n5,") &&
              file_has("p2/log.csv", ",1e-05,"),
          "resume with a new --lr");
    /* width 4, 128² crops: about 27 MB of working memory per image beside a 5 MB model */
    CHECK(run("train --photos photos --width 4 --iters 1 --patch 128 --batch 4 --out p3 --steps 1 --max-memory 64") == 0 &&
              file_has("out.txt", "micro-batches of 2 (2 per step)"),
          "--max-memory 64: micro-batches of 2");
    /* a resumed run keeps its budget, and one given then replaces it; without one, a new run
     * sizes itself to the machine (at least the old fixed 1536 MB: the whole batch fits) */
    CHECK(run("train --photos photos --resume p3 --steps 2") == 0 && file_has("out.txt", "micro-batches of 2 (2 per step)") &&
              file_has("out.txt", "of 64 MB\n"),
          "resumed: --max-memory 64 kept");
    CHECK(run("train --photos photos --resume p3 --steps 3 --max-memory 200") == 0 &&
              file_has("out.txt", "micro-batches of 4 (1 per step)") && file_has("out.txt", "of 200 MB\n"),
          "resumed with --max-memory 200: micro-batches of 4");
    CHECK(run("train --photos photos --width 4 --iters 1 --patch 128 --batch 4 --out p5 --steps 1") == 0 &&
              file_has("out.txt", "micro-batches of 4 (1 per step)") && file_has("out.txt", "(a quarter of the RAM)"),
          "no --max-memory: a quarter of the RAM");
    CHECK(run("%s --out p4 --steps 1 --max-memory 10", pbase) == 2 && !exists("p4/state.safetensors"),
          "--max-memory 10: a usage error");
    CHECK(run("train --photos photos --data s1 --out px") == 2, "--photos and --data together");
    CHECK(run("train --data s1 --out px --crops-per-photo 3") == 2, "--crops-per-photo without --photos");
    CHECK(run("train --data s1 --out px --min-texture 0") == 2, "--min-texture without --photos");
    CHECK(run("%s --out px --steps 1 --min-texture -1", pbase) == 2 && !exists("px/state.safetensors"),
          "--min-texture -1: a usage error");
    /* the threshold is the run's: kept on resume, printed, and a new one may be given */
    CHECK(run("%s --out p6 --steps 1 --min-texture 0", pbase) == 0 &&
              file_has("out.txt", "texture under 0 are drawn again") &&
              run("train --photos photos --resume p6 --steps 2") == 0 &&
              file_has("out.txt", "texture under 0 are drawn again") &&
              run("train --photos photos --resume p6 --steps 3 --min-texture 0.02") == 0 &&
              file_has("out.txt", "texture under 0.02 are drawn again"),
          "--min-texture: not kept by the run, or not printed");
    CHECK(run("%s --out p7 --steps 1", pbase) == 0 && file_has("out.txt", "texture under 0.004 are drawn again"),
          "the default --min-texture is not 0.004");
    /* an epoch of 6 pairs (3 steps): the filter's count at its end, not with 0 */
    CHECK(run("train --photos photos --resume p7 --steps 3") == 0 &&
              file_has("out.txt", "photo windows drawn (") && file_has("out.txt", "put back for texture under 0.004\n") &&
              run("train --photos photos --resume p6 --steps 6 --min-texture 0") == 0 &&
              !file_has("out.txt", "put back for texture"),
          "the count of windows put back is not printed at the epoch's end, or is printed with --min-texture 0");
    /* a state from before run.min_texture (the key renamed away) resumes with the
     * threshold those runs trained with, not today's default */
    CHECK(run("%s --out p8 --steps 1", pbase) == 0 &&
              replace_in_file("p8/state.safetensors", "\"run.min_texture\"", "\"run.min_texturX\"") &&
              run("train --photos photos --resume p8 --steps 2") == 0 &&
              file_has("out.txt", "texture under 0.012 are drawn again"),
          "a state without run.min_texture does not resume at 0.012");
    /* --short-blur: with --photos only, a fraction, the run's (kept on resume, printed,
     * replaceable); a state from before it trains without (0: nothing printed) */
    CHECK(run("train --data s1 --out px --short-blur 0.3") == 2, "--short-blur without --photos");
    CHECK(run("%s --out px --steps 1 --short-blur 1.5", pbase) == 2 && !exists("px/state.safetensors"),
          "--short-blur 1.5: a usage error");
    CHECK(run("%s --out p9 --steps 1 --short-blur 0.3", pbase) == 0 &&
              file_has("out.txt", "30 % of the pairs have their camera motion scaled") &&
              run("train --photos photos --resume p9 --steps 2") == 0 &&
              file_has("out.txt", "30 % of the pairs have their camera motion scaled") &&
              run("train --photos photos --resume p9 --steps 3 --short-blur 0.5") == 0 &&
              file_has("out.txt", "50 % of the pairs have their camera motion scaled"),
          "--short-blur: not kept by the run, or not printed");
    CHECK(replace_in_file("p8/state.safetensors", "\"run.short_blur\"", "\"run.short_bluX\"") &&
              run("train --photos photos --resume p8 --steps 3") == 0 && !file_has("out.txt", "camera motion scaled"),
          "a state without run.short_blur trains with shorter blur");
    /* --shrink: with --photos only, a factor in [1, 8], the run's (kept on resume,
     * printed, replaceable); a state from before it trains photos as loaded */
    CHECK(run("train --data s1 --out px --shrink 2") == 2, "--shrink without --photos");
    CHECK(run("%s --out px --steps 1 --shrink 0.5", pbase) == 2 && run("%s --out px --steps 1 --shrink 9", pbase) == 2 &&
              !exists("px/state.safetensors"),
          "--shrink 0.5 or 9: not a usage error");
    CHECK(run("%s --out p10 --steps 1 --shrink 2", pbase) == 0 && file_has("out.txt", "shrunk by a factor of 1..2 first") &&
              run("train --photos photos --resume p10 --steps 2") == 0 &&
              file_has("out.txt", "shrunk by a factor of 1..2 first") &&
              run("train --photos photos --resume p10 --steps 3 --shrink 1.5") == 0 &&
              file_has("out.txt", "shrunk by a factor of 1..1.5 first") &&
              run("train --photos photos --resume p10 --steps 4 --shrink 1") == 0 && !file_has("out.txt", "shrunk by"),
          "--shrink: not kept by the run, or not printed");
    CHECK(run("%s --out p11 --steps 1 --shrink 2", pbase) == 0 &&
              replace_in_file("p11/state.safetensors", "\"run.shrink\"", "\"run.shrinX\"") &&
              run("train --photos photos --resume p11 --steps 2") == 0 && !file_has("out.txt", "shrunk by"),
          "a state without run.shrink shrinks its photos");
    /* --noise: with --photos only, a scale in [0, 10], the run's (kept on resume, printed
     * when not 1, replaceable); a state from before it trains with the synth's noise */
    CHECK(run("train --data s1 --out px --noise 0") == 2, "--noise without --photos");
    CHECK(run("%s --out px --steps 1 --noise -1", pbase) == 2 && run("%s --out px --steps 1 --noise 11", pbase) == 2 &&
              run("%s --out px --steps 1 --noise nan", pbase) == 2 && !exists("px/state.safetensors"),
          "--noise -1, 11 or nan: not a usage error");
    /* any number option: nan and inf are not numbers (nan read as not given before) */
    CHECK(run("%s --out px --steps 1 --lr nan", pbase) == 2 && file_has("err.txt", "is not a valid number") &&
              run("%s --out px --steps 1 --shrink inf", pbase) == 2 && run("synth --photos photos --out snan --count 1 --noise nan") == 2 &&
              !exists("px/state.safetensors") && !exists("snan"),
          "--lr nan, --shrink inf, synth --noise nan: not usage errors");
    CHECK(run("%s --out p12 --steps 1 --noise 0", pbase) == 0 && file_has("out.txt", "noise is scaled by 0 (--noise 0)") &&
              run("train --photos photos --resume p12 --steps 2") == 0 &&
              file_has("out.txt", "noise is scaled by 0 (--noise 0)") &&
              run("train --photos photos --resume p12 --steps 3 --noise 0.5") == 0 &&
              file_has("out.txt", "noise is scaled by 0.5 (--noise 0.5)") &&
              run("train --photos photos --resume p12 --steps 4 --noise 1") == 0 && !file_has("out.txt", "noise is scaled"),
          "--noise: not kept by the run, or not printed");
    CHECK(run("%s --out p13 --steps 1 --noise 0", pbase) == 0 &&
              replace_in_file("p13/state.safetensors", "\"run.noise\"", "\"run.noisX\"") &&
              run("train --photos photos --resume p13 --steps 2") == 0 && !file_has("out.txt", "noise is scaled"),
          "a state without run.noise trains without the synth's noise");
    CHECK(run("train --photos nowhere --out px") != 0 && !exists("px/state.safetensors"), "--photos: no folder");
    CHECK(run("eval --model r1/last.safetensors --data s1 --iters all --csv e.csv --save saved") == 0 &&
              file_has("e.csv", "image,psnr,ssim,iters") && exists("saved/iters-1/a/blur/000000.png"),
          "eval of a model on a GoPro-layout set");

    /* Ctrl-C: saves and exits 130; resumed, the run ends with the same weights as an
     * uninterrupted one */
    const char *base2 = "train --data s1 --variant base --width 4 --patch 32 --batch 2 --iters 1 --steps 200";
    CHECK(run("%s --out r4", base2) == 0, "train 200 steps");
    CHECK(!exists("r3"), "r3 is taken: the interrupted run below would not start");
    snprintf(cmd, sizeof cmd, "cd %s && exec env OMP_NUM_THREADS=2 %s/%s %s --out r3 >int.txt 2>&1", dir,
             getenv("PWD"), SUNG_BIN, base2);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600 && !file_has("r3/log.csv", "\n3,"); i++) nanosleep(&(struct timespec){0, 20000000}, NULL);
    kill(pid, SIGINT);
    int st;
    waitpid(pid, &st, 0);
    no_sanitizer_report("int.txt", "train (Ctrl-C)", WIFEXITED(st) ? WEXITSTATUS(st) : 255);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 130 && exists("r3/state.safetensors") && file_has("int.txt", "--resume"),
          "Ctrl-C: exit status %d (want 130), state saved %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
          exists("r3/state.safetensors"));
    CHECK(run("train --data s1 --resume r3") == 0, "resume after Ctrl-C");
    CHECK(same_file("r3/last.safetensors", "r4/last.safetensors"), "interrupted + resumed weights differ");

    /* SIGTERM (schedulers, docker stop) saves the same way and exits 143 */
    CHECK(!exists("r5"), "r5 is taken: the interrupted run below would not start");
    snprintf(cmd, sizeof cmd, "cd %s && exec env OMP_NUM_THREADS=2 %s/%s %s --out r5 >term.txt 2>&1", dir,
             getenv("PWD"), SUNG_BIN, base2);
    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600 && !file_has("r5/log.csv", "\n3,"); i++) nanosleep(&(struct timespec){0, 20000000}, NULL);
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    no_sanitizer_report("term.txt", "train (SIGTERM)", WIFEXITED(st) ? WEXITSTATUS(st) : 255);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 143 && exists("r5/state.safetensors") && file_has("term.txt", "--resume"),
          "SIGTERM: exit status %d (want 143), state saved %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
          exists("r5/state.safetensors"));
    CHECK(run("train --data s1 --resume r5") == 0 && same_file("r5/last.safetensors", "r4/last.safetensors"),
          "SIGTERM + resume: weights differ from an uninterrupted run");

    /* SIGKILL (the OOM killer, a power cut) in the middle of checkpointing every step: the
     * state on disk is a whole checkpoint, the resumed run ends with the uninterrupted
     * run's weights, and a temporary file the kill left is gone after the next write */
    CHECK(!exists("r6"), "r6 is taken: the interrupted run below would not start");
    snprintf(cmd, sizeof cmd, "cd %s && exec env OMP_NUM_THREADS=2 %s/%s %s --checkpoint-minutes 1e-9 --out r6 "
             ">kill.txt 2>&1", dir, getenv("PWD"), SUNG_BIN, base2);
    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600 && !file_has("r6/log.csv", "\n5,"); i++) nanosleep(&(struct timespec){0, 20000000}, NULL);
    nanosleep(&(struct timespec){0, 7000000}, NULL); /* somewhere in a step or its checkpoint */
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && exists("r6/state.safetensors"),
          "SIGKILL: not killed (status %d) or no checkpoint", st);
    CHECK(run("train --data s1 --resume r6") == 0 && same_file("r6/last.safetensors", "r4/last.safetensors"),
          "SIGKILL + resume: weights differ from an uninterrupted run");
    snprintf(cmd, sizeof cmd, "cd %s && ! ls r6 | grep -q '[.]tmp[.]'", dir);
    CHECK(system(cmd) == 0, "SIGKILL: a temporary file left in the run folder after the resumed run");

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!test_failures) CHECK(system(cmd) == 0, "cleanup");
    else fprintf(stderr, "left %s for inspection\n", dir);
    return test_summary("test_cli");
}
