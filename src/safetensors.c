/* Safetensors reader and writer: see safetensors.h for the contract.
 *
 * The header is parsed by a small recursive-descent parser that knows the one shape a
 * safetensors header may have (object of tensor objects plus __metadata__), so there is
 * no generic JSON tree and no unbounded recursion. Parser positions are byte offsets
 * into the file, which is what error messages report. */
#include "safetensors.h"
#include "tensor.h" /* mem_advise_huge */
#include "atomic.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER 100000000u
#define MAX_INT (1ull << 53) /* largest integer accepted in a header */

static const char *const dtype_names[] = {"F32", "F16", "BF16", "F64", "U8"};
static const unsigned dtype_sizes[] = {4, 2, 2, 8, 1};

typedef unsigned long long ull; /* for printf */

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

const char *st_dtype_name(st_dtype dt) { return (unsigned)dt <= ST_U8 ? dtype_names[dt] : "?"; }

/* ---- scalar conversions ---------------------------------------------------------- */

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static double u2d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

/* The bits of st_f16_to_f32(h), without branches (st_read_f32's loop vectorises): a
 * subnormal half is m·2^-24, which float arithmetic gives exactly; every other value is
 * its exponent rebiased, infinities and NaNs (payload kept) with the exponent all ones.
 * tests/test_safetensors.c checks all 65,536 halves against st_f16_to_f32. */
static inline uint32_t f16_bits(uint32_t h)
{
    uint32_t s = (h & 0x8000) << 16, em = h & 0x7fff;
    uint32_t normal = (em << 13) + (112u << 23), special = (em << 13) | 0x7f800000;
    uint32_t sub = f2u((float)(int32_t)em * 0x1p-24f);
    uint32_t is_sub = 0u - (uint32_t)(em < 0x400), is_special = 0u - (uint32_t)(em >= 0x7c00); /* masks */
    uint32_t r = (normal & ~is_sub) | (sub & is_sub);
    return s | (r & ~is_special) | (special & is_special);
}

/* the i-th little-endian 16-bit value at p */
static inline uint32_t rd16(const unsigned char *p, size_t i)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
#else
    return (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
#endif
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) return u2f(s | 0x7f800000 | m << 13); /* inf, nan (payload kept) */
    if (e) return u2f(s | (e + 112) << 23 | m << 13);
    if (!m) return u2f(s);
    for (e = 113; !(m & 0x400); e--) m <<= 1; /* subnormal: normalise */
    return u2f(s | e << 23 | (m & 0x3ff) << 13);
}

uint16_t st_f32_to_f16(float f)
{
    uint32_t x = f2u(f), a = x & 0x7fffffff;
    uint16_t s = (uint16_t)(x >> 16 & 0x8000);
    if (a > 0x7f800000) return s | 0x7e00 | (a >> 13 & 0x3ff); /* nan stays quiet nan */
    if (a >= 0x477ff000) return s | 0x7c00; /* >= 65520 rounds to inf */
    if (a >= 0x38800000) {                  /* normal half: rebias, round to nearest even */
        uint32_t r = a - (112u << 23);
        return s | (uint16_t)((r + 0xfff + (r >> 13 & 1)) >> 13);
    }
    uint32_t e = a >> 23;
    if (e < 102) return s; /* below 2^-25: rounds to zero */
    /* subnormal half: value * 2^24 = m * 2^(e - 126), rounded to nearest even */
    uint32_t m = (a & 0x7fffff) | 0x800000, sh = 126 - e;
    uint32_t q = m >> sh, rem = m & ((1u << sh) - 1), half = 1u << (sh - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return s | (uint16_t)q;
}

float st_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t st_f32_to_bf16(float f)
{
    uint32_t x = f2u(f);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)(x >> 16 | 0x40); /* quiet nan */
    return (uint16_t)((x + 0x7fff + (x >> 16 & 1)) >> 16);
}

/* ---- strings ----------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static int utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], len;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (unsigned i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return (int)len;
}

static int utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), l = 1;
    for (size_t i = 0; i < n && l; i += l) l = (size_t)utf8_len(u + i, n - i);
    return l != 0;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    static const unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (size_t i = n - 1; i > 0; i--, cp >>= 6) o[i] = (char)(0x80 | (cp & 0x3f));
    o[0] = (char)(lead[n] | cp);
    return n;
}

/* ---- header parser --------------------------------------------------------------- */

