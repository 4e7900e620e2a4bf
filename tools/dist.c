/* The processes of a data-parallel `sung train`. All MPI code is in the one
 * #ifdef SUNG_MPI block below; the #else block is the one-process job. */
#define _GNU_SOURCE
#include "dist.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"

#ifdef SUNG_MPI
#include <mpi.h>

/* Joins the job only inside one (mpirun's environment): a lone `sung train` must not
 * start an MPI runtime. */
static int job_join(dist *d, int *argc, char ***argv)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return cli_fail("train", "MPI_Init failed");
    d->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &d->local_rank);
    MPI_Comm_size(local, &d->local_size);
    MPI_Comm_free(&local);
    return 0;
}

static int many(const dist *d) { return d->mpi && d->size > 1; }

/* The gradient buffer in one call (MPI counts are ints: pieces of 2^30 floats), the
 * loss sums in another, the stop request (the largest signal) in a third. */
static int job_reduce(dist *d, float *grads, size_t n, double *sums, int nsums, int *stop, sung_error *err)
{
    if (!many(d)) return 0;
    double t0 = cli_now(); /* a barrier first, so that the reduction's own time shows */
    MPI_Barrier(MPI_COMM_WORLD);
    d->wait_seconds += cli_now() - t0;
    for (size_t at = 0; at < n;) {
        int cnt = n - at > (1u << 30) ? 1 << 30 : (int)(n - at);
        if (MPI_Allreduce(MPI_IN_PLACE, grads + at, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
            if (err) snprintf(err->msg, sizeof err->msg, "MPI_Allreduce of the gradients failed");
            return 1;
        }
        at += (size_t)cnt;
    }
    int mine = *stop;
    if (MPI_Allreduce(MPI_IN_PLACE, sums, nsums, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Allreduce(&mine, stop, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) {
        if (err) snprintf(err->msg, sizeof err->msg, "MPI_Allreduce of the losses failed");
        return 1;
    }
    return 0;
}

int dist_agree(dist *d, int rc)
{
    int all = rc;
    if (many(d)) MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return all;
}

int dist_bcast_weights(dist *d, sung_model *m)
{
    int nt = sung_model_tensor_count(m);
    for (int t = 0; many(d) && t < nt; t++) {
        int nd, shape[4];
        float *data;
        sung_model_tensor(m, t, &nd, shape, &data, NULL);
        size_t sz = 1;
        for (int k = 0; k < nd; k++) sz *= (size_t)shape[k];
        if (MPI_Bcast(data, (int)sz, MPI_FLOAT, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            return cli_fail("train", "MPI_Bcast of the weights failed");
    }
    return 0;
}

int dist_check_weights(dist *d, const sung_model *m, long step)
{
    if (!many(d)) return 0;
    unsigned long long h = sung_model_checksum(m), lo, hi;
    MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (lo == hi) return 0;
    return cli_fail("train", "rank %d: the processes' weights differ after step %ld (checksum %016llx, "
                             "the job's range %016llx..%016llx)", d->rank, step, h, lo, hi);
}

void dist_abort(dist *d, int rc)
{
    if (many(d)) MPI_Abort(MPI_COMM_WORLD, rc ? rc : 1);
}

void dist_finalize(dist *d)
{
    if (d->mpi) MPI_Finalize();
    d->mpi = 0;
}

#else /* one process */

static int job_join(dist *d, int *argc, char ***argv) { return (void)d, (void)argc, (void)argv, 0; }
static int job_reduce(dist *d, float *grads, size_t n, double *sums, int nsums, int *stop, sung_error *err)
{
    return (void)d, (void)grads, (void)n, (void)sums, (void)nsums, (void)stop, (void)err, 0;
}
int dist_agree(dist *d, int rc) { return (void)d, rc; }
int dist_bcast_weights(dist *d, sung_model *m) { return (void)d, (void)m, 0; }
int dist_check_weights(dist *d, const sung_model *m, long step) { return (void)d, (void)m, (void)step, 0; }
void dist_abort(dist *d, int rc) { (void)d, (void)rc; }
void dist_finalize(dist *d) { d->mpi = 0; }

#endif

/* CPUs this process may run on (a binding by mpirun shows here). */
static int cpus_allowed(void)
{
    cpu_set_t set;
    if (!sched_getaffinity(0, sizeof set, &set)) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int dist_init(dist *d, int *argc, char ***argv)
{
    memset(d, 0, sizeof *d);
    d->size = d->local_size = 1;
    if (job_join(d, argc, argv)) return 1;
    d->threads = 1;
#ifdef _OPENMP
    if (!getenv("OMP_NUM_THREADS") && d->local_size > 1) {
        /* bound by mpirun (to a core each, its default for 2 processes) the mask says
         * so; unbound, every process sees all CPUs: share them */
        int cpus = cpus_allowed();
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        int share = online > 0 ? (int)(online / d->local_size) : 1;
        d->threads = share < cpus ? share : cpus;
        if (d->threads < 1) d->threads = 1;
        omp_set_num_threads(d->threads);
    } else {
        d->threads = omp_get_max_threads();
    }
#else
    (void)cpus_allowed;
#endif
    return 0;
}

int dist_reduce(void *ctx, float *grads, size_t n, double *sums, int nsums, sung_error *err)
{
    dist *d = ctx;
    int stop = *d->stop;
    double t0 = cli_now(), wait0 = d->wait_seconds;
    if (job_reduce(d, grads, n, sums, nsums, &stop, err)) return 1;
    d->reduce_seconds += cli_now() - t0;
    d->reduce_seconds -= d->wait_seconds - wait0;
    d->agreed_stop = stop;
    if (d->dump_grads && d->step == 0 && d->rank == 0 && sung_model_save_grads(d->model, d->dump_grads, err))
        return 1;
    return 0;
}
