/// A capture read into memory: every packet's bytes in one buffer, plus per-packet records.
/// For measurements that must not time libpcap (`spansight bench`, the allocation benchmarks).
public struct LoadedCapture {
    /// All packets' captured bytes, back to back.
    public var storage: [UInt8] = []
    /// Where each packet starts in `storage`.
    public var offsets: [Int] = []
    /// Captured length of each packet.
    public var lengths: [Int] = []
    public var wireLengths: [Int] = []
    public var timestamps: [Int64] = []
    public var linkType: LinkType = .ethernet
    public var count: Int { offsets.count }

    public init() {}

    /// Reads every packet of a pcap or pcapng file.
    public static func load(_ path: String) throws(CaptureError) -> LoadedCapture {
        let h = try PcapHandle.openOffline(path: path)
        var c = LoadedCapture()
        c.linkType = h.linkType
        var p = CapturedPacket()
        loop: while true {
            switch h.next(&p) {
            case .packet:
                c.offsets.append(c.storage.count)
                c.lengths.append(p.bytes.count)
                c.wireLengths.append(p.wireLength)
                c.timestamps.append(p.timestampNanos)
                c.storage.append(contentsOf: p.bytes)
            case .end, .interrupted: break loop
            case .timeout: continue
            case .error(let m): throw CaptureError(.truncated, "\(path): \(m)")
            }
        }
        return c
    }
}