typedef struct {
    const unsigned char *s; /* the whole file */
    size_t pos, end;        /* file offsets; the header is s[8 .. end) */
    char *err;
    size_t errlen;
    const char *tensor; /* tensor being parsed, for messages, or NULL */
    int tcap, mcap;
} parser;

static int perr(parser *p, size_t at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->tensor)
        return fail(p->err, p->errlen, "header at byte %zu, tensor '%s': %s", at, p->tensor, msg);
    return fail(p->err, p->errlen, "header at byte %zu: %s", at, msg);
}

static int expected(parser *p, const char *what)
{
    char got[32];
    unsigned c = p->pos < p->end ? p->s[p->pos] : 0;
    if (p->pos >= p->end) snprintf(got, sizeof got, "the end of the header");
    else if (c >= 0x20 && c < 0x7f) snprintf(got, sizeof got, "'%c'", (char)c);
    else snprintf(got, sizeof got, "byte 0x%02x", c);
    return perr(p, p->pos, "invalid JSON: expected %s, found %s", what, got);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->end && p->s[p->pos] && strchr(" \t\n\r", p->s[p->pos])) p->pos++;
}

/* Consumes c (and the whitespace after it), or fails saying what was expected. */
static int eat(parser *p, char c, const char *what)
{
    if (p->pos >= p->end || p->s[p->pos] != (unsigned char)c) return expected(p, what);
    p->pos++;
    skip_ws(p);
    return 0;
}

/* After a member of an object or array: ',' (returns 0, more follow) or the closing
 * bracket (returns 1); -1 on error. Eats trailing whitespace. */
static int next_member(parser *p, char close, const char *what)
{
    if (p->pos >= p->end || (p->s[p->pos] != ',' && p->s[p->pos] != (unsigned char)close))
        return expected(p, what);
    int r = p->s[p->pos++] == (unsigned char)close;
    skip_ws(p);
    return r;
}

