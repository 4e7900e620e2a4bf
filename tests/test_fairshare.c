/* tools/fairshare.c: the training run's thread count follows the CPUs other processes
 * leave free. The decision and its hysteresis on given measurements, then the whole loop
 * on this machine: busy child processes on every CPU must bring it to one thread, and
 * their end must bring it back. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "../tools/fairshare.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* fair_step until the thread count is `want` or `secs` pass; the count reached. */
static int run_until(fairshare *f, int want, double secs)
{
    double t0 = now();
    while (f->cur != want && now() - t0 < secs) {
        fair_step(f);
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    return f->cur;
}

int main(void)
{
    /* the decision: free CPUs rounded, within 1..max */
    CHECK(fair_threads(2, 2, 0.0) == 2, "idle 2-CPU machine: 2 threads");
    CHECK(fair_threads(2, 2, 0.4) == 2, "0.4 CPU busy elsewhere: still 2 (%d)", fair_threads(2, 2, 0.4));
    CHECK(fair_threads(2, 2, 0.6) == 1, "0.6 CPU busy elsewhere: 1 (%d)", fair_threads(2, 2, 0.6));
    CHECK(fair_threads(2, 2, 1.9) == 1, "all busy: at least 1");
    CHECK(fair_threads(2, 2, 7.0) == 1, "more than all: at least 1");
    CHECK(fair_threads(16, 8, 4.0) == 8, "never more than max (%d)", fair_threads(16, 8, 4.0));
    CHECK(fair_threads(16, 8, 10.2) == 6, "16 CPUs, 10.2 busy: 6 (%d)", fair_threads(16, 8, 10.2));

    /* hysteresis: a change takes two windows that agree */
    fairshare f;
    fair_init(&f, 0, 2);
    f.cpus = 2;
    CHECK(!fair_update(&f, 1.5) && f.cur == 2, "one busy window does not change it");
    CHECK(!fair_update(&f, 0.0) && f.cur == 2, "an idle window between resets it");
    CHECK(!fair_update(&f, 1.5) && f.cur == 2, "first of two busy windows");
    CHECK(fair_update(&f, 1.2) && f.cur == 1, "second busy window: 1 thread (%d)", f.cur);
    CHECK(!fair_update(&f, 1.4) && f.cur == 1, "stays at 1 while busy");
    CHECK(!fair_update(&f, 0.1) && f.cur == 1, "one idle window does not change it");
    CHECK(fair_update(&f, 0.2) && f.cur == 2, "second idle window: back to 2 (%d)", f.cur);

    /* live, on this machine's /proc/stat */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    fair_init(&f, 1, 2);
    if (cpus < 2) {
        SKIP("one CPU: no second thread to give up");
    } else if (!f.on) {
        SKIP("no /proc/stat (or no OpenMP): the thread count stays fixed");
    } else {
        f.window = 0.5;
        /* what the machine does without us: a background run may keep it busy */
        double t0 = now();
        while (now() - t0 < 1.2) {
            fair_step(&f);
            nanosleep(&(struct timespec){0, 20000000}, NULL);
        }
        double before = f.others;
        fair_init(&f, 1, 2); /* from 2 threads again */
        f.window = 0.5;
        pid_t kids[256];
        int nk = cpus < 256 ? (int)cpus : 256;
        for (int i = 0; i < nk; i++)
            if ((kids[i] = fork()) == 0)
                for (volatile unsigned long x = 0;; x++) {
                }
        int busy = run_until(&f, 1, 15);
        CHECK(busy == 1, "%d busy processes on %ld CPUs: %d threads after 15 s (others %.2f CPUs)", nk, cpus, busy,
              f.others);
        for (int i = 0; i < nk; i++) kill(kids[i], SIGKILL);
        for (int i = 0; i < nk; i++) waitpid(kids[i], NULL, 0);
        if (fair_threads((int)cpus, 2, before) < 2) {
            SKIP("the machine was busy before the test (%.2f CPUs): the way back to 2 threads is not checked", before);
        } else {
            int idle = run_until(&f, 2, 15);
            CHECK(idle == 2, "busy processes gone: %d threads after 15 s (others %.2f CPUs, %.2f before the test)",
                  idle, f.others, before);
        }
    }
    return test_summary("test_fairshare");
}
