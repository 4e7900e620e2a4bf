/* Fair use of a shared machine by a long run of steps (`sung train`): between steps the
 * OpenMP threads follow the CPUs that other processes leave free.
 *
 * Why: OpenMP threads that spin at barriers lose far more than their share when another
 * process holds a core (the partner they wait for is descheduled), and a passive wait
 * policy, which fixes that, costs 25 % on an idle machine (docs/BENCHMARKS.md, "Training
 * on a shared machine"). libgomp fixes its wait policy at start-up, but a run can change
 * its thread count between steps: one thread has no barrier to spin at. So the trainer
 * keeps the spinning default and, every few seconds, measures from /proc/stat how many
 * CPUs the other processes used (all busy time less this process's own), and runs as
 * many threads as are left (at least 1, at most the threads it started with). A change
 * needs two windows in a row that agree, so a short compile does not make it flap. */
#ifndef SUNG_FAIRSHARE_H
#define SUNG_FAIRSHARE_H

typedef struct {
    int on;                  /* 0: the thread count stays as it is */
    int max, cur;            /* threads on an idle machine; threads now */
    int cpus;                /* CPUs online */
    double window;           /* seconds between measurements */
    double t0, own0;         /* start of the window: wall and this process's CPU seconds */
    unsigned long long busy0, total0; /* and /proc/stat's busy and total ticks */
    int want;                /* the last window's choice (the next must agree) */
    double others;           /* out: CPUs the other processes used in the last window */
} fairshare;

/* on: adapt (when /proc/stat is readable and max >= 2); max: the threads to use when idle. */
void fair_init(fairshare *f, int on, int max);
/* Call between steps. Returns 1 when it has just changed the thread count (f->cur, and
 * f->others says why), else 0. Cheap: reads /proc/stat once a window. */
int fair_step(fairshare *f);

/* The decision, for tests: the threads to run when other processes used `others` of
 * `cpus` CPUs (the free CPUs rounded, 1..max), and fair_step's update after a window that
 * measured `others` (a change takes two windows in a row that agree). */
int fair_threads(int cpus, int max, double others);
int fair_update(fairshare *f, double others);

#endif
