import Foundation
@testable import SpanSightDetect
import SpanSightEngine
import SpanSightTestSupport
import XCTest

/// Every attack injected in the attack fixtures (fixtures/README.md, fixtures/gen/attacks.py)
/// raises its expected alert with its ATT&CK for ICS technique.
final class AttackTests: XCTestCase {
    /// (capture, signature id, technique id or "" for none)
    static let injected: [(String, Int, String)] = [
        ("detect-modbus-attack-laptop.pcap", 2002, "T0836"),      // FC6/FC16 writes from a laptop
        ("detect-modbus-attack-unit-sweep.pcap", 3001, "T0846"),  // unit ids 1..32
        ("detect-modbus-attack-fc-sweep.pcap", 3002, "T0888"),    // function codes 1..40
        ("detect-modbus-attack-diag.pcap", 2004, "T0816"),        // FC8/1 restart communications
        ("detect-modbus-attack-diag.pcap", 2003, "T0814"),        // FC8/4 force listen-only
        ("detect-modbus-attack-fc43.pcap", 2005, "T0888"),        // FC43/14 device identification
        ("detect-modbus-attack-fc43.pcap", 2006, "T0888"),        // FC17 report server id
        ("detect-dnp3-attack-new-master.pcap", 3003, "T0846"),    // link addresses 1..12
        ("detect-dnp3-attack-new-master.pcap", 2101, "T0816"),    // cold restart
    ]

    func testEveryInjectedAttackIsAlerted() throws {
        var detected = 0
        for (file, id, technique) in Self.injected {
            let run = try detect([file])
            guard let a = run.alerts(id).first?.alert else {
                XCTFail("\(file): no alert \(id); got \(run.signatureIDs.sorted())")
                continue
            }
            XCTAssertEqual((a["mitre"] as? [String: Any])?["technique_id"] as? String, technique, "\(file) \(id)")
            detected += 1
        }
        XCTAssertEqual(detected, Self.injected.count)
        print("detection: \(detected)/\(Self.injected.count) injected Modbus/DNP3 attacks alerted")
    }

    /// The sweeps alert once per pair and window, aggregated: not once per probe.
    func testSweepsAlertOnce() throws {
        let units = try detect(["detect-modbus-attack-unit-sweep.pcap"])
        XCTAssertEqual(units.alerts(3001).count, 1)
        XCTAssertEqual(units.detector.stats.occurrences[3001], 1)
        let dnp3 = try detect(["detect-dnp3-attack-new-master.pcap"])
        XCTAssertEqual(dnp3.alerts(3003).count, 1)
    }

    /// DICOM and HL7 attacks through the tool: each capture is dissected and raises its rules.
    func testIoMTAttacksThroughTheTool() throws {
        let cases: [(String, String, [Int])] = [
            ("detect-dicom-attack-ae-probe.pcap", "dicom", [3004, 3005]),
            ("detect-hl7-attack-foreign.pcap", "hl7", [2301]),
        ]
        for (file, app, ids) in cases {
            let r = try spansight(["read", "-q", "--alerts", fixture(file).path])
            XCTAssertEqual(r.status, 0)
            XCTAssertTrue(r.stdout.contains("\"app_proto\":\"\(app)\""), "\(file): no \(app) event")
            for id in ids { XCTAssertTrue(r.stdout.contains("\"signature_id\":\(1_000_000 + id),"), "\(file): \(id)") }
        }
    }

    func testEvidencePcapHoldsTheAlertedFlowsWithTheirHandshakes() throws {
        let out = temporary("evidence.pcap")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try spansight(["read", "-q", "--no-flow-events", "--alert-pcap", out, fixture("detect-modbus-attack-diag.pcap").path])
        XCTAssertEqual(r.status, 0)
        let evidence = try packets([URL(fileURLWithPath: out)])
        let all = try packets([fixture("detect-modbus-attack-diag.pcap")])
        // Every TCP packet of the capture belongs to the one alerted flow; ARP does not.
        let tcp = all.filter { $0.bytes.count > 23 && $0.bytes[12] == 0x08 && $0.bytes[13] == 0x00 && $0.bytes[23] == 6 }
        XCTAssertEqual(evidence.count, tcp.count)
        XCTAssertEqual(evidence.first?.bytes, tcp.first?.bytes, "starts with the SYN")
        XCTAssertEqual(evidence.first.map { $0.bytes[47] & 0x02 }, 0x02)
    }
}
