import Foundation
@testable import SpanSightDICOM
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// Malformed DICOM is never invisible (issue 16, section 2): a probe's refusal of bytes that
/// resemble a PDU is an anomaly; a stray PDU after an association ended is no association; an
/// association's event names the frame of its last PDU.
final class DICOMMalformedTests: XCTestCase {
    static let rq = Wire.associateRQ(contexts: [(1, Conversation.verification, [Wire.implicitLE])])
    static let ac = Wire.associateAC(contexts: [(1, 0, Wire.implicitLE)])

    func probe(_ b: [UInt8], hint: Bool) -> ProbeResult { ByteView.with(b) { DICOM.probe($0, onHintPort: hint) } }
    static func typeRefusal(_ t: Int) -> ProbeResult {
        .rejected(ProbeRejection("dicom.probe_rejected_pdu_type", field: "pdu_type", value: t))
    }

    /// What resembles DICOM (docs/dicom.md, Recognition), and what never does.
    func testProbeRefusals() {
        let nine = Wire.pdu(9, [0, 0, 0, 0])
        XCTAssertEqual(probe(nine, hint: true), Self.typeRefusal(9), "a PDU type PS3.8 does not define, whole")
        XCTAssertEqual(probe(nine, hint: false), .noMatch, "off DICOM's ports a type byte alone resembles nothing")
        XCTAssertEqual(probe(nine + Wire.releaseRQ, hint: true), Self.typeRefusal(9), "a PDU follows where its length ends")
        XCTAssertEqual(probe(nine + Array("GET / HTTP/1.1\r\n".utf8), hint: true), .noMatch)
        XCTAssertEqual(probe(Array(nine[0..<8]), hint: true), .needMore)
        XCTAssertEqual(probe(Wire.pdu(0xFF, [UInt8](repeating: 1, count: 40)), hint: true), Self.typeRefusal(255))
        XCTAssertEqual(probe(Wire.pdu(0, [0, 0, 0, 0]), hint: true), .noMatch, "type 0: a zero first byte is too common")
        XCTAssertEqual(probe(Wire.pdu(9, [0, 0]), hint: true), .noMatch, "a body shorter than any PDU's")
        XCTAssertEqual(probe([0x09, 0x01, 0, 0, 0, 4, 0, 0, 0, 0], hint: true), .noMatch, "reserved byte not 0")
        // A-ASSOCIATE-RQ/AC with every field right but the protocol version (bit 0 clear).
        for (pdu, version) in [(Self.rq, 0), (Self.rq, 2), (Self.ac, 0x8000)] {
            var v = pdu
            v[6] = UInt8(version >> 8); v[7] = UInt8(version & 0xFF)
            for hint in [true, false] {
                XCTAssertEqual(probe(v, hint: hint), .rejected(ProbeRejection("dicom.probe_rejected_protocol_version",
                                                                              field: "protocol_version", value: version)))
            }
            XCTAssertEqual(probe(Array(v[0..<30]), hint: false), .needMore)
        }
        var twoWrong = Self.rq
        twoWrong[7] = 2; twoWrong[10] = 0x01   // version and a control character in the called AE title
        XCTAssertEqual(probe(twoWrong, hint: true), .noMatch)
        // Ordinary traffic, on DICOM's ports or not.
        let samples: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\nHost: pacs\r\n\r\n".utf8), Array("SSH-2.0-OpenSSH_9.2p1\r\n".utf8),
            [0x16, 0x03, 0x01, 0x00, 0x85, 0x01, 0x00, 0x00, 0x81, 0x03, 0x03] + [UInt8](repeating: 0x41, count: 130),
            [0x17, 0x03, 0x03, 0x40, 0x00] + [UInt8](repeating: 0x5A, count: 600),
            [0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01],          // Modbus
            [0x0B] + Array("MSH|^~\\&|A|B|C|D|20250101||ADT^A01|1|P|2.5\r".utf8) + [0x1C, 0x0D],
        ]
        for s in samples {
            for hint in [true, false] {
                for n in 1...s.count {
                    if case .rejected = probe(Array(s[0..<n]), hint: hint) { XCTFail("\(s.prefix(8)) \(n) bytes, hint \(hint)") }
                }
            }
        }
    }

    /// Through the engine: type 0x09 as the first PDU of a flow on port 104 is one anomaly.
    func testUnknownFirstPDUTypeIsAnAnomaly() {
        let h = EngineHarness(dissectors: [DICOM.entry])
        let c = "10.0.0.1", s = "10.0.0.2"
        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 104, seq: 1000, flags: PacketBuilder.syn))
        h.feed(PacketBuilder.tcp(src: s, sport: 104, dst: c, dport: 40001, seq: 5000, ack: 1001, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 104, seq: 1001, ack: 5001,
                                 flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: Wire.pdu(9, [0, 0, 0, 0])))
        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 104, seq: 1011, ack: 5001,
                                 flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: Wire.pdu(9, [0, 0, 0, 0])))
        let events = h.finish().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let anomalies = events.filter { $0.str("event_type") == "anomaly" }
        XCTAssertEqual(anomalies.count, 1)
        let a = anomalies.first?.obj("anomaly") ?? [:]
        XCTAssertEqual(a.str("name"), "dicom.probe_rejected_pdu_type")
        XCTAssertEqual(a.str("event"), "probe_rejected_pdu_type")
        XCTAssertEqual(a.str("app_proto"), "dicom")
        XCTAssertEqual(a.str("layer"), "proto_detect")
        XCTAssertEqual(a.int("pdu_type"), 9)
        XCTAssertEqual(a.str("direction"), "to_server")
        XCTAssertEqual(anomalies.first?.int("pcap_cnt"), 3)
        XCTAssertEqual(h.engine.counters.anomaliesByName["dicom.probe_rejected_pdu_type"], 1)
    }

    /// A stray A-ABORT after a released association is no new association (7 events for one
    /// connection before: one per abort). One abort is how a peer may close the connection
    /// (PS3.8 state Sta13, action AA-2); anything more is `dicom.unexpected_pdu`, once.
    func testStrayPDUsAfterTheEndAreNoAssociation() {
        var conversation = [Delivery(direction: .toServer, bytes: Self.rq), Delivery(direction: .toClient, bytes: Self.ac),
                            Delivery(direction: .toServer, bytes: Wire.releaseRQ), Delivery(direction: .toClient, bytes: Wire.releaseRP)]
        let released = runSession(conversation + [Delivery(direction: .toServer, bytes: Wire.abort(source: 0, reason: 0))])
        XCTAssertEqual(released.associations.count, 1)
        XCTAssertEqual(released.associations.first?.str("end"), "release")
        XCTAssertEqual(released.anomalies, [])
        for _ in 0..<6 { conversation.append(Delivery(direction: .toServer, bytes: Wire.abort(source: 0, reason: 0))) }
        conversation.append(Delivery(direction: .toClient, bytes: Wire.pdata(Wire.pdv(1, command: true, [0, 0, 0, 0]))))
        let s = runSession(conversation)
        XCTAssertEqual(s.associations.count, 1)
        XCTAssertEqual(s.anomalies, ["dicom.unexpected_pdu"])
        XCTAssertEqual(s.events.compactMap { $0.obj("anomaly")?.str("state") }, ["ended"])
        XCTAssertEqual(s.pdus, 4 + 7, "stray PDUs are still counted as parsed")
        // Aborted by one side, answered with an abort by the other: one association.
        let aborted = runSession([Delivery(direction: .toServer, bytes: Self.rq), Delivery(direction: .toClient, bytes: Self.ac),
                                  Delivery(direction: .toServer, bytes: Wire.abort(source: 0, reason: 0)),
                                  Delivery(direction: .toClient, bytes: Wire.abort(source: 2, reason: 0))])
        XCTAssertEqual(aborted.associations.map { $0.str("end") }, ["abort"])
        XCTAssertEqual(aborted.anomalies, [])
        // A new association on the same connection after the release is still one.
        let again = runSession(Array(conversation[0..<4]) + Array(conversation[0..<4]))
        XCTAssertEqual(again.associations.map { $0.str("end") }, ["release", "release"])
        XCTAssertEqual(again.anomalies, [])
        // Picked up mid-association (nothing ended before), an abort still ends what was seen.
        let mid = runSession([Delivery(direction: .toServer, bytes: Wire.pdata(Wire.pdv(1, command: true, [0, 0, 0, 0]))),
                              Delivery(direction: .toServer, bytes: Wire.abort(source: 0, reason: 0))])
        XCTAssertEqual(mid.associations.map { $0.str("end") }, ["abort"])
    }

    /// An association the flow's end (or a new request) ends is dated by its own last PDU: an
    /// A-ASSOCIATE-RQ never answered names its frame.
    func testAssociationNamesItsLastPDU() {
        let h = EngineHarness(dissectors: [DICOM.entry])
        let c = "10.0.0.1", s = "10.0.0.2"
        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 104, seq: 1000, flags: PacketBuilder.syn))
        h.feed(PacketBuilder.tcp(src: s, sport: 104, dst: c, dport: 40001, seq: 5000, ack: 1001, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 104, seq: 1001, ack: 5001,
                                 flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: Self.rq))
        h.feed(PacketBuilder.tcp(src: s, sport: 104, dst: c, dport: 40001, seq: 5001, ack: 1001 + UInt32(Self.rq.count),
                                 flags: PacketBuilder.ackFlag))
        h.feed(PacketBuilder.tcp(src: c, sport: 40001, dst: s, dport: 104, seq: 1001 + UInt32(Self.rq.count), ack: 5001,
                                 flags: PacketBuilder.ackFlag | PacketBuilder.fin))
        let events = h.finish().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let dicom = events.filter { $0.str("event_type") == "dicom" }
        XCTAssertEqual(dicom.map { $0.obj("dicom")?.str("result") }, ["unanswered"])
        XCTAssertEqual(dicom.first?.int("pcap_cnt"), 3)
        XCTAssertEqual(dicom.first?.str("timestamp"), "2025-11-26T12:00:00.003000+0000")
    }
}
