/* sung_options: the process-wide engine choices (kernel set, Winograd mode), set through
 * the API. The library reads no environment variable; the `sung` command maps SUNG_ISA,
 * SUNG_WINOGRAD and SUNG_WINOGRAD_BF16 onto these (tools/env.h). */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "sung.h"

static char isa_req[16];
static sung_options opts = {NULL, SUNG_WINOGRAD_AUTO, 0};

sung_options sung_options_default(void) { return (sung_options){NULL, SUNG_WINOGRAD_AUTO, 0}; }

sung_options sung_get_options(void) { return opts; }

sung_status sung_set_options(const sung_options *o, sung_error *err)
{
    if (!o) {
        model_set_error(err, "sung_set_options: no options");
        return SUNG_ERR_ARG;
    }
    int w = o->winograd;
    if (w != SUNG_WINOGRAD_AUTO && w != 0 && w != 2 && w != 4 && w != 6) {
        model_set_error(err, "sung_options.winograd must be -1 (automatic), 0, 2, 4 or 6, not %d", w);
        return SUNG_ERR_ARG;
    }
    if (o->winograd_bf16 != 0 && o->winograd_bf16 != 1) {
        model_set_error(err, "sung_options.winograd_bf16 must be 0 or 1, not %d", o->winograd_bf16);
        return SUNG_ERR_ARG;
    }
    const char *isa = o->isa && *o->isa ? o->isa : NULL;
    int r = ops_set_isa(isa);
    if (r == -1) {
        model_set_error(err, "kernel set '%s' is none of avx512+bf16, avx512, avx2, generic", isa);
        return SUNG_ERR_ARG;
    }
    if (r == -2) {
        model_set_error(err, "the kernels are chosen already (%s): kernel set '%s' must be set before any "
                        "model or convolution is made", ops_isa(), isa ? isa : "(any)");
        return SUNG_ERR_ARG;
    }
    if (isa && isa != isa_req) snprintf(isa_req, sizeof isa_req, "%s", isa); /* one of the four names: fits */
    opts = (sung_options){isa ? isa_req : NULL, w, o->winograd_bf16};
    return SUNG_OK;
}
