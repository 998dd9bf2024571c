// UNSAFE: packet bytes borrowed from the capture layer are written during `write` only.
import SpanSightCapture
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

/// Alert evidence: a classic pcap file (nanosecond timestamps) written through the capture
/// layer's `PcapWriter` into a checked file (replaced whole on success).
public final class EvidencePcapWriter {
    private let file: CheckedFile
    private let pcap: PcapWriter
    public var packets: Int { pcap.packets }

    public init(path: String, linkType: UInt32, snaplen: UInt32 = 262_144) throws(BaselineError) {
        let file: CheckedFile
        do { file = try CheckedFile(path: path, label: "cannot write \(path)", mode: .replace) } catch {
            throw BaselineError(description: error.description)
        }
        self.file = file
        pcap = PcapWriter(linkType: linkType, snaplen: snaplen, precision: .nano) { file.write($0) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, wireLength: Int, nanos: Int64) {
        pcap.packet(bytes, wireLength: wireLength, nanos: nanos)
    }

    /// Finishes the file; the first failed write, if any, is thrown.
    public func close() throws(BaselineError) {
        pcap.flush()
        do { try file.close() } catch { throw BaselineError(description: error.description) }
    }
}
