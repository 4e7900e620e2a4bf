/* sung: the command. One file per subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "env.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} cmds[] = {
    {"deblur", cmd_deblur, "deblur images or folders of images"},
    {"eval", cmd_eval, "PSNR / SSIM of results or of a model on a test set"},
    {"train", cmd_train, "train a model on GoPro-layout data (resumable)"},
    {"synth", cmd_synth, "make GoPro-like blurred/sharp pairs from sharp photos"},
    {"init", cmd_init, "write a freshly initialised model"},
    {"info", cmd_info, "what a weights file holds: variant, width, size, FLOPs"},
    {"plot", cmd_plot, "draw the curves of a training run (SVG)"},
    {"bench", cmd_bench, "time inference, training and each layer type; GFLOP/s, % of peak"},
};

static void help(FILE *f)
{
    fprintf(f, "usage: sung COMMAND [options]   (sung COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].what);
    fprintf(f, "  %-8s %s\n", "help", "this message");
}

/* OpenMP threads spin at their barriers; on a busy machine a spinning thread burns the
 * time slice its descheduled partner needs, and the engine loses far more than its
 * share (measured on 2 cores with 3 busy processes: a 512² deblur 6.9 s spinning, 5.0 s
 * passive; a tiny training run behind a background one, 16x). Idle, spinning is faster
 * (1.7 against 2.0 s). libgomp reads its wait policy once, at start-up, so when the user
 * has chosen none (OMP_WAIT_POLICY, GOMP_SPINCOUNT) and the machine is busy -- the
 * 1-minute load average at least the CPUs this process may use, or the process niced,
 * as background work is -- sung starts itself again with OMP_WAIT_POLICY=passive, except
 * a training run that adapts its thread count instead (train_adapts).
 * SUNG_WAIT_AUTO=0 turns this off; `sung bench` never does it (it measures the engine
 * as configured, and would otherwise measure what the previous run's load left). */
/* `sung train` alone, its threads not fixed (OMP_NUM_THREADS, --threads N, mpirun), keeps
 * the spinning policy: it follows the free CPUs between steps instead (tools/fairshare.h),
 * which is as fair and 25 % faster on an idle machine than passive waits. */
static int train_adapts(char **argv)
{
    if (getenv("OMP_NUM_THREADS") || getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK"))
        return 0;
    for (int i = 2; argv[i]; i++)
        if (!strcmp(argv[i], "--threads") && argv[i + 1] && strcmp(argv[i + 1], "auto")) return 0;
    return 1;
}

static void choose_wait_policy(char **argv)
{
    if (!argv[1] || !strcmp(argv[1], "bench")) return;
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (!strcmp(argv[1], "train") && train_adapts(argv)) return;
    const char *opt = getenv("SUNG_WAIT_AUTO");
    if (opt && !strcmp(opt, "0")) return;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double load = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1) load = 0;
        fclose(f);
    }
    int niced = getpriority(PRIO_PROCESS, 0) > 0;
    if (!niced && !(cpus > 0 && load >= cpus)) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1)) return;
    /* the binary's own path, not /proc/self/exe itself, so that ps and top show "sung"
     * rather than "exe" */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) self[n] = 0;
    execv(n > 0 ? self : "/proc/self/exe", argv); /* on failure, go on as we are */
    unsetenv("OMP_WAIT_POLICY");
}

int main(int argc, char **argv)
{
    choose_wait_policy(argv);
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(stdout);
        return 0;
    }
    char why[256];
    if (sung_env_options(why, sizeof why)) { /* SUNG_ISA, SUNG_WINOGRAD, SUNG_WINOGRAD_BF16 */
        fprintf(stderr, "sung: %s\n", why);
        return 2;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sung: unknown command '%s'\n", argv[1]);
    help(stderr);
    return 2;
}
