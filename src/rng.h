/* SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014): the project's one PRNG. The weight init (docs/WEIGHTS.md), the synthetic
 * data (src/synth.c), the data order, crops and flips of `sung train` all draw from it,
 * so a seed means the same thing everywhere. State: one uint64_t; no global state. */
#ifndef SUNG_RNG_H
#define SUNG_RNG_H

#include <math.h>
#include <stdint.h>

/* The SplitMix64 finaliser: a bijective 64-bit mix. */
static inline uint64_t rng_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#define RNG_GOLDEN 0x9E3779B97F4A7C15ull

/* The next 64 random bits. */
static inline uint64_t rng_next(uint64_t *s) { return rng_mix64(*s += RNG_GOLDEN); }

/* Uniform in [0, 1): the top 53 bits. */
static inline double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* Standard normal by Box–Muller, one per two uniforms: sqrt(−2 ln(1 − u1))·cos(2π u2). */
static inline double rng_normal(uint64_t *s)
{
    double u1 = rng_uniform(s), u2 = rng_uniform(s);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586476925 * u2);
}

/* 0..n−1 (n ≥ 1), as next mod n (the bias, below 2^-40 for the n used here, is part of
 * the documented sequence). */
static inline int rng_below(uint64_t *s, int n) { return (int)(rng_next(s) % (uint64_t)n); }

#endif
