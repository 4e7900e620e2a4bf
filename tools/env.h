/* The engine options of the environment, for the `sung` command and the tests (the
 * library reads no environment variable): SUNG_ISA (a kernel set), SUNG_WINOGRAD (0, 2,
 * 4 or 6) and SUNG_WINOGRAD_BF16 (0 or 1), each unset or empty for the default, given to
 * sung_set_options. Header-only so that the tests, which link only the library, read
 * them the same way. */
#ifndef SUNG_ENV_H
#define SUNG_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sung.h"

/* Returns 0, or non-zero with a message naming the variable in why. */
static inline int sung_env_options(char *why, size_t n)
{
    sung_options o = sung_options_default();
    const char *isa = getenv("SUNG_ISA"), *w = getenv("SUNG_WINOGRAD"), *w16 = getenv("SUNG_WINOGRAD_BF16");
    if (w && *w) {
        if (strcmp(w, "0") && strcmp(w, "2") && strcmp(w, "4") && strcmp(w, "6")) {
            snprintf(why, n, "SUNG_WINOGRAD must be 0, 2, 4 or 6 (or unset), not '%.40s'", w);
            return 1;
        }
        o.winograd = w[0] - '0';
    }
    if (w16 && *w16) {
        if (strcmp(w16, "0") && strcmp(w16, "1")) {
            snprintf(why, n, "SUNG_WINOGRAD_BF16 must be 0 or 1 (or unset), not '%.40s'", w16);
            return 1;
        }
        o.winograd_bf16 = w16[0] - '0';
    }
    o.isa = isa;
    sung_error e;
    if (sung_set_options(&o, &e)) {
        snprintf(why, n, "SUNG_ISA=%.40s: %.200s", isa ? isa : "", e.msg);
        return 1;
    }
    return 0;
}

#endif
