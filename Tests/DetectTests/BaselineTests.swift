import Foundation
@testable import SpanSightDetect
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest
import SpanSightProtocols

/// Learned behaviour, measured: a baseline learned on the first half of the normal capture is
/// silent on the second half; it flags what it never saw; it is deterministic; `simulate`
/// reports what `read --baseline` alerts.
final class BaselineTests: XCTestCase {
    /// The normal capture split in two at its middle instant.
    func normalHalves() throws -> (learn: ArraySlice<(nanos: Int64, bytes: [UInt8], wire: Int, dlt: Int32)>,
                                   test: ArraySlice<(nanos: Int64, bytes: [UInt8], wire: Int, dlt: Int32)>) {
        let list = try packets([fixture("detect-modbus-normal.pcap")])
        let middle = (list.first!.nanos + list.last!.nanos) / 2
        let cut = list.firstIndex { $0.nanos >= middle }!
        return (list[..<cut], list[cut...])
    }

    func testHeldOutNormalTrafficRaisesNoAlert() throws {
        let (learnPart, testPart) = try normalHalves()
        let baseline = learn(learnPart)
        XCTAssertEqual(baseline.commands.count, 4, "poller FC3+FC1, HMI FC6+FC3")
        let run = detect(testPart, baseline: baseline)
        XCTAssertEqual(run.events.count, 0, "false positives: \(run.events.map { $0.alert["signature"] ?? "" })")
        // Without the baseline the HMI's setpoint writes are dangerous operations.
        XCTAssertEqual(detect(testPart).signatureIDs, [2002])
    }

    func testBaselineFlagsTheLaptop() throws {
        let (learnPart, _) = try normalHalves()
        let run = detect(try packets([fixture("detect-modbus-attack-laptop.pcap")])[...], baseline: learn(learnPart))
        XCTAssertEqual(run.signatureIDs, [2002, 4001, 4002, 4003])
        // The new talker acted: Suricata's alert.source is the laptop, the target the PLC it reached.
        XCTAssertEqual((run.alerts(4001).first?.alert["source"] as? [String: Any])?["ip"] as? String, "10.77.0.66")
        XCTAssertEqual(run.alerts(4001).first?.targetIP, "10.77.0.20")
    }

    func testWritesOutsideTheLearnedRangeAndRateBursts() throws {
        let (learnPart, testPart) = try normalHalves()
        let baseline = learn(learnPart)
        // The HMI's write to register 40 is learned; the same key writing 41..44 is not.
        let key = try XCTUnwrap(baseline.commands.keys.first { $0.function == 6 })
        XCTAssertEqual(key.app, "modbus")
        XCTAssertEqual(baseline.commands[key]?.ranges.ranges, [40...40])
        XCTAssertTrue(Detector(baseline: baseline, output: EventOutput.disabled())
            .baselineAllows(CommandFact(key: key, range: 40...40, checkRange: true)))
        XCTAssertFalse(Detector(baseline: baseline, output: EventOutput.disabled())
            .baselineAllows(CommandFact(key: key, range: 41...44, checkRange: true)))
        // A rate envelope far below the test half's rate: the burst is flagged once per pair.
        for k in baseline.rates.keys { baseline.rates[k]?.maxPerWindow = 1 }
        var config = DetectConfig()
        config.rateFactor = 1
        config.rateSlack = 0
        let run = detect(testPart, baseline: baseline, config: config)
        XCTAssertEqual(run.signatureIDs, [4005])
    }

