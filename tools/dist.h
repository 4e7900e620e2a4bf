/* Data-parallel `sung train` (issue 11): the processes of an MPI job, or one process.
 * Everything MPI sits in tools/dist.c behind one #ifdef SUNG_MPI; without MPI (or
 * outside mpirun) these are the one-process versions, and the trainer cannot tell. */
#ifndef SUNG_DIST_H
#define SUNG_DIST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "sung.h"

typedef struct {
    int rank, size;             /* this process and the job's processes (0, 1 alone) */
    int local_rank, local_size; /* the same among the processes of this host */
    int threads;                /* OpenMP threads this process uses */
    int mpi;                    /* MPI was initialised */
    volatile sig_atomic_t *stop;        /* the signal that asked to stop (0: none), this process */
    int agreed_stop;            /* out of the last reduction: the largest over the job */
    double wait_seconds;        /* time spent waiting for the slowest process at the reductions */
    double reduce_seconds;      /* time spent in the reductions themselves */
    const char *dump_grads;     /* write the reduced gradients of step 0 here (rank 0) */
    const sung_model *model;
    long step;
} dist;

/* Joins the MPI job when launched by mpirun (its environment says so), and chooses the
 * OpenMP threads: given (OMP_NUM_THREADS) or, with several processes on a host, the
 * CPUs this process may use divided among them, at least 1. 0 or a message. */
int dist_init(dist *d, int *argc, char ***argv);
void dist_finalize(dist *d);
/* A sung_reduce_fn (ctx: the dist): sums the gradients and the loss sums over the job;
 * also agrees on *stop (the largest), into d->agreed_stop. */
int dist_reduce(void *ctx, float *grads, size_t n, double *sums, int nsums, sung_error *err);
/* All processes agree on a status: the largest rc of any of them. */
int dist_agree(dist *d, int rc);
/* Rank 0's weights to every process (a new run starts from them). */
int dist_bcast_weights(dist *d, sung_model *m);
/* 0 if every process holds the same weights (checksum), else a message and 1. */
int dist_check_weights(dist *d, const sung_model *m, long step);
/* Ends every process of the job at once after an error on this one. */
void dist_abort(dist *d, int rc);

#endif
