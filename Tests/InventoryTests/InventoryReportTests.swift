import Foundation
import XCTest
import SpanSightEngine
import SpanSightWire
import SpanSightTestSupport
import SpanSightProtocols
@testable import SpanSightInventory

final class InventoryReportTests: XCTestCase {
    func tempPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-inv-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    func fixtures() -> [URL] {
        ["modbus-pymodbus.pcap", "dnp3-opendnp3.pcap", "dicom-pynetdicom.pcap", "modbus-pymodbus-ipv6.pcap"].map(InventoryRun.fixture)
    }

    func testJSONIsDeterministicAndComplete() throws {
        let (a, _) = try InventoryRun.run(fixtures())
        let (b, _) = try InventoryRun.run(fixtures())
        let ja = InventoryReport.json(a, assets: a.assets())
        XCTAssertEqual(ja, InventoryReport.json(b, assets: b.assets()), "same input, same bytes")
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(ja)) as? [String: Any])
        XCTAssertEqual(doc["schema"] as? String, "spansight.inventory/1")
        let assets = try XCTUnwrap(doc["assets"] as? [[String: Any]])
        // The fixtures share two hosts (same MACs), reached over IPv4 and IPv6: two assets,
        // each with both addresses.
        XCTAssertEqual(assets.count, 2)
        XCTAssertEqual(assets.map { ($0["addresses"] as? [[String: Any]])?.count ?? 0 }, [2, 2])
        let plc = try XCTUnwrap(assets.first { ($0["addresses"] as? [[String: Any]])?.first?["ip"] as? String == "10.77.0.20" })
        XCTAssertEqual(plc["class"] as? String, "plc")
        XCTAssertEqual(plc["mac"] as? String, "02:77:00:00:00:20")
        let roles: [[String: Any]] = plc["roles"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(roles.map { $0["role"] as? String ?? "" }), ["modbus.server", "dnp3.outstation", "dicom.scp"])
        XCTAssertNotNil((plc["os"] as? [String: Any])?["signature"])
        let edges = try XCTUnwrap(doc["edges"] as? [[String: Any]])
        let modbus = try XCTUnwrap(edges.first { $0["service"] as? String == "modbus" && $0["client"] as? String == "10.77.0.10" })
        XCTAssertEqual(Set(modbus["operations"] as? [String] ?? []), ["read", "write", "diagnostics", "discovery", "file", "other"])
    }

    func testCSVAndMaps() throws {
        let (inv, _) = try InventoryRun.run(fixtures())
        let list = inv.assets()
        let csv = InventoryReport.csv(list).split(separator: "\n")
        XCTAssertEqual(csv.first.map(String.init), InventoryReport.csvHeader.joined(separator: ","))
        XCTAssertEqual(csv.count, 1 + list.count)
        let dot = CommunicationMap.dot(inv, assets: list)
        XCTAssertTrue(dot.hasPrefix("digraph spansight {"))
        XCTAssertTrue(dot.contains("\"mac:02:77:00:00:00:10\" -> \"mac:02:77:00:00:00:20\" [label=\"modbus\\nread,write"), dot)
        XCTAssertTrue(dot.contains("\"mac:02:77:00:00:00:10\" -> \"mac:02:77:00:00:00:20\" [label=\"dicom\\n"), dot)
        let html = CommunicationMap.html(inv, assets: list, title: "t")
        XCTAssertTrue(html.contains("<svg"))
        XCTAssertTrue(html.contains("10.77.0.20"))
        // Self-contained: nothing to fetch (the only URL is the SVG namespace name).
        let urls = html.components(separatedBy: "http").count - 1
        XCTAssertEqual(urls, html.components(separatedBy: "xmlns=\"http://www.w3.org/2000/svg\"").count - 1)
        XCTAssertFalse(html.contains("<script"))
    }

    /// The store: a second capture extends the inventory instead of starting over, and the
    /// identities read in the first run are still there (and are not "changes").
    func testSQLiteStoreAccumulates() throws {
        let db = tempPath("inventory.sqlite")
        let (first, _) = try InventoryRun.run([InventoryRun.fixture("modbus-pymodbus.pcap")])
        try InventoryStore.save(db, first, source: "modbus-pymodbus.pcap")
        let (second, _) = try InventoryRun.run([InventoryRun.fixture("modbus-pymodbus-ipv6.pcap")], store: db)
        XCTAssertEqual(second.hosts.count, 4)
        let plc = try XCTUnwrap(second.hostAt("10.77.0.20"))
        XCTAssertEqual(plc.children.first?.identities.first { $0.key == "modbus.vendor_name" }?.value, "SpanSight Test Vendor")
        XCTAssertEqual(plc.roles.keys.sorted(), ["modbus.server"])
        XCTAssertEqual(plc.stack?.label, "Linux 3.x-6.x")
        try InventoryStore.save(db, second, source: "modbus-pymodbus-ipv6.pcap")
        // Reading the first capture again into the stored inventory changes nothing.
        let (third, _) = try InventoryRun.run([InventoryRun.fixture("modbus-pymodbus.pcap")], store: db)
        XCTAssertEqual(third.hosts.count, 4)
        XCTAssertEqual(third.changesRecorded, 0)
        XCTAssertEqual(third.edges.count, second.edges.count)
        let packets = third.hostAt("10.77.0.20")!.packetsReceived
        XCTAssertEqual(packets, 2 * first.hostAt("10.77.0.20")!.packetsReceived, "counters accumulate over runs")
    }

    func testStoreRejectsAFileThatIsNotADatabase() throws {
        let path = tempPath("junk.sqlite")
        try Data("this is not sqlite".utf8).write(to: URL(fileURLWithPath: path))
        let inv = Inventory(config: .registered, oui: OUIRegistry(entries: []), output: nil)
        XCTAssertThrowsError(try InventoryStore.load(path, into: inv)) { e in
            XCTAssertTrue("\(e)".contains(path))
        }
    }
}
