/* Convolution kernels for avx2: see kernels.inc. Compiled with the flags the Makefile
 * gives this file; only called when ops_isa() found the instructions. */
#define VL 8
#define TX 6
#define TA 6
#define SFX avx2
#define NAME_avx2 "avx2"
#include "kernels.inc"
