/* JPEG in and out through libjpeg(-turbo): internal to the library; sung_image_load and
 * sung_image_save (src/image.c) call these. */
#ifndef SUNG_JPEG_H
#define SUNG_JPEG_H

#include "sung.h"

/* Reads a baseline or progressive JPEG, gray or YCbCr/RGB, into im (allocated here) as
 * RGB floats k/255, gray replicated. CMYK/YCCK, sides over 32768, and any corrupt or
 * truncated data (what libjpeg only warns about) are errors: SUNG_ERR_FORMAT with the
 * reason in err; im is left empty. Never exits, never longjmps past itself. */
sung_status image_load_jpeg(sung_image *im, const char *path, sung_error *err);

/* Writes im as an 8-bit RGB JPEG (clamp to [0, 1], round(255·x), as the PNG writer) at
 * quality 1..100 straight to path, flushed and fsync'ed; the caller makes it atomic
 * (temporary file + rename). Quality >= 90 keeps full-resolution chroma (4:4:4),
 * lower qualities use libjpeg's default 4:2:0. */
sung_status image_save_jpeg(const sung_image *im, const char *path, int quality, sung_error *err);

#endif
