import Foundation
import SpanSightEngine
@testable import SpanSightS7comm
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Recognition (docs/s7comm.md): S7comm on any port by its bytes; other ISO-on-TCP protocols
/// (RDP, MMS, S7comm-plus) refused with a reason; ordinary traffic never refused.
final class S7commProbeTests: XCTestCase {
    typealias B = S7Bytes

    func probe(_ b: [UInt8]) -> ProbeResult { ByteView.with(b) { S7comm.probe($0) } }
    static func refused(_ a: Anomaly, _ field: StaticString, _ v: Int) -> ProbeResult {
        .rejected(ProbeRejection(a.name, field: field, value: v))
    }

    static let setup = B.dt(B.s7(1, ref: 0, param: B.setup()))

    func testS7commIsRecognised() {
        XCTAssertEqual(probe(B.connect() + Self.setup), .match, "CR then the setup job")
        XCTAssertEqual(probe(B.connect(cc: true) + B.dt(B.s7(3, ref: 0, param: B.setup()))), .match, "CC then its answer")
        XCTAssertEqual(probe(Self.setup), .match, "mid-stream: a DT with an S7 PDU")
        XCTAssertEqual(probe(B.dt([], eot: true) + Self.setup), .match, "an empty DT first")
        XCTAssertEqual(probe(B.connect()), .needMore, "a connect request alone decides nothing")
        XCTAssertEqual(probe(Array(B.connect()[0..<10])), .needMore)
        XCTAssertEqual(probe(Array(Self.setup[0..<9])), .needMore, "the S7 header is not there yet")
        XCTAssertEqual(probe([0x03]), .needMore)
        // A first TPDU of a multi-TPDU PDU (no EOT): the header alone must be plausible.
        XCTAssertEqual(probe(B.dt(Array(B.s7(1, ref: 1, param: B.readVar([B.item(count: 1, area: 0x83, byte: 0)]))[0..<12]), eot: false)),
                       .match)
    }

    func testOtherISOOnTCPProtocolsAreRefused() {
        // RDP: the X.224 connection request carries a cookie and a negotiation request, no TSAPs
        // (MS-RDPBCGR 2.2.1.1; the bytes of an mstsc request).
        let rdp: [UInt8] = [0x03, 0x00, 0x00, 0x2B, 0x26, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00]
            + Array("Cookie: mstshash=admin\r\n".utf8) + [0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]
        // Ordinary IT traffic, on 3389 and anywhere else: not S7, and not refused either (a
        // refusal per RDP session would bury the anomalies that matter).
        XCTAssertEqual(probe(rdp), .noMatch)
        XCTAssertEqual(probe(Array(rdp[0..<20])), .needMore, "the request is not whole yet")
        // RDP's confirm is not judged (its request was).
        XCTAssertEqual(probe([0x03, 0x00, 0x00, 0x13, 0x0E, 0xD0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00]),
                       .noMatch)
        // A CR with one TSAP only.
        let oneTSAP = B.tpkt([0x0D, 0xE0, 0, 0, 0, 1, 0, 0xC1, 2, 0x01, 0x00, 0xC0, 1, 0x0A])
        XCTAssertEqual(probe(oneTSAP), Self.refused(S7comm.Anomalies.probeRejectedTSAP, "tsap_parameters", 1))
        // IEC 61850 MMS on 102: TSAPs, then an ISO session CONNECT SPDU (0x0D).
        let mms = B.connect(calling: [0x00, 0x01], called: [0x00, 0x01]) + B.dt([0x0D, 0xB2, 0x05, 0x06, 0x13, 0x01, 0x00])
        XCTAssertEqual(probe(mms), Self.refused(S7comm.Anomalies.probeRejectedProtocolID, "protocol_id", 0x0D))
        // S7comm-plus (protocol id 0x72) after a connect with named TSAPs.
        let plus = B.connect(calling: Array("SIMATIC-ROOT-HMI".utf8), called: Array("SIMATIC-ROOT-ES".utf8))
            + B.dt([0x72, 0x01, 0x00, 0x1E, 0x31])
        XCTAssertEqual(probe(plus), Self.refused(S7comm.Anomalies.probeRejectedProtocolID, "protocol_id", 0x72))
        // RDP picked up mid-stream: a class 0 DT carrying MCS (T.125 connect-initial 7F 65, a
        // send-data request 64): ordinary traffic, not refused.
        XCTAssertEqual(probe(B.dt([0x7F, 0x65, 0x82, 0x01, 0x94, 0x04, 0x01, 0x01])), .noMatch)
        XCTAssertEqual(probe(B.dt([0x64, 0x00, 0x06, 0x03, 0xEB, 0x70, 0x80, 0x1C])), .noMatch)
        // 0x32 with a ROSCTR that does not exist, or lengths past a whole TPDU: not S7comm.
        XCTAssertEqual(probe(B.dt([0x32, 0x05, 0, 0, 0, 1, 0, 0, 0, 0])), .noMatch)
        XCTAssertEqual(probe(B.dt([0x32, 0x01, 0, 0, 0, 1, 0, 8, 0, 0])), .noMatch)
    }

