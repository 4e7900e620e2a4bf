/* sung bench: the C engine on the shapes of issue 4 — a width-32 sung model, inference
 * with 4 scale iterations at 512×512 and 1280×720, one training step (batch 4, 128×128
 * crops, 3 iterations: sung_train_grads + sung_train_apply) and the time per layer type
 * of those runs (sung_profile_get) — as the median of --runs runs after one warm-up, in
 * seconds, GFLOP/s (sung_model_flops; a training step counts 3× the forward FLOPs of
 * its batch), % of the machine's peak (ops_peak_flops: an FMA probe with the kernels
 * and threads in use) and peak resident memory (getrusage: the process so far, so run a
 * size alone to know its own). bench/compare.py (make bench) puts it next to PyTorch.
 *
 * With --json the same numbers go out as one JSON object; `--json -` writes it to stdout
 * and the table to stderr. Usage errors, and a precision this build or CPU cannot run,
 * exit 2. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops.h"

enum { MAX_SIZES = 16, MAX_ROWS = 64, MAX_RUNS = 1000 };
enum { DO_INFER = 1, DO_TRAIN = 2, DO_LAYERS = 4, DO_PICTURES = 8 };
/* a timed run's profile: none, or keyed by a sung_profile_key */
enum { PROF_NONE = -1 };

typedef struct {
    FILE *txt;      /* the table for people */
    FILE *json;     /* NULL without --json */
    double peak;    /* FLOP/s of the FMA probe; 0 if unknown (no OpenMP timer) */
    int runs;
} bench;

/* A usage error: the message, and the exit status 2. */
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sung bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n), n ≥ 1; v itself is left as it was. */
static double median(const double *v, int n)
{
    double s[MAX_RUNS];
    memcpy(s, v, sizeof *v * n);
    qsort(s, n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024; /* Linux: kB */
}

/* "WxH[,WxH...]" appended to sz (1 ≤ W, H ≤ SUNG_MAX_SIDE). */
static int parse_sizes(const char *s, int sz[][2], int *n)
{
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long w = strtol(p, &end, 10), h = 0;
        int ok = end != p && (*end == 'x' || *end == 'X');
        if (ok) {
            const char *q = end + 1;
            h = strtol(q, &end, 10);
            ok = end != q && !errno && (*end == ',' || !*end) && w >= 1 && w <= SUNG_MAX_SIDE && h >= 1 && h <= SUNG_MAX_SIDE;
        }
        if (!ok) return bad("--size: '%s' is not WxH or a comma list of them (e.g. 512x512,1280x720; 1 to %d a side)", s,
                          SUNG_MAX_SIDE);
        if (*n == MAX_SIZES) return bad("--size: at most %d sizes", MAX_SIZES);
        sz[*n][0] = (int)w, sz[*n][1] = (int)h, (*n)++;
        if (!*end) return 0;
        p = end + 1;
    }
}

/* Every --size value: cli_parse keeps only the last, and the option may repeat. argv has
 * already passed cli_parse, so each option that takes a value has one. */
static int collect_sizes(const cli_opt *opts, int argc, char **argv, int sz[][2], int *n)
{
    for (int i = 1; i < argc; i++) {
        const cli_opt *o = opts;
        while (o->name && strcmp(o->name, argv[i])) o++;
        if (!o->name || o->kind == 'b') continue;
        if (!strcmp(o->name, "--size") && parse_sizes(argv[i + 1], sz, n)) return 2;
        i++;
    }
    return 0;
}

/* Percent of the machine's peak of flops per second, or -1 when the peak is unknown. */
static double pct(const bench *b, double flops_per_s) { return b->peak > 0 ? 100 * flops_per_s / b->peak : -1; }

static void txt_pct(const bench *b, double p, int width)
{
    if (p < 0) fprintf(b->txt, "%*s", width, "-");
    else fprintf(b->txt, "%*.1f", width, p);
}

static void json_num(const bench *b, const char *key, const char *fmt, double v)
{
    fprintf(b->json, ", \"%s\": ", key);
    if (v < 0) fputs("null", b->json);
    else fprintf(b->json, fmt, v);
}

static void json_runs(const bench *b, const char *key, const double *t)
{
    fprintf(b->json, ", \"%s\": [", key);
    for (int r = 0; r < b->runs; r++) fprintf(b->json, "%s%.4f", r ? ", " : "", t[r]);
    fputc(']', b->json);
}

