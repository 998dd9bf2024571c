import Foundation
@testable import SpanSightHL7
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Malformed HL7 over MLLP is never invisible (issue 16, section 2): a bare HL7 message
/// without the MLLP start block, and an MLLP frame that holds no HL7 message, are refused by
/// the probe with their reason, and the engine reports the refusal as an anomaly.
final class HL7MalformedTests: XCTestCase {
    func probe(_ b: [UInt8], hint: Bool) -> ProbeResult { ByteView.with(b) { HL7.probe($0, onHintPort: hint) } }
    static func missingStart(_ first: UInt8) -> ProbeResult {
        .rejected(ProbeRejection("hl7.probe_rejected_missing_start_block", field: "first_byte", value: Int(first)))
    }
    static func notHL7(_ content: UInt8) -> ProbeResult {
        .rejected(ProbeRejection("hl7.probe_rejected_not_hl7", field: "first_content_byte", value: Int(content)))
    }
    static let bare = Array(HL7StreamTests.a01.utf8)
    /// An HL7 v3 / CDA document framed by MLLP (some interfaces send XML this way).
    static let xml = [0x0B] + Array("<?xml version=\"1.0\"?><ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>".utf8) + [0x1C, 0x0D]

    /// What resembles HL7 over MLLP (docs/hl7.md, Recognition), and what never does.
    func testProbeRefusals() {
        for hint in [true, false] {
            XCTAssertEqual(probe(Self.bare, hint: hint), Self.missingStart(0x4D), "a bare MSH, hint \(hint)")
            XCTAssertEqual(probe(Array("BHS|^~\\&|LAB".utf8), hint: hint), Self.missingStart(0x42))
            XCTAssertEqual(probe(Array("MSH|^~\\&#|A".utf8), hint: hint), Self.missingStart(0x4D), "five encoding characters (v2.7)")
            XCTAssertEqual(probe(Array("MSH|^~\\".utf8), hint: hint), .needMore)
            XCTAssertEqual(probe(Array("MSH|^~|A".utf8), hint: hint), .noMatch, "two encoding characters")
            XCTAssertEqual(probe(Array("MSH|^~^&|".utf8), hint: hint), .noMatch, "a duplicate delimiter")
            XCTAssertEqual(probe(Array("MSH|^~\\a|".utf8), hint: hint), .noMatch, "a letter")
            XCTAssertEqual(probe(Array("MSH|^~\\&#*|".utf8), hint: hint), .noMatch, "six")
            XCTAssertEqual(probe(Array("MSHA^~\\&A".utf8), hint: hint), .noMatch, "a letter is no field separator")
            XCTAssertEqual(probe(Self.xml, hint: hint), Self.notHL7(UInt8(ascii: "<")), "MLLP framing around XML, hint \(hint)")
            XCTAssertEqual(probe(Self.xml + mllp(HL7StreamTests.a01), hint: hint), Self.notHL7(UInt8(ascii: "<")), "the next frame follows")
            XCTAssertEqual(probe([0x0B, 0x1C, 0x0D], hint: hint), Self.notHL7(0x1C), "an empty frame")
            XCTAssertEqual(probe(mllp(HL7StreamTests.a01), hint: hint), .match)
        }
        // Off port 2575 the framing must be borne out: an end block, nothing else after it.
        XCTAssertEqual(probe(Array(Self.xml.dropLast(2)), hint: false), .needMore)
        XCTAssertEqual(probe(Array(Self.xml.dropLast(2)), hint: true), Self.notHL7(UInt8(ascii: "<")))
        XCTAssertEqual(probe(Self.xml + [0x00], hint: false), .noMatch, "something else follows the end block")
        XCTAssertEqual(probe([0x0B, 0x41, 0x1C, 0x41], hint: false), .noMatch, "FS without CR")
        XCTAssertEqual(probe([0x0B, 0x41, 0x0B, 0x41, 0x1C, 0x0D], hint: false), .noMatch, "a start block inside")
        XCTAssertEqual(probe([0x0B] + [UInt8](repeating: 0x41, count: HL7.refusalMaxBytes), hint: false), .noMatch,
                       "no end within the probe buffer")
        // Ordinary traffic, on HL7's port or not: never refused, at any length.
        let samples: [[UInt8]] = [
            Array("GET /index.html HTTP/1.1\r\nHost: ris\r\n\r\n".utf8),
            Array("220 mail.example.org ESMTP Postfix\r\n".utf8), Array("EHLO ris.example.org\r\n".utf8),
            Array("MAIL FROM:<lab@example.org>\r\n".utf8), Array("M-SEARCH * HTTP/1.1\r\n".utf8),
            Array("MSH is an abbreviation\r\n".utf8), Array("SSH-2.0-OpenSSH_9.2p1\r\n".utf8),
            [0x16, 0x03, 0x01, 0x00, 0x85, 0x01, 0x00, 0x00, 0x81, 0x03, 0x03] + [UInt8](repeating: 0x41, count: 130),
            [0x0B, 0x00, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01],    // Modbus, transaction 0x0B00
        ]
        for s in samples {
            for n in 1...s.count {
                if case .rejected = probe(Array(s[0..<n]), hint: false) { XCTFail("\(s.prefix(8)) \(n) bytes") }
            }
        }
        for s in samples.dropLast() {        // not starting with a start block
            for n in 1...s.count {
                if case .rejected = probe(Array(s[0..<n]), hint: true) { XCTFail("\(s.prefix(8)) \(n) bytes, hint") }
            }
        }
    }

