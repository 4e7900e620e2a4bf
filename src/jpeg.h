/* Image files, internal to the library: JPEG in and out through libjpeg(-turbo).
 * sung_image_load and sung_image_save (src/image.c) call these; what both share is in
 * image_common.h. */
#ifndef SUNG_JPEG_H
#define SUNG_JPEG_H

#include <stdio.h>

#include "sung.h"

/* Reads a baseline or progressive JPEG, gray or YCbCr/RGB, into im (allocated here) as
 * RGB floats k/255, gray replicated, as stored (no orientation applied). CMYK/YCCK, sizes
 * over the limits of image_check_size, and any corrupt or truncated data (what libjpeg
 * only warns about) are errors: SUNG_ERR_FORMAT with the reason in err; im is left empty.
 * Never exits, never longjmps past itself. image_read_jpeg reads from f at its current
 * position (the caller opens and closes it; path names it in messages) and, when m is not
 * NULL, puts into m->exif the first APP1 "Exif" marker's block and into m->icc the ICC
 * profile of the APP2 markers (allocated, unchecked: the caller checks and frees them;
 * malformed ICC markers are skipped, not an error), with m->depth 8. */
sung_status image_load_jpeg(sung_image *im, const char *path, sung_error *err);
sung_status image_read_jpeg(sung_image *im, FILE *f, const char *path, sung_image_meta *m, sung_error *err);

/* Writes im as an 8-bit RGB JPEG (clamp to [0, 1], round(255·x), as the PNG writer) at
 * quality 1..100 to path, whatever its extension, atomically like sung_image_save
 * (src/image.c, which holds the one file writer). Quality >= 90 keeps full-resolution
 * chroma (4:4:4), lower qualities use libjpeg's default 4:2:0. image_write_jpeg writes to
 * the open f without flushing or closing it, with meta's EXIF (APP1, no JFIF APP0 then;
 * left out when over 65527 bytes) and ICC profile (APP2) when meta is not NULL, and names
 * `name` in messages (with the system's reason for a failed write). */
sung_status image_save_jpeg(const sung_image *im, const char *path, int quality, sung_error *err);
sung_status image_write_jpeg(const sung_image *im, FILE *f, const char *name, int quality,
                             const sung_image_meta *meta, sung_error *err);

#endif
