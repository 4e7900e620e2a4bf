/* Tests for src/safetensors.c: F16/BF16 rounding (exhaustively at every rounding
 * boundary), write/read round trips, a hand-written header, every rejection the reader
 * promises, atomic st_write, and a fuzz loop over corrupted files (run it under ASan). */
#include "safetensors.h"
#include "testutil.h"

#include <float.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[512];
static char dir[] = "/tmp/test_st.XXXXXX";

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Bit-identical, except that any nan matches any nan. */
static int same(float want, float got)
{
    return isnan(want) ? isnan(got) != 0 : fbits(want) == fbits(got);
}

/* A file image: u64 length, json, then datalen data bytes (byte i is i & 0xff). */
static unsigned char *mkfile(const char *json, size_t datalen, size_t *size)
{
    size_t hl = strlen(json);
    unsigned char *b = malloc(8 + hl + datalen);
    *size = 8 + hl + datalen;
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)hl >> 8 * k);
    memcpy(b + 8, json, hl);
    for (size_t i = 0; i < datalen; i++) b[8 + hl + i] = (unsigned char)i;
    return b;
}

static int open_json(st_file *f, const char *json, size_t datalen)
{
    size_t n;
    unsigned char *b = mkfile(json, datalen, &n);
    err[0] = 0;
    int rc = st_open_mem(f, b, n, err, sizeof err);
    free(b);
    return rc;
}

/* Opening must fail, leave f zeroed, and say something containing needle. */
static void reject_mem(int line, const void *data, size_t n, const char *needle)
{
    st_file f;
    err[0] = 0;
    int rc = st_open_mem(&f, data, n, err, sizeof err);
    CHECK(rc != 0, "line %d: accepted", line);
    CHECK(strstr(err, needle) != NULL, "line %d: error \"%s\" lacks \"%s\"", line, err, needle);
    CHECK(!f.buf && !f.tensors && !f.meta && !f.ntensors, "line %d: st_file not zeroed", line);
    st_close(&f);
}

static void reject_json(int line, const char *json, size_t datalen, const char *needle)
{
    size_t n;
    unsigned char *b = mkfile(json, datalen, &n);
    reject_mem(line, b, n, needle);
    free(b);
}
#define REJECT(json, datalen, needle) reject_json(__LINE__, json, datalen, needle)

static void accept_json(int line, const char *json, size_t datalen, int ntensors)
{
    st_file f;
    int rc = open_json(&f, json, datalen);
    CHECK(rc == 0, "line %d: rejected: %s", line, err);
    CHECK(f.ntensors == ntensors, "line %d: %d tensors, want %d", line, f.ntensors, ntensors);
    st_close(&f);
}
#define ACCEPT(json, datalen, ntensors) accept_json(__LINE__, json, datalen, ntensors)

