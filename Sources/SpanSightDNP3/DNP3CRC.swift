import SpanSightWire

/// The DNP3 link-layer CRC (IEEE 1815-2012 clause 9.2.4.2 and annex E): CRC-16 with generator
/// polynomial 0x3D65, processed LSB first (reflected constant 0xA6BC), initial value 0, result
/// complemented, sent least significant octet first. Table driven: one lookup per byte.
public enum DNP3CRC {
    static let table: [UInt16] = (0..<256).map { i -> UInt16 in
        var c = UInt16(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xA6BC : c >> 1 }
        return c
    }

    /// CRC of `count` bytes of `v` from `offset`; nil when the range does not fit.
    public static func crc(_ v: ByteView, _ offset: Int, _ count: Int) -> UInt16? {
        guard v.slice(offset, count) != nil else { return nil }
        var crc: UInt16 = 0
        table.withUnsafeBufferPointer { t in
            var i = offset
            let end = offset + count
            while i < end {
                crc = (crc >> 8) ^ t[Int(UInt8(truncatingIfNeeded: crc) ^ v._u8(i))]
                i &+= 1
            }
        }
        return ~crc
    }

    /// True when the `count` bytes at `offset` are followed by their little-endian CRC.
    public static func check(_ v: ByteView, _ offset: Int, _ count: Int) -> Bool {
        guard let c = crc(v, offset, count), let wire = v.u16le(at: offset + count) else { return false }
        return c == wire
    }

    /// CRC of a byte array (tests and synthetic frames).
    public static func crc(_ bytes: [UInt8]) -> UInt16 {
        ByteView.with(bytes) { crc($0, 0, $0.count) } ?? 0
    }
}
