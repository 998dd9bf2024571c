// UNSAFE: the CRC tables are raw memory, allocated once and never freed or written again;
// `crc(_:_:_:)` reads the bytes its checked callers proved in range (`checkBlocks` checks the
// frame's length against all its blocks once).
import SpanSightWire

/// The DNP3 link-layer CRC (IEEE 1815-2012 clause 9.2.4.2 and annex E): CRC-16 with generator
/// polynomial 0x3D65, processed LSB first (reflected constant 0xA6BC), initial value 0, result
/// complemented, sent least significant octet first.
///
/// Slicing-by-8: eight 256-entry tables, so that eight octets cost eight independent lookups
/// instead of a chain of eight dependent ones. Table k maps an octet to its contribution when
/// k more octets follow it; the CRC register (16 bits) is folded into the first two octets.
public enum DNP3CRC {
    /// `8 × 256` entries, table k at `k * 256`; built once and never freed (4 KiB). Hot callers
    /// keep this pointer rather than reading the global (one lazy-initialization check per use).
    /// Written once by the lazy initializer, read-only afterwards: safe to share.
    nonisolated(unsafe) public static let tables: UnsafePointer<UInt16> = {
        let t = UnsafeMutablePointer<UInt16>.allocate(capacity: 8 * 256)
        for i in 0..<256 {
            var c = UInt16(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xA6BC : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return UnsafePointer(t)
    }()

    /// CRC of `count` bytes at `p` (the caller has proved the range).
    @inline(__always)
    static func crc(_ p: UnsafeRawPointer, _ count: Int, _ t: UnsafePointer<UInt16>) -> UInt16 {
        var crc: UInt16 = 0
        var i = 0
        while i &+ 8 <= count {
            let x = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ UInt64(crc)
            let a = t[7 * 256 + Int(x & 0xFF)] ^ t[6 * 256 + Int(x >> 8 & 0xFF)]
            let b = t[5 * 256 + Int(x >> 16 & 0xFF)] ^ t[4 * 256 + Int(x >> 24 & 0xFF)]
            let c = t[3 * 256 + Int(x >> 32 & 0xFF)] ^ t[2 * 256 + Int(x >> 40 & 0xFF)]
            let d = t[256 + Int(x >> 48 & 0xFF)] ^ t[Int(x >> 56)]
            crc = (a ^ b) ^ (c ^ d)
            i &+= 8
        }
        while i < count {
            crc = (crc >> 8) ^ t[Int(UInt8(truncatingIfNeeded: crc) ^ p.load(fromByteOffset: i, as: UInt8.self))]
            i &+= 1
        }
        return ~crc
    }

    /// CRC of `count` bytes of `v` from `offset`; nil when the range does not fit.
    public static func crc(_ v: ByteView, _ offset: Int, _ count: Int, tables: UnsafePointer<UInt16> = DNP3CRC.tables) -> UInt16? {
        guard let s = v.slice(offset, count) else { return nil }
        guard let p = s.buffer.baseAddress else { return ~0 }
        return crc(p, count, tables)
    }

    /// True when the `count` bytes at `offset` are followed by their little-endian CRC.
    @inline(__always)
    public static func check(_ v: ByteView, _ offset: Int, _ count: Int, tables: UnsafePointer<UInt16> = DNP3CRC.tables) -> Bool {
        guard let c = crc(v, offset, count, tables: tables), let wire = v.u16le(at: offset + count) else { return false }
        return c == wire
    }

    /// True when every data block of a frame (16 octets, the last shorter, each followed by its
    /// CRC) carries a valid CRC: one pass over the frame, one range check for all blocks.
    /// `userData` is the header's user data count; false when the frame is shorter than that.
    public static func checkBlocks(_ frame: ByteView, userData n: Int, tables: UnsafePointer<UInt16> = DNP3CRC.tables) -> Bool {
        let blocks = (n + DNP3LinkHeader.blockSize - 1) / DNP3LinkHeader.blockSize
        guard n >= 0, frame.count >= DNP3LinkHeader.Field.size + n + 2 * blocks else { return false }
        guard n > 0, let base = frame.buffer.baseAddress else { return true }
        var p = base + DNP3LinkHeader.Field.size
        var left = n
        while left > 0 {
            let b = min(DNP3LinkHeader.blockSize, left)
            let wire = UInt16(p.load(fromByteOffset: b, as: UInt8.self)) | UInt16(p.load(fromByteOffset: b + 1, as: UInt8.self)) << 8
            if crc(p, b, tables) != wire { return false }
            p += b + 2
            left -= b
        }
        return true
    }

    /// CRC of a byte array (tests and synthetic frames).
    public static func crc(_ bytes: [UInt8]) -> UInt16 {
        ByteView.with(bytes) { crc($0, 0, $0.count) } ?? 0
    }
}
