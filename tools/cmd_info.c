/* sung info: what a weights file holds. */
#include "cli.h"

#include <stdio.h>

int cmd_info(int argc, char **argv)
{
    const char *pos[1];
    int iters = 4;
    cli_opt opts[] = {
        {"--iters", 'i', &iters, "scale iterations for the FLOP count (default 4)"},
        {0},
    };
    int n = cli_parse("info", "W.safetensors", opts, argc, argv, pos, 1);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (n != 1) return cli_bad_value("info", "one weights file is required");
    if (iters < 1 || iters > SUNG_MAX_ITERS) return cli_bad_value("info", "--iters must be 1..%d", SUNG_MAX_ITERS);
    sung_model *m;
    sung_error err;
    if (sung_model_load(&m, pos[0], &err)) return cli_fail("info", "%s", err.msg);
    double f = sung_model_flops(m, iters, 720, 1280);
    int mult = 1 << (iters + 2);
    printf("%s\n  variant     %s\n  width       %d\n  parameters  %zu in %d tensors\n", pos[0],
           sung_variant_name(sung_model_variant(m)), sung_model_width(m), sung_model_param_count(m),
           sung_model_tensor_count(m));
    printf("  FLOPs       %.0f per output pixel with %d iterations (%.1f GFLOP for 1280x720, padded to %dx%d)\n",
           sung_model_flops(m, iters, 1024, 1024) / (1024.0 * 1024), iters, f / 1e9,
           (1280 + mult - 1) / mult * mult, (720 + mult - 1) / mult * mult);
    sung_model_free(m);
    return 0;
}
