/* Shared pieces of the `sung` command: option parsing and messages. */
#ifndef SUNG_CLI_H
#define SUNG_CLI_H

#include <limits.h>
#include <math.h>
#include <stdint.h>

#include "sung.h"

/* One option of a subcommand. kind: 's' string, 'i' int, 'l' long, 'u' uint64,
 * 'f' double, 'b' flag (no value). */
typedef struct {
    const char *name; /* "--model" */
    char kind;
    void *dst;
    const char *help;
} cli_opt;

/* Parses argv[1..argc) against opts; positional arguments are collected into pos (at most
 * maxpos). Unknown options, missing or malformed values are errors: prints a message
 * naming the option and returns -1. Returns the number of positional arguments; 
 * -2 when --help was asked for (usage already printed). */
int cli_parse(const char *cmd, const char *usage, const cli_opt *opts, int argc, char **argv,
              const char **pos, int maxpos);
void cli_usage(const char *cmd, const char *usage, const cli_opt *opts);
/* prints "sung CMD: msg" to stderr, returns 1 (the exit status for errors) */
int cli_fail(const char *cmd, const char *fmt, ...);
/* The same for a usage error (an option's value that cannot be): returns 2. */
int cli_bad_value(const char *cmd, const char *fmt, ...);
double cli_now(void);
/* This machine's physical memory in MB (0 where the system does not say). */
long cli_ram_mb(void);

/* Whether an option was given: an option whose default depends on other things starts
 * as INT_MIN, LONG_MIN or NAN ("not given"), so that any value the user gives, -1
 * included, reaches the checks of that value (a sentinel of -1 took `--batch -1` for
 * "not given"). */
static inline int cli_given_i(int x) { return x != INT_MIN; }
static inline int cli_given_l(long x) { return x != LONG_MIN; }
static inline int cli_given_d(double x) { return !isnan(x); }
#define GIVEN(x) _Generic((x), int: cli_given_i, long: cli_given_l, double: cli_given_d)(x)

/* --threads of deblur, eval, synth and bench (an int option starting as INT_MIN): when
 * given, checks 1..CLI_THREADS_MAX and makes it the OpenMP thread count of the calling
 * thread's later parallel regions (these commands run them all on the main thread), over
 * OMP_NUM_THREADS; not given, OpenMP's own default stays. 0 or the usage error's status. */
#define CLI_THREADS_MAX 1024
#define CLI_THREADS_HELP "OpenMP threads (default: $OMP_NUM_THREADS, else every CPU)"
int cli_threads(const char *cmd, int threads);

/* The weights to use: given, $SUNG_MODEL, or the shipped default; NULL + message. */
const char *cli_model_path(const char *cmd, const char *given);

/* --precision of inference: "fp32", "bf16", or "auto" (CLI_PRECISION_AUTO: bf16 where the
 * model runs it, i.e. the CPU has avx512_bf16 and the width is even, else fp32); -1 if
 * none of them. */
#define CLI_PRECISION_AUTO 2
int cli_precision_parse(const char *name);
/* Sets a parsed --precision on m (auto never fails); SUNG_OK or the library's error. */
sung_status cli_set_precision(sung_model *m, int prec, sung_error *err);

int cmd_init(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_deblur(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
