import Foundation
import SpanSightEngine
@testable import SpanSightS7comm
import SpanSightTestSupport
import SpanSightWire
import XCTest

/// The memory budget for S7comm sessions (as MemoryTests checks the other dissectors): the bytes
/// charged are the bytes held (the allocator's own counters), nothing stays charged when the
/// sessions end, charges depend on the traffic only, and a flooding flow stays at its cap.
final class S7commMemoryTests: XCTestCase {
    typealias B = S7Bytes

    /// TCP conversations to port 102 driven into an engine, sequence numbers kept per flow.
    final class Traffic {
        let engine: Engine
        let output: EventOutput
        var micros: Int64 = 1_764_158_400_000_000
        var seq: [Int: (UInt32, UInt32)] = [:]

        init(budget: Int, events: Bool = false) {
            var c = EngineConfig()
            c.dissectors = [S7comm.entry]
            c.memoryBudget = budget
            output = events ? EventOutput.inMemory() : EventOutput.disabled()
            engine = Engine(config: c, output: output)
            _ = engine.setLinkType(dlt: 1)
        }

        func client(_ flow: Int) -> String { "10.\(20 + flow / 65_000).\(flow / 250 % 250).\(flow % 250 + 1)" }
        func port(_ flow: Int) -> UInt16 { UInt16(20_000 + flow % 40_000) }

        func feed(_ frame: [UInt8]) {
            micros += 20
            frame.withUnsafeBytes { engine.process($0, wireLength: frame.count, timestampNanos: micros * 1000) }
        }

        func open(_ flow: Int) {
            seq[flow] = (1000, 5000)
            feed(PacketBuilder.tcp(src: client(flow), sport: port(flow), dst: "10.0.0.1", dport: 102, seq: 999, flags: PacketBuilder.syn))
            feed(PacketBuilder.tcp(src: "10.0.0.1", sport: 102, dst: client(flow), dport: port(flow), seq: 4999, ack: 1000,
                                   flags: PacketBuilder.syn | PacketBuilder.ackFlag))
            send(flow, B.connect())
            send(flow, fromClient: false, B.connect(cc: true))
            send(flow, B.dt(B.s7(1, ref: 0, param: B.setup())))
            send(flow, fromClient: false, B.dt(B.s7(3, ref: 0, param: B.setup())))
        }

        func send(_ flow: Int, fromClient: Bool = true, _ payload: [UInt8]) {
            guard var s = seq[flow] else { return }
            if fromClient {
                feed(PacketBuilder.tcp(src: client(flow), sport: port(flow), dst: "10.0.0.1", dport: 102, seq: s.0, ack: s.1,
                                       flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: payload))
                s.0 &+= UInt32(payload.count)
            } else {
                feed(PacketBuilder.tcp(src: "10.0.0.1", sport: 102, dst: client(flow), dport: port(flow), seq: s.1, ack: s.0,
                                       flags: PacketBuilder.ackFlag | PacketBuilder.psh, payload: payload))
                s.1 &+= UInt32(payload.count)
            }
            seq[flow] = s
        }
    }

    /// A read of 20 items (a request of 264 bytes: its copy fills most of a table slot).
    static func read(_ ref: Int) -> [UInt8] {
        B.dt(B.s7(1, ref: ref & 0xFFFF, param: B.readVar((0..<20).map { B.item(count: 4, db: 1, area: 0x84, byte: $0 * 4) })))
    }

    /// Flows that leave open requests, a TPKT cut in the middle and a PDU in reassembly: the heap
    /// bytes freed when the sessions end are those they were charged.
    func testChargedBytesAreHeldBytes() {
        let flows = 100
        let t = Traffic(budget: 512 << 20)
        for f in 0..<flows { t.open(f) }
        for f in 0..<flows {
            for r in 1...200 { t.send(f, Self.read(r)) }
            let pdu = B.s7(1, ref: 9999, param: B.readVar((0..<30).map { B.item(count: 1, area: 0x83, byte: $0) }))
            t.send(f, B.dt(Array(pdu[..<200]), eot: false))          // a TSDU in reassembly (client)
            t.send(f, fromClient: false, Array(Self.read(1)[..<100]))  // a TPKT cut (server)
        }
        let charged = t.engine.budget.appLayerUsed
        XCTAssertGreaterThan(charged, flows * 200 * S7RequestTable.stride / 2, "the traffic left state to account for")
        let before = heapBytesInUse()
        t.engine.finish()
        let freed = before - heapBytesInUse()
        print("s7comm memory: freed \(freed) B, charged \(charged) B for \(flows) flows")
        XCTAssertEqual(t.engine.budget.appLayerUsed, 0, "every charge given back when the sessions end")
        // Within 10 %, and 512 bytes a flow of state not charged (a session's small arrays).
        XCTAssertLessThanOrEqual(abs(freed - charged), charged / 10 + flows * 512, "freed \(freed) B, charged \(charged) B")
    }

    /// What is charged depends on the traffic alone: the same bytes charge the same on every run.
    func testChargesDoNotDependOnHeapHistory() {
        let charges = (0..<3).map { _ -> Int in
            var churn: [[UInt8]] = []
            for i in 0..<500 { churn.append([UInt8](repeating: 0, count: 40 + (i * 37) % 300)) }
            let t = Traffic(budget: 512 << 20)
            t.open(0)
            for r in 1...5 { t.send(0, Self.read(r)) }
            t.send(0, Array(Self.read(6)[..<50]))
            _ = churn.count
            return t.engine.budget.appLayerUsed
        }
        XCTAssertGreaterThan(charges[0], 0)
        XCTAssertEqual(Set(charges).count, 1, "\(charges)")
    }

    /// One flow flooding unanswered requests is held by the open-request cap (and the per-flow
    /// share): every request still gets its event, as unanswered.
    func testFloodIsBoundedAndEveryRequestIsLogged() {
        let t = Traffic(budget: 16 << 20, events: true)
        t.open(0)
        let n = 2000
        for r in 1...n { t.send(0, Self.read(r)) }
        XCTAssertLessThanOrEqual(t.engine.budget.appLayerUsed, t.engine.budget.shares.perFlow)
        t.engine.finish()
        let lines = t.output.lines
        let unanswered = lines.filter { $0.contains("\"event_type\":\"s7comm\"") && $0.contains("\"status\":\"unanswered\"") }.count
        XCTAssertEqual(unanswered, n)
        XCTAssertEqual(lines.filter { $0.contains("s7comm.too_many_transactions") }.count, 1)
    }
}
