import Foundation
import XCTest
import SpanSightWire
import SpanSightTestSupport
@testable import SpanSightInventory

/// The SQLite store (issue 21): saves merge what an inventory gained instead of rewriting the
/// file, so writers that loaded the same state lose nothing of each other's; a round trip
/// keeps every value (multi-valued identities included); times and MACs are text.
final class InventoryStoreTests: XCTestCase {
    func tempPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spansight-store-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent(name).path
    }

    func load(_ db: String) throws -> Inventory {
        let inv = Inventory(config: .registered, oui: InventoryRun.oui, output: nil)
        try InventoryStore.load(db, into: inv)
        return inv
    }

    /// The lost update of a whole-file rewrite: two runs load the same (empty) store, each
    /// analyses its own capture of the same two lab hosts, and each saves. Everything both saw
    /// is in the store: the hosts once, their counters the sum, each run's roles and services.
    func testTwoWritersThatLoadedTheSameStateLoseNothing() throws {
        let db = tempPath("shared.sqlite")
        let (modbus, _) = try InventoryRun.run([InventoryRun.fixture("modbus-pymodbus.pcap")], store: db)
        let (dnp3, _) = try InventoryRun.run([InventoryRun.fixture("dnp3-opendnp3.pcap")], store: db)
        try InventoryStore.save(db, modbus, source: "modbus")
        try InventoryStore.save(db, dnp3, source: "dnp3")
        let merged = try load(db)
        XCTAssertEqual(merged.hosts.map(\.address.text).sorted(), ["10.77.0.10", "10.77.0.20"])
        for ip in ["10.77.0.10", "10.77.0.20"] {
            let m = try XCTUnwrap(modbus.hostAt(ip)), d = try XCTUnwrap(dnp3.hostAt(ip)), s = try XCTUnwrap(merged.hostAt(ip))
            XCTAssertEqual(s.packetsSent, m.packetsSent + d.packetsSent, ip)
            XCTAssertEqual(s.bytesReceived, m.bytesReceived + d.bytesReceived, ip)
            XCTAssertEqual(s.flowsAsClient + s.flowsAsServer, m.flowsAsClient + m.flowsAsServer + d.flowsAsClient + d.flowsAsServer, ip)
            XCTAssertEqual(Set(s.roles.keys), Set(m.roles.keys).union(d.roles.keys), ip)
            XCTAssertEqual(Set(s.services.keys), Set(m.services.keys).union(d.services.keys), ip)
            XCTAssertEqual(s.firstSeen, min(m.firstSeen, d.firstSeen))
            XCTAssertEqual(s.lastSeen, max(m.lastSeen, d.lastSeen))
        }
        XCTAssertEqual(merged.edges.count, Set(modbus.edges.keys).union(dnp3.edges.keys).count)
        // A periodic save followed by the final one adds each gain once.
        let (again, _) = try InventoryRun.run([InventoryRun.fixture("modbus-pymodbus.pcap")], store: db)
        try InventoryStore.save(db, again, source: "modbus", endOfRun: false)
        try InventoryStore.save(db, again, source: "modbus")
        let plc = try XCTUnwrap(try load(db).hostAt("10.77.0.20"))
        XCTAssertEqual(plc.packetsReceived, 2 * modbus.hostAt("10.77.0.20")!.packetsReceived + dnp3.hostAt("10.77.0.20")!.packetsReceived)
    }

    /// Saved and loaded back, an inventory reports the same (times to the nanosecond, every
    /// value of a multi-valued identity such as HL7's applications).
    func testARoundTripKeepsEveryValue() throws {
        for fixture in ["hl7-mllp-python-hl7.pcap", "dicom-pynetdicom.pcap", "detect-modbus-normal.pcap", "dnp3-opendnp3.pcap"] {
            let db = tempPath("round.sqlite")
            let (inv, _) = try InventoryRun.run([InventoryRun.fixture(fixture)])
            try InventoryStore.save(db, inv, source: fixture)
            let back = try load(db)
            // The report's header counts the changes this run recorded: a loaded inventory recorded none.
            let got = String(decoding: InventoryReport.json(back, assets: back.assets()), as: UTF8.self).split(separator: "\n").dropFirst()
            let want = String(decoding: InventoryReport.json(inv, assets: inv.assets()), as: UTF8.self).split(separator: "\n").dropFirst()
            XCTAssertEqual(got.count, want.count, fixture)
            for (g, w) in zip(got, want) where g != w { XCTFail("\(fixture): loaded \(g.prefix(400)) stored \(w.prefix(400))"); break }
            for h in inv.hosts {
                let b = try XCTUnwrap(back.hostAt(h.address.text))
                XCTAssertEqual(b.identities.map { "\($0.key)=\($0.value)@\($0.firstSeen)-\($0.lastSeen)" }.sorted(),
                               h.identities.map { "\($0.key)=\($0.value)@\($0.firstSeen)-\($0.lastSeen)" }.sorted(), "\(fixture) \(h.address.text)")
                XCTAssertEqual(b.macs.map(\.mac), h.macs.map(\.mac))
                XCTAssertEqual(b.changes.count, h.changes.count)
            }
        }
        // A PACS answering to several AE titles (added to a fixture's host): all of them come back.
        let db = tempPath("multi.sqlite")
        let (dicom, _) = try InventoryRun.run([InventoryRun.fixture("dicom-pynetdicom.pcap")])
        let pacs = try XCTUnwrap(dicom.index[IPAddress("10.77.0.20")!])
        let t = dicom.hosts[pacs].lastSeen
        for title in ["PACS_MAIN", "PACS_ARCHIVE"] { dicom.setIdentity(pacs, key: "dicom.ae_title", value: title, t: t, flowID: 1, source: "dicom") }
        XCTAssertEqual(dicom.hosts[pacs].identities.filter { $0.key == "dicom.ae_title" }.count, 3)
        try InventoryStore.save(db, dicom, source: "dicom")
        let titles = try XCTUnwrap(try load(db).hostAt("10.77.0.20")).identities.filter { $0.key == "dicom.ae_title" }.map(\.value)
        XCTAssertEqual(titles.sorted(), ["PACS_ARCHIVE", "PACS_MAIN", "SPANSIGHT_SCP"])
    }

    /// A single-valued identity that changed is stored with its newest value; a writer that
    /// still holds the old value (it loaded before the change) does not bring it back.
    func testASupersededValueIsReplaced() throws {
        let db = tempPath("changed.sqlite")
        let (first, _) = try InventoryRun.run([InventoryRun.fixture("dicom-pynetdicom.pcap")])
        try InventoryStore.save(db, first, source: "a")
        let stale = try load(db), upgraded = try load(db)
        let k = try XCTUnwrap(upgraded.index[IPAddress("10.77.0.20")!])
        let later = upgraded.hosts[k].lastSeen + 1_000_000_000
        upgraded.setIdentity(k, key: "dicom.implementation_version_name", value: "PYNETDICOM_400", t: later, flowID: 2, source: "dicom")
        XCTAssertEqual(upgraded.changesRecorded, 1)
        try InventoryStore.save(db, upgraded, source: "b")
        try InventoryStore.save(db, stale, source: "c")
        let back = try load(db)
        let pacs = try XCTUnwrap(back.hostAt("10.77.0.20"))
        XCTAssertEqual(pacs.identities.filter { $0.key == "dicom.implementation_version_name" }.map(\.value), ["PYNETDICOM_400"])
        XCTAssertEqual(pacs.changes.map { "\($0.oldValue) -> \($0.newValue)" }, ["PYNETDICOM_304 -> PYNETDICOM_400"])
        // Saved again by the writer that saw the change, the old value's row is gone from the file.
        try InventoryStore.save(db, upgraded, source: "b")
        let again = try load(db)
        XCTAssertEqual(again.hostAt("10.77.0.20")?.identities.filter { $0.key == "dicom.implementation_version_name" }.count, 1)
    }

    func testStoreTimeText() {
        for n: Int64 in [0, 1, 999_999_999, 1_764_158_400_123_456_789, 9_000_000_000_000_000_000] {
            let t = StoreTime.text(n)
            XCTAssertEqual(t.utf8.count, 30, t)
            XCTAssertEqual(StoreTime.nanos(t), n, t)
        }
        XCTAssertEqual(StoreTime.text(1_764_158_400_000_123_456), "2025-11-26T12:00:00.000123456Z")
        XCTAssertLessThan(StoreTime.text(9_000_000_000), StoreTime.text(10_000_000_000), "text order is time order")
        XCTAssertNil(StoreTime.nanos("2025-13-26T12:00:00.000000000Z"))
        XCTAssertNil(StoreTime.nanos("yesterday"))
        XCTAssertNil(StoreTime.nanos("2263-01-01T00:00:00.000000000Z"), "past Int64 nanoseconds: refused, not a trap")
        XCTAssertNil(StoreTime.nanos("9999-12-31T23:59:59.999999999Z"))
        XCTAssertEqual(MAC.parse("00:1b:1b:aa:bb:0c"), 0x001B_1BAA_BB0C)
        XCTAssertNil(MAC.parse("00:1b:1b:aa:bb"))
    }
}
