/* build/bench: `sung bench` as its own program (tools/cmd_bench.c does the work), kept
 * for scripts that call it the old way:
 *
 *   build/bench [RUNS]          = sung bench --runs RUNS --json -   (one JSON line on stdout)
 *   build/bench --what ... etc. = sung bench --what ... etc.
 *
 * make bench runs bench/compare.py, which calls build/sung bench itself. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "env.h"

int main(int argc, char **argv)
{
    char why[256];
    if (sung_env_options(why, sizeof why)) {
        fprintf(stderr, "bench: %s\n", why);
        return 2;
    }
    if (argc == 2 && argv[1][0] >= '0' && argv[1][0] <= '9') {
        char *args[] = {"bench", "--runs", argv[1], "--json", "-", NULL};
        return cmd_bench(5, args);
    }
    if (argc == 1) {
        char *args[] = {"bench", "--json", "-", NULL};
        return cmd_bench(3, args);
    }
    argv[0] = "bench";
    return cmd_bench(argc, argv);
}