static void test_f16(void)
{
    static const struct { float f; uint16_t h; } to16[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff}, {65519.99f, 0x7bff},
        {65520.0f, 0x7c00}, {1e10f, 0x7c00}, {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
        {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {0x1.8p-25f, 0x0001}, {0x1.8p-24f, 0x0002},
        {0x1.4p-23f, 0x0002}, {1023.5f * 0x1p-24f, 0x0400}, {0x1p-14f, 0x0400},
        {0.1f, 0x2e66}, {-0.0f, 0x8000}, {1e-10f, 0x0000}, {0x1.002p0f, 0x3c00},
        {0x1.006p0f, 0x3c02}, {0.333333f, 0x3555}, {FLT_MIN / 4, 0x0000}};
    for (size_t i = 0; i < sizeof to16 / sizeof *to16; i++)
        CHECK(st_f32_to_f16(to16[i].f) == to16[i].h, "f32_to_f16(%a) = 0x%04x, want 0x%04x",
              to16[i].f, st_f32_to_f16(to16[i].f), to16[i].h);
    static const struct { uint16_t h; float f; } to32[] = {
        {0x0001, 0x1p-24f}, {0x03ff, 1023 * 0x1p-24f}, {0x0400, 0x1p-14f}, {0x7bff, 65504.0f},
        {0x3c00, 1.0f}, {0xc000, -2.0f}, {0x8000, -0.0f}, {0x7c00, INFINITY},
        {0xfc00, -INFINITY}, {0x3555, 0.333251953125f}, {0x8001, -0x1p-24f}};
    for (size_t i = 0; i < sizeof to32 / sizeof *to32; i++)
        CHECK(fbits(st_f16_to_f32(to32[i].h)) == fbits(to32[i].f), "f16_to_f32(0x%04x) = %a",
              to32[i].h, st_f16_to_f32(to32[i].h));
    CHECK(isnan(st_f16_to_f32(0x7e00)) && isnan(st_f16_to_f32(0x7c01)) &&
              isnan(st_f16_to_f32(0xfd00)),
          "f16 nan does not decode to nan");
    uint16_t hn = st_f32_to_f16(NAN);
    float tiny_nan;
    uint32_t tn = 0x7f800001;
    memcpy(&tiny_nan, &tn, 4);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) && (st_f32_to_f16(tiny_nan) & 0x3ff),
          "f32_to_f16(nan) = 0x%04x, (nan 0x7f800001) = 0x%04x", hn, st_f32_to_f16(tiny_nan));

    /* Every f16 survives f16 -> f32 -> f16; at every midpoint between neighbours the
     * rounding goes down just below, up just above, and to the even one exactly on it. */
    int bad_rt = 0, bad_mid = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = st_f16_to_f32((uint16_t)h);
        int nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan) bad_rt += !isnan(f) || !(st_f32_to_f16(f) & 0x3ff);
        else bad_rt += st_f32_to_f16(f) != h;
    }
    for (uint16_t h = 0; h < 0x7c00; h++) {
        double lo = st_f16_to_f32(h), hi = h == 0x7bff ? 65536.0 : st_f16_to_f32(h + 1);
        float m = (float)((lo + hi) / 2);
        uint16_t even = (h & 1) ? h + 1 : h;
        for (int s = 0; s < 2; s++) {
            float sg = s ? -1.0f : 1.0f;
            uint16_t sb = s ? 0x8000 : 0;
            bad_mid += st_f32_to_f16(sg * nextafterf(m, 0)) != (sb | h);
            bad_mid += st_f32_to_f16(sg * nextafterf(m, INFINITY)) != (sb | (h + 1));
            bad_mid += st_f32_to_f16(sg * m) != (sb | even);
        }
    }
    CHECK(bad_rt == 0, "%d f16 values do not survive f16 -> f32 -> f16", bad_rt);
    CHECK(bad_mid == 0, "%d wrong f32 -> f16 roundings at midpoints", bad_mid);
}

static void test_bf16(void)
{
    static const struct { float f; uint16_t h; } tab[] = {
        {1.0f, 0x3f80}, {-2.0f, 0xc000}, {1.0f + 0x1p-8f, 0x3f80}, {1.0f + 3 * 0x1p-8f, 0x3f82},
        {1.0f + 0x1p-7f, 0x3f81}, {FLT_MAX, 0x7f80}, {-FLT_MAX, 0xff80}, {INFINITY, 0x7f80},
        {-0.0f, 0x8000}, {0x1p-133f, 0x0001}, {3.0f, 0x4040}};
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        CHECK(st_f32_to_bf16(tab[i].f) == tab[i].h, "f32_to_bf16(%a) = 0x%04x, want 0x%04x",
              tab[i].f, st_f32_to_bf16(tab[i].f), tab[i].h);
    float tiny_nan;
    uint32_t tn = 0x7f800001;
    memcpy(&tiny_nan, &tn, 4);
    uint16_t h = st_f32_to_bf16(tiny_nan);
    CHECK((h & 0x7f80) == 0x7f80 && (h & 0x7f), "f32_to_bf16(nan 0x7f800001) = 0x%04x", h);
    CHECK(fbits(st_bf16_to_f32(0x3f81)) == fbits(1.0f + 0x1p-7f) && isnan(st_bf16_to_f32(0x7fc0)),
          "bf16_to_f32 wrong");
    int bad = 0;
    for (uint32_t b = 0; b < 0x7f7f; b++) {
        double lo = st_bf16_to_f32((uint16_t)b), hi = st_bf16_to_f32((uint16_t)(b + 1));
        float m = (float)((lo + hi) / 2);
        uint16_t even = (b & 1) ? (uint16_t)(b + 1) : (uint16_t)b;
        bad += st_f32_to_bf16(nextafterf(m, 0)) != b;
        bad += st_f32_to_bf16(nextafterf(m, INFINITY)) != b + 1;
        bad += st_f32_to_bf16(m) != even || st_f32_to_bf16(-m) != (0x8000 | even);
        bad += st_f32_to_bf16((float)lo) != b;
    }
    CHECK(bad == 0, "%d wrong f32 -> bf16 roundings", bad);
}

