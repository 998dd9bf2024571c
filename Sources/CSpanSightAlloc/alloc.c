// Counting wrappers around glibc's allocator. Defining malloc and friends in the executable
// interposes them for every library in the process; each wrapper bumps a relaxed atomic
// counter and forwards to glibc's own entry points (__libc_*), so the memory itself is still
// glibc's and malloc_usable_size, fork and threads behave as usual.
#include <stddef.h>
#include <features.h>
// Not under AddressSanitizer (`swift test --sanitize=address`): its runtime owns malloc and
// free, and memory it hands out must not reach glibc's free. Counts are then unavailable.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPANSIGHT_ALLOC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SPANSIGHT_ALLOC_ASAN 1
#endif
#if defined(__linux__) && defined(__GLIBC__) && !defined(SPANSIGHT_ALLOC_ASAN)
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include "CSpanSightAlloc.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static uint64_t spansight_alloc_calls;

static inline void count_one(void) { __atomic_fetch_add(&spansight_alloc_calls, 1, __ATOMIC_RELAXED); }

void *malloc(size_t n) { count_one(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count_one(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count_one(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t al, size_t n) { count_one(); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { count_one(); return __libc_memalign(al, n); }
void *valloc(size_t n) { count_one(); return __libc_memalign(4096, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    if (al < sizeof(void *) || (al & (al - 1)) != 0) return EINVAL;
    count_one();
    void *p = __libc_memalign(al, n);
    if (p == NULL && n != 0) return ENOMEM;
    *out = p;
    return 0;
}

uint64_t CSpanSightAlloc_count(void) { return __atomic_load_n(&spansight_alloc_calls, __ATOMIC_RELAXED); }
int CSpanSightAlloc_available(void) { return 1; }
#else
#include "CSpanSightAlloc.h"
uint64_t CSpanSightAlloc_count(void) { return 0; }
int CSpanSightAlloc_available(void) { return 0; }
#endif
