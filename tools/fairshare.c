#include "fairshare.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double own_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* The first line of /proc/stat, in clock ticks summed over all CPUs: busy (user, nice,
 * system, irq, softirq; guest time is inside user) and total (busy, idle, iowait). Steal
 * (time the host gave to other machines) counts as neither: the threads follow what the
 * processes of this machine leave free. 0, or -1 when it cannot be read. */
static int proc_stat(unsigned long long *busy, unsigned long long *total)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[7] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
    fclose(f);
    if (n < 5) return -1;
    *busy = v[0] + v[1] + v[2] + v[5] + v[6];
    *total = *busy + v[3] + v[4];
    return 0;
}

void fair_init(fairshare *f, int on, int max)
{
    memset(f, 0, sizeof *f);
    f->max = f->cur = f->want = max < 1 ? 1 : max;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    f->cpus = cpus > 0 ? (int)cpus : 1;
    f->window = 3.0;
    f->on = on && f->max >= 2 && proc_stat(&f->busy0, &f->total0) == 0;
    f->t0 = wall(), f->own0 = own_cpu();
#ifndef _OPENMP
    f->on = 0;
#endif
}

int fair_step(fairshare *f)
{
    if (!f->on) return 0;
    double t = wall();
    if (t - f->t0 < f->window) return 0;
    unsigned long long busy, total;
    if (proc_stat(&busy, &total)) {
        f->on = 0;
        return 0;
    }
    double own = own_cpu(), tick = (double)sysconf(_SC_CLK_TCK);
    double dtot = (double)(total - f->total0), dbusy = (double)(busy - f->busy0), down = (own - f->own0) * tick;
    f->t0 = t, f->own0 = own, f->busy0 = busy, f->total0 = total;
    if (dtot <= 0) return 0;
    double others = (dbusy - down) / dtot * f->cpus;
    return fair_update(f, others < 0 ? 0 : others);
}

int fair_threads(int cpus, int max, double others)
{
    long want = lround(cpus - others);
    return want > max ? max : want < 1 ? 1 : (int)want;
}

int fair_update(fairshare *f, double others)
{
    f->others = others;
    int want = fair_threads(f->cpus, f->max, others);
    int agree = want == f->want;
    f->want = want;
    if (!agree || want == f->cur) return 0;
    f->cur = want;
#ifdef _OPENMP
    omp_set_num_threads(want);
#endif
    return 1;
}