static void test_roundtrip(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    static const float vals[12] = {0.0f,     -0.0f,   1.0f,    -1.5f,   0x1p-149f, 0x1.fffffcp-127f,
                                   FLT_MIN,  FLT_MAX, INFINITY, -INFINITY, NAN,    3.14159265f};
    const st_out_tensor ts[] = {{"b.f32", ST_F32, 2, {3, 4}, vals},
                                {"a.f16", ST_F16, 1, {12}, vals},
                                {"c.bf16", ST_BF16, 3, {2, 2, 3}, vals},
                                {"empty", ST_F32, 2, {0, 5}, NULL},
                                {"scalar", ST_F32, 0, {0}, vals + 3}};
    const st_meta meta[] = {{"variant", "sung"},
                            {"width", "32"},
                            {"q\"b\\s\nl", "\xc3\xa9 \xf0\x9f\x98\x80 \x01 ctl"}};
    CHECK(st_write(path, ts, 5, meta, 3, err, sizeof err) == 0, "st_write: %s", err);
    st_file f;
    CHECK(st_open(&f, path, err, sizeof err) == 0, "st_open: %s", err);
    CHECK(f.ntensors == 5 && f.nmeta == 3, "%d tensors, %d meta", f.ntensors, f.nmeta);
    for (int i = 1; i < f.ntensors; i++)
        CHECK(strcmp(f.tensors[i - 1].name, f.tensors[i].name) < 0, "tensors not sorted");
    for (int i = 0; i < 5; i++) {
        const st_tensor *t = st_find(&f, ts[i].name);
        CHECK(t != NULL, "tensor %s missing", ts[i].name);
        if (!t) continue;
        int shape_ok = t->ndim == ts[i].ndim && t->dtype == ts[i].dtype;
        for (int k = 0; shape_ok && k < t->ndim; k++) shape_ok = t->shape[k] == ts[i].shape[k];
        CHECK(shape_ok, "tensor %s: dtype/shape differ", ts[i].name);
        size_t n = st_numel(t);
        CHECK(n == (i == 3 ? 0u : i == 4 ? 1u : 12u), "tensor %s: numel %zu", ts[i].name, n);
        float out[12];
        CHECK(st_read_f32(&f, t, out, n, err, sizeof err) == 0, "read %s: %s", ts[i].name, err);
        for (size_t j = 0; j < n && j < 12; j++) {
            float v = ts[i].data[j];
            float want = t->dtype == ST_F16    ? st_f16_to_f32(st_f32_to_f16(v))
                         : t->dtype == ST_BF16 ? st_bf16_to_f32(st_f32_to_bf16(v))
                                               : v;
            CHECK(same(want, out[j]), "tensor %s[%zu]: got %a want %a", ts[i].name, j, out[j],
                  want);
        }
        if (i == 0) {
            err[0] = 0;
            CHECK(st_read_f32(&f, t, out, 11, err, sizeof err) != 0 && strstr(err, "'b.f32'"),
                  "st_read_f32 with the wrong n: \"%s\"", err);
        }
    }
    CHECK(f.tensors[0].begin == 0, "first tensor (by name) does not start the data area");
    for (int i = 1; i < f.ntensors; i++)
        CHECK(f.tensors[i].begin == f.tensors[i - 1].end, "data not contiguous in name order");
    CHECK(f.tensors[4].end == f.size - f.data_start, "data area has a tail");
    for (int i = 0; i < 3; i++) {
        const char *v = st_meta_get(&f, meta[i].key);
        CHECK(v && !strcmp(v, meta[i].value), "metadata '%s' = '%s'", meta[i].key, v ? v : "NULL");
    }
    CHECK(!st_meta_get(&f, "nope") && !st_find(&f, "nope") && !st_find(&f, "a.f1"),
          "lookup of an absent name succeeds");
    CHECK(f.data_start % 8 == 0, "header length %zu is not a multiple of 8", f.data_start - 8);
    const char *h = (const char *)f.buf + 8;
    size_t hl = f.data_start - 8;
    CHECK(!strncmp(h, "{\"__metadata__\":{\"variant\":\"sung\",", 34), "header starts %.40s", h);
    while (hl && h[hl - 1] == ' ') hl--;
    CHECK(hl && h[hl - 1] == '}' && f.data_start - 8 - hl < 8, "header padding wrong");
    const char *pa = strstr(h, "\"a.f16\""), *pb = strstr(h, "\"b.f32\""),
               *pc = strstr(h, "\"c.bf16\""), *ps = strstr(h, "\"scalar\"");
    CHECK(pa && pb && pc && ps && pa < pb && pb < pc && pc < ps, "header keys not sorted");
    st_close(&f);
    st_close(&f);
    st_close(NULL);
    /* padding: whatever the header's own length, the data starts at a multiple of 8 */
    char pad[64];
    snprintf(pad, sizeof pad, "%s/pad.safetensors", dir);
    for (int k = 1; k <= 8; k++) {
        char name[16] = "abcdefgh";
        name[k] = 0;
        st_out_tensor one = {name, ST_F32, 1, {1}, vals + 2};
        memset(&f, 0, sizeof f);
        int ok = !st_write(pad, &one, 1, NULL, 0, err, sizeof err) &&
                 !st_open(&f, pad, err, sizeof err);
        CHECK(ok && f.data_start % 8 == 0 && f.size == f.data_start + 4,
              "name length %d: data at byte %zu of %zu (%s)", k, f.data_start, f.size, err);
        st_close(&f);
    }
    remove(pad);
    CHECK(st_open(&f, "/nonexistent/x.safetensors", err, sizeof err) != 0 &&
              strstr(err, "/nonexistent/x.safetensors"),
          "opening a missing file: \"%s\"", err);
}

