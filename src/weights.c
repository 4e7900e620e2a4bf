/* Weights files (SPEC §7): safetensors with PyTorch's state_dict names and shapes,
 * metadata "variant" and "width". Read as F32, F16 or BF16; written as F32 (F16 on
 * request). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "safetensors.h"

/* Writes the parameters from each of nsets buffers (base[k], names prefixed with
 * prefix[k]) plus metadata variant, width and the caller's extra pairs. */
static sung_status write_sets(const sung_model *m, const char *path, const float *const *base,
                              const char *const *prefix, int nsets, st_dtype dt,
                              const sung_meta *extra, int nextra, sung_error *err)
{
    int n = m->nparams * nsets;
    st_out_tensor *ts = calloc(n, sizeof *ts);
    char (*names)[96] = calloc(n, sizeof *names);
    st_meta *meta = calloc(3 + nextra, sizeof *meta);
    sung_status st = SUNG_OK;
    if (!ts || !names || !meta) {
        model_set_error(err, "out of memory writing %s", path);
        st = SUNG_ERR_NOMEM;
        goto done;
    }
    for (int k = 0; k < nsets; k++)
        for (int i = 0; i < m->nparams; i++) {
            const param_info *p = &m->params[i];
            int j = k * m->nparams + i;
            snprintf(names[j], sizeof names[j], "%s%s", prefix[k], p->name);
            ts[j].name = names[j];
            ts[j].dtype = dt;
            ts[j].ndim = p->ndim;
            for (int d = 0; d < p->ndim; d++) ts[j].shape[d] = p->shape[d];
            ts[j].data = base[k] + p->off;
        }
    char width[16];
    snprintf(width, sizeof width, "%d", m->width);
    meta[0] = (st_meta){"format", "pt"};
    meta[1] = (st_meta){"variant", (char *)sung_variant_name(m->variant)};
    meta[2] = (st_meta){"width", width};
    for (int i = 0; i < nextra; i++) meta[3 + i] = (st_meta){(char *)extra[i].key, (char *)extra[i].value};
    char why[sizeof err->msg];
    if (st_write(path, ts, n, meta, 3 + nextra, why, sizeof why)) {
        model_set_error(err, "%s", why);
        st = SUNG_ERR_IO;
    }
done:
    free(ts), free(names), free(meta);
    return st;
}

sung_status sung_model_save(const sung_model *m, const char *path, int half, sung_error *err)
{
    const float *base[1] = {m->p};
    const char *prefix[1] = {""};
    return write_sets(m, path, base, prefix, 1, half ? ST_F16 : ST_F32, NULL, 0, err);
}

sung_status sung_model_save_grads(const sung_model *m, const char *path, sung_error *err)
{
    const float *base[1] = {m->g};
    const char *prefix[1] = {""};
    return write_sets(m, path, base, prefix, 1, ST_F32, NULL, 0, err);
}

sung_status sung_train_state_save(const sung_model *m, const char *path, const sung_meta *meta,
                                  int nmeta, sung_error *err)
{
    if (m->ema_swapped) {
        model_set_error(err, "%s: not written: the weights and their average are exchanged", path);
        return SUNG_ERR_ARG;
    }
    const float *base[4] = {m->p, m->adam_m, m->adam_v, m->ema};
    const char *prefix[4] = {"", "adam.m.", "adam.v.", "ema."};
    char step[32], decay[32], updates[32];
    snprintf(step, sizeof step, "%ld", m->step);
    snprintf(decay, sizeof decay, "%.17g", m->ema_decay);
    snprintf(updates, sizeof updates, "%ld", m->ema_updates);
    sung_meta *all = calloc(nmeta + 4, sizeof *all);
    if (!all) {
        model_set_error(err, "out of memory writing %s", path);
        return SUNG_ERR_NOMEM;
    }
    int na = 0;
    all[na++] = (sung_meta){"adam_step", step};
    if (m->ema) {
        all[na++] = (sung_meta){"ema_decay", decay};
        all[na++] = (sung_meta){"ema_updates", updates};
        if (m->ema_warmup) all[na++] = (sung_meta){"ema_warmup", "1"};
    }
    for (int i = 0; i < nmeta; i++) all[na++] = meta[i];
    sung_status st = write_sets(m, path, base, prefix, m->ema ? 4 : 3, ST_F32, all, na, err);
    free(all);
    return st;
}

