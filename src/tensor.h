/* Internal tensors, the bump arena they live in, and the per-call context.
 *
 * Layout: NHWC. A tensor is a view: `d` points at element (n=0, y=0, x=0, ch=0),
 * consecutive pixels are `ld` floats apart (ld >= c), so a channel slice of a wider
 * buffer is itself a tensor: that is how concatenation costs nothing. One image is
 * h*w*ld floats. `g` is the gradient in the same layout, or NULL where none flows.
 * Nothing outside src/ops and the graph (src/graph.c, src/scales.c) depends on this layout. */
#ifndef SUNG_TENSOR_H
#define SUNG_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float *d, *g;
    int n, h, w, c, ld;
} tensor;

static inline size_t t_img(const tensor *t) { return (size_t)t->h * t->w * t->ld; }
static inline size_t t_off(const tensor *t, int n, int y, int x)
{
    return (size_t)n * t_img(t) + ((size_t)y * t->w + x) * t->ld;
}

/* Channels [c0, c0+nc) of t, sharing its memory and its gradient. */
static inline tensor t_slice(tensor t, int c0, int nc)
{
    t.d += c0;
    if (t.g) t.g += c0;
    t.c = nc;
    return t;
}

/* Bump allocator for activations: a list of blocks that only grows. A pass allocates
 * from the blocks in order and arena_reset() rewinds to the first, so once a pass at
 * some size has run, later passes at that size allocate nothing and touch no fresh
 * pages. A new block is at least as large as all earlier ones together. Allocations
 * are 64-byte aligned and followed by 64 bytes of slack (kernels may read, never
 * write, one vector past the last channel of a gradient buffer). */
typedef struct arena_block arena_block;
typedef struct {
    arena_block *first, *cur;
    size_t used;            /* bytes used in cur */
    size_t total;           /* bytes in all blocks */
    int counting;           /* planning: allocations only count (see arena_plan_begin) */
    size_t peak;            /* the most bytes in use at once while counting */
} arena;

void *arena_alloc(arena *a, size_t bytes);  /* NULL when out of memory */
/* Asks for transparent huge pages on the whole 2 MB pages within [p, p + bytes) (a
 * large buffer touched soon, such as a model's parameters as it loads: 512× fewer first-
 * touch page faults); nothing where the system has none. */
void mem_advise_huge(void *p, size_t bytes);
void arena_reset(arena *a);                 /* forget all allocations, keep the memory */
/* Stack discipline inside a pass: arena_release(a, m) frees everything allocated since
 * m = arena_mark(a). */
typedef struct {
    arena_block *cur;
    size_t used;
} arena_pos;
static inline arena_pos arena_mark(const arena *a) { return (arena_pos){a->cur, a->used}; }
static inline void arena_release(arena *a, arena_pos m)
{
    if (a->counting) {
        a->used = m.used;
        return;
    }
    if (!m.cur) { /* marked before the first allocation of the pass */
        a->cur = a->first;
        a->used = 0;
        return;
    }
    a->cur = m.cur;
    a->used = m.used;
}
void arena_free(arena *a);                  /* release everything; zeroed arena is valid */

/* Memory planning: between arena_plan_begin() and arena_plan_end() a pass only counts
 * (arena_alloc returns a non-NULL address that must not be dereferenced; mark and
 * release work as usual). arena_plan_end() then makes sure the first block holds the
 * peak, replacing the blocks with one of that size if not: later passes of that size
 * or smaller then use one block, every touched page of which is needed. Returns -1
 * when out of memory. The arena must hold nothing live. */
void arena_plan_begin(arena *a);
int arena_plan_end(arena *a);

#endif
