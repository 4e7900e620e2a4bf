#define _DEFAULT_SOURCE /* madvise(MADV_HUGEPAGE) */
#include "tensor.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN 64
#define SLACK 64
#define HUGE_PAGE (2u << 20)

struct arena_block {
    arena_block *next;
    size_t size;
    char *mem;
};

/* Activations are large and touched once per pass: ask for transparent huge pages,
 * which cuts the first-touch page faults of a fresh block by 512×. */
static void *big_alloc(size_t bytes)
{
    void *mem = NULL;
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : ALIGN;
    if (posix_memalign(&mem, align, bytes)) return NULL;
    if (align == HUGE_PAGE) mem_advise_huge(mem, bytes);
    return mem;
}

void mem_advise_huge(void *p, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t hi = ((uintptr_t)p + bytes) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p, (void)bytes;
#endif
}

void *arena_alloc(arena *a, size_t bytes)
{
    if (bytes > SIZE_MAX / 4) return NULL;
    size_t need = (bytes + SLACK + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (a->counting) {
        a->used += need;
        if (a->used > a->peak) a->peak = a->used;
        return (void *)(uintptr_t)ALIGN;
    }
    for (;;) {
        if (a->cur && a->used + need <= a->cur->size) {
            void *p = a->cur->mem + a->used;
            a->used += need;
            return p;
        }
        if (a->cur && a->cur->next) { /* the next block of an earlier, larger pass */
            a->cur = a->cur->next;
            a->used = 0;
            continue;
        }
        if (!a->cur && a->first) {
            a->cur = a->first;
            a->used = 0;
            continue;
        }
        size_t size = need > a->total ? need : a->total;
        if (size < (1u << 20)) size = 1u << 20;
        arena_block *b = malloc(sizeof *b);
        void *mem = b ? big_alloc(size) : NULL;
        if (!mem) {
            free(b);
            return NULL;
        }
        *b = (arena_block){NULL, size, mem};
        if (a->cur)
            a->cur->next = b;
        else
            a->first = b;
        a->total += size;
        a->cur = b;
        a->used = 0;
    }
}

void arena_reset(arena *a)
{
    a->cur = a->first;
    a->used = 0;
}

static void free_blocks(arena *a)
{
    while (a->first) {
        arena_block *b = a->first;
        a->first = b->next;
        free(b->mem);
        free(b);
    }
    a->cur = NULL;
    a->used = a->total = 0;
}

void arena_free(arena *a)
{
    if (!a) return;
    free_blocks(a);
    memset(a, 0, sizeof *a);
}

void arena_plan_begin(arena *a)
{
    a->counting = 1;
    a->used = a->peak = 0;
    a->cur = NULL;
}

int arena_plan_end(arena *a)
{
    a->counting = 0;
    size_t peak = a->peak;
    if (!a->first || a->first->size < peak) {
        free_blocks(a);
        if (!arena_alloc(a, peak > SLACK ? peak - SLACK : 0)) return -1;
    }
    arena_reset(a);
    return 0;
}
