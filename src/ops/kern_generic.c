/* Convolution kernels for generic: see kernels.inc. Compiled with the flags the Makefile
 * gives this file; only called when ops_isa() found the instructions. */
#define VL 4
#define TX 6
#define TA 6
#define SFX generic
#define NAME_generic "generic"
#include "kernels.inc"
