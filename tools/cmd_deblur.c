/* sung deblur: one PNG in, one PNG out. */
#include "cli.h"

#include <stdio.h>

int cmd_deblur(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *pos[1];
    int iters = 4;
    cli_opt opts[] = {
        {"--model", 's', &model, "weights file (.safetensors)"},
        {"--iters", 'i', &iters, "scale iterations (default 4, the paper's best)"},
        {"-o", 's', &out, "output PNG"},
        {0},
    };
    int n = cli_parse("deblur", "--model W.safetensors [--iters N] IN.png -o OUT.png", opts, argc,
                      argv, pos, 1);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (n != 1) return cli_fail("deblur", "one input image is required (see sung deblur --help)");
    if (!out) return cli_fail("deblur", "an output file is required: -o OUT.png");
    if (!model) return cli_fail("deblur", "a model is required: --model W.safetensors");
    if (iters < 1 || iters > SUNG_MAX_ITERS)
        return cli_fail("deblur", "--iters must be between 1 and %d, not %d", SUNG_MAX_ITERS, iters);
    sung_error err;
    sung_model *m = NULL;
    sung_image in = {0}, res = {0};
    int rc = 0;
    if (sung_model_load(&m, model, &err) || sung_image_load(&in, pos[0], &err)) {
        rc = cli_fail("deblur", "%s", err.msg);
        goto done;
    }
    double t0 = cli_now();
    if (sung_deblur(m, &in, iters, &res, &err)) {
        rc = cli_fail("deblur", "%s: %s", pos[0], err.msg);
        goto done;
    }
    double t1 = cli_now();
    if (sung_image_save(&res, out, &err)) {
        rc = cli_fail("deblur", "%s", err.msg);
        goto done;
    }
    printf("%s -> %s: %dx%d, %d iterations, %.2f s (%s)\n", pos[0], out, in.w, in.h, iters,
           t1 - t0, sung_isa());
done:
    sung_image_free(&in);
    sung_image_free(&res);
    sung_model_free(m);
    return rc;
}
