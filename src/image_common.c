/* What the image code shares, below both codecs (src/image.c: PNG, loading and saving;
 * src/jpeg.c: JPEG), so that neither calls into the other's file for it: the sung_image
 * buffer, opening a file to read, the size limits of a header, a byte copy, 8-bit
 * quantisation. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "image_common.h"

sung_status sung_image_alloc(sung_image *im, int w, int h, sung_error *err)
{
    memset(im, 0, sizeof *im);
    if (w < 1 || h < 1 || w > SUNG_MAX_SIDE || h > SUNG_MAX_SIDE) {
        model_set_error(err, "image size %dx%d out of range (1..%d)", w, h, SUNG_MAX_SIDE);
        return SUNG_ERR_ARG;
    }
    im->data = malloc((size_t)w * h * 3 * sizeof *im->data);
    if (!im->data) {
        model_set_error(err, "out of memory for a %dx%d image", w, h);
        return SUNG_ERR_NOMEM;
    }
    im->w = w, im->h = h;
    return SUNG_OK;
}

void sung_image_free(sung_image *im)
{
    if (!im) return;
    free(im->data);
    memset(im, 0, sizeof *im);
}

void sung_image_meta_free(sung_image_meta *meta)
{
    if (!meta) return;
    free(meta->exif);
    free(meta->icc);
    memset(meta, 0, sizeof *meta);
    meta->depth = 8, meta->orientation = 1;
}

uint8_t *image_dup_bytes(const void *p, size_t n)
{
    uint8_t *q = n ? malloc(n) : NULL;
    if (q) memcpy(q, p, n);
    return q;
}

FILE *image_open_read(const char *path, sung_error *err)
{
    /* O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
        model_set_error(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        model_set_error(err, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        const char *what = S_ISDIR(st.st_mode)    ? "a folder"
                           : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                         : "something else";
        model_set_error(err, "%s: not a regular file (%s)", path, what);
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *f = fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        model_set_error(err, "%s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

sung_status image_check_size(const char *path, unsigned long w, unsigned long h, sung_error *err)
{
    unsigned long long px = (unsigned long long)w * h;
    if (px > (unsigned long long)SUNG_MAX_PIXELS) {
        model_set_error(err, "%s: %lux%lu is %.1f Mpx, more than the limit of %ld Mpx", path, w, h, px / 1e6,
                        SUNG_MAX_PIXELS / 1000000);
        return SUNG_ERR_FORMAT;
    }
    if (w > SUNG_MAX_SIDE || h > SUNG_MAX_SIDE) {
        model_set_error(err, "%s: %lux%lu is more than %d pixels a side", path, w, h, SUNG_MAX_SIDE);
        return SUNG_ERR_FORMAT;
    }
    return SUNG_OK;
}

void sung_image_to_u8(const sung_image *im, uint8_t *out)
{
    size_t n = (size_t)im->w * im->h * 3;
    for (size_t i = 0; i < n; i++) {
        float v = fminf(fmaxf(im->data[i], 0.0f), 1.0f);
        out[i] = (uint8_t)lrintf(255.0f * v);
    }
}