static int hex4(const unsigned char *s, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d = c >= '0' && c <= '9' ? c - '0'
                             : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                                       : 16;
        if (d > 15) return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

/* Parses the JSON string at p->pos into a fresh NUL-terminated UTF-8 *out. */
static int parse_string(parser *p, char **out)
{
    static const char escs[] = "\"\\/bfnrt", map[] = "\"\\/\b\f\n\r\t";
    *out = NULL;
    if (p->pos >= p->end || p->s[p->pos] != '"') return expected(p, "'\"' (a string)");
    size_t open = p->pos++, close = p->pos, n = 0;
    while (close < p->end && p->s[close] != '"') close += p->s[close] == '\\' ? 2 : 1;
    if (close >= p->end) return perr(p, open, "invalid JSON: unterminated string");
    char *o = malloc(close - p->pos + 1); /* escapes only shrink */
    const char *bad = o ? NULL : "out of memory";
    while (!bad && p->pos < close) {
        const unsigned char *s = p->s + p->pos;
        const char *esc = s[0] == '\\' && s[1] ? strchr(escs, s[1]) : NULL;
        uint32_t cp, lo = 0;
        int l;
        if (s[0] < 0x20) bad = "invalid JSON: control character in a string";
        else if (s[0] != '\\') {
            if (!(l = utf8_len(s, close - p->pos))) bad = "invalid UTF-8 in a string";
            else memcpy(o + n, s, (size_t)l), n += (size_t)l, p->pos += (size_t)l;
        } else if (esc) o[n++] = map[esc - escs], p->pos += 2;
        /* hex4 stops at the first non-hex byte, so it never reads past the closing '"' */
        else if (s[1] != 'u' || hex4(s + 2, &cp)) bad = "invalid JSON: bad escape in a string";
        else if (cp >= 0xdc00 && cp <= 0xdfff) bad = "invalid JSON: unpaired UTF-16 surrogate";
        else if (cp >= 0xd800 && cp <= 0xdbff &&
                 (s[6] != '\\' || s[7] != 'u' || hex4(s + 8, &lo) || lo < 0xdc00 || lo > 0xdfff))
            bad = "invalid JSON: unpaired UTF-16 surrogate";
        else if (!cp) bad = "\\u0000 (NUL) in a string is not supported";
        else {
            int pair = cp >= 0xd800 && cp <= 0xdbff;
            if (pair) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            n += utf8_put(o + n, cp), p->pos += pair ? 12 : 6;
        }
    }
    if (bad) return free(o), perr(p, p->pos, "%s", bad);
    o[n] = 0;
    p->pos = close + 1;
    skip_ws(p);
    *out = o;
    return 0;
}

static int parse_uint(parser *p, uint64_t *v)
{
    size_t at = p->pos;
    const unsigned char *s = p->s;
    if (at < p->end && s[at] == '-') return perr(p, at, "negative number");
    if (at >= p->end || s[at] < '0' || s[at] > '9') return expected(p, "a non-negative integer");
    if (s[at] == '0' && at + 1 < p->end && s[at + 1] >= '0' && s[at + 1] <= '9')
        return perr(p, at, "invalid JSON: number with a leading zero");
    uint64_t x = 0;
    for (; p->pos < p->end && s[p->pos] >= '0' && s[p->pos] <= '9'; p->pos++)
        if ((x = x * 10 + (s[p->pos] - '0')) > MAX_INT)
            return perr(p, at, "integer larger than 2^53");
    if (p->pos < p->end && (s[p->pos] == '.' || s[p->pos] == 'e' || s[p->pos] == 'E'))
        return perr(p, at, "number is not an integer (has a fraction or exponent)");
    skip_ws(p);
    *v = x;
    return 0;
}

/* An array of at most max integers into v[], its length into *count. */
static int parse_uints(parser *p, uint64_t *v, int max, int *count, const char *what)
{
    *count = 0;
    if (eat(p, '[', "'[' (an array)")) return -1;
    if (p->pos < p->end && p->s[p->pos] == ']') return eat(p, ']', "']'");
    for (int r = 0; r == 0;) {
        if (*count == max) return perr(p, p->pos, "%s has more than %d entries", what, max);
        if (parse_uint(p, &v[(*count)++])) return -1;
        if ((r = next_member(p, ']', "',' or ']'")) < 0) return -1;
    }
    return 0;
}

/* Parses {"key": value, ...}: for each key, after its ':', member(p, key, offset of key,
 * ctx) parses the value and takes ownership of key. */
static int parse_object(parser *p, const char *what,
                        int (*member)(parser *, char *, size_t, void *), void *ctx)
{
    if (eat(p, '{', what)) return -1;
    if (p->pos < p->end && p->s[p->pos] == '}') return eat(p, '}', "'}'");
    for (int r = 0; r == 0;) {
        size_t at = p->pos;
        char *key;
        if (parse_string(p, &key)) return -1;
        if (eat(p, ':', "':'")) return free(key), -1;
        if (member(p, key, at, ctx)) return -1;
        if ((r = next_member(p, '}', "',' or '}'")) < 0) return -1;
    }
    return 0;
}

static const char *const fields[] = {"dtype", "shape", "data_offsets"};

typedef struct {
    st_tensor *t;
    int have[3]; /* which of fields[] were seen */
} tensor_ctx;

static int tensor_member(parser *p, char *key, size_t at, void *ctx)
{
    tensor_ctx *c = ctx;
    st_tensor *t = c->t;
    uint64_t v[8];
    int f = 0, n, k = 0;
    while (f < 3 && strcmp(key, fields[f])) f++;
    if (f == 3 || c->have[f])
        return perr(p, at, "%s field '%s'", f == 3 ? "unknown" : "duplicate", key), free(key), -1;
    free(key);
    c->have[f] = 1;
    at = p->pos;
    if (f == 0) {
        char *d;
        if (parse_string(p, &d)) return -1;
        while (k <= ST_U8 && strcmp(d, dtype_names[k])) k++;
        if (k > ST_U8)
            return perr(p, at, "dtype '%s' is not supported (F32, F16, BF16, F64, U8 are)", d),
                   free(d), -1;
        free(d);
        t->dtype = (st_dtype)k;
    } else if (f == 1) {
        if (parse_uints(p, v, 8, &n, "shape")) return -1;
        for (t->ndim = n; k < n; k++) t->shape[k] = (int64_t)v[k];
    } else {
        if (parse_uints(p, v, 2, &n, "data_offsets")) return -1;
        if (n != 2) return perr(p, at, "data_offsets must have 2 entries");
        t->begin = v[0], t->end = v[1];
    }
    return 0;
}

static int meta_member(parser *p, char *key, size_t at, void *ctx)
{
    st_file *f = ctx;
    char *v;
    if (st_meta_get(f, key))
        return perr(p, at, "duplicate __metadata__ key '%s'", key), free(key), -1;
    if (p->pos >= p->end || p->s[p->pos] != '"')
        return perr(p, p->pos, "__metadata__ value for '%s' is not a string", key), free(key), -1;
    if (parse_string(p, &v)) return free(key), -1;
    if (f->nmeta == p->mcap) {
        int cap = p->mcap ? 2 * p->mcap : 8;
        st_meta *m = realloc(f->meta, (size_t)cap * sizeof *m);
        if (!m) return free(key), free(v), perr(p, at, "out of memory");
        f->meta = m, p->mcap = cap;
    }
    f->meta[f->nmeta++] = (st_meta){key, v};
    return 0;
}

static int header_member(parser *p, char *key, size_t at, void *ctx)
{
    st_file *f = ctx;
    if (!strcmp(key, "__metadata__")) {
        free(key);
        if (f->meta) return perr(p, at, "duplicate __metadata__");
        if (!(f->meta = malloc(sizeof *f->meta))) return perr(p, at, "out of memory");
        p->mcap = 1;
        return parse_object(p, "'{' (the __metadata__ object)", meta_member, f);
    }
    if (f->ntensors == p->tcap) {
        int cap = p->tcap ? 2 * p->tcap : 64;
        st_tensor *t = realloc(f->tensors, (size_t)cap * sizeof *t);
        if (!t) return free(key), perr(p, at, "out of memory");
        f->tensors = t, p->tcap = cap;
    }
    tensor_ctx c = {&f->tensors[f->ntensors++], {0, 0, 0}};
    memset(c.t, 0, sizeof *c.t);
    c.t->name = key;
    p->tensor = key;
    at = p->pos;
    if (parse_object(p, "'{' (a tensor object)", tensor_member, &c)) return -1;
    for (int k = 0; k < 3; k++)
        if (!c.have[k]) return perr(p, at, "missing field '%s'", fields[k]);
    p->tensor = NULL;
    return 0;
}

/* ---- validation -------------------------------------------------------------------- */

static void fmt_shape(char *buf, size_t n, const int64_t *shape, int ndim)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int k = 0; k < ndim && len < n; k++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", k ? ", " : "", (long long)shape[k]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

static int by_key(const void *k, const void *t) { return strcmp(k, ((const st_tensor *)t)->name); }
static int by_name(const void *a, const void *b) { return by_key(((const st_tensor *)a)->name, b); }

static int by_begin(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

static int validate(st_file *f, char *err, size_t errlen)
{
    uint64_t data_size = f->size - f->data_start;
    for (int i = 0; i < f->ntensors; i++) {
        const st_tensor *t = &f->tensors[i];
        uint64_t numel = 1, es = dtype_sizes[t->dtype];
        int zero = 0, over = 0;
        char shape[200];
        fmt_shape(shape, sizeof shape, t->shape, t->ndim);
        for (int k = 0; k < t->ndim; k++) { /* numel <= 2^61, so numel * es cannot overflow */
            uint64_t d = (uint64_t)t->shape[k];
            if (!d) zero = 1;
            else if (numel > (UINT64_MAX / 8) / d) over = 1;
            else numel *= d;
        }
        if (zero) numel = 0;
        else if (over) return fail(err, errlen, "tensor '%s': shape %s overflows", t->name, shape);
        if (t->end < t->begin)
            return fail(err, errlen, "tensor '%s': data_offsets [%llu, %llu] end before begin",
                        t->name, (ull)t->begin, (ull)t->end);
        if (t->end > data_size)
            return fail(err, errlen,
                        "tensor '%s': data_offsets end %llu is beyond the data area (%llu bytes, "
                        "from byte %zu of the file)",
                        t->name, (ull)t->end, (ull)data_size, f->data_start);
        if (t->end - t->begin != numel * es)
            return fail(err, errlen,
                        "tensor '%s': data_offsets give %llu bytes, shape %s %s needs %llu",
                        t->name, (ull)(t->end - t->begin), shape, dtype_names[t->dtype],
                        (ull)(numel * es));
    }
    /* Sorted by begin, non-empty ranges are disjoint iff each starts at or after the end of
     * the non-empty one before it. */
    size_t nt = (size_t)f->ntensors;
    if (nt > 1) qsort(f->tensors, nt, sizeof *f->tensors, by_begin);
    const st_tensor *prev = NULL; /* (indexed: with no tensors, f->tensors is NULL, and NULL + 0 is undefined) */
    for (size_t i = 0; i < nt; i++) {
        const st_tensor *t = &f->tensors[i];
        if (t->end == t->begin) continue;
        if (prev && t->begin < prev->end)
            return fail(err, errlen,
                        "tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
                        t->name, (ull)t->begin, (ull)t->end, prev->name, (ull)prev->begin,
                        (ull)prev->end);
        prev = t;
    }
    if (nt > 1) qsort(f->tensors, nt, sizeof *f->tensors, by_name);
    for (size_t i = 1; i < nt; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name))
            return fail(err, errlen, "duplicate tensor name '%s'", f->tensors[i].name);
    return 0;
}

/* ---- reading ------------------------------------------------------------------------- */

static int parse_file(st_file *f, char *err, size_t errlen)
{
    if (f->size < 8)
        return fail(err, errlen,
                    "file is %zu bytes, shorter than the 8-byte header length at byte 0", f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->buf[i];
    if (hlen == 0) return fail(err, errlen, "header length 0 at byte 0: the header is empty");
    if (hlen > MAX_HEADER)
        return fail(err, errlen, "header length %llu at byte 0 exceeds the limit of %u bytes",
                    (ull)hlen, MAX_HEADER);
    if (hlen > f->size - 8)
        return fail(err, errlen, "header length %llu at byte 0 exceeds file size %zu", (ull)hlen,
                    f->size);
    f->data_start = 8 + (size_t)hlen;
    parser p = {f->buf, 8, f->data_start, err, errlen, NULL, 0, 0};
    skip_ws(&p);
    if (parse_object(&p, "'{' (the header object)", header_member, f)) return -1;
    if (p.pos != p.end) return perr(&p, p.pos, "unexpected bytes after the header object");
    return validate(f, err, errlen);
}

int st_open_mem(st_file *f, const void *data, size_t size, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    if (!data && size) return fail(err, errlen, "st_open_mem: data is NULL");
    if (!(f->buf = malloc(size ? size : 1))) return fail(err, errlen, "out of memory");
    if (size) memcpy(f->buf, data, size);
    f->size = size;
    if (parse_file(f, err, errlen)) return st_close(f), -1;
    return 0;
}

int st_open(st_file *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX)
        return fclose(fp), fail(err, errlen, "cannot read %s: not a regular file", path);
    size_t n = (size_t)st.st_size;
    errno = 0;
    f->buf = malloc(n ? n : 1);
    if (f->buf) mem_advise_huge(f->buf, n); /* a 19 MB model: 4,700 page faults fewer, 20-30 ms */
    int ok = f->buf && fread(f->buf, 1, n, fp) == n;
    int e = errno;
    fclose(fp);
    if (!ok)
        return st_close(f), fail(err, errlen, "cannot read %s: %s", path,
                                 e ? strerror(e) : "short read");
    f->size = n;
    if (parse_file(f, err, errlen)) return st_close(f), -1;
    return 0;
}

void st_close(st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->ntensors; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->nmeta; i++) free(f->meta[i].key), free(f->meta[i].value);
    free(f->tensors);
    free(f->meta);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    if (!f || !name || !f->ntensors) return NULL;
    return bsearch(name, f->tensors, (size_t)f->ntensors, sizeof *f->tensors, by_key);
}

