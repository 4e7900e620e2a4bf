/* sung init: a new model with Glorot weights from a seed, or a copy of existing weights
 * (--from), e.g. to store them as F16; with --state, the weights of a training state
 * (RUN/state.safetensors), which under --ema are not RUN/last.safetensors (the average). */
#include "cli.h"

#include <stdio.h>

int cmd_init(int argc, char **argv)
{
    const char *variant = NULL, *out = NULL, *from = NULL;
    int width = INT_MIN /* GIVEN */, half = 0, state = 0;
    uint64_t seed = 0;
    cli_opt opts[] = {
        {"--variant", 's', &variant, "sung (default), base or siun"},
        {"--width", 'i', &width, "channel width c (default 32, the paper's)"},
        {"--seed", 'u', &seed, "initialisation seed (default 0)"},
        {"-o", 's', &out, "output weights file (.safetensors)"},
        {"--from", 's', &from, "copy these weights instead (any of F32/F16/BF16)"},
        {"--f16", 'b', &half, "store F16 instead of F32"},
        {"--state", 'b', &state, "with --from: W0 is a training state (RUN/state.safetensors); copy the weights its steps use, not their average"},
        {0},
    };
    int n = cli_parse("init", "--variant V --width C --seed S -o W.safetensors | --from W0.safetensors [--state] -o W.safetensors",
                      opts, argc, argv, NULL, 0);
    if (n == -2) return 0;
    if (n < 0) return 2;
    if (!out) return cli_bad_value("init", "an output file is required: -o W.safetensors");
    if (from && (variant || GIVEN(width) || seed))
        return cli_bad_value("init", "--from copies a model: --variant, --width and --seed do not apply");
    if (state && !from) return cli_bad_value("init", "--state says what --from is: give --from RUN/state.safetensors");
    int v = sung_variant_parse(variant ? variant : "sung");
    if (v < 0) return cli_bad_value("init", "--variant must be sung, base or siun, not '%s'", variant);
    sung_model *m = NULL;
    sung_error err;
    if ((from ? (state ? sung_train_state_load(&m, from, NULL, NULL, &err) : sung_model_load(&m, from, &err))
              : sung_model_create(&m, (sung_variant)v, GIVEN(width) ? width : 32, seed, &err)) ||
        sung_model_save(m, out, half, &err)) {
        sung_model_free(m);
        return cli_fail("init", "%s", err.msg);
    }
    if (from)
        printf("%s: %s, width %d, %zu parameters in %d tensors, copied from %s%s%s\n", out,
               sung_variant_name(sung_model_variant(m)), sung_model_width(m), sung_model_param_count(m),
               sung_model_tensor_count(m), from, state ? " (the weights of the state)" : "", half ? " as F16" : "");
    else
        printf("%s: %s, width %d, %zu parameters in %d tensors, seed %llu\n", out,
               sung_variant_name(sung_model_variant(m)), sung_model_width(m), sung_model_param_count(m),
               sung_model_tensor_count(m), (unsigned long long)seed);
    sung_model_free(m);
    return 0;
}