static void test_read_types(void)
{
    /* F64 1.5 and -0.25, U8 0 7 255, F16 1.0 and 2^-24, BF16 -2: little-endian bytes */
    const char *json = "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                       "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[16,19]},"
                       "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[19,23]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[23,25]}}";
    static const unsigned char data[25] = {0, 0, 0, 0, 0, 0,    0xf8, 0x3f, 0, 0, 0, 0, 0,
                                           0, 0xd0, 0xbf, 0, 7, 255, 0, 0x3c, 1, 0, 0, 0xc0};
    size_t n;
    unsigned char *b = mkfile(json, 25, &n);
    memcpy(b + n - 25, data, 25);
    st_file f;
    CHECK(st_open_mem(&f, b, n, err, sizeof err) == 0, "open: %s", err);
    free(b);
    float out[3] = {0};
    const st_tensor *t;
    CHECK((t = st_find(&f, "d")) && !st_read_f32(&f, t, out, 2, err, sizeof err) &&
              out[0] == 1.5f && out[1] == -0.25f,
          "F64 read gives %g %g", out[0], out[1]);
    CHECK((t = st_find(&f, "u")) && !st_read_f32(&f, t, out, 3, err, sizeof err) &&
              out[0] == 0 && out[1] == 7 && out[2] == 255,
          "U8 read gives %g %g %g", out[0], out[1], out[2]);
    CHECK((t = st_find(&f, "h")) && !st_read_f32(&f, t, out, 2, err, sizeof err) &&
              out[0] == 1.0f && out[1] == 0x1p-24f,
          "F16 read gives %a %a", out[0], out[1]);
    CHECK((t = st_find(&f, "b")) && !st_read_f32(&f, t, out, 1, err, sizeof err) && out[0] == -2.0f,
          "BF16 read gives %g", out[0]);
    st_close(&f);
}

/* st_read_f32 converts each dtype in a loop of its own: every F16 and BF16 bit pattern
 * (NaN payloads, subnormals, signed zeros) read as a tensor must give the scalar
 * conversions' bits, and F32 its own bits, at every offset of a vector loop's tail */
