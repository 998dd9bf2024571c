// UNSAFE: the event buffer owns raw memory (grown by doubling, reused for every event) so
// that appending a byte is a capacity check and a store: no copy-on-write check, no generic
// Array path, no allocation once grown.

/// A growable byte buffer with reference semantics (copies of a JSONWriter share it).
public final class OutputStorage {
    var base: UnsafeMutablePointer<UInt8>
    var count = 0
    var capacity: Int

    init(capacity: Int) {
        self.capacity = max(64, capacity)
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inline(__always)
    func reserve(_ extra: Int) {
        if count &+ extra > capacity { grow(count + extra) }
    }

    @inline(never)
    func grow(_ need: Int) {
        var c = capacity * 2
        while c < need { c *= 2 }
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        b.update(from: base, count: count)
        base.deallocate()
        base = b
        capacity = c
    }
}

/// The bytes of the events being built: appends go straight to memory.
public struct OutputBuffer: RandomAccessCollection {
    let storage: OutputStorage

    public init(capacity: Int) { storage = OutputStorage(capacity: capacity) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.count }
    public subscript(i: Int) -> UInt8 {
        precondition(i >= 0 && i < storage.count, "OutputBuffer index out of range")
        return storage.base[i]
    }

    @inline(__always)
    public mutating func append(_ b: UInt8) {
        let s = storage
        if s.count == s.capacity { s.reserve(1) }
        s.base[s.count] = b
        s.count &+= 1
    }

    @inline(__always)
    public mutating func append(contentsOf p: UnsafeBufferPointer<UInt8>) {
        guard let src = p.baseAddress, p.count > 0 else { return }
        let s = storage
        s.reserve(p.count)
        (s.base + s.count).update(from: src, count: p.count)
        s.count &+= p.count
    }

    public mutating func append(contentsOf p: UnsafeRawBufferPointer) {
        append(contentsOf: p.bindMemory(to: UInt8.self))
    }

    public mutating func append(contentsOf a: [UInt8]) {
        a.withUnsafeBufferPointer { append(contentsOf: $0) }
    }

    /// Room for `n` more bytes: where they go. `advance` then says how many were written
    /// (at most `n`). For the writer's hot paths: no closure to call.
    @inline(__always)
    mutating func tail(reserving n: Int) -> UnsafeMutablePointer<UInt8> {
        let s = storage
        s.reserve(n)
        return s.base + s.count
    }

    @inline(__always)
    mutating func advance(_ k: Int) { storage.count &+= k }

    /// Writes up to `n` bytes through `body`, which returns how many it wrote.
    @inline(__always)
    mutating func write(upTo n: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        let s = storage
        s.reserve(n)
        s.count &+= body(s.base + s.count)
    }

    public mutating func removeAll(keepingCapacity: Bool = true) { storage.count = 0 }
    /// Drops everything after the first `n` bytes (an event not to be written).
    mutating func truncate(to n: Int) { if n >= 0 && n < storage.count { storage.count = n } }

    /// The bytes as one buffer (valid until the next append).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: storage.count))
    }

    /// A copy (tests, cold paths).
    public var array: [UInt8] { Array(UnsafeBufferPointer(start: storage.base, count: storage.count)) }
}
