/* Where `sung` finds its default weights. */
#define _DEFAULT_SOURCE /* realpath */
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
#define SNAPSHOT "models/snapshots/sung-w32.safetensors" /* the demo's, in a source tree */

const char *cli_model_path(const char *cmd, const char *given)
{
    static char buf[3][PATH_MAX + 64];
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
    /* the training snapshot the demo runs, where this binary is build/sung of a source tree:
     * its real path, so that the hint can be pasted from anywhere */
    char hint[PATH_MAX + 256] = "";
    if (n > 0) {
        snprintf(buf[2], sizeof buf[2], "%s/../" SNAPSHOT, exe);
        char real[PATH_MAX];
        if (access(buf[2], R_OK) == 0 && realpath(buf[2], real))
            snprintf(hint, sizeof hint,
                     "\n  To try the training snapshot that `make demo` runs (it sharpens mild blur, not yet\n"
                     "  strong blur: docs/RESULTS.md), pass --model %s",
                     real);
    }
    cli_fail(cmd, "no --model given, SUNG_MODEL is not set, and no default weights were found%s%s%s%s.\n"
                  "  Trained default weights are not shipped yet. Train a model with `sung train`\n"
                  "  (README: \"Training\"), then pass --model RUN/best.safetensors or set SUNG_MODEL.%s",
             n > 0 ? " (looked for " : "", n > 0 ? buf[0] : "", n > 0 ? " and " : "",
             n > 0 ? strcat(buf[1], ")") : "", hint);
    return NULL;
}