    /// HTTP, TLS, SSH, Modbus, DICOM and random bytes are never claimed nor refused, at any length.
    func testOrdinaryTrafficIsNeverRefused() {
        let samples: [(String, [UInt8])] = [
            ("http", Array("GET / HTTP/1.1\r\nHost: 10.0.0.2:102\r\n\r\n".utf8)),
            ("ssh", Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8)),
            ("tls client hello", [0x16, 0x03, 0x01, 0x00, 0x85, 0x01, 0x00, 0x00, 0x81, 0x03, 0x03] + [UInt8](repeating: 0x41, count: 130)),
            ("modbus", [0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10]),
            ("dicom associate", [0x01, 0x00, 0x00, 0x00, 0x00, 0xCD, 0x00, 0x01, 0x00, 0x00] + [UInt8](repeating: 0x20, count: 32)),
            ("tpkt with version 2", [0x02, 0x00, 0x00, 0x16, 0x11, 0xE0] + [UInt8](repeating: 0, count: 16)),
        ]
        for (name, bytes) in samples {
            for n in 1...bytes.count {
                let r = probe(Array(bytes[0..<n]))
                if case .rejected = r { XCTFail("\(name): \(n) bytes refused") }
                if r == .match { XCTFail("\(name): \(n) bytes claimed") }
            }
        }
        var rng = SplitMix(seed: 102)
        var claimed = 0, refused = 0
        for _ in 0..<20_000 {
            let n = Int.random(in: 1...300, using: &rng)
            var b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) { b[0] = 3; if n > 1 { b[1] = 0 } }   // half of them start like a TPKT
            switch probe(b) {
            case .match: claimed += 1
            case .rejected: refused += 1
            default: break
            }
        }
        XCTAssertEqual(claimed, 0, "random bytes claimed")
        XCTAssertLessThan(refused, 20, "random bytes refused: a refusal needs a well-formed TPKT and COTP header")
    }

    /// Through the engine: an RDP connection on 3389 is neither claimed nor refused; S7comm on
    /// an unusual port is claimed by its bytes.
    func testThroughTheEngine() throws {
        func conversation(port: UInt16, _ segments: [(Bool, [UInt8])]) -> [[String: Any]] {
            let h = EngineHarness(dissectors: [S7comm.entry])
            var cseq: UInt32 = 1000, sseq: UInt32 = 5000
            let (c, s) = ("10.0.0.1", "10.0.0.2")
            h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: port, seq: cseq, flags: PacketBuilder.syn))
            h.feed(PacketBuilder.tcp(src: s, sport: port, dst: c, dport: 40001, seq: sseq, ack: cseq + 1, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
            cseq += 1; sseq += 1
            for (fromClient, bytes) in segments {
                if fromClient {
                    h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: port, seq: cseq, ack: sseq, flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: bytes))
                    cseq &+= UInt32(bytes.count)
                } else {
                    h.feed(PacketBuilder.tcp(src: s, sport: port, dst: c, dport: 40001, seq: sseq, ack: cseq, flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: bytes))
                    sseq &+= UInt32(bytes.count)
                }
            }
            return h.finish().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }
        let rdp: [UInt8] = [0x03, 0x00, 0x00, 0x2B, 0x26, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00]
            + Array("Cookie: mstshash=admin\r\n".utf8) + [0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]
        let e = conversation(port: 3389, [(true, rdp), (false, [0x03, 0x00, 0x00, 0x13, 0x0E, 0xD0, 0, 0, 0x12, 0x34, 0, 0x02, 0, 0x08, 0, 1, 0, 0, 0])])
        let anomalies = e.compactMap { $0["anomaly"] as? [String: Any] }
        XCTAssertEqual(anomalies.map { $0["name"] as? String ?? "" }, [])
        XCTAssertNotEqual(e.first { $0["event_type"] as? String == "flow" }?["app_proto"] as? String, "s7comm")
        // The CC arrives before the bytes that make the probe match: paired all the same.
        let s7 = conversation(port: 4102, [(true, B.connect()), (false, B.connect(cc: true)), (true, Self.setup),
                                           (false, B.dt(B.s7(3, ref: 0, param: B.setup())))])
        XCTAssertEqual(s7.first { $0["event_type"] as? String == "flow" }?["app_proto"] as? String, "s7comm")
        let tx = s7.compactMap { $0["s7comm"] as? [String: Any] }
        XCTAssertEqual(tx.map { $0["status"] as? String ?? "" }, ["complete", "complete"])
        XCTAssertEqual(s7.filter { $0["event_type"] as? String == "anomaly" }.count, 0)
    }
}
