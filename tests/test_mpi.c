/* Data-parallel `sung train` under mpirun (issue 11), end to end, when the build has MPI:
 *
 * - 2 processes give the weights of 1 with the same global batch (relative difference
 *   below 1e-5: the gradients are the same sums in another order) over an epoch of 7
 *   pairs in batches of 3, so the shards are 2 + 1 and, for the last batch of 1, 1 + 0;
 * - a 2-process run killed with SIGKILL after a checkpoint resumes in 1 process and in
 *   3, and ends where an uninterrupted run ends;
 * - SIGTERM to one rank stops every rank after a checkpoint (exit 143), and the run
 *   resumes;
 * - the processes check that their weights agree, and they did (the log says so).
 *
 * Width 4, 32² crops, 1 iteration: seconds. Without MPI in the build it says SKIP. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sung.h"
#include "testutil.h"

#ifndef SUNG_BIN
#define SUNG_BIN "build/sung"
#endif

#ifndef SUNG_MPI
int main(void)
{
    SKIP("sung was built without MPI (install libopenmpi-dev openmpi-bin and rebuild)");
    return test_summary("test_mpi");
}
#else

static char dir[] = "/tmp/sung-test-mpi-XXXXXX";
static char sung[4096], sung_real[4096];

/* --oversubscribe: more processes than cores; the single-copy (CMA) transfers off, as
 * containers without ptrace rights fail them */
#define MPIRUN                                                                                    \
    "mpirun --oversubscribe --allow-run-as-root --bind-to none --mca btl_vader_single_copy_mechanism none " \
    "-x OMP_NUM_THREADS=1 -np "

