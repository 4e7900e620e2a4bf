/* build/conv_layers: one convolution layer at a time, each algorithm the engine has for
 * it (direct, Winograd F(2×2) and F(4×4), bf16 direct and bf16 Winograd), at the shapes
 * of a width-32 sung model. Reports the *minimum* of RUNS calls (default 9) in ms and
 * GFLOP/s (direct-conv FLOPs), interleaving the algorithms, so that a noisy shared
 * machine still gives comparable numbers:
 *
 *   build/conv_layers [RUNS] [H W [WIDTH]]   (default 9 runs, 128×128 pixels, width 32)
 *
 * Then the narrow layers (c → 3 channels), direct against conv_forward_narrow.
 *
 * For choosing kernels (src/ops/conv_plan.c); `make bench` measures the whole model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tools/env.h"
#include "ops.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

enum { ALG_DIRECT, ALG_W2, ALG_W4, ALG_W6, ALG_BF16, ALG_W4BF16, NALG };
static const char *names[NALG] = {"direct", "F(2x2)", "F(4x4)", "F(6x6)", "bf16", "F(4x4) bf16"};

/* The narrow layers (3 output channels: the paths' tails, 3×3, and the image U-Net's
 * oconv, 5×5, whose output is tanh(·)/2 + 1/2): the direct kernel (a vector of output
 * channels, 3 of its lanes used) against conv_forward_narrow (vectorised over inputs). */
static void narrow_layers(int runs, int H, int W, int c)
{
    printf("\nnarrow layers, c -> 3, tanh(x)/2 + 1/2: ms (GFLOP/s)\n%-10s  %18s  %18s\n", "layer", "direct", "narrow");
    for (int k = 3; k <= 5; k += 2) {
        conv_shape s = {k, 1, c, 3, 0};
        size_t nw = (size_t)s.A * s.B * k * k;
        float *w = malloc(nw * 4), *bias = calloc(conv_round(s.B), 4), *zeros = calloc(1024, 4);
        for (size_t i = 0; i < nw; i++) w[i] = (float)rand() / RAND_MAX - 0.5f;
        tensor in = {malloc((size_t)H * W * s.A * 4), NULL, 1, H, W, s.A, s.A};
        tensor out = {malloc((size_t)H * W * s.B * 4), NULL, 1, H, W, s.B, s.B};
        for (size_t i = 0; i < (size_t)H * W * s.A; i++) in.d[i] = (float)rand() / RAND_MAX - 0.3f;
        float *fwd = malloc(conv_fwd_pack_size(&s) * 4), *bwd = malloc(conv_bwd_pack_size(&s) * 4);
        conv_pack(&s, w, fwd, bwd);
        double best[2] = {1e30, 1e30};
        for (int r = 0; r < runs + 1; r++)
            for (int a = 0; a < 2; a++) {
                double t0 = now();
                if (a) conv_forward_narrow(&s, out, in, 0, bwd, bias, ACT_TANH_HALF, NULL, 0, zeros);
                else conv_forward(&s, out, in, fwd, bias, ACT_TANH_HALF, NULL, 0, zeros);
                double t = now() - t0;
                if (r && t < best[a]) best[a] = t;
            }
        double flops = 2.0 * k * k * s.A * s.B * H * W;
        char name[32];
        snprintf(name, sizeof name, "%dx%d %d>3", k, k, s.A);
        printf("%-10s  %8.3f (%6.1f)  %8.3f (%6.1f)\n", name, best[0] * 1e3, flops / best[0] * 1e-9, best[1] * 1e3,
               flops / best[1] * 1e-9);
        free(w), free(bias), free(zeros), free(in.d), free(out.d), free(fwd), free(bwd);
    }
}

