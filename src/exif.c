/* EXIF orientation and ICC profile checks (contracts in exif.h). */
#include "exif.h"

#include <string.h>

static unsigned rd16(const uint8_t *p, int be) { return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0]; }
static uint32_t rd32(const uint8_t *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* IFD0 of a TIFF header: its offset and entry count, or -1 when either is out of t[0..n). */
static int ifd0(const uint8_t *t, size_t n, int *be, size_t *off, unsigned *count)
{
    if (!t || n < 8) return -1;
    if (t[0] == 'I' && t[1] == 'I') *be = 0;
    else if (t[0] == 'M' && t[1] == 'M') *be = 1;
    else return -1;
    if (rd16(t + 2, *be) != 42) return -1;
    uint32_t o = rd32(t + 4, *be);
    if (o < 8 || o > n - 2) return -1;
    unsigned c = rd16(t + o, *be);
    if (c > (n - o - 2) / 12) return -1;
    *off = o, *count = c;
    return 0;
}

/* The 12-byte IFD0 entry of the orientation tag, when well-formed (SHORT, count 1). */
static uint8_t *orientation_entry(const uint8_t *t, size_t n, int *be)
{
    size_t off;
    unsigned count;
    if (ifd0(t, n, be, &off, &count)) return NULL;
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *e = t + off + 2 + 12 * (size_t)i;
        if (rd16(e, *be) == 0x0112)
            return rd16(e + 2, *be) == 3 && rd32(e + 4, *be) == 1 ? (uint8_t *)e : NULL;
    }
    return NULL;
}

int exif_check(const uint8_t *t, size_t n)
{
    int be;
    size_t off;
    unsigned count;
    return ifd0(t, n, &be, &off, &count);
}

int exif_orientation(const uint8_t *t, size_t n)
{
    int be;
    const uint8_t *e = orientation_entry(t, n, &be);
    unsigned v = e ? rd16(e + 8, be) : 0;
    return v >= 1 && v <= 8 ? (int)v : 0;
}

void exif_set_orientation(uint8_t *t, size_t n, int v)
{
    int be;
    uint8_t *e = orientation_entry(t, n, &be);
    if (!e || v < 1 || v > 8) return;
    e[8] = be ? 0 : (uint8_t)v, e[9] = be ? (uint8_t)v : 0, e[10] = e[11] = 0;
}

int icc_is_rgb(const uint8_t *p, size_t n)
{
    if (!p || n < 132 || n > 0xFFFFFFFFu) return 0;
    return rd32(p, 1) == n && !memcmp(p + 36, "acsp", 4) && !memcmp(p + 16, "RGB ", 4);
}