const char *st_meta_get(const st_file *f, const char *key)
{
    for (int i = 0; f && key && i < f->nmeta; i++)
        if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
    return NULL;
}

size_t st_numel(const st_tensor *t)
{
    size_t n = 1;
    for (int k = 0; k < t->ndim && k < 8; k++) n *= (size_t)t->shape[k];
    return n;
}

static uint64_t rd_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int st_read_f32(const st_file *f, const st_tensor *t, float *dst, size_t n, char *err,
                size_t errlen)
{
    if (!f || !t || (n && !dst)) return fail(err, errlen, "st_read_f32: bad arguments");
    size_t numel = st_numel(t);
    if (n != numel)
        return fail(err, errlen, "tensor '%s': asked for %zu values, it has %zu", t->name, n,
                    numel);
    if ((unsigned)t->dtype > ST_U8 || t->ndim < 0 || t->ndim > 8)
        return fail(err, errlen, "tensor '%s': not a valid tensor", t->name);
    uint64_t es = dtype_sizes[t->dtype];
    if (t->end < t->begin || t->end > f->size - f->data_start ||
        (t->end - t->begin) / es != numel || (t->end - t->begin) % es)
        return fail(err, errlen, "tensor '%s': data_offsets do not fit the file", t->name);
    const unsigned char *p = f->buf + f->data_start + t->begin;
    /* one loop per dtype, each free of branches on the values, so that the compiler
     * vectorises it: a model's 9.4 M F16 values took 60 ms through a per-value switch and
     * st_f16_to_f32 (a quarter of `sung deblur`'s start), a few ms so */
    switch (t->dtype) {
    case ST_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (n) memcpy(dst, p, n * 4);
#else
        for (size_t i = 0; i < n; i++) dst[i] = u2f((uint32_t)rd_le(p + 4 * i, 4));
#endif
        break;
    case ST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = u2f(f16_bits(rd16(p, i)));
        break;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = u2f(rd16(p, i) << 16);
        break;
    case ST_F64:
        for (size_t i = 0; i < n; i++) dst[i] = (float)u2d(rd_le(p + 8 * i, 8));
        break;
    case ST_U8:
        for (size_t i = 0; i < n; i++) dst[i] = (float)p[i];
        break;
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------------------- */

typedef struct {
    const st_out_tensor *t;
    uint64_t numel;
} out_item;

static int by_out_name(const void *a, const void *b)
{
    return strcmp(((const out_item *)a)->t->name, ((const out_item *)b)->t->name);
}

/* s as a quoted JSON string (s is valid UTF-8, which passes through). */
static void json_str(FILE *h, const char *s)
{
    fputc('"', h);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(h, "\\%c", c);
        else if (c < 0x20) fprintf(h, "\\u%04x", c);
        else fputc(c, h);
    }
    fputc('"', h);
}

/* The header for the sorted items and meta, padded with spaces to a multiple of 8 bytes;
 * NULL when out of memory. */
static char *make_header(const out_item *it, int n, const st_meta *meta, int nmeta, size_t *len)
{
    char *s = NULL;
    FILE *h = open_memstream(&s, len);
    if (!h) return NULL;
    fputs(nmeta ? "{\"__metadata__\":{" : "{", h);
    for (int i = 0; i < nmeta; i++) {
        if (i) fputc(',', h);
        json_str(h, meta[i].key), fputc(':', h), json_str(h, meta[i].value);
    }
    if (nmeta) fputc('}', h);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const st_out_tensor *t = it[i].t;
        uint64_t bytes = it[i].numel * dtype_sizes[t->dtype];
        if (i || nmeta) fputc(',', h);
        json_str(h, t->name);
        fprintf(h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_names[t->dtype]);
        for (int k = 0; k < t->ndim; k++)
            fprintf(h, "%s%lld", k ? "," : "", (long long)t->shape[k]);
        fprintf(h, "],\"data_offsets\":[%llu,%llu]}", (ull)off, (ull)(off + bytes));
        off += bytes;
    }
    fputc('}', h);
    for (long pos; (pos = ftell(h)) >= 0 && pos % 8;) fputc(' ', h);
    int bad = ferror(h);
    if (fclose(h) || bad) return free(s), NULL;
    return s;
}