static void test_read_every_value(void)
{
    enum { N = 65536, NF = 37 };
    char json[512];
    snprintf(json, sizeof json,
             "{\"h\":{\"dtype\":\"F16\",\"shape\":[%d],\"data_offsets\":[0,%d]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[%d],\"data_offsets\":[%d,%d]},"
             "\"f\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%d,%d]}}",
             N, 2 * N, N, 2 * N, 4 * N, NF, 4 * N, 4 * N + 4 * NF);
    size_t n, data = 4 * N + 4 * NF;
    unsigned char *b = mkfile(json, data, &n), *d = b + n - data;
    for (uint32_t h = 0; h < N; h++) {
        uint32_t bh = h ^ 0x5a5a; /* BF16 in another order than F16 */
        d[2 * h] = (unsigned char)h, d[2 * h + 1] = (unsigned char)(h >> 8);
        d[2 * N + 2 * h] = (unsigned char)bh, d[2 * N + 2 * h + 1] = (unsigned char)(bh >> 8);
    }
    uint32_t f32[NF];
    for (int i = 0; i < NF; i++) f32[i] = 0x7f800001u * (uint32_t)(i + 1) ^ (uint32_t)i << 28; /* NaNs and others */
    f32[0] = 0x80000000u, f32[1] = 0x7fc00000u, f32[2] = 0x00000001u, f32[3] = 0xff800000u;
    for (int i = 0; i < NF; i++)
        for (int k = 0; k < 4; k++) d[4 * N + 4 * i + k] = (unsigned char)(f32[i] >> 8 * k);
    st_file f;
    CHECK(st_open_mem(&f, b, n, err, sizeof err) == 0, "open: %s", err);
    free(b);
    float *out = malloc(N * sizeof *out);
    const st_tensor *t;
    int bad = 0;
    CHECK((t = st_find(&f, "h")) && !st_read_f32(&f, t, out, N, err, sizeof err), "F16 read: %s", err);
    for (uint32_t h = 0; h < N; h++) bad += fbits(out[h]) != fbits(st_f16_to_f32((uint16_t)h));
    CHECK(bad == 0, "%d of the 65536 F16 values read otherwise than st_f16_to_f32 converts them", bad);
    bad = 0;
    CHECK((t = st_find(&f, "b")) && !st_read_f32(&f, t, out, N, err, sizeof err), "BF16 read: %s", err);
    for (uint32_t h = 0; h < N; h++) bad += fbits(out[h]) != fbits(st_bf16_to_f32((uint16_t)(h ^ 0x5a5a)));
    CHECK(bad == 0, "%d of the 65536 BF16 values read otherwise than st_bf16_to_f32 converts them", bad);
    bad = 0;
    CHECK((t = st_find(&f, "f")) && !st_read_f32(&f, t, out, NF, err, sizeof err), "F32 read: %s", err);
    for (int i = 0; i < NF; i++) bad += fbits(out[i]) != f32[i];
    CHECK(bad == 0, "%d of %d F32 values read with other bits", bad, NF);
    free(out);
    st_close(&f);
}

static void test_handwritten(void)
{
    const char *json =
        " \t\r\n{ \"__metadata__\" : { \"k\\\"q\" : "
        "\"line\\nnext \\u00e9 \\ud83d\\ude00 \\uFFFD \\/ \\\\ "
        "\\b\\f\\r\\t\" , \"empty\":\"\"} ,\n\t\"a\\u0062c\" :\n{ \"shape\" : [ 2 ] , \"dtype\" "
        ": \"F32\" , \"data_offsets\" : [ 0 , 8 ] } , \"x\\/y \\u00E9\xc3\xa9\": {\"data_offsets"
        "\":[8,8],\"shape\":[0, 7],\"dtype\":\"BF16\"}, \"s\":{\"dtype\":\"U8\",\"shape\":[],"
        "\"data_offsets\":[8,9]} }   \t  ";
    st_file f;
    int rc = open_json(&f, json, 20); /* with 11 trailing data bytes */
    CHECK(rc == 0, "hand-written header rejected: %s", err);
    const char *v = st_meta_get(&f, "k\"q");
    CHECK(v && !strcmp(v, "line\nnext \xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd / \\ \b\f\r\t"),
          "escaped metadata value is \"%s\"", v ? v : "NULL");
    CHECK(st_meta_get(&f, "empty") && !*st_meta_get(&f, "empty"), "empty metadata value lost");
    const st_tensor *t = st_find(&f, "abc");
    CHECK(t && t->dtype == ST_F32 && t->ndim == 1 && t->shape[0] == 2 && t->end == 8,
          "tensor abc wrong");
    t = st_find(&f, "x/y \xc3\xa9\xc3\xa9");
    CHECK(t && t->dtype == ST_BF16 && t->ndim == 2 && st_numel(t) == 0, "tensor 'x/y éé' wrong");
    t = st_find(&f, "s");
    float one = -1;
    CHECK(t && t->ndim == 0 && st_numel(t) == 1 && !st_read_f32(&f, t, &one, 1, err, sizeof err) &&
              one == 8.0f,
          "scalar U8 reads %g", one);
    st_close(&f);
}

/* One tensor entry of a header, as a string literal. */
#define T1(name, dtype, shape, offs)                                                            \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offs "}"

