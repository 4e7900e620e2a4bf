/* safetensors.h: a strict reader and writer for safetensors files (SPEC §7).
 *
 * Format (https://huggingface.co/docs/safetensors): a little-endian u64 N, N bytes of
 * UTF-8 JSON, then the data area. The JSON object maps each tensor name to
 * {"dtype": "F32", "shape": [a, b, ...], "data_offsets": [begin, end]} (byte offsets
 * into the data area, end exclusive); the optional key "__metadata__" maps to an object
 * of string -> string. Data is raw little-endian.
 *
 * Reading:
 *
 *     st_file f;
 *     char err[256];
 *     if (st_open(&f, "model.safetensors", err, sizeof err)) { report(err); return; }
 *     const st_tensor *t = st_find(&f, "deblur.head.weight");     // NULL if absent
 *     if (t) {
 *         size_t n = st_numel(t);
 *         float *w = malloc(n * sizeof *w);                      // (check it)
 *         if (st_read_f32(&f, t, w, n, err, sizeof err)) report(err);
 *     }
 *     const char *variant = st_meta_get(&f, "variant");           // NULL if absent
 *     st_close(&f);
 *
 * Writing:
 *
 *     st_out_tensor ts[] = {{"a.weight", ST_F32, 2, {3, 4}, data}};
 *     st_meta meta[] = {{"variant", "sung"}};
 *     if (st_write("out.safetensors", ts, 1, meta, 1, err, sizeof err)) report(err);
 *
 * Errors: every int-returning function returns 0 on success, non-zero on failure, and
 * then writes a NUL-terminated reason (naming the tensor and/or the byte offset in the
 * file) into err[0..errlen); err may be NULL. The library never prints and never exits.
 *
 * Limits, all checked (a violation is an error, never a crash): header at most
 * 100,000,000 bytes; at most 8 dimensions; integers in the header at most 2^53; every
 * size computation is overflow-checked. The reader keeps the whole file in memory.
 * An open st_file is read-only, so concurrent st_find / st_read_f32 calls are safe.
 */
#ifndef SUNG_SAFETENSORS_H
#define SUNG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* The element types this reader accepts; any other dtype in a file is rejected with a
 * message naming the dtype and the tensor. */
typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_U8 } st_dtype;

/* One tensor of an open file. begin/end are byte offsets into the data area (end
 * exclusive), already checked: end - begin == numel * element size, within the file. */
typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[8];
    uint64_t begin, end;
} st_tensor;

typedef struct {
    char *key;
    char *value;
} st_meta;

/* An open file. tensors[] is sorted by name (strcmp order); meta[] is in file order.
 * Everything is owned by the st_file and freed by st_close. */
typedef struct {
    unsigned char *buf;
    size_t size;       /* whole file in memory */
    size_t data_start; /* 8 + header length */
    st_tensor *tensors;
    int ntensors;
    st_meta *meta;
    int nmeta;
} st_file;

/* Reads the file at path (a regular file) into memory, parses and validates its header. On success
 * fills *f (release with st_close). On failure *f is left zeroed (st_close on it is
 * harmless) and err says what is wrong and where. Checked: file length, header length
 * (non-zero, <= 100,000,000, within the file), JSON syntax, UTF-8 and escapes in
 * strings, duplicate tensor names, missing or unknown fields, dtype, ndim <= 8, shape
 * product overflow, data_offsets ordered, inside the data area, sized exactly
 * numel * element size and not overlapping another tensor, metadata values are
 * strings. Trailing bytes after the last tensor and zero-element tensors are allowed. */
int st_open(st_file *f, const char *path, char *err, size_t errlen);

/* As st_open, from size bytes at data (which are copied; the caller keeps data). */
int st_open_mem(st_file *f, const void *data, size_t size, char *err, size_t errlen);

/* Frees everything *f owns and zeroes it. NULL-safe, zeroed-safe and idempotent. */
void st_close(st_file *f);

/* The tensor called name, or NULL if f has none (binary search). */
const st_tensor *st_find(const st_file *f, const char *name);

/* The __metadata__ value for key, or NULL if absent. Owned by f. */
const char *st_meta_get(const st_file *f, const char *key);

/* Number of elements of t: the product of its shape (1 for a scalar, ndim 0). */
size_t st_numel(const st_tensor *t);

/* "F32", "F16", "BF16", "F64", "U8", or "?" for a value outside st_dtype. */
const char *st_dtype_name(st_dtype dt);

/* Converts the data of t (a tensor of the open file f) to float32 into dst[0..n).
 * n must equal st_numel(t), else an error naming the tensor. F32 copies bit-exactly;
 * F16 (subnormals, inf, nan included), BF16 and F64 convert (F64 rounds to nearest);
 * U8 gives its value 0..255. */
int st_read_f32(const st_file *f, const st_tensor *t, float *dst, size_t n, char *err,
                size_t errlen);

/* One tensor to write: data holds numel float32 values (row-major), stored as dtype,
 * which must be ST_F32, ST_F16 or ST_BF16. data may be NULL only when numel is 0. */
typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[8];
    const float *data;
} st_out_tensor;

/* Writes n tensors and nmeta metadata pairs to path. F16 and BF16 round to nearest
 * even (F16 overflow gives inf). The header lists __metadata__ first (pairs in the order
 * given), then the tensors sorted by name (strcmp order, as the Python library does),
 * with the data laid out contiguously in that order; it is padded with spaces to a
 * multiple of 8 bytes. Names, keys and values must be valid UTF-8; tensor names and
 * metadata keys must be unique, and no tensor may be called "__metadata__".
 * Everything is validated before any file is created. The bytes go to
 * "<path>.tmp.<pid>", which is fsync'ed and then rename()d onto path, so an existing
 * file at path is never left half-written; on any error the temporary file is removed
 * and path is untouched. Temporary files of path left by writers that were killed (their
 * PID no longer runs) are removed first (atomic_sweep, src/atomic.h). */
int st_write(const char *path, const st_out_tensor *ts, int n, const st_meta *meta, int nmeta,
             char *err, size_t errlen);

/* Scalar conversions (exported for other modules and tests). f32 -> f16 and f32 -> bf16
 * round to nearest even; overflow gives inf; a nan stays a (quiet) nan. */
float st_f16_to_f32(uint16_t h);
uint16_t st_f32_to_f16(float f);
float st_bf16_to_f32(uint16_t h);
uint16_t st_f32_to_bf16(float f);

#endif
