#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void say(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "sung %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(cmd, fmt, ap);
    va_end(ap);
    return 1;
}

int cli_bad_value(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(cmd, fmt, ap);
    va_end(ap);
    return 2;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cli_threads(const char *cmd, int threads)
{
    if (!GIVEN(threads)) return 0;
    if (threads < 1 || threads > CLI_THREADS_MAX)
        return cli_bad_value(cmd, "--threads must be a number of threads 1..%d, not %d", CLI_THREADS_MAX, threads);
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    return 0;
}

long cli_ram_mb(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && psize > 0 ? (long)((double)pages * psize / 1048576) : 0;
}

void cli_usage(const char *cmd, const char *usage, const cli_opt *opts)
{
    printf("usage: sung %s %s\n\noptions:\n", cmd, usage);
    for (const cli_opt *o = opts; o->name; o++)
        printf("  %-16s %s%s\n", o->name, o->kind == 'b' ? "" : "VALUE  ", o->help);
    printf("  %-16s %s\n", "--help", "show this help");
}

static int parse_value(const char *cmd, const cli_opt *o, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case 's':
        *(const char **)o->dst = v;
        return 0;
    case 'i': {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < -2147483647L || x > 2147483647L) break;
        *(int *)o->dst = (int)x;
        return 0;
    }
    case 'l': {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end) break;
        *(long *)o->dst = (long)x;
        return 0;
    }
    case 'u': {
        if (*v == '-') break;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end) break;
        *(uint64_t *)o->dst = x;
        return 0;
    }
    case 'f': {
        double x = strtod(v, &end);
        /* nan would read as an option not given (GIVEN), inf as a value no check expects */
        if (errno || end == v || *end || !isfinite(x)) break;
        *(double *)o->dst = x;
        return 0;
    }
    }
    cli_fail(cmd, "%s: '%s' is not a valid %s", o->name, v,
             o->kind == 'f' ? "number" : o->kind == 'u' ? "non-negative integer" : "integer");
    return -1;
}

int cli_parse(const char *cmd, const char *usage, const cli_opt *opts, int argc, char **argv,
              const char **pos, int maxpos)
{
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_usage(cmd, usage, opts);
            return -2;
        }
        if (a[0] == '-' && a[1]) {
            const cli_opt *o = opts;
            while (o->name && strcmp(o->name, a)) o++;
            if (!o->name) {
                cli_fail(cmd, "unknown option '%s' (see sung %s --help)", a, cmd);
                return -1;
            }
            if (o->kind == 'b') {
                *(int *)o->dst = 1;
                continue;
            }
            if (i + 1 >= argc) {
                cli_fail(cmd, "option %s needs a value", a);
                return -1;
            }
            if (parse_value(cmd, o, argv[++i])) return -1;
            continue;
        }
        if (npos == maxpos) {
            cli_fail(cmd, "unexpected argument '%s' (see sung %s --help)", a, cmd);
            return -1;
        }
        pos[npos++] = a;
    }
    return npos;
}

int cli_precision_parse(const char *name)
{
    return !strcmp(name, "auto") ? CLI_PRECISION_AUTO : sung_precision_parse(name);
}

sung_status cli_set_precision(sung_model *m, int prec, sung_error *err)
{
    if (prec == CLI_PRECISION_AUTO)
        return sung_model_set_precision(m, SUNG_BF16, NULL) == SUNG_OK ? SUNG_OK
                                                                        : sung_model_set_precision(m, SUNG_FP32, err);
    return sung_model_set_precision(m, (sung_precision)prec, err);
}