    /// Every prefix of the refused vectors is refused, undecided or no match: never a trap.
    func testEveryPrefixIsSafe() {
        for v in [Self.bare, Self.xml, Self.xml + mllp(HL7StreamTests.a01)] {
            for n in 0...v.count {
                for hint in [true, false] { _ = probe(Array(v[0..<n]), hint: hint) }
            }
        }
    }

    /// Through the engine: each refused flow direction is one `proto_detect` anomaly, counted.
    func testRefusalsAreAnomalies() {
        let cases: [(port: UInt16, payload: [UInt8], name: String, field: String, value: Int)] = [
            (2575, Self.bare, "hl7.probe_rejected_missing_start_block", "first_byte", 0x4D),
            (6661, Self.bare, "hl7.probe_rejected_missing_start_block", "first_byte", 0x4D),
            (2575, Self.xml, "hl7.probe_rejected_not_hl7", "first_content_byte", 0x3C),
            (6661, Self.xml, "hl7.probe_rejected_not_hl7", "first_content_byte", 0x3C),
        ]
        for k in cases {
            let h = EngineHarness(dissectors: [HL7.entry])
            let c = "10.0.0.1", s = "10.0.0.2"
            h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: k.port, seq: 1000, flags: PacketBuilder.syn))
            h.feed(PacketBuilder.tcp(src: s, sport: k.port, dst: c, dport: 40001, seq: 5000, ack: 1001, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
            h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: k.port, seq: 1001, ack: 5001,
                                     flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: k.payload))
            // The same again: reported once per flow direction.
            h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: k.port, seq: 1001 + UInt32(k.payload.count), ack: 5001,
                                     flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: k.payload))
            let events = h.finish().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            let anomalies = events.filter { $0.str("event_type") == "anomaly" }
            XCTAssertEqual(anomalies.count, 1, "\(k.name) port \(k.port)")
            let a = anomalies.first?.obj("anomaly") ?? [:]
            XCTAssertEqual(a.str("name"), k.name)
            XCTAssertEqual(a.str("app_proto"), "hl7")
            XCTAssertEqual(a.str("layer"), "proto_detect")
            XCTAssertEqual(a.str("direction"), "to_server")
            XCTAssertEqual(a.int(k.field), k.value)
            XCTAssertEqual(anomalies.first?.int("pcap_cnt"), 3)
            XCTAssertEqual(h.engine.counters.anomaliesByName[k.name], 1)
            XCTAssertEqual(events.filter { $0.str("event_type") == "hl7" }.count, 0)
        }
    }
}
