#include "tensor.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN 64
#define SLACK 64

struct arena_block {
    arena_block *next;
    char *mem;
};

static size_t round_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

void *arena_alloc(arena *a, size_t bytes)
{
    if (bytes > SIZE_MAX / 2) return NULL;
    size_t need = round_up(bytes + SLACK);
    if (a->used + need <= a->cap) {
        void *p = a->base + a->used;
        a->used += need;
        if (a->used + a->extra_bytes > a->peak) a->peak = a->used + a->extra_bytes;
        return p;
    }
    arena_block *b = malloc(sizeof *b);
    void *mem = NULL;
    if (!b || posix_memalign(&mem, ALIGN, need)) {
        free(b);
        return NULL;
    }
    b->mem = mem;
    b->next = a->extra;
    a->extra = b;
    a->extra_bytes += need;
    if (a->used + a->extra_bytes > a->peak) a->peak = a->used + a->extra_bytes;
    return mem;
}

static void free_extra(arena *a)
{
    while (a->extra) {
        arena_block *b = a->extra;
        a->extra = b->next;
        free(b->mem);
        free(b);
    }
    a->extra_bytes = 0;
}

void arena_reset(arena *a)
{
    free_extra(a);
    a->used = 0;
    if (a->peak > a->cap) {
        void *mem = NULL;
        free(a->base);
        a->base = NULL;
        a->cap = 0;
        if (posix_memalign(&mem, ALIGN, a->peak) == 0) {
            a->base = mem;
            a->cap = a->peak;
        }
        /* on failure the next pass spills into blocks and fails there, cleanly */
    }
}

void arena_free(arena *a)
{
    if (!a) return;
    free_extra(a);
    free(a->base);
    memset(a, 0, sizeof *a);
}
