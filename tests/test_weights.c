/* Weights files: save → load is bit-exact (F32) or exact F16 rounding; bad files are
 * rejected with a message naming the tensor or the byte offset, and leave no model. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model.h"
#include "safetensors.h"
#include "testutil.h"

static char dir[] = "/tmp/sung-test-weights-XXXXXX";

static const char *tmp(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* Writes m's tensors with one edit: drop tensor `drop`, reshape `reshape`, add `extra`,
 * use dtype dt for everything, metadata variant/width as given (NULL = absent). */
static void write_edited(const sung_model *m, const char *path, const char *drop,
                         const char *reshape, const char *extra, st_dtype dt,
                         const char *variant, const char *width)
{
    st_out_tensor *ts = calloc(m->nparams + 1, sizeof *ts);
    int n = 0;
    for (int i = 0; i < m->nparams; i++) {
        const param_info *p = &m->params[i];
        if (drop && !strcmp(p->name, drop)) continue;
        st_out_tensor *t = &ts[n++];
        t->name = p->name;
        t->dtype = dt;
        t->ndim = p->ndim;
        for (int k = 0; k < p->ndim; k++) t->shape[k] = p->shape[k];
        t->data = m->p + p->off;
        if (reshape && !strcmp(p->name, reshape)) { /* same count, other shape */
            t->ndim = 1;
            t->shape[0] = (int64_t)p->numel;
        }
    }
    if (extra) ts[n++] = (st_out_tensor){extra, dt, 1, {1}, m->p};
    st_meta meta[2];
    int nm = 0;
    if (variant) meta[nm++] = (st_meta){"variant", (char *)variant};
    if (width) meta[nm++] = (st_meta){"width", (char *)width};
    char err[256];
    CHECK(st_write(path, ts, n, meta, nm, err, sizeof err) == 0, "st_write: %s", err);
    free(ts);
}

static void expect_reject(const char *path, const char *needle, const char *what)
{
    sung_model *m = (sung_model *)1;
    sung_error e;
    sung_status st = sung_model_load(&m, path, &e);
    CHECK(st != SUNG_OK && m == NULL, "%s: accepted", what);
    if (st != SUNG_OK)
        CHECK(strstr(e.msg, needle) != NULL, "%s: message '%s' does not mention '%s'", what, e.msg, needle);
}

/* Non-finite and absurd values: rejected with the tensor's name and the flat index; the
 * bound itself and large Adam moments are accepted. */
