/* Atomic file writes, internal to the library: a file is written to "PATH.tmp.PID" and
 * renamed onto PATH (src/image.c, src/safetensors.c). */
#ifndef SUNG_ATOMIC_H
#define SUNG_ATOMIC_H

#include <stddef.h>

/* buf = "path.tmp.PID" (this process's PID); -1 if it does not fit in n bytes. */
int atomic_tmp_path(char *buf, size_t n, const char *path);

/* Removes the temporary files of path that a killed writer left: "path.tmp.PID" in
 * path's folder whose PID is not a running process (kill(PID, 0) fails with ESRCH).
 * Those of running processes (ours, or another user's: EPERM) are kept, and so is
 * everything else. Best effort: errors are ignored. PIDs are those of this machine's
 * PID namespace, so a folder shared with writers elsewhere must not hold the same
 * target. */
void atomic_sweep(const char *path);

#endif