/* Writes length, header and data to the new file tmp and fsyncs it; removes it on error.
 * Messages name path, the file being written: a missing folder or a full disk is its
 * problem, not the temporary name's. */
static int write_file(const char *tmp, const char *path, const char *hdr, size_t hlen, const out_item *it,
                      int n, char *err, size_t errlen)
{
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return fail(err, errlen, "cannot create %s: %s", path, strerror(errno));
    unsigned char len8[8], blk[4096 * 4];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)hlen >> 8 * k);
    errno = 0;
    int bad = fwrite(len8, 1, 8, fp) != 8 || fwrite(hdr, 1, hlen, fp) != hlen;
    for (int i = 0; i < n && !bad; i++) {
        const st_out_tensor *t = it[i].t;
        unsigned es = dtype_sizes[t->dtype];
        for (uint64_t j = 0; j < it[i].numel && !bad;) {
            size_t m = it[i].numel - j < 4096 ? (size_t)(it[i].numel - j) : 4096;
            for (size_t q = 0; q < m; q++) {
                float v = t->data[j + q];
                uint32_t u = t->dtype == ST_F32   ? f2u(v)
                             : t->dtype == ST_F16 ? st_f32_to_f16(v)
                                                  : st_f32_to_bf16(v);
                for (unsigned k = 0; k < es; k++) blk[q * es + k] = (unsigned char)(u >> 8 * k);
            }
            bad = fwrite(blk, es, m, fp) != m;
            j += m;
        }
    }
    bad = bad || fflush(fp) || fsync(fileno(fp));
    int e = errno;
    if (fclose(fp) || bad) {
        remove(tmp);
        return fail(err, errlen, "error writing %s: %s", path, strerror(e ? e : errno));
    }
    return 0;
}

