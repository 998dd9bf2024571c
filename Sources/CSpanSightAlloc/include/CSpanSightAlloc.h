// CSpanSightAlloc: counts heap allocations made by this process, so that `spansight bench`
// can report allocations per packet. It is linked into the command-line tool only.
#ifndef CSPANSIGHT_ALLOC_H
#define CSPANSIGHT_ALLOC_H
#include <stdint.h>

/// Number of allocation calls (malloc, calloc, realloc, posix_memalign, aligned_alloc,
/// memalign, valloc) since the process started.
uint64_t CSpanSightAlloc_count(void);
/// 1 when the counting wrappers are active in this process (they are in glibc builds).
int CSpanSightAlloc_available(void);

#endif
