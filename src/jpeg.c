/* JPEG in and out through libjpeg(-turbo) (contracts in jpeg.h).
 *
 * libjpeg reports fatal errors through error_exit, which must not return: ours formats
 * the message and longjmps back into the function that called libjpeg, which cleans up
 * and returns a status. Corrupt or truncated data is only a *warning* to libjpeg (it
 * pads the image with grey and goes on); the loader treats every warning as an error,
 * so that a damaged photo is reported instead of silently becoming training data. */
#include "jpeg.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h> /* after jpeglib.h: the message codes */

#include "error.h"
#include "image_common.h"

typedef struct {
    struct jpeg_error_mgr pub; /* first: libjpeg sees a struct jpeg_error_mgr * */
    jmp_buf jump;
    int strict;                /* warnings are errors */
    int sys_errno;             /* errno when the error was raised (a failed fwrite) */
    char msg[JMSG_LENGTH_MAX];
} jpeg_err_state;

static void on_jpeg_error(j_common_ptr c)
{
    jpeg_err_state *s = (jpeg_err_state *)c->err;
    s->sys_errno = errno;
    c->err->format_message(c, s->msg);
    longjmp(s->jump, 1);
}

/* level < 0: a warning (corrupt data, premature end of file); >= 0: trace messages */
static void on_jpeg_message(j_common_ptr c, int level)
{
    jpeg_err_state *s = (jpeg_err_state *)c->err;
    if (level < 0 && s->strict) on_jpeg_error(c);
}

static void jpeg_err_init(jpeg_err_state *s, int strict)
{
    jpeg_std_error(&s->pub);
    s->pub.error_exit = on_jpeg_error;
    s->pub.emit_message = on_jpeg_message;
    s->strict = strict;
    s->sys_errno = 0;
    s->msg[0] = 0;
}

sung_status image_load_jpeg(sung_image *im, const char *path, sung_error *err)
{
    memset(im, 0, sizeof *im);
    FILE *f = image_open_read(path, err);
    if (!f) return SUNG_ERR_IO;
    sung_status st = image_read_jpeg(im, f, path, NULL, err);
    fclose(f);
    return st;
}

sung_status image_read_jpeg(sung_image *im, FILE *f, const char *path, sung_image_meta *m, sung_error *err)
{
    memset(im, 0, sizeof *im);
    struct jpeg_decompress_struct cinfo;
    jpeg_err_state es;
    memset(&cinfo, 0, sizeof cinfo); /* jpeg_destroy is safe even if create fails */
    jpeg_err_init(&es, 1);
    cinfo.err = &es.pub;
    JSAMPLE *volatile row = NULL;
    volatile sung_status st = SUNG_OK;
    if (setjmp(es.jump)) {
        sung_image_free(im);
        int nomem = es.pub.msg_code == JERR_OUT_OF_MEMORY;
        model_set_error(err, "%s: %s: %s", path, nomem ? "out of memory" : "corrupt JPEG", es.msg);
        st = nomem ? SUNG_ERR_NOMEM : SUNG_ERR_FORMAT;
        goto done;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    if (m) {
        jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
        jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xFFFF);
    }
    jpeg_read_header(&cinfo, TRUE);
    if (m) {
        m->depth = 8;
        for (jpeg_saved_marker_ptr k = cinfo.marker_list; k && !m->exif; k = k->next)
            if (k->marker == JPEG_APP0 + 1 && k->data_length > 6 && !memcmp(k->data, "Exif\0\0", 6)) {
                if (!(m->exif = image_dup_bytes(k->data + 6, k->data_length - 6))) ERREXIT(&cinfo, JERR_OUT_OF_MEMORY);
                m->exif_size = k->data_length - 6;
            }
        /* libjpeg warns about malformed ICC markers: here not an error, the profile is left out */
        JOCTET *icc = NULL;
        unsigned int nicc = 0;
        es.strict = 0;
        if (jpeg_read_icc_profile(&cinfo, &icc, &nicc) && icc && nicc) {
            m->icc = image_dup_bytes(icc, nicc);
            m->icc_size = m->icc ? nicc : 0;
        }
        free(icc);
        es.strict = 1;
    }
    JDIMENSION w = cinfo.image_width, h = cinfo.image_height;
    if ((st = image_check_size(path, w, h, err)) != SUNG_OK) goto done; /* before any decoding */
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        model_set_error(err, "%s: CMYK JPEG is not supported (convert it to RGB)", path);
        st = SUNG_ERR_FORMAT;
        goto done;
    default:
        model_set_error(err, "%s: JPEG with %d components in an unknown colour space is not supported",
                        path, cinfo.num_components);
        st = SUNG_ERR_FORMAT;
        goto done;
    }
    jpeg_start_decompress(&cinfo);
    int comps = cinfo.output_components;
    if ((comps != 1 && comps != 3) || cinfo.output_width != w || cinfo.output_height != h) {
        model_set_error(err, "%s: unsupported JPEG layout", path);
        st = SUNG_ERR_FORMAT;
        goto done;
    }
    if ((st = sung_image_alloc(im, (int)w, (int)h, err)) != SUNG_OK) goto done;
    if (!(row = malloc((size_t)w * comps))) {
        sung_image_free(im);
        model_set_error(err, "%s: out of memory", path);
        st = SUNG_ERR_NOMEM;
        goto done;
    }
    while (cinfo.output_scanline < h) {
        JDIMENSION y = cinfo.output_scanline;
        JSAMPROW r = row;
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) { /* stdio sources never suspend */
            sung_image_free(im);
            model_set_error(err, "%s: JPEG ended at row %u of %u", path, (unsigned)y, (unsigned)h);
            st = SUNG_ERR_FORMAT;
            goto done;
        }
        float *o = im->data + (size_t)y * w * 3;
        if (comps == 3)
            for (size_t i = 0; i < (size_t)w * 3; i++) o[i] = row[i] / 255.0f;
        else
            for (size_t x = 0; x < w; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = row[x] / 255.0f;
    }
    jpeg_finish_decompress(&cinfo); /* reads up to EOI: a truncated tail warns, hence fails */