/* pixels of a picture row's name ("64x48", "64x48 (backward)"), forward before backward */
static double picture_order(const sung_layer_time *L)
{
    int w = 0, h = 0;
    if (sscanf(L->name, "%dx%d", &w, &h) != 2) return 0;
    return (double)w * h * 2 + (strstr(L->name, "backward") ? 0 : 1);
}

static int by_picture(const void *a, const void *b)
{
    double x = picture_order(a), y = picture_order(b);
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The profile rows of the timed runs (rows[r][0..nrows[r]), total[r] seconds in
 * all), as medians over the runs: a table, and under key in the JSON. "other" is the
 * median of what the runs spent outside the rows (element-wise ops, the pyramid, edge
 * maps, padding, loss, Adam). */
static void layer_report(const bench *b, const char *label, const char *key, sung_layer_time (*rows)[MAX_ROWS],
                         const int *nrows, const double *total, sung_profile_key prof)
{
    /* the types in the order the first run met them (every run meets the same ones), the
     * pictures largest first */
    int R = b->runs, n = nrows[0] < MAX_ROWS ? nrows[0] : MAX_ROWS;
    if (prof == SUNG_PROFILE_PICTURE) qsort(rows[0], n, sizeof *rows[0], by_picture);
    double t[MAX_RUNS], other[MAX_RUNS], tot = median(total, R);
    for (int r = 0; r < R; r++) other[r] = total[r];
    fprintf(b->txt, "\n%s: time per %s (median of %d run%s)\n", label,
            prof == SUNG_PROFILE_PICTURE ? "input picture of a convolution" : "layer type", R, R > 1 ? "s" : "");
    fprintf(b->txt, "  %-30s %7s %9s %7s %10s %7s\n", "", "calls", "s", "% time", "GFLOP/s", "% peak");
    if (b->json) fprintf(b->json, ", \"%s\": [", key);
    for (int i = 0; i < n; i++) {
        const sung_layer_time *L = &rows[0][i];
        for (int r = 0; r < R; r++) {
            int j = 0;
            while (j < nrows[r] && j < MAX_ROWS && strcmp(rows[r][j].name, L->name)) j++;
            t[r] = j < nrows[r] && j < MAX_ROWS ? rows[r][j].seconds : 0;
            other[r] -= t[r];
        }
        double s = median(t, R), gf = s > 0 ? L->flops / s : 0;
        fprintf(b->txt, "  %-30s %7ld %9.4f %7.1f %10.1f ", L->name, L->calls, s, tot > 0 ? 100 * s / tot : 0, gf / 1e9);
        txt_pct(b, pct(b, gf), 7);
        fputc('\n', b->txt);
        if (b->json) {
            fprintf(b->json, "%s{\"name\": \"%s\", \"calls\": %ld, \"s\": %.5f, \"gflop\": %.4f, \"gflops\": %.2f",
                    i ? ", " : "", L->name, L->calls, s, L->flops / 1e9, gf / 1e9);
            json_num(b, "peak_pct", "%.2f", pct(b, gf));
            fputc('}', b->json);
        }
    }
    double o = median(other, R);
    fprintf(b->txt, "  %-30s %7s %9.4f %7.1f\n  %-30s %7s %9.4f\n", "other", "", o, tot > 0 ? 100 * o / tot : 0, "total", "",
            tot);
    if (nrows[0] > MAX_ROWS) fprintf(b->txt, "  (%d more rows not shown)\n", nrows[0] - MAX_ROWS);
    if (b->json) fprintf(b->json, "%s{\"name\": \"other\", \"s\": %.5f}], \"%s_total_s\": %.5f", n ? ", " : "", o, key, tot);
}


/* One timed row: the label goes out before the runs (progress on a slow machine), the
 * numbers after them; the JSON gets them under PREFIX_s, PREFIX_gflops, PREFIX_peak_pct,
 * PREFIX_gflop, PREFIX_runs_s and PREFIX_rss_mb (the process's peak so far). */
static void row_start(const bench *b, const char *label)
{
    fprintf(b->txt, "%-46s", label);
    fflush(b->txt);
}

static void row_end(const bench *b, const char *prefix, const double *t, double flops)
{
    double med = median(t, b->runs), gf = flops / med;
    long rss = peak_rss_mb();
    fprintf(b->txt, " %8.3f s %8.1f GFLOP/s ", med, gf / 1e9);
    txt_pct(b, pct(b, gf), 5);
    fprintf(b->txt, "%% of peak   peak RSS %ld MB\n", rss);
    if (!b->json) return;
    char key[96];
    snprintf(key, sizeof key, "%s_s", prefix);
    json_num(b, key, "%.4f", med);
    snprintf(key, sizeof key, "%s_gflops", prefix);
    json_num(b, key, "%.2f", gf / 1e9);
    snprintf(key, sizeof key, "%s_peak_pct", prefix);
    json_num(b, key, "%.2f", pct(b, gf));
    snprintf(key, sizeof key, "%s_gflop", prefix);
    json_num(b, key, "%.3f", flops / 1e9);
    snprintf(key, sizeof key, "%s_runs_s", prefix);
    json_runs(b, key, t);
    snprintf(key, sizeof key, "%s_rss_mb", prefix);
    json_num(b, key, "%.0f", (double)rss);
}

/* The JSON key's prefix of a profile's rows */
static const char *prof_name(int prof) { return prof == SUNG_PROFILE_PICTURE ? "pictures" : "layers"; }

/* Deblurs a w×h image runs+1 times (the first a warm-up); with prof (a sung_profile_key,
 * or PROF_NONE), per layer type or per input picture too. */
static int bench_infer(bench *b, sung_model *m, int w, int h, int iters, int prof)
{
    sung_error err;
    sung_image in = {0}, out = {0};
    int R = b->runs, rc = 0, nrows[MAX_RUNS];
    double t[MAX_RUNS];
    int layers = prof != PROF_NONE;
    sung_layer_time(*rows)[MAX_ROWS] = layers ? malloc(sizeof *rows * R) : NULL;
    if (layers && !rows) return cli_fail("bench", "out of memory");
    if (sung_image_alloc(&in, w, h, &err)) {
        free(rows);
        return cli_fail("bench", "%s", err.msg);
    }
    /* a fixed, busy image: the time does not depend on the content */
    for (size_t i = 0; i < (size_t)w * h * 3; i++) in.data[i] = (float)((i * 2654435761u) >> 24 & 255) / 255.0f;
    char label[96];
    snprintf(label, sizeof label, "inference %dx%d, %d iterations", w, h, iters);
    row_start(b, label);
    for (int r = 0; r <= R && !rc; r++) {
        if (layers) sung_profile_reset_by(m, (sung_profile_key)prof);
        double t0 = cli_now();
        if (sung_deblur(m, &in, iters, &out, &err)) rc = cli_fail("bench", "deblur %dx%d: %s", w, h, err.msg);
        double dt = cli_now() - t0;
        sung_image_free(&out);
        if (r && !rc) {
            t[r - 1] = dt;
            if (layers) nrows[r - 1] = sung_profile_get(m, rows[r - 1], MAX_ROWS);
        }
    }
    sung_image_free(&in);
    if (!rc) {
        char key[64];
        snprintf(key, sizeof key, "infer_%dx%d", w, h);
        row_end(b, key, t, sung_model_flops(m, iters, h, w));
        if (layers) {
            snprintf(key, sizeof key, "%s_infer_%dx%d", prof_name(prof), w, h);
            layer_report(b, label, key, rows, nrows, t, (sung_profile_key)prof);
            fputc('\n', b->txt);
        }
    }
    free(rows);
    return rc;
}

/* CPU seconds of the whole process (all threads) */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* One training step (sung_train_grads + sung_train_apply) on a batch of n P×P crops,
 * runs+1 times (the first a warm-up). Also the CPU seconds of each step: on a shared
 * machine, with OMP_WAIT_POLICY=passive (no spinning), the work of a step whatever the
 * other load does to its wall time. */
static int bench_train(bench *b, sung_model *m, int n, int P, const sung_train_opts *o, int prof)
{
    int layers = prof != PROF_NONE;
    sung_error err;
    int R = b->runs, rc = 0, nrows[MAX_RUNS];
    double t[MAX_RUNS], cpu[MAX_RUNS];
    size_t k = (size_t)n * P * P * 3;
    float *blur = malloc(sizeof(float) * k), *sharp = malloc(sizeof(float) * k);
    sung_layer_time(*rows)[MAX_ROWS] = layers ? malloc(sizeof *rows * R) : NULL;
    if (!blur || !sharp || (layers && !rows)) rc = cli_fail("bench", "out of memory");
    for (size_t i = 0; i < k && !rc; i++) blur[i] = (float)(i % 97) / 97.f, sharp[i] = (float)(i % 89) / 89.f;
    char label[96];
    snprintf(label, sizeof label, "training step, batch %d, %dx%d, %d iterations", n, P, P, o->iters);
    if (!rc) row_start(b, label);
    for (int r = 0; r <= R && !rc; r++) {
        if (layers) sung_profile_reset_by(m, (sung_profile_key)prof);
        double t0 = cli_now(), c0 = cpu_now();
        if (sung_train_grads(m, blur, sharp, n, P, P, o, NULL, &err)) rc = cli_fail("bench", "training step: %s", err.msg);
        else sung_train_apply(m, 1e-4);
        double dt = cli_now() - t0;
        if (r && !rc) {
            t[r - 1] = dt;
            cpu[r - 1] = cpu_now() - c0;
            if (layers) nrows[r - 1] = sung_profile_get(m, rows[r - 1], MAX_ROWS);
        }
    }
    if (!rc) {
        /* forward + backward ≈ 3× the forward FLOPs */
        row_end(b, "train", t, 3.0 * n * sung_model_flops(m, o->iters, P, P));
        fprintf(b->txt, "%-46s %8.3f s of CPU (all threads)\n", "", median(cpu, R));
        if (b->json) {
            json_num(b, "train_cpu_s", "%.4f", median(cpu, R));
            json_runs(b, "train_cpu_runs_s", cpu);
        }
        if (layers) {
            char key[64];
            snprintf(key, sizeof key, "%s_train", prof_name(prof));
            layer_report(b, label, key, rows, nrows, t, (sung_profile_key)prof);
        }
    }
    free(blur), free(sharp), free(rows);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    const char *what = "all", *size_s = NULL, *prec_s = "fp32", *variant_s = "sung", *json_path = NULL;
    int runs = 3, width = 32, iters = 4, batch = 4, patch = 128, threads_opt = INT_MIN; /* GIVEN */
    cli_opt opts[] = {
        {"--what", 's', &what,
         "infer, train, layers (inference, with the time per layer type), train-layers (training, likewise), "
         "pictures (inference, with the time per size of a convolution's input picture), train-pictures (training, "
         "likewise) or all (default: infer, train and layers)"},
        {"--size", 's', &size_s, "inference size WxH, repeated or a comma list (default 512x512,1280x720)"},
        {"--runs", 'i', &runs, "timed runs after one warm-up; the median is reported (default 3)"},
        {"--iters", 'i', &iters, "scale iterations of inference (default 4)"},
        {"--batch", 'i', &batch, "training batch (default 4)"},
        {"--patch", 'i', &patch, "training crop side, a multiple of 32 (default 128)"},
        {"--precision", 's', &prec_s, "fp32 (default) or bf16 (mixed-precision convolutions, inference and training)"},
        {"--variant", 's', &variant_s, "sung (default), base or siun"},
        {"--width", 'i', &width, "model width (default 32)"},
        {"--json", 's', &json_path, "also write the results as one JSON object to FILE; - = stdout (the table then goes to stderr)"},
        {"--threads", 'i', &threads_opt, CLI_THREADS_HELP},
        {0},
    };
    int np = cli_parse("bench", "[--what infer|train|layers|train-layers|pictures|train-pictures|all] [--size WxH]... [--runs N] [options]", opts, argc, argv,
                       NULL, 0);
    if (np == -2) return 0;
    if (np < 0) return 2;
    if (cli_threads("bench", threads_opt)) return 2;
    int todo;
    if (!strcmp(what, "infer")) todo = DO_INFER;
    else if (!strcmp(what, "train")) todo = DO_TRAIN;
    else if (!strcmp(what, "layers")) todo = DO_INFER | DO_LAYERS;
    else if (!strcmp(what, "train-layers")) todo = DO_TRAIN | DO_LAYERS;
    else if (!strcmp(what, "pictures")) todo = DO_INFER | DO_PICTURES;
    else if (!strcmp(what, "train-pictures")) todo = DO_TRAIN | DO_PICTURES;
    else if (!strcmp(what, "all")) todo = DO_INFER | DO_TRAIN | DO_LAYERS;
    else return bad("--what must be infer, train, layers, train-layers, pictures, train-pictures or all, not '%s'", what);
    int prof = todo & DO_PICTURES ? SUNG_PROFILE_PICTURE : todo & DO_LAYERS ? SUNG_PROFILE_LAYER : PROF_NONE;
    int sizes[MAX_SIZES][2], nsizes = 0;
    if (collect_sizes(opts, argc, argv, sizes, &nsizes)) return 2;
    if (!nsizes) sizes[0][0] = sizes[0][1] = 512, sizes[1][0] = 1280, sizes[1][1] = 720, nsizes = 2;
    if (runs < 1 || runs > MAX_RUNS) return bad("--runs must be 1..%d, not %d", MAX_RUNS, runs);
    if (iters < 1 || iters > SUNG_MAX_ITERS) return bad("--iters must be 1..%d, not %d", SUNG_MAX_ITERS, iters);
    if (batch < 1 || batch > 1024) return bad("--batch must be 1..1024, not %d", batch);
    int prec = sung_precision_parse(prec_s), variant = sung_variant_parse(variant_s);
    if (prec < 0) return bad("--precision must be fp32 or bf16, not '%s'", prec_s);
    if (variant < 0) return bad("--variant must be sung, base or siun, not '%s'", variant_s);
    if (width < 1) return bad("--width must be positive, not %d", width);

    sung_error err;
    sung_model *m;
    sung_status st = sung_model_create(&m, (sung_variant)variant, width, 0, &err);
    if (st) return st == SUNG_ERR_ARG ? bad("%s", err.msg) : cli_fail("bench", "%s", err.msg);
    sung_train_opts o = sung_train_defaults(m);
    int mult = 1 << (o.iters + 2);
    if (patch < mult || patch % mult || patch > 4096) {
        sung_model_free(m);
        return bad("--patch must be a multiple of %d (training uses %d iterations) up to 4096, not %d", mult, o.iters,
                   patch);
    }
    if (sung_model_set_precision(m, (sung_precision)prec, &err)) {
        sung_model_free(m);
        return bad("%s", err.msg);
    }

    bench b = {stdout, NULL, 0, runs};
    if (json_path && !strcmp(json_path, "-")) {
        b.json = stdout, b.txt = stderr;
    } else if (json_path && !(b.json = fopen(json_path, "w"))) {
        sung_model_free(m);
        return cli_fail("bench", "%s: %s", json_path, strerror(errno));
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    b.peak = ops_peak_flops();
    fprintf(b.txt, "sung bench: %s, width %d, %s; kernels %s, %d thread%s; machine peak ", variant_s, width, prec_s,
            sung_isa(), threads, threads > 1 ? "s" : "");
    if (b.peak > 0) fprintf(b.txt, "%.0f GFLOP/s (FMA probe)\n", b.peak / 1e9);
    else fprintf(b.txt, "unknown (no OpenMP timer)\n");
    fprintf(b.txt, "median of %d run%s after one warm-up\n\n", runs, runs > 1 ? "s" : "");
    if (b.json) {
        fprintf(b.json, "{\"engine\": \"sung-c\", \"kernels\": \"%s\", \"threads\": %d", sung_isa(), threads);
        json_num(&b, "peak_gflops", "%.1f", b.peak > 0 ? b.peak / 1e9 : -1);
        fprintf(b.json, ", \"variant\": \"%s\", \"width\": %d, \"precision\": \"%s\", \"runs\": %d", variant_s, width,
                prec_s, runs);
        if (todo & DO_INFER) fprintf(b.json, ", \"iters\": %d", iters);
        if (todo & DO_TRAIN)
            fprintf(b.json, ", \"batch\": %d, \"patch\": %d, \"train_iters\": %d", batch, patch, o.iters);
    }
    int rc = 0;
    for (int s = 0; s < nsizes && !rc && (todo & DO_INFER); s++)
        rc = bench_infer(&b, m, sizes[s][0], sizes[s][1], iters, prof);
    if (!rc && (todo & DO_INFER) && b.json) json_num(&b, "infer_peak_rss_mb", "%.0f", (double)peak_rss_mb());
    if (!rc && (todo & DO_TRAIN)) {
        rc = bench_train(&b, m, batch, patch, &o, prof);
    }
    if (!rc && b.json) {
        json_num(&b, "peak_rss_mb", "%.0f", (double)peak_rss_mb());
        fputs("}\n", b.json);
    }
    if (b.json && b.json != stdout) {
        if (fclose(b.json) && !rc) rc = cli_fail("bench", "%s: %s", json_path, strerror(errno));
        if (rc) remove(json_path);
    }
    sung_model_free(m);
    return rc;
}
