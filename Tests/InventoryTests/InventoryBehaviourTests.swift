import Foundation
import XCTest
import SpanSightEngine
import SpanSightWire
import SpanSightTestSupport
import SpanSightModbus
import SpanSightDNP3
import SpanSightProtocols
@testable import SpanSightInventory

final class InventoryBehaviourTests: XCTestCase {
    final class Changes: AssetChangeListener {
        var seen: [AssetChange] = []
        func assetChanged(_ change: AssetChange) { seen.append(change) }
    }

    func harness(_ config: InventoryConfig = InventoryConfig.registered) -> (EngineHarness, Inventory, Changes) {
        let h = EngineHarness(dissectors: [Modbus.entry, DNP3.entry])
        let inv = Inventory(config: config, oui: OUIRegistry(entries: [("00800F", "Standard Microsystems Corp."), ("001B1B", "Siemens AG")]), output: h.output)
        let ch = Changes()
        inv.changeListener = ch
        h.engine.observer = inv
        return (h, inv, ch)
    }

    static let plcMAC: UInt64 = 0x001B_1B00_0001
    static let hmiMAC: UInt64 = 0x0080_0F00_0002

    /// Child assets: one gateway IP answering for Modbus units 1, 2 and 3.
    func testChildDevicesBehindOneIP() throws {
        let (h, inv, _) = harness()
        var c = Conversation(h: h, clientMAC: Self.hmiMAC, serverMAC: Self.plcMAC, client: "10.1.0.2", server: "10.1.0.1", sport: 40000, dport: 502)
        c.open()
        for (n, unit) in [UInt8(1), 2, 3].enumerated() {
            c.request(Frames.mbap(UInt16(n + 1), unit: unit, [0x03, 0x00, 0x00, 0x00, 0x02]))
            c.response(Frames.mbap(UInt16(n + 1), unit: unit, [0x03, 0x04, 0x00, 0x01, 0x00, 0x02]))
        }
        c.close()
        _ = h.finish()
        let gw = try XCTUnwrap(inv.hostAt("10.1.0.1"))
        XCTAssertEqual(gw.children.map { "\($0.kind)=\($0.id)" }, ["modbus.unit=1", "modbus.unit=2", "modbus.unit=3"])
        let asset = try XCTUnwrap(inv.assets().first { $0.addresses.map { $0.text } == ["10.1.0.1"] })
        XCTAssertEqual(asset.vendor, "Siemens AG", "vendor from the given OUI table")
        XCTAssertEqual(asset.children.count, 3)
        // One asset event per child, on first sight only.
        let childEvents = h.output.lines.filter { $0.contains("\"event\":\"child\"") }
        XCTAssertEqual(childEvents.count, 3)
    }

    /// A device-identification answer that changes is recorded with both values and time,
    /// and reported to the listener (the detection engine).
    func testChangedDeviceIdentification() throws {
        let (h, inv, changes) = harness()
        var c = Conversation(h: h, clientMAC: Self.hmiMAC, serverMAC: Self.plcMAC, client: "10.1.0.2", server: "10.1.0.1", sport: 40001, dport: 502)
        c.open()
        c.request(Frames.mbap(1, unit: 1, [0x2B, 0x0E, 0x01, 0x00]))
        c.response(Frames.mbap(1, unit: 1, Frames.deviceID([(0, "Acme"), (1, "PLC-1"), (2, "1.0")])))
        c.request(Frames.mbap(2, unit: 1, [0x2B, 0x0E, 0x01, 0x00]))
        c.response(Frames.mbap(2, unit: 1, Frames.deviceID([(0, "Acme"), (1, "PLC-1"), (2, "6.6.6")])))
        c.close()
        _ = h.finish()
        let host = try XCTUnwrap(inv.hostAt("10.1.0.1"))
        XCTAssertEqual(host.children.first?.identities.first { $0.key == "modbus.revision" }?.value, "6.6.6")
        XCTAssertEqual(host.changes.map { "\($0.kind) \($0.key) \($0.oldValue)->\($0.newValue)" },
                       ["device_id_changed modbus.unit 1 modbus.revision 1.0->6.6.6"])
        XCTAssertEqual(changes.seen.filter { $0.kind.description == "device_id_changed" }.count, 1)
        XCTAssertTrue(h.output.lines.contains { $0.contains("\"event\":\"device_id_changed\"") && $0.contains("\"old_value\":\"1.0\"") })
    }

