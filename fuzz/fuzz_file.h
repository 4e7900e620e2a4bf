/* What the file-reading harnesses share: the library reads paths, libFuzzer hands bytes,
 * so each input is written to one file of this process (in /dev/shm when there is one:
 * no disk traffic) and read from there. */
#ifndef SUNG_FUZZ_FILE_H
#define SUNG_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_file[256];
static void fuzz_remove(void) { remove(fuzz_file); }

static const char *fuzz_path(const char *ext)
{
    if (!fuzz_file[0]) {
        snprintf(fuzz_file, sizeof fuzz_file, "%s/sung-fuzz-%ld%s",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid(), ext);
        atexit(fuzz_remove); /* libFuzzer ends with exit(): no file left behind */
    }
    return fuzz_file;
}

/* writes data to the harness's file; aborts (a harness bug, not a finding) if it cannot */
static const char *fuzz_write(const uint8_t *data, size_t size, const char *ext)
{
    const char *p = fuzz_path(ext);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) abort();
    return p;
}

#endif