void sung_meta_free(sung_meta *meta, int nmeta)
{
    for (int i = 0; meta && i < nmeta; i++) free((char *)meta[i].key), free((char *)meta[i].value);
    free(meta);
}

/* Non-zero, with a message naming the tensor and the flat index, if one of the n values
 * is NaN or ±Inf, or (with bounded, for weights) beyond ±SUNG_MAX_WEIGHT: such a file
 * would make every output black (or NaN). Adam moments need only be finite. */
static int bad_value(const char *path, const char *name, const float *v, size_t n, int bounded,
                     sung_error *err)
{
    float lim = bounded ? (float)SUNG_MAX_WEIGHT : INFINITY;
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(v[i]) <= lim) || isinf(v[i])) { /* the negation also catches NaN */
            if (isfinite(v[i]))
                model_set_error(err, "%s: tensor '%s' has %g at index %zu; weights must lie within +-%g", path,
                                name, v[i], i, SUNG_MAX_WEIGHT);
            else
                model_set_error(err, "%s: tensor '%s' has %s at index %zu (values must be finite)", path, name,
                                isnan(v[i]) ? "NaN" : v[i] > 0 ? "+Inf" : "-Inf", i);
            return 1;
        }
    return 0;
}

/* Reads a weights file, or with state a train-state file (also adam.m.*, adam.v.*,
 * adam_step), and hands the metadata back when asked. */