    /// A MAC that moves to another IP (and the IP that gets another MAC) is recorded.
    func testMACMovesToAnotherIP() throws {
        let (h, inv, changes) = harness()
        var a = Conversation(h: h, clientMAC: Self.hmiMAC, serverMAC: Self.plcMAC, client: "10.1.0.2", server: "10.1.0.1", sport: 40002, dport: 502)
        a.open(); a.close()
        h.clockMicros += 60_000_000
        // The same HMI MAC, a minute later, from 10.1.0.99.
        var b = Conversation(h: h, clientMAC: Self.hmiMAC, serverMAC: Self.plcMAC, client: "10.1.0.99", server: "10.1.0.1", sport: 40003, dport: 502)
        b.open(); b.close()
        _ = h.finish()
        let moved = try XCTUnwrap(inv.hostAt("10.1.0.99")?.changes.first)
        XCTAssertEqual(moved.kind, "mac_moved")
        XCTAssertEqual(moved.oldValue, "10.1.0.2")
        XCTAssertEqual(moved.newValue, "10.1.0.99")
        XCTAssertTrue(changes.seen.contains { $0.kind.description == "mac_moved" && $0.mac == Self.hmiMAC })
        // One asset (keyed by the MAC) with both addresses in its history.
        let asset = try XCTUnwrap(inv.assets().first { $0.mac == Self.hmiMAC })
        XCTAssertEqual(asset.addresses.map { $0.text }, ["10.1.0.2", "10.1.0.99"])
        XCTAssertEqual(asset.vendor, "Standard Microsystems Corp.")
    }

    /// A MAC seen with many addresses is a router's: the hosts behind it stay apart.
    func testRouterMACDoesNotMergeHosts() throws {
        let (h, inv, _) = harness()
        let routerMAC: UInt64 = 0x0011_2233_4455
        for i in 0..<8 {
            var c = Conversation(h: h, clientMAC: routerMAC, serverMAC: Self.plcMAC, client: "192.168.\(i).5", server: "10.1.0.1",
                                 sport: UInt16(41000 + i), dport: 502)
            // Routed: one hop away, so the TTL arrives as 63.
            c.open(clientTTL: 63); c.close()
        }
        _ = h.finish()
        XCTAssertTrue(inv.isGatewayMAC(routerMAC))
        let remote = inv.assets().filter { $0.addresses.first?.text.hasPrefix("192.168.") ?? false }
        XCTAssertEqual(remote.count, 8)
        XCTAssertTrue(remote.allSatisfy { $0.id.hasPrefix("ip:") && $0.viaGatewayMAC == routerMAC })
        XCTAssertEqual(inv.changesRecorded, 0, "a router's MAC with many addresses is not a move")
    }

