/* libFuzzer: the EXIF parser (src/exif.c) on its own, much faster than through a file:
 * exif_check, exif_orientation, exif_set_orientation must stay inside the block. */
#include <stdlib.h>
#include <string.h>

#include "exif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *t = malloc(size ? size : 1); /* an exact-size copy: ASan sees any overread */
    if (!t) return 0;
    memcpy(t, data, size);
    int ok = exif_check(t, size) == 0;
    int o = exif_orientation(t, size);
    if (o < 0 || o > 8 || (o && !ok)) abort();
    exif_set_orientation(t, size, 1);
    if (o && exif_orientation(t, size) != 1) abort();
    icc_is_rgb(t, size);
    free(t);
    return 0;
}
