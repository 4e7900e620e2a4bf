/* Convolution kernels for avx512 with avx512_bf16: the avx512 set plus the bf16 pair
 * kernels (see kernels.inc). Only called when ops_isa() found the instructions. */
#define VL 16
#define TX 12
#define TA 12
#define BF16 1
#define SFX avx512bf16
#define NAME_avx512bf16 "avx512+bf16"
#include "kernels.inc"
