/* EXIF and ICC blocks of image files, internal to the library (src/image.c, src/jpeg.c).
 *
 * An EXIF block here is the TIFF structure itself ("II*\0" or "MM\0*", then IFD0), as a
 * PNG eXIf chunk holds it and as a JPEG APP1 marker holds it after "Exif\0\0". Only IFD0
 * is read (the orientation lives there): no IFD chain or sub-IFD is followed, so a
 * hostile block can neither loop nor point outside itself; every offset is checked
 * against the block's size. */
#ifndef SUNG_EXIF_H
#define SUNG_EXIF_H

#include <stddef.h>
#include <stdint.h>

/* 0 when t[0..n) starts with a TIFF header whose IFD0 (its entry count and entries) lies
 * inside the n bytes; -1 otherwise (the block is not kept). */
int exif_check(const uint8_t *t, size_t n);

/* The orientation tag (0x0112, a SHORT) of IFD0: 1..8; 0 when there is none, it is
 * malformed (another type, a count other than 1) or out of range. */
int exif_orientation(const uint8_t *t, size_t n);

/* Sets the orientation tag to v (1..8) in place, when there is a well-formed one. */
void exif_set_orientation(uint8_t *t, size_t n, int v);

/* 1 when p[0..n) looks like an ICC profile of an RGB colour space that a PNG or JPEG
 * writer may carry: at least the 128-byte header and its tag count, its declared size n,
 * "acsp" at 36, colour space "RGB " at 16. */
int icc_is_rgb(const uint8_t *p, size_t n);

#endif
