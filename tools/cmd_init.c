/* sung init: a new model with Glorot weights from a seed. */
#include "cli.h"

#include <stdio.h>

int cmd_init(int argc, char **argv)
{
    const char *variant = "sung", *out = NULL;
    int width = 32, half = 0;
    uint64_t seed = 0;
    cli_opt opts[] = {
        {"--variant", 's', &variant, "sung (default), base or siun"},
        {"--width", 'i', &width, "channel width c (default 32, the paper's)"},
        {"--seed", 'u', &seed, "initialisation seed (default 0)"},
        {"-o", 's', &out, "output weights file (.safetensors)"},
        {"--f16", 'b', &half, "store F16 instead of F32"},
        {0},
    };
    int n = cli_parse("init", "--variant V --width C --seed S -o W.safetensors", opts, argc, argv, NULL, 0);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (!out) return cli_bad_value("init", "an output file is required: -o W.safetensors");
    int v = sung_variant_parse(variant);
    if (v < 0) return cli_bad_value("init", "--variant must be sung, base or siun, not '%s'", variant);
    sung_model *m;
    sung_error err;
    if (sung_model_create(&m, (sung_variant)v, width, seed, &err) ||
        sung_model_save(m, out, half, &err)) {
        sung_model_free(m);
        return cli_fail("init", "%s", err.msg);
    }
    printf("%s: %s, width %d, %zu parameters in %d tensors, seed %llu\n", out, variant, width,
           sung_model_param_count(m), sung_model_tensor_count(m), (unsigned long long)seed);
    sung_model_free(m);
    return 0;
}
