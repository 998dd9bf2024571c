// CSpanSightHints: processor hints that Swift does not expose. Header-only (static inline, so
// that the Swift compiler inlines them); hints never change what a program computes.
#ifndef CSPANSIGHT_HINTS_H
#define CSPANSIGHT_HINTS_H

/// Asks the processor to start loading the cache line at `p` for reading. Never faults (a
/// prefetch of an address that is not mapped is dropped), never blocks.
static inline void CSpanSightHints_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

#endif
