import Foundation
import SpanSightEngine
@testable import SpanSightS7comm
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// What S7comm tells detection and the inventory (`S7comm.module`): the rule each command of the
/// fixture raises, the catalogue's signatures, the synthetic exchange.
final class S7commModuleTests: XCTestCase {
    func testFixtureCommandsAndTheirRules() throws {
        let url = TestPaths.fixtures.appendingPathComponent("s7comm-snap7.pcap")
        guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("fixture absent") }
        final class Commands: EngineObserver {
            var seen: Set<String> = []
            func observe(_ o: Observation, flow: borrowing FlowRecord, timestampNanos: Int64, app: ProtocolModule?) {
                guard case .command(let c) = o else { return }
                let rule = app?.commandRule(c, FlowIdentities()).map { "\($0.name) \($0.technique.map { "\($0.id)" } ?? "-")" } ?? "none"
                seen.insert("\(c.name) \(c.operation): \(rule)")
            }
            func flowEnded(_ flow: borrowing FlowRecord, app: ProtocolModule?, operations: UInt16) {}
        }
        let o = Commands()
        _ = try CaptureRunner.run(url, dissectors: [S7comm.entry], prepare: { e, _ in e.observer = o })
        XCTAssertEqual(o.seen, [
            "setup_communication association: none",
            "read_szl discovery: s7comm.read_identification T0888",   // SZL 0x0011, 0x001C, 0x0111
            "read_szl discovery: none",                               // the operating mode, capabilities...
            "read_var read: none",
            "write_var write: s7comm.write_var T0836",
            "list_blocks discovery: s7comm.block_discovery T0888",
            "list_blocks_of_type discovery: s7comm.block_discovery T0888",
            "get_block_info discovery: s7comm.block_discovery T0888",
            "start_upload file: s7comm.program_upload T0845",
            "read_clock time: none",
            "set_clock time: s7comm.set_clock T0836",
            "plc_password association: none",
            "clear_password association: none",
            "plc_stop control: s7comm.plc_stop T0858",
            "plc_start control: s7comm.plc_start T0858",
            "plc_compress_memory control: s7comm.memory_operation T0889",
            "plc_copy_ram_to_rom file: s7comm.memory_operation T0889",
            "plc_delete_block file: s7comm.block_delete T0809",
        ])
    }

    func testCatalogueAndSignatures() {
        let m = S7comm.module
        XCTAssertEqual("\(m.name)", "s7comm")
        XCTAssertTrue(S7comm.entry.module === m)
        let ids = m.allSignatures.map(\.id)
        XCTAssertEqual(Set(ids).count, ids.count)
        for a in S7comm.Anomalies.all { XCTAssertEqual(m.signature(ofAnomaly: a.name)?.id, 1500 + a.number) }
        XCTAssertEqual(m.identities.map { "\($0.key)" }, S7comm.identityKeys.map { "\($0)" })
        // A download is critical (raised even when a baseline holds it).
        XCTAssertTrue(S7comm.Rules.programDownload.critical)
        XCTAssertEqual("\(S7comm.Rules.force.technique?.id ?? "")", "T0835")
        let c = Command(operation: .write, function: 5, name: "write_var", unit: 1, addressStart: 20, addressCount: 4, subfunction: 0x84)
        XCTAssertEqual(m.baselineFact(c, FlowIdentities())?.range, 20...23)
        XCTAssertEqual(m.baselineFact(c, FlowIdentities())?.checkRange, true)
    }

    /// The synthetic exchange is S7comm the dissector reads without complaint.
    func testSyntheticExchange() throws {
        let synth = try XCTUnwrap(S7comm.module.synthetic)
        var random = SynthRandom(seed: 1)
        var deliveries: [Delivery] = []
        for counter in 0..<5 {
            for (fromClient, payload) in synth.exchange(UInt16(counter), &random) {
                XCTAssertEqual(ByteView.with(payload) { S7comm.probe($0) }, .match)
                deliveries.append(Delivery(direction: fromClient ? .toServer : .toClient, bytes: payload))
            }
        }
        let s = runSession(deliveries)
        XCTAssertEqual(s.anomalies, [])
        XCTAssertEqual(s.transactions.map { $0.str("status") ?? "" }, [String](repeating: "complete", count: 5))
    }
}
