@testable import SpanSightEngine
import SpanSightWire
import SpanSightTestSupport
import XCTest

/// Flow table: symmetric lookup, caps with eviction of the oldest idle flow, idle timeouts by
/// packet time.
final class FlowTableTests: XCTestCase {
    func udp(_ i: Int, reply: Bool = false) -> [UInt8] {
        let host = "10.\(9 + (i >> 16) & 255).\((i >> 8) & 255).\(i & 255)"
        return reply
            ? PacketBuilder.udp(src: "10.0.0.1", sport: 20000, dst: host, dport: 40000, payload: [1])
            : PacketBuilder.udp(src: host, sport: 40000, dst: "10.0.0.1", dport: 20000, payload: [1])
    }

    func flowEvents(_ lines: [String]) -> [String] { lines.filter { $0.contains("\"event_type\":\"flow\"") } }

    /// The record's layout is a speed decision (a packet touches two of its five cache lines);
    /// a field added in the wrong place would silently cost a cache miss per packet.
    func testRecordLayout() {
        XCTAssertEqual(MemoryLayout<FlowKey>.size, 41)
        XCTAssertEqual(MemoryLayout<StreamState>.size, 35)
        XCTAssertEqual(MemoryLayout<FlowRecord>.stride, 320)
        XCTAssertEqual(MemoryLayout<FlowApp>.size, 2)
        // The context a session gets on every call is passed down by value through generic code.
        XCTAssertEqual(MemoryLayout<DissectContext>.size, 40)
        func line(_ k: PartialKeyPath<FlowRecord>) -> Int { MemoryLayout<FlowRecord>.offset(of: k)! / 64 }
        // Line 0: what every packet reads or writes, whichever way it travels.
        for k: PartialKeyPath<FlowRecord> in [\.key, \.app, \.tcpState, \.timeoutClass, \.queued, \.bits,
                                               \.session, \.activeNanos] {
            XCTAssertEqual(line(k), 0, "\(k)")
        }
        XCTAssertEqual(MemoryLayout<FlowRecord>.offset(of: \.activeNanos)! + 8, 64)
        // Lines 1 and 2: what a packet of that direction writes.
        for k: PartialKeyPath<FlowRecord> in [\.packetsToServer, \.bytesToServer, \.toServer, \.operations, \.flagsToServer, \.lastToServer] {
            XCTAssertEqual(line(k), 1, "\(k)")
        }
        XCTAssertEqual(MemoryLayout<FlowRecord>.offset(of: \.toServer)! + MemoryLayout<StreamState>.size, 115)
        for k: PartialKeyPath<FlowRecord> in [\.packetsToClient, \.bytesToClient, \.toClient, \.flagsToClient, \.lastToClient] {
            XCTAssertEqual(line(k), 2, "\(k)")
        }
        XCTAssertEqual(MemoryLayout<FlowRecord>.offset(of: \.toClient)! + MemoryLayout<StreamState>.size, 179)
        // Lines 3 and 4: flow start and end, first packets of a direction, the idle lists.
        for k: PartialKeyPath<FlowRecord> in [\.id, \.firstNanos, \.queuedNanos] { XCTAssertEqual(line(k), 3, "\(k)") }
        for k: PartialKeyPath<FlowRecord> in [\.firstToServer, \.firstToClient, \.lruPrev, \.lruNext, \.synSeq] { XCTAssertEqual(line(k), 4, "\(k)") }
        let t = FlowTable(maxFlows: 4)
        let key = FlowKey(client: .zero, server: .zero, clientPort: 1, serverPort: 2, proto: 6, vlanOuter: 0, vlanInner: 0)
        let hash = flowHash(key.client, key.clientPort, key.server, key.serverPort, proto: 6, vlanOuter: 0, vlanInner: 0)
        let slot = t.insert(FlowRecord(key: key, id: 1, firstNanos: 0, activeNanos: 0, firstPacket: 1), hash: hash)
        t.withRecordAddress(slot) { XCTAssertEqual(Int(bitPattern: $0) % 64, 0, "records start on a cache line") }
    }

    /// Lookup, insertion and removal (backward shift, home buckets recomputed from keys) under
    /// churn, against a model; with a 23-bit tag (300 flows) and a 1-bit tag (2^30 flows: the
    /// tag rarely tells flows apart, so keys decide).
    func testIndexChurnAgreesWithAModel() {
        for maxFlows in [300, 1 << 30] {
            let t = FlowTable(maxFlows: maxFlows)
            var model: [Int: Int32] = [:]          // host number -> slot
            var rng = SystemRandomNumberGenerator()
            func key(_ h: Int) -> FlowKey {
                FlowKey(client: IPAddress(hi: 0, lo: 0xFFFF_0A00_0000 | UInt64(h)), server: IPAddress(hi: 0, lo: 0xFFFF_0A63_0001),
                        clientPort: UInt16(40000 + h % 1000), serverPort: 502, proto: 6, vlanOuter: 0, vlanInner: 0)
            }
            func find(_ h: Int) -> (slot: Int32, direction: Direction)? {
                let k = key(h)
                return t.find(hash: flowHash(k.client, k.clientPort, k.server, k.serverPort, proto: 6, vlanOuter: 0, vlanInner: 0),
                              src: k.server, srcPort: k.serverPort, dst: k.client, dstPort: k.clientPort, proto: 6, vlanOuter: 0, vlanInner: 0)
            }
            for step in 0..<6000 {
                let h = Int.random(in: 0..<400, using: &rng)
                if let s = model[h] {
                    XCTAssertEqual(find(h)?.slot, s)
                    XCTAssertEqual(find(h)?.direction, .toClient)
                    if Bool.random(using: &rng) { t.remove(s); model[h] = nil }
                } else if model.count < 300 {
                    XCTAssertNil(find(h), "step \(step)")
                    let k = key(h)
                    let hash = flowHash(k.client, k.clientPort, k.server, k.serverPort, proto: 6, vlanOuter: 0, vlanInner: 0)
                    model[h] = t.insert(FlowRecord(key: k, id: 1, firstNanos: 0, activeNanos: 0, firstPacket: 1), hash: hash)
                }
            }
            for (h, s) in model { XCTAssertEqual(find(h)?.slot, s) }
            XCTAssertEqual(t.count, model.count)
        }
    }

