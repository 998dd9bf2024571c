// UNSAFE: anomaly names are counted by their StaticString's address (`utf8Start`, compared,
// never read).
import SpanSightWire

/// Run counters, shared by the engine and the dissector sessions. Plain stored integers:
/// the engine runs on one thread.
public final class EngineCounters {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public var ipv4: UInt64 = 0
    public var ipv6: UInt64 = 0
    public var tcp: UInt64 = 0
    public var udp: UInt64 = 0
    public var icmp: UInt64 = 0
    public var otherIP: UInt64 = 0
    public var nonIP: UInt64 = 0
    public var fragments: UInt64 = 0
    /// Packets whose headers were short, lying or impossible.
    public var decodeErrors: UInt64 = 0
    /// Decode errors by stable name ("ipv4.bad_length", "tcp.bad_option", ...).
    public var decodeErrorsByName: [String: UInt64] {
        var byName: [String: UInt64] = [:]
        for layer in WireLayer.allCases {
            for kind in WireError.kindNames.indices {
                let n = decodeErrorCounts[Int(layer.rawValue) * WireError.kindNames.count + kind]
                if n > 0 { byName[WireError.name(layer: layer, kind: kind)] = n }
            }
        }
        return byName
    }
    /// Decode errors by layer and kind, counted without building their names (a hostile
    /// capture of malformed packets costs an add per packet, no allocation).
    private var decodeErrorCounts = InlineArray<64, UInt64>(repeating: 0)
    /// Packets cut by the snaplen.
    public var snaplenCut: UInt64 = 0

    public var flowsCreated: UInt64 = 0
    public var flowsTimedOut: UInt64 = 0
    public var flowsEvicted: UInt64 = 0
    public var flowsEnded: UInt64 = 0
    /// Flows ended by a new connection (SYN) on the same addresses and ports.
    public var flowsReused: UInt64 = 0
    public var tcpFlows: UInt64 = 0
    public var udpFlows: UInt64 = 0

    public var tcpSegmentsInOrder: UInt64 = 0
    public var tcpSegmentsOutOfOrder: UInt64 = 0
    /// Segments entirely behind the stream whose bytes were all delivered already.
    public var tcpRetransmissions: UInt64 = 0
    /// Segments entirely behind the stream that fall in holes given up as gaps (their bytes
    /// were never delivered): late, not retransmitted (`stats.tcp.segments_late`).
    public var tcpSegmentsLate: UInt64 = 0
    public var tcpOverlaps: UInt64 = 0
    public var reassemblyGaps: UInt64 = 0
    public var reassemblyGapBytes: UInt64 = 0
    /// Out-of-order data dropped because a per-flow or global cap was reached.
    public var reassemblyCapHits: UInt64 = 0
    public var reassemblyMemoryPeak: UInt64 = 0

    /// Most dissectors counted in `pdusByDissector`.
    @usableFromInline static let maxDissectors = 16
    /// Per-dissector PDU counts, stored inline: counting a PDU is one add (no array
    /// uniqueness check, no allocation).
    @usableFromInline var pduCounts = InlineArray<16, UInt64>(repeating: 0)

    /// PDUs parsed per dissector (registry order): Modbus ADUs, DNP3 link frames, ...
    public var pdusByDissector: [UInt64] { pduCounts.indices.map { pduCounts[$0] } }

    /// Transactions numbered per dissector (Suricata's `app_layer.tx.<proto>`).
    @usableFromInline var txCounts = InlineArray<16, UInt64>(repeating: 0)
    public var transactionsByDissector: [UInt64] { txCounts.indices.map { txCounts[$0] } }

    public var anomalies: UInt64 = 0
    /// Anomalies by stable name ("modbus.invalid_length", ...).
    public var anomaliesByName: [String: UInt64] {
        var byName: [String: UInt64] = [:]
        for entry in anomalyCounts.values { byName[entry.name.description, default: 0] += entry.count }
        return byName
    }
    /// Anomaly counts keyed by where the name's bytes are, so that counting one allocates nothing
    /// (a String made from a name longer than 15 bytes is a heap copy). The same name from two
    /// modules may be two entries; `anomaliesByName` adds them up.
    private var anomalyCounts: [UInt: (name: StaticString, count: UInt64)] = [:]
    /// Flows per app_proto ("none" for unrecognised).
    public var flowsByApp: [String: UInt64] = [:]
    /// Flows whose every probe declined them, TCP and UDP (Suricata's `app_layer.flow.failed_tcp`/`failed_udp`).
    public var flowsFailedTCP: UInt64 = 0
    public var flowsFailedUDP: UInt64 = 0

    /// Live capture: kernel/libpcap counters (`captureLive` once read; files have none, and
    /// `stats.capture` is then left out, as Suricata does in pcap-file mode).
    public var captureLive = false
    public var captureReceived: UInt64 = 0
    public var captureDropped: UInt64 = 0
    public var captureInterfaceDropped: UInt64 = 0

    public init() {
        precondition(WireLayer.allCases.count * WireError.kindNames.count <= 64, "decode error counters too few")
    }

    @inlinable
    func countPDU(_ dissector: Int) {
        if dissector >= 0 && dissector < Self.maxDissectors { pduCounts[dissector] &+= 1 }
    }

    @inlinable
    func countTransaction(_ dissector: Int) {
        if dissector >= 0 && dissector < Self.maxDissectors { txCounts[dissector] &+= 1 }
    }

    func countAnomaly(_ name: StaticString) {
        let key = name.hasPointerRepresentation ? UInt(bitPattern: name.utf8Start) : UInt(name.unicodeScalar.value)
        if let i = anomalyCounts.index(forKey: key) {
            anomalyCounts.values[i].count &+= 1
        } else {
            anomalyCounts[key] = (name, 1)
        }
    }

    func countDecodeError(_ e: WireError) {
        decodeErrors &+= 1
        decodeErrorCounts[Int(e.layer.rawValue) * WireError.kindNames.count + e.kind] &+= 1
    }
}
