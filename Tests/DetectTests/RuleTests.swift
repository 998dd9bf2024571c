import Foundation
@testable import SpanSightDetect
import SpanSightEngine
import SpanSightTestSupport
import SpanSightWire
import XCTest
import SpanSightProtocols

/// Rules that need no learning, on the captures made from real stacks (fixtures/README.md):
/// each fixture raises exactly the alerts docs/detection.md says it does.
final class RuleTests: XCTestCase {
    func testModbusFixtureRaisesOnlyTheDocumentedAlerts() throws {
        let run = try detect(["modbus-pymodbus.pcap"])
        // writes (5, 15 / 6, 16, 22, 23), device id (43) and report server id (17), user-defined FC 65,
        // clear counters (8/10), 19 function codes in one minute (a sweep), and pymodbus's 0x80
        // exception answers (function mismatch).
        XCTAssertEqual(run.signatureIDs, [1004, 2001, 2002, 2005, 2006, 2007, 2010, 3002])
        let write = try XCTUnwrap(run.alerts(2001).first?.alert)
        XCTAssertEqual((write["mitre"] as? [String: Any])?["technique_id"] as? String, "T0855")
        XCTAssertEqual(write["severity"] as? Int, 2)
        XCTAssertEqual(((write["target"] as? [String: Any])?["ip"] as? String), "10.77.0.20")
        XCTAssertEqual(write["risk"] as? Int, 79)  // 65/2 + 95*0.3 + 95/5
        let reasons = write["risk_reasons"] as? [String] ?? []
        XCTAssertTrue(reasons.contains { $0.contains("OT control equipment (Modbus server)") }, "\(reasons)")
        XCTAssertEqual((run.alerts(2010).first?.alert["mitre"] as? [String: Any])?["technique_id"] as? String, "T0872")
    }

    func testModbusVariantsRaiseWritesAndIdentificationOnly() throws {
        for name in ["modbus-pymodbus-port5020.pcap", "modbus-pymodbus-udp.pcap", "modbus-pymodbus-ipv6.pcap",
                     "modbus-pymodbus-vlan100.pcap", "modbus-pymodbus-qinq200-100.pcap", "modbus-pymodbus-sll.pcap",
                     "modbus-pymodbus-sll2.pcap"] {
            let run = try detect([name])
            XCTAssertEqual(run.signatureIDs, [2002, 2005], name)
            XCTAssertEqual(run.alerts(2002).count, 2, "FC6 and FC16 are two causes: \(name)")
        }
    }

    func testDNP3FixtureRaisesOnlyTheDocumentedAlerts() throws {
        let run = try detect(["dnp3-opendnp3.pcap"])
        // opendnp3's master disables unsolicited responses at every start; the fixture master
        // then writes, syncs time, restarts, and operates points.
        XCTAssertEqual(run.signatureIDs, [2101, 2102, 2104, 2105, 2106, 2108])
        let cold = try XCTUnwrap(run.alerts(2101).first?.alert)
        XCTAssertEqual(cold["severity"] as? Int, 1)
        XCTAssertEqual((cold["mitre"] as? [String: Any])?["technique_id"] as? String, "T0816")
        XCTAssertGreaterThanOrEqual(cold["risk"] as? Int ?? 0, 90)
    }

    /// The same cause in one flow is one alert when it first happens and one aggregate with the
    /// count when the flow ends; never one event per occurrence.
    func testRepeatedCauseIsAggregated() throws {
        let run = try detect(["modbus-pymodbus.pcap"])
        // Connection 1 writes coils with FC 5 twice and reads device identification (43/14) four times.
        let firstFC5 = run.alerts(2001).filter { ($0.alert["detail"] as? String)?.contains("fc 5 ") == true }
        XCTAssertEqual(firstFC5.count, 1)
        let aggregates = run.aggregates.filter { $0.catalogueID == 2001 }
        XCTAssertEqual(aggregates.count, 1)
        XCTAssertEqual(aggregates.first?.alert["count"] as? Int, 2)
        let deviceID = run.aggregates.filter { $0.catalogueID == 2005 }
        XCTAssertEqual(deviceID.map { $0.alert["count"] as? Int }, [4])
        XCTAssertEqual(run.detector.stats.occurrences[2005], 7)  // 4 + 1 + 1 + 1 (43/13 is its own cause)
        // No (flow, signature, detail) is announced twice.
        let keys = run.alerts.map { "\($0["flow_id"] ?? 0) \($0.alert["signature_id"] ?? 0) \($0.alert["detail"] ?? "")" }
        XCTAssertEqual(keys.count, Set(keys).count)
    }

