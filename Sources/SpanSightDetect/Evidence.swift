// UNSAFE: writes packet bytes borrowed from the capture layer to a file with stdio; the bytes
// are used only during `write` and never kept.
import SpanSightEngine
import SpanSightWire

/// Which packets belong to alerted flows: a flow's 5-tuple and VLAN ids in either direction,
/// within its time span.
public struct EvidenceMatcher {
    struct Key: Hashable {
        var a: IPAddress, b: IPAddress
        var ap: UInt16, bp: UInt16
        var proto: UInt8
        var vlanOuter: UInt16, vlanInner: UInt16
    }
    private var spans: [Key: [(Int64, Int64)]] = [:]

    public init(_ flows: [EvidenceFlow]) {
        for f in flows {
            let k = Key(a: f.key.client, b: f.key.server, ap: f.key.clientPort, bp: f.key.serverPort, proto: f.key.proto,
                        vlanOuter: f.key.vlanOuter, vlanInner: f.key.vlanInner)
            spans[k, default: []].append((f.firstNanos, f.lastNanos))
        }
    }

    public var isEmpty: Bool { spans.isEmpty }

    /// True when the decoded packet at `nanos` belongs to an alerted flow.
    public func matches(_ p: DecodedPacket, nanos: Int64) -> Bool {
        guard p.ipProto == 6 || p.ipProto == 17 else { return false }
        let outer = p.vlanCount > 0 ? p.vlanOuter : 0, inner = p.vlanCount > 1 ? p.vlanInner : 0
        let forward = Key(a: p.source, b: p.destination, ap: p.sourcePort, bp: p.destinationPort, proto: p.ipProto,
                          vlanOuter: outer, vlanInner: inner)
        let backward = Key(a: p.destination, b: p.source, ap: p.destinationPort, bp: p.sourcePort, proto: p.ipProto,
                           vlanOuter: outer, vlanInner: inner)
        for k in [forward, backward] {
            if let list = spans[k], list.contains(where: { $0.0 <= nanos && nanos <= $0.1 }) { return true }
        }
        return false
    }
}

/// A classic pcap file (nanosecond timestamps), written with stdio.
public final class EvidencePcapWriter {
    private let file: CheckedFile
    public private(set) var packets = 0

    public init(path: String, linkType: UInt32, snaplen: UInt32 = 262_144) throws(BaselineError) {
        do { file = try CheckedFile(path: path, label: "cannot write \(path)", mode: .replace) } catch {
            throw BaselineError(description: error.description)
        }
        var h: [UInt8] = []
        EvidencePcapWriter.le32(0xA1B2_3C4D, &h)  // nanosecond-resolution magic
        EvidencePcapWriter.le16(2, &h)
        EvidencePcapWriter.le16(4, &h)
        EvidencePcapWriter.le32(0, &h)
        EvidencePcapWriter.le32(0, &h)
        EvidencePcapWriter.le32(snaplen, &h)
        EvidencePcapWriter.le32(linkType, &h)
        file.write(h)
    }

    static func le32(_ v: UInt32, _ b: inout [UInt8]) { for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    static func le16(_ v: UInt16, _ b: inout [UInt8]) { b.append(UInt8(v & 0xFF)); b.append(UInt8(v >> 8)) }

    public func write(_ bytes: UnsafeRawBufferPointer, wireLength: Int, nanos: Int64) {
        var h: [UInt8] = []
        h.reserveCapacity(16)
        EvidencePcapWriter.le32(UInt32(truncatingIfNeeded: nanos / 1_000_000_000), &h)
        EvidencePcapWriter.le32(UInt32(truncatingIfNeeded: nanos % 1_000_000_000), &h)
        EvidencePcapWriter.le32(UInt32(bytes.count), &h)
        EvidencePcapWriter.le32(UInt32(truncatingIfNeeded: wireLength), &h)
        file.write(h)
        file.write(bytes)
        packets += 1
    }

    /// Finishes the file; the first failed write, if any, is thrown.
    public func close() throws(BaselineError) {
        do { try file.close() } catch { throw BaselineError(description: error.description) }
    }
}