static sung_status load_file(sung_model **out, const char *path, int state, sung_meta **metaout,
                             int *nmetaout, sung_error *err)
{
    *out = NULL;
    st_file f;
    memset(&f, 0, sizeof f);
    char why[sizeof err->msg]; /* err may be NULL */
    if (st_open(&f, path, why, sizeof why)) {
        model_set_error(err, "%s: %s", path, why);
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
    /* every tensor's name, dtype and shape checked against the layout before memory is
     * committed to the width the metadata claims (a 58-byte file saying width 1024 would
     * otherwise reserve 150 GB before its first missing tensor is noticed) */
    if ((st = model_layout(&m, (sung_variant)variant, (int)width, err)) != SUNG_OK) goto done;
    st = SUNG_ERR_FORMAT;
    static const char *const prefixes[4] = {"", "adam.m.", "adam.v.", "ema."};
    /* a state may keep the weights' average: all of its tensors, and its decay */
    const char *es = state ? st_meta_get(&f, "ema_decay") : NULL;
    double ema_decay = 0;
    if (es) {
        char *e = NULL;
        ema_decay = strtod(es, &e);
        if (*e || e == es || !(ema_decay > 0 && ema_decay < 1)) {
            model_set_error(err, "%s: metadata 'ema_decay' is '%s'; it must be a number in (0, 1)", path, es);
            goto done;
        }
    }
    /* its updates so far and its warm-up (states before them: 0 and off, as they ran) */
    const char *eu = es ? st_meta_get(&f, "ema_updates") : NULL, *ew = es ? st_meta_get(&f, "ema_warmup") : NULL;
    long ema_updates = 0;
    if (eu) {
        char *e = NULL;
        errno = 0;
        ema_updates = strtol(eu, &e, 10);
        if (*e || e == eu || errno || ema_updates < 0) {
            model_set_error(err, "%s: metadata 'ema_updates' is '%s'; it must be a count", path, eu);
            goto done;
        }
    }
    if (ew && strcmp(ew, "1")) {
        model_set_error(err, "%s: metadata 'ema_warmup' is '%s'; it must be 1 (or absent)", path, ew);
        goto done;
    }
    int nsets = state ? (es ? 4 : 3) : 1;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) { /* pass 0 checked, pass 1 reads */
            if ((st = model_alloc(m, err)) != SUNG_OK) goto done;
            st = SUNG_ERR_FORMAT;
            if (es && (st = sung_train_ema(m, ema_decay, err)) != SUNG_OK) goto done;
            if (es) m->ema_updates = ema_updates, m->ema_warmup = ew != NULL;
            st = SUNG_ERR_FORMAT;
        }
    for (int k = 0; k < nsets; k++)
        for (int i = 0; i < m->nparams; i++) {
            const param_info *p = &m->params[i];
            char name[96];
            snprintf(name, sizeof name, "%s%s", prefixes[k], p->name);
            const st_tensor *t = st_find(&f, name);
            if (!t) {
                model_set_error(err, "%s: tensor '%s' is missing (a %s model of width %ld needs it)",
                                path, name, vs, width);
                goto done;
            }
            if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
                model_set_error(err, "%s: tensor '%s' has a dtype other than F32, F16 or BF16", path,
                                name);
                goto done;
            }
            int same = t->ndim == p->ndim;
            for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
            if (!same) {
                char got[96] = "", want[96] = "";
                for (int d = 0; d < t->ndim && d < 8; d++)
                    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                             (long long)t->shape[d]);
                for (int d = 0; d < p->ndim; d++)
                    snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? ", " : "",
                             p->shape[d]);
                model_set_error(err, "%s: tensor '%s' has shape [%s], expected [%s]", path, name,
                                got, want);
                goto done;
            }
            if (pass == 0) continue;
            float *dst = (k == 0 ? m->p : k == 1 ? m->adam_m : k == 2 ? m->adam_v : m->ema) + p->off;
            if (st_read_f32(&f, t, dst, p->numel, why, sizeof why)) {
                model_set_error(err, "%s: %s", path, why);
                goto done;
            }
            if (bad_value(path, name, dst, p->numel, k == 0 || k == 3, err)) goto done;
        }
    }
    if (state) {
        const char *s = st_meta_get(&f, "adam_step");
        char *e = NULL;
        long step = s ? strtol(s, &e, 10) : -1;
        if (!s || *e || step < 0) {
            model_set_error(err, "%s: metadata 'adam_step' missing or not a step count", path);
            goto done;
        }
        m->step = step;
    }
    for (int i = 0; i < f.ntensors; i++) {
        const char *nm = f.tensors[i].name;
        if (state && !strncmp(nm, "adam.m.", 7)) nm += 7;
        else if (state && !strncmp(nm, "adam.v.", 7)) nm += 7;
        else if (es && !strncmp(nm, "ema.", 4)) nm += 4;
        if (model_find_param(m, nm) < 0) {
            model_set_error(err, "%s: unexpected tensor '%s' (not part of a %s model)", path,
                            f.tensors[i].name, vs);
            goto done;
        }
    }
    if (metaout) {
        *metaout = calloc(f.nmeta ? f.nmeta : 1, sizeof **metaout);
        if (!*metaout) {
            model_set_error(err, "out of memory reading %s", path);
            st = SUNG_ERR_NOMEM;
            goto done;
        }
        for (int i = 0; i < f.nmeta; i++) {
            (*metaout)[i].key = strdup(f.meta[i].key);
            (*metaout)[i].value = strdup(f.meta[i].value);
        }
        *nmetaout = f.nmeta;
    }
    model_params_changed(m);
    *out = m;
    m = NULL;
    st = SUNG_OK;
done:
    sung_model_free(m);
    st_close(&f);
    return st;
}

sung_status sung_model_load(sung_model **out, const char *path, sung_error *err)
{
    return load_file(out, path, 0, NULL, NULL, err);
}

sung_status sung_train_state_load(sung_model **out, const char *path, sung_meta **meta,
                                  int *nmeta, sung_error *err)
{
    if (meta) *meta = NULL, *nmeta = 0;
    return load_file(out, path, 1, meta, nmeta, err);
}