    func testBaselineIsDeterministicAndRoundTrips() throws {
        let list = try packets([fixture("modbus-pymodbus.pcap"), fixture("dnp3-opendnp3.pcap")])
        let a = try learn(list[...], sources: ["a"]).encoded()
        let b = try learn(list[...], sources: ["a"]).encoded()
        XCTAssertEqual(a, b)
        let path = temporary("baseline.json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try a.write(to: URL(fileURLWithPath: path))
        let loaded = try BaselineIndex.load(path: path)
        XCTAssertEqual(try loaded.encoded(), a)
        let text = String(decoding: a, as: UTF8.self)
        XCTAssertTrue(text.contains("\"ranges\" : [\n        [\n          0,\n          15\n        ]"), "merged ranges are readable")
        XCTAssertTrue(text.contains("\"objects\" : ["), "DNP3 object groups")
    }

    /// A version 1 file (a command list per protocol) still loads: each entry becomes the
    /// version 2 command(s) it stood for, and is written back as version 2.
    func testVersion1BaselineLoads() throws {
        let v1 = """
        {"format": "spansight-baseline", "version": 1, "sources": ["old.pcap"], "rate_window_seconds": 60, "dropped_entries": 0,
         "talkers": [{"ip": "10.0.0.1", "roles": ["modbus.client"]}], "pairs": [], "rates": [],
         "modbus": [{"client": "10.0.0.1", "server": "10.0.0.2", "unit": 1, "function": 6, "subfunction": 0,
                     "name": "write_single_register", "access": "write", "ranges": [[40, 40]], "count": 3}],
         "dnp3": [{"master": "10.0.0.1", "outstation": "10.0.0.3", "outstation_address": 10, "function": 1,
                   "name": "read", "objects": ["g60v2"], "count": 2}],
         "dicom": [{"scu": "10.0.0.4", "scp": "10.0.0.5", "calling_ae": "MOD", "called_ae": "PACS",
                    "commands": ["a_associate_rq", "c_store_rq"], "sop_classes": ["1.2.840.10008.5.1.4.1.1.2"],
                    "move_destinations": [], "count": 4}],
         "hl7": [{"sender": "10.0.0.6", "receiver": "10.0.0.7", "sending": "LAB^HOSP", "receiving": "HIS^HOSP",
                  "message_types": ["ORU^R01"], "count": 1}]}
        """
        let path = temporary("v1.json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(v1.utf8).write(to: URL(fileURLWithPath: path))
        let loaded = try BaselineIndex.load(path: path)
        let f = loaded.file
        XCTAssertEqual(f.version, 2)
        XCTAssertEqual(f.commands.map { "\($0.app) \($0.name) \($0.scope)" }.sorted(), [
            "dicom a_associate_rq [\"MOD\", \"PACS\"]", "dicom c_store_rq [\"MOD\", \"PACS\"]", "dnp3 read []",
            "hl7 ORU^R01 [\"LAB^HOSP\", \"HIS^HOSP\"]", "modbus write_single_register []",
        ])
        let write = try XCTUnwrap(loaded.commands.keys.first { $0.app == "modbus" })
        XCTAssertTrue(Detector(baseline: loaded, output: EventOutput.disabled())
            .baselineAllows(CommandFact(key: write, range: 40...40, checkRange: true)))
        XCTAssertEqual(f.commands.first { $0.app == "dnp3" }?.attributes["objects"], ["g60v2"])
        XCTAssertEqual(f.commands.first { $0.name == "c_store_rq" }?.attributes["sop_classes"], ["1.2.840.10008.5.1.4.1.1.2"])
        // A version this build does not know is refused with a one-line reason.
        try Data(v1.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 9").utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try BaselineIndex.load(path: path)) { e in
            XCTAssertTrue("\(e)".contains("unsupported baseline format spansight-baseline version 9"), "\(e)")
        }
    }

    /// Learned on a capture, the same capture raises only what a baseline never suppresses:
    /// dissector anomalies and the function-code sweep.
    func testBaselineOnItsOwnCaptureLeavesOnlyAnomaliesAndSweeps() throws {
        let list = try packets([fixture("modbus-pymodbus.pcap")])
        XCTAssertEqual(detect(list[...], baseline: learn(list[...])).signatureIDs, [1004, 3002])
    }

    func testSimulateReportsWhatReadAlerts() throws {
        let baseline = temporary("sim-baseline.json")
        defer { try? FileManager.default.removeItem(atPath: baseline) }
        let learnRun = try spansight(["learn", fixture("modbus-pymodbus-port5020.pcap").path, "--baseline", baseline, "-q"])
        XCTAssertEqual(learnRun.status, 0)
        let capture = fixture("modbus-pymodbus.pcap").path
        let read = try spansight(["read", "-q", "--no-flow-events", "--baseline", baseline, capture])
        XCTAssertEqual(read.status, 0)
        var fromRead: [Int: Int] = [:]
        for line in read.stdout.split(separator: "\n") {
            guard let e = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  e["event_type"] as? String == "alert" else { continue }
            let id = e.catalogueID
            fromRead[id, default: 0] += 1
        }
        let sim = try spansight(["simulate", "--baseline", baseline, capture])
        XCTAssertEqual(sim.status, 0)
        var fromSim: [Int: Int] = [:]
        for line in sim.stdout.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count == 5, let id = Int(f[0]), let n = Int(f[3]) else { continue }
            fromSim[id] = n
        }
        XCTAssertFalse(fromRead.isEmpty)
        XCTAssertEqual(fromSim, fromRead)
        XCTAssertNotNil(fromRead[4002], "new pair: port 502 was never learned (5020 was)")
        XCTAssertTrue(sim.stdout.contains("10.77.0.10 -> 10.77.0.20"))
    }

    func testPolicyExport() throws {
        let (learnPart, _) = try normalHalves()
        let policy = SegmentationPolicy(learn(learnPart, sources: ["detect-modbus-normal.pcap"]).file, protocols: Registry.modules)
        XCTAssertEqual(policy.allow.map { "\($0.client)>\($0.server):\($0.port)" }.sorted(),
                       ["10.77.0.10>10.77.0.20:502", "10.77.0.11>10.77.0.20:502"])
        XCTAssertEqual(policy.allow.first?.serverClass, "ot_controller")
        let nft = try policy.nft()
        XCTAssertTrue(nft.contains("ip saddr 10.77.0.11 ip daddr 10.77.0.20 tcp dport 502 ct state new accept"), nft)
        XCTAssertTrue(nft.contains("policy drop;"))
        XCTAssertEqual(try policy.json(), try SegmentationPolicy(learn(learnPart, sources: ["detect-modbus-normal.pcap"]).file, protocols: Registry.modules).json())
    }
}