int main(int argc, char **argv)
{
    char why[256];
    if (sung_env_options(why, sizeof why)) { /* SUNG_ISA chooses the kernels here too */
        fprintf(stderr, "conv_layers: %s\n", why);
        return 2;
    }
    int runs = argc > 1 ? atoi(argv[1]) : 9, H = argc > 3 ? atoi(argv[2]) : 128, W = argc > 3 ? atoi(argv[3]) : 128;
    /* the 3×3 stride-1 shapes of a width-c model: U-Net levels c, 2c, 4c; RDB dense layers */
    int c = argc > 4 ? atoi(argv[4]) : 32;
    if (runs < 1 || H < 1 || W < 1 || c < 1 || c > 256) {
        fprintf(stderr, "usage: conv_layers [RUNS >= 1] [H W [WIDTH 1..256]]\n");
        return 2;
    }
    const int shapes[][2] = {{c, c}, {2 * c, 2 * c}, {4 * c, 4 * c}, {2 * c, c}, {4 * c, c}, {6 * c, c}};
    printf("kernels %s, %dx%d pixels, width %d, minimum of %d runs: ms (GFLOP/s)\n", ops_isa(), W, H, c, runs);
    printf("%-10s", "A>B");
    for (int a = 0; a < NALG; a++) printf("  %18s", names[a]);
    printf("\n");
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        conv_shape s = {3, 1, shapes[si][0], shapes[si][1], 0};
        size_t nw = (size_t)s.A * s.B * 9;
        float *w = malloc(nw * 4), *bias = calloc(conv_round(s.B), 4), *zeros = calloc(1024, 4);
        for (size_t i = 0; i < nw; i++) w[i] = (float)rand() / RAND_MAX - 0.5f;
        tensor in = {malloc((size_t)H * W * s.A * 4), NULL, 1, H, W, s.A, s.A};
        tensor out = {malloc((size_t)H * W * s.B * 4), NULL, 1, H, W, s.B, s.B};
        tensor pairs = {malloc((size_t)H * W * bf16_pairs(s.A) * 4), NULL, 1, H, W, bf16_pairs(s.A), bf16_pairs(s.A)};
        for (size_t i = 0; i < (size_t)H * W * s.A; i++) in.d[i] = (float)rand() / RAND_MAX;
        float *fwd = malloc(conv_fwd_pack_size(&s) * 4), *U2 = malloc(conv_wino_pack_size(&s, 2) * 4);
        float *U4 = malloc(conv_wino_pack_size(&s, 4) * 4), *p16 = malloc(conv_bf16_pack_size(&s) * 4);
        float *U16 = malloc(conv_wino_bf16_pack_size(&s) * 4), *U6 = malloc(conv_wino_pack_size(&s, 6) * 4);
        size_t sc = 0;
        for (int m = 2; m <= 6; m += 2)
            if (conv_wino_scratch_size(&s, m) > sc) sc = conv_wino_scratch_size(&s, m);
        float *scratch = malloc(sc * 4);
        conv_pack(&s, w, fwd, NULL);
        if (conv_wino_ok(&s)) conv_wino_pack(&s, 2, w, U2), conv_wino_pack(&s, 4, w, U4), conv_wino_pack(&s, 6, w, U6);
        int bf = ops_has_bf16();
        int wino = conv_wino_ok(&s), wino16 = bf && conv_wino_bf16_ok(&s);
        if (bf) conv_bf16_pack(&s, fwd, p16);
        if (wino16) conv_wino_bf16_pack(&s, U4, U16);
        double best[NALG];
        for (int a = 0; a < NALG; a++) best[a] = 1e30;
        for (int r = 0; r < runs + 1; r++)
            for (int a = 0; a < NALG; a++) {
                if ((!bf && a == ALG_BF16) || (!wino16 && a == ALG_W4BF16) || (!wino && (a == ALG_W2 || a == ALG_W4 || a == ALG_W6)))
                    continue;
                double t0 = now();
                switch (a) {
                case ALG_DIRECT: conv_forward(&s, out, in, fwd, bias, ACT_RELU, NULL, 0, zeros); break;
                case ALG_W2: conv_forward_wino(&s, 2, out, in, U2, bias, ACT_RELU, NULL, 0, zeros, scratch); break;
                case ALG_W4: conv_forward_wino(&s, 4, out, in, U4, bias, ACT_RELU, NULL, 0, zeros, scratch); break;
                case ALG_W6: conv_forward_wino(&s, 6, out, in, U6, bias, ACT_RELU, NULL, 0, zeros, scratch); break;
                case ALG_BF16:
                    bf16_convert(pairs, in);
                    conv_forward_bf16(&s, out, pairs, p16, bias, ACT_RELU, NULL, 0, zeros);
                    break;
                case ALG_W4BF16: conv_forward_wino_bf16(&s, out, in, U16, bias, ACT_RELU, NULL, 0, zeros, scratch); break;
                }
                double t = now() - t0;
                if (r && t < best[a]) best[a] = t;
            }
        double flops = 2.0 * 9 * s.A * s.B * H * W;
        printf("%4d>%-5d", s.A, s.B);
        for (int a = 0; a < NALG; a++)
            if (best[a] < 1e30) printf("  %8.3f (%6.1f)", best[a] * 1e3, flops / best[a] * 1e-9);
            else printf("  %18s", "-");
        printf("\n");
        free(w), free(bias), free(zeros), free(in.d), free(out.d), free(pairs.d), free(fwd), free(U2), free(U4);
        free(p16), free(U16), free(U6), free(scratch);
    }
    narrow_layers(runs, H, W, c);
    return 0;
}
