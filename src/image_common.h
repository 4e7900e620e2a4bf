/* What the image code shares, internal to the library (src/image_common.c): the
 * functions src/image.c (PNG) and src/jpeg.c (JPEG) both need, so that neither depends
 * on the other for them. sung_image_alloc, sung_image_free, sung_image_meta_free and
 * sung_image_to_u8 (sung.h) are defined there too. */
#ifndef SUNG_IMAGE_COMMON_H
#define SUNG_IMAGE_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "sung.h"

/* Opens path for reading if it is a regular file: a FIFO, device, socket or folder is
 * SUNG_ERR_IO ("not a regular file"), found without blocking on it (O_NONBLOCK, then
 * fstat). NULL with the reason in err. */
FILE *image_open_read(const char *path, sung_error *err);

/* SUNG_OK if a w×h image may be decoded: w·h at most SUNG_MAX_PIXELS and both sides at
 * most SUNG_MAX_SIDE; otherwise SUNG_ERR_FORMAT and a message naming path, the size and
 * the limit. Called with the header's size, before anything is allocated. */
sung_status image_check_size(const char *path, unsigned long w, unsigned long h, sung_error *err);

/* A copy of p[0..n) in new memory (NULL when n is 0 or out of memory). */
uint8_t *image_dup_bytes(const void *p, size_t n);

#endif