    func testIdentityChangesFromTheInventoryAlert() throws {
        let d = Detector(output: EventOutput.inMemory())
        let a = IPAddress("10.0.0.5")!
        d.assetChanged(AssetChange(kind: "mac_moved", timestampNanos: 1_000, address: a, mac: 0x0200_0000_0001,
                                   key: "mac", oldValue: "02:00:00:00:00:01", newValue: "02:00:00:00:00:02"))
        d.assetChanged(AssetChange(kind: "device_id_changed", timestampNanos: 2_000, address: a,
                                   key: "modbus.vendor_name", oldValue: "A", newValue: "B"))
        d.assetChanged(AssetChange(kind: "device_id_changed", timestampNanos: 3_000, address: a,
                                   key: "modbus.vendor_name", oldValue: "A", newValue: "B"))
        d.finish()
        XCTAssertEqual(d.stats.alerts, [5001: 1, 5003: 1])
        XCTAssertEqual(d.stats.occurrences[5003], 2)
        XCTAssertEqual(d.assetRisk(of: a)?.alerts, 2)
    }

    final class FakeInventory: AssetLookup {
        func profile(of address: IPAddress) -> AssetProfile? {
            AssetProfile(deviceClass: .workstation, domain: .it, confidence: 100)
        }
    }

    /// The inventory's profile replaces the role hint: a write to a workstation ranks below a
    /// write to a PLC; per-asset risk keeps the maximum and the sum.
    func testRiskUsesTheInventoryWhenAttached() throws {
        let list = try packets([fixture("modbus-pymodbus-port5020.pcap")])
        let plain = detect(list[...])
        let inventory = FakeInventory()
        let (o, _) = replay(list[...]) { out in
            let d = Detector(output: out)
            d.lookup = inventory
            return d
        }
        let withInventory = o as! Detector
        let server = IPAddress("10.77.0.20")!
        let a = try XCTUnwrap(plain.detector.assetRisk(of: server))
        let b = try XCTUnwrap(withInventory.assetRisk(of: server))
        XCTAssertEqual(a.alerts, 3)
        XCTAssertEqual(a.maxRisk, 79)
        XCTAssertLessThan(b.maxRisk, a.maxRisk)
        XCTAssertEqual(a.sumRisk, 79 + 79 + 61)
        XCTAssertEqual(plain.detector.assetRisks.first?.address, server)
    }

    func testSignatureCatalogueIsConsistent() {
        let all = Signatures.catalogue(Registry.modules)
        let ids = all.map(\.id)
        XCTAssertEqual(ids.count, Set(ids).count)
        XCTAssertEqual(Set(all.map { "\($0.name)" }).count, ids.count)
        for s in all { XCTAssertTrue((1...3).contains(s.severity)) }
        // Each protocol's anomalies in its own hundred, named after it; every threshold fits
        // the sliding windows.
        for m in Registry.modules {
            for a in m.anomalies {
                XCTAssertTrue("\(a.name)".hasPrefix("\(m.name)."), "\(a.name)")
                XCTAssertEqual(m.signature(ofAnomaly: a.name)?.id, m.anomalyBase + a.number)
            }
            XCTAssertEqual(m.anomalyBase % 100, 0)
            for r in m.sweeps { XCTAssertLessThanOrEqual(r.defaultThreshold, DetectConfig.maxDefaultThreshold, "\(r.thresholdName)") }
            for r in m.outcomes { XCTAssertLessThanOrEqual(r.defaultThreshold, DetectConfig.maxDefaultThreshold, "\(r.thresholdName)") }
        }
        XCTAssertEqual(Set(Registry.modules.map(\.anomalyBase)).count, Registry.modules.count, "one hundred per protocol")
    }
}
