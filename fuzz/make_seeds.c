/* Seeds for the fuzzers: make_seeds small DIR writes the tiny files committed in
 * fuzz/seeds (images with EXIF and ICC, EXIF blocks, safetensors headers); make_seeds all
 * DIR adds what is too big to commit (a width-1 siun model as F16, its training state),
 * made at `make fuzz` time. Each into DIR/{image,exif,weights,state}/. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sung.h"

static int fail(const char *what, const sung_error *e)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, e ? e->msg : "cannot write");
    return 1;
}

static int put(const char *dir, const char *sub, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) return fail(path, NULL);
    return 0;
}

/* a safetensors file: u64 header length, the JSON header, then n data bytes (zeros) */
static int put_st(const char *dir, const char *sub, const char *name, const char *json, size_t n)
{
    unsigned char buf[2048] = {0};
    size_t h = strlen(json);
    if (8 + h + n > sizeof buf) return fail(name, NULL);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, json, h);
    return put(dir, sub, name, buf, 8 + h + n);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "small") && strcmp(argv[1], "all"))) {
        fprintf(stderr, "usage: make_seeds small|all DIR\n");
        return 2;
    }
    const char *dir = argv[2];
    char path[1024];
    static const char *const subs[] = {"", "/image", "/exif", "/weights", "/state"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s%s", dir, subs[i]);
        mkdir(path, 0777);
    }
    /* EXIF: IFD0 with Make and orientation 6 (II) / 8 (MM) */
    uint8_t ii[46] = {'I', 'I', 42, 0, 8, 0, 0, 0, 2, 0, 0x0F, 1, 2, 0, 5, 0, 0, 0, 40, 0, 0, 0,
                      0x12, 1, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 's', 'u', 'n', 'g', 0, 0};
    uint8_t mm[26] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 1, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0};
    /* an RGB ICC header with no tags */
    uint8_t icc[132] = {0, 0, 0, 132};
    memcpy(icc + 12, "mntrRGB XYZ ", 12), memcpy(icc + 36, "acsp", 4);
    if (put(dir, "exif", "ii6", ii, sizeof ii) || put(dir, "exif", "mm8", mm, sizeof mm)) return 1;
    sung_image im;
    sung_error e;
    if (sung_image_alloc(&im, 6, 4, &e)) return fail("alloc", &e);
    for (int i = 0; i < 6 * 4 * 3; i++) im.data[i] = (float)(i % 11) / 10;
    sung_image_meta m6 = {8, 1, ii, sizeof ii, icc, sizeof icc}, m8 = {8, 1, mm, sizeof mm, NULL, 0};
    const struct {
        const char *name;
        sung_image_save_opts o;
    } imgs[] = {{"plain.png", {8, 0, NULL}},  {"exif6-icc.png", {8, 0, &m6}}, {"deep.png", {16, 0, &m8}},
                {"plain.jpg", {8, 50, NULL}}, {"exif6-icc.jpg", {8, 90, &m6}}, {"exif8.jpg", {8, 75, &m8}}};
    for (size_t i = 0; i < sizeof imgs / sizeof *imgs; i++) {
        snprintf(path, sizeof path, "%s/image/%s", dir, imgs[i].name);
        if (sung_image_save_ex(&im, path, &imgs[i].o, &e)) return fail(path, &e);
    }
    sung_image_free(&im);
    /* safetensors: metadata and one tensor; the model's first tensor of the wrong shape */
    if (put_st(dir, "weights", "meta.safetensors",
               "{\"__metadata__\":{\"variant\":\"siun\",\"width\":\"1\"},"
               "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4) ||
        /* no tensors at all (f->tensors NULL: clang's UBSan found NULL + 0 there), and a
         * width whose model does not fit in memory */
        put_st(dir, "weights", "none.safetensors", "{\"__metadata__\":{\"variant\":\"sung\",\"width\":\"1024\"}}", 0) ||
        put_st(dir, "state", "meta.safetensors",
               "{\"__metadata__\":{\"variant\":\"siun\",\"width\":\"1\",\"adam_step\":\"3\"},"
               "\"adam.m.x\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[0,4]}}", 4))
        return 1;
    if (!strcmp(argv[1], "all")) {
        sung_model *m;
        if (sung_model_create(&m, SUNG_SIUN, 1, 1, &e)) return fail("model", &e);
        snprintf(path, sizeof path, "%s/weights/siun1.safetensors", dir);
        if (sung_model_save(m, path, 1, &e)) return fail(path, &e);
        sung_meta meta[] = {{"run", "seed"}};
        snprintf(path, sizeof path, "%s/state/siun1.safetensors", dir);
        if (sung_train_state_save(m, path, meta, 1, &e)) return fail(path, &e);
        sung_model_free(m);
    }
    return 0;
}
