/* sung: the command. One file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

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

int main(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sung: unknown command '%s'\n", argv[1]);
    help(stderr);
    return 2;
}
