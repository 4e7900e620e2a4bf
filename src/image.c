/* Images: PNG in and out through libpng. Any PNG (8/16 bit, gray, palette, alpha) is
 * read as RGB floats in [0, 1]; gray is replicated, alpha dropped (SPEC §5), the EXIF
 * orientation applied. Output is 8- or 16-bit RGB, clamp then round((2^depth - 1)·x),
 * with the input's EXIF and ICC profile when given, written to a temporary file and
 * renamed. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "error.h"
#include "exif.h"
#include "image_common.h"
#include "jpeg.h"

/* im (w×h as stored) turned upright for EXIF orientation o (2..8; the table of the EXIF
 * standard: 2 mirrored, 3 turned 180°, 4 flipped, 5 transposed, 6 to be turned 90°
 * clockwise, 7 transverse, 8 to be turned 90° counter-clockwise); a new buffer, w and h
 * swapped for 5..8. */
static sung_status image_orient(sung_image *im, int o, sung_error *err)
{
    int w = im->w, h = im->h, swap = o >= 5;
    sung_image up;
    sung_status st = sung_image_alloc(&up, swap ? h : w, swap ? w : h, err);
    if (st != SUNG_OK) return st;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < up.h; y++)
        for (int x = 0; x < up.w; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x, sy = y; break;
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;
            case 4: sx = x, sy = h - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = h - 1 - x; break;
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;
            default: sx = w - 1 - y, sy = x; break; /* 8 */
            }
            memcpy(up.data + ((size_t)y * up.w + x) * 3, im->data + ((size_t)sy * w + sx) * 3, 3 * sizeof *up.data);
        }
    sung_image_free(im);
    *im = up;
    return SUNG_OK;
}

typedef struct {
    char msg[256];
    FILE *f;       /* writing: the file, for png_write_to_file */
    int sys_errno; /* writing: errno of the failed fwrite / fflush, else 0 */
} png_err_state;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_err_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}
static void on_png_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* libpng's own writer says only "Write Error"; these keep errno (ENOSPC, EFBIG, EIO) */
static void png_write_to_file(png_structp png, png_bytep data, size_t n)
{
    png_err_state *s = png_get_io_ptr(png);
    errno = 0;
    if (fwrite(data, 1, n, s->f) != n) {
        s->sys_errno = errno ? errno : EIO;
        png_error(png, "write failed");
    }
}
static void png_flush_file(png_structp png)
{
    png_err_state *s = png_get_io_ptr(png);
    if (fflush(s->f)) {
        s->sys_errno = errno ? errno : EIO;
        png_error(png, "write failed");
    }
}

/* Reads the PNG or JPEG at path as stored (no orientation applied) into im, and its
 * depth, EXIF and ICC profile (as found, unchecked) into *m. */