static void test_values(sung_model *m)
{
    const char *name = "deblur.unet.e1.res.0.c1.weight";
    int pi = model_find_param(m, name);
    CHECK(pi >= 0, "no tensor %s", name);
    if (pi < 0) return;
    float *w = m->p + m->params[pi].off;
    const float keep = w[5];
    const struct {
        float v;
        const char *what, *want;
    } bad[] = {{NAN, "NaN", "NaN at index 5"},
               {INFINITY, "+Inf", "+Inf at index 5"},
               {-INFINITY, "-Inf", "-Inf at index 5"},
               {3e38f, "3e38", "3e+38 at index 5"},
               {-1.5e6f, "-1.5e6", "-1.5e+06 at index 5"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        w[5] = bad[i].v;
        char what[64];
        snprintf(what, sizeof what, "a weight of %s", bad[i].what);
        write_edited(m, tmp("v.safetensors"), NULL, NULL, NULL, ST_F32, "sung", "4");
        expect_reject(tmp("v.safetensors"), name, what);
        expect_reject(tmp("v.safetensors"), bad[i].want, what);
        sung_error e;
        sung_model *r = NULL;
        CHECK(sung_model_load(&r, tmp("v.safetensors"), &e) == SUNG_ERR_FORMAT && !r, "%s: not SUNG_ERR_FORMAT", what);
    }
    /* 70000 is finite in F32 but Inf in F16 */
    w[5] = 70000;
    write_edited(m, tmp("v.safetensors"), NULL, NULL, NULL, ST_F16, "sung", "4");
    expect_reject(tmp("v.safetensors"), "+Inf at index 5", "an F16 Inf");
    sung_error e;
    sung_model *r = NULL;
    w[5] = (float)SUNG_MAX_WEIGHT;
    write_edited(m, tmp("v.safetensors"), NULL, NULL, NULL, ST_F32, "sung", "4");
    CHECK(sung_model_load(&r, tmp("v.safetensors"), &e) == SUNG_OK, "the bound itself rejected: %s", e.msg);
    sung_model_free(r);
    w[5] = keep;
    /* train state: the weights are checked the same way, the moments only for finiteness */
    for (size_t i = 0; i < m->nfloats; i++) m->adam_v[i] = 4e6f;
    CHECK(sung_train_state_save(m, tmp("s.safetensors"), NULL, 0, &e) == SUNG_OK, "%s", e.msg);
    CHECK(sung_train_state_load(&r, tmp("s.safetensors"), NULL, NULL, &e) == SUNG_OK, "large moments: %s", e.msg);
    sung_model_free(r);
    m->adam_m[m->params[pi].off + 2] = NAN;
    CHECK(sung_train_state_save(m, tmp("s.safetensors"), NULL, 0, &e) == SUNG_OK, "%s", e.msg);
    r = NULL;
    CHECK(sung_train_state_load(&r, tmp("s.safetensors"), NULL, NULL, &e) == SUNG_ERR_FORMAT && !r &&
              strstr(e.msg, "adam.m.deblur.unet.e1.res.0.c1.weight") && strstr(e.msg, "index 2"),
          "NaN in a moment: '%s'", e.msg);
    memset(m->adam_m, 0, m->nfloats * sizeof *m->adam_m);
    memset(m->adam_v, 0, m->nfloats * sizeof *m->adam_v);
}

/* err may be NULL (sung.h: freeing and erring are harmless): no crash on any path */
static void test_null_err(sung_model *m)
{
    sung_model *r = (sung_model *)1;
    CHECK(sung_model_load(&r, tmp("missing.safetensors"), NULL) != SUNG_OK && !r, "missing file, err NULL");
    CHECK(sung_model_save(m, tmp("n.safetensors"), 0, NULL) == SUNG_OK, "save, err NULL");
    CHECK(sung_model_load(&r, tmp("n.safetensors"), NULL) == SUNG_OK, "load, err NULL");
    sung_model_free(r);
    CHECK(truncate(tmp("n.safetensors"), 4000) == 0, "truncate");
    CHECK(sung_model_load(&r, tmp("n.safetensors"), NULL) != SUNG_OK, "truncated, err NULL");
    CHECK(sung_model_save(m, "/nonexistent-dir/w.safetensors", 0, NULL) != SUNG_OK, "unwritable, err NULL");
}

/* A checkpoint's temporary file left by a killed writer goes with the next write of it. */
static void test_stale_temporaries(sung_model *m)
{
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char stale[300], running[300];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", tmp("state.safetensors"), (long)dead);
    snprintf(running, sizeof running, "%s.tmp.%ld", tmp("state.safetensors"), (long)getppid());
    FILE *f1 = fopen(stale, "wb"), *f2 = fopen(running, "wb");
    CHECK(f1 && f2, "create temporaries");
    if (f1) fclose(f1);
    if (f2) fclose(f2);
    sung_error e;
    CHECK(sung_train_state_save(m, tmp("state.safetensors"), NULL, 0, &e) == SUNG_OK, "%s", e.msg);
    CHECK(access(stale, F_OK) != 0, "a killed writer's %s was not removed", stale);
    CHECK(access(running, F_OK) == 0, "a running writer's %s was removed", running);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    sung_error e;
    for (int v = 0; v < 3; v++) {
        sung_model *m, *r;
        CHECK(sung_model_create(&m, (sung_variant)v, 4, 99, &e) == SUNG_OK, "%s", e.msg);
        for (size_t i = 0; i < m->nfloats; i++) /* biases too, so all of them round-trip */
            if (m->p[i] == 0) m->p[i] = (float)i * 1e-7f;
        CHECK(sung_model_save(m, tmp("a.safetensors"), 0, &e) == SUNG_OK, "%s", e.msg);
        CHECK(sung_model_load(&r, tmp("a.safetensors"), &e) == SUNG_OK, "%s", e.msg);
        CHECK(r && r->variant == m->variant && r->width == 4 && r->nfloats == m->nfloats,
              "reloaded model differs in structure");
        if (r) CHECK(!memcmp(r->p, m->p, m->nfloats * sizeof(float)), "F32 round trip not bit-exact");
        sung_model_free(r);
        CHECK(sung_model_save(m, tmp("h.safetensors"), 1, &e) == SUNG_OK, "%s", e.msg);
        CHECK(sung_model_load(&r, tmp("h.safetensors"), &e) == SUNG_OK, "%s", e.msg);
        int same = r != NULL;
        for (size_t i = 0; same && i < m->nfloats; i++)
            same = r->p[i] == st_f16_to_f32(st_f32_to_f16(m->p[i]));
        CHECK(same, "F16 round trip is not the F16 rounding");
        sung_model_free(r);
        /* BF16 files are read too */
        write_edited(m, tmp("b.safetensors"), NULL, NULL, NULL, ST_BF16, sung_variant_name(m->variant), "4");
        CHECK(sung_model_load(&r, tmp("b.safetensors"), &e) == SUNG_OK, "BF16: %s", e.msg);
        same = r != NULL;
        for (size_t i = 0; same && i < m->nfloats; i++)
            same = r->p[i] == st_bf16_to_f32(st_f32_to_bf16(m->p[i]));
        CHECK(same, "BF16 load is not the BF16 rounding");
        sung_model_free(r);
        sung_model_free(m);
    }

    sung_model *m;
    sung_model_create(&m, SUNG_SUNG, 4, 1, &e);
    const char *name = "deblur.unet.e1.res.0.c1.weight";
    write_edited(m, tmp("x.safetensors"), name, NULL, NULL, ST_F32, "sung", "4");
    expect_reject(tmp("x.safetensors"), name, "missing tensor");
    write_edited(m, tmp("x.safetensors"), NULL, name, NULL, ST_F32, "sung", "4");
    expect_reject(tmp("x.safetensors"), name, "wrong shape");
    write_edited(m, tmp("x.safetensors"), NULL, NULL, "deblur.extra", ST_F32, "sung", "4");
    expect_reject(tmp("x.safetensors"), "deblur.extra", "extra tensor");
    {
        /* a model file with one F64 tensor: written as F32 of twice the length, then
         * relabelled in place (same header length) */
        st_out_tensor *ts = calloc(m->nparams, sizeof *ts);
        float *big = calloc(2 * m->nfloats, sizeof *big);
        const char *target = "deblur.fuse1.bias";
        for (int i = 0; i < m->nparams; i++) {
            const param_info *p = &m->params[i];
            ts[i] = (st_out_tensor){p->name, ST_F32, p->ndim, {0}, big};
            for (int k = 0; k < p->ndim; k++) ts[i].shape[k] = p->shape[k];
            if (!strcmp(p->name, target)) ts[i].shape[0] *= 2;
        }
        st_meta meta[2] = {{"variant", "sung"}, {"width", "4"}};
        char err[256];
        CHECK(st_write(tmp("x.safetensors"), ts, m->nparams, meta, 2, err, sizeof err) == 0, "%s", err);
        FILE *f = fopen(tmp("x.safetensors"), "r+b");
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        const char *pat = "\"deblur.fuse1.bias\":{\"dtype\":\"F32\",\"shape\":[8]";
        char *at = NULL;
        for (size_t i = 0; i + strlen(pat) <= n && !at; i++)
            if (!memcmp(buf + i, pat, strlen(pat))) at = buf + i;
        CHECK(at != NULL, "header layout: cannot find %s", pat);
        if (at) {
            memcpy(at, "\"deblur.fuse1.bias\":{\"dtype\":\"F64\",\"shape\":[4]", strlen(pat));
            fseek(f, 0, SEEK_SET);
            fwrite(buf, 1, n, f);
        }
        fclose(f);
        expect_reject(tmp("x.safetensors"), "dtype", "F64 weights");
        free(ts), free(big);
    }
    write_edited(m, tmp("x.safetensors"), NULL, NULL, NULL, ST_F32, NULL, "4");
    expect_reject(tmp("x.safetensors"), "variant", "no variant");
    write_edited(m, tmp("x.safetensors"), NULL, NULL, NULL, ST_F32, "sung", "8");
    expect_reject(tmp("x.safetensors"), "shape", "width 8 metadata on width-4 tensors");
    write_edited(m, tmp("x.safetensors"), NULL, NULL, NULL, ST_F32, "siun", "4");
    expect_reject(tmp("x.safetensors"), "restore.e1.conv.weight", "sung tensors in a siun file");
    /* a width bomb: metadata claiming width 1024 (150 GB of buffers) on a file holding
     * width-4 tensors, or none; rejected for the tensors before any buffer is allocated
     * (before the layout check, the first said "out of memory" or reserved tens of GB) */
    write_edited(m, tmp("x.safetensors"), NULL, NULL, NULL, ST_F32, "sung", "1024");
    expect_reject(tmp("x.safetensors"), "shape", "width 1024 metadata on width-4 tensors");
    {
        st_meta meta[2] = {{"variant", "sung"}, {"width", "1024"}};
        char err[256];
        CHECK(st_write(tmp("x.safetensors"), NULL, 0, meta, 2, err, sizeof err) == 0, "%s", err);
        expect_reject(tmp("x.safetensors"), "'deblur.head.weight' is missing", "width 1024, no tensors");
    }
    write_edited(m, tmp("x.safetensors"), NULL, NULL, NULL, ST_F32, "sung", "four");
    expect_reject(tmp("x.safetensors"), "width", "bad width");

    /* truncated data, oversized header length, not a file */
    CHECK(sung_model_save(m, tmp("t.safetensors"), 0, &e) == SUNG_OK, "%s", e.msg);
    FILE *f = fopen(tmp("t.safetensors"), "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(tmp("t.safetensors"), size - 100) == 0, "truncate");
    expect_reject(tmp("t.safetensors"), "beyond the data area", "truncated data");
    f = fopen(tmp("o.safetensors"), "wb");
    unsigned char hdr[16] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, '{', '}'};
    fwrite(hdr, 1, sizeof hdr, f);
    fclose(f);
    expect_reject(tmp("o.safetensors"), "byte", "oversized header length");
    expect_reject(tmp("does-not-exist.safetensors"), "does-not-exist", "missing file");

    /* saving into a missing directory fails, naming the output, not its temporary file
     * (that nothing is left behind by a failed write is test_image's and test_cli's) */
    CHECK(sung_model_save(m, "/nonexistent-dir/w.safetensors", 0, &e) != SUNG_OK &&
              strstr(e.msg, "/nonexistent-dir/w.safetensors: ") && !strstr(e.msg, ".tmp."),
          "saved into a missing directory, or the message names the temporary file: '%s'", e.msg);

    test_values(m);
    test_null_err(m);
    test_stale_temporaries(m);
    sung_model_free(m);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return test_summary("test_weights");
}
