// UNSAFE: the buffered bytes reach the sink as a scoped buffer pointer, valid only during
// the call.
/// The one writer of classic pcap files (libpcap's format: a 24-byte file header, then a
/// 16-byte record header before each packet, little-endian): alert evidence, synthetic
/// captures and the tests' captures all go through it. It buffers and hands whole chunks to
/// `sink`, so the caller chooses where bytes go (a checked file, memory) and sees its errors.
public final class PcapWriter {
    /// Timestamp resolution, named by the file's magic number.
    public enum Precision: Sendable {
        /// 0xA1B2C3D4: microseconds (what every reader takes).
        case micro
        /// 0xA1B23C4D: nanoseconds (libpcap 1.5+, Wireshark).
        case nano

        var magic: UInt32 { self == .micro ? 0xA1B2_C3D4 : 0xA1B2_3C4D }
        var perSecond: Int64 { self == .micro ? 1_000_000 : 1_000_000_000 }
    }

    public let precision: Precision
    public private(set) var packets = 0
    private let sink: (UnsafeRawBufferPointer) -> Void
    private var buffer: [UInt8] = []
    private let flushAt: Int

    /// Writes the file header to `sink` (through the buffer) at once.
    public init(linkType: UInt32, snaplen: UInt32 = 262_144, precision: Precision, bufferBytes: Int = 1 << 20,
                sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        self.precision = precision
        self.sink = sink
        flushAt = max(64, bufferBytes)
        buffer.reserveCapacity(min(flushAt, 1 << 20) + 16)
        le32(precision.magic)
        le16(2)  // version 2.4
        le16(4)
        le32(0)  // this zone
        le32(0)  // sigfigs
        le32(snaplen)
        le32(linkType)
    }

    /// One packet: its captured bytes, its length on the wire (at least the captured count)
    /// and its time in nanoseconds since the epoch (cut to the file's precision).
    public func packet(_ bytes: UnsafeRawBufferPointer, wireLength: Int, nanos: Int64) {
        let seconds = nanos >= 0 ? nanos / 1_000_000_000 : (nanos - 999_999_999) / 1_000_000_000
        let fraction = (nanos - seconds * 1_000_000_000) / (1_000_000_000 / precision.perSecond)
        le32(UInt32(truncatingIfNeeded: seconds))
        le32(UInt32(truncatingIfNeeded: fraction))
        le32(UInt32(truncatingIfNeeded: bytes.count))
        le32(UInt32(truncatingIfNeeded: max(wireLength, bytes.count)))
        buffer.append(contentsOf: bytes)
        packets += 1
        if buffer.count >= flushAt { flush() }
    }

    public func packet(_ frame: [UInt8], wireLength: Int? = nil, nanos: Int64) {
        frame.withUnsafeBytes { packet($0, wireLength: wireLength ?? frame.count, nanos: nanos) }
    }

    /// Hands what is buffered to the sink.
    public func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { sink($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }

    /// A whole capture in memory (tests, small files).
    public static func data(linkType: UInt32 = 1, snaplen: UInt32 = 262_144, precision: Precision = .micro,
                            packets: [(nanos: Int64, bytes: [UInt8], wireLength: Int)]) -> [UInt8] {
        var out: [UInt8] = []
        do {
            let w = PcapWriter(linkType: linkType, snaplen: snaplen, precision: precision) { out.append(contentsOf: $0) }
            for p in packets { w.packet(p.bytes, wireLength: p.wireLength, nanos: p.nanos) }
            w.flush()
        }
        return out
    }

    private func le32(_ v: UInt32) {
        buffer.append(UInt8(truncatingIfNeeded: v))
        buffer.append(UInt8(truncatingIfNeeded: v >> 8))
        buffer.append(UInt8(truncatingIfNeeded: v >> 16))
        buffer.append(UInt8(truncatingIfNeeded: v >> 24))
    }

    private func le16(_ v: UInt16) {
        buffer.append(UInt8(truncatingIfNeeded: v))
        buffer.append(UInt8(truncatingIfNeeded: v >> 8))
    }
}
