import Foundation
import XCTest
import SpanSightEngine
import SpanSightWire
import SpanSightTestSupport
@testable import SpanSightInventory

/// The inventory of the fixtures made from real stacks (pymodbus, opendnp3), checked against
/// how the servers were configured (fixtures/gen) and against tshark.
final class InventoryFixtureTests: XCTestCase {
    func testModbusFixtureAssets() throws {
        let (inv, _) = try InventoryRun.run([InventoryRun.fixture("modbus-pymodbus.pcap")])
        let assets = inv.assets()
        XCTAssertEqual(assets.map { $0.addresses.map { $0.text } }, [["10.77.0.10"], ["10.77.0.20"]], "every host once")
        let client = assets[0], server = assets[1]
        XCTAssertEqual(client.roles, ["modbus.client"])
        XCTAssertEqual(server.roles, ["modbus.server"])
        XCTAssertEqual(client.id, "mac:02:77:00:00:00:10")
        XCTAssertEqual(server.classification.deviceClass, .plc)
        XCTAssertEqual(server.classification.domain, .ot)
        XCTAssertEqual(server.classification.purdueLevel, 1)
        XCTAssertEqual(client.classification.deviceClass, .hmi)
        XCTAssertFalse(server.classification.reasons.isEmpty)
        // Device identification exactly as fixtures/gen/modbus_server.py configures it.
        // Units 1 and 17 answer (fixtures/gen/modbus_client.py); unit 5 is not configured and
        // pymodbus answers it with exception 4 only.
        XCTAssertEqual(server.children.map { "\($0.kind)=\($0.id)" }, ["modbus.unit=1", "modbus.unit=17"])
        let ids = Dictionary(server.children[0].identities.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(ids["modbus.vendor_name"], "SpanSight Test Vendor")
        XCTAssertEqual(ids["modbus.product_code"], "SST-PLC-1")
        XCTAssertEqual(ids["modbus.revision"], "1.2.3")
        XCTAssertEqual(ids["modbus.vendor_url"], "https://example.invalid")
        XCTAssertEqual(ids["modbus.product_name"], "SpanSight PLC")
        XCTAssertEqual(ids["modbus.model_name"], "SST-1000")
        XCTAssertEqual(ids["modbus.user_application_name"], "fixture")
        // Evidence: the flow and the time of the answer.
        XCTAssertNotEqual(server.children[0].identities[0].evidence.flowID, 0)
        // The services: port 502 only, recognised as Modbus.
        XCTAssertEqual(server.services.map { "\($0.0.port)/\($0.1.app)" }, ["502/modbus"])
        // Both ends run Linux network namespaces: the SYN fingerprint says Linux.
        XCTAssertEqual(client.stack?.label, "Linux 3.x-6.x")
        XCTAssertEqual(client.stack?.quality, "exact")
        XCTAssertEqual(client.stack?.distance, 0)
        // The fixture's MACs are locally administered (set by make-fixtures.sh): no vendor, said so.
        XCTAssertEqual(client.vendor, "(locally administered address)")
    }

    func testDNP3FixtureAssets() throws {
        let (inv, _) = try InventoryRun.run([InventoryRun.fixture("dnp3-opendnp3.pcap")])
        let assets = inv.assets()
        XCTAssertEqual(assets.count, 2)
        let master = try XCTUnwrap(assets.first { $0.roles == ["dnp3.master"] })
        let outstation = try XCTUnwrap(assets.first { $0.roles == ["dnp3.outstation"] })
        XCTAssertEqual(master.children.map { $0.id }, [1], "the master's link address")
        XCTAssertEqual(outstation.children.map { $0.id }, [10], "the outstation's link address")
        XCTAssertEqual(outstation.classification.deviceClass, .rtu)
        XCTAssertEqual(master.classification.deviceClass, .hmi)
    }

    /// pynetdicom SCU and SCP: AE titles, implementation class UID and version name as the
    /// fixture's scripts run them (fixtures/gen/dicom_scu.py, dicom_scp.py), the toolkit named.
    func testDICOMFixtureAssets() throws {
        for name in ["dicom-pynetdicom.pcap", "dicom-pynetdicom-port4242.pcap"] {
            let (inv, _) = try InventoryRun.run([InventoryRun.fixture(name)])
            let assets = inv.assets()
            XCTAssertEqual(assets.count, 2, name)
            let scu = try XCTUnwrap(assets.first { $0.roles == ["dicom.scu"] }, name)
            let scp = try XCTUnwrap(assets.first { $0.roles == ["dicom.scp"] }, name)
            func values(_ a: Asset, _ key: String) -> [String] { a.identities.filter { $0.key == key }.map { $0.value } }
            // The rejected association called WRONG_AE: not an AE title of the SCP.
            XCTAssertEqual(values(scp, "dicom.ae_title"), ["SPANSIGHT_SCP"], name)
            XCTAssertEqual(values(scu, "dicom.ae_title"), ["SPANSIGHT_SCU"], name)
            for a in [scu, scp] {
                XCTAssertEqual(values(a, "dicom.implementation_class_uid"), ["1.2.826.0.1.3680043.9.3811.3.0.4"], name)
                XCTAssertEqual(values(a, "dicom.implementation_version_name"), ["PYNETDICOM_304"], name)
                XCTAssertEqual(a.software, ["pynetdicom (PYNETDICOM_304)"], name)
                XCTAssertEqual(a.classification.domain, .iomt, name)
            }
            XCTAssertEqual(scp.classification.deviceClass, .pacs, "accepts C-STORE")
            XCTAssertEqual(scu.classification.deviceClass, .modality, "sends C-STORE")
            XCTAssertEqual(inv.changesRecorded, 0, name)
        }
    }

    /// python-hl7 MLLP client and server: applications, facilities and version as the
    /// fixture's messages carry them (fixtures/gen/hl7_client.py), on 2575 and on 6661.
    func testHL7FixtureAssets() throws {
        for name in ["hl7-mllp-python-hl7.pcap", "hl7-mllp-python-hl7-port6661.pcap"] {
            let (inv, _) = try InventoryRun.run([InventoryRun.fixture(name)])
            let assets = inv.assets()
            XCTAssertEqual(assets.count, 2, name)
            let sender = try XCTUnwrap(assets.first { $0.roles == ["hl7.sender"] }, name)
            let receiver = try XCTUnwrap(assets.first { $0.roles == ["hl7.receiver"] }, name)
            func values(_ a: Asset, _ key: String) -> [String] { a.identities.filter { $0.key == key }.map { $0.value } }
            XCTAssertEqual(values(sender, "hl7.application"), ["SENDAPP"], name)
            XCTAssertEqual(values(sender, "hl7.facility"), ["SENDFAC"], name)
            XCTAssertEqual(values(receiver, "hl7.application"), ["RECVAPP"], name)
            XCTAssertEqual(values(receiver, "hl7.facility"), ["RECVFAC"], name)
            XCTAssertEqual(values(sender, "hl7.version"), ["2.5"], name)
            XCTAssertEqual(sender.classification.deviceClass, .interfaceEngine, name)
            XCTAssertEqual(receiver.classification.domain, .iomt, name)
            XCTAssertEqual(inv.changesRecorded, 0, name)
        }
    }

    /// Every IP endpoint tshark sees in a TCP/UDP conversation appears exactly once, on the
    /// fixtures and the corpus.
    func testEveryHostOnceAgainstTshark() throws {
        guard TShark.path != nil else { throw XCTSkip("tshark not installed") }
        var files = TestPaths.fixtureFiles(prefix: "modbus-pymodbus") + TestPaths.fixtureFiles(prefix: "dnp3")
        files += TestPaths.corpusFiles("modbus").prefix(6)
        for f in files {
            let (inv, _) = try InventoryRun.run([f])
            guard let out = TShark.run(f, ["-T", "fields", "-Y", "tcp or udp", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst"]) else { continue }
            var theirs = Set<String>()
            for line in out.split(separator: "\n") {
                for field in line.split(separator: "\t") { for a in field.split(separator: ",") { theirs.insert(String(a)) } }
            }
            let ours = inv.hosts.map { $0.address.text }
            XCTAssertEqual(ours.count, Set(ours).count, "\(f.lastPathComponent): a host listed twice")
            XCTAssertEqual(Set(ours), theirs, f.lastPathComponent)
        }
    }

    /// MAC vendors from Debian's IEEE registry against tshark's own manufacturer database on
    /// every MAC of the corpus (both name the IEEE registrant; spelling may differ a little).
    func testVendorsAgreeWithTshark() throws {
        guard TShark.path != nil else { throw XCTSkip("tshark not installed") }
        guard !InventoryRun.oui.isEmpty else { throw XCTSkip("Debian's ieee-data is not installed (/usr/share/ieee-data)") }
        let files = TestPaths.corpusFiles("modbus") + TestPaths.corpusFiles("dnp3").filter { !$0.lastPathComponent.hasPrefix("iti-") }
        if files.isEmpty { throw XCTSkip("corpus absent: put it at ../shared/corpus (MANIFEST.md) or set SPANSIGHT_CORPUS") }
        var compared = 0
        var disagreements = Set<String>()
        for f in files {
            guard let out = TShark.run(f, ["-T", "fields", "-e", "eth.src", "-e", "eth.src.oui_resolved"]) else { continue }
            for line in Set(out.split(separator: "\n").map(String.init)) {
                let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard c.count == 2, !c[1].isEmpty, let mac = UInt64(c[0].replacingOccurrences(of: ":", with: ""), radix: 16) else { continue }
                // tshark's database names 00:00:00 "Officially Xerox, but 0:0:0:0:0:0 is more common".
                if mac >> 24 == 0 { continue }
                compared += 1
                let ours = InventoryRun.oui.vendor(mac) ?? ""
                if Self.norm(ours).prefix(8) != Self.norm(c[1]).prefix(8) { disagreements.insert("\(c[0].prefix(8)): ours=\(ours) tshark=\(c[1])") }
            }
        }
        XCTAssertGreaterThan(compared, 20)
        // Pinned, where the IEEE registry (the authority on who registered a block) and
        // Wireshark's edited manuf file differ on purpose:
        // - 00:04:17 is registered to ELAU AG; Wireshark names the company that bought it.
        // - 52:54:00 (QEMU) is a locally administered address, in no IEEE registry; Wireshark
        //   carries a hand-written guess.
        XCTAssertEqual(disagreements, [
            "00:04:17: ours=ELAU AG tshark=Schneider Electric",
            "52:54:00: ours= tshark=Realtek (UpTech? also reported)",
        ])
    }

    static func norm(_ s: String) -> String { String(s.lowercased().filter { $0.isLetter || $0.isNumber }) }
}
