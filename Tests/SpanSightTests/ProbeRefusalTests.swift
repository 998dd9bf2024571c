import Foundation
import SpanSightEngine
import SpanSightTestSupport
import XCTest

/// Probe refusals with every dissector registered (the tool): only bytes that resemble a
/// protocol closely are reported, never ordinary traffic on any port (issue 16, section 2).
final class ProbeRefusalTests: XCTestCase {
    /// Runs `spansight read FILE` and returns its events.
    func events(_ file: URL) throws -> [[String: Any]] {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("refusal-\(UUID().uuidString).ndjson")
        defer { try? FileManager.default.removeItem(at: out) }
        let status = try EVEConformanceTests.run(["read", file.path, "--alerts", "--no-inventory", "-q"], to: out)
        XCTAssertEqual(status, 0)
        return try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
            .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    static func refusals(_ events: [[String: Any]]) -> [[String: Any]] {
        events.filter { ($0["anomaly"] as? [String: Any])?["layer"] as? String == "proto_detect" }
    }

    /// The corpus' port-502 negative capture: nothing the scanners sent is refused; each reply
    /// of the Modbus server (an exception echoing the scanner's header) is, once.
    func testPort502NegativeCapture() throws {
        guard let corpus = TestPaths.corpus else { throw XCTSkip("corpus absent") }
        let all = try events(corpus.appendingPathComponent("modbus/zeek-modbus-and-non-modbus-p502.pcap"))
        let refusals = Self.refusals(all).compactMap { $0["anomaly"] as? [String: Any] }
        XCTAssertEqual(refusals.compactMap { $0["direction"] as? String }, [String](repeating: "to_client", count: 5))
        XCTAssertEqual(Set(refusals.compactMap { $0["name"] as? String }), ["modbus.probe_rejected_protocol_id"])
        let flows = Set(Self.refusals(all).compactMap { $0["flow_id"] as? Int })
        XCTAssertEqual(flows.count, 5, "one per flow")
    }

    /// HTTP, TLS and SSH on every port a dissector hints at and on their own, and Modbus on
    /// DICOM's port: no refusal, no anomaly at all.
    func testOrdinaryTrafficOnAnyPortIsNeverRefused() throws {
        let payloads: [(client: [UInt8], server: [UInt8])] = [
            (Array("GET /index.html HTTP/1.1\r\nHost: plc\r\nUser-Agent: curl/8.5\r\n\r\n".utf8),
             Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)),
            ([0x16, 0x03, 0x01, 0x00, 0x85, 0x01, 0x00, 0x00, 0x81, 0x03, 0x03] + [UInt8](repeating: 0x41, count: 130),
             [0x16, 0x03, 0x03, 0x00, 0x5A, 0x02, 0x00, 0x00, 0x56, 0x03, 0x03] + [UInt8](repeating: 0x42, count: 86)),
            (Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8), Array("SSH-2.0-dropbear_2022.83\r\n".utf8)),
            (Array("EHLO ris.example.org\r\nMAIL FROM:<lab@example.org>\r\n".utf8),
             Array("220 mail.example.org ESMTP Postfix\r\n250-mail.example.org\r\n".utf8)),
        ]
        var packets: [(micros: Int64, bytes: [UInt8])] = []
        var t: Int64 = 1_764_158_400_000_000
        var sport: UInt16 = 40000
        func conversation(_ port: UInt16, _ c: [UInt8], _ s: [UInt8]) {
            sport += 1
            let a = "10.1.0.1", b = "10.1.0.2"
            func add(_ f: [UInt8]) { t += 1000; packets.append((t, f)) }
            add(PacketBuilder.tcp(src: a, sport: sport, dst: b, dport: port, seq: 100, flags: PacketBuilder.syn))
            add(PacketBuilder.tcp(src: b, sport: port, dst: a, dport: sport, seq: 900, ack: 101, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
            add(PacketBuilder.tcp(src: a, sport: sport, dst: b, dport: port, seq: 101, ack: 901, flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: c))
            add(PacketBuilder.tcp(src: b, sport: port, dst: a, dport: sport, seq: 901, ack: 101 + UInt32(c.count),
                                  flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: s))
        }
        for port: UInt16 in [502, 104, 11112, 20000, 2575, 80, 443, 22, 8080] {
            for p in payloads { conversation(port, p.client, p.server) }
        }
        // Modbus with transaction id 0x0900 on DICOM's port looks like a PDU of type 9 to the
        // DICOM probe (hinted first there): Modbus claims it.
        conversation(104, [0x09, 0x00, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01],
                     [0x09, 0x00, 0x00, 0x00, 0x00, 0x05, 0x01, 0x03, 0x02, 0x00, 0x07])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ordinary-\(UUID().uuidString).pcap")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(PcapFileWriter.data(packets: packets)).write(to: file)
        let all = try events(file)
        XCTAssertEqual(all.filter { $0["event_type"] as? String == "anomaly" }.count, 0)
        XCTAssertEqual(all.filter { $0["event_type"] as? String == "modbus" }.count, 1)
        XCTAssertEqual(all.filter { $0["event_type"] as? String == "flow" }.count, 4 * 9 + 1)
    }

    /// HL7 without the MLLP start block, and MLLP framing around something that is no HL7
    /// message, on HL7's port and off it: one refusal per flow, named and counted in `stats`;
    /// HTTP and SMTP on HL7's port: none.
    func testHL7RefusalsAreAnomaliesAndCounted() throws {
        let bare = Array("MSH|^~\\&|LAB|HOSP|RIS|HOSP|20250101120000||ORU^R01|7|P|2.5\rOBX|1|NM|GLU||5.4|mmol/L\r".utf8)
        let xml = [0x0B] + Array("<?xml version=\"1.0\"?><ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>".utf8) + [0x1C, 0x0D]
        let http = Array("GET / HTTP/1.1\r\nHost: ris\r\n\r\n".utf8)
        let smtp = Array("EHLO ris.example.org\r\n".utf8)
        var packets: [(micros: Int64, bytes: [UInt8])] = []
        var t: Int64 = 1_764_158_400_000_000
        var sport: UInt16 = 41000
        for (port, payload) in [(2575, bare), (6661, bare), (2575, xml), (6661, xml), (2575, http), (2575, smtp)] as [(UInt16, [UInt8])] {
            sport += 1
            let a = "10.2.0.1", b = "10.2.0.2"
            func add(_ f: [UInt8]) { t += 1000; packets.append((t, f)) }
            add(PacketBuilder.tcp(src: a, sport: sport, dst: b, dport: port, seq: 100, flags: PacketBuilder.syn))
            add(PacketBuilder.tcp(src: b, sport: port, dst: a, dport: sport, seq: 900, ack: 101, flags: PacketBuilder.syn | PacketBuilder.ackFlag))
            add(PacketBuilder.tcp(src: a, sport: sport, dst: b, dport: port, seq: 101, ack: 901, flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: payload))
            add(PacketBuilder.tcp(src: b, sport: port, dst: a, dport: sport, seq: 901, ack: 101 + UInt32(payload.count), flags: PacketBuilder.ackFlag))
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hl7-refusals-\(UUID().uuidString).pcap")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(PcapFileWriter.data(packets: packets)).write(to: file)
        let all = try events(file)
        XCTAssertEqual(all.filter { $0["event_type"] as? String == "anomaly" }.count, 4, "no other anomaly")
        let refusals = Self.refusals(all)
        XCTAssertEqual(refusals.compactMap { ($0["anomaly"] as? [String: Any])?["name"] as? String },
                       ["hl7.probe_rejected_missing_start_block", "hl7.probe_rejected_missing_start_block",
                        "hl7.probe_rejected_not_hl7", "hl7.probe_rejected_not_hl7"])
        XCTAssertEqual(refusals.compactMap { $0["dest_port"] as? Int }, [2575, 6661, 2575, 6661])
        XCTAssertEqual(Set(refusals.compactMap { ($0["anomaly"] as? [String: Any])?["app_proto"] as? String }), ["hl7"])
        XCTAssertEqual(Set(refusals.compactMap { $0["flow_id"] as? Int }).count, 4, "one per flow")
        let stats = all.last { $0["event_type"] as? String == "stats" }?["stats"] as? [String: Any]
        let byEvent = (stats?["app_layer"] as? [String: Any])?["anomalies_by_event"] as? [String: Any]
        XCTAssertEqual(byEvent?["hl7.probe_rejected_missing_start_block"] as? Int, 2)
        XCTAssertEqual(byEvent?["hl7.probe_rejected_not_hl7"] as? Int, 2)
        XCTAssertEqual(byEvent?.count, 2)
        XCTAssertEqual(all.filter { $0["event_type"] as? String == "hl7" }.count, 0)
    }
}