/* Checks everything st_write is given; fills it[] sorted by name. */
static int check_all(const st_out_tensor *ts, int n, const st_meta *meta, int nmeta, out_item *it,
                     char *err, size_t errlen)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        const st_out_tensor *t = &ts[i];
        uint64_t numel = 1;
        if (!t->name || !utf8_valid(t->name) || !strcmp(t->name, "__metadata__"))
            return fail(err, errlen, "tensor %d: name is NULL, not UTF-8 or '__metadata__'", i);
        if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
            return fail(err, errlen, "tensor '%s': dtype %s cannot be written (F32, F16, BF16 can)",
                        t->name, st_dtype_name(t->dtype));
        if (t->ndim < 0 || t->ndim > 8)
            return fail(err, errlen, "tensor '%s': ndim %d is not in 0..8", t->name, t->ndim);
        for (int k = 0; k < t->ndim; k++) {
            uint64_t d = (uint64_t)t->shape[k];
            if (t->shape[k] < 0 || d > MAX_INT || (d && numel > MAX_INT / d))
                return fail(err, errlen, "tensor '%s': dimension %d (%lld) is negative or huge",
                            t->name, k, (long long)t->shape[k]);
            numel *= d;
        }
        if (numel && !t->data) return fail(err, errlen, "tensor '%s': data is NULL", t->name);
        if ((total += numel * dtype_sizes[t->dtype]) > MAX_INT)
            return fail(err, errlen, "tensor '%s': total data exceeds 2^53 bytes", t->name);
        it[i] = (out_item){t, numel};
    }
    if (n > 1) qsort(it, (size_t)n, sizeof *it, by_out_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(it[i - 1].t->name, it[i].t->name))
            return fail(err, errlen, "tensor '%s': name given twice", it[i].t->name);
    for (int i = 0; i < nmeta; i++) {
        const char *k = meta[i].key, *v = meta[i].value;
        if (!k || !v || !utf8_valid(k) || !utf8_valid(v))
            return fail(err, errlen, "metadata %d: key or value is NULL or not valid UTF-8", i);
        for (int j = 0; j < i; j++)
            if (!strcmp(meta[j].key, k))
                return fail(err, errlen, "metadata key '%s' given twice", k);
    }
    return 0;
}

