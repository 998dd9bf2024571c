// CSpanSightHints: processor, allocator and C library facts that Swift does not expose. Header-only
// (static inline, so that the Swift compiler inlines them); they never change what a program
// computes.
#ifndef CSPANSIGHT_HINTS_H
#define CSPANSIGHT_HINTS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* memmem */
#endif
#include <malloc.h>
#include <string.h>
#include <stddef.h>

/// Asks the processor to start loading the cache line at `p` for reading. Never faults (a
/// prefetch of an address that is not mapped is dropped), never blocks.
static inline void CSpanSightHints_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

/// Bytes the allocator reserved for the block at `p` (malloc_usable_size): what a heap object
/// costs, for the memory budget.
static inline size_t CSpanSightHints_usableSize(void *p) {
    return malloc_usable_size(p);
}

/// Bytes allocated from the heap now (glibc's mallinfo2: in use by the program, in both the
/// main arena and mmapped chunks): what tests compare the memory budget's accounting with.
static inline size_t CSpanSightHints_heapInUse(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/// Where `needle` first occurs in `haystack` (glibc's memmem, which Swift's Glibc does not
/// export), or NULL: the MAC vendor lookup's row search.
static inline const void *CSpanSightHints_find(const void *haystack, size_t length, const void *needle, size_t needleLength) {
    return memmem(haystack, length, needle, needleLength);
}

#endif
