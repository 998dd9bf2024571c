// UNSAFE: the page pool owns raw memory for out-of-order TCP data and probe buffers. Pages are
// allocated in chunks up to a hard cap and recycled through a free list, never returned to
// malloc while the pool lives, so steady-state reassembly does not allocate.

/// Fixed-size pages of raw memory, bounded by `maxPages`: the whole pages that fit in
/// `maxBytes` (none when it is smaller than a page), so the pool never holds more than that.
public final class PagePool {
    public let pageSize: Int
    public let maxPages: Int
    private var chunks: [UnsafeMutableRawPointer] = []
    private let pagesPerChunk: Int
    /// Next page in a chain (data spanning pages) or in the free list.
    var nextPage: [Int32] = []
    private var freeHead: Int32 = -1
    public private(set) var pagesInUse = 0
    public private(set) var peakPagesInUse = 0
    public private(set) var pagesAllocated = 0

    public init(pageSize: Int = 2048, maxBytes: Int) {
        self.pageSize = max(256, pageSize)
        self.maxPages = max(0, maxBytes / self.pageSize)
        self.pagesPerChunk = max(1, min(self.maxPages, (256 * 1024) / self.pageSize))
    }

    deinit { for c in chunks { c.deallocate() } }

    public var bytesInUse: Int { pagesInUse * pageSize }

    /// Takes `n` pages chained together; nil when that would pass the cap, or leave fewer
    /// than `keepFree` pages free under it.
    public func take(_ n: Int, keepFree: Int = 0) -> Int32? {
        guard n > 0, pagesInUse + n + keepFree <= maxPages else { return nil }
        var first: Int32 = -1
        var prev: Int32 = -1
        for _ in 0..<n {
            if freeHead < 0 { growChunk() }
            let p = freeHead
            freeHead = nextPage[Int(p)]
            nextPage[Int(p)] = -1
            if prev >= 0 { nextPage[Int(prev)] = p } else { first = p }
            prev = p
        }
        pagesInUse += n
        if pagesInUse > peakPagesInUse { peakPagesInUse = pagesInUse }
        return first
    }

    /// Returns a chain of pages to the free list.
    public func release(_ first: Int32) {
        var p = first
        while p >= 0 {
            let n = nextPage[Int(p)]
            nextPage[Int(p)] = freeHead
            freeHead = p
            pagesInUse -= 1
            p = n
        }
    }

    public func next(_ page: Int32) -> Int32 { nextPage[Int(page)] }

    /// The memory of one page.
    public func pointer(_ page: Int32) -> UnsafeMutableRawPointer {
        let chunk = Int(page) / pagesPerChunk
        let offset = (Int(page) % pagesPerChunk) * pageSize
        return chunks[chunk] + offset
    }

    /// Copies `bytes` into a chain starting at `first`, beginning `offset` bytes into it.
    public func write(_ bytes: ByteViewLike, into first: Int32, at offset: Int) {
        var page = first
        var skip = offset
        while skip >= pageSize && page >= 0 { skip -= pageSize; page = nextPage[Int(page)] }
        var src = 0
        while src < bytes.count && page >= 0 {
            let n = min(pageSize - skip, bytes.count - src)
            (pointer(page) + skip).copyMemory(from: bytes.base + src, byteCount: n)
            src += n
            skip = 0
            page = nextPage[Int(page)]
        }
    }

    /// Adds a chunk of pages to the free list; the last chunk is cut at `maxPages`, so that
    /// the memory allocated stays within the cap too. Called only while pages in use are
    /// below the cap and none is free (so at least one page is added).
    private func growChunk() {
        let n = min(pagesPerChunk, maxPages - pagesAllocated)
        precondition(n > 0, "page pool grown past its cap")
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: n * pageSize, alignment: 16)
        chunks.append(chunk)
        let base = Int32(pagesAllocated)
        nextPage.reserveCapacity(pagesAllocated + n)
        for i in 0..<n {
            nextPage.append(i + 1 < n ? base + Int32(i + 1) : freeHead)
        }
        freeHead = base
        pagesAllocated += n
    }
}

/// A raw byte range to copy from (the pool does not depend on the wire module's view type).
public struct ByteViewLike {
    public let base: UnsafeRawPointer
    public let count: Int
    public init(base: UnsafeRawPointer, count: Int) { self.base = base; self.count = count }
}
