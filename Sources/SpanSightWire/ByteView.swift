// UNSAFE: ByteView is the one type in SpanSightWire that reads raw memory. Every public
// accessor is bounds-checked and returns nil instead of trapping; the unchecked `_`-prefixed
// accessors are for views whose checked constructor has already proved the length.
// A ByteView borrows bytes (usually a libpcap buffer): it must not outlive the packet's scope.

/// A borrowed, read-only view of bytes with checked, non-trapping accessors.
@frozen
public struct ByteView {
    public let buffer: UnsafeRawBufferPointer

    @inlinable @inline(__always)
    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    @inlinable @inline(__always)
    public init(start: UnsafeRawPointer?, count: Int) {
        self.buffer = UnsafeRawBufferPointer(start: count > 0 ? start : nil, count: max(0, count))
    }

    @inlinable public static var empty: ByteView { ByteView(UnsafeRawBufferPointer(start: nil, count: 0)) }

    @inlinable public var count: Int { buffer.count }
    @inlinable public var isEmpty: Bool { buffer.count == 0 }

    // MARK: checked accessors (nil when out of range)

    @inlinable @inline(__always)
    public func u8(at offset: Int) -> UInt8? {
        guard offset >= 0, offset < buffer.count else { return nil }
        return _u8(offset)
    }

    @inlinable @inline(__always)
    public func u16(at offset: Int) -> UInt16? {
        guard offset >= 0, offset <= buffer.count - 2 else { return nil }
        return _u16(offset)
    }

    @inlinable @inline(__always)
    public func u16le(at offset: Int) -> UInt16? {
        guard offset >= 0, offset <= buffer.count - 2 else { return nil }
        return _u16le(offset)
    }

    @inlinable @inline(__always)
    public func u32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= buffer.count - 4 else { return nil }
        return _u32(offset)
    }

    @inlinable @inline(__always)
    public func u32le(at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= buffer.count - 4 else { return nil }
        return _u32le(offset)
    }

    /// The sub-view `[offset, offset + count)`, or nil when it does not fit.
    @inlinable @inline(__always)
    public func slice(_ offset: Int, _ length: Int) -> ByteView? {
        guard offset >= 0, length >= 0, offset <= buffer.count, length <= buffer.count - offset else { return nil }
        return _slice(offset, length)
    }

    /// Everything from `offset` on (empty when `offset` is past the end).
    @inlinable @inline(__always)
    public func suffix(from offset: Int) -> ByteView {
        guard offset > 0 else { return self }
        guard offset < buffer.count else { return .empty }
        return _slice(offset, buffer.count - offset)
    }

    /// The first `length` bytes (all of them when `length` is larger).
    @inlinable @inline(__always)
    public func prefix(_ length: Int) -> ByteView {
        guard length < buffer.count else { return self }
        return _slice(0, max(0, length))
    }

    /// Index of the first occurrence of `byte` at or after `from`, or nil.
    @inlinable
    public func firstIndex(of byte: UInt8, from: Int = 0) -> Int? {
        var i = max(0, from)
        while i < buffer.count {
            if _u8(i) == byte { return i }
            i &+= 1
        }
        return nil
    }

    /// Index of the first byte at or after `from` that is `a` or `b`, or `count` when there is
    /// none. Sixteen bytes per step while none matches (a vector compare: SSE2 or NEON), then
    /// eight per step to the match (SWAR: a byte of `x ^ a·0x01…01` is zero where `x` has `a`;
    /// the lowest flagged byte of the zero-byte test is always a true match).
    @inlinable @inline(__always)
    public func index(of a: UInt8, or b: UInt8, from: Int) -> Int {
        let n = buffer.count
        var i = max(0, from)
        guard i < n, let p = buffer.baseAddress else { return n }
        let va = SIMD16<UInt8>(repeating: a), vb = SIMD16<UInt8>(repeating: b)
        while i &+ 16 <= n {
            let v = p.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
            if any((v .== va) .| (v .== vb)) { break }
            i &+= 16
        }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let pa = ones &* UInt64(a), pb = ones &* UInt64(b)
        while i &+ 8 <= n {
            let x = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let xa = x ^ pa, xb = x ^ pb
            let m = ((xa &- ones) & ~xa | (xb &- ones) & ~xb) & highs
            if m != 0 { return i &+ (m.trailingZeroBitCount &>> 3) }
            i &+= 8
        }
        while i < n {
            let c = p.load(fromByteOffset: i, as: UInt8.self)
            if c == a || c == b { return i }
            i &+= 1
        }
        return n
    }

    /// The high bit of each byte of `y` that is zero, and of no other: exact, unlike the
    /// borrow test above (`(y & 0x7F…) + 0x7F…` sets a byte's high bit unless its low seven bits
    /// are zero, and cannot carry into the next byte).
    @inlinable @inline(__always)
    static func zeroBytes(_ y: UInt64) -> UInt64 {
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        return ~(((y & low7) &+ low7) | y) & ~low7
    }

    /// Calls `body(i)` for each byte at or after `from` that is `a`, in order, until `body`
    /// returns true; returns the index it stopped at, or `count` when the bytes ran out. Eight
    /// bytes per step, every match of a step found from the one load (the exact zero-byte
    /// test): for dense delimiters, such as an HL7 header's field separators, where searching
    /// again after each match would load the same bytes again.
    @inlinable
    public func scan(for a: UInt8, from: Int, _ body: (Int) -> Bool) -> Int {
        let n = buffer.count
        var i = max(0, from)
        guard i < n, let p = buffer.baseAddress else { return n }
        let pa = 0x0101_0101_0101_0101 &* UInt64(a)
        while i &+ 8 <= n {
            var m = ByteView.zeroBytes(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ pa)
            while m != 0 {
                let k = i &+ (m.trailingZeroBitCount &>> 3)
                if body(k) { return k }
                m &= m &- 1
            }
            i &+= 8
        }
        while i < n {
            if p.load(fromByteOffset: i, as: UInt8.self) == a, body(i) { return i }
            i &+= 1
        }
        return n
    }

    /// Calls `body` with the bytes as a buffer of UInt8 (no copy).
    @inlinable
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(buffer.bindMemory(to: UInt8.self))
    }

    /// The bytes decoded as UTF-8 (invalid sequences replaced), with no intermediate array: a
    /// text of up to 15 bytes becomes a small String, stored inline (no allocation).
    public var utf8String: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    /// A copy of the bytes (for tests and cold paths only).
    public var array: [UInt8] { Array(buffer) }

    // MARK: unchecked accessors (caller has proved the range)

    @inlinable @inline(__always)
    public func _u8(_ offset: Int) -> UInt8 {
        buffer.baseAddress.unsafelyUnwrapped.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inlinable @inline(__always)
    public func _u16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: buffer.baseAddress.unsafelyUnwrapped.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    public func _u16le(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: buffer.baseAddress.unsafelyUnwrapped.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    public func _u32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: buffer.baseAddress.unsafelyUnwrapped.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    public func _u32le(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: buffer.baseAddress.unsafelyUnwrapped.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    public func _u64(_ offset: Int) -> UInt64 {
        UInt64(bigEndian: buffer.baseAddress.unsafelyUnwrapped.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable @inline(__always)
    public func _slice(_ offset: Int, _ length: Int) -> ByteView {
        ByteView(UnsafeRawBufferPointer(start: buffer.baseAddress.map { $0 + offset }, count: length))
    }
}

extension ByteView {
    /// Runs `body` with a view of `bytes` (test helper and cold paths).
    public static func with<R>(_ bytes: [UInt8], _ body: (ByteView) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body(ByteView($0)) }
    }
}
