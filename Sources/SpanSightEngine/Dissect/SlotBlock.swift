// UNSAFE: `SlotBlock` owns one raw block (noncopyable, freed in its deinit). Slot i spans
// `stride` bytes at `base + i * stride`: an initialised `Record` (a plain value:
// `BitwiseCopyable`, so growing the block is a byte copy and freeing it needs no
// deinitialisation), then `bytesPerSlot` bytes that the owner writes and reads within that
// bound. Every slot index is range-checked.
import SpanSightWire

/// Per-flow tables of a dissector (open requests, pending messages): fixed records, each with
/// a bounded copy of bytes beside it, in one block. A record and its bytes share cache lines,
/// and a table is one allocation, not an array of records plus an arena: with thousands of
/// flows interleaved, every separate object is one more cache miss per PDU. The block grows
/// by doubling, from one slot, up to `capacity` slots; once grown, nothing allocates.
public struct SlotBlock<Record: BitwiseCopyable>: ~Copyable {
    /// Most slots.
    public let capacity: Int
    /// Bytes kept beside each record.
    public let bytesPerSlot: Int
    let recordBytes: Int
    let stride: Int
    private var base: UnsafeMutableRawPointer?
    /// Slots allocated so far (each holds an initialised record).
    public private(set) var count = 0
    /// Where the block charges its bytes (a session's `memory`), and the kind it charges:
    /// growing asks first, and a refusal makes `append` return nil as if the block were full.
    public var account: MemoryAccount?
    public var kind = MemoryKind.transactions

    public init(capacity: Int, bytesPerSlot: Int) {
        self.capacity = max(1, capacity)
        self.bytesPerSlot = max(0, bytesPerSlot)
        let align = max(16, MemoryLayout<Record>.alignment)
        recordBytes = (MemoryLayout<Record>.stride + align - 1) & ~(align - 1)
        stride = recordBytes + ((self.bytesPerSlot + align - 1) & ~(align - 1))
    }

    deinit {
        base?.deallocate()
        account?.release(kind, allocatedBytes)
    }

    /// Bytes of the block (what it has charged).
    public var allocatedBytes: Int { allocated * stride }

    /// Frees every slot and the block itself (state shed to stay within the memory budget).
    public mutating func removeAll() {
        base?.deallocate()
        base = nil
        account?.release(kind, allocatedBytes)
        allocated = 0
        count = 0
    }

    /// True when every slot is allocated.
    public var isFull: Bool { count >= capacity }

    /// Adds a slot holding `record`; its index, or nil when `capacity` slots exist or the
    /// memory budget refused the block's growth.
    public mutating func append(_ record: Record) -> Int? {
        guard count < capacity else { return nil }
        if count == allocated {
            guard grow() else { return nil }
        }
        (base.unsafelyUnwrapped + count * stride).bindMemory(to: Record.self, capacity: 1).initialize(to: record)
        count += 1
        return count - 1
    }

    private var allocated = 0

    /// Makes room for `n` slots (at most `capacity`) at once: for a table that, once past its
    /// first slot, is likely to fill (growing by doubling would copy it five times).
    /// False when the memory budget refused it.
    @discardableResult
    public mutating func reserve(_ n: Int) -> Bool {
        if min(n, capacity) > allocated { return grow(to: min(n, capacity)) }
        return true
    }

    /// True when `append` will succeed: a slot is allocated but unused, or the block may
    /// grow (it grows now, by doubling, if the memory budget allows).
    public mutating func makeRoom() -> Bool {
        guard count < capacity else { return false }
        return count < allocated || grow()
    }

    private mutating func grow() -> Bool { grow(to: allocated == 0 ? 1 : min(allocated * 2, capacity)) }

    private mutating func grow(to n: Int) -> Bool {
        if let account, !account.charge(kind, (n - allocated) * stride) { return false }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: n * stride, alignment: max(16, MemoryLayout<Record>.alignment))
        if let base {
            bigger.copyMemory(from: base, byteCount: count * stride)
            base.deallocate()
            for i in 0..<count { _ = (bigger + i * stride).bindMemory(to: Record.self, capacity: 1) }
        }
        base = bigger
        allocated = n
        return true
    }

    /// The record of slot `i`, in place.
    public func record(_ i: Int) -> UnsafeMutablePointer<Record> {
        precondition(i >= 0 && i < count, "slot out of range")
        return (base.unsafelyUnwrapped + i * stride).assumingMemoryBound(to: Record.self)
    }

    public subscript(_ i: Int) -> Record {
        get { record(i).pointee }
        nonmutating _modify { yield &record(i).pointee }
    }

    /// The slot whose record passes `include` with the smallest `key` (the first of equals);
    /// nil when none passes. Tables find their oldest entry with it.
    @inlinable
    public func minimum(where include: (Record) -> Bool, by key: (Record) -> UInt64) -> Int? {
        var best = -1
        var bestKey = UInt64.max
        for i in 0..<count {
            let r = record(i).pointee
            if include(r) && (best < 0 || key(r) < bestKey) {
                best = i
                bestKey = key(r)
            }
        }
        return best >= 0 ? best : nil
    }

    /// The `bytesPerSlot` bytes beside slot `i`'s record.
    public func bytes(_ i: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(record(i)) + recordBytes
    }

    /// Copies at most `bytesPerSlot` bytes of `v` beside slot `i`'s record; the count copied.
    public func store(_ i: Int, _ v: ByteView) -> Int {
        let n = min(v.count, bytesPerSlot)
        if n > 0, let src = v.buffer.baseAddress { bytes(i).copyMemory(from: src, byteCount: n) }
        return n
    }

    /// The first `n` stored bytes of slot `i` (n at most `bytesPerSlot`).
    public func view(_ i: Int, count n: Int) -> ByteView {
        ByteView(start: UnsafeRawPointer(bytes(i)), count: min(max(0, n), bytesPerSlot))
    }
}
