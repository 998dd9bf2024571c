import SpanSightEngine
import SpanSightWire

/// DNP3 (IEEE 1815-2012) over TCP and UDP: link frames with every CRC checked, transport
/// reassembly per direction and address pair, application fragments with object headers and
/// point values, requests paired with responses. See docs/dnp3.md for the log and anomalies.
public enum DNP3 {
    public static let entry = makeEntry(limits: DNP3Limits())

    /// An entry with other limits (tests, tuning).
    public static func makeEntry(limits: DNP3Limits) -> DissectorEntry {
        DissectorEntry(
            name: "dnp3", transports: [.tcp, .udp], hintPorts: [20000], module: module,
            probe: { bytes, _, info in probe(bytes, info) },
            makeSession: { info in DNP3Session(limits: limits, udp: info.proto == 17) })
    }

    /// Octets of a direction's first bytes searched for a link header.
    static let probeWindow = 2 * DNP3LinkHeader.maxFrameSize

    /// DNP3 when a link header with start octets 0x05 0x64 and a valid header CRC is found
    /// (at the start or, for captures that begin mid-stream, within the first frames' worth of
    /// bytes). Start octets at offset 0 with a bad header CRC match only on port 20000 (the
    /// session then reports the bad frame); elsewhere they ask for more bytes, as does a
    /// candidate that lacks its ten header octets.
    public static func probe(_ v: ByteView, _ info: FlowInfo? = nil) -> ProbeResult {
        if v.isEmpty { return .needMore }
        let limit = min(v.count, probeWindow)
        var from = 0
        var partial = false
        while let i = v.firstIndex(of: 0x05, from: from), i < limit {
            let rest = v.suffix(from: i)
            if rest.count < DNP3LinkHeader.Field.size {
                if rest.count < 2 || rest._u8(1) == 0x64 { partial = true }
            } else if let h = DNP3LinkHeader(rest) {
                if h.crcValid { return .match }
                if i == 0, let info, info.serverPort == 20000 || info.clientPort == 20000 { return .match }
                if v.count < probeWindow { partial = true }
            }
            from = i + 1
        }
        return partial ? .needMore : .noMatch
    }
}

/// Caps of one DNP3 session. Every cap is enforced and reported (see docs/dnp3.md).
public struct DNP3Limits: Sendable {
    /// Largest application fragment rebuilt from transport segments: 63 * 255 octets, the
    /// transport sequence-space bound (suricata-verify dnp3-too-long-reassembly-*); larger
    /// raises dnp3.too_long_reassembly. (Devices commonly use 2048; the corpus carries 8 KiB.)
    public var maxFragmentBytes = 63 * 255
    /// Octets of a request fragment kept until its response arrives (per pending request).
    public var maxStoredRequestBytes = 2048
    /// Requests awaiting a response at once; the oldest is logged unanswered to make room.
    public var maxPendingRequests = 16
    /// Requests without a response before dnp3.flooded (Suricata's default request flood count).
    public var floodThreshold = 32
    /// Address pairs with a fragment in reassembly per direction.
    public var maxReassemblies = 4
    /// Object headers per fragment; more raises dnp3.too_many_objects and ends the walk.
    public var maxObjectsPerFragment = 64
    /// Points one object header may announce before dnp3.too_many_points (a 2048-octet
    /// fragment holds at most 16 352 packed bits, so more is not a real device's data).
    public var maxPointsPerObject = 16_384
    /// Points logged per object (`points_truncated` marks the rest) and per fragment.
    public var maxLoggedPointsPerObject = 256
    public var maxLoggedPointsPerFragment = 2048

    public init() {}
}
