/* Atomic writes: temporary names and the removal of stale ones (contracts in atomic.h). */
#include "atomic.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

int atomic_tmp_path(char *buf, size_t n, const char *path)
{
    int k = snprintf(buf, n, "%s.tmp.%ld", path, (long)getpid());
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

void atomic_sweep(const char *path)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    char dir[4096], full[4096];
    size_t dl = slash ? (size_t)(slash - path) : 0, bl = strlen(base);
    if (dl >= sizeof dir || !bl) return;
    if (slash) memcpy(dir, path, dl), dir[dl] = 0;
    else strcpy(dir, ".");
    if (slash && !dl) strcpy(dir, "/");
    DIR *d = opendir(dir);
    if (!d) return;
    const struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, bl) || strncmp(nm + bl, ".tmp.", 5)) continue;
        const char *digits = nm + bl + 5;
        if (!isdigit((unsigned char)*digits)) continue;
        char *end;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (*end || errno || pid <= 0 || pid == (long)getpid() || (long)(pid_t)pid != pid) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        if (snprintf(full, sizeof full, "%s/%s", dir, nm) < (int)sizeof full) unlink(full);
    }
    closedir(d);
}