done:
    jpeg_destroy_decompress(&cinfo);
    free(row);
    return st;
}

sung_status image_write_jpeg(const sung_image *im, FILE *f, const char *name, int quality,
                             const sung_image_meta *meta, sung_error *err)
{
    if (quality < 1 || quality > 100) {
        model_set_error(err, "%s: JPEG quality %d out of range (1..100)", name, quality);
        return SUNG_ERR_ARG;
    }
    if (!im || !im->data || im->w < 1 || im->h < 1 || im->w > SUNG_MAX_SIDE || im->h > SUNG_MAX_SIDE) {
        model_set_error(err, "%s: cannot write an empty or %dx%d image", name, im ? im->w : 0, im ? im->h : 0);
        return SUNG_ERR_ARG;
    }
    size_t rowbytes = (size_t)im->w * 3;
    JSAMPLE *buf = malloc(rowbytes * im->h);
    if (!buf) {
        model_set_error(err, "out of memory writing %s", name);
        return SUNG_ERR_NOMEM;
    }
    sung_image_to_u8(im, buf);
    struct jpeg_compress_struct cinfo;
    jpeg_err_state es;
    memset(&cinfo, 0, sizeof cinfo);
    jpeg_err_init(&es, 0);
    cinfo.err = &es.pub;
    JOCTET *volatile mk = NULL; /* the APP1 marker; freed at done, a write may longjmp */
    volatile sung_status st = SUNG_OK;
    if (setjmp(es.jump)) {
        int nomem = es.pub.msg_code == JERR_OUT_OF_MEMORY;
        if (es.pub.msg_code == JERR_FILE_WRITE && es.sys_errno) /* libjpeg's "out of disk space?" */
            model_set_error(err, "cannot write %s: %s", name, strerror(es.sys_errno));
        else
            model_set_error(err, "%s: %s", name, es.msg);
        st = nomem ? SUNG_ERR_NOMEM : SUNG_ERR_IO;
        goto done;
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)im->w;
    cinfo.image_height = (JDIMENSION)im->h;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (quality >= 90) /* no chroma subsampling: 4:4:4 */
        cinfo.comp_info[0].h_samp_factor = cinfo.comp_info[0].v_samp_factor = 1;
    cinfo.optimize_coding = TRUE;
    /* EXIF in APP1 is the file's first marker, as cameras write it (EXIF 2.3 §4.5.4) */
    int exif = meta && meta->exif && meta->exif_size && meta->exif_size <= 65533 - 6;
    if (exif) cinfo.write_JFIF_header = FALSE;
    jpeg_start_compress(&cinfo, TRUE);
    if (exif) {
        if (!(mk = malloc(meta->exif_size + 6))) ERREXIT(&cinfo, JERR_OUT_OF_MEMORY);
        memcpy(mk, "Exif\0\0", 6);
        memcpy(mk + 6, meta->exif, meta->exif_size);
        jpeg_write_marker(&cinfo, JPEG_APP0 + 1, mk, (unsigned)(meta->exif_size + 6));
    }
    if (meta && meta->icc && meta->icc_size && meta->icc_size <= 0xFFFFFFFFu)
        jpeg_write_icc_profile(&cinfo, meta->icc, (unsigned)meta->icc_size);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW r = buf + (size_t)cinfo.next_scanline * rowbytes;
        jpeg_write_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_compress(&cinfo); /* its term_destination flushes and reports a failed write */
done:
    jpeg_destroy_compress(&cinfo);
    free(mk);
    free(buf);
    return st;
}
