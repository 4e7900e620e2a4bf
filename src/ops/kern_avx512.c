/* Convolution kernels for avx512: see kernels.inc. Compiled with the flags the Makefile
 * gives this file; only called when ops_isa() found the instructions. */
#define VL 16
#define TX 12
#define TA 12
#define SFX avx512
#define NAME_avx512 "avx512"
#include "kernels.inc"