static sung_status image_read(sung_image *im, sung_image_meta *m, const char *path, sung_error *err)
{
    FILE *f = image_open_read(path, err);
    if (!f) return SUNG_ERR_IO;
    /* the signature, then the IHDR chunk, which a PNG must start with: length, "IHDR",
     * width, height (big-endian) */
    unsigned char hd[24];
    size_t got = fread(hd, 1, sizeof hd, f);
    if (got >= 3 && hd[0] == 0xFF && hd[1] == 0xD8 && hd[2] == 0xFF) {
        sung_status st = SUNG_ERR_IO;
        if (fseek(f, 0, SEEK_SET))
            model_set_error(err, "%s: %s", path, strerror(errno));
        else
            st = image_read_jpeg(im, f, path, m, err);
        fclose(f);
        return st;
    }
    if (got < 8 || png_sig_cmp(hd, 0, 8)) {
        fclose(f);
        model_set_error(err, "%s: neither a PNG nor a JPEG file", path);
        return SUNG_ERR_FORMAT;
    }
    if (got == 24 && !memcmp(hd + 12, "IHDR", 4)) {
        unsigned long w = (unsigned long)hd[16] << 24 | hd[17] << 16 | hd[18] << 8 | hd[19];
        unsigned long h = (unsigned long)hd[20] << 24 | hd[21] << 16 | hd[22] << 8 | hd[23];
        sung_status st = image_check_size(path, w, h, err);
        if (st != SUNG_OK) {
            fclose(f);
            return st;
        }
    } /* else libpng reports what is wrong */
    if (fseek(f, 8, SEEK_SET)) {
        model_set_error(err, "%s: %s", path, strerror(errno));
        fclose(f);
        return SUNG_ERR_IO;
    }
    png_err_state es = {{0}, NULL, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &es, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile row = NULL;
    png_bytep *volatile rows = NULL; /* freed at done: png_read_image may longjmp */
    volatile sung_status st = SUNG_OK;
    if (!info) {
        st = SUNG_ERR_NOMEM;
        model_set_error(err, "%s: out of memory", path);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        sung_image_free(im);
        model_set_error(err, "%s: corrupt PNG: %s", path, es.msg);
        st = SUNG_ERR_FORMAT;
        goto done;
    }
    png_set_user_limits(png, SUNG_MAX_SIDE, SUNG_MAX_SIDE);
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((st = image_check_size(path, w, h, err)) != SUNG_OK) goto done;
    int type = png_get_color_type(png, info);
    png_set_expand(png);     /* palette → RGB, gray < 8 bit → 8 bit, tRNS → alpha */
    png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
#ifdef PNG_eXIf_SUPPORTED
    png_bytep exif = NULL;
    png_uint_32 nexif = 0; /* only an eXIf before the image data: reading past it is not needed */
    if (png_get_eXIf_1(png, info, &nexif, &exif) && exif && nexif && !(m->exif = image_dup_bytes(exif, nexif)))
        png_error(png, "out of memory");
    m->exif_size = m->exif ? nexif : 0;
#endif
    png_charp icc_name;
    int icc_comp;
    png_bytep icc = NULL;
    png_uint_32 nicc = 0;
    if (png_get_iCCP(png, info, &icc_name, &icc_comp, &icc, &nicc) && icc && nicc &&
        !(m->icc = image_dup_bytes(icc, nicc)))
        png_error(png, "out of memory");
    m->icc_size = m->icc ? nicc : 0;
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    int bytes = png_get_bit_depth(png, info) == 16 ? 2 : 1;
    m->depth = 8 * bytes;
    if (png_get_channels(png, info) != 3 || rowbytes != (size_t)w * 3 * bytes) {
        model_set_error(err, "%s: unsupported PNG layout", path);
        st = SUNG_ERR_FORMAT;
        goto done;
    }
    if ((st = sung_image_alloc(im, (int)w, (int)h, err)) != SUNG_OK) goto done;
    /* interlaced images need the whole image; read all rows into one buffer */
    row = malloc(rowbytes * h);
    rows = row ? malloc(h * sizeof *rows) : NULL;
    if (!rows) {
        sung_image_free(im);
        model_set_error(err, "%s: out of memory", path);
        st = SUNG_ERR_NOMEM;
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = row + y * rowbytes;
    png_read_image(png, rows);
    size_t n = (size_t)w * h * 3;
    if (bytes == 2) {
        for (size_t i = 0; i < n; i++) /* PNG samples are big-endian */
            im->data[i] = (row[2 * i] << 8 | row[2 * i + 1]) / 65535.0f;
    } else {
        for (size_t i = 0; i < n; i++) im->data[i] = row[i] / 255.0f;
    }
done:
    free(rows);
    free(row);
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    fclose(f);
    return st;
}

sung_status sung_image_load_ex(sung_image *im, sung_image_meta *meta, const char *path, sung_error *err)
{
    sung_image_meta m = {8, 1, NULL, 0, NULL, 0};
    memset(im, 0, sizeof *im);
    if (meta) sung_image_meta_free(memset(meta, 0, sizeof *meta));
    sung_status st = image_read(im, &m, path, err);
    if (st == SUNG_OK) {
        /* what cannot be read safely is not carried on (exif.h) */
        if (m.exif && exif_check(m.exif, m.exif_size)) free(m.exif), m.exif = NULL, m.exif_size = 0;
        if (m.icc && !icc_is_rgb(m.icc, m.icc_size)) free(m.icc), m.icc = NULL, m.icc_size = 0;
        int o = m.exif ? exif_orientation(m.exif, m.exif_size) : 0;
        m.orientation = o ? o : 1;
        if (o > 1) {
            st = image_orient(im, o, err);
            exif_set_orientation(m.exif, m.exif_size, 1);
        }
    }
    if (st != SUNG_OK) sung_image_free(im);
    if (meta && st == SUNG_OK) *meta = m;
    else sung_image_meta_free(&m);
    return st;
}

sung_status sung_image_load(sung_image *im, const char *path, sung_error *err)
{
    return sung_image_load_ex(im, NULL, path, err);
}

/* Writes im as RGB PNG of depth 8 or 16 with meta's EXIF and ICC profile (meta may be
 * NULL) to the open f; messages name `name`. */
static sung_status write_png(const sung_image *im, FILE *f, const char *name, int depth, const sung_image_meta *meta,
                             sung_error *err)
{
    size_t rowbytes = (size_t)im->w * 3 * (depth / 8);
    unsigned char *volatile buf = malloc(rowbytes * im->h);
    if (!buf) {
        model_set_error(err, "out of memory writing %s", name);
        return SUNG_ERR_NOMEM;
    }
    if (depth == 16) {
        size_t n = (size_t)im->w * im->h * 3;
        for (size_t i = 0; i < n; i++) { /* big-endian samples */
            long v = lrintf(65535.0f * fminf(fmaxf(im->data[i], 0.0f), 1.0f));
            buf[2 * i] = (unsigned char)(v >> 8), buf[2 * i + 1] = (unsigned char)v;
        }
    } else {
        sung_image_to_u8(im, buf);
    }
    png_err_state es = {{0}, f, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &es, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    volatile sung_status st = SUNG_OK;
    if (!info) {
        st = SUNG_ERR_NOMEM;
        model_set_error(err, "out of memory writing %s", name);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        if (es.sys_errno)
            model_set_error(err, "cannot write %s: %s", name, strerror(es.sys_errno));
        else
            model_set_error(err, "%s: %s", name, es.msg);
        st = SUNG_ERR_IO;
        goto done;
    }
    /* a profile libpng finds inconsistent is left out with a warning, not a failed write */
    png_set_benign_errors(png, 1);
    png_set_write_fn(png, &es, png_write_to_file, png_flush_file);
    png_set_IHDR(png, info, im->w, im->h, depth, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (meta && meta->icc && meta->icc_size >= 132 && meta->icc_size <= 0xFFFFFFFFu)
        png_set_iCCP(png, info, "ICC profile", PNG_COMPRESSION_TYPE_BASE, meta->icc, (png_uint_32)meta->icc_size);
#ifdef PNG_eXIf_SUPPORTED
    if (meta && meta->exif && meta->exif_size && meta->exif_size <= 0x7FFFFFFFu)
        png_set_eXIf_1(png, info, (png_uint_32)meta->exif_size, meta->exif);
#endif
    png_write_info(png, info);
    for (int y = 0; y < im->h; y++) png_write_row(png, buf + (size_t)y * rowbytes);
    png_write_end(png, NULL);
done:
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    free(buf);
    return st;
}

/* The one writer: atomically (a temporary file, flushed, synced, renamed), as JPEG when
 * jpeg is set or the extension says so, else PNG; o is checked and complete. */
static sung_status image_save_as(const sung_image *im, const char *path, int jpeg, const sung_image_save_opts *o,
                                 sung_error *err)
{
    if (!im || !im->data || im->w < 1 || im->h < 1 || im->w > SUNG_MAX_SIDE || im->h > SUNG_MAX_SIDE) {
        model_set_error(err, "%s: cannot write an empty or %dx%d image", path, im ? im->w : 0, im ? im->h : 0);
        return SUNG_ERR_ARG;
    }
    const char *dot = strrchr(path, '.');
    jpeg = jpeg || (dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")));
    if (jpeg && o->depth != 8) {
        model_set_error(err, "%s: a JPEG holds 8 bits per sample, not %d (write a PNG)", path, o->depth);
        return SUNG_ERR_ARG;
    }
    char tmp[4096];
    if (atomic_tmp_path(tmp, sizeof tmp, path)) {
        model_set_error(err, "%s: path too long", path);
        return SUNG_ERR_ARG;
    }
    atomic_sweep(path);
    /* every message names path, not tmp: a missing folder is the output's problem */
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        model_set_error(err, "cannot write %s: %s", path, strerror(errno));
        return SUNG_ERR_IO;
    }
    sung_status st = jpeg ? image_write_jpeg(im, f, path, o->quality, o->meta, err)
                          : write_png(im, f, path, o->depth, o->meta, err);
    if (fflush(f) || fsync(fileno(f))) {
        if (st == SUNG_OK) {
            model_set_error(err, "cannot write %s: %s", path, strerror(errno));
            st = SUNG_ERR_IO;
        }
    }
    if (fclose(f) && st == SUNG_OK) {
        model_set_error(err, "cannot write %s: %s", path, strerror(errno));
        st = SUNG_ERR_IO;
    }
    if (st == SUNG_OK && rename(tmp, path)) {
        model_set_error(err, "cannot write %s: %s", path, strerror(errno));
        st = SUNG_ERR_IO;
    }
    if (st != SUNG_OK) remove(tmp);
    return st;
}

/* o with its defaults filled in; SUNG_ERR_ARG for a value out of range */
static sung_status save_opts(const sung_image_save_opts *o, const char *path, sung_image_save_opts *out,
                             sung_error *err)
{
    *out = o ? *o : (sung_image_save_opts){0, 0, NULL};
    if (!out->depth) out->depth = 8;
    if (!out->quality) out->quality = 95;
    if (out->depth != 8 && out->depth != 16) {
        model_set_error(err, "%s: depth %d is neither 8 nor 16", path, out->depth);
        return SUNG_ERR_ARG;
    }
    if (out->quality < 1 || out->quality > 100) {
        model_set_error(err, "%s: JPEG quality %d out of range (1..100)", path, out->quality);
        return SUNG_ERR_ARG;
    }
    return SUNG_OK;
}

sung_status sung_image_save_ex(const sung_image *im, const char *path, const sung_image_save_opts *o,
                               sung_error *err)
{
    sung_image_save_opts so;
    sung_status st = save_opts(o, path, &so, err);
    return st ? st : image_save_as(im, path, 0, &so, err);
}

sung_status sung_image_save(const sung_image *im, const char *path, sung_error *err)
{
    return sung_image_save_ex(im, path, NULL, err);
}

sung_status image_save_jpeg(const sung_image *im, const char *path, int quality, sung_error *err)
{
    if (quality < 1 || quality > 100) {
        model_set_error(err, "%s: JPEG quality %d out of range (1..100)", path, quality);
        return SUNG_ERR_ARG;
    }
    sung_image_save_opts so = {8, quality, NULL};
    return image_save_as(im, path, 1, &so, err);
}

/* Area weights of the input samples [i, i + 1) that output sample o covers, o·f ..
 * (o + 1)·f, f = n_in / n_out ≥ 1: first index and up to ceil(f) + 1 weights. */
static int area_weights(int o, double f, int n_in, float *w)
{
    double a = o * f, b = (o + 1) * f;
    int i0 = (int)floor(a), k = 0;
    for (int i = i0; i < b && i < n_in; i++, k++) {
        double lo = fmax(a, i), hi = fmin(b, i + 1.0);
        w[k] = (float)((hi - lo) / f);
    }
    return k;
}

sung_status sung_image_shrink(const sung_image *im, int max_side, sung_image *out, sung_error *err)
{
    memset(out, 0, sizeof *out);
    if (!im || !im->data || im->w < 1 || im->h < 1 || max_side < 1) {
        model_set_error(err, "shrink: empty image or max_side < 1");
        return SUNG_ERR_ARG;
    }
    int big = im->w > im->h ? im->w : im->h;
    double f = big > max_side ? (double)big / max_side : 1.0;
    int w = (int)lround(im->w / f), h = (int)lround(im->h / f);
    w = w < 1 ? 1 : w, h = h < 1 ? 1 : h;
    sung_status st = sung_image_alloc(out, w, h, err);
    if (st != SUNG_OK) return st;
    if (f == 1.0) {
        memcpy(out->data, im->data, (size_t)w * h * 3 * sizeof *out->data);
        return SUNG_OK;
    }
    double fx = (double)im->w / w, fy = (double)im->h / h;
    if (fx > 60 || fy > 60) { /* the weights below hold ceil(f) + 1 <= 62 */
        sung_image_free(out);
        model_set_error(err, "shrink: %dx%d to %dx%d is a factor above 60", im->w, im->h, w, h);
        return SUNG_ERR_ARG;
    }
    float *rows = malloc((size_t)im->h * w * 3 * sizeof *rows); /* shrunk along x */
    if (!rows) {
        sung_image_free(out);
        model_set_error(err, "shrink: out of memory");
        return SUNG_ERR_NOMEM;
    }
#pragma omp parallel for schedule(static)
    for (int y = 0; y < im->h; y++) {
        float wt[64];
        for (int x = 0; x < w; x++) {
            int k = area_weights(x, fx, im->w, wt), i0 = (int)floor(x * fx);
            float acc[3] = {0, 0, 0};
            for (int j = 0; j < k && j < 64; j++)
                for (int c = 0; c < 3; c++) acc[c] += wt[j] * im->data[((size_t)y * im->w + i0 + j) * 3 + c];
            for (int c = 0; c < 3; c++) rows[((size_t)y * w + x) * 3 + c] = acc[c];
        }
    }
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        float wt[64];
        int k = area_weights(y, fy, im->h, wt), i0 = (int)floor(y * fy);
        for (int x = 0; x < w * 3; x++) {
            float acc = 0;
            for (int j = 0; j < k && j < 64; j++) acc += wt[j] * rows[(size_t)(i0 + j) * w * 3 + x];
            out->data[(size_t)y * w * 3 + x] = acc;
        }
    }
    free(rows);
    return SUNG_OK;
}