    /// Decode errors are counted by layer and kind (the stats event's `errors_by_type`), with no
    /// name built per packet.
    func testDecodeErrorsAreCountedByLayerAndKind() {
        let h = EngineHarness(dissectors: [])
        let good = PacketBuilder.tcp(src: "10.0.0.1", sport: 40000, dst: "10.0.0.2", dport: 502, seq: 1, flags: PacketBuilder.syn)
        h.feed(Array(good.prefix(14 + 12)))                     // IPv4 header cut short, twice
        h.feed(Array(good.prefix(14 + 16)))
        h.feed(PacketBuilder.tcp(src: "10.0.0.1", sport: 40000, dst: "10.0.0.2", dport: 502, seq: 1,
                                 flags: PacketBuilder.syn, options: [2, 0, 0, 0]))   // option length 0
        h.feed(good)
        h.engine.finish()
        h.engine.emitStats()
        let lines = h.output.lines
        XCTAssertEqual(h.engine.counters.decodeErrorsByName, ["ipv4.truncated": 2, "tcp.bad_option": 1])
        let stats = lines.first { $0.contains("\"event_type\":\"stats\"") } ?? ""
        XCTAssertTrue(stats.contains("\"errors_by_type\":{\"ipv4.truncated\":2,\"tcp.bad_option\":1}"), stats)
    }

    func testBothDirectionsAreOneFlow() {
        let h = EngineHarness(dissectors: [])
        h.feed(udp(1)); h.feed(udp(1, reply: true)); h.feed(udp(1))
        let flows = flowEvents(h.finish())
        XCTAssertEqual(flows.count, 1)
        XCTAssertTrue(flows[0].contains("\"pkts_toserver\":2,\"pkts_toclient\":1"))
        XCTAssertTrue(flows[0].contains("\"dest_port\":20000"), "the known server port decides the orientation")
    }

    func testMaxFlowsEvictsAndCountsEveryEviction() {
        let h = EngineHarness(dissectors: []) { $0.maxFlows = 10 }
        for i in 0..<100 { h.feed(udp(i)) }
        XCTAssertLessThanOrEqual(h.engine.activeFlows, 10)
        let lines = h.finish()
        XCTAssertEqual(h.engine.counters.flowsEvicted, 90)
        XCTAssertEqual(flowEvents(lines).count, 100, "every flow is still reported once")
        XCTAssertEqual(flowEvents(lines).filter { $0.contains("\"reason\":\"evicted\"") }.count, 90)
    }

    func testEvictionTakesTheOldestIdleFlow() {
        let h = EngineHarness(dissectors: []) { $0.maxFlows = 3 }
        h.feed(udp(1)); h.feed(udp(2)); h.feed(udp(3))
        h.feed(udp(1))                      // flow 1 is active again: 2 is now the oldest idle
        h.feed(udp(4))
        let evicted = flowEvents(h.output.lines).filter { $0.contains("\"reason\":\"evicted\"") }
        XCTAssertEqual(evicted.count, 1)
        XCTAssertTrue(evicted.first?.contains("\"src_ip\":\"10.9.0.2\"") ?? false, evicted.first ?? "none")
    }

    func testIdleTimeoutUsesPacketTime() {
        let h = EngineHarness(dissectors: []) { $0.udpTimeoutNanos = 30 * 1_000_000_000 }
        h.feed(udp(1))
        h.feed(udp(2), advanceMicros: 10_000_000)
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 0)
        // 100 s of packet time later (no matter how fast the test runs), flow 1 has expired.
        h.feed(udp(3), advanceMicros: 100_000_000)
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 2)
        let lines = h.finish()
        let timedOut = flowEvents(lines).filter { $0.contains("\"reason\":\"timeout\"") }
        XCTAssertEqual(timedOut.count, 2)
        XCTAssertEqual(flowEvents(lines).filter { $0.contains("\"reason\":\"shutdown\"") }.count, 1)
    }

    func testActiveFlowIsNotExpired() {
        let h = EngineHarness(dissectors: []) { $0.udpTimeoutNanos = 30 * 1_000_000_000 }
        for _ in 0..<20 { h.feed(udp(1), advanceMicros: 20_000_000) }   // a packet every 20 s
        XCTAssertEqual(h.engine.counters.flowsTimedOut, 0)
        XCTAssertEqual(h.engine.counters.flowsCreated, 1)
    }

    func testHundredThousandHostsStayWithinTheCap() {
        let h = EngineHarness(dissectors: []) { $0.maxFlows = 1000 }
        for i in 0..<100_000 { h.feed(udp(i), advanceMicros: 10) }
        XCTAssertEqual(h.engine.activeFlows, 1000)
        XCTAssertEqual(h.engine.counters.flowsEvicted, 99_000)
        _ = h.finish()
    }
}