/* Runs a shell command in the test folder, output to out.txt / err.txt; its exit status. */
static int sh(const char *fmt, ...)
{
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 timeout 300 %s >out.txt 2>err.txt", dir, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static int file_has(const char *rel, const char *needle) { return test_file_has(dir, rel, needle); }

/* ||a − b|| / ||a|| over all weights of two files; -1 if one cannot be read. */
static double weights_diff(const char *ra, const char *rb)
{
    char pa[4096], pb[4096];
    snprintf(pa, sizeof pa, "%s/%s", dir, ra);
    snprintf(pb, sizeof pb, "%s/%s", dir, rb);
    sung_model *a, *b;
    sung_error e;
    if (sung_model_load(&a, pa, &e)) return -1;
    if (sung_model_load(&b, pb, &e)) {
        sung_model_free(a);
        return -1;
    }
    double d = 0, r = 0;
    for (int t = 0; t < sung_model_tensor_count(a); t++) {
        int nd, sa[4], sb[4];
        float *da, *db;
        sung_model_tensor(a, t, &nd, sa, &da, NULL);
        sung_model_tensor(b, t, &nd, sb, &db, NULL);
        size_t sz = 1;
        for (int k = 0; k < nd; k++) sz *= (size_t)sa[k];
        for (size_t i = 0; i < sz; i++) d += ((double)da[i] - db[i]) * ((double)da[i] - db[i]), r += (double)da[i] * da[i];
    }
    sung_model_free(a), sung_model_free(b);
    printf("  weights %s against %s: relative difference %.3g\n", ra, rb, sqrt(d / r));
    return sqrt(d / r);
}

/* The processes of session sid whose command is sung (all, or the one of MPI rank
 * `rank`), sent sig; how many. */
static int signal_session(pid_t sid, int rank, int sig, int all)
{
    DIR *p = opendir("/proc");
    struct dirent *e;
    int hit = 0;
    while (p && (e = readdir(p))) {
        pid_t pid = atoi(e->d_name);
        if (pid <= 0) continue;
        char path[300];
        static char buf[1 << 16];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *rp = strrchr(buf, ')');
        int ppid, pgrp, session;
        char state;
        if (!rp || sscanf(rp + 2, "%c %d %d %d", &state, &ppid, &pgrp, &session) != 4 || session != sid) continue;
        if (!all) { /* only sung of that rank (its environment says which) */
            char exe[4096];
            snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
            ssize_t len = readlink(path, exe, sizeof exe - 1);
            if (len <= 0) continue;
            exe[len] = 0;
            if (strcmp(exe, sung_real)) continue; /* (its name may be "exe": sung restarts itself) */
            snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
            f = fopen(path, "r");
            if (!f) continue;
            n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            char want[64];
            snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
            int found = 0;
            for (size_t at = 0; at < n; at += strlen(buf + at) + 1)
                if (!strcmp(buf + at, want)) found = 1;
            if (!found) continue;
        }
        if (kill(pid, sig) == 0) hit++;
    }
    if (p) closedir(p);
    return hit;
}

/* Starts a shell command in a session of its own; its pid (= the session id). */
static pid_t start(const char *fmt, ...)
{
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && exec env OMP_NUM_THREADS=1 %s >bg.txt 2>bgerr.txt", dir, args);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void wait_for(const char *rel, const char *needle)
{
    for (int i = 0; i < 3000 && !file_has(rel, needle); i++) nanosleep(&(struct timespec){0, 20000000}, NULL);
}

int main(void)
{
    if (system("mpirun --version >/dev/null 2>&1") != 0) {
        SKIP("sung has MPI but mpirun is not on the PATH");
        return test_summary("test_mpi");
    }
    if (!mkdtemp(dir)) return 1;
    snprintf(sung, sizeof sung, "%s/%s", getenv("PWD"), SUNG_BIN);
    if (!realpath(sung, sung_real)) snprintf(sung_real, sizeof sung_real, "%s", sung);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/photos", dir);
    CHECK(system(cmd) == 0, "mkdir");
    /* 7 small "photos", one pair each per epoch: batches of 3, 3 and 1 */
    for (int i = 0; i < 7; i++) {
        sung_image im;
        sung_error e;
        sung_image_alloc(&im, 96, 80, &e);
        for (int y = 0; y < 80; y++)
            for (int x = 0; x < 96; x++)
                for (int c = 0; c < 3; c++)
                    im.data[((size_t)y * 96 + x) * 3 + c] =
                        ((x / (4 + i) + y / (3 + c)) % 2) ? 0.8f - 0.1f * c : 0.15f + 0.05f * i;
        char p[4200];
        snprintf(p, sizeof p, "%s/photos/p%d.png", dir, i);
        CHECK(sung_image_save(&im, p, &e) == SUNG_OK, "%s", e.msg);
        sung_image_free(&im);
    }
    const char *base = "train --photos photos --crops-per-photo 1 --variant sung --width 4 --patch 32 --batch 3 "
                       "--iters 1 --lr 1e-3 --check-every 2";

    /* 1 process against 2, an epoch and a batch (4 steps: shards 2+1, 2+1, 1+0, 2+1) */
    CHECK(sh("%s %s --out one --steps 4", sung, base) == 0, "1 process");
    CHECK(sh(MPIRUN "2 %s %s --out two --steps 4", sung, base) == 0, "2 processes: %s", "see err.txt");
    CHECK(file_has("out.txt", "data-parallel: 2 processes") && !file_has("err.txt", "differ"),
          "2 processes: not said, or the weights disagreed");
    double d = weights_diff("one/last.safetensors", "two/last.safetensors");
    CHECK(d >= 0 && d < 1e-5, "2 processes against 1: weights differ by %.3g (relative)", d);
    sh("%s init --variant sung --width 4 -o init.safetensors", sung);
    double moved = weights_diff("init.safetensors", "one/last.safetensors");
    CHECK(moved > 1e-3, "4 steps moved the weights by only %.3g: the comparison says nothing", moved);
    CHECK(file_has("two/log.csv", "\n4,2,"), "2 processes: log.csv has no step 4 in epoch 2");

    /* SIGKILL after a checkpoint; resumed by 1 process and by 3. (Over 4 steps: Adam turns
     * the rounding differences of parameters whose gradient is almost 0 into steps of up
     * to lr, so at lr 1e-3 two processes differ from one by 4.5e-8 after 4 steps but by
     * 1.1e-5 after 6: the same data and arithmetic, summed in another order.) */
    const char *ref = "one/last.safetensors";
    for (int np = 1; np <= 3; np += 2) {
        char out[16];
        snprintf(out, sizeof out, "k%d", np);
        pid_t pid = start(MPIRUN "2 %s %s --out %s --steps 4 --checkpoint-minutes 1e-9", sung, base, out);
        char logp[64];
        snprintf(logp, sizeof logp, "%s/log.csv", out);
        wait_for(logp, "\n2,");
        int killed = signal_session(pid, 0, SIGKILL, 1);
        int st;
        waitpid(pid, &st, 0);
        CHECK(killed >= 3, "SIGKILL reached %d processes (mpirun and 2 ranks)", killed);
        CHECK(!file_has(logp, "\n4,"), "the run ended before it was killed");
        if (np == 1)
            CHECK(sh("%s train --photos photos --resume %s", sung, out) == 0, "resume in 1 process");
        else
            CHECK(sh(MPIRUN "3 %s train --photos photos --resume %s", sung, out) == 0, "resume in 3 processes");
        CHECK(file_has("out.txt", "resuming at step"), "not resumed: see %s/out.txt", dir);
        snprintf(logp, sizeof logp, "%s/last.safetensors", out);
        d = weights_diff(ref, logp);
        CHECK(d >= 0 && d < 1e-5, "killed with 2 processes, resumed with %d: weights differ by %.3g", np, d);
    }

    /* SIGTERM to rank 1 alone: every rank stops, rank 0 saves, the run resumes */
    pid_t pid = start(MPIRUN "2 %s %s --out t --steps 200", sung, base);
    wait_for("t/log.csv", "\n2,");
    int hit = signal_session(pid, 1, SIGTERM, 0);
    int st;
    waitpid(pid, &st, 0);
    CHECK(hit == 1, "SIGTERM reached %d rank-1 processes", hit);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0 && file_has("bg.txt", "interrupted at step") &&
              !file_has("t/log.csv", "\n200,"),
          "SIGTERM to rank 1: exit %d, rank 0 said interrupted %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
          file_has("bg.txt", "interrupted at step"));
    struct stat sb;
    snprintf(cmd, sizeof cmd, "%s/t/state.safetensors", dir);
    CHECK(stat(cmd, &sb) == 0 && !file_has("t/log.csv", "\n200,"), "no state after SIGTERM");
    CHECK(sh(MPIRUN "2 %s train --photos photos --resume t --steps 200", sung) == 0 && file_has("t/log.csv", "\n200,"),
          "resume after SIGTERM");

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (!test_failures) CHECK(system(cmd) == 0, "cleanup");
    else fprintf(stderr, "left %s for inspection\n", dir);
    return test_summary("test_mpi");
}
#endif