int st_write(const char *path, const st_out_tensor *ts, int n, const st_meta *meta, int nmeta,
             char *err, size_t errlen)
{
    if (!path || n < 0 || nmeta < 0 || (n && !ts) || (nmeta && !meta))
        return fail(err, errlen, "st_write: bad arguments");
    out_item *it = malloc(((size_t)n + 1) * sizeof *it);
    size_t hlen = 0, tlen = strlen(path) + 32;
    char *hdr = NULL, *tmp = NULL;
    int rc = it ? check_all(ts, n, meta, nmeta, it, err, errlen) : fail(err, errlen, "no memory");
    if (!rc && (!(hdr = make_header(it, n, meta, nmeta, &hlen)) || !(tmp = malloc(tlen))))
        rc = fail(err, errlen, "out of memory");
    else if (!rc && hlen > MAX_HEADER)
        rc = fail(err, errlen, "header of %zu bytes exceeds the limit of %u", hlen, MAX_HEADER);
    if (!rc) {
        atomic_sweep(path); /* what a killed writer of path left */
        snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
        rc = write_file(tmp, path, hdr, hlen, it, n, err, errlen);
        if (!rc && rename(tmp, path)) {
            rc = fail(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
            remove(tmp);
        }
    }
    free(it), free(hdr), free(tmp);
    return rc;
}
