import Foundation
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest
@testable import SpanSightDNP3

/// Builds DNP3 link frames and drives the engine with them (Ethernet/IPv4 frames in memory).
enum DNP3Build {
    static func crcBytes(_ b: [UInt8]) -> [UInt8] {
        let c = DNP3CRC.crc(b)
        return [UInt8(c & 0xFF), UInt8(c >> 8)]
    }

    /// A link frame: header + CRC, then user data in 16-octet blocks each followed by its CRC.
    static func frame(dst: UInt16, src: UInt16, control: UInt8, userData: [UInt8], length: UInt8? = nil) -> [UInt8] {
        let h: [UInt8] = [0x05, 0x64, length ?? UInt8(5 + userData.count), control,
                          UInt8(dst & 0xFF), UInt8(dst >> 8), UInt8(src & 0xFF), UInt8(src >> 8)]
        var out = h + crcBytes(h)
        var i = 0
        while i < userData.count {
            let block = Array(userData[i..<min(i + 16, userData.count)])
            out += block + crcBytes(block)
            i += 16
        }
        return out
    }

    /// Frames carrying one application fragment, cut into transport segments of at most
    /// `segment` application octets (249 on a full frame).
    static func fragment(dst: UInt16, src: UInt16, control: UInt8 = 0xC4, app: [UInt8], segment: Int = 249,
                         firstSequence: UInt8 = 0) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        var seq = firstSequence
        repeat {
            let chunk = Array(app[i..<min(i + segment, app.count)])
            var th = seq & 0x3F
            if i == 0 { th |= 0x40 }
            if i + segment >= app.count { th |= 0x80 }
            out += frame(dst: dst, src: src, control: control, userData: [th] + chunk)
            i += segment
            seq = (seq + 1) & 0x3F
        } while i < app.count
        return out
    }

    /// A request from master 1 to outstation 10 (DIR=1, PRM=1, unconfirmed user data).
    static func request(_ app: [UInt8], segment: Int = 249) -> [UInt8] {
        fragment(dst: 10, src: 1, control: 0xC4, app: app, segment: segment)
    }

    /// A response from outstation 10 to master 1 (DIR=0, PRM=1, unconfirmed user data).
    static func response(_ app: [UInt8], segment: Int = 249) -> [UInt8] {
        fragment(dst: 1, src: 10, control: 0x44, app: app, segment: segment)
    }
}

/// The session's entry points as the split-invariance verifier drives them. It has no gap
/// entry point generic over the sink (its gap takes the engine's context), so a gap fails.
extension DNP3Session: SinkDrivenSession {
    public func receive<S: DissectorSink>(_ bytes: ByteView, direction: Direction, sink: inout S) { feed(bytes, direction, &sink) }
    public func gap<S: DissectorSink>(_ length: Int, direction: Direction, sink: inout S) {
        XCTFail("DNP3Session takes a gap only with the engine's context")
    }
    public func finish<S: DissectorSink>(sink: inout S) { end(&sink) }
}

/// Runs byte streams through an engine with the DNP3 dissector and returns the DNP3 and
/// anomaly events with the volatile envelope fields removed, as sorted-key JSON strings.
enum DNP3Run {
    static let client = "10.0.0.1", server = "10.0.0.2"
    static let clientPort: UInt16 = 40000, serverPort: UInt16 = 20000

    /// `segments`: (from client?, bytes) in wire order over one TCP connection.
    static func tcp(_ segments: [(Bool, [UInt8])], entry: DissectorEntry = DNP3.entry) -> [String] {
        normalize(tcpLines(segments, entry: entry))
    }

    /// The engine's lines as written (no normalisation: number forms as they are), each packet
    /// 1 ms after the previous one.
    static func tcpLines(_ segments: [(Bool, [UInt8])], entry: DissectorEntry = DNP3.entry) -> [String] {
        let h = EngineHarness(dissectors: [entry])
        var cseq: UInt32 = 1000, sseq: UInt32 = 5000
        h.feed(PacketBuilder.tcp(src: client, sport: clientPort, dst: server, dport: serverPort, seq: cseq, flags: PacketBuilder.syn))
        h.feed(PacketBuilder.tcp(src: server, sport: serverPort, dst: client, dport: clientPort, seq: sseq, ack: cseq + 1,
                                 flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        cseq += 1; sseq += 1
        h.feed(PacketBuilder.tcp(src: client, sport: clientPort, dst: server, dport: serverPort, seq: cseq, ack: sseq, flags: PacketBuilder.ackFlag))
        for (fromClient, bytes) in segments where !bytes.isEmpty {
            if fromClient {
                h.feed(PacketBuilder.tcp(src: client, sport: clientPort, dst: server, dport: serverPort, seq: cseq, ack: sseq,
                                         flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: bytes))
                cseq &+= UInt32(bytes.count)
            } else {
                h.feed(PacketBuilder.tcp(src: server, sport: serverPort, dst: client, dport: clientPort, seq: sseq, ack: cseq,
                                         flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: bytes))
                sseq &+= UInt32(bytes.count)
            }
        }
        return h.finish()
    }

    /// One datagram per element over one UDP flow.
    static func udp(_ datagrams: [(Bool, [UInt8])], entry: DissectorEntry = DNP3.entry) -> [String] {
        let h = EngineHarness(dissectors: [entry])
        for (fromClient, bytes) in datagrams {
            if fromClient {
                h.feed(PacketBuilder.udp(src: client, sport: clientPort, dst: server, dport: serverPort, payload: bytes))
            } else {
                h.feed(PacketBuilder.udp(src: server, sport: serverPort, dst: client, dport: clientPort, payload: bytes))
            }
        }
        return normalize(h.finish())
    }

    static func normalize(_ lines: [String]) -> [String] {
        lines.compactMap { line -> String? in
            guard var o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                return "INVALID JSON: \(line)"
            }
            let t = o["event_type"] as? String
            guard t == "dnp3" || t == "anomaly" else { return nil }
            for k in ["timestamp", "pcap_cnt", "flow_id"] { o.removeValue(forKey: k) }
            guard let d = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else { return nil }
            return String(decoding: d, as: UTF8.self)
        }
    }

    static func objects(_ lines: [String]) -> [[String: Any]] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    static func anomalies(_ lines: [String]) -> [String] {
        objects(lines).compactMap(anomalyName)
    }

    /// The stable full name of an anomaly event ("dnp3.bad_link_crc"): `anomaly.name` where
    /// the envelope carries Suricata's bare `event` beside it, else `anomaly.event`.
    static func anomalyName(_ event: [String: Any]) -> String? {
        guard let a = event["anomaly"] as? [String: Any] else { return nil }
        return a["name"] as? String ?? a["event"] as? String
    }

    static func dnp3(_ lines: [String]) -> [[String: Any]] {
        objects(lines).compactMap { $0["dnp3"] as? [String: Any] }
    }

    /// The dnp3 events whole (envelope included).
    static func dnp3Events(_ lines: [String]) -> [[String: Any]] {
        objects(lines).filter { $0["event_type"] as? String == "dnp3" }
    }
}

/// Typed access to a parsed event's nested members, for assertions.
extension Dictionary where Key == String, Value == Any {
    func object(_ k: String) -> [String: Any]? { self[k] as? [String: Any] }
    func objects(_ k: String) -> [[String: Any]] { self[k] as? [[String: Any]] ?? [] }
    func int(_ k: String) -> Int? { self[k] as? Int }
    func string(_ k: String) -> String? { self[k] as? String }
}