static void test_reject(void)
{
    unsigned char raw[32] = {0};
    reject_mem(__LINE__, raw, 5, "byte");                      /* shorter than 8 bytes */
    reject_mem(__LINE__, raw, 20, "header length 0 at byte 0"); /* header length 0 */
    raw[0] = 0x00, raw[1] = 0xc2, raw[2] = 0xeb, raw[3] = 0x0b; /* 200,000,000 */
    reject_mem(__LINE__, raw, 32, "byte 0");
    memset(raw, 0, 8), raw[0] = 50;
    reject_mem(__LINE__, raw, 18, "header length 50 at byte 0 exceeds file size 18");
    raw[0] = 0xff, raw[7] = 0xff;
    reject_mem(__LINE__, raw, 32, "byte 0");

    /* invalid JSON, with the file offset of the problem */
    REJECT("[]", 0, "at byte 8: invalid JSON: expected '{'");
    REJECT("{", 0, "at byte 9");
    REJECT("  {\"a\"}", 0, "at byte 14: invalid JSON: expected ':'");
    REJECT("{\"a\":}", 0, "at byte 13");
    REJECT("{" T1("a", "F32", "[1]", "[0,4]") ",}", 4, "byte");
    REJECT("{} x", 4, "at byte 11: unexpected");
    memcpy(raw, "\3\0\0\0\0\0\0\0{}\0", 11);
    reject_mem(__LINE__, raw, 11, "at byte 10: unexpected"); /* NUL after the object */
    memcpy(raw, "\7\0\0\0\0\0\0\0{\"a\0\":{", 15);
    reject_mem(__LINE__, raw, 15, "at byte 11: invalid JSON: control character");
    REJECT("{\"a\":{\"dtype\":\"F32\" \"shape\":[1],\"data_offsets\":[0,4]}}", 4, "byte 28");
    REJECT("{\"abc", 0, "unterminated");
    REJECT("{\"a\\x\":{}}", 0, "escape");
    REJECT("{\"a\\u12\":{}}", 0, "escape");
    REJECT("{\"\\ud800\":{}}", 0, "surrogate");
    REJECT("{\"\\ud800\\u0041\":{}}", 0, "surrogate");
    REJECT("{\"\\udc00\":{}}", 0, "surrogate");
    REJECT("{\"\\u0000\":{}}", 0, "NUL");
    REJECT("{\"\xff\":{}}", 0, "UTF-8");
    REJECT("{\"\xc0\x80\":{}}", 0, "UTF-8");
    REJECT("{\"\xed\xa0\x80\":{}}", 0, "UTF-8");
    REJECT("{\"\xe2\x82\":{}}", 0, "UTF-8");
    REJECT("{\"a\nb\":{}}", 0, "control");
    REJECT("{" T1("a", "F32", "[01]", "[0,4]") "}", 4, "leading zero");
    REJECT("{" T1("a", "F32", "[1.0]", "[0,4]") "}", 4, "fraction");
    REJECT("{" T1("a", "F32", "[1e0]", "[0,4]") "}", 4, "exponent");
    REJECT("{" T1("a", "F32", "[-1]", "[0,4]") "}", 4, "at byte 37, tensor 'a': negative number");
    REJECT("{" T1("a", "F32", "[9007199254740993]", "[0,4]") "}", 4, "2^53");
    REJECT("{" T1("a", "F32", "[99999999999999999999999]", "[0,4]") "}", 4, "2^53");
    REJECT("{" T1("a", "F32", "[1]", "[0]") "}", 4, "'a': data_offsets must have 2 entries");
    REJECT("{" T1("a", "F32", "[1]", "[0,4,8]") "}", 8, "'a'");
    REJECT("{" T1("a", "F32", "\"x\"", "[0,4]") "}", 4, "'a'");
    REJECT("{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'a'");
    REJECT("{\"a\":[]}", 4, "byte 13");
    REJECT("{\"__metadata__\":[]}", 0, "byte");
    REJECT("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate");
    REJECT("{\"__metadata__\":{\"k\":1}}", 0, "'k'");
    REJECT("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "byte 29");
    REJECT("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "'k'");

    /* semantic errors name the tensor */
    REJECT("{" T1("w", "F32", "[1]", "[0,4]") "," T1("w", "F32", "[1]", "[4,8]") "}", 8,
           "duplicate tensor name 'w'");
    REJECT("{" T1("\\u00e9", "F32", "[1]", "[0,4]") "," T1("\xc3\xa9", "F32", "[1]", "[4,8]") "}",
           8, "duplicate tensor name '\xc3\xa9'");
    REJECT("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
           "tensor 'w': missing field 'dtype'");
    REJECT("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "'w': missing field 'shape'");
    REJECT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "'w': missing field 'data_offsets'");
    REJECT("{\"w\":{}}", 4, "'w': missing field");
    REJECT("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
           "'w': duplicate field 'dtype'");
    REJECT("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4,
           "'w': unknown field 'extra'");
    REJECT("{" T1("w", "I64", "[1]", "[0,8]") "}", 8, "'w': dtype 'I64' is not supported");
    REJECT("{" T1("w", "f32", "[1]", "[0,4]") "}", 4, "'w': dtype 'f32'");
    REJECT("{" T1("w", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, "'w': shape has more than 8");
    REJECT("{" T1("w", "F32", "[4294967296,4294967296,2]", "[0,0]") "}", 0, "'w': shape");
    REJECT("{" T1("w", "F64", "[4294967296,1073741824]", "[0,0]") "}", 0, "'w': shape");
    REJECT("{" T1("w", "F32", "[1]", "[8,4]") "}", 8, "'w': data_offsets [8, 4] end before");
    REJECT("{" T1("w", "F32", "[1]", "[4,8]") "}", 7, "'w': data_offsets end 8 is beyond");
    REJECT("{" T1("x", "F32", "[2,3]", "[0,40]") "}", 40,
           "tensor 'x': data_offsets give 40 bytes, shape [2, 3] F32 needs 24");
    REJECT("{" T1("x", "F32", "[0]", "[0,4]") "}", 4, "'x': data_offsets give 4 bytes");
    REJECT("{" T1("a", "F32", "[2]", "[0,8]") "," T1("b", "F32", "[2]", "[4,12]") "}", 12,
           "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
    REJECT("{" T1("a", "U8", "[4]", "[2,6]") "," T1("b", "U8", "[8]", "[0,8]") "}", 12,
           "overlap");

    /* what the format allows */
    ACCEPT("{}", 0, 0);
    ACCEPT("{}       ", 3, 0);
    ACCEPT("{\"__metadata__\":{}}", 0, 0);
    ACCEPT("{\"__metadata__\":{\"anything\":\"goes\",\"\":\"\"}}", 0, 0);
    ACCEPT("{" T1("w", "F32", "[1]", "[0,4]") "}", 100, 1);                    /* trailing bytes */
    /* a hole between tensors */
    ACCEPT("{" T1("a", "F32", "[1]", "[8,12]") "," T1("b", "U8", "[2]", "[0,2]") "}", 12, 2);
    ACCEPT("{" T1("a", "F32", "[1]", "[0,4]") "," T1("z", "F32", "[0,3]", "[0,0]") ","
           T1("y", "F32", "[5,0]", "[2,2]") ","
           T1("x", "F16", "[4294967296,0,4294967296,8]", "[4,4]") "}",
           4, 4); /* zero-element tensors, anywhere */
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_write_errors(void)
{
    char path[64], tmp[96], sub[64];
    snprintf(path, sizeof path, "%s/keep.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    float x[4] = {1, 2, 3, 4};
    st_out_tensor good = {"w", ST_F32, 1, {4}, x};
    CHECK(st_write(path, &good, 1, NULL, 0, err, sizeof err) == 0, "st_write: %s", err);
    size_t n0, n1;
    unsigned char *before = test_read_all(path, &n0);

    const st_out_tensor bad[][2] = {
        {{"w", ST_F32, 1, {4}, x}, {"w", ST_F32, 1, {4}, x}},       /* duplicate */
        {{"w", ST_F32, 1, {-4}, x}, {"v", ST_F32, 1, {4}, x}},      /* negative dim */
        {{"v", ST_F32, 1, {4}, x}, {"w", ST_F64, 1, {4}, x}},       /* dtype */
        {{"v", ST_F32, 1, {4}, x}, {"w", ST_F32, 1, {4}, NULL}},    /* no data */
        {{"v", ST_F32, 1, {4}, x}, {"w", ST_F32, 9, {4}, x}},       /* ndim */
        {{"v", ST_F32, 1, {4}, x}, {"w", ST_F32, 2, {1ll << 40, 1ll << 40}, x}}, /* too large */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        CHECK(st_write(path, bad[i], 2, NULL, 0, err, sizeof err) != 0 && strstr(err, "'w'"),
              "bad tensor set %zu: \"%s\"", i, err);
    }
    st_out_tensor odd[] = {{"__metadata__", ST_F32, 1, {4}, x}, {"\xff", ST_F32, 1, {4}, x},
                           {NULL, ST_F32, 1, {4}, x}};
    for (int i = 0; i < 3; i++)
        CHECK(st_write(path, &odd[i], 1, NULL, 0, err, sizeof err) != 0, "bad name %d accepted", i);
    st_meta dup[] = {{"k", "a"}, {"k", "b"}}, badv[] = {{"k", "\xc0\x80"}}, nullv[] = {{"k", NULL}};
    CHECK(st_write(path, &good, 1, dup, 2, err, sizeof err) != 0 && strstr(err, "'k'"),
          "duplicate metadata key: \"%s\"", err);
    CHECK(st_write(path, &good, 1, badv, 1, err, sizeof err) != 0, "bad UTF-8 metadata accepted");
    CHECK(st_write(path, &good, 1, nullv, 1, err, sizeof err) != 0, "NULL metadata accepted");
    CHECK(st_write(path, &good, -1, NULL, 0, err, sizeof err) != 0, "n = -1 accepted");

    unsigned char *after = test_read_all(path, &n1);
    CHECK(before && after && n0 == n1 && !memcmp(before, after, n0), "failed st_write changed %s",
          path);
    CHECK(!exists(tmp), "temporary file %s left behind", tmp);
    free(before), free(after);

    snprintf(sub, sizeof sub, "%s/no/such/dir/x.safetensors", dir);
    err[0] = 0;
    CHECK(st_write(sub, &good, 1, NULL, 0, err, sizeof err) != 0 && strstr(err, "cannot create"),
          "writing into a missing directory: \"%s\"", err);
    /* path is a directory: the temporary file is written, rename fails, it must go */
    snprintf(sub, sizeof sub, "%s/adir", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", sub, (long)getpid());
    CHECK(mkdir(sub, 0700) == 0, "mkdir %s", sub);
    err[0] = 0;
    CHECK(st_write(sub, &good, 1, NULL, 0, err, sizeof err) != 0 && strstr(err, "rename"),
          "writing onto a directory: \"%s\"", err);
    CHECK(!exists(tmp), "temporary file %s left behind after a failed rename", tmp);
    struct stat st;
    CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode), "directory %s damaged", sub);
    rmdir(sub);
    remove(path);
}

/* Corrupt a valid file in many ways: nothing may crash, every success must be consistent. */
static void test_fuzz(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    size_t n;
    unsigned char *base = test_read_all(path, &n), *b = malloc(n + 64);
    CHECK(base != NULL && n > 64, "cannot read %s back", path);
    if (!base || !b || n <= 64) {
        free(base), free(b);
        return;
    }
    size_t hend = 8;
    for (int k = 0; k < 8; k++) hend += (size_t)base[k] << 8 * k; /* end of the header */
    static const char alphabet[] = "{}[]\":,\\u0123456789-.eE \t\n\xc3\xa9\xff";
    int accepted = 0, rejected = 0;
    for (int it = 0; it < 5000; it++) {
        size_t len = n;
        memcpy(b, base, n);
        int kind = (int)(test_uniform() * 6), reps = 1 + (int)(test_uniform() * 4);
        for (int r = 0; r < reps; r++) {
            size_t at = 8 + (size_t)(test_uniform() * (double)(hend - 8));
            switch (kind) {
            case 0: b[at] ^= (unsigned char)(1u << (int)(test_uniform() * 8)); break;
            case 1: b[at] = (unsigned char)alphabet[(int)(test_uniform() * (sizeof alphabet - 1))];
                    break;
            case 2: len = (size_t)(test_uniform() * (double)len); break;
            case 3: b[(int)(test_uniform() * 8)] = (unsigned char)(test_uniform() * 256); break;
            case 4: memmove(b + at, b + at + 1, len - at - 1); break; /* delete a byte */
            default: b[(size_t)(test_uniform() * (double)len)] ^= 0xff; break; /* anywhere */
            }
        }
        st_file f;
        err[0] = 0;
        if (st_open_mem(&f, b, len, err, sizeof err)) {
            rejected++;
            CHECK(err[0] && !f.buf && !f.ntensors, "rejection without message or with state");
            continue;
        }
        accepted++;
        for (int i = 0; i < f.ntensors; i++) {
            const st_tensor *t = &f.tensors[i];
            CHECK(t->begin <= t->end && t->end <= f.size - f.data_start, "accepted bad offsets");
            CHECK(st_find(&f, t->name) == t, "st_find(%s) fails", t->name);
            size_t m = st_numel(t);
            float *out = malloc(m ? m * sizeof *out : 1);
            CHECK(out && st_read_f32(&f, t, out, m, err, sizeof err) == 0, "read: %s", err);
            free(out);
        }
        st_close(&f);
    }
    CHECK(accepted > 100 && rejected > 1000, "fuzz: %d accepted, %d rejected", accepted, rejected);
    free(base), free(b);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_f16();
    test_bf16();
    test_roundtrip();
    test_read_types();
    test_read_every_value();
    test_handwritten();
    test_reject();
    test_write_errors();
    test_fuzz();
    char path[64];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    remove(path);
    rmdir(dir);
    return test_summary("test_safetensors");
}
