/* Weights files (SPEC §7): safetensors with PyTorch's state_dict names and shapes,
 * metadata "variant" and "width". Read as F32, F16 or BF16; written as F32 (F16 on
 * request). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "safetensors.h"

static sung_status save_tensors(const sung_model *m, const char *path, const float *base,
                                st_dtype dt, sung_error *err)
{
    st_out_tensor *ts = calloc(m->nparams, sizeof *ts);
    if (!ts) {
        model_set_error(err, "out of memory writing %s", path);
        return SUNG_ERR_NOMEM;
    }
    for (int i = 0; i < m->nparams; i++) {
        const param_info *p = &m->params[i];
        ts[i].name = p->name;
        ts[i].dtype = dt;
        ts[i].ndim = p->ndim;
        for (int k = 0; k < p->ndim; k++) ts[i].shape[k] = p->shape[k];
        ts[i].data = base + p->off;
    }
    char width[16];
    snprintf(width, sizeof width, "%d", m->width);
    st_meta meta[3] = {{"format", "pt"},
                       {"variant", (char *)sung_variant_name(m->variant)},
                       {"width", width}};
    int rc = st_write(path, ts, m->nparams, meta, 3, err->msg, sizeof err->msg);
    free(ts);
    return rc ? SUNG_ERR_IO : SUNG_OK;
}

sung_status sung_model_save(const sung_model *m, const char *path, int half, sung_error *err)
{
    return save_tensors(m, path, m->p, half ? ST_F16 : ST_F32, err);
}

sung_status sung_model_save_grads(const sung_model *m, const char *path, sung_error *err)
{
    return save_tensors(m, path, m->g, ST_F32, err);
}

sung_status sung_model_load(sung_model **out, const char *path, sung_error *err)
{
    *out = NULL;
    st_file f;
    memset(&f, 0, sizeof f);
    if (st_open(&f, path, err->msg, sizeof err->msg)) {
        char keep[sizeof err->msg];
        memcpy(keep, err->msg, sizeof keep);
        model_set_error(err, "%s: %s", path, keep);
        return SUNG_ERR_FORMAT;
    }
    sung_status st = SUNG_ERR_FORMAT;
    sung_model *m = NULL;
    const char *vs = st_meta_get(&f, "variant"), *ws = st_meta_get(&f, "width");
    int variant = sung_variant_parse(vs);
    char *end = NULL;
    long width = ws ? strtol(ws, &end, 10) : 0;
    if (variant < 0) {
        model_set_error(err, "%s: metadata 'variant' is %s%s%s; it must be sung, base or siun", path,
                        vs ? "'" : "", vs ? vs : "missing", vs ? "'" : "");
        goto done;
    }
    if (!ws || *end || end == ws || width < 1 || width > 1024) {
        model_set_error(err, "%s: metadata 'width' is %s%s%s; it must be an integer 1..1024", path,
                        ws ? "'" : "", ws ? ws : "missing", ws ? "'" : "");
        goto done;
    }
    if ((st = model_build(&m, (sung_variant)variant, (int)width, err)) != SUNG_OK) goto done;
    st = SUNG_ERR_FORMAT;
    for (int i = 0; i < m->nparams; i++) {
        const param_info *p = &m->params[i];
        const st_tensor *t = st_find(&f, p->name);
        if (!t) {
            model_set_error(err, "%s: tensor '%s' is missing (a %s model of width %ld needs it)",
                            path, p->name, vs, width);
            goto done;
        }
        if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
            model_set_error(err, "%s: tensor '%s' has a dtype other than F32, F16 or BF16", path,
                            p->name);
            goto done;
        }
        int same = t->ndim == p->ndim;
        for (int k = 0; same && k < p->ndim; k++) same = t->shape[k] == p->shape[k];
        if (!same) {
            char got[96] = "", want[96] = "";
            for (int k = 0; k < t->ndim && k < 8; k++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", k ? ", " : "",
                         (long long)t->shape[k]);
            for (int k = 0; k < p->ndim; k++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", k ? ", " : "",
                         p->shape[k]);
            model_set_error(err, "%s: tensor '%s' has shape [%s], expected [%s]", path, p->name,
                            got, want);
            goto done;
        }
        if (st_read_f32(&f, t, m->p + p->off, p->numel, err->msg, sizeof err->msg)) goto done;
    }
    for (int i = 0; i < f.ntensors; i++)
        if (model_find_param(m, f.tensors[i].name) < 0) {
            model_set_error(err, "%s: unexpected tensor '%s' (not part of a %s model)", path,
                            f.tensors[i].name, vs);
            goto done;
        }
    m->packed_fresh = 0;
    *out = m;
    m = NULL;
    st = SUNG_OK;
done:
    sung_model_free(m);
    st_close(&f);
    return st;
}