    /// SYN fingerprints: Linux (the fixture's own stack, above) and Windows 10 from its
    /// published defaults: TTL 128, window 64240, MSS 1460, NOP, WS 8, NOP, NOP, SACK-permitted, DF.
    func testWindowsAndEmbeddedSYNFingerprints() throws {
        let (h, inv, changes) = harness()
        let windowsOptions: [UInt8] = [2, 4, 0x05, 0xB4, 1, 3, 3, 8, 1, 1, 4, 2]
        let embeddedOptions: [UInt8] = [2, 4, 0x05, 0xB4]
        var c = Conversation(h: h, clientMAC: Self.hmiMAC, serverMAC: Self.plcMAC, client: "10.1.0.2", server: "10.1.0.1", sport: 40010, dport: 502)
        // The PLC answers as lwIP-like firmware: TTL 255, MSS only, window 2 * MSS.
        c.open(clientTTL: 127, clientWindow: 64240, clientOptions: windowsOptions, serverTTL: 255, serverWindow: 2920, serverOptions: embeddedOptions)
        c.close()
        _ = h.finish()
        let win = try XCTUnwrap(inv.hostAt("10.1.0.2")?.stack)
        XCTAssertEqual(win.label, "Windows 7-11 / Server 2008-2022")
        XCTAssertEqual(win.quality, "exact")
        XCTAssertEqual(win.initialTTL, 128)
        XCTAssertEqual(win.distance, 1, "TTL 127 seen: one router away")
        XCTAssertEqual(win.signature, "4:128:1460:mss*44,8:mss,nop,ws,nop,nop,sok:df,id+")
        let plc = try XCTUnwrap(inv.hostAt("10.1.0.1")?.stack)
        XCTAssertEqual(plc.family, "embedded")
        XCTAssertTrue(plc.fromSYNACK)
        XCTAssertTrue(changes.seen.allSatisfy { $0.kind.description != "os_fingerprint_changed" })
    }

    /// An unknown stack gets a stable label from its signature; a changed fingerprint is recorded.
    func testUnknownStableAndChangedFingerprint() throws {
        let (h, inv, changes) = harness()
        var a = Conversation(h: h, clientMAC: Self.hmiMAC, serverMAC: Self.plcMAC, client: "10.1.0.2", server: "10.1.0.1", sport: 40020, dport: 502)
        a.open(clientTTL: 64, clientWindow: 1234, clientOptions: [2, 4, 0x05, 0xB4, 1, 1, 4, 2])
        a.close()
        let first = try XCTUnwrap(inv.hostAt("10.1.0.2")?.stack)
        XCTAssertTrue(first.label.hasPrefix("unknown-"))
        var b = Conversation(h: h, clientMAC: Self.hmiMAC, serverMAC: Self.plcMAC, client: "10.1.0.2", server: "10.1.0.1", sport: 40021, dport: 502)
        b.open(clientTTL: 64, clientWindow: 1234, clientOptions: [2, 4, 0x05, 0xB4, 1, 1, 4, 2])
        b.close()
        XCTAssertEqual(inv.hostAt("10.1.0.2")?.stack?.label, first.label, "the same stack keeps its label")
        var c = Conversation(h: h, clientMAC: Self.hmiMAC, serverMAC: Self.plcMAC, client: "10.1.0.2", server: "10.1.0.1", sport: 40022, dport: 502)
        c.open(clientTTL: 128, clientWindow: 64240, clientOptions: [2, 4, 0x05, 0xB4, 1, 3, 3, 8, 1, 1, 4, 2])
        c.close()
        _ = h.finish()
        XCTAssertEqual(inv.hostAt("10.1.0.2")?.changes.map { $0.kind }, ["os_fingerprint_changed"])
        XCTAssertEqual(changes.seen.filter { $0.kind.description == "os_fingerprint_changed" }.count, 1)
    }

    /// Memory bounded: 100k distinct hosts against a cap of 1000; what was dropped is counted.
    func testHundredThousandHostsKeepTheCap() throws {
        var config = InventoryConfig.registered
        config.maxHosts = 1000
        config.events = false
        let (h, inv, _) = harness(config)
        for i in 0..<100_000 {
            let src = "10.\(i >> 16 & 0xFF).\(i >> 8 & 0xFF).\(i & 0xFF)"
            h.feed(PacketBuilder.udp(src: src, sport: 5000, dst: "172.16.0.1", dport: 53, payload: [1, 2, 3]), advanceMicros: 10)
        }
        _ = h.finish()
        XCTAssertEqual(inv.hosts.count, 1000)
        XCTAssertGreaterThanOrEqual(inv.hostsDropped, 99_000)
        XCTAssertLessThanOrEqual(inv.hosts.first { $0.address.text == "172.16.0.1" }?.peers.count ?? 0, config.maxPeersPerHost)
    }
}
