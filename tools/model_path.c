/* Where `sung` finds its default weights. */
#define _DEFAULT_SOURCE /* readlink */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_NAME "sung.safetensors"

/* --model if given, else $SUNG_MODEL, else the shipped weights next to the binary
 * (PREFIX/share/sung/ for an installed binary, models/ of the source tree for
 * build/sung). NULL (with a message) when none exists. */
const char *cli_model_path(const char *cmd, const char *given)
{
    static char buf[2][PATH_MAX + 64];
    if (given) return given;
    const char *env = getenv("SUNG_MODEL");
    if (env && *env) return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(buf[0], sizeof buf[0], "%s/../share/sung/%s", exe, DEFAULT_NAME);
        snprintf(buf[1], sizeof buf[1], "%s/../models/%s", exe, DEFAULT_NAME);
        for (int i = 0; i < 2; i++)
            if (access(buf[i], R_OK) == 0) return buf[i];
    }
    cli_fail(cmd, "no --model given, SUNG_MODEL is not set, and no default weights were found%s%s%s%s.\n"
                  "  The default weights ship as models/sung.safetensors in the source tree and are installed\n"
                  "  by `make install` as PREFIX/share/sung/sung.safetensors; or pass --model FILE or set\n"
                  "  SUNG_MODEL (`sung train` makes weights: README, \"Training\").",
             n > 0 ? " (looked for " : "", n > 0 ? buf[0] : "", n > 0 ? " and " : "",
             n > 0 ? strcat(buf[1], ")") : "");
    return NULL;
}
